"""Explain and review (issue 15): submit, return, correct, approve, lock, unlock, relock.

The story runs on the small personas: 上城区 reports two indicators, one led by 市民政局
(indicator_a) and one by 市卫健委 (indicator_b); each agency reviews its own indicator.
"""

from datetime import date

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tracker.choices import LagStatus
from tracker.monitoring.models import LagEvaluation
from tracker.progress import state
from tracker.progress.models import CellReview, CellState, MonthState, MonthSubmission
from tracker.progress.writes import Entry, ProgressRejected, submit
from tracker.review import workflow as review
from tracker.review.models import Explanation

TODAY = date(2024, 7, 20)
JUNE = date(2024, 6, 1)


def report(user, p, indicator, value):
    entry = Entry(indicator_id=indicator.pk, district_id=p.district_a.pk, month="2024-06",
                  value=value, is_correction=True,
                  correction_reason=f"核对台账：{value}")  # fmt: skip
    return submit(user, [entry], today=TODAY)


def refused_change(user, p, value) -> str:
    before = list(CellReview.objects.values_list("pk", "locked"))
    with pytest.raises(ProgressRejected) as caught:
        report(user, p, p.indicator_a, value)
    assert list(CellReview.objects.values_list("pk", "locked")) == before
    return str(caught.value)


def cell(p, indicator) -> CellReview:
    return CellReview.objects.get(indicator=indicator, district=p.district_a, month=JUNE)


def test_submit_return_correct_approve_lock_unlock_relock(personas):
    p = personas
    report(p.district_a_user, p, p.indicator_a, 10)
    with pytest.raises(review.ReviewRejected, match="尚未填报：「基层生育咨询门诊」"):
        review.submit_month(p.district_a_user, p.district_a, JUNE)
    assert not MonthSubmission.objects.exists()
    report(p.district_a_user, p, p.indicator_b, 12)
    with pytest.raises(review.ReviewRejected, match="只有本区"):
        review.submit_month(p.district_b_user, p.district_a, JUNE)

    month = review.submit_month(p.district_a_user, p.district_a, JUNE)
    assert month.state == MonthState.SUBMITTED
    assert set(month.cells.values_list("state", flat=True)) == {CellState.PENDING}

    # 市民政局 returns its indicator; it may not review 卫健委's.
    with pytest.raises(review.ReviewRejected, match="牵头单位"):
        review.review_cell(p.agency_a_user, cell(p, p.indicator_b), approve=True)
    with pytest.raises(review.ReviewRejected, match="退回原因"):
        review.review_cell(p.agency_a_user, cell(p, p.indicator_a), approve=False)
    review.review_cell(p.agency_a_user, cell(p, p.indicator_a), approve=False,
                       reason="与台账不符，应为 15 个")  # fmt: skip
    review.review_cell(p.agency_b_user, cell(p, p.indicator_b), approve=True)
    month.refresh_from_db()
    assert month.state == MonthState.PARTLY_RETURNED
    assert cell(p, p.indicator_a).reason == "与台账不符，应为 15 个"

    # The district corrects and resubmits; the agency approves; the month locks.
    report(p.district_a_user, p, p.indicator_a, 15)
    review.submit_month(p.district_a_user, p.district_a, JUNE)
    month.refresh_from_db()
    assert month.state == MonthState.SUBMITTED
    assert cell(p, p.indicator_a).state == CellState.PENDING
    assert cell(p, p.indicator_b).state == CellState.APPROVED  # not asked again
    review.review_cell(p.agency_a_user, cell(p, p.indicator_a), approve=True)
    month.refresh_from_db()
    assert month.state == MonthState.APPROVED
    assert set(month.cells.values_list("locked", flat=True)) == {True}

    # Locked for everyone, with a Chinese message, until 督查室 unlocks with a reason.
    assert "已审核并锁定，不能修改" in refused_change(p.district_a_user, p, 16)
    assert "已审核并锁定" in refused_change(p.supervisor, p, 16)
    with pytest.raises(review.ReviewRejected, match="只有市政府督查室"):
        review.unlock(p.agency_a_user, reason="需更正", cell=cell(p, p.indicator_a))
    with pytest.raises(review.ReviewRejected, match="解锁须填写原因"):
        review.unlock(p.supervisor, reason=" ", cell=cell(p, p.indicator_a))
    assert review.unlock(p.supervisor, reason="区里发现漏报 1 个点位",
                         cell=cell(p, p.indicator_a)) == 1  # fmt: skip
    assert cell(p, p.indicator_b).locked  # only the one cell
    result = report(p.district_a_user, p, p.indicator_a, 16)
    assert result.updated[0].value == 16
    assert review.relock(p.supervisor, cell=cell(p, p.indicator_a)) == 1
    assert "已审核并锁定" in refused_change(p.district_a_user, p, 17)

    # A whole district-month unlocks and relocks the same way.
    assert review.unlock(p.supervisor, reason="全面复核", submission=month) == 2
    assert review.relock(p.supervisor, submission=month) == 2

    # History: every step with who and why, in order.
    steps = [
        (h.history_user.username, h.state, h.locked, h.history_change_reason)
        for h in cell(p, p.indicator_a).history.order_by("history_date", "history_id")
    ]
    assert steps == [
        ("shangcheng", "pending", False, "上报"),
        ("minzheng", "returned", False, "退回：与台账不符，应为 15 个"),
        ("shangcheng", "pending", False, "更正后重新上报"),
        ("minzheng", "approved", False, "审核通过"),
        ("minzheng", "approved", True, "审核通过，本月锁定"),
        ("duchashi", "approved", False, "区里发现漏报 1 个点位"),
        ("duchashi", "approved", True, "重新锁定"),
        ("duchashi", "approved", False, "全面复核"),
        ("duchashi", "approved", True, "重新锁定"),
    ]
    assert all(h.history_date for h in cell(p, p.indicator_a).history.all())
    assert [
        (h.history_user.username, h.state)
        for h in month.history.order_by("history_date", "history_id")
    ] == [
        ("shangcheng", "submitted"),
        ("minzheng", "partly_returned"),
        ("shangcheng", "submitted"),
        ("minzheng", "approved"),
    ]


def test_submit_twice_and_review_before_submit_are_refused(personas):
    p = personas
    report(p.district_a_user, p, p.indicator_a, 10)
    report(p.district_a_user, p, p.indicator_b, 10)
    review.submit_month(p.district_a_user, p.district_a, JUNE)
    with pytest.raises(review.ReviewRejected, match="已上报，正在等待审核"):
        review.submit_month(p.district_a_user, p.district_a, JUNE)
    review.review_cell(p.agency_a_user, cell(p, p.indicator_a), approve=True)
    with pytest.raises(review.ReviewRejected, match="无需重复审核"):
        review.review_cell(p.agency_a_user, cell(p, p.indicator_a), approve=True)


def lag_status(p, status, indicator=None):
    return LagEvaluation.objects.create(
        indicator=indicator or p.indicator_a, district=p.district_a, month=JUNE, status=status,
        quota=50, actual=5, expected=25, gap_points=40,
    )  # fmt: skip


def test_only_a_lagging_cell_is_explained(personas):
    p = personas
    lag_status(p, LagStatus.ON_TRACK)
    with pytest.raises(review.ReviewRejected, match="未滞后、未逾期，无需说明原因"):
        review.explain(p.district_a_user, p.indicator_a, p.district_a, JUNE,
                       reason="无", measures="无", catch_up_by=date(2024, 9, 30))  # fmt: skip
    assert not Explanation.objects.exists()


def test_explanation_for_a_red_cell_is_in_the_api(personas):
    """The district writes 原因说明 / 整改措施 / 计划追赶完成时间; its agency reads it."""
    p = personas
    lag_status(p, LagStatus.SERIOUSLY_BEHIND)
    district = APIClient()
    district.force_authenticate(p.district_a_user)
    body = {"indicator": p.indicator_a.pk, "district": p.district_a.pk, "month": "2024-06",
            "reason": "选址受拆迁影响", "measures": "调整至备用点位",
            "catch_up_by": "2024-09-30"}  # fmt: skip
    created = district.post("/api/v1/explanations/", body, format="json")
    assert created.status_code == 201, created.content
    again = district.post("/api/v1/explanations/", {**body, "measures": "增派施工队"},
                          format="json")  # fmt: skip
    assert again.status_code == 201
    assert Explanation.objects.get().measures == "增派施工队"
    assert Explanation.history.count() == 2

    other = APIClient()
    other.force_authenticate(p.district_b_user)
    refused = other.post("/api/v1/explanations/", body, format="json")
    assert refused.status_code == 400 and "只有本区" in refused.json()["detail"]

    agency = APIClient()
    agency.force_authenticate(p.agency_a_user)
    listed = agency.get("/api/v1/explanations/", {"month": "2024-06"}).json()["results"]
    assert [(e["reason"], e["measures"], e["catch_up_by"]) for e in listed] == [
        ("选址受拆迁影响", "增派施工队", "2024-09-30")
    ]
    other_agency = APIClient()
    other_agency.force_authenticate(p.agency_b_user)
    assert other_agency.get("/api/v1/explanations/").json()["results"] == []


def test_review_through_the_api(personas):
    p = personas
    report(p.district_a_user, p, p.indicator_a, 10)
    report(p.district_a_user, p, p.indicator_b, 10)
    district, agency, office = APIClient(), APIClient(), APIClient()
    district.force_authenticate(p.district_a_user)
    agency.force_authenticate(p.agency_a_user)
    office.force_authenticate(p.supervisor)
    month = {"district": p.district_a.pk, "month": "2024-06"}
    sent = district.post("/api/v1/submissions/submit/", month, format="json")
    assert sent.status_code == 200 and sent.json()["month_state"] == "submitted"
    mine = agency.get("/api/v1/reviews/").json()["results"]
    assert [c["indicator"] for c in mine] == [p.indicator_a.pk]  # only its own indicator
    back = agency.post(f"/api/v1/reviews/{mine[0]['id']}/return/", {"reason": "请核实"},
                       format="json")  # fmt: skip
    assert back.status_code == 200 and back.json()["review_state"] == "returned"
    seen = office.get("/api/v1/submissions/", {"month": "2024-06"}).json()["results"]
    assert [s["month_state"] for s in seen] == ["partly_returned"]
    refused = district.post(f"/api/v1/reviews/{mine[0]['id']}/unlock/", {"reason": "x"},
                            format="json")  # fmt: skip
    assert refused.status_code == 400 and "督查室" in refused.json()["detail"]


def test_count_only_reviewed_setting(personas, settings):
    """Default: every filed figure counts; with the setting only approved ones."""
    p = personas
    report(p.district_a_user, p, p.indicator_a, 10)
    report(p.district_a_user, p, p.indicator_b, 10)
    review.submit_month(p.district_a_user, p.district_a, JUNE)
    review.review_cell(p.agency_a_user, cell(p, p.indicator_a), approve=True)
    assert state.counted_reports().count() == 2
    settings.TRACKER = {**settings.TRACKER, "COUNT_ONLY_REVIEWED": True}
    assert list(state.counted_reports().values_list("indicator_id", flat=True)) == [
        p.indicator_a.pk
    ]


def approved_month(p):
    report(p.district_a_user, p, p.indicator_a, 10)
    report(p.district_a_user, p, p.indicator_b, 10)
    month = review.submit_month(p.district_a_user, p.district_a, JUNE)
    review.review_cell(p.agency_a_user, cell(p, p.indicator_a), approve=True)
    review.review_cell(p.agency_b_user, cell(p, p.indicator_b), approve=True)
    return month


def test_admin_unlock_action_needs_the_office_and_a_reason(personas, client):
    p = personas
    month = approved_month(p)
    url = reverse("admin:tracker_monthsubmission_changelist")
    post = {"action": "unlock_selected", "_selected_action": [month.pk], "reason": ""}

    client.force_login(p.supervisor)
    refused = client.post(url, post)  # no reason: refused with a 4xx that says why
    assert refused.status_code == 403 and "解锁须填写原因" in refused.content.decode()
    assert set(month.cells.values_list("locked", flat=True)) == {True}
    client.post(url, {**post, "reason": "市本级复核"})
    assert set(month.cells.values_list("locked", flat=True)) == {False}
    assert {c.history.first().history_change_reason for c in month.cells.all()} == {"市本级复核"}
    client.post(url, {**post, "action": "relock_selected"})
    assert set(month.cells.values_list("locked", flat=True)) == {True}

    client.force_login(p.agency_a_user)
    client.post(url, {**post, "reason": "想改"})
    assert set(month.cells.values_list("locked", flat=True)) == {True}


def test_review_lists_take_a_fixed_number_of_queries(personas):
    """The lists do not grow a query per row (one district-month vs. two)."""
    p = personas
    approved_month(p)
    office = APIClient()
    office.force_authenticate(p.supervisor)

    def queries(url):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert office.get(url).status_code == 200
        return len(ctx.captured_queries)

    queries("/api/v1/reviews/")  # warm up: the user's scope is read once per user
    before = {u: queries(u) for u in ("/api/v1/reviews/", "/api/v1/submissions/")}
    for indicator in (p.indicator_a, p.indicator_b):
        entry = Entry(indicator_id=indicator.pk, district_id=p.district_b.pk, month="2024-06",
                      value=5)  # fmt: skip
        submit(p.district_b_user, [entry], today=TODAY)
    review.submit_month(p.district_b_user, p.district_b, JUNE)
    review.review_cell(p.agency_a_user, CellReview.objects.get(indicator=p.indicator_a,
                       district=p.district_b), approve=True)  # fmt: skip
    assert CellReview.objects.count() == 4
    assert {u: queries(u) for u in before} == before
