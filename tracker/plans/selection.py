"""Which plan: of a year, of a request, of the month being reported — one home.

- ``plans_of_year(year)``: a year's plans in the one order (the city's first);
- ``plan_of_year(year)``: the plan a page shows by default, the first of them;
- ``find_plan(year, issuer)``: the plan a command means (refuses to guess between
  several plans none of which is the city's);
- ``current_plan(now)``: the plan the month being reported falls in;
- ``plan_of(year, plan_id, issuer)``: a request's or command's explicit choice;
- ``choose_plan`` / ``month_and_plan``: the dashboard's and API's picker, below.

The picker, for a page (or an API summary):

A year may hold several plans (the city's and a 区 government's own, issue 16). A page
shows one plan's projects, columns and statuses:

- ``?plan=<id>`` picks a plan (404 when it does not exist or is not of ``?month``'s year);
- ``?issuer=西湖区人民政府`` picks the plan of that issuer for the month's year;
- otherwise, with ``?month``, the plan of that year (the city's first); without a month,
  ``current_plan()``'s choice, shown at its latest checked month.

The picker (``plans``) lists the plans of the shown plan's year when there is more than
one. 1–2 queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.http import Http404

from tracker.calendar import reporting_month
from tracker.months import parse_month
from tracker.plans.loader import PlanFileError
from tracker.plans.reference import DEFAULT_ISSUER, PlanYear


@dataclass
class PlanChoice:
    plan: PlanYear | None
    plans: list[PlanYear] = field(default_factory=list)  # the plans of its year

    @property
    def many(self) -> bool:
        return len(self.plans) > 1

    @property
    def issuer_prefix(self) -> str:
        """The issuer to print before a heading: only for a plan not the city's."""
        if self.plan is None or self.plan.issuer == DEFAULT_ISSUER:
            return ""
        return self.plan.issuer

    @property
    def query(self) -> str:
        """``&plan=<id>`` for links when the year has several plans, else ''."""
        return f"&plan={self.plan.pk}" if self.many and self.plan is not None else ""


def _rank(plan: PlanYear):
    """The one order of a year's plans: the city's (杭州市人民政府) first, then by when
    they were loaded. Never the model's default order (by issuer name, where 上城区
    sorts before 杭州市)."""
    return (plan.issuer != DEFAULT_ISSUER, plan.pk)


def plans_of_year(year: int, issuer: str | None = None) -> list[PlanYear]:
    """The plans of ``year`` (of ``issuer`` when given), in ``_rank``'s order. 1 query."""
    plans = PlanYear.objects.filter(year=year)
    if issuer:
        plans = plans.filter(issuer=issuer)
    return sorted(plans, key=_rank)


def plan_of_year(year: int, issuer: str | None = None) -> PlanYear | None:
    """The plan a page shows for ``year`` when none is picked: the first of
    ``plans_of_year``. None when the year has none."""
    plans = plans_of_year(year, issuer)
    return plans[0] if plans else None


def find_plan(year: int, issuer: str | None = None) -> PlanYear:
    """The plan a command means for ``year`` (and ``issuer``): the only plan of that year,
    else the city's; with several and none the city's it refuses to guess (commands ask
    for ``--issuer`` rather than pick the first)."""
    plans = plans_of_year(year, issuer)
    if not plans:
        who = f"{issuer} " if issuer else ""
        raise PlanFileError([f"尚未载入 {who}{year} 年度计划。请先运行 load_plan。"])
    if len(plans) > 1 and not issuer and plans[0].issuer != DEFAULT_ISSUER:
        issuers = "、".join(p.issuer for p in plans)
        raise PlanFileError([f"{year} 年有多个计划（{issuers}）。请用 --issuer 指定发布机关。"])
    return plans[0]


def command_plan(year: int, issuer: str | None = None, plan_id=None) -> PlanYear:
    """The plan a management command means: ``--plan`` (its id, checked against the
    year), else ``find_plan(year, --issuer)``. Raises PlanFileError in Chinese."""
    if plan_id in (None, ""):
        return find_plan(year, issuer)
    plan = PlanYear.objects.filter(pk=plan_id).first() if str(plan_id).isdigit() else None
    if plan is None or plan.year != year:
        choices = "、".join(f"{p.pk}（{p.issuer}）" for p in plans_of_year(year)) or "无"
        raise PlanFileError([f"没有编号为 {plan_id} 的 {year} 年计划。可选计划编号：{choices}"])
    return plan


def choose_plan(params, month: date | None) -> PlanChoice:
    """The plan meant by the request's ``params`` (``plan``, ``issuer``) and ``month``."""
    plan_id = (params.get("plan") or "").strip()
    issuer = (params.get("issuer") or "").strip()
    if plan_id:
        if not plan_id.isdigit():
            raise Http404("计划编号应为数字")
        plan = PlanYear.objects.filter(pk=int(plan_id)).first()
        if plan is None or (month is not None and month.year != plan.year):
            raise Http404("没有这个计划，或该计划不属于所选月份的年度")
        plans = plans_of_year(plan.year)
        return PlanChoice(plan, plans)
    if month is None:
        plan = current_plan(issuer=issuer or None)
        if plan is None:
            if issuer:
                raise Http404(f"没有「{issuer}」发布的计划")
            return PlanChoice(None)
        return PlanChoice(plan, plans_of_year(plan.year))
    plans = plans_of_year(month.year)
    if issuer:
        picked = [p for p in plans if p.issuer == issuer]
        if not picked:
            raise Http404(f"{month.year}年没有「{issuer}」发布的计划")
        return PlanChoice(picked[0], plans)
    return PlanChoice(plans[0] if plans else None, plans)


def month_and_plan(params) -> tuple[date | None, PlanChoice]:
    """``?month`` (None without it) and the plan the request means (``choose_plan``),
    reading the year's plans once: a month alone is checked against the plans the picker
    reads anyway. Raises ValueError (``plan_month``'s Chinese message) for a malformed
    month or one no plan covers, Http404 as ``choose_plan`` does. With ``?plan`` or
    ``?issuer`` the month is checked first, so a month of a year without a plan is that
    ValueError, not the picker's 404. The one home of this rule: dashboard pages, API
    summaries and the benchmark's floors call it."""
    text = (params.get("month") or "").strip()
    picked = (params.get("plan") or "").strip() or (params.get("issuer") or "").strip()
    month = None
    if text:
        month = plan_month(text) if picked else parse_month(text)
    choice = choose_plan(params, month)
    if month is not None and not choice.plans:
        plan_month(text)  # no plan of that year: raises with the years there are
    return month, choice


def plan_month(text: str) -> date:
    """A month some loaded plan covers, from ``YYYY-MM``: what every page and endpoint
    taking ``?month=`` (or a month in its path) calls, so a month outside the plans'
    years (``0001-01``, ``9999-12``) is a clear 400/404, never a 500 deeper down.
    Raises ValueError with a Chinese message."""
    month = parse_month(text)
    if not PlanYear.objects.filter(year=month.year).exists():
        years = "、".join(
            str(y) for y in PlanYear.objects.order_by("year").values_list("year", flat=True)
        )
        raise ValueError(f"{month.year}年没有民生实事计划；可选年度：{years or '无'}")
    return month


def current_plan(now: datetime | None = None, issuer: str | None = None):
    """The plan the month being reported falls in: the plan whose year holds it, the
    city's (杭州市人民政府) first; with none, the latest plan before it, else the earliest
    after it. None when there is no plan."""
    year = reporting_month(now=now).year
    plans = PlanYear.objects.all()
    if issuer:
        plans = plans.filter(issuer=issuer)
    plans = list(plans.order_by("year"))
    if not plans:
        return None
    if not any(p.year == year for p in plans):
        before = [p for p in plans if p.year < year]
        year = before[-1].year if before else plans[0].year
    return min((p for p in plans if p.year == year), key=_rank)


def plan_of(year: int | None, plan_id=None, issuer: str | None = None) -> PlanYear | None:
    """The plan meant by a request or command: ``plan_id`` if given (and of ``year`` when a
    year is given), else the plan of ``year`` and ``issuer`` (``find_plan``: the only one, or
    the city's), else ``current_plan``'s choice. None when there is none."""
    if plan_id not in (None, ""):
        try:
            plan = PlanYear.objects.filter(pk=int(plan_id)).first()
        except (TypeError, ValueError):
            return None
        if plan is not None and year is not None and plan.year != year:
            return None
        return plan
    if year is None:
        return current_plan(issuer=issuer)
    try:
        return find_plan(year, issuer or None)
    except PlanFileError:
        return None
