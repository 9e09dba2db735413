"""区县×指标: the heat map of a month's stored cell statuses (also a project's page).

A cell's colour is its stored status (``tracker.choices``); 有逾期风险 is the stored
``at_risk`` flag, computed by the one rule ``tracker.monitoring.rules.is_at_risk``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tracker.accounts.permissions import restrict_viewer
from tracker.choices import COLOUR, LABEL, PROBLEM_STATUSES, status_counts
from tracker.monitoring.models import LagEvaluation
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.plans.units import column_label, column_position
from tracker.ratios import pace_completion_pct

PROBLEMS = PROBLEM_STATUSES

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
    ceiling: bool = False  # the target is a bound (at most)

    @property
    def colour(self) -> str:
        return COLOUR[self.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.status]

    @property
    def pace_completion_pct(self) -> Decimal | None:
        """序时完成率 = 累计完成 ÷ 序时应达."""
        return pace_completion_pct(self.actual, self.expected, ceiling=self.ceiling)


@dataclass
class MatrixRow:
    indicator: Indicator  # with ``project`` loaded
    cells: list[MatrixCell | None]  # one per district column; None: no quota there

    @property
    def counts(self) -> dict[str, int]:
        return status_counts(c.status for c in self.cells if c is not None)


@dataclass
class Matrix:
    """Indicators (rows, by project 序号) × districts (columns, in the plan's column order;
    each district carries ``column`` and the printed ``column_label``)."""

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
    plan=None,
) -> Matrix:
    """Indicators × districts with each cell's stored status. 3 queries (+1 for a user's
    scope). ``problems_only`` keeps the rows with at least one 黄/红/未按时填报 cell.

    ``plan`` (default: every plan of the month) picks one plan's rows. The columns are the
    plan's own, in its order, headed by the label it prints (``plan_units``): a merged
    column (「海曙、江东、江北」) is one column — its one quota sits on its primary unit."""
    filters = {}
    if plan is not None:
        filters["indicator__project__plan_year"] = plan
    if project_id:
        filters["indicator__project_id"] = project_id
    if category_id:
        filters["indicator__project__category_id"] = category_id
    evaluations = list(
        restrict_viewer(LagEvaluation.objects, who)
        .filter(month=month, **filters)
        .values(*_CELL_FIELDS)
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
    districts = []
    if district_ids:
        plan_id = plan.pk if plan is not None else indicators[0].project.plan_year_id
        districts = list(
            District.objects.filter(pk__in=district_ids)
            .annotate(column=column_position(plan_id), column_label=column_label(plan_id))
            .order_by("column", "order")
        )
    for i in indicators:
        if i.is_ceiling:
            for (indicator_id, _d), cell in index.items():
                if indicator_id == i.pk:
                    cell.ceiling = True
    rows = [
        MatrixRow(indicator=i, cells=[index.get((i.pk, d.pk)) for d in districts])
        for i in indicators
    ]
    return Matrix(month=month, districts=districts, rows=rows)
