"""Lag explanations (原因说明 / 整改措施 / 计划追赶完成时间) for a set of cells, in one query.

The cell page, 我的待办, the monthly notice (page, xlsx, PDF), the 督查室 review page and
the alert digest all ask ``explanations_for``; what a reader sees for a cell in month
*M* is the explanation written for *M*, or else the latest one written for an earlier
month of the same year (the lag persists; ``Explanation.month`` says which month it was
written for, and ``dashboard/_explanation.html`` shows it when it is not *M*).

``missing_explanations`` is the 督查室 list: red cells (严重滞后 / 逾期未完成) of a month
still without an explanation ``conf.EXPLANATION_GRACE_DAYS`` (default 5) days
after the month's reporting deadline.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from tracker import conf
from tracker.accounts.permissions import restrict_viewer
from tracker.calendar import reporting_deadline
from tracker.choices import PROBLEM_STATUSES, RED_STATUSES
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.stored import EvaluationLine, evaluation_lines
from tracker.months import format_month
from tracker.review import workflow as review
from tracker.review.models import Explanation


def explanations_for(who, cells, month: date) -> dict[tuple[int, int], Explanation]:
    """``{(indicator_id, district_id): Explanation}`` for ``cells`` (pairs) as of
    ``month``: that month's explanation, or the latest earlier one of the year.
    ``who`` None reads city-wide (the published notice, digests). 1 query (0 when
    ``cells`` is empty)."""
    cells = {(int(i), int(d)) for i, d in cells}
    if not cells:
        return {}
    indicator_ids = {i for i, _ in cells}
    district_ids = {d for _, d in cells}
    qs = Explanation.objects.all() if who is None else restrict_viewer(Explanation.objects, who)
    rows = (
        qs.filter(
            indicator_id__in=indicator_ids,
            district_id__in=district_ids,
            month__lte=month,
            month__year=month.year,
        )
        .select_related("written_by")
        .order_by("month")
    )
    found = {}
    for row in rows:  # later months overwrite earlier ones
        key = (row.indicator_id, row.district_id)
        if key in cells:
            found[key] = row
    return found


def attach_explanations(who, month: date, lines) -> None:
    """Set ``line.explanation`` (or None) on each line with ``indicator_id`` and
    ``district_id``. 1 query."""
    found = explanations_for(who, {(x.indicator_id, x.district_id) for x in lines}, month)
    for line in lines:
        line.explanation = found.get((line.indicator_id, line.district_id))


def grace_days() -> int:
    """``conf.EXPLANATION_GRACE_DAYS``: days after the reporting deadline before a
    red cell without an explanation is listed for 督查室 (default 5)."""
    return conf.EXPLANATION_GRACE_DAYS


def explanation_due(month: date) -> datetime:
    """The moment after which a red cell of ``month`` without an explanation is listed:
    the month's reporting deadline plus the grace days."""
    return reporting_deadline(month) + timedelta(days=grace_days())


def missing_explanations(who, month: date, now: datetime | None = None) -> list[EvaluationLine]:
    """Red cells of ``month`` in ``who``'s scope with no explanation written for that
    month, once ``explanation_due(month)`` has passed (before that: empty). 2 queries."""
    if (now or timezone.now()) <= explanation_due(month):
        return []
    explained = Explanation.objects.filter(
        month=month, indicator_id=OuterRef("indicator_id"), district_id=OuterRef("district_id")
    )
    qs = (
        restrict_viewer(LagEvaluation.objects, who)
        .filter(month=month, status__in=RED_STATUSES)
        .exclude(Exists(explained))
    )
    lines = evaluation_lines(qs)
    lines.sort(key=lambda e: (e.district.order, e.project_seq, e.indicator.order))
    return lines


def cell_explain_context(who, detail, current) -> dict:
    """What the cell page shows about explaining ``current`` (an ``EvaluationLine`` of
    ``detail``, a ``reporting.cell.CellDetail``): the explanation for its month, whether
    one is needed (黄, 红, 未按时填报 or at risk), whether ``who`` may write it (the form),
    and the month's review state. No query beyond ``detail``'s, except the permission
    check when a form could be shown (1-2 queries)."""
    month = current.month if current else None
    needs = bool(current and (current.status in PROBLEM_STATUSES or current.at_risk))
    can = False
    if needs and who is not None:
        try:
            review.allow(
                who, review.Action.EXPLAIN, indicator=detail.indicator, district=detail.district
            )
            can = True
        except review.ReviewRejected:
            can = False
    return {
        "explanation": detail.explanation_for(month),
        "needs_explanation": needs,
        "can_explain": can,
        "review": detail.review_for(month),
        "explain_month": month,
        "explain_month_text": format_month(month) if month else "",
    }
