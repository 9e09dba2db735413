"""Small things found on the way (issue 14): the demo data's author is no one's pick, no
「5.0000」 in the admin, a text value's error says one thing, the admin grid offers plan
months in a select."""

import re
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse

from tracker.demo.simulation import SIM_USERNAME
from tracker.plans.models import Quota
from tracker.progress.writes import Entry, validate


def test_simulation_user_hidden_from_user_pickers(personas, client):
    get_user_model().objects.create(username=SIM_USERNAME, is_active=False)
    client.force_login(personas.supervisor)
    html = client.get(reverse("admin:tracker_userprofile_add")).content.decode()
    assert "shangcheng" in html  # real users are offered
    assert SIM_USERNAME not in html


def test_no_trailing_zeros_in_admin_lists_and_forms(personas, client):
    quota = Quota.objects.get(indicator=personas.indicator_a, district=personas.district_a)
    quota.value = Decimal("12.5")
    quota.save()
    client.force_login(personas.supervisor)
    html = client.get(reverse("admin:tracker_quota_changelist")).content.decode()
    assert "12.5" in html and "50" in html
    assert "12.5000" not in html and "50.0000" not in html
    html = client.get(reverse("admin:tracker_quota_change", args=[quota.pk])).content.decode()
    assert 'value="12.5"' in html and "12.5000" not in html


@pytest.mark.parametrize(
    "typed, message",
    [
        ("abc", "「abc」不是数字，只能填写数字，例如「120」或「120个」"),
        ("十二", "「十二」不是数字，只能填写数字，例如「120」或「120个」"),
        ("12 万元", "「12 万元」的单位「元」与指标单位「个」不一致"),
    ],
)
def test_a_text_value_error_says_one_thing(personas, typed, message):
    p = personas
    entry = Entry(p.indicator_a.pk, p.district_a.pk, "2024-06", typed)
    [error] = validate(p.district_a_user, [entry], today=date(2024, 7, 20))
    assert error.message == message  # not both 「数字加单位」 and 「只能填写数字」


def test_admin_grid_offers_plan_months_not_a_month_picker(personas, client):
    client.force_login(personas.agency_a_user)
    url = reverse("admin:tracker_progressreport_grid")
    with time_machine.travel("2024-07-20 10:00:00+08:00", tick=False):
        html = client.get(f"{url}?indicator={personas.indicator_a.pk}&month=2024-06").content
    html = html.decode()
    assert 'type="month"' not in html
    assert '<select name="month" id="id_month" required>' in html
    assert '<option value="2024-06" selected>2024年6月</option>' in html
    assert '<option value="2024-07">2024年7月</option>' in html  # the month being reported
    assert "2024-08" not in html  # a future month is not offered


def test_no_trailing_zeros_in_history(personas, client):
    from tracker.progress.models import ProgressReport
    from tracker.progress.writes import submit

    p = personas
    today = date(2024, 7, 20)
    submit(
        p.district_a_user, [Entry(p.indicator_a.pk, p.district_a.pk, "2024-06", "5")], today=today
    )
    report = ProgressReport.objects.get()
    entry = Entry(p.indicator_a.pk, p.district_a.pk, "2024-06", "12", expected_version=1)
    submit(p.district_a_user, [entry], today=today)
    client.force_login(p.supervisor)
    url = reverse("admin:tracker_progressreport_history", args=[report.pk])
    html = client.get(url).content.decode()
    assert re.search(r"<strong>累计完成:</strong>\s*5\s*&nbsp;&rarr;&nbsp;&nbsp;12\s*<", html)
    assert "0000" not in html


def test_no_trailing_zeros_in_read_only_fields(personas, client):
    from tracker.monitoring.models import LagAlert

    alert = LagAlert.objects.create(
        indicator=personas.indicator_a,
        district=personas.district_a,
        month=date(2024, 6, 1),
        kind=LagAlert.Kind.LAG,
        severity=LagAlert.Severity.RED,
        message="滞后",
        quota=Decimal("50"),
        expected=Decimal("12.5"),
    )
    client.force_login(personas.supervisor)
    html = client.get(reverse("admin:tracker_lagalert_change", args=[alert.pk])).content.decode()
    assert re.search(r'<div class="readonly">12\.5</div>', html)
    assert "12.5000" not in html and "50.0000" not in html
