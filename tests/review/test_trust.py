"""Review you can trust (issue 30): one state machine for a figure, asked by every write
path. Each bypass of the issue, on each path that could carry it, is refused with a 4xx
and a Chinese message, and changes nothing (``snapshot``). The probe of every URL and
admin action is ``test_trust_matrix.py``."""

from __future__ import annotations

import io

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.test import APIClient

from tests.factories import make_user
from tests.review.trust_world import JUNE, MAY, PDF, TODAY, build, file, snapshot
from tracker.accounts.models import Role
from tracker.progress import lifecycle
from tracker.progress.models import CellReview, CellState, MonthState, ProgressReport
from tracker.progress.workbooks import ImportRejected, export_month_workbook, import_workbook
from tracker.progress.writes import Entry, ProgressRejected, submit
from tracker.review import workflow as review
from tracker.review.models import Attachment


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def world(personas, media):
    with time_machine.travel(TODAY, tick=False):
        yield build(personas)


def api(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def text(response) -> str:
    return response.content.decode()


# --- approved means frozen ----------------------------------------------------------------


def test_an_approved_figure_is_refused_on_every_entry_path(world, client):
    p, report = world.p, world.approved
    before = snapshot(world)
    message = "已审核通过，不能修改"
    # API: PATCH, PUT, create on the same cell, bulk
    for method in ("patch", "put"):
        body = {"value": "20", "indicator": report.indicator_id, "district": report.district_id,
                "month": "2024-06", "version": report.version}  # fmt: skip
        r = getattr(api(p.district_a_user), method)(
            f"/api/v1/progress/{report.pk}/", body, format="json"
        )
        assert r.status_code == 400 and message in text(r), (method, text(r))
    r = api(p.agency_b_user).post(
        "/api/v1/progress/bulk/",
        {"indicator": report.indicator_id, "month": "2024-06",
         "rows": [{"district": p.district_a.pk, "value": "20"}]},
        format="json",
    )  # fmt: skip
    assert r.status_code == 400 and message in text(r)
    # admin: the change form is read-only and a POST is a 403 that says why
    client.force_login(p.district_a_user)
    url = reverse("admin:tracker_progressreport_change", args=[report.pk])
    assert 'name="value"' not in text(client.get(url))
    form = {"indicator": report.indicator_id, "district": p.district_a.pk, "month": "2024-06",
            "value": "20", "expected_version": report.version}  # fmt: skip
    r = client.post(url, form)
    assert r.status_code == 403 and message in text(r)
    # admin grid and 本月填报: 400, nothing written
    grid = reverse("admin:tracker_progressreport_grid")
    r = client.post(f"{grid}?indicator={report.indicator_id}&month=2024-06",
                    {f"value-{p.district_a.pk}": "20"})  # fmt: skip
    assert r.status_code == 400 and message in text(r)
    key = f"{report.indicator_id}-{p.district_a.pk}"
    r = client.post("/report/2024-06/", {f"value-{key}": "20"})
    assert r.status_code == 400 and message in text(r)
    assert snapshot(world) == before


def test_a_workbook_over_an_approved_figure_is_refused(world, client):
    p = world.p
    data = export_month_workbook(p.district_a_user, JUNE)
    wb = load_workbook(io.BytesIO(data))
    ws = wb["填报"]
    changed = 0
    for row in ws.iter_rows(min_row=4):  # 本月累计 (column I) of every row with a key (N)
        if len(row) >= 14 and row[13].value:
            row[8].value = 99
            changed += 1
    assert changed
    out = io.BytesIO()
    wb.save(out)
    before = snapshot(world)
    with pytest.raises(ImportRejected, match="已审核通过，不能修改"):
        import_workbook(p.district_a_user, out.getvalue())
    client.force_login(p.district_a_user)
    upload = io.BytesIO(out.getvalue())
    upload.name = "june.xlsx"
    r = client.post("/report/2024-06/upload/", {"file": upload})
    assert r.status_code == 400 and "已审核通过，不能修改" in text(r)
    assert snapshot(world) == before


def test_history_revert_over_an_approved_figure_is_refused(world, client):
    p, report = world.p, world.approved
    version = report.history.order_by("history_id").first().history_id  # the first value
    before = snapshot(world)
    for user in (p.supervisor, p.district_a_user):
        client.force_login(user)
        url = reverse("admin:tracker_progressreport_simple_history", args=[report.pk, version])
        assert client.post(url, {"value": "1", "month": "2024-06"}).status_code == 403
    assert snapshot(world) == before


def test_return_or_unlock_lets_a_figure_change_with_reasons_in_history(world):
    p, report = world.p, world.approved
    cell = world.review_of(report)
    with pytest.raises(review.ReviewRejected, match="退回原因"):
        review.return_cells(p.agency_b_user, [(cell, " ")])
    review.return_cells(p.agency_b_user, [(cell, "与台账不符")])
    assert file(p.district_a_user, p, p.indicator_b, JUNE, 13).value == 13
    # a locked figure: the reviewer cannot return it, 督查室 unlocks with a reason
    locked = world.review_of(world.locked_b)
    with pytest.raises(review.ReviewRejected, match="须先由市政府督查室解锁"):
        review.return_cells(p.agency_b_user, [(locked, "复核")])
    review.unlock(p.supervisor, reason="漏报 1 个点位", cell=locked)
    with pytest.raises(ProgressRejected, match="解锁后不能由您本人修改"):  # its approver
        file(p.agency_b_user, p, p.indicator_b, MAY, 7)
    assert file(p.district_a_user, p, p.indicator_b, MAY, 7).value == 7
    reasons = [h.history_change_reason for h in locked.history.order_by("history_id")]
    assert "漏报 1 个点位" in reasons
    assert "退回：与台账不符" in [h.history_change_reason for h in cell.history.all()]


# --- four eyes ------------------------------------------------------------------------------


def test_the_last_editor_never_approves(world, client):
    p = world.p
    cell = world.review_of(world.self_edited)
    before = snapshot(world)
    with pytest.raises(review.ReviewRejected, match="最后修改人是您本人"):
        review.review_cell(p.agency_a_user, cell, approve=True)
    r = api(p.agency_a_user).post(f"/api/v1/reviews/{cell.pk}/approve/")
    assert r.status_code == 400 and "最后修改人是您本人" in text(r)
    client.force_login(p.agency_a_user)
    client.post("/review/act/", {"do": "approve", "cell": cell.pk})
    assert snapshot(world) == before  # still not approved
    # a colleague of the same agency approves; or the agency returns it to the district
    colleague = make_user("minzheng2", Role.AGENCY, agency=p.agency_a)
    review.approve_cells(colleague, [cell])
    assert world.review_of(world.self_edited).state == CellState.APPROVED


def test_bulk_decisions_are_all_or_nothing(world):
    p = world.p
    june = list(CellReview.objects.filter(month=JUNE).order_by("indicator__project__seq"))
    colleague = make_user("weijian2", Role.AGENCY, agency=p.agency_b)
    # one cell already approved, one not the colleague's project: nothing changes
    with pytest.raises(review.ReviewRejected) as caught:
        review.approve_cells(p.supervisor, june)
    assert "最后修改人" not in str(caught.value) and "无需重复审核" in str(caught.value)
    assert len(caught.value.errors) == 1
    with pytest.raises(review.ReviewRejected, match="牵头单位"):
        review.return_cells(colleague, [(c, "复核") for c in june])
    assert [c.state for c in CellReview.objects.filter(month=JUNE).order_by(
        "indicator__project__seq")] == [CellState.PENDING, CellState.APPROVED]  # fmt: skip
    # the office approves the rest; returns carry a reason each
    with pytest.raises(review.ReviewRejected, match="退回原因"):
        review.return_cells(p.supervisor, [(june[0], "数字有误"), (june[1], "")])
    review.return_cells(p.supervisor, [(june[0], "数字有误"), (june[1], "附件不清")])
    assert [c.reason for c in CellReview.objects.filter(month=JUNE).order_by(
        "indicator__project__seq")] == ["数字有误", "附件不清"]  # fmt: skip
    month = june[0].submission
    month.refresh_from_db()
    assert month.state == MonthState.PARTLY_RETURNED


# --- evidence ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["approved", "locked_b"])
def test_evidence_is_not_added_or_removed_on_frozen_figures(world, which):
    from django.core.files.uploadedfile import SimpleUploadedFile  # only this test uploads

    p, report = world.p, getattr(world, which)
    item = Attachment.objects.get(report=report)
    before = snapshot(world)
    r = api(p.district_a_user).post(
        "/api/v1/attachments/",
        {"report": report.pk, "file": SimpleUploadedFile("b.pdf", PDF)},
        format="multipart",
    )
    word = "已审核并锁定" if which == "locked_b" else "已审核通过"
    assert r.status_code == 400 and f"{word}，不能上传或删除佐证材料" in text(r)
    r = api(p.district_a_user).delete(f"/api/v1/attachments/{item.pk}/")
    assert r.status_code == 400 and "不能上传或删除佐证材料" in text(r)
    assert snapshot(world) == before


# --- deletes ----------------------------------------------------------------------------------


def test_deleting_a_locked_figure_is_a_4xx_and_a_bulk_delete_deletes_nothing(world, client):
    p = world.p
    before = snapshot(world)
    r = api(p.supervisor).delete(f"/api/v1/progress/{world.locked.pk}/")
    assert r.status_code == 400 and "已审核并锁定，不能删除" in text(r)
    client.force_login(p.supervisor)
    url = reverse("admin:tracker_progressreport_delete", args=[world.locked.pk])
    r = client.post(url, {"post": "yes"})
    assert r.status_code == 403 and "已审核并锁定，不能删除" in text(r)
    # bulk: a deletable row (July, only filed) and a locked one → nothing deleted
    july = file(p.district_a_user, p, p.indicator_a, "2024-07", 12)
    changelist = reverse("admin:tracker_progressreport_changelist")
    selection = {"action": "delete_selected", "_selected_action": [july.pk, world.locked.pk]}
    for extra in ({}, {"post": "yes"}):  # the confirmation page and the confirmed delete
        r = client.post(changelist, {**selection, **extra})
        assert r.status_code == 403 and "未删除任何数据" in text(r)
    assert ProgressReport.objects.filter(pk=july.pk).exists()
    assert snapshot(world) == before
    # alone, the filed row is deleted (the office may)
    r = client.post(changelist, {"action": "delete_selected", "_selected_action": [july.pk],
                                 "post": "yes"})  # fmt: skip
    assert r.status_code == 302 and not ProgressReport.objects.filter(pk=july.pk).exists()


# --- corrections ------------------------------------------------------------------------------


def test_each_correction_needs_its_own_reason(world, client):
    p = world.p
    report = file(p.district_a_user, p, p.indicator_a, "2024-07", 30)
    c = api(p.district_a_user)
    url = f"/api/v1/progress/{report.pk}/"
    r = c.patch(url, {"value": "20", "is_correction": True, "correction_reason": "重复统计"},
                format="json")  # fmt: skip
    assert r.status_code == 200, text(r)
    # a PATCH no longer inherits the correction: a drop needs a correction again
    r = c.patch(url, {"value": "0"}, format="json")
    assert r.status_code == 400 and "累计数不能减少" in text(r)
    # and a new reason: the last correction's reason does not carry a new one
    r = c.patch(url, {"value": "0", "is_correction": True, "correction_reason": "重复统计"},
                format="json")  # fmt: skip
    assert r.status_code == 400 and "本次更正须填写本次的更正原因" in text(r)
    assert ProgressReport.objects.get(pk=report.pk).value == 20
    r = c.patch(url, {"value": "10", "is_correction": True, "correction_reason": "再次核对"},
                format="json")  # fmt: skip
    assert r.status_code == 200 and r.json()["correction_reason"] == "再次核对"
    # the admin's change form does not prefill the last correction either
    client.force_login(p.district_a_user)
    page = text(client.get(reverse("admin:tracker_progressreport_change", args=[report.pk])))
    assert "再次核对" not in page.split('name="correction_reason"')[1].split("</textarea>")[0]
    with pytest.raises(ProgressRejected, match="本次更正须填写本次的更正原因"):
        file(p.district_a_user, p, p.indicator_a, "2024-07", 5, is_correction=True,
             correction_reason="再次核对")  # fmt: skip


# --- the machine itself -----------------------------------------------------------------------


def test_the_machine_names_every_state(world):
    p = world.p
    states = lifecycle.cells(
        [(p.indicator_a.pk, p.district_a.pk, MAY), (p.indicator_b.pk, p.district_a.pk, JUNE),
         (p.indicator_a.pk, p.district_a.pk, JUNE), (p.indicator_a.pk, p.district_b.pk, JUNE)]
    )  # fmt: skip
    got = {(*k[0:2], k[2].month): c.state for k, c in states.items()}
    assert got == {
        (p.indicator_a.pk, p.district_a.pk, 5): lifecycle.Figure.LOCKED,
        (p.indicator_b.pk, p.district_a.pk, 6): lifecycle.Figure.APPROVED,
        (p.indicator_a.pk, p.district_a.pk, 6): lifecycle.Figure.SUBMITTED,
        (p.indicator_a.pk, p.district_b.pk, 6): lifecycle.Figure.EMPTY,
    }
    review.unlock(p.supervisor, reason="复核", cell=world.review_of(world.locked))
    assert lifecycle.cell_of(p.indicator_a.pk, p.district_a.pk, MAY).state == "unlocked"


def test_a_bulk_approval_takes_a_fixed_number_of_queries_per_district_month(personas):
    """Approving 2 cells of one district-month costs what approving 4 cells of two
    district-months costs, less one month's share: set-based, not one request per cell."""
    from django.db import connection  # only this test counts queries
    from django.test.utils import CaptureQueriesContext

    p = personas

    def month_of(district, user):
        for indicator, value in ((p.indicator_a, 3), (p.indicator_b, 4)):
            submit(user, [Entry(indicator.pk, district.pk, "2024-06", value)], today=TODAY)
        return list(review.submit_month(user, district, JUNE).cells.all())

    one = month_of(p.district_a, p.district_a_user)
    with CaptureQueriesContext(connection) as single:
        review.approve_cells(p.supervisor, one)
    two = month_of(p.district_b, p.district_b_user)
    CellReview.objects.filter(pk__in=[c.pk for c in one]).update(state=CellState.PENDING,
                                                                 locked=False)  # fmt: skip
    with CaptureQueriesContext(connection) as double:
        review.approve_cells(p.supervisor, [c.pk for c in one + two])
    per_month = len(double) - len(single)
    assert per_month <= 4, (len(single), len(double))  # the month state and its locks
    assert len(single) <= 15, [q["sql"][:80] for q in single.captured_queries]


def test_the_documented_table_is_the_machine():
    """docs/review.md prints the transitions; it must say what ``TRANSITIONS`` says."""
    import re  # only this test reads the document
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "review.md").read_text()
    table = doc.split("## Transitions")[1].split("\n\n")[1]
    documented = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        action = re.search(r"\(`(\w+)`", cells[0]).group(1)
        sources = cells[1].replace("not approved, not locked", "empty, filed, submitted, "
                                   "returned, unlocked")  # fmt: skip
        names = set(lifecycle.Figure.values) if sources == "any" else set(sources.split(", "))
        documented[action] = names
    assert documented == {
        str(action): {str(s) for s in t.sources} for action, t in lifecycle.TRANSITIONS.items()
    }
