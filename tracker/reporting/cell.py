"""One cell (indicator × district) over the year: chart data, statuses, filings, alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from tracker.accounts.permissions import restrict_viewer, viewer_scope
from tracker.choices import COLOUR
from tracker.formats import indicator_scale, indicator_unit
from tracker.monitoring.models import LagAlert, LagEvaluation
from tracker.monitoring.stored import EvaluationLine, evaluation_lines
from tracker.months import short_month_label
from tracker.plans.models import Indicator, Milestone
from tracker.plans.reference import District
from tracker.plans.trajectory import build_indicator_plans, expected_curve
from tracker.plans.units import city_unit_id, may_report
from tracker.progress.models import CellReview, MilestoneCompletion, ProgressReport
from tracker.reporting.alerts import cell_alerts
from tracker.review.models import Explanation


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
    explanations: list[Explanation] = field(default_factory=list)  # by month, latest first
    reviews: list[CellReview] = field(default_factory=list)  # review state per month

    def explanation_for(self, month: date | None) -> Explanation | None:
        """The explanation shown for ``month``: that month's, else the latest earlier
        one (the rule of ``review.explanations``)."""
        if month is None:
            return self.explanations[0] if self.explanations else None
        return next((x for x in self.explanations if x.month <= month), None)

    def review_for(self, month: date | None) -> CellReview | None:
        return next((r for r in self.reviews if r.month == month), None)

    def chart(self) -> dict:
        """Plain JSON for the chart: months, expected curve, actual reports, milestones,
        in the plan's printed unit (序号12's axis is in 万人)."""
        scale = float(indicator_scale(self.indicator))

        def shown(values):
            return [None if v is None else round(v / scale, 4) for v in values]

        return {
            "title": f"{self.district.name} · {self.indicator.label}",
            "unit": indicator_unit(self.indicator),
            "months": self.months,
            "expected": shown(self.expected),
            "actual": shown(self.actual),
            "statuses": self.statuses,
            "colours": [COLOUR.get(s) if s else None for s in self.statuses],
            "milestones": [{**m, "value": round(m["value"] / scale, 4)} for m in self.milestones],
            "quota": None if self.quota is None else round(float(self.quota) / scale, 4),
        }


def cell_detail(who, indicator_id: int, district_id: int) -> CellDetail | None:
    """The trajectory chart data, monthly statuses and alert history of one cell, or None
    when it does not exist or is outside ``who``'s scope. A fixed number of queries (11 on
    the simulated year, the viewer's scope included; bounded in tests/test_query_counts.py)."""
    scope = viewer_scope(who)
    indicator = (
        restrict_viewer(Indicator.objects, who)
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
    # The project's milestones, read once: the plan's curve and the page's checklist.
    project_milestones = list(
        Milestone.objects.filter(project_id=indicator.project_id).order_by("due_date", "order")
    )
    plan = build_indicator_plans([indicator], project_milestones).get(indicator.pk)
    if plan is None or not may_report(
        indicator,
        district.pk,
        city_unit=city_unit_id(indicator.project.plan_year_id) if plan.is_city_only else None,
        has_quota=district.pk in plan.quotas,
    ):
        return None
    curve = expected_curve(plan) if plan.is_city_only else expected_curve(plan, district.pk)
    months = [date(year, m, 1) for m in range(1, 13)]
    reports = list(
        restrict_viewer(ProgressReport.objects, who)
        .filter(indicator=indicator, district=district)
        .order_by("month")
        .values(
            "id", "month", "value", "created_at", "is_correction", "correction_reason", "version"
        )
    )
    evaluations = evaluation_lines(
        restrict_viewer(LagEvaluation.objects, who).filter(indicator=indicator, district=district)
    )
    evaluations.sort(key=lambda e: e.month)
    status_by_month = {e.month: e.status for e in evaluations}
    quota = plan.target if plan.is_city_only else plan.quotas.get(district.pk)
    milestones = [
        {"month": short_month_label(p.month), "text": p.text, "value": float(p.value)}
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
        for m in project_milestones
        if m.indicator_id in (None, indicator.pk) and m.district_id in (None, district.pk)
    ]
    return CellDetail(
        indicator=indicator,
        district=district,
        months=[short_month_label(m) for m in months],
        expected=[float(p.value) if p.value is not None else None for p in curve] or [None] * 12,
        actual=_chart_values(months, evaluations, reports),
        statuses=[status_by_month.get(m) for m in months],
        milestones=milestones,
        plan_milestones=plan_milestones,
        evaluations=evaluations,
        alerts=cell_alerts(who, indicator.pk, district.pk),
        quota=quota,
        reports=reports,
        explanations=list(
            restrict_viewer(Explanation.objects, who)
            .filter(indicator=indicator, district=district, month__year=year)
            .select_related("written_by")
            .order_by("-month")
        ),
        reviews=list(
            restrict_viewer(CellReview.objects, who)
            .filter(indicator=indicator, district=district, month__year=year)
            .select_related("reviewed_by")
            .order_by("month")
        ),
    )


def _chart_values(months, evaluations, reports) -> list[float | None]:
    """The chart's 累计完成 of each month: the stored evaluation's value as of the month
    (carried forward from the latest counted report, what the tile and the status show);
    after the last evaluated month the filed figures, carried forward up to the latest
    filed month (not yet evaluated)."""
    stored = {e.month: e.actual for e in evaluations}
    last_evaluated = max(stored, default=None)
    last_filed = max((r["month"] for r in reports), default=None)
    filed = {r["month"]: r["value"] for r in reports}
    out, carried = [], None
    for month in months:
        if month in filed:
            carried = filed[month]
        if month in stored:
            value = stored[month]
        elif last_evaluated is None or month > last_evaluated:
            value = carried if last_filed is not None and month <= last_filed else None
        else:  # a month before the last evaluated one, never evaluated itself
            value = carried
        out.append(None if value is None else float(value))
    return out
