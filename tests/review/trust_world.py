"""A district-month in every state of the figure's machine (issue 30), shared by the
trust tests: 上城区 reports 新增老年助餐服务点 (a, led by 市民政局) and 基层生育咨询门诊
(b, led by 市卫健委).

- May: both filed, submitted and approved — the month is 已审核 and both cells locked;
- June: both filed and submitted; 卫健委 approved b (approved, not locked: the month is
  not through); 民政局 then changed the district's submitted a itself (its last editor).

b's figures carry a PDF 佐证材料; June b carries a 原因说明 (it lagged).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.core.files.uploadedfile import SimpleUploadedFile

from tracker.choices import LagStatus
from tracker.monitoring.models import LagEvaluation
from tracker.progress.models import CellReview, CellState, ProgressReport
from tracker.progress.writes import Entry, submit
from tracker.review import attachments
from tracker.review import workflow as review
from tracker.review.models import Attachment, Explanation

TODAY = date(2024, 7, 20)
MAY, JUNE = date(2024, 5, 1), date(2024, 6, 1)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class Trust:
    p: object
    locked: ProgressReport  # May a
    locked_b: ProgressReport  # May b (with evidence)
    approved: ProgressReport  # June b (approved, not locked; evidence; explanation)
    self_edited: ProgressReport  # June a (submitted; last edited by 民政局)
    evidence_locked: Attachment
    evidence_approved: Attachment
    explanation: Explanation

    def review_of(self, report) -> CellReview:
        return CellReview.objects.get(
            indicator=report.indicator, district=report.district, month=report.month
        )

    @property
    def frozen(self) -> list[ProgressReport]:
        return [self.locked, self.locked_b, self.approved]


def file(user, p, indicator, month, value, **extra) -> ProgressReport:
    entry = Entry(indicator.pk, p.district_a.pk, month, value, **extra)
    return submit(user, [entry], today=TODAY).reports[0]


def evidence(user, report) -> Attachment:
    return attachments.attach(
        user, report, name="验收单.pdf", content=SimpleUploadedFile("a.pdf", PDF)
    )


def build(p) -> Trust:
    a, b = p.indicator_a, p.indicator_b
    locked = file(p.district_a_user, p, a, MAY, 5)
    locked_b = file(p.district_a_user, p, b, MAY, 6)
    evidence_locked = evidence(p.district_a_user, locked_b)
    review.submit_month(p.district_a_user, p.district_a, MAY)
    may_cells = CellReview.objects.filter(month=MAY)
    review.approve_cells(p.agency_a_user, may_cells.filter(indicator=a))
    review.approve_cells(p.agency_b_user, may_cells.filter(indicator=b))

    file(p.district_a_user, p, a, JUNE, 10)
    approved = file(p.district_a_user, p, b, JUNE, 12)
    evidence_approved = evidence(p.district_a_user, approved)
    LagEvaluation.objects.create(
        indicator=b, district=p.district_a, month=JUNE, status=LagStatus.SERIOUSLY_BEHIND,
        quota=50, actual=12, expected=25, gap_points=26,
    )  # fmt: skip
    explanation = review.explain(
        p.district_a_user, b, p.district_a, JUNE, reason="设备到货延迟",
        measures="加快安装", catch_up_by=date(2024, 9, 30),
    )  # fmt: skip
    review.submit_month(p.district_a_user, p.district_a, JUNE)
    review.review_cell(p.agency_b_user, CellReview.objects.get(month=JUNE, indicator=b),
                       approve=True)  # fmt: skip
    self_edited = file(p.agency_a_user, p, a, JUNE, 11)  # the lead agency changes it
    world = Trust(p, locked, locked_b, approved, self_edited, evidence_locked,
                  evidence_approved, explanation)  # fmt: skip
    assert world.review_of(locked).locked and world.review_of(locked_b).locked
    state = world.review_of(approved)
    assert (state.state, state.locked) == (CellState.APPROVED, False)
    assert world.review_of(self_edited).state == CellState.PENDING
    return world


def snapshot(world: Trust):
    """Everything the machine keeps frozen, and the one approval four eyes forbids."""
    frozen = [r.pk for r in world.frozen]
    return (
        sorted(
            ProgressReport.objects.filter(pk__in=frozen).values_list(
                "pk", "value", "note", "is_correction", "correction_reason", "version"
            )
        ),
        ProgressReport.history.filter(id__in=frozen).count(),
        sorted(Attachment.objects.filter(report_id__in=frozen).values_list("pk", flat=True)),
        list(
            Explanation.objects.filter(pk=world.explanation.pk).values_list(
                "reason", "measures", "catch_up_by"
            )
        ),
        world.review_of(world.self_edited).state == CellState.APPROVED,
    )
