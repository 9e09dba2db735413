"""What the dashboard and the API show: read-side summaries of a month's stored statuses.

Everything here reads the ``LagEvaluation`` rows the lag check stored (one per indicator ×
district × month) and the ``LagAlert`` rows, never re-evaluating, so a page shows exactly
what the check decided. Each function issues a fixed number of queries whatever the
number of districts and indicators (the count is in its docstring).

Who sees what: every function takes ``who``, one of

- a user: read through ``Model.objects.for_user(user)`` — a lead agency sees its projects,
  a district its own row, 督查室 everything (the same scoping as the admin and the API);
  a user without a role sees nothing;
- a ``tracker.scoping.Scope``: the same, for callers that already hold one;
- ``None``: the published read-only view, city-wide. Only pass it for anonymous visitors
  when ``settings.TRACKER["PUBLIC_READ_ONLY"]`` is on (views and API check that).

Decisions:

- "On track" (正常) is the lag check's status of one district on one indicator. 未到节点
  cells (nothing expected yet) are neither on track nor behind: they are left out of every
  share and every ranking denominator.
- An indicator's figure over the districts ``who`` sees: completion = Σ min(actual, quota)
  ÷ Σ quota (capped: one district's surplus never hides another's gap; missing reports
  count 0), the uncapped Σ actual ÷ Σ quota beside it; pace (序时进度) = Σ expected ÷
  Σ quota. Rates (保障率 …): mean levels, and completion/pace as a share of the mean
  target level, as the lag engine's cells do.
- An indicator's status is the lag rule (``services.lag.classify``) applied to those capped
  totals, except that it is 未按时填报 when more than half of its districts did not
  report. Its per-status district counts travel with it, so a city on pace with one
  district far behind still shows that district in red.
- A project's status is its worst indicator's; a category's its worst project's. Order of
  badness: 红 > 未按时填报 > 黄 > 正常 > 未到节点. Qualitative targets have no status
  (their milestones raise alerts instead), so a project with only those is 未到节点.
  A project's completion bar is the mean of its indicators' completion shares.
- Open alerts as of a month: alerts raised for that month or earlier in the same year
  that had not been closed by then (``closed_in_month`` empty or later; superseded ones
  never count). Looking back at 2024-09 shows what was open at the end of September,
  not what is open today.
- Ranking (晾晒): districts (not 市本级) by the share of their due cells (status other
  than 未到节点) on track. Ties: fewer 红 first, then fewer 未按时填报, then the table's
  column order (``District.order``), so every district gets a distinct place and the
  order never depends on the database. A district with nothing due yet ranks last.
  Rank change = last month's place − this month's (positive: moved up); none in January
  (a new plan year) or when the district was not ranked last month.
- The ranking and the monthly notice are city-wide for everyone with a role: the 晾晒
  notice is published to every district and agency. The details behind them (matrix,
  scorecards, my work, cell pages) stay scoped.
- 挂牌督办 candidates in the notice: the month's alerts the lag check flagged
  ``supervised`` (a district behind ``ESCALATE_TO_SUPERVISION_AFTER`` months in a row),
  still open at the end of the month.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Max, Q

from tracker.choices import (
    BADNESS,
    COLOUR,
    LABEL,
    PROBLEM_STATUSES,
    RED_STATUSES,
    status_counts,
    worst,
)
from tracker.models import (
    District,
    Indicator,
    LagAlert,
    LagEvaluation,
    LagStatus,
    Milestone,
    MilestoneCompletion,
    ProgressReport,
)
from tracker.months import add_months
from tracker.scoping import Scope, scope_for

from .lag import HUNDRED, Thresholds, classify
from .trajectory import expected_curve, load_indicator_plans

S = LagStatus
PROBLEMS = PROBLEM_STATUSES
TWO = Decimal("0.01")


def _scope(who) -> Scope | None:
    """``who`` as a Scope; None stays None (the public city-wide view)."""
    if who is None or isinstance(who, Scope):
        return who
    return scope_for(who)


def _scoped(qs, who):
    scope = _scope(who)
    return qs if scope is None else scope.apply(qs)


def _has_role(who) -> bool:
    scope = _scope(who)
    return scope is None or scope.role is not None


def _pct(part: Decimal | None, whole: Decimal | None) -> Decimal | None:
    if part is None or not whole:
        return None
    return (part * HUNDRED / whole).quantize(TWO)


def open_alerts_q(month: date) -> Q:
    """Alerts open at the end of ``month``: raised for it or earlier that year, not closed
    by then (closed later counts as still open then), never superseded."""
    return (
        Q(month__lte=month, month__gte=month.replace(month=1))
        & ~Q(status=LagAlert.Status.SUPERSEDED)
        & (Q(closed_in_month__isnull=True) | Q(closed_in_month__gt=month))
    )


def latest_month(who=None) -> date | None:
    """The latest month with stored statuses (that ``who`` can see). 1 query."""
    return _scoped(LagEvaluation.objects, who).aggregate(m=Max("month"))["m"]


def evaluated_months(who=None) -> list[date]:
    """Every month with stored statuses (that ``who`` can see), oldest first. 1 query."""
    qs = _scoped(LagEvaluation.objects, who)
    return list(qs.order_by("month").values_list("month", flat=True).distinct())


# --- per indicator --------------------------------------------------------------------


@dataclass
class IndicatorSummary:
    """One indicator over the districts the viewer sees (see the module docstring)."""

    id: int
    label: str
    unit: str
    is_level: bool
    target: Decimal | None
    quota: Decimal
    expected: Decimal | None
    actual: Decimal | None
    actual_capped: Decimal | None
    completion_pct: Decimal | None
    completion_uncapped_pct: Decimal | None
    pace_pct: Decimal | None
    status: str
    counts: dict = field(default_factory=dict)  # status → number of districts
    open_alerts: int = 0

    @property
    def colour(self) -> str:
        return COLOUR[self.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.status]


def _mean(values: list[Decimal]) -> Decimal | None:
    return sum(values, Decimal(0)) / len(values) if values else None


def _summarise(indicator: Indicator, rows: list[dict], thresholds: Thresholds) -> IndicatorSummary:
    level = indicator.kind == Indicator.Kind.LEVEL
    counts = Counter(r["status"] for r in rows)
    expected_rows = [r["expected"] for r in rows if r["expected"] is not None]
    reported = [r for r in rows if r["actual"] is not None]
    if level:
        quota = _mean([r["quota"] for r in rows]) or Decimal(0)
        expected = _mean(expected_rows)
        actual = _mean([r["actual"] for r in reported])
        capped = _mean([min(r["actual"], r["quota"]) for r in reported])
    else:
        quota = sum((r["quota"] for r in rows), Decimal(0))
        expected = sum(expected_rows, Decimal(0)) if expected_rows else None
        actual = sum((r["actual"] for r in reported), Decimal(0)) if reported else None
        capped = (
            sum((min(r["actual"], r["quota"]) for r in reported), Decimal(0)) if reported else None
        )
    if not rows:
        status = S.NOT_DUE
    elif counts[S.NOT_REPORTED] * 2 > len(rows):
        status = S.NOT_REPORTED
    else:
        status, _ = classify(
            level=level,
            quota=quota or Decimal(1),
            expected=expected,
            actual=capped if capped is not None else Decimal(0),
            on_time=True,
            deadline_passed=False,
            is_checkpoint=False,
            thresholds=thresholds,
        )
    return IndicatorSummary(
        id=indicator.pk,
        label=indicator.label,
        unit="%" if level else indicator.unit,
        is_level=level,
        target=indicator.target_value,
        quota=quota.quantize(Decimal("0.0001")),
        expected=expected.quantize(Decimal("0.0001")) if expected is not None else None,
        actual=actual.quantize(Decimal("0.0001")) if actual is not None else None,
        actual_capped=capped.quantize(Decimal("0.0001")) if capped is not None else None,
        completion_pct=_pct(capped, quota),
        completion_uncapped_pct=_pct(actual, quota),
        pace_pct=_pct(expected, quota),
        status=status,
        counts=status_counts(r["status"] for r in rows),
    )


def _rows_by_indicator(who, month: date) -> dict[int, list[dict]]:
    rows = defaultdict(list)
    for r in (
        _scoped(LagEvaluation.objects, who)
        .filter(month=month)
        .values("indicator_id", "district_id", "status", "quota", "expected", "actual")
    ):
        rows[r["indicator_id"]].append(r)
    return rows


def _open_alerts_by_indicator(who, month: date) -> Counter:
    return Counter(
        dict(
            _scoped(LagAlert.objects, who)
            .filter(open_alerts_q(month))
            .order_by()
            .values_list("indicator_id")
            .annotate(n=Count("pk"))
        )
    )


# --- overview -------------------------------------------------------------------------


@dataclass
class ProjectSummary:
    """A project: its (non-qualitative) indicators and the worst of their statuses."""

    id: int
    seq: int
    name: str
    lead_agency: str
    deadline: date
    indicators: list[IndicatorSummary]
    status: str
    open_alerts: int

    @property
    def colour(self) -> str:
        return COLOUR[self.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.status]

    @property
    def completion_pct(self) -> Decimal | None:
        """Mean completion share of its indicators (for a bar; statuses carry the verdict)."""
        values = [i.completion_pct for i in self.indicators if i.completion_pct is not None]
        return _mean(values).quantize(TWO) if values else None

    @property
    def pace_pct(self) -> Decimal | None:
        """Mean 序时进度 share of its indicators."""
        values = [i.pace_pct for i in self.indicators if i.pace_pct is not None]
        return _mean(values).quantize(TWO) if values else None

    @property
    def counts(self) -> dict[str, int]:
        """District × indicator cells by status over its indicators."""
        total = Counter()
        for i in self.indicators:
            total.update(i.counts)
        return {k: total.get(k, 0) for k in map(str, BADNESS)}


@dataclass
class CategorySummary:
    id: int
    order: int
    name: str
    projects: list[ProjectSummary]

    @property
    def status(self) -> str:
        return worst(p.status for p in self.projects)

    @property
    def colour(self) -> str:
        return COLOUR[self.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.status]

    @property
    def open_alerts(self) -> int:
        return sum(p.open_alerts for p in self.projects)

    @property
    def project_counts(self) -> dict[str, int]:
        return status_counts(p.status for p in self.projects)


@dataclass
class Overview:
    month: date
    categories: list[CategorySummary]

    @property
    def projects(self) -> list[ProjectSummary]:
        return [p for c in self.categories for p in c.projects]

    @property
    def project_counts(self) -> dict[str, int]:
        """Projects by status."""
        return status_counts(p.status for p in self.projects)

    @property
    def cell_counts(self) -> dict[str, int]:
        """District × indicator cells by status."""
        total = Counter()
        for p in self.projects:
            total.update(p.counts)
        return {k: total.get(k, 0) for k in map(str, BADNESS)}

    @property
    def open_alerts(self) -> int:
        return sum(c.open_alerts for c in self.categories)


def overview(who, month: date, *, year: int | None = None) -> Overview:
    """Categories and projects of ``month``'s plan year in scope, with status. 3 queries
    (plus 1 to resolve a user's scope)."""
    thresholds = Thresholds.from_settings()
    year = year or month.year
    indicators = list(
        _scoped(Indicator.objects, who)
        .filter(project__plan_year__year=year)
        .select_related("project__category", "project__lead_agency")
        .order_by("project__category__order", "project__seq", "order")
    )
    rows = _rows_by_indicator(who, month) if indicators else {}
    alerts = _open_alerts_by_indicator(who, month) if indicators else Counter()
    categories: dict[int, CategorySummary] = {}
    projects: dict[int, ProjectSummary] = {}
    for indicator in indicators:
        project = indicator.project
        if project.pk not in projects:
            category = project.category
            if category.pk not in categories:
                categories[category.pk] = CategorySummary(
                    id=category.pk, order=category.order, name=category.name, projects=[]
                )
            projects[project.pk] = ProjectSummary(
                id=project.pk,
                seq=project.seq,
                name=project.name,
                lead_agency=project.lead_agency.name,
                deadline=project.deadline,
                indicators=[],
                status=S.NOT_DUE,
                open_alerts=0,
            )
            categories[category.pk].projects.append(projects[project.pk])
        p = projects[project.pk]
        p.open_alerts += alerts.get(indicator.pk, 0)
        if indicator.kind == Indicator.Kind.QUALITATIVE:
            continue
        line = _summarise(indicator, rows.get(indicator.pk, []), thresholds)
        line.open_alerts = alerts.get(indicator.pk, 0)
        p.indicators.append(line)
        p.status = worst([p.status, line.status])
    return Overview(month=month, categories=sorted(categories.values(), key=lambda c: c.order))


# --- matrix ---------------------------------------------------------------------------

_CELL_FIELDS = (
    "indicator_id",
    "district_id",
    "status",
    "completion_pct",
    "pace_pct",
    "actual",
    "expected",
    "quota",
    "gap_points",
    "on_time",
    "at_risk",
    "streak",
)


@dataclass
class MatrixCell:
    indicator_id: int
    district_id: int
    status: str
    completion_pct: Decimal | None
    pace_pct: Decimal | None
    actual: Decimal | None
    expected: Decimal | None
    quota: Decimal
    gap_points: Decimal | None = None
    on_time: bool = False
    at_risk: bool = False
    streak: int = 0

    @property
    def colour(self) -> str:
        return COLOUR[self.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.status]


@dataclass
class MatrixRow:
    indicator: Indicator  # with ``project`` loaded
    cells: list[MatrixCell | None]  # one per district column; None: no quota there

    @property
    def counts(self) -> dict[str, int]:
        return status_counts(c.status for c in self.cells if c is not None)


@dataclass
class Matrix:
    """Indicators (rows, by project 序号) × districts (columns, in the table's order)."""

    month: date
    districts: list[District]
    rows: list[MatrixRow]

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows for c in r.cells if c is not None and c.status == status)

    @property
    def counts(self) -> dict[str, int]:
        return status_counts(c.status for r in self.rows for c in r.cells if c is not None)

    @property
    def column_counts(self) -> list[dict[str, int]]:
        """Per district column: its cells by status (for the summary row)."""
        return [
            status_counts(r.cells[i].status for r in self.rows if r.cells[i] is not None)
            for i in range(len(self.districts))
        ]

    def cell(self, indicator_id: int, district_id: int) -> MatrixCell | None:
        for row in self.rows:
            if row.indicator.pk == indicator_id:
                for c in row.cells:
                    if c is not None and c.district_id == district_id:
                        return c
        return None


def matrix(
    who,
    month: date,
    *,
    project_id: int | None = None,
    category_id: int | None = None,
    problems_only: bool = False,
) -> Matrix:
    """Indicators × districts with each cell's stored status. 3 queries (+1 for a user's
    scope). ``problems_only`` keeps the rows with at least one 黄/红/未按时填报 cell."""
    filters = {}
    if project_id:
        filters["indicator__project_id"] = project_id
    if category_id:
        filters["indicator__project__category_id"] = category_id
    evaluations = list(
        _scoped(LagEvaluation.objects, who).filter(month=month, **filters).values(*_CELL_FIELDS)
    )
    index = {(e["indicator_id"], e["district_id"]): MatrixCell(**e) for e in evaluations}
    if problems_only:
        keep = {i for (i, _d), c in index.items() if c.status in PROBLEMS}
        index = {k: c for k, c in index.items() if k[0] in keep}
    indicator_ids = {i for i, _d in index}
    district_ids = {d for _i, d in index}
    indicators = (
        list(
            Indicator.objects.filter(pk__in=indicator_ids)
            .select_related("project")
            .order_by("project__seq", "order")
        )
        if indicator_ids
        else []
    )
    districts = (
        list(District.objects.filter(pk__in=district_ids).order_by("order")) if district_ids else []
    )
    rows = [
        MatrixRow(indicator=i, cells=[index.get((i.pk, d.pk)) for d in districts])
        for i in indicators
    ]
    return Matrix(month=month, districts=districts, rows=rows)


# --- stored evaluations as plain lines ------------------------------------------------


@dataclass
class EvaluationLine:
    """One stored status (district × indicator × month) with what a reader needs.

    ``indicator`` (with ``project`` and ``project.lead_agency`` loaded) and ``district``
    are read-only references for links and labels; everything else is a plain value.
    ``open_alerts``/``supervised`` are filled by ``my_work`` and ``district_scorecard``.
    """

    indicator: Indicator
    district: District
    month: date
    status: str
    quota: Decimal
    expected: Decimal | None
    actual: Decimal | None
    reported_month: date | None
    on_time: bool
    gap_points: Decimal | None
    completion_pct: Decimal | None
    pace_pct: Decimal | None
    is_checkpoint: bool
    forecast: Decimal | None
    needed_pace: Decimal | None
    at_risk: bool
    streak: int
    open_alerts: int = 0
    supervised: bool = False

    @property
    def indicator_id(self) -> int:
        return self.indicator.pk

    @property
    def district_id(self) -> int:
        return self.district.pk

    @property
    def project_seq(self) -> int:
        return self.indicator.project.seq

    @property
    def label(self) -> str:
        return self.indicator.label

    @property
    def unit(self) -> str:
        return "%" if self.indicator.kind == Indicator.Kind.LEVEL else self.indicator.unit

    @property
    def lead_agency(self) -> str:
        return self.indicator.project.lead_agency.name

    @property
    def colour(self) -> str:
        return COLOUR[self.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.status]

    @property
    def forecast_short(self) -> bool:
        """The forecast at the deadline falls short of the quota."""
        return self.forecast is not None and self.forecast < self.quota


_LINE_FIELDS = (
    "month",
    "status",
    "quota",
    "expected",
    "actual",
    "reported_month",
    "on_time",
    "gap_points",
    "completion_pct",
    "pace_pct",
    "is_checkpoint",
    "forecast",
    "needed_pace",
    "at_risk",
    "streak",
)


def _line(e: LagEvaluation) -> EvaluationLine:
    return EvaluationLine(
        indicator=e.indicator,
        district=e.district,
        **{name: getattr(e, name) for name in _LINE_FIELDS},
    )


def _lines(qs) -> list[EvaluationLine]:
    return [
        _line(e)
        for e in qs.select_related("indicator__project__lead_agency", "district").order_by(
            "indicator__project__seq", "indicator__order", "district__order"
        )
    ]


def _attach_alerts(who, month: date, lines: list[EvaluationLine]) -> None:
    """Fill open alert counts and the 挂牌督办 flag per line (1 query)."""
    if not lines:
        return
    per_cell: dict[tuple[int, int], list[bool]] = defaultdict(list)
    qs = _scoped(LagAlert.objects, who).filter(open_alerts_q(month))
    indicator_ids = {line.indicator_id for line in lines}
    district_ids = {line.district_id for line in lines}
    for indicator_id, district_id, supervised in qs.filter(
        indicator_id__in=indicator_ids, district_id__in=district_ids
    ).values_list("indicator_id", "district_id", "supervised"):
        per_cell[(indicator_id, district_id)].append(supervised)
    for line in lines:
        flags = per_cell.get((line.indicator_id, line.district_id), [])
        line.open_alerts = len(flags)
        line.supervised = any(flags)


# --- ranking ----------------------------------------------------------------------------


@dataclass
class RankingRow:
    district: District
    due: int  # cells with something expected (status other than 未到节点)
    on_track: int
    behind: int
    seriously_behind: int
    not_reported: int
    share_pct: Decimal | None  # on_track ÷ due, None when nothing is due
    rank: int
    previous_rank: int | None = None

    @property
    def change(self) -> int | None:
        """Places gained since last month (negative: lost); None when not comparable."""
        return None if self.previous_rank is None else self.previous_rank - self.rank

    @property
    def colour(self) -> str:
        if self.share_pct is None:
            return "none"
        if self.share_pct >= 90:
            return "green"
        return "yellow" if self.share_pct >= 70 else "red"


def _rank(tallies: dict[int, Counter], districts: dict[int, District]) -> list[RankingRow]:
    rows = []
    for district_id, c in tallies.items():
        if district_id not in districts:
            continue  # 市本级
        due = sum(n for s, n in c.items() if s != S.NOT_DUE)
        rows.append(
            RankingRow(
                district=districts[district_id],
                due=due,
                on_track=c[S.ON_TRACK],
                behind=c[S.BEHIND],
                seriously_behind=sum(c[s] for s in RED_STATUSES),
                not_reported=c[S.NOT_REPORTED],
                share_pct=_pct(Decimal(c[S.ON_TRACK]), Decimal(due)) if due else None,
                rank=0,
            )
        )
    rows.sort(
        key=lambda r: (
            r.share_pct is None,
            -(r.share_pct or 0),
            r.seriously_behind,
            r.not_reported,
            r.district.order,
        )
    )
    for position, row in enumerate(rows, start=1):
        row.rank = position
    return rows


def ranking(month: date, user=None) -> list[RankingRow]:
    """晾晒: districts ranked by share of due cells on track, with change since last month.

    City-wide for everyone with a role (see the module docstring); ``user`` only has to
    have one (a user without a role gets ``[]``; None is the public view). 2 queries.
    """
    if not _has_role(user):
        return []
    previous_month = add_months(month, -1)
    months = [month] if month.month == 1 else [month, previous_month]
    tallies: dict[date, dict[int, Counter]] = {m: defaultdict(Counter) for m in months}
    for m, district_id, status, n in (
        LagEvaluation.objects.filter(month__in=months)
        .order_by()
        .values_list("month", "district_id", "status")
        .annotate(n=Count("pk"))
    ):
        tallies[m][district_id][status] += n
    if not tallies[month]:
        return []
    districts = District.objects.exclude(kind=District.Kind.CITY).in_bulk()
    rows = _rank(tallies[month], districts)
    if len(months) == 2:
        before = {r.district.pk: r.rank for r in _rank(tallies[previous_month], districts)}
        for row in rows:
            row.previous_rank = before.get(row.district.pk)
    return rows


# --- district scorecard -------------------------------------------------------------------


@dataclass
class Scorecard:
    """One district in one month: its lines (iterating a Scorecard yields them), counts
    and its place in the ranking."""

    district: District
    month: date
    lines: list[EvaluationLine]
    place: RankingRow | None = None

    def __iter__(self):
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, index):
        return self.lines[index]

    @property
    def counts(self) -> dict[str, int]:
        return status_counts(line.status for line in self.lines)

    @property
    def problems(self) -> list[EvaluationLine]:
        return [line for line in self.lines if line.status in PROBLEMS]

    @property
    def rank(self) -> int | None:
        return self.place.rank if self.place else None


def district_scorecard(who, district: District, month: date, *, with_rank: bool = True):
    """The district's indicators in ``month`` with status, numbers, forecast and open
    alerts, as a ``Scorecard`` (a sequence of ``EvaluationLine``). Scoped: a district
    user asking for another district gets no lines. 2 queries, +2 for the rank."""
    lines = _lines(_scoped(LagEvaluation.objects, who).filter(month=month, district=district))
    _attach_alerts(who, month, lines)
    place = None
    if with_rank and lines:
        place = next((r for r in ranking(month, who) if r.district.pk == district.pk), None)
    return Scorecard(district=district, month=month, lines=lines, place=place)


# --- my work --------------------------------------------------------------------------


def my_work(who, month: date) -> list[EvaluationLine]:
    """What needs doing in ``who``'s scope: cells 黄/红/未按时填报, or on track but
    forecast to miss the quota (at risk), worst first (by status, then gap), each with
    the forecast, the monthly pace still needed and its open alerts. 2 queries."""
    qs = (
        _scoped(LagEvaluation.objects, who)
        .filter(month=month)
        .filter(Q(status__in=PROBLEMS) | Q(at_risk=True))
    )
    lines = _lines(qs)
    _attach_alerts(who, month, lines)
    lines.sort(
        key=lambda e: (
            -BADNESS[e.status],
            -(e.gap_points if e.gap_points is not None else Decimal(-1000)),
            e.project_seq,
            e.indicator.order,
            e.district.order,
        )
    )
    return lines


# --- one cell: trajectory and alert history -------------------------------------------


@dataclass
class CellDetail:
    """One district on one indicator over the year: chart data, statuses, alerts."""

    indicator: Indicator  # with project, plan_year and lead_agency loaded
    district: District
    months: list[str]  # 「1月」…「12月」
    expected: list[float | None]
    actual: list[float | None]
    statuses: list[str | None]  # stored status per month, None when not checked
    milestones: list[dict]  # numeric checkpoints on the curve: month, text, value
    plan_milestones: list[dict]  # every milestone of the project: due, kind, text, done
    evaluations: list[EvaluationLine]
    alerts: list[LagAlert]
    quota: Decimal | None
    reports: list[dict] = field(default_factory=list)  # month, value, filed, correction

    def chart(self) -> dict:
        """Plain JSON for the chart: months, expected curve, actual reports, milestones."""
        return {
            "title": f"{self.district.name} · {self.indicator.label}",
            "unit": "%" if self.indicator.kind == Indicator.Kind.LEVEL else self.indicator.unit,
            "months": self.months,
            "expected": self.expected,
            "actual": self.actual,
            "statuses": self.statuses,
            "colours": [COLOUR.get(s) if s else None for s in self.statuses],
            "milestones": self.milestones,
            "quota": float(self.quota) if self.quota is not None else None,
        }


def cell_detail(who, indicator_id: int, district_id: int) -> CellDetail | None:
    """The trajectory chart data, monthly statuses and alert history of one cell, or None
    when it does not exist or is outside ``who``'s scope. 10 queries at most."""
    scope = _scope(who)
    indicator = (
        _scoped(Indicator.objects, who)
        .select_related("project__plan_year", "project__lead_agency")
        .filter(pk=indicator_id)
        .first()
    )
    district = District.objects.filter(pk=district_id).first()
    if indicator is None or district is None:
        return None
    if scope is not None and scope.is_district and scope.district_id != district.pk:
        return None
    year = indicator.project.plan_year.year
    plan = load_indicator_plans(year=year, indicator_ids=[indicator.pk]).get(indicator.pk)
    if plan is None or (district.pk not in plan.quotas and not plan.is_city_only):
        return None
    curve = expected_curve(plan) if plan.is_city_only else expected_curve(plan, district.pk)
    months = [date(year, m, 1) for m in range(1, 13)]
    reports = list(
        _scoped(ProgressReport.objects, who)
        .filter(indicator=indicator, district=district)
        .order_by("month")
        .values("month", "value", "created_at", "is_correction", "correction_reason", "version")
    )
    values = {r["month"]: r["value"] for r in reports}
    evaluations = _lines(
        _scoped(LagEvaluation.objects, who).filter(indicator=indicator, district=district)
    )
    evaluations.sort(key=lambda e: e.month)
    status_by_month = {e.month: e.status for e in evaluations}
    quota = plan.target if plan.is_city_only else plan.quotas.get(district.pk)
    milestones = [
        {"month": f"{p.month.month}月", "text": p.text, "value": float(p.value)}
        for p in curve
        if p.is_checkpoint and p.value is not None
    ]
    done = dict(
        MilestoneCompletion.objects.filter(
            milestone__project_id=indicator.project_id, district=district, done=True
        ).values_list("milestone_id", "done_on")
    )
    plan_milestones = [
        {
            "due": m.due_date,
            "kind": m.get_kind_display(),
            "text": m.text,
            "value": m.value_text,
            "qualitative": m.kind == Milestone.Kind.QUALITATIVE,
            "done": m.pk in done,
            "done_on": done.get(m.pk),
        }
        for m in Milestone.objects.filter(project_id=indicator.project_id)
        .filter(Q(indicator__isnull=True) | Q(indicator=indicator))
        .filter(Q(district__isnull=True) | Q(district=district))
        .order_by("due_date", "order")
    ]
    return CellDetail(
        indicator=indicator,
        district=district,
        months=[f"{m.month}月" for m in months],
        expected=[float(p.value) if p.value is not None else None for p in curve] or [None] * 12,
        actual=[float(values[m]) if m in values else None for m in months],
        statuses=[status_by_month.get(m) for m in months],
        milestones=milestones,
        plan_milestones=plan_milestones,
        evaluations=evaluations,
        alerts=list(
            _scoped(LagAlert.objects, who)
            .filter(indicator=indicator, district=district)
            .order_by("-month", "kind")
        ),
        quota=quota,
        reports=reports,
    )


# --- the monthly notice ---------------------------------------------------------------


@dataclass
class SupervisionItem:
    """A 挂牌督办 candidate: an alert the check flagged ``supervised``."""

    indicator: Indicator  # with project and lead_agency loaded
    district: District
    kind: str
    severity: str
    streak: int
    gap_points: Decimal | None
    message: str
    status: str

    @property
    def project_seq(self) -> int:
        return self.indicator.project.seq


@dataclass
class Notice:
    """The monthly 晾晒通报, city-wide (cells are district × indicator statuses)."""

    month: date
    indicators: int  # indicators checked
    cells_due: int
    on_track: int
    behind: int
    seriously_behind: int
    not_reported: int
    not_due: int
    open_alerts: int
    ranking: list[RankingRow]
    red_items: list[EvaluationLine]
    supervised: list[SupervisionItem]
    projects: dict[str, int] = field(default_factory=dict)  # projects by status

    @property
    def on_track_pct(self) -> Decimal | None:
        return _pct(Decimal(self.on_track), Decimal(self.cells_due)) if self.cells_due else None

    @property
    def number(self) -> str:
        """The issue number, 「2024年第9期」."""
        return f"{self.month.year}年第{self.month.month}期"

    @property
    def title(self) -> str:
        return f"{self.month.year}年{self.month.month}月民生实事项目推进情况通报"

    @property
    def top(self) -> list[RankingRow]:
        return self.ranking[:3]

    @property
    def bottom(self) -> list[RankingRow]:
        return self.ranking[-3:] if len(self.ranking) > 3 else []

    @property
    def red_districts(self) -> list[tuple[str, int]]:
        """Districts with 红 items, most first: ``[(name, n)]``."""
        counts = Counter(e.district.name for e in self.red_items)
        order = {e.district.name: e.district.order for e in self.red_items}
        return sorted(counts.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def notice(month: date) -> Notice:
    """The monthly 晾晒通报: summary numbers, ranking, 红 items, 挂牌督办 candidates.

    City-wide (published to everyone; see the module docstring). 9 queries.
    """
    counts = Counter()
    indicators = set()
    for indicator_id, status, n in (
        LagEvaluation.objects.filter(month=month)
        .order_by()
        .values_list("indicator_id", "status")
        .annotate(n=Count("pk"))
    ):
        counts[status] += n
        indicators.add(indicator_id)
    red = _lines(LagEvaluation.objects.filter(month=month, status__in=RED_STATUSES))
    red.sort(key=lambda e: (-(e.gap_points or 0), e.project_seq, e.district.order))
    supervised = [
        SupervisionItem(
            indicator=a.indicator,
            district=a.district,
            kind=a.get_kind_display(),
            severity=a.get_severity_display(),
            streak=a.streak,
            gap_points=a.gap_points,
            message=a.message,
            status=a.get_status_display(),
        )
        for a in LagAlert.objects.filter(open_alerts_q(month), month=month, supervised=True)
        .select_related("indicator__project__lead_agency", "district")
        .order_by("indicator__project__seq", "indicator__order", "district__order", "kind")
    ]
    ov = overview(None, month)
    return Notice(
        month=month,
        indicators=len(indicators),
        cells_due=sum(n for s, n in counts.items() if s != S.NOT_DUE),
        on_track=counts.get(S.ON_TRACK, 0),
        behind=counts.get(S.BEHIND, 0),
        seriously_behind=sum(counts.get(s, 0) for s in RED_STATUSES),
        not_reported=counts.get(S.NOT_REPORTED, 0),
        not_due=counts.get(S.NOT_DUE, 0),
        open_alerts=LagAlert.objects.filter(open_alerts_q(month)).count(),
        ranking=ranking(month),
        red_items=red,
        supervised=supervised,
        projects=ov.project_counts,
    )


def month_label(month: date) -> str:
    """「2024年9月」."""
    return f"{month.year}年{month.month}月"


__all__ = [
    "BADNESS",
    "COLOUR",
    "LABEL",
    "CategorySummary",
    "CellDetail",
    "EvaluationLine",
    "IndicatorSummary",
    "Matrix",
    "MatrixCell",
    "MatrixRow",
    "Notice",
    "Overview",
    "ProjectSummary",
    "RankingRow",
    "Scorecard",
    "SupervisionItem",
    "cell_detail",
    "district_scorecard",
    "evaluated_months",
    "latest_month",
    "matrix",
    "month_label",
    "my_work",
    "notice",
    "open_alerts_q",
    "overview",
    "ranking",
    "status_counts",
    "worst",
]
