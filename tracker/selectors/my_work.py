"""我的待办: what needs doing in a user's scope, worst first."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Q

from tracker.choices import BADNESS, PROBLEM_STATUSES
from tracker.models import LagEvaluation

from .alerts import attach_open_alerts
from .common import EvaluationLine, _lines, _scoped

PROBLEMS = PROBLEM_STATUSES


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
    attach_open_alerts(who, month, lines)
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
