"""The review page (issue 30): each row shows what a reviewer needs, and approve all,
approve selected and return selected (one reason each) are one request each, all or
nothing, on the page and in the API. 佐证材料 are attached, opened and removed from the
pages, scoped as the API's downloads."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from tracker.choices import LagStatus
from tracker.monitoring.models import LagEvaluation
from tracker.progress.models import CellReview, CellState, MonthState, MonthSubmission
from tracker.progress.writes import Entry, submit
from tracker.review import workflow as review
from tracker.review.models import Attachment

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 7, 20, 10, 0, tzinfo=TZ)
JUNE = date(2024, 6, 1)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def pinned():
    with time_machine.travel(NOW):
        yield


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def file(user, indicator, district, month, value):
    entry = Entry(indicator_id=indicator.pk, district_id=district.pk, month=month, value=value)
    return submit(user, [entry], today=NOW.date())


@pytest.fixture
def submitted(personas):
    """上城区 and 萧山区 file May and June for both indicators and submit June."""
    p = personas
    for district, user in ((p.district_a, p.district_a_user), (p.district_b, p.district_b_user)):
        for indicator in (p.indicator_a, p.indicator_b):
            file(user, indicator, district, "2024-05", 8)
            file(user, indicator, district, "2024-06", 12)
        review.submit_month(user, district, JUNE)
    return p


def cells(p, indicator=None, district=None):
    qs = CellReview.objects.filter(month=JUNE)
    if indicator is not None:
        qs = qs.filter(indicator=indicator)
    if district is not None:
        qs = qs.filter(district=district)
    return list(qs.order_by("pk"))


def states(p):
    return {(c.indicator_id, c.district.code): c.state for c in cells(p)}


def bulk(client, **data):
    response = client.post(reverse("dashboard:review_bulk"), data, follow=True)
    assert response.status_code in (200, 400)  # done (the page it leads back to), or refused
    return [str(m) for m in response.context["messages"]]


def test_a_row_shows_figure_last_month_status_and_the_page_approves_all_in_one_request(
    submitted, client
):
    p = submitted
    LagEvaluation.objects.create(
        indicator=p.indicator_b, district=p.district_a, month=JUNE, status=LagStatus.BEHIND,
        quota=Decimal(50), expected=Decimal(25), actual=Decimal(12), on_time=True,
    )  # fmt: skip
    client.force_login(p.agency_b_user)  # 市卫生健康委员会 leads indicator_b only
    url = reverse("dashboard:review_month", args=["shangcheng", "2024-06"])
    response = client.get(url)
    html = response.content.decode()
    rows = response.context["sheet"].rows
    assert [r.indicator for r in rows] == [p.indicator_b]  # its own indicators only
    row = rows[0]
    assert (row.report.value, row.entry.previous) == (Decimal(12), Decimal(8))
    assert row.line.status == LagStatus.BEHIND  # the stored status, not recomputed
    assert 'id="approve-all"' in html and 'accesskey="a"' in html
    assert f'name="reason-{row.cell.pk}"' in html
    assert reverse("dashboard:cell", args=[p.indicator_b.pk, p.district_a.pk]) in html

    pending = [c.pk for c in cells(p, p.indicator_b)]
    assert bulk(client, do="approve_all", all=pending, next=url) == ["已审核通过 2 项"]
    assert {c.state for c in cells(p, p.indicator_b)} == {CellState.APPROVED}
    assert {c.state for c in cells(p, p.indicator_a)} == {CellState.PENDING}


def test_return_selected_needs_a_reason_for_each_and_is_all_or_nothing(submitted, client):
    p = submitted
    client.force_login(p.agency_a_user)
    a, b = cells(p, p.indicator_a)
    before = states(p)
    messages = bulk(client, do="return", cell=[a.pk, b.pk], **{f"reason-{a.pk}": "数字有误"})
    assert messages == ["退回时须填写退回原因（逐项）：萧山区「新增老年助餐服务点」未填写"]
    assert states(p) == before  # nothing changed

    messages = bulk(client, do="return", cell=[a.pk, b.pk],
                    **{f"reason-{a.pk}": "数字有误", f"reason-{b.pk}": "缺佐证"})  # fmt: skip
    assert messages == ["已退回 2 项，已通知相关地区更正后重新上报"]
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.state, a.reason, b.reason) == (CellState.RETURNED, "数字有误", "缺佐证")
    assert MonthSubmission.objects.get(district=p.district_a).state == MonthState.PARTLY_RETURNED


def test_one_refused_cell_refuses_the_whole_request(submitted, client):
    p = submitted
    a, b = cells(p, p.indicator_a)
    review.review_cell(p.agency_a_user, b, approve=True)
    client.force_login(p.agency_a_user)
    messages = bulk(client, do="approve", cell=[a.pk, b.pk])
    assert (
        "萧山区2024年6月的「新增老年助餐服务点」" in messages[0] and "未做任何修改" in messages[0]
    )
    a.refresh_from_db()
    assert a.state == CellState.PENDING  # the good one was not approved either
    # another agency's cell is outside its scope: a 404, nothing changes
    other = cells(p, p.indicator_b)[0]
    data = {"do": "approve", "cell": [a.pk, other.pk]}
    response = client.post(reverse("dashboard:review_bulk"), data)
    assert response.status_code == 404
    a.refresh_from_db()
    assert a.state == CellState.PENDING


def test_the_review_page_per_indicator_lists_every_district(submitted, client):
    p = submitted
    client.force_login(p.agency_b_user)
    response = client.get(reverse("dashboard:review_indicator", args=[p.indicator_b.pk, "2024-06"]))
    assert response.status_code == 200
    assert [r.district for r in response.context["sheet"].rows] == [p.district_a, p.district_b]
    # the 审核与上报 page leads to both review pages
    html = client.get(reverse("dashboard:review_states"), {"month": "2024-06"}).content.decode()
    assert reverse("dashboard:review_month", args=["xiaoshan", "2024-06"]) in html
    assert reverse("dashboard:review_indicator", args=[p.indicator_b.pk, "2024-06"]) in html
    client.force_login(p.agency_a_user)  # not its indicator: a 404
    response = client.get(reverse("dashboard:review_indicator", args=[p.indicator_b.pk, "2024-06"]))
    assert response.status_code == 404


def api(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def test_the_api_approves_and_returns_many_in_one_request(submitted):
    p = submitted
    a, b = cells(p, p.indicator_a)
    other = cells(p, p.indicator_b)[0]
    client = api(p.agency_a_user)
    response = client.post("/api/v1/reviews/bulk-approve/", {"cells": [a.pk, other.pk]},
                           format="json")  # fmt: skip
    assert response.status_code == 404  # another agency's cell: outside its scope
    assert {c.state for c in cells(p)} == {CellState.PENDING}

    response = client.post("/api/v1/reviews/bulk-return/",
                           {"cells": [{"cell": a.pk, "reason": "核对"}, {"cell": b.pk,
                                                                       "reason": ""}]},
                           format="json")  # fmt: skip
    assert response.status_code == 400
    assert {c.state for c in cells(p)} == {CellState.PENDING}

    data = {"cells": [{"cell": a.pk, "reason": "核对台账"}]}
    response = client.post("/api/v1/reviews/bulk-return/", data, format="json")
    assert (response.status_code, response.json()) == (200, {"cells": 1})
    response = client.post("/api/v1/reviews/bulk-approve/", {"cells": [a.pk, b.pk]},
                           format="json")  # fmt: skip
    assert response.status_code == 400
    assert "上城区2024年6月的「新增老年助餐服务点」" in response.json()["detail"]
    b.refresh_from_db()
    assert b.state == CellState.PENDING
    response = client.post("/api/v1/reviews/bulk-approve/", {"cells": [b.pk]}, format="json")
    assert (response.status_code, response.json()) == (200, {"cells": 1})


def test_evidence_is_attached_opened_and_removed_from_the_pages(personas, media, client):
    p = personas
    report = file(p.district_a_user, p.indicator_a, p.district_a, "2024-06", 12).created[0]
    client.force_login(p.district_a_user)
    entry = reverse("dashboard:report", args=["2024-06"])
    html = client.get(entry).content.decode()
    assert f'form="attach-{p.indicator_a.pk}-{p.district_a.pk}"' in html
    response = client.post(
        reverse("dashboard:attachment_add"),
        {"report": report.pk, "file": SimpleUploadedFile("验收单.pdf", PDF), "next": entry},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == ["已上传佐证材料「验收单.pdf」"]
    item = Attachment.objects.get()
    opened = reverse("dashboard:attachment", args=[item.pk])
    assert opened in response.content.decode()  # listed on the row
    response = client.get(opened)
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    assert b"".join(response.streaming_content) == PDF
    cell_page = client.get(reverse("dashboard:cell", args=[p.indicator_a.pk, p.district_a.pk]))
    assert opened in cell_page.content.decode()

    # another district, and an agency not leading the project, cannot open it
    for outsider in (p.district_b_user, p.agency_b_user):
        client.force_login(outsider)
        assert client.get(opened).status_code == 404
        remove = reverse("dashboard:attachment_remove", args=[item.pk])
        assert client.post(remove).status_code == 404
    assert Attachment.objects.count() == 1

    client.force_login(p.district_a_user)
    response = client.post(reverse("dashboard:attachment_remove", args=[item.pk]),
                           {"next": entry}, follow=True)  # fmt: skip
    assert [str(m) for m in response.context["messages"]] == ["已删除佐证材料「验收单.pdf」"]
    assert not Attachment.objects.exists()
    # a file that is not what its name says is refused with the service's message
    response = client.post(
        reverse("dashboard:attachment_add"),
        {"report": report.pk, "file": SimpleUploadedFile("x.pdf", b"MZ\x90\x00"), "next": entry},
        follow=True,
    )
    assert "不是 PDF" in str(next(iter(response.context["messages"])))
    assert not Attachment.objects.exists()


def test_a_returned_figure_is_first_in_my_work_counted_in_the_header_and_on_its_row(
    submitted, client
):
    p = submitted
    a = cells(p, p.indicator_a, p.district_a)[0]
    review.return_cells(p.agency_a_user, [(a, "数字与台账不符")])
    client.force_login(p.district_a_user)
    html = client.get(reverse("dashboard:my_work")).content.decode()
    assert html.index('id="returned"') < html.index('id="unfiled"')  # first
    assert "数字与台账不符" in html
    assert 'id="returned-link"' in html and "退回 1" in html  # the header, on every page
    entry = client.get(reverse("dashboard:report", args=["2024-06"])).content.decode()
    start = entry.index(f'id="c-{p.indicator_a.pk}-{p.district_a.pk}"')
    row = entry[start : entry.index("</tr>", start)]
    assert 'class="entry-row returned"' in row and "已退回" in row and "数字与台账不符" in row
    csv = client.get(reverse("dashboard:my_work"), {"format": "csv"}).content.decode("utf-8-sig")
    assert csv.splitlines()[1].startswith("被退回,") and "退回：数字与台账不符" in csv
    # 萧山区 has nothing returned: no count, no section
    client.force_login(p.district_b_user)
    html = client.get(reverse("dashboard:my_work")).content.decode()
    assert 'id="returned-link"' not in html and 'id="returned"' not in html
