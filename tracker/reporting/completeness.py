"""Completeness and timeliness of the monthly reports (DHIS2's reporting rates).

Counts, never re-derives: what is expected of whom and how each cell was filed is
``tracker.progress.due.filing_states`` (one home). This module only tallies those states
per district × month and per lead agency × month:

- **应报** (expected): the cells expected for the month in the viewer's scope;
- **已报** (filed) = **按时** (on time, by the deadline) + **逾期** (late);
- **未报** (missing): none filed and the deadline has passed. This is the one 未报 of a
  month: the notice prints it too (``month_tally``), so the two never disagree. It is
  not the status 未按时填报 (``choices``): a status says how a cell stands, and after a
  target's deadline month a cell is judged 逾期未完成 or 正常 whether or not the month
  was reported (December's 未报 cells are such), while a late report keeps the status
  未按时填报 but counts as 已报 (逾期) here;
- **待报** (pending): none filed yet, the deadline still ahead;
- **上报率** = 已报 ÷ 应报, **及时率** = 按时 ÷ 应报, in percent (None when nothing is
  expected).

Scope is the viewer's (``due``'s scoping): 督查室 every district and agency, a lead
agency the cells of its projects (its districts' rows count only those), a district its
own row. The months offered are the plan's months up to the month being reported
(``reporting.enterable_months``); the default month is the latest whose deadline has
passed (``reporting.due_month``), clamped to the plan's year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from tracker.calendar import due_month, enterable_months
from tracker.months import clamp_to_year, first_of_month, month_label
from tracker.plans.models import Indicator
from tracker.plans.reference import Agency, District, PlanYear
from tracker.plans.selection import current_plan, plan_month, plan_of_year
from tracker.progress.due import FilingState, filing_states

__all__ = [
    "Completeness",
    "Row",
    "Selection",
    "Tally",
    "completeness",
    "default_month",
    "month_tally",
    "plan_months",
    "select",
]

HUNDRED = Decimal(100)


@dataclass
class Tally:
    expected: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    pending: int = 0

    def add(self, state: FilingState) -> None:
        self.expected += 1
        setattr(self, str(state), getattr(self, str(state)) + 1)

    def __iadd__(self, other: Tally) -> Tally:
        for name in ("expected", "on_time", "late", "missing", "pending"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    @property
    def filed(self) -> int:
        return self.on_time + self.late

    def _rate(self, n: int) -> Decimal | None:
        if not self.expected:
            return None
        return (HUNDRED * n / self.expected).quantize(Decimal("0.1"))

    @property
    def filed_rate(self) -> Decimal | None:
        """上报率, percent."""
        return self._rate(self.filed)

    @property
    def on_time_rate(self) -> Decimal | None:
        """及时率, percent."""
        return self._rate(self.on_time)

    def as_dict(self) -> dict:
        return {
            "expected": self.expected,
            "filed": self.filed,
            "on_time": self.on_time,
            "late": self.late,
            "missing": self.missing,
            "pending": self.pending,
            "filed_rate": self.filed_rate,
            "on_time_rate": self.on_time_rate,
        }


@dataclass
class Row:
    """One district or lead agency: a tally per month and over the months shown."""

    kind: str  # "district" | "agency"
    pk: int
    name: str
    code: str = ""
    months: dict[date, Tally] = field(default_factory=dict)
    total: Tally = field(default_factory=Tally)

    def cells(self, months: list[date]) -> list[Tally]:
        return [self.months.get(m) or Tally() for m in months]


@dataclass
class Completeness:
    months: list[date]
    districts: list[Row]
    agencies: list[Row]
    by_month: dict[date, Tally]
    total: Tally
    now: datetime

    @property
    def month_totals(self) -> list[Tally]:
        return [self.by_month.get(m) or Tally() for m in self.months]


def plan_months(plan, now: datetime | None = None) -> list[date]:
    """The months offered: the plan's months up to the month being reported."""
    return enterable_months(plan, now)


def default_month(plan, now: datetime | None = None) -> date:
    """The latest month whose deadline has passed, within the plan's year (January
    before any has)."""
    return clamp_to_year(due_month(now), plan.year)


@dataclass
class Selection:
    plan: object
    offered: list[date]  # the plan's months up to the month being reported
    months: list[date]  # shown: one month, or all offered (the year view)
    month: date | None  # None: the year view


def select(year: str = "", month: str = "", view: str = "", now=None, plan: str = "") -> Selection:
    """Parse the page's and API's choice (``plan`` id, ``year``, ``month`` "YYYY-MM",
    ``view`` "year"); a bad one raises ``ValueError`` with a Chinese message. Several
    plans in one year are told apart by ``plan``; without it the year's city plan."""
    if plan:
        picked = PlanYear.objects.filter(pk=int(plan)).first() if plan.isdigit() else None
        if picked is None or (year and year != str(picked.year)):
            raise ValueError(f"没有编号为{plan}的计划" + (f"（{year}年）" if year else ""))
        plan = picked
    elif year:
        valid = year.isdigit() and len(year) == 4
        plan = plan_of_year(int(year)) if valid else None
        if plan is None:
            raise ValueError(f"没有{year}年的计划")
    else:
        plan = current_plan(now)
        if plan is None:
            raise ValueError("还没有计划数据")
    offered = plan_months(plan, now)
    if view == "year":
        return Selection(plan, offered, offered, None)
    if month:
        chosen = plan_month(month)
        if chosen not in offered:
            raise ValueError(f"{month_label(chosen)}不在{plan.year}年计划已开始填报的月份内")
    else:
        chosen = default_month(plan, now)
    return Selection(plan, offered, [chosen], chosen)


def _states(months, who, now, plan):
    """``filing_states`` of ``plan``'s cells (all plans: None), and each cell's indicator's
    lead agency. ``filing_states``' queries plus 1."""
    states = filing_states(months, who, now=now)
    rows = Indicator.objects.filter(pk__in={i for i, _, _ in states}).values_list(
        "pk", "project__lead_agency_id", "project__plan_year_id"
    )
    agency_of = {pk: agency for pk, agency, plan_id in rows if plan is None or plan_id == plan.pk}
    return {cell: state for cell, state in states.items() if cell[0] in agency_of}, agency_of


def completeness(months, who=None, *, now: datetime | None = None, plan=None) -> Completeness:
    """Tally ``filing_states`` of ``months`` in ``who``'s scope per district and per lead
    agency (bounded queries: ``filing_states``' plus 3); with ``plan``, only that plan's
    cells (two plans of one year are never counted together)."""
    now = now or timezone.now()
    months = sorted({first_of_month(m) for m in months})
    states, agency_of = _states(months, who, now, plan)
    district_ids = {d for _, d, _ in states}
    districts = {
        d.pk: Row("district", d.pk, d.name, d.code)
        for d in District.objects.filter(pk__in=district_ids).order_by("order", "pk")
    }
    agencies = {
        a.pk: Row("agency", a.pk, a.name)
        for a in Agency.objects.filter(pk__in=set(agency_of.values())).order_by("name")
    }
    by_month: dict[date, Tally] = {m: Tally() for m in months}
    total = Tally()
    for (ind, dist, month), state in states.items():
        for row in (districts[dist], agencies[agency_of[ind]]):
            row.months.setdefault(month, Tally()).add(state)
            row.total.add(state)
        by_month[month].add(state)
        total.add(state)
    return Completeness(
        months=months,
        districts=list(districts.values()),
        agencies=list(agencies.values()),
        by_month=by_month,
        total=total,
        now=now,
    )


def month_tally(month: date, *, plan=None, now: datetime | None = None) -> Tally:
    """The month's 应报/已报/未报 city-wide: the completeness page's total for 督查室, which
    the notice prints (one definition of 未报, see the module docstring). 7 queries."""
    total = Tally()
    for state in _states([first_of_month(month)], None, now or timezone.now(), plan)[0].values():
        total.add(state)
    return total
