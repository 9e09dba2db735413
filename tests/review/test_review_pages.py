"""Explain and review through the pages (issue 15): 审核与上报, the district-month record,
the cell page's explanation form, the notice, the return notification, locks.

The story runs on the small personas (see ``tests/review/test_review.py``): 上城区 reports two
indicators, one led by 市民政局 (indicator_a), one by 市卫健委 (indicator_b).
"""

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from tracker.accounts.models import Role
from tracker.choices import LagStatus
from tracker.monitoring.models import LagEvaluation
from tracker.notifications import delivery as outbox
from tracker.notifications.models import Contact, Delivery, Notification
from tracker.progress.models import (
    CellReview,
    CellState,
    MonthState,
    MonthSubmission,
    ProgressReport,
)
from tracker.progress.writes import Entry, ProgressRejected, delete_report, submit
from tracker.review import workflow as review
from tracker.review.models import Explanation

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 7, 20, 10, 0, tzinfo=TZ)  # June is the month being reported
TODAY = NOW.date()
JUNE = date(2024, 6, 1)


@pytest.fixture(autouse=True)
def pinned():
    with time_machine.travel(NOW):
        yield


def report(user, p, indicator, value, district=None):
    entry = Entry(indicator_id=indicator.pk, district_id=(district or p.district_a).pk,
                  month="2024-06", value=value, is_correction=True,
                  correction_reason=f"核对台账：{value}")  # fmt: skip
    return submit(user, [entry], today=TODAY)


def cell(p, indicator) -> CellReview:
    return CellReview.objects.get(indicator=indicator, district=p.district_a, month=JUNE)


def act(client, **data):
    response = client.post(reverse("dashboard:review_act"), data, follow=True)
    assert response.status_code in (200, 400)  # done (the page it leads back to), or refused
    return [str(m) for m in response.context["messages"]]


def page(client, name, *args, **params):
    response = client.get(reverse(f"dashboard:{name}", args=args), params)
    assert response.status_code == 200, response.content[:300]
    return response


def test_the_review_story_through_the_pages(personas, client, django_capture_on_commit_callbacks):
    p = personas
    Contact.objects.create(name="上城区民政科", role=Role.DISTRICT, district=p.district_a,
                           email="sc@example.cn")  # fmt: skip
    Contact.objects.create(name="萧山区", role=Role.DISTRICT, district=p.district_b,
                           email="xs@example.cn")  # fmt: skip
    report(p.district_a_user, p, p.indicator_a, 10)
    report(p.district_a_user, p, p.indicator_b, 12)

    # 上城区 sees its June 未上报 and submits it from the page.
    client.force_login(p.district_a_user)
    html = page(client, "review_states", month="2024-06").content.decode()
    assert 'id="submit-month"' in html and "上报本月" in html
    assert act(client, do="submit", month="2024-06") == ["上城区2024年6月已上报，等待牵头单位审核"]
    # another district cannot submit 上城区's month
    client.force_login(p.district_b_user)
    assert "只有本区" in act(client, do="submit", month="2024-06", district="shangcheng")[0]
    assert MonthSubmission.objects.get().submitted_by == p.district_a_user

    # 市民政局's queue holds only its indicator; it returns it with a reason.
    client.force_login(p.agency_a_user)
    queue = page(client, "review_states", month="2024-06").context["queue"]
    assert [(c.indicator, c.district) for c in queue] == [(p.indicator_a, p.district_a)]
    assert "退回时须填写退回原因" in act(client, do="return", cell=queue[0].pk, reason=" ")[0]
    assert cell(p, p.indicator_a).state == CellState.PENDING
    with django_capture_on_commit_callbacks(execute=False) as queued:
        messages = act(client, do="return", cell=queue[0].pk, reason="与台账不符，应为 15 个")
    assert messages == ["已退回：上城区「新增老年助餐服务点」，已通知该地区"]
    # 市民政局 cannot review 卫健委's indicator (outside its scope: 404)
    other = cell(p, p.indicator_b)
    response = client.post(reverse("dashboard:review_act"), {"do": "approve", "cell": other.pk})
    assert response.status_code == 404
    client.force_login(p.agency_b_user)
    assert act(client, do="approve", cell=other.pk) == ["已审核通过：上城区「基层生育咨询门诊」"]

    # 上城区 is notified once, by its channel, naming indicator, month and reason.
    told = Notification.objects.get()
    assert told.contact.district == p.district_a and told.review == cell(p, p.indicator_a)
    assert "上城区2024年6月「新增老年助餐服务点」被退回" in told.subject
    assert "退回原因：与台账不符，应为 15 个" in told.body
    delivery = Delivery.objects.get()
    assert (delivery.channel, delivery.address) == ("email", "sc@example.cn")
    assert len(queued) == 1  # sending queued on commit
    from django.core import mail

    assert outbox.deliver(delivery.pk).status == Delivery.Status.SENT
    assert outbox.deliver(delivery.pk) is None  # claimed: never twice
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["sc@example.cn"]

    # The states page shows 部分退回; the district sees what was returned and why.
    client.force_login(p.supervisor)
    states = page(client, "review_states", month="2024-06").context
    assert [(s, n) for s, _, n in states["totals"]] == [
        ("not_submitted", 1), ("submitted", 0), ("partly_returned", 1), ("approved", 0),
    ]  # fmt: skip
    client.force_login(p.district_a_user)
    html = page(client, "review_states", month="2024-06").content.decode()
    assert "与台账不符，应为 15 个" in html and "更正后重新上报" in html

    # The district corrects and resubmits; the agency approves; the month is locked.
    report(p.district_a_user, p, p.indicator_a, 15)
    assert act(client, do="submit", month="2024-06")[0].endswith("等待牵头单位审核")
    client.force_login(p.agency_a_user)
    act(client, do="approve", cell=cell(p, p.indicator_a).pk)
    submission = MonthSubmission.objects.get()
    assert submission.state == MonthState.APPROVED
    assert set(submission.cells.values_list("locked", flat=True)) == {True}

    # A change is refused in Chinese (entry and deletion), even for 督查室.
    with pytest.raises(ProgressRejected, match="已审核并锁定，不能修改"):
        report(p.district_a_user, p, p.indicator_a, 16)
    filed = ProgressReport.objects.get(indicator=p.indicator_a, district=p.district_a)
    with pytest.raises(ProgressRejected, match="已审核并锁定，不能删除"):
        delete_report(p.supervisor, filed, reason="误报")
    assert ProgressReport.objects.filter(pk=filed.pk).exists()

    # Only 督查室 unlocks, with a reason, from the district-month page.
    assert "只有市政府督查室" in act(client, do="unlock", submission=submission.pk, reason="x")[0]
    client.force_login(p.supervisor)
    assert act(client, do="unlock", cell=cell(p, p.indicator_a).pk, reason="") == ["解锁须填写原因"]
    assert act(client, do="unlock", cell=cell(p, p.indicator_a).pk, reason="漏报 1 个点位") == [
        "已解锁 1 项"
    ]
    assert report(p.district_a_user, p, p.indicator_a, 16).updated[0].value == 16
    assert act(client, do="relock", cell=cell(p, p.indicator_a).pk) == ["已重新锁定 1 项"]
    with pytest.raises(ProgressRejected, match="已审核并锁定"):
        report(p.district_a_user, p, p.indicator_a, 17)

    # History: every step with who and when, on the district-month page.
    response = page(client, "review_month", "shangcheng", "2024-06")
    steps = [(s.who, s.what, s.detail) for s in response.context["steps"]]
    label = "序号1「新增老年助餐服务点」"
    for expected in [
        ("shangcheng", "月度状态：已上报", "上报"),
        ("minzheng", f"{label} 退回", "退回：与台账不符，应为 15 个"),
        ("minzheng", "月度状态：部分退回", "审核"),
        ("shangcheng", f"{label} 待审核", "更正后重新上报"),
        ("minzheng", f"{label} 审核通过", "审核通过"),
        ("minzheng", f"{label} 锁定", "审核通过，本月锁定"),
        ("minzheng", "月度状态：已审核", "审核"),
        ("duchashi", f"{label} 解锁", "漏报 1 个点位"),
        ("shangcheng", f"{label}进度修改：16 个", "核对台账：16"),
        ("duchashi", f"{label} 锁定", "重新锁定"),
    ]:
        assert expected in steps, "\n".join(map(str, steps))
    order = [steps.index(s) for s in steps if s[0] == "duchashi" or "16 个" in s[1]]
    assert order == sorted(order)  # unlock, change, relock in that order
    assert all(s.when for s in response.context["steps"])
    html = response.content.decode()
    assert "漏报 1 个点位" in html and "与台账不符，应为 15 个" in html


def test_district_month_page_is_scoped(personas, client):
    p = personas
    report(p.district_a_user, p, p.indicator_a, 10)
    report(p.district_a_user, p, p.indicator_b, 10)
    review.submit_month(p.district_a_user, p.district_a, JUNE)
    client.force_login(p.district_b_user)
    url = reverse("dashboard:review_month", args=["shangcheng", "2024-06"])
    assert client.get(url).status_code == 404
    response = client.get(reverse("dashboard:review_states"))
    assert [d.code for d, _ in response.context["grid"].rows] == ["xiaoshan"]
    client.force_login(p.agency_b_user)  # an agency sees the district's record
    response = client.get(url)
    assert [c.indicator for c in response.context["cells"]] == [p.indicator_b]
    # ... and the history of its own indicator only (not 市民政局's figures)
    steps = [s.what for s in response.context["steps"]]
    assert any("基层生育咨询门诊" in s for s in steps)
    assert not any("新增老年助餐服务点" in s for s in steps)
    # an anonymous visitor is sent to log in, also for the action target
    client.logout()
    assert client.get(url).status_code == 302
    assert client.post(reverse("dashboard:review_act"), {"do": "submit"}).status_code == 302


def red(p, indicator=None, district=None, month=JUNE):
    return LagEvaluation.objects.create(
        indicator=indicator or p.indicator_a, district=district or p.district_a, month=month,
        status=LagStatus.SERIOUSLY_BEHIND, quota=50, actual=5, expected=25, gap_points=40,
        streak=3,
    )  # fmt: skip


def test_explanation_from_the_cell_page_shows_in_my_work_notice_and_api(personas, client):
    p = personas
    red(p)
    red(p, indicator=p.indicator_b)
    cell_url = reverse("dashboard:cell", args=[p.indicator_a.pk, p.district_a.pk])
    client.force_login(p.district_a_user)
    html = client.get(cell_url, {"month": "2024-06"}).content.decode()
    assert 'id="explain-form"' in html and "尚未说明原因和整改措施" in html
    explain_url = reverse("dashboard:explain_cell", args=[p.indicator_a.pk, p.district_a.pk])
    form = {"month": "2024-06", "reason": "选址受拆迁影响", "measures": "调整至备用点位",
            "catch_up_by": "2024-09-30"}  # fmt: skip
    # bad input: a Chinese message, nothing stored
    response = client.post(explain_url, {**form, "measures": " "}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["请填写整改措施"]
    response = client.post(explain_url, {**form, "catch_up_by": "九月底"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["请填写计划追赶完成时间（年-月-日）"]
    assert not Explanation.objects.exists()
    # another district may not write it (and cannot see the cell)
    other = Client()
    other.force_login(p.district_b_user)
    refused = other.post(explain_url, form)
    assert refused.status_code == 400  # refused, with the reason (issue 30: a 4xx)
    assert other.get(refused.context["back"]).status_code == 404
    assert not Explanation.objects.exists()

    from tracker.reporting.notice import fingerprint

    pdf_key = fingerprint(JUNE)  # the cached notice PDF is re-rendered once explained
    client.force_login(p.district_a_user)
    response = client.post(explain_url, form, follow=True)
    assert fingerprint(JUNE) != pdf_key
    assert [str(m) for m in response.context["messages"]] == ["已保存2024年6月的原因说明和整改措施"]
    html = response.content.decode()
    assert "选址受拆迁影响" in html and "调整至备用点位" in html and "2024年9月30日" in html
    assert Explanation.objects.get().written_by == p.district_a_user

    # 我的待办 lists it under the red item
    html = client.get(reverse("dashboard:my_work"), {"month": "2024-06"}).content.decode()
    assert "选址受拆迁影响" in html

    # the notice (page and xlsx) next to the item, read by anyone with a role
    client.force_login(p.agency_b_user)
    html = client.get(reverse("dashboard:notice", args=["2024-06"])).content.decode()
    row = html[html.index(f'data-indicator="{p.indicator_a.pk}"') :]
    assert "选址受拆迁影响" in row[: row.index("</tr>", row.index("explanation"))]
    assert "另有 1 项红色事项尚未说明原因和整改措施" in html
    xlsx = client.get(reverse("dashboard:notice_xlsx", args=["2024-06"])).content
    cells = [c for r in load_workbook(io.BytesIO(xlsx)).active.iter_rows(values_only=True)
             for c in r if c]  # fmt: skip
    assert ("原因说明：选址受拆迁影响；整改措施：调整至备用点位；计划追赶完成时间：2024年9月30日"
            in cells)  # fmt: skip

    # and in the API
    client.force_login(p.agency_a_user)
    listed = client.get("/api/v1/explanations/", {"month": "2024-06"}).json()["results"]
    assert [(e["reason"], e["catch_up_by"]) for e in listed] == [("选址受拆迁影响", "2024-09-30")]


def test_missing_explanations_listed_after_the_grace_days(personas, client, settings):
    p = personas
    red(p)
    red(p, indicator=p.indicator_b)
    review.explain(p.district_a_user, p.indicator_b, p.district_a, JUNE, reason="资金未到位",
                   measures="协调拨付", catch_up_by=date(2024, 8, 31))  # fmt: skip
    client.force_login(p.supervisor)
    settings.TRACKER = {**settings.TRACKER, "EXPLANATION_GRACE_DAYS": 20}
    # deadline 7月5日 + 20 days = 7月25日: on 7月20日 nothing is overdue yet
    assert page(client, "review_states", month="2024-06").context["missing"] == []
    settings.TRACKER = {**settings.TRACKER, "EXPLANATION_GRACE_DAYS": 5}
    missing = page(client, "review_states", month="2024-06").context["missing"]
    assert [(e.indicator, e.district) for e in missing] == [(p.indicator_a, p.district_a)]


def test_count_only_reviewed_decides_what_the_lag_check_and_notice_count(personas, settings):
    """Off (default): a filed, unreviewed figure counts in the evaluation and the notice;
    on: it does not until approved (it is then as if not filed)."""
    from tests.lag_helpers import percent_plan
    from tracker.monitoring.checks import run_lag_check
    from tracker.reporting.notice import notice

    p = personas
    for indicator in (p.indicator_a, p.indicator_b):
        indicator.target = 100
        indicator.save()
        percent_plan(indicator)
    report(p.district_a_user, p, p.indicator_a, 30)
    report(p.district_a_user, p, p.indicator_b, 30)
    ProgressReport.objects.update(created_at=datetime(2024, 7, 3, 9, tzinfo=TZ))  # on time

    def check():
        run_lag_check(JUNE, as_of=timezone.now(), notify=False)
        stored = {
            e.indicator_id: e.actual
            for e in LagEvaluation.objects.filter(month=JUNE, district=p.district_a)
        }
        return stored[p.indicator_a.pk], stored[p.indicator_b.pk], notice(JUNE).on_track

    assert check() == (30, 30, 2)  # 上城区 on track on both (30 of the 15 due)
    settings.TRACKER = {**settings.TRACKER, "COUNT_ONLY_REVIEWED": True}
    assert check() == (None, None, 0)  # filed but not reviewed: not counted
    review.submit_month(p.district_a_user, p.district_a, JUNE)
    review.review_cell(p.agency_a_user, cell(p, p.indicator_a), approve=True)
    assert check() == (30, None, 1)  # 卫健委 has not reviewed its indicator yet


def test_groups_mirror_the_review_permissions(personas):
    from django.contrib.auth.models import Group

    from tracker.accounts.roles import GROUP_NAMES, ensure_groups

    ensure_groups()

    def perms(role):
        group = Group.objects.get(name=GROUP_NAMES[role])
        return set(group.permissions.values_list("codename", flat=True))

    district, agency = perms(Role.DISTRICT), perms(Role.AGENCY)
    for model in ("explanation", "monthsubmission", "cellreview", "attachment"):
        assert f"view_{model}" in district and f"view_{model}" in agency
    assert "add_monthsubmission" in district and "add_monthsubmission" not in agency
    assert "change_cellreview" not in district | agency  # unlocking is 督查室's
    assert "change_cellreview" in perms(Role.SUPERVISION)


def test_review_pages_take_a_bounded_number_of_queries(
    personas, client, django_assert_max_num_queries
):
    p = personas
    for indicator in (p.indicator_a, p.indicator_b):
        for district in (p.district_a, p.district_b):
            report(p.supervisor, p, indicator, 10, district=district)
    review.submit_month(p.district_a_user, p.district_a, JUNE)
    review.submit_month(p.district_b_user, p.district_b, JUNE)
    red(p)
    client.force_login(p.supervisor)
    # each bound includes 督查室's header count of deliveries that need a person
    with django_assert_max_num_queries(15):
        response = page(client, "review_states", month="2024-06")
    assert len(response.context["queue"]) == 4
    # issue 30: the review sheet reads the district's entry sheet (上月, 序时应达, about
    # 12), the stored statuses, explanations and attachments: fixed, whatever the rows;
    # plus 督查室's header count
    with django_assert_max_num_queries(29):
        response = page(client, "review_month", "shangcheng", "2024-06")
    assert len(response.context["cells"]) == 2


def test_the_digest_that_follows_carries_the_explanation(personas):
    """上城区 is red in July; it explains; the next digest with news about the cell (the
    check ran first without notifying) names the reason, measures and date."""
    from django.core import mail

    from tests.lag_helpers import local, percent_plan
    from tests.lag_helpers import report as filed
    from tracker.monitoring.checks import run_lag_check

    p = personas
    percent_plan(p.indicator_a)
    p.indicator_b.quotas.all().delete()
    Contact.objects.create(
        name="上城区民政局", role=Role.DISTRICT, district=p.district_a, email="sc@example.cn"
    )
    filed(p.indicator_a, p.district_a, "2024-07", 4)  # 红
    july = date(2024, 7, 1)
    with time_machine.travel(local(2024, 8, 6, 9), tick=False):
        run_lag_check(july, notify=False)
        review.explain(p.district_a_user, p.indicator_a, p.district_a, july,
                       reason="选址受拆迁影响", measures="调整至备用点位",
                       catch_up_by=date(2024, 9, 30))  # fmt: skip
        result = run_lag_check(july, deliver=False)
    (digest,) = result.notifications
    line = "原因说明：选址受拆迁影响；整改措施：调整至备用点位；计划追赶完成时间：2024年9月30日"
    assert line in digest.body
    assert line in digest.payload["markdown"]
    (item,) = digest.payload["alerts"]
    assert item["explanation"] == {
        "month": "2024-07",
        "reason": "选址受拆迁影响",
        "measures": "调整至备用点位",
        "catch_up_by": "2024-09-30",
    }
    email = Delivery.objects.get(channel=Delivery.Channel.EMAIL)
    with time_machine.travel(local(2024, 8, 6, 9), tick=False):
        outbox.deliver(email.pk)
    assert line in mail.outbox[0].body
