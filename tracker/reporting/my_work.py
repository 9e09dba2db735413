"""我的待办: what needs doing in a user's scope — first what is not yet reported for the
month being reported (``unfiled_work``, from ``progress.due``), then the lag statuses worst
first (``my_work``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Q

from tracker.accounts.permissions import restrict_viewer
from tracker.choices import BADNESS, PROBLEM_STATUSES, LagStatus
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.stored import CellRef, EvaluationLine, evaluation_lines
from tracker.plans.models import Indicator, Quota
from tracker.plans.reference import District
from tracker.progress.due import FilingState, filing_states
from tracker.reporting.alerts import attach_open_alerts
from tracker.review.explanations import attach_explanations

PROBLEMS = PROBLEM_STATUSES


def my_work(who, month: date) -> list[EvaluationLine]:
    """What needs doing in ``who``'s scope: cells 黄/红/未按时填报, or on track but
    forecast to miss the quota (at risk), worst first (by status, then gap), each with
    the forecast, the monthly pace still needed, its open alerts and its explanation
    (``review.explanations``). 3 queries."""
    qs = (
        restrict_viewer(LagEvaluation.objects, who)
        .filter(month=month)
        .filter(Q(status__in=PROBLEMS) | Q(at_risk=True))
    )
    lines = evaluation_lines(qs)
    attach_open_alerts(who, month, lines)
    attach_explanations(who, month, lines)
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


# --- not yet reported ------------------------------------------------------------------


@dataclass
class UnfiledLine(CellRef):
    """A cell due for the month being reported that has no report yet."""

    indicator: Indicator
    district: District
    month: date
    state: str  # progress.due.FilingState: 未填报 (deadline passed) or 待填报
    quota: Decimal | None

    @property
    def state_label(self) -> str:
        return FilingState(self.state).label

    @property
    def status(self) -> str:  # for the 「去填报」 link: a missing report is fixed in its month
        return LagStatus.NOT_REPORTED


def unfiled_work(who, month: date, *, now=None) -> list[UnfiledLine]:
    """The cells due for ``month`` in ``who``'s scope without a report, plan order, with
    their quota (``progress.due.filing_states``). 6 queries."""
    states = filing_states([month], who, now=now)
    open_states = (FilingState.MISSING, FilingState.PENDING)
    cells = [(i, d, s) for (i, d, _m), s in states.items() if s in open_states]
    if not cells:
        return []
    indicators = Indicator.objects.select_related("project__lead_agency").in_bulk(
        {i for i, _, _ in cells}
    )
    districts = District.objects.in_bulk({d for _, d, _ in cells})
    quotas = dict(
        (
            ((i, d), v)
            for i, d, v in Quota.objects.filter(indicator_id__in=indicators).values_list(
                "indicator_id", "district_id", "value"
            )
        )
    )
    lines = []
    for i, d, state in cells:
        indicator = indicators[i]
        quota = (
            indicator.target_value
            if indicator.scope == Indicator.Scope.CITY
            else quotas.get((i, d))
        )
        lines.append(UnfiledLine(indicator, districts[d], month, state, quota))
    return lines
