"""挂牌督办 as a process (issue 32): one item from 交办 to 销号 with its history, a
reminder and an escalation (the clock pinned), a 继续督办 round, refused steps; the
reminders go out once however often the task runs; a past month shows only what was
交办'd by its end; the API round trip; the pages in scope and with bounded queries."""

import io
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.test import APIClient

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.choices import LagStatus
from tracker.monitoring.models import LagAlert, LagEvaluation
from tracker.notifications.models import Contact, Delivery, Notification
from tracker.reporting.notice import notice as read_notice
from tracker.reporting.scorecard import district_scorecard
from tracker.supervision import process
from tracker.supervision.models import State, SupervisionEvent, SupervisionItem
from tracker.supervision.reminders import send_supervision_news

TZ = ZoneInfo("Asia/Shanghai")
SEP, OCT, NOV, DEC = (date(2024, m, 1) for m in (9, 10, 11, 12))
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def at(month, day, hour=10):
    return datetime(2024, month, day, hour, tzinfo=TZ)


@pytest.fixture
def red(personas):
    """萧山区 red on indicator a from September (third month running: a candidate), with
    contacts for 萧山区, the lead agency (民政局) and 督查室."""
    p = personas
    for month in (SEP, OCT, NOV, DEC):
        LagEvaluation.objects.create(
            indicator=p.indicator_a, district=p.district_b, month=month,
            status=LagStatus.SERIOUSLY_BEHIND, quota=Decimal(50), expected=Decimal(25),
            actual=Decimal(5), gap_points=Decimal(40), streak=3 + month.month - 9,
        )  # fmt: skip
        LagEvaluation.objects.create(
            indicator=p.indicator_a, district=p.district_a, month=month,
            status=LagStatus.ON_TRACK, quota=Decimal(50), expected=Decimal(25), actual=Decimal(30),
        )  # fmt: skip
    # the alert engine's proposal since September: not a 挂牌督办 by itself
    LagAlert.objects.create(
        indicator=p.indicator_a, district=p.district_b, month=SEP, last_month=DEC, streak=6,
        kind=LagAlert.Kind.LAG, severity=LagAlert.Severity.RED, level=2, supervised=True,
        status=LagAlert.Status.ESCALATED, message="落后",
    )  # fmt: skip
    Contact.objects.create(name="萧山区督办联络", role="district", district=p.district_b,
                           email="xs@example.com")  # fmt: skip
    Contact.objects.create(name="上城区联络", role="district", district=p.district_a,
                           email="sc@example.com")  # fmt: skip
    Contact.objects.create(name="民政局联络", role="agency", agency=p.agency_a,
                           email="mz@example.com")  # fmt: skip
    Contact.objects.create(name="督查室", role="supervision", email="dcs@example.com")
    return p


def assign(p, now=None, deadline=date(2024, 10, 31)):
    return process.assign(
        p.supervisor, p.indicator_a, p.district_b, SEP, deadline=deadline,
        note="请于月底前追上序时进度", now=now or at(10, 10),
    )  # fmt: skip


def told(item):
    return sorted(
        (n.run_number, n.contact.name)
        for n in Notification.objects.filter(supervision_item=item).select_related("contact")
    )


def test_one_item_from_assign_to_close_with_history_reminder_and_escalation(red):
    p = red
    item = assign(p)
    assert (item.state, item.unit_name, item.round) == (State.ASSIGNED, "萧山区", 1)

    # 4 days before the deadline: nothing; 3 days before: the unit is reminded, once
    assert not send_supervision_news(at(10, 27, 9)).notifications
    first = send_supervision_news(at(10, 28, 9), enqueue=False)
    again = send_supervision_news(at(10, 28, 10), enqueue=False)
    assert [n.contact.name for n in first.notifications] == ["萧山区督办联络"]
    assert again.notifications == [] and again.reminded == []
    assert "距整改期限（2024年10月31日）还有 3 天" in first.notifications[0].body
    # overdue: the unit, the lead agency and 督查室 are told, once
    late = send_supervision_news(at(11, 1, 9), enqueue=False)
    assert send_supervision_news(at(11, 2, 9), enqueue=False).notifications == []
    assert sorted(n.contact.name for n in late.notifications) == [
        "民政局联络",
        "督查室",
        "萧山区督办联络",
    ]
    assert "已超过整改期限（2024年10月31日）1 天" in late.notifications[0].body
    assert told(item) == [
        (1, "萧山区督办联络"),
        (2, "民政局联络"),
        (2, "督查室"),
        (2, "萧山区督办联络"),
    ]
    assert (
        Delivery.objects.filter(notification__supervision_item=item, channel="email").count() == 4
    )

    # another district may not file the 反馈; a district may not 销号
    with pytest.raises(process.Refused, match="只有责任单位（萧山区）或市政府督查室"):
        process.feedback(p.district_a_user, item, "我们代为反馈", now=at(11, 2))
    process.feedback(p.district_b_user, item, "已新增 3 个点位", [("整改.pdf", PDF)], now=at(11, 2))
    item.refresh_from_db()
    assert item.state == State.REPORTED and item.attachments.get().original_name == "整改.pdf"
    with pytest.raises(process.Refused, match="只有市政府督查室可以销号"):
        process.close(p.district_b_user, item, "已完成", now=at(11, 3))
    item.refresh_from_db()
    assert item.state == State.REPORTED  # nothing changed

    # 继续督办: a new round, its own reminder
    with pytest.raises(process.Refused, match="整改期限应晚于今天"):
        process.keep_open(p.supervisor, item, "仍未追上", deadline=date(2024, 11, 1), now=at(11, 3))
    process.keep_open(p.supervisor, item, "点位未投用，继续整改", deadline=date(2024, 11, 30),
                      now=at(11, 3))  # fmt: skip
    item.refresh_from_db()
    assert (item.state, item.round, item.deadline) == (State.ASSIGNED, 2, date(2024, 11, 30))
    with pytest.raises(process.Refused, match="只有「已反馈」的事项可以销号"):
        process.close(p.supervisor, item, "提前销号", now=at(11, 4))
    assert len(send_supervision_news(at(11, 27, 9), enqueue=False).reminded) == 1
    assert send_supervision_news(at(11, 28, 9), enqueue=False).reminded == []
    process.feedback(p.district_b_user, item, "点位已投用", now=at(11, 28))
    process.close(p.supervisor, item, "整改到位，予以销号", now=at(12, 2))
    item.refresh_from_db()
    assert (item.state, item.close_reason, item.closed_by) == (
        State.CLOSED, "整改到位，予以销号", p.supervisor
    )  # fmt: skip
    assert send_supervision_news(at(12, 5, 9), enqueue=False).notifications == []

    steps = [(e.action, e.who, e.new_state, e.month) for e in item.events.order_by("at", "pk")]
    A = SupervisionEvent.Action
    assert steps == [
        (A.ASSIGN, "duchashi", State.ASSIGNED, OCT),
        (A.REMIND, "系统", State.ASSIGNED, OCT),
        (A.ESCALATE, "系统", State.ASSIGNED, NOV),
        (A.FEEDBACK, "xiaoshan", State.REPORTED, NOV),
        (A.KEEP_OPEN, "duchashi", State.ASSIGNED, NOV),
        (A.REMIND, "系统", State.ASSIGNED, NOV),
        (A.FEEDBACK, "xiaoshan", State.REPORTED, NOV),
        (A.CLOSE, "duchashi", State.CLOSED, DEC),
    ]
    reasons = list(
        item.history.order_by("history_date").values_list("history_change_reason", flat=True)
    )
    assert reasons[0] == "交办" and reasons[-1].startswith("销号：整改到位")


def test_one_open_item_per_cell_and_only_supervision_assigns(red):
    p = red
    with pytest.raises(process.Refused, match="只有市政府督查室可以交办"):
        process.assign(p.district_b_user, p.indicator_a, p.district_b, SEP,
                       deadline=date(2024, 10, 31), now=at(10, 10))  # fmt: skip
    assign(p)
    with pytest.raises(process.Refused, match="已有未销号的挂牌督办事项"):
        assign(p)
    with pytest.raises(process.Refused, match="没有进度检查结果"):
        process.assign(p.supervisor, p.indicator_b, p.district_b, SEP,
                       deadline=date(2024, 10, 31), now=at(10, 10))  # fmt: skip
    assert SupervisionItem.objects.count() == 1


def test_a_claim_is_taken_once_even_by_a_stale_copy(red):
    """Two workers that both read the item before either claimed it: one sends."""
    from tracker.supervision.reminders import _claim

    item = assign(red)
    stale = SupervisionItem.objects.get(pk=item.pk)
    assert _claim(item, "reminded_round") is True
    assert _claim(stale, "reminded_round") is False


def test_a_past_month_shows_only_what_was_assigned_by_its_end(red, client):
    """The September scorecard and notice do not mark a cell 交办'd in October; October's
    and November's do; December's no longer does once it was 销号 on 2 December."""
    p = red
    item = assign(p, now=at(10, 10))

    def marked(month):
        card = district_scorecard(p.supervisor, p.district_b, month, with_rank=False)
        line = next(x for x in card if x.indicator_id == p.indicator_a.pk)
        return line.supervised, [s.pk for s in read_notice(month).supervision_items]

    assert marked(SEP) == (False, [])  # the engine's proposal alone is not 挂牌督办
    assert marked(OCT) == (True, [item.pk])
    process.feedback(p.district_b_user, item, "已整改", now=at(11, 20))
    process.close(p.supervisor, item, "整改到位", now=at(12, 2))
    assert marked(NOV) == (True, [item.pk])
    assert read_notice(NOV).supervision_items[0].state_then == State.REPORTED
    assert read_notice(OCT).supervision_items[0].state_then == State.ASSIGNED
    assert marked(DEC) == (False, [])

    client.force_login(p.supervisor)
    sep = client.get(reverse("dashboard:notice", args=["2024-09"])).content.decode()
    octo = client.get(reverse("dashboard:notice", args=["2024-10"])).content.decode()
    assert "没有已交办、尚未销号的挂牌督办事项" in sep and 'id="supervision-items"' not in sep
    assert (
        'id="supervision-items"' in octo
        and "截至2024年10月底，已挂牌督办（已交办、尚未销号）1 项" in octo
    )

    def sheet_text(month):  # the notice's xlsx says the same as its page
        body = client.get(reverse("dashboard:notice_xlsx", args=[month])).content
        rows = load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True)
        return "\n".join("|".join("" if v is None else str(v) for v in r) for r in rows)

    assert "没有已交办、尚未销号的挂牌督办事项" in sheet_text("2024-09")
    october = sheet_text("2024-10")
    assert "截至2024年10月底，已挂牌督办（已交办、尚未销号）1 项" in october
    assert f"|{p.indicator_a.label}|{p.district_b.name}|" in october
    district = client.get(reverse("dashboard:district", args=["xiaoshan"]) + "?month=2024-09")
    assert "挂牌督办</span>" not in district.content.decode()
    district = client.get(reverse("dashboard:district", args=["xiaoshan"]) + "?month=2024-10")
    assert "挂牌督办</span>" in district.content.decode()


def test_the_notice_proposes_and_supervision_assigns_from_it(red, client):
    p = red
    client.force_login(p.supervisor)
    html = client.get(reverse("dashboard:notice", args=["2024-09"])).content.decode()
    link = (f'{reverse("dashboard:supervision_assign")}?indicator={p.indicator_a.pk}'
            f'&amp;district={p.district_b.pk}&amp;month=2024-09')  # fmt: skip
    assert link in html
    form = client.get(link.replace("&amp;", "&"))
    assert "责任单位：<b>萧山区</b>" in form.content.decode()
    with time_machine.travel(at(10, 10), tick=False):
        bad = client.post(reverse("dashboard:supervision_assign"), {
            "indicator": p.indicator_a.pk, "district": p.district_b.pk, "month": "2024-09",
            "deadline": "2024-10-01"})  # fmt: skip
        assert bad.status_code == 400 and "整改期限应晚于今天" in bad.content.decode()
        assert not SupervisionItem.objects.exists()
        done = client.post(reverse("dashboard:supervision_assign"), {
            "indicator": p.indicator_a.pk, "district": p.district_b.pk, "month": "2024-09",
            "deadline": "2024-10-31", "note": "限期整改"})  # fmt: skip
    item = SupervisionItem.objects.get()
    assert done.status_code == 302 and done["Location"] == reverse(
        "dashboard:supervision_item", args=[item.pk]
    )
    html = client.get(reverse("dashboard:notice", args=["2024-09"])).content.decode()
    assert reverse("dashboard:supervision_item", args=[item.pk]) in html  # now: open it
    # others may not 交办 (a district, a leader)
    client.force_login(p.district_b_user)
    refused = client.post(reverse("dashboard:supervision_assign"), {
        "indicator": p.indicator_a.pk, "district": p.district_b.pk, "month": "2024-09",
        "deadline": "2025-10-31"})  # fmt: skip
    assert refused.status_code == 400 and SupervisionItem.objects.count() == 1


def test_pages_in_scope_with_bounded_queries(red, client, django_assert_max_num_queries):
    p = red
    item = assign(p)
    process.feedback(p.district_b_user, item, "已整改", [("整改.pdf", PDF)], now=at(10, 20))
    leader = make_user("shilingdao", Role.LEADER)
    for user in (p.supervisor, p.district_b_user, p.agency_a_user, leader):
        client.force_login(user)
        with django_assert_max_num_queries(16):
            listing = client.get(reverse("dashboard:supervision_list"))
        assert f'data-item="{item.pk}"' in listing.content.decode(), user
        with django_assert_max_num_queries(16):
            page = client.get(reverse("dashboard:supervision_item", args=[item.pk]))
        assert "已新增" not in page.content.decode() and "整改.pdf" in page.content.decode()
    for user in (p.district_a_user, p.agency_b_user):
        client.force_login(user)
        assert (
            f'data-item="{item.pk}"'
            not in client.get(reverse("dashboard:supervision_list")).content.decode()
        )
        assert client.get(reverse("dashboard:supervision_item", args=[item.pk])).status_code == 404
    # a district cannot 销号 from the page; 督查室 can, with a reason
    client.force_login(p.district_b_user)
    page = client.get(reverse("dashboard:supervision_item", args=[item.pk])).content.decode()
    assert 'id="close-form"' not in page
    refused = client.post(reverse("dashboard:supervision_item", args=[item.pk]),
                          {"action": "close", "reason": "自行销号"})  # fmt: skip
    assert refused.status_code == 400 and "只有市政府督查室可以销号" in refused.content.decode()
    client.force_login(p.supervisor)
    empty = client.post(reverse("dashboard:supervision_item", args=[item.pk]), {"action": "close"})
    assert empty.status_code == 400 and "请填写销号理由" in empty.content.decode()
    item.refresh_from_db()
    assert item.state == State.REPORTED
    client.post(reverse("dashboard:supervision_item", args=[item.pk]),
                {"action": "close", "reason": "整改到位"})  # fmt: skip
    item.refresh_from_db()
    assert item.state == State.CLOSED
    overdue = client.get(reverse("dashboard:supervision_list") + "?overdue=1").content.decode()
    assert f'data-item="{item.pk}"' not in overdue


def test_api_round_trip(red):
    p = red
    dcs, xs, sc = APIClient(), APIClient(), APIClient()
    dcs.force_authenticate(p.supervisor)
    xs.force_authenticate(p.district_b_user)
    sc.force_authenticate(p.district_a_user)
    url = "/api/v1/supervision-items/"
    with time_machine.travel(at(10, 10), tick=False):
        refused = xs.post(url + "assign/", {"indicator": p.indicator_a.pk, "district":
                          p.district_b.pk, "month": "2024-09", "deadline": "2024-10-31"},
                          format="json")  # fmt: skip
        assert refused.status_code == 400 and "只有市政府督查室可以交办" in refused.json()["detail"]
        made = dcs.post(url + "assign/", {"indicator": p.indicator_a.pk, "district":
                        p.district_b.pk, "month": "2024-09", "deadline": "2024-10-31",
                        "note": "限期整改"}, format="json")  # fmt: skip
        assert made.status_code == 201, made.json()
        body = made.json()
        pk = body["id"]
        assert (body["item_state"], body["responsible_unit"], body["month"]) == (
            "assigned", "萧山区", "2024-09"
        )  # fmt: skip
        assert sc.get(f"{url}{pk}/").status_code == 404  # another district
        assert sc.post(f"{url}{pk}/feedback/", {"text": "x"}, format="json").status_code == 404
        fed = xs.post(f"{url}{pk}/feedback/", {"text": "已整改", "files": [
            _upload("整改.pdf")]}, format="multipart")  # fmt: skip
        assert fed.status_code == 200 and fed.json()["item_state"] == "reported"
        assert fed.json()["events"][-1]["files"][0]["original_name"] == "整改.pdf"
        closing = xs.post(f"{url}{pk}/close/", {"reason": "完成"}, format="json")
        assert closing.status_code == 400 and "只有市政府督查室可以销号" in closing.json()["detail"]
        kept = dcs.post(f"{url}{pk}/keep-open/", {"reason": "继续", "deadline": "2024-11-30"},
                        format="json")  # fmt: skip
        assert (kept.json()["item_state"], kept.json()["round"]) == ("assigned", 2)
        xs.post(f"{url}{pk}/feedback/", {"text": "完成整改"}, format="json")
        closed = dcs.post(f"{url}{pk}/close/", {"reason": "整改到位"}, format="json")
    assert closed.status_code == 200
    body = closed.json()
    assert body["item_state"] == "closed" and body["close_reason"] == "整改到位"
    assert [e["action"] for e in body["events"]] == [
        "assign", "feedback", "keep_open", "feedback", "close"
    ]  # fmt: skip
    assert [x["id"] for x in dcs.get(url + "?state=closed").json()["results"]] == [pk]
    assert dcs.get(url + "?state=assigned").json()["results"] == []
    assert dcs.get(url + "?state=nope").status_code == 400


def _upload(name):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, PDF, content_type="application/pdf")
