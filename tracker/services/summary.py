"""What the dashboard and the API show: read-side summaries of a month's stored statuses.

Everything here reads the ``LagEvaluation`` rows the lag check stored (one per indicator ×
district × month) through ``for_user``, so a lead agency sees its projects, a district its
own row, 督查室 everything — the same scoping as the admin. Each function issues a fixed
number of queries whatever the number of districts and indicators.

Decisions:

- An indicator's figure over the districts a user sees: completion = Σ min(actual, quota)
  ÷ Σ quota (capped: one district's surplus never hides another's gap), the uncapped
  Σ actual ÷ Σ quota beside it; pace = Σ expected ÷ Σ quota. Rates: the mean level.
- Its status is the lag rule (``services.lag.classify``) applied to those capped totals,
  except that it is 未按时填报 when more than half of its districts did not report. The
  per-status district counts travel with it, so a city on pace with one district far
  behind still shows that district in red.
- A project's status is its worst indicator's; a category's its worst project's.
  Order of badness: 红 > 未按时填报 > 黄 > 正常 > 未到节点.
- Ranking (晾晒): districts (not 市本级) by the share of their due indicators (status not
  未到节点) that are on track; ties by fewer 红, then fewer 未按时填报, then the table's
  column order. Rank change = last month's rank − this month's (positive = moved up).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Max

from tracker.models import (
    District,
    Indicator,
    LagAlert,
    LagEvaluation,
    LagStatus,
    ProgressReport,
)
from tracker.months import add_months
from tracker.scoping import scope_for

from .lag import HUNDRED, Thresholds, classify
from .trajectory import expected_curve, load_indicator_plans

S = LagStatus
BADNESS = {
    S.NOT_DUE: 0,
    S.ON_TRACK: 1,
    S.BEHIND: 2,
    S.NOT_REPORTED: 3,
    S.SERIOUSLY_BEHIND: 4,
}
COLOUR = {
    S.ON_TRACK: "green",
    S.BEHIND: "yellow",
    S.SERIOUSLY_BEHIND: "red",
    S.NOT_REPORTED: "grey",
    S.NOT_DUE: "none",
}
LABEL = dict(S.choices)
TWO = Decimal("0.01")


def _scoped(qs, user):
    """``for_user`` — or, for ``user=None``, the public city-wide view (read-only mode)."""
    return qs if user is None else qs.for_user(user)


def worst(statuses) -> str:
    statuses = list(statuses)
    return max(statuses, key=BADNESS.__getitem__) if statuses else S.NOT_DUE


def _pct(part: Decimal | None, whole: Decimal | None) -> Decimal | None:
    if part is None or not whole:
        return None
    return (part * HUNDRED / whole).quantize(TWO)


def latest_month(user=None) -> date | None:
    """The latest month with stored statuses (visible to ``user`` if given)."""
    qs = _scoped(LagEvaluation.objects, user)
    return qs.aggregate(m=Max("month"))["m"]


def evaluated_months(user=None) -> list[date]:
    qs = _scoped(LagEvaluation.objects, user)
    return sorted(set(qs.order_by().values_list("month", flat=True).distinct()))


# --- per indicator --------------------------------------------------------------------


@dataclass
class IndicatorSummary:
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
    counts: dict = field(default_factory=dict)
    open_alerts: int = 0

    @property
    def colour(self) -> str:
        return COLOUR[self.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.status]


def _summarise(indicator: Indicator, rows: list[dict], thresholds: Thresholds) -> IndicatorSummary:
    level = indicator.kind == Indicator.Kind.LEVEL
    counts = Counter(r["status"] for r in rows)
    quota = sum((r["quota"] for r in rows), Decimal(0))
    expected_rows = [r["expected"] for r in rows if r["expected"] is not None]
    reported = [r for r in rows if r["actual"] is not None]
    if level:
        n = len(rows) or 1
        quota = quota / n
        expected = sum(expected_rows, Decimal(0)) / len(expected_rows) if expected_rows else None
        actual = (
            sum((r["actual"] for r in reported), Decimal(0)) / len(reported) if reported else None
        )
        capped = (
            sum((min(r["actual"], r["quota"]) for r in reported), Decimal(0)) / len(reported)
            if reported
            else None
        )
        completion = capped
        uncapped = actual
        pace = expected
    else:
        expected = sum(expected_rows, Decimal(0)) if expected_rows else None
        actual = sum((r["actual"] for r in reported), Decimal(0)) if reported else None
        capped = (
            sum((min(r["actual"], r["quota"]) for r in reported), Decimal(0)) if reported else None
        )
        completion = _pct(capped, quota)
        uncapped = _pct(actual, quota)
        pace = _pct(expected, quota)
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
        quota=quota,
        expected=expected,
        actual=actual,
        actual_capped=capped,
        completion_pct=completion,
        completion_uncapped_pct=uncapped,
        pace_pct=pace,
        status=status,
        counts={k: counts.get(k, 0) for k in BADNESS},
    )


def _rows_by_indicator(user, month: date, **filters) -> dict[int, list[dict]]:
    rows = defaultdict(list)
    for r in (
        _scoped(LagEvaluation.objects, user)
        .filter(month=month, **filters)
        .values("indicator_id", "district_id", "status", "quota", "expected", "actual")
    ):
        rows[r["indicator_id"]].append(r)
    return rows


def _open_alerts(user, month: date, **filters) -> Counter:
    return Counter(
        dict(
            _scoped(LagAlert.objects, user)
            .filter(month__lte=month, status__in=LagAlert.ACTIVE, **filters)
            .values_list("indicator_id")
            .annotate(n=Count("pk"))
        )
    )


# --- overview -------------------------------------------------------------------------


@dataclass
class ProjectSummary:
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
        """Mean completion of its numeric indicators (for a bar; statuses carry the verdict)."""
        values = [i.completion_pct for i in self.indicators if i.completion_pct is not None]
        if not values:
            return None
        return (sum(values, Decimal(0)) / len(values)).quantize(TWO)

    @property
    def pace_pct(self) -> Decimal | None:
        values = [i.pace_pct for i in self.indicators if i.pace_pct is not None]
        if not values:
            return None
        return (sum(values, Decimal(0)) / len(values)).quantize(TWO)


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
    def open_alerts(self) -> int:
        return sum(p.open_alerts for p in self.projects)


@dataclass
class Overview:
    month: date
    categories: list[CategorySummary]

    @property
    def projects(self) -> list[ProjectSummary]:
        return [p for c in self.categories for p in c.projects]

    @property
    def project_counts(self) -> dict[str, int]:
        counts = Counter(p.status for p in self.projects)
        return {k: counts.get(k, 0) for k in BADNESS}

    @property
    def open_alerts(self) -> int:
        return sum(c.open_alerts for c in self.categories)


def overview(user, month: date, *, year: int | None = None) -> Overview:
    """Categories and projects of ``month``'s plan year in scope, with status (5 queries)."""
    thresholds = Thresholds.from_settings()
    year = year or month.year
    indicators = list(
        _scoped(Indicator.objects, user)
        .filter(project__plan_year__year=year)
        .select_related("project__category", "project__lead_agency")
        .order_by("project__category__order", "project__seq", "order")
    )
    rows = _rows_by_indicator(user, month)
    alerts = _open_alerts(user, month)
    categories: dict[int, CategorySummary] = {}
    projects: dict[int, ProjectSummary] = {}
    for indicator in indicators:
        project = indicator.project
        if indicator.kind == Indicator.Kind.QUALITATIVE:
            summary = None
        else:
            summary = _summarise(indicator, rows.get(indicator.pk, []), thresholds)
            summary.open_alerts = alerts.get(indicator.pk, 0)
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
        if summary is not None:
            p = projects[project.pk]
            p.indicators.append(summary)
            p.status = worst([p.status, summary.status])
            p.open_alerts += summary.open_alerts
    return Overview(month=month, categories=sorted(categories.values(), key=lambda c: c.order))


# --- matrix ---------------------------------------------------------------------------


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

    @property
    def colour(self) -> str:
        return COLOUR[self.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.status]


@dataclass
class MatrixRow:
    indicator: Indicator
    cells: list[MatrixCell | None]  # one per district column, None: no quota


@dataclass
class Matrix:
    month: date
    districts: list[District]
    rows: list[MatrixRow]

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows for c in r.cells if c is not None and c.status == status)


def matrix(user, month: date, *, project_id: int | None = None) -> Matrix:
    """Indicators (rows) × districts (columns) with each cell's status (3 queries)."""
    filters = {"indicator__project_id": project_id} if project_id else {}
    evaluations = list(
        _scoped(LagEvaluation.objects, user)
        .filter(month=month, **filters)
        .values(
            "indicator_id",
            "district_id",
            "status",
            "completion_pct",
            "pace_pct",
            "actual",
            "expected",
            "quota",
        )
    )
    indicator_ids = {e["indicator_id"] for e in evaluations}
    indicators = list(
        Indicator.objects.filter(pk__in=indicator_ids)
        .select_related("project")
        .order_by("project__seq", "order")
    )
    district_ids = {e["district_id"] for e in evaluations}
    districts = list(District.objects.filter(pk__in=district_ids).order_by("order"))
    index = {(e["indicator_id"], e["district_id"]): MatrixCell(**e) for e in evaluations}
    rows = [
        MatrixRow(indicator=i, cells=[index.get((i.pk, d.pk)) for d in districts])
        for i in indicators
    ]
    return Matrix(month=month, districts=districts, rows=rows)


# --- one cell: trajectory and alert history -------------------------------------------


@dataclass
class CellDetail:
    indicator: Indicator
    district: District
    months: list[str]
    expected: list[float | None]
    actual: list[float | None]
    milestones: list[dict]
    evaluations: list[LagEvaluation]
    alerts: list[LagAlert]
    quota: Decimal | None

    def chart(self) -> dict:
        """Plain JSON for the chart: months, expected curve, actual reports, milestones."""
        return {
            "title": f"{self.district.name} · {self.indicator.label}",
            "unit": "%" if self.indicator.kind == Indicator.Kind.LEVEL else self.indicator.unit,
            "months": self.months,
            "expected": self.expected,
            "actual": self.actual,
            "milestones": self.milestones,
            "quota": float(self.quota) if self.quota is not None else None,
        }


def cell_detail(user, indicator_id: int, district_id: int) -> CellDetail | None:
    """The trajectory chart data and alert history of one cell, or None if out of scope."""
    indicator = (
        _scoped(Indicator.objects, user).select_related("project__plan_year")
        .filter(pk=indicator_id).first()
    )  # fmt: skip
    district = District.objects.filter(pk=district_id).first()
    if indicator is None or district is None:
        return None
    scope = scope_for(user)
    if scope.is_district and scope.district_id != district.pk:
        return None
    year = indicator.project.plan_year.year
    plan = load_indicator_plans(year=year, indicator_ids=[indicator.pk]).get(indicator.pk)
    curve = ()
    if plan is not None:
        curve = expected_curve(plan) if plan.is_city_only else expected_curve(plan, district.pk)
    reports = dict(
        ProgressReport.objects.filter(indicator=indicator, district=district).values_list(
            "month", "value"
        )
    )
    months = [date(year, m, 1) for m in range(1, 13)]
    milestones = [
        {"month": f"{p.month.month}月", "text": p.text, "value": float(p.value)}
        for p in curve
        if p.is_checkpoint and p.value is not None
    ]
    quota = plan.quotas.get(district.pk) if plan else None
    if plan is not None and plan.is_city_only:
        quota = plan.target
    return CellDetail(
        indicator=indicator,
        district=district,
        months=[f"{m.month}月" for m in months],
        expected=[float(p.value) if p.value is not None else None for p in curve] or [None] * 12,
        actual=[float(reports[m]) if m in reports else None for m in months],
        milestones=milestones,
        evaluations=list(
            LagEvaluation.objects.filter(indicator=indicator, district=district).order_by("month")
        ),
        alerts=list(
            LagAlert.objects.filter(indicator=indicator, district=district).order_by(
                "-month", "kind"
            )
        ),
        quota=quota,
    )


# --- ranking, scorecard, my work, notice ----------------------------------------------


@dataclass
class RankingRow:
    district: District
    due: int
    on_track: int
    behind: int
    seriously_behind: int
    not_reported: int
    share_pct: Decimal | None
    rank: int
    previous_rank: int | None = None

    @property
    def change(self) -> int | None:
        return None if self.previous_rank is None else self.previous_rank - self.rank


def _rank(month: date, district_ids=None) -> list[RankingRow]:
    tallies: dict[int, Counter] = defaultdict(Counter)
    for district_id, status, n in (
        LagEvaluation.objects.filter(month=month)
        .exclude(district__kind=District.Kind.CITY)
        .values_list("district_id", "status")
        .annotate(n=Count("pk"))
    ):
        tallies[district_id][status] += n
    districts = District.objects.in_bulk(list(tallies)) if tallies else {}
    rows = []
    for district_id, c in tallies.items():
        due = sum(n for s, n in c.items() if s != S.NOT_DUE)
        rows.append(
            RankingRow(
                district=districts[district_id],
                due=due,
                on_track=c[S.ON_TRACK],
                behind=c[S.BEHIND],
                seriously_behind=c[S.SERIOUSLY_BEHIND],
                not_reported=c[S.NOT_REPORTED],
                share_pct=_pct(Decimal(c[S.ON_TRACK]), Decimal(due)) if due else None,
                rank=0,
            )
        )
    rows.sort(
        key=lambda r: (
            -(r.share_pct if r.share_pct is not None else Decimal(-1)),
            r.seriously_behind,
            r.not_reported,
            r.district.order,
        )
    )
    for position, row in enumerate(rows, start=1):
        row.rank = position
    return rows


def ranking(month: date, user=None) -> list[RankingRow]:
    """Districts ranked by share of due indicators on track, with change since last month.

    The ranking is public within the government (every role sees every district's
    place), as the monthly 晾晒 notice is; details stay scoped. 4 queries.
    """
    rows = _rank(month)
    previous = {r.district.pk: r.rank for r in _rank(add_months(month, -1))}
    for row in rows:
        row.previous_rank = previous.get(row.district.pk)
    return rows


def district_scorecard(user, district: District, month: date) -> list[LagEvaluation]:
    """The district's indicators for ``month`` with status, numbers and forecast (1 query)."""
    return list(
        _scoped(LagEvaluation.objects, user)
        .filter(month=month, district=district)
        .select_related("indicator__project")
        .order_by("indicator__project__seq", "indicator__order")
    )


def my_work(user, month: date) -> list[LagEvaluation]:
    """In the user's scope: cells behind, not reported or at risk, worst first (1 query)."""
    from django.db.models import Q

    rows = list(
        _scoped(LagEvaluation.objects, user)
        .filter(month=month)
        .filter(Q(status__in=[S.BEHIND, S.SERIOUSLY_BEHIND, S.NOT_REPORTED]) | Q(at_risk=True))
        .select_related("indicator__project", "district")
    )
    rows.sort(
        key=lambda e: (
            -BADNESS[e.status],
            -(e.gap_points or 0),
            e.indicator.project.seq,
            e.district.order,
        )
    )
    return rows


@dataclass
class Notice:
    month: date
    indicators: int
    cells_due: int
    on_track: int
    behind: int
    seriously_behind: int
    not_reported: int
    open_alerts: int
    ranking: list[RankingRow]
    red_items: list[LagEvaluation]
    supervised: list[LagAlert]

    @property
    def on_track_pct(self) -> Decimal | None:
        return _pct(Decimal(self.on_track), Decimal(self.cells_due)) if self.cells_due else None


def notice(month: date) -> Notice:
    """The monthly 晾晒通报: summary numbers, ranking, 红 items, 挂牌督办 candidates."""
    counts = Counter(
        dict(
            LagEvaluation.objects.filter(month=month).values_list("status").annotate(n=Count("pk"))
        )
    )
    red = list(
        LagEvaluation.objects.filter(month=month, status=S.SERIOUSLY_BEHIND)
        .select_related("indicator__project__lead_agency", "district")
        .order_by("-gap_points", "indicator__project__seq", "district__order")
    )
    supervised = list(
        LagAlert.objects.filter(month=month, supervised=True, status__in=LagAlert.ACTIVE)
        .select_related("indicator__project__lead_agency", "district")
        .order_by("indicator__project__seq", "district__order")
    )
    return Notice(
        month=month,
        indicators=LagEvaluation.objects.filter(month=month)
        .order_by()
        .values("indicator_id")
        .distinct()
        .count(),
        cells_due=sum(n for s, n in counts.items() if s != S.NOT_DUE),
        on_track=counts.get(S.ON_TRACK, 0),
        behind=counts.get(S.BEHIND, 0),
        seriously_behind=counts.get(S.SERIOUSLY_BEHIND, 0),
        not_reported=counts.get(S.NOT_REPORTED, 0),
        open_alerts=LagAlert.objects.filter(month__lte=month, status__in=LagAlert.ACTIVE).count(),
        ranking=ranking(month),
        red_items=red,
        supervised=supervised,
    )


__all__ = [
    "COLOUR",
    "cell_detail",
    "district_scorecard",
    "evaluated_months",
    "latest_month",
    "matrix",
    "my_work",
    "notice",
    "overview",
    "ranking",
    "worst",
]
