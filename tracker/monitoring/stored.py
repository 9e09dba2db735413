"""Reads of the stored evaluation: the months evaluated, and stored cells as lines.

Who sees what: every reader takes ``who`` (``tracker.accounts.permissions.viewer_scope``):

- a user: read through ``Model.objects.for_user(user)`` — a lead agency sees its projects,
  a district its own row, 督查室 everything (the same scoping as the admin and the API);
  a user without a role sees nothing;
- a ``tracker.accounts.permissions.Scope``: the same, for callers that already hold one;
- ``None``: the published read-only view, city-wide. Only pass it for anonymous visitors
  when ``PUBLIC_READ_ONLY`` is on (views and API check that).

Every selector reads the ``LagEvaluation`` rows the lag check stored (the output of
``tracker.monitoring.rules``), never re-evaluating, so a page shows exactly what the check
decided; the numbers on them (完成率, 序时完成率 …) come from the same domain functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Max, OuterRef
from django.utils import timezone

from tracker import formats as fmt
from tracker.accounts.permissions import restrict_viewer
from tracker.choices import COLOUR, LABEL
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.rules import shortfall
from tracker.months import moment_label
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.plans.units import column_position
from tracker.ratios import PLACES, pace_completion_pct


def of_plan(qs, plan, path: str = "indicator__project__plan_year"):
    """``qs`` narrowed to one plan's rows (``plan`` a PlanYear or None: every plan)."""
    return qs if plan is None else qs.filter(**{path: plan})


def latest_month(who=None, plan=None) -> date | None:
    """The latest month with stored statuses (that ``who`` can see, of ``plan``). 1 query."""
    return of_plan(restrict_viewer(LagEvaluation.objects, who), plan).aggregate(m=Max("month"))["m"]


def evaluated_months(who=None, plan=None) -> list[date]:
    """Every month with stored statuses (that ``who`` can see, of ``plan``), oldest first.
    1 query."""
    qs = of_plan(restrict_viewer(LagEvaluation.objects, who), plan)
    return list(qs.order_by("month").values_list("month", flat=True).distinct())


def evaluated_at_by_month(who=None, plan=None) -> dict[date, datetime]:
    """``{month: when its stored cells (that ``who`` can see, of ``plan``) were last
    evaluated}``, oldest month first: the months a page offers and its 「数据更新于」.
    1 query (the one ``evaluated_months`` takes)."""
    qs = of_plan(restrict_viewer(LagEvaluation.objects, who), plan)
    return dict(
        qs.order_by("month")
        .values("month")
        .annotate(at=Max("evaluated_at"))
        .values_list("month", "at")
    )


def evaluated_text(when: datetime | None) -> str:
    """「数据更新于 12月5日 10:32」 (local time), or "" when nothing was evaluated."""
    return f"数据更新于 {moment_label(timezone.localtime(when))}" if when else ""


def actual_series(rows, *, level: bool) -> dict[date, Decimal | None]:
    """``{month: value}`` of stored cells (``rows``: a ``LagEvaluation`` queryset of one
    indicator), for every evaluated month: one cell's value as of the month, or over
    several cells their sum (rates: their mean), as ``rules.roll_up`` totals them; None
    when no cell had a counted figure. The chart and the trajectory API plot this, so
    they show what the statuses were judged on. 1 query."""
    by_month: dict[date, list[Decimal]] = {}
    for month, actual in rows.order_by("month").values_list("month", "actual"):
        values = by_month.setdefault(month, [])
        if actual is not None:
            values.append(actual)
    out: dict[date, Decimal | None] = {}
    for month, values in by_month.items():
        if not values:
            out[month] = None
        elif level:
            out[month] = (sum(values, Decimal(0)) / len(values)).quantize(PLACES)
        else:
            out[month] = sum(values, Decimal(0))
    return out


# --- stored evaluations as plain lines ------------------------------------------------


class CellRef:
    """What every line about one (indicator, district) cell says of it: ids, 序号, label and
    lead agency. Shared by ``EvaluationLine`` and ``my_work.UnfiledLine`` (both carry
    ``indicator`` with its project and lead agency, and ``district``)."""

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
    def lead_agency(self) -> str:
        return self.indicator.project.lead_agency.name


@dataclass
class EvaluationLine(CellRef):
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
    evaluated_at: datetime | None = None
    open_alerts: int = 0
    supervised: bool = False
    explanation: object = None  # tracker.review.models.Explanation, see review.explanations
    column: int = 0  # the unit's column position in its plan (``plan_units``)

    @property
    def unit(self) -> str:
        """The unit as printed (「个」, 「万人」, 「%」)."""
        return fmt.indicator_unit(self.indicator)

    @property
    def pace_completion_pct(self) -> Decimal | None:
        """序时完成率 = 累计完成 ÷ 序时应达."""
        return pace_completion_pct(self.actual, self.expected, ceiling=self.indicator.is_ceiling)

    def show(self, value) -> str:
        """An amount of this line in the plan's printed units."""
        return fmt.show_amount(self.indicator, value)

    @property
    def scale(self) -> Decimal:
        return fmt.indicator_scale(self.indicator)

    @property
    def quota_shown(self) -> Decimal | None:
        """任务数 in the printed unit (÷ 10000 for 万)."""
        return fmt.scaled(self.quota, self.scale)

    @property
    def expected_shown(self) -> Decimal | None:
        return fmt.scaled(self.expected, self.scale)

    @property
    def actual_shown(self) -> Decimal | None:
        return fmt.scaled(self.actual, self.scale)

    @property
    def label_shown(self) -> str:
        """The target's label, marked 「（上限）」 for a ceiling (at most: 失业率低于4.3%)."""
        return f"{self.label}（上限）" if self.indicator.is_ceiling else self.label

    @property
    def shortfall_text(self) -> str:
        """What is still missing to the quota (逾期未完成: 尚差 X), or for a ceiling how far
        above the bound it is (超出 X)."""
        ceiling = self.indicator.is_ceiling
        missing = shortfall(self.actual, self.quota, ceiling=ceiling)
        if not missing:
            return ""
        return f"{'超出' if ceiling else '尚差'} {self.show(missing)}"

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
    "evaluated_at",
)


def _line(e: LagEvaluation) -> EvaluationLine:
    return EvaluationLine(
        indicator=e.indicator,
        district=e.district,
        column=getattr(e, "column", 0),
        **{name: getattr(e, name) for name in _LINE_FIELDS},
    )


def evaluation_lines(qs) -> list[EvaluationLine]:
    """Stored cells as lines, by project 序号, indicator, then the plan's column order."""
    column = column_position(OuterRef("indicator__project__plan_year_id"), OuterRef("district_id"))
    return [
        _line(e)
        for e in qs.select_related("indicator__project__lead_agency", "district")
        .annotate(column=column)
        .order_by("indicator__project__seq", "indicator__order", "column", "district__order")
    ]
