"""The state of a figure, as the write path and the checks need it: which cells are
locked, and which figures count.

- ``locked_cells``: an approved cell is locked (督查室 unlocks with a reason); the one write
  path (``tracker.progress.writes``) and the workbooks refuse to change it.
- ``count_only_reviewed`` / ``counted_reports``: with ``COUNT_ONLY_REVIEWED`` on, only the
  lead agency's approved figures count for the lag check and the notice.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Exists, OuterRef

from tracker import conf
from tracker.months import month_label
from tracker.progress.models import CellReview, CellState, ProgressReport


def locked_cells(indicator_ids, district_ids) -> set[tuple[int, int, date]]:
    """(indicator, district, month) of the locked cells among these; one query."""
    return set(
        CellReview.objects.filter(
            locked=True, indicator_id__in=indicator_ids, district_id__in=district_ids
        ).values_list("indicator_id", "district_id", "month")
    )


def locked_message(district_name: str, label: str, month: date) -> str:
    return (
        f"{district_name}{month_label(month)}的「{label}」已审核并锁定，不能修改；"
        "如确需修改，请联系市政府督查室说明原因后解锁"
    )


# --- which figures count ----------------------------------------------------------------


def count_only_reviewed() -> bool:
    """``conf.COUNT_ONLY_REVIEWED``: count only approved figures (default False)."""
    return conf.COUNT_ONLY_REVIEWED


def counted_reports(reports=None):
    """The progress reports the lag check and notice should count under the setting."""
    reports = ProgressReport.objects.all() if reports is None else reports
    if not count_only_reviewed():
        return reports
    approved = CellReview.objects.filter(
        indicator_id=OuterRef("indicator_id"),
        district_id=OuterRef("district_id"),
        month=OuterRef("month"),
        state=CellState.APPROVED,
    )
    return reports.filter(Exists(approved))
