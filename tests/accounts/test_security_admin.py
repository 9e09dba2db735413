"""Holes the outside security test found in the admin, each as a test (issue 13).

The blocker: simple-history's version form (``history/<id>/``) and its revert POST were
not scoped, so a district read and acknowledged another district's alerts.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from tests.factories import MilestoneFactory
from tracker.monitoring.models import LagAlert
from tracker.plans.models import Milestone, Quota
from tracker.progress.models import MilestoneCompletion, ProgressReport

TODAY = date(2024, 7, 20)


@pytest.fixture
def today():
    with time_machine.travel(TODAY, tick=False):
        yield


def _alert(indicator, district, message, kind=LagAlert.Kind.LAG):
    return LagAlert.objects.create(
        indicator=indicator,
        district=district,
        month=date(2024, 6, 1),
        kind=kind,
        severity=LagAlert.Severity.RED,
        quota=Decimal(50),
        actual=Decimal(3),
        message=message,
    )


def _version(alert):
    return alert.history.order_by("-history_id").first().history_id


def test_history_form_of_another_districts_alert_is_404(personas, client):
    p = personas
    theirs = _alert(p.indicator_a, p.district_b, "萧山区 秘密数字 3/50")
    client.force_login(p.district_a_user)
    url = reverse("admin:tracker_lagalert_simple_history", args=[theirs.pk, _version(theirs)])
    response = client.get(url)
    assert response.status_code == 404
    assert "秘密数字" not in response.content.decode()


def test_walking_history_ids_reads_only_own_alerts(personas, client):
    p = personas
    mine = _alert(p.indicator_a, p.district_a, "上城区的")
    kinds = (LagAlert.Kind.LAG, LagAlert.Kind.NOT_REPORTED, LagAlert.Kind.AT_RISK)
    theirs = [_alert(p.indicator_b, p.district_b, f"萧山区的 {k}", k) for k in kinds]
    client.force_login(p.district_a_user)
    readable = set()
    for alert in [mine, *theirs]:
        for version in alert.history.values_list("history_id", flat=True):
            for object_id in (mine.pk, alert.pk):  # also pair a foreign version with own id
                url = reverse("admin:tracker_lagalert_simple_history", args=[object_id, version])
                if client.get(url).status_code == 200:
                    readable.add((object_id, version))
    assert readable == {(mine.pk, _version(mine))}


def test_posting_the_history_form_cannot_acknowledge_another_districts_alert(personas, client):
    p = personas
    theirs = _alert(p.indicator_a, p.district_b, "萧山区")
    client.force_login(p.district_a_user)
    url = reverse("admin:tracker_lagalert_simple_history", args=[theirs.pk, _version(theirs)])
    response = client.post(url, {"acknowledgement_note": "我来确认"})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == LagAlert.Status.OPEN and theirs.acknowledgement_note == ""


def test_revert_is_refused_even_on_own_alert(personas, client):
    """Reverting would write an alert around its service: refused for everyone."""
    p = personas
    mine = _alert(p.indicator_a, p.district_a, "上城区")
    client.force_login(p.supervisor)
    url = reverse("admin:tracker_lagalert_simple_history", args=[mine.pk, _version(mine)])
    assert client.get(url).status_code == 200  # reading a version in scope is fine
    assert client.post(url, {"acknowledgement_note": "x"}).status_code == 403
    mine.refresh_from_db()
    assert mine.status == LagAlert.Status.OPEN


def test_progress_revert_is_refused(personas, client, today):
    p = personas
    report = ProgressReport.objects.create(
        indicator=p.indicator_a, district=p.district_a, month=date(2024, 6, 1), value=10
    )
    report.value = 20
    report.save()
    first = report.history.order_by("history_id").first().history_id
    client.force_login(p.district_a_user)
    url = reverse("admin:tracker_progressreport_simple_history", args=[report.pk, first])
    response = client.post(
        url,
        {
            "indicator": p.indicator_a.pk,
            "district": p.district_a.pk,
            "month": "2024-06",
            "value": "10",
            "expected_version": "1",
        },
    )
    assert response.status_code == 403
    report.refresh_from_db()
    assert report.value == 20


def test_quota_version_of_a_previous_owner_is_not_shown(personas, client):
    """A row that changed district keeps its old versions out of the new district's view."""
    p = personas
    quota = Quota.objects.get(indicator=p.indicator_a, district=p.district_b)
    old = quota.history.order_by("-history_id").first().history_id
    Quota.objects.filter(indicator=p.indicator_a, district=p.district_a).delete()
    quota.district = p.district_a
    quota.save()
    client.force_login(p.district_a_user)
    assert client.get(reverse("admin:tracker_quota_history", args=[quota.pk])).status_code == 200
    url = reverse("admin:tracker_quota_simple_history", args=[quota.pk, old])
    assert client.get(url).status_code == 404


def test_progress_change_form_refuses_to_move_a_row(personas, client, today):
    p = personas
    report = ProgressReport.objects.create(
        indicator=p.indicator_a, district=p.district_a, month=date(2024, 5, 1), value=10
    )
    client.force_login(p.supervisor)
    form = {"indicator": p.indicator_a.pk, "district": p.district_a.pk, "month": "2024-06",
            "value": "10", "expected_version": "1"}  # fmt: skip
    response = client.post(reverse("admin:tracker_progressreport_change", args=[report.pk]), form)
    assert response.status_code == 200  # the form again, with the error
    assert "不能修改已填报数据所属的目标、区县或月份" in response.content.decode()
    assert list(ProgressReport.objects.values_list("month", flat=True)) == [date(2024, 5, 1)]


@pytest.fixture
def qualitative(personas):
    return MilestoneFactory(
        project=personas.project_a, kind=Milestone.Kind.QUALITATIVE, text="确定点位"
    )


def _completion_form(milestone, district, **extra):
    return {"milestone": milestone.pk, "district": district.pk, "done": "on",
            "done_on": "2024-06-30", "note": "", **extra}  # fmt: skip


def test_milestone_add_form_goes_through_the_service(personas, client, qualitative, today):
    p = personas
    client.force_login(p.agency_a_user)
    url = reverse("admin:tracker_milestonecompletion_add")
    response = client.post(url, _completion_form(qualitative, p.district_a, done_on="2019-06-30"))
    assert response.status_code == 200 and "完成日期应在2024年内" in response.content.decode()
    assert not MilestoneCompletion.objects.exists()
    client.post(url, _completion_form(qualitative, p.district_a))
    done = MilestoneCompletion.objects.get()
    record = done.history.get()
    assert (record.history_user, record.history_change_reason) == (p.agency_a_user, "管理后台填报")


def test_city_only_project_milestone_cannot_be_recorded_by_a_district(
    personas, client, qualitative, today
):
    p = personas
    city = type(p.district_a).objects.create(code="city", name="市本级", kind="city", order=0)
    Quota.objects.filter(indicator__project=p.project_a).delete()  # a city-only project
    client.force_login(p.supervisor)
    url = reverse("admin:tracker_milestonecompletion_add")
    response = client.post(url, _completion_form(qualitative, p.district_a))
    assert "没有分解任务" in response.content.decode()
    assert not MilestoneCompletion.objects.exists()
    client.post(url, _completion_form(qualitative, city))
    assert MilestoneCompletion.objects.get().district == city


def test_milestone_change_form_cannot_move_the_row(personas, client, qualitative, today):
    p = personas
    client.force_login(p.supervisor)
    client.post(
        reverse("admin:tracker_milestonecompletion_add"),
        _completion_form(qualitative, p.district_a),
    )
    done = MilestoneCompletion.objects.get()
    url = reverse("admin:tracker_milestonecompletion_change", args=[done.pk])
    response = client.post(url, _completion_form(qualitative, p.district_b))
    assert "不能修改已填报数据所属" in response.content.decode()
    assert list(MilestoneCompletion.objects.values_list("district", flat=True)) == [p.district_a.pk]


@pytest.mark.parametrize(("note", "stored"), [("已督促整改" * 101, False), ("已督促整改", True)])
def test_acknowledgement_note_in_the_admin_is_capped(personas, client, note, stored):
    """The admin's acknowledgement form keeps the 500-character cap every note has."""
    p = personas
    mine = _alert(p.indicator_a, p.district_a, "上城区")
    client.force_login(p.district_a_user)
    url = reverse("admin:tracker_lagalert_change", args=[mine.pk])
    management = {"flips-TOTAL_FORMS": "0", "flips-INITIAL_FORMS": "0"}
    response = client.post(url, {"acknowledgement_note": note, **management})
    mine.refresh_from_db()
    if stored:
        assert response.status_code == 302
        assert mine.acknowledgement_note == note
    else:
        assert response.status_code == 200
        assert "确认说明最多 500 个字" in response.content.decode()
        assert mine.acknowledgement_note == "" and mine.status == LagAlert.Status.OPEN


@pytest.mark.django_db
def test_admin_index_names_login_records_and_tokens_in_chinese(admin_client):
    """django-axes has no zh-hans translation and knox's token model no verbose name:
    the admin named them in English among Chinese screens."""
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "登录防护" in page and "登录失败记录" in page and "API 令牌" in page
    assert "Access attempts" not in page and "Auth tokens" not in page
