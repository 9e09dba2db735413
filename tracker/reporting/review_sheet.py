"""The review page's rows (issue 30): what a lead agency needs to approve or return a
submitted figure without opening anything else.

Each row is one ``CellReview`` of a district-month (or of one indicator across districts)
with, read from the existing read models and never recomputed here:

- the figure, 上月 and 序时应达: ``progress.entry_sheet`` (the rows the district filled,
  as filed; 序时应达 from the trajectory the lag check uses);
- the status: the stored evaluation of that month (``monitoring.stored.evaluation_lines``),
  or none when the check has not run for the month yet;
- the explanation: ``review.explanations.explanations_for``;
- the 佐证材料: the report's attachments, in the viewer's scope.

A fixed number of queries whatever the number of rows (about 20).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tracker.accounts.models import Role
from tracker.accounts.permissions import SUPERVISION_SCOPE, Action, Scope, restrict, restrict_viewer
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.stored import EvaluationLine, evaluation_lines
from tracker.progress.entry_sheet import EntryRow, entry_sheet
from tracker.progress.models import CellReview, CellState
from tracker.review.explanations import explanations_for
from tracker.review.models import Attachment


@dataclass
class ReviewRow:
    cell: CellReview
    entry: EntryRow | None
    line: EvaluationLine | None
    explanation: object = None
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def indicator(self):
        return self.cell.indicator

    @property
    def district(self):
        return self.cell.district

    @property
    def pending(self) -> bool:
        return self.cell.state == CellState.PENDING

    @property
    def report(self):
        return self.entry.report if self.entry else None


@dataclass
class ReviewSheet:
    month: date
    rows: list[ReviewRow]

    @property
    def pending(self) -> list[ReviewRow]:
        return [r for r in self.rows if r.pending]

    @property
    def approved_count(self) -> int:
        return sum(1 for r in self.rows if r.cell.state == CellState.APPROVED)


def review_sheet(who, month: date, *, district=None, indicator=None) -> ReviewSheet:
    """The submitted cells of ``district``'s month, or of ``indicator`` across districts,
    that ``who`` sees, in plan order, each with its figure, 上月, 序时应达, status,
    explanation and attachments."""
    if (district is None) == (indicator is None):
        raise ValueError("pass exactly one of district or indicator")
    where = {"district": district} if district is not None else {"indicator": indicator}
    cells = list(
        restrict(who, Action.VIEW, CellReview.objects.all())
        .filter(month=month, **where)
        .select_related("indicator__project__lead_agency", "district", "reviewed_by")
        .order_by("indicator__project__seq", "indicator__order", "district__order")
    )
    if not cells:
        return ReviewSheet(month, [])
    if district is not None:  # the district's own month, exactly as it filled it
        sheet = entry_sheet(Scope(role=Role.DISTRICT, district_id=district.pk), month)
    else:
        sheet = entry_sheet(SUPERVISION_SCOPE, month, project_id=indicator.project_id)
    entries = {(r.indicator.pk, r.district.pk): r for r in sheet.rows}
    lines = {
        (x.indicator_id, x.district_id): x
        for x in evaluation_lines(
            restrict_viewer(LagEvaluation.objects, who).filter(month=month, **where)
        )
    }
    keys = [(c.indicator_id, c.district_id) for c in cells]
    explanations = explanations_for(who, keys, month)
    report_ids = [e.report.pk for k in keys if (e := entries.get(k)) and e.report]
    files: dict[int, list[Attachment]] = {}
    for a in restrict(who, Action.VIEW, Attachment.objects.all()).filter(report_id__in=report_ids):
        files.setdefault(a.report_id, []).append(a)
    rows = []
    for cell, key in zip(cells, keys, strict=True):
        entry = entries.get(key)
        rows.append(
            ReviewRow(
                cell=cell,
                entry=entry,
                line=lines.get(key),
                explanation=explanations.get(key),
                attachments=files.get(entry.report.pk, []) if entry and entry.report else [],
            )
        )
    return ReviewSheet(month, rows)
