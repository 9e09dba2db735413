"""Which figures count (the state machine of a figure is ``tracker.progress.lifecycle``).

- ``count_only_reviewed`` / ``counted_reports``: with ``COUNT_ONLY_REVIEWED`` on, only the
  lead agency's approved figures count for the lag check and the notice.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from tracker import conf
from tracker.progress.models import CellReview, CellState, ProgressReport

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
