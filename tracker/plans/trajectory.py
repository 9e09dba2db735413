"""序时进度: the expected cumulative value of an indicator at every month end of its plan year.

Pure functions of plain data. ``IndicatorPlan`` (built from the database by
``load_indicator_plans``, three queries for a whole year) carries everything the rules
need; ``expected_curve(plan)`` gives the city's curve and ``expected_curve(plan,
district_id)`` a district's. The API, the dashboard and the lag evaluation all call these.

Rules (issue “Lag engine”):

- Numeric milestones (``absolute`` amounts, ``percent`` of the annual target, rate
  ``level``) are exact checkpoints; between two checkpoints the expectation grows
  linearly by month. ``stage`` and ``pace`` rows are not completion amounts and are
  ignored.
- The annual target is due at the target's own deadline (``Indicator.due``: its
  printed deadline, else the project's 预计完成时间): when no checkpoint falls in or
  after the deadline month, one is added there. After the last checkpoint
  the curve stays flat (序号34 ends in October, 序号41 in May, 序号6 and 27 in September).
- Before the first numeric checkpoint a cumulative curve stays at 0 up to the last
  qualitative milestone that precedes it (「3月底确定点位, 6月底招标, 9月底完成100个」
  expects nothing until June), then rises linearly; with no such milestone it rises
  from 0 at the start of the year.
- Explicit monthly amounts (``monthly``, e.g. 序号27 5月—8月每月250堂) override the
  interpolation: each such month adds its amount to the previous month's expectation.
  A checkpoint in the same month wins.
- Rates (``Indicator.Kind.LEVEL``: 保障率 80%→83%, 开通率 90%→100%) are levels, not sums:
  nothing is expected before their first checkpoint (``value`` is None), then the level
  is interpolated between checkpoints.
- A district's expectation is its quota × the city's expected fraction
  (value ÷ annual target) unless the plan has milestones for that district, in which
  case its own curve is built from them with its quota as the target. Indicators done
  by the city as a whole (``Indicator.Scope.CITY``, 序号12) have only the city curve.
- A ceiling (``Indicator.Direction.CEILING``: 失业率低于4.3%) is a bound that holds all
  year: its curve is the bound itself in every month (a district's: its quota), with no
  checkpoints and no milestones read.

Milestones with ``indicator=None`` are project-wide: they apply to every indicator of
the project. A milestone dated inside a month (序号41, 5月18日) counts for that month.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import pairwise

from tracker.months import first_of_month, format_month

# Kind values, mirrored from tracker.models so this module needs no Django import.
CUMULATIVE, LEVEL, QUALITATIVE = "cumulative", "level", "qualitative"
FLOOR, CEILING = "floor", "ceiling"
SCOPE_CITY = "city"
M_QUALITATIVE, M_ABSOLUTE, M_PERCENT, M_LEVEL, M_MONTHLY = (
    "qualitative",
    "absolute",
    "percent",
    "level",
    "monthly",
)
CHECKPOINT_KINDS = (M_ABSOLUTE, M_PERCENT, M_LEVEL)
PLACES = Decimal("0.0001")
HUNDRED = Decimal(100)
DEADLINE_TEXT = "预计完成时间"


@dataclass(frozen=True)
class PlanMilestone:
    """A milestone as plain data (see ``tracker.plans.models.Milestone``)."""

    due: date
    kind: str
    value: Decimal | None = None
    indicator_id: int | None = None  # None: project-wide, applies to every indicator
    district_id: int | None = None  # None: city-wide
    text: str = ""


@dataclass(frozen=True)
class IndicatorPlan:
    """What the trajectory of one indicator depends on.

    ``quotas`` maps district id → the district's annual quota (or target level).
    ``milestones`` holds the project's milestones that concern this indicator
    (its own and the project-wide ones).
    """

    indicator_id: int
    year: int
    kind: str
    target: Decimal | None
    deadline: date
    milestones: tuple[PlanMilestone, ...] = ()
    quotas: Mapping[int, Decimal] = field(default_factory=dict)
    scope: str = "districts"
    label: str = ""
    unit: str = ""
    project_id: int | None = None
    project_seq: int | None = None
    project_name: str = ""
    lead_agency_id: int | None = None
    target_text: str = ""  # as printed: 「25 万人」 (amounts are shown in its units)
    plan_year_id: int | None = None
    direction: str = FLOOR

    @property
    def is_ceiling(self) -> bool:
        """At most: the value must stay at or below the quota (失业率低于4.3%)."""
        return self.direction == CEILING

    @property
    def is_tracked(self) -> bool:
        """Has a number to be behind on (qualitative targets and zero targets do not)."""
        return self.kind != QUALITATIVE and self.target is not None and self.target > 0

    @property
    def is_level(self) -> bool:
        return self.kind == LEVEL

    @property
    def is_city_only(self) -> bool:
        return self.scope == SCOPE_CITY

    @property
    def deadline_month(self) -> date:
        return first_of_month(self.deadline)

    def milestones_for(self, district_id: int | None = None) -> list[PlanMilestone]:
        """City milestones (``district_id=None``) or one district's own milestones."""
        return [
            m
            for m in self.milestones
            if m.indicator_id in (None, self.indicator_id) and m.district_id == district_id
        ]

    def has_district_milestones(self, district_id: int) -> bool:
        return any(
            m.district_id == district_id and m.kind in (*CHECKPOINT_KINDS, M_MONTHLY)
            for m in self.milestones
            if m.indicator_id in (None, self.indicator_id)
        )

    def months(self) -> list[date]:
        return [date(self.year, m, 1) for m in range(1, 13)]


@dataclass(frozen=True)
class ExpectedPoint:
    """The expectation at one month end.

    ``value`` is the cumulative amount (or level) expected, ``None`` when nothing is
    expected yet (a rate before its first checkpoint, a qualitative target).
    ``fraction`` is ``value`` ÷ target (1 = the whole target). ``is_checkpoint`` marks
    a month with a numeric milestone or the deadline; ``text`` is that milestone's text.
    """

    month: date
    value: Decimal | None
    fraction: Decimal | None
    is_checkpoint: bool = False
    text: str = ""

    @property
    def is_due(self) -> bool:
        """Something is expected by this month end."""
        return self.value is not None and self.value > 0


Curve = tuple[ExpectedPoint, ...]


def expected_curve(plan: IndicatorPlan, district_id: int | None = None) -> Curve:
    """The 12 month-end expectations of ``plan``'s year, for the city or one district.

    For a district without milestones of its own this is the city curve scaled by
    ``quota / target``; a district without a quota (or an indicator done by the city
    as a whole asked for a district) gets an empty tuple.
    """
    if district_id is None:
        return _curve(plan, plan.target, plan.milestones_for(None))
    quota = plan.quotas.get(district_id)
    if quota is None or plan.is_city_only:
        return ()
    if plan.has_district_milestones(district_id):
        own = plan.milestones_for(district_id) + [
            m for m in plan.milestones_for(None) if m.kind == M_QUALITATIVE
        ]
        return _curve(plan, quota, own)
    return scale_curve(expected_curve(plan), quota)


def expected_at(plan: IndicatorPlan, month: date, district_id: int | None = None) -> ExpectedPoint:
    """The expectation at the end of ``month`` (any day of it) for the city or a district."""
    month = first_of_month(month)
    if month.year != plan.year:
        raise ValueError(f"{format_month(month)} 不在 {plan.year} 年度计划内")
    curve = expected_curve(plan, district_id)
    if not curve:
        return ExpectedPoint(month=month, value=None, fraction=None)
    return curve[month.month - 1]


def scale_curve(curve: Curve, quota: Decimal) -> Curve:
    """A district's curve from the city's: its quota × the city's expected fraction."""
    return tuple(
        ExpectedPoint(
            month=p.month,
            value=None if p.fraction is None else (quota * p.fraction).quantize(PLACES),
            fraction=p.fraction,
            is_checkpoint=p.is_checkpoint,
            text=p.text,
        )
        for p in curve
    )


def milestone_months(plans: Iterable[IndicatorPlan]) -> set[date]:
    """Months in which any milestone of these plans falls (the milestone checks run after)."""
    return {first_of_month(m.due) for p in plans for m in p.milestones if m.due.year == p.year}


# --- the curve -------------------------------------------------------------------


def _curve(plan: IndicatorPlan, target: Decimal | None, milestones: list[PlanMilestone]) -> Curve:
    months = plan.months()
    empty = tuple(ExpectedPoint(month=m, value=None, fraction=None) for m in months)
    if plan.kind == QUALITATIVE or target is None or target <= 0:
        return empty
    if plan.is_ceiling:  # the bound holds in every month: the curve is the bound itself
        return tuple(
            ExpectedPoint(month=m, value=target.quantize(PLACES), fraction=Decimal(1))
            for m in months
        )

    checkpoints: dict[int, tuple[Decimal, str]] = {}
    monthly: dict[int, Decimal] = {}
    qualitative: set[int] = set()
    for m in milestones:
        if m.due.year != plan.year:
            continue
        i = m.due.month
        if m.kind in CHECKPOINT_KINDS and m.value is not None:
            value = m.value * target / HUNDRED if m.kind == M_PERCENT else m.value
            if i not in checkpoints or value > checkpoints[i][0]:
                checkpoints[i] = (value, m.text)
        elif m.kind == M_MONTHLY and m.value is not None:
            monthly[i] = monthly.get(i, Decimal(0)) + m.value
        elif m.kind == M_QUALITATIVE:
            qualitative.add(i)

    deadline = _month_index(plan.deadline, plan.year)
    if not any(i >= deadline for i in checkpoints):
        checkpoints[deadline] = (target, DEADLINE_TEXT)
    numeric = sorted(set(checkpoints) | set(monthly))
    first = numeric[0]

    # Anchors: (month index, value); index 0 is the start of the year.
    if plan.is_level:
        if first not in checkpoints:  # a rate needs a level to start from
            return empty
        anchors = [(first, checkpoints[first][0])]
    else:
        anchors = [(max((q for q in qualitative if q < first), default=0), Decimal(0))]
    for i in range(anchors[0][0] + 1, 13):
        if i in checkpoints:
            anchors.append((i, checkpoints[i][0]))
        elif i in monthly:
            last_i, last_v = anchors[-1]
            if last_i < i - 1:  # held flat up to the month before the run
                anchors.append((i - 1, last_v))
            anchors.append((i, last_v + monthly[i]))

    points = []
    for i, month in enumerate(months, start=1):
        value = _interpolate(anchors, i, level=plan.is_level)
        value = None if value is None else value.quantize(PLACES)
        checkpoint = checkpoints.get(i)
        points.append(
            ExpectedPoint(
                month=month,
                value=value,
                fraction=None if value is None else value / target,
                is_checkpoint=checkpoint is not None,
                text=checkpoint[1] if checkpoint else "",
            )
        )
    return tuple(points)


def _interpolate(anchors: list[tuple[int, Decimal]], i: int, *, level: bool) -> Decimal | None:
    if i < anchors[0][0]:
        return None if level else Decimal(0)
    for (a_i, a_v), (b_i, b_v) in pairwise(anchors):
        if a_i <= i <= b_i:
            return a_v + (b_v - a_v) * (i - a_i) / (b_i - a_i)
    return anchors[-1][1]


def _month_index(day: date, year: int) -> int:
    if day.year < year:
        return 1
    if day.year > year:
        return 12
    return day.month


# --- building plans from the database --------------------------------------------


def load_indicator_plans(plan_year=None, *, year: int | None = None, indicator_ids=None):
    """``{indicator_id: IndicatorPlan}`` for a plan year (three queries in all).

    Pass a ``PlanYear`` or a ``year``; ``indicator_ids`` narrows the set.
    """
    # Models only here: the curve above is pure and loads without Django (bench.lag).
    from tracker.plans.models import Indicator, Milestone

    indicators = Indicator.objects.select_related("project", "project__plan_year")
    if plan_year is not None:
        indicators = indicators.filter(project__plan_year=plan_year)
    elif year is not None:
        indicators = indicators.filter(project__plan_year__year=year)
    if indicator_ids is not None:
        indicators = indicators.filter(pk__in=list(indicator_ids))
    indicators = list(indicators.order_by("project__seq", "order"))
    if not indicators:
        return {}
    milestones = Milestone.objects.filter(
        project_id__in={i.project_id for i in indicators}
    ).order_by("due_date", "order")
    return build_indicator_plans(indicators, milestones)


def build_indicator_plans(indicators, milestones):
    """``{indicator_id: IndicatorPlan}`` from rows already read — ``indicators`` (with
    ``project`` and ``project__plan_year``) and their projects' ``milestones`` in (due
    date, order) order — and their quotas (one query). A page that reads these rows for
    itself (the cell page) builds its plan without reading them twice."""
    from tracker.plans.models import Quota  # see load_indicator_plans

    by_project: dict[int, list[PlanMilestone]] = {}
    for m in milestones:
        by_project.setdefault(m.project_id, []).append(
            PlanMilestone(
                due=m.due_date,
                kind=m.kind,
                value=m.value,
                indicator_id=m.indicator_id,
                district_id=m.district_id,
                text=m.text,
            )
        )
    quotas = Quota.objects.filter(indicator__in=[i.pk for i in indicators]).values_list(
        "indicator_id", "district_id", "value"
    )
    by_indicator: dict[int, dict[int, Decimal]] = {}
    for indicator_id, district_id, value in quotas:
        by_indicator.setdefault(indicator_id, {})[district_id] = value
    plans = {}
    for i in indicators:
        project = i.project
        plans[i.pk] = IndicatorPlan(
            indicator_id=i.pk,
            year=project.plan_year.year,
            kind=i.kind,
            target=i.target_value,
            deadline=i.due,  # the target's own deadline, else the project's
            milestones=tuple(
                m for m in by_project.get(project.pk, ()) if m.indicator_id in (None, i.pk)
            ),
            quotas=by_indicator.get(i.pk, {}),
            scope=i.scope,
            label=i.label,
            unit=i.unit,
            project_id=project.pk,
            project_seq=project.seq,
            project_name=project.name,
            lead_agency_id=project.lead_agency_id,
            target_text=i.target_text,
            plan_year_id=project.plan_year_id,
            direction=i.direction,
        )
    return plans
