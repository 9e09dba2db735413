"""Hostile input the security test sent, each refused with a clear message (issue 13)."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from rest_framework.test import APIClient

from tests.factories import IndicatorFactory, QuotaFactory
from tracker.plans.models import Indicator
from tracker.progress.models import ProgressReport
from tracker.progress.writes import MAX_TEXT, Entry, ProgressRejected, submit

TODAY = date(2024, 7, 20)


@pytest.fixture
def today():
    with time_machine.travel(TODAY, tick=False):
        yield


def _refused(user, entry) -> str:
    with pytest.raises(ProgressRejected) as exc:
        submit(user, [entry], today=TODAY)
    assert not ProgressReport.objects.exists()
    return str(exc.value)


@pytest.mark.parametrize("value", ["1个abc", "1 个 abc", "1个个", "1abc", "1 家"])
def test_text_after_the_unit_is_refused(personas, value):
    p = personas  # indicator_a counts 个
    message = _refused(p.supervisor, Entry(p.indicator_a.pk, p.district_a.pk, "2024-06", value))
    assert "单位" in message or "其他内容" in message


def test_rate_with_text_after_percent_is_refused(personas):
    p = personas
    rate = IndicatorFactory(project=p.project_a, kind=Indicator.Kind.LEVEL, unit="%", order=2)
    QuotaFactory(indicator=rate, district=p.district_a, value=Decimal(85))
    message = _refused(p.supervisor, Entry(rate.pk, p.district_a.pk, "2024-06", "83%abc"))
    assert "83%abc" in message
    submit(p.supervisor, [Entry(rate.pk, p.district_a.pk, "2024-06", "83.5%")], today=TODAY)
    assert ProgressReport.objects.get().value == Decimal("83.5")


def test_counted_units_take_whole_numbers_measures_take_decimals(personas):
    p = personas
    message = _refused(p.supervisor, Entry(p.indicator_a.pk, p.district_a.pk, "2024-06", "3.5"))
    assert "计数单位，应填写整数" in message
    road = IndicatorFactory(project=p.project_a, unit="公里", order=3)
    QuotaFactory(indicator=road, district=p.district_a, value=Decimal(10))
    submit(p.supervisor, [Entry(road.pk, p.district_a.pk, "2024-06", "2.75公里")], today=TODAY)
    submit(p.supervisor, [Entry(p.indicator_a.pk, p.district_a.pk, "2024-06", "3个")], today=TODAY)
    assert sorted(ProgressReport.objects.values_list("value", flat=True)) == [
        Decimal("2.75"),
        Decimal(3),
    ]


def test_notes_and_reasons_are_capped(personas):
    p = personas
    long = "很" * (MAX_TEXT + 1)
    message = _refused(
        p.supervisor, Entry(p.indicator_a.pk, p.district_a.pk, "2024-06", "3", note=long)
    )
    assert f"备注最多 {MAX_TEXT} 个字" in message
    message = _refused(
        p.supervisor,
        Entry(p.indicator_a.pk, p.district_a.pk, "2024-06", "3", is_correction=True,
              correction_reason="x" * 1_000_000),
    )  # fmt: skip
    assert f"更正原因最多 {MAX_TEXT} 个字" in message


def test_a_megabyte_note_through_the_api_is_a_400_and_stores_nothing(personas, today):
    p = personas
    client = APIClient()
    client.force_authenticate(p.district_a_user)
    body = {"indicator": p.indicator_a.pk, "district": p.district_a.pk, "month": "2024-06",
            "value": "3", "note": "x" * 1_000_000}  # fmt: skip
    response = client.post("/api/v1/progress/", body, format="json")
    assert response.status_code == 400
    assert "备注最多" in response.content.decode()
    assert not ProgressReport.objects.exists()
    assert not ProgressReport.history.exists()


MONTH_URLS = [
    "/?month={m}",
    "/matrix/?month={m}",
    "/ranking/?month={m}",
    "/districts/shangcheng/?month={m}",
    "/projects/1/?month={m}",
    "/my/?month={m}",
    "/notice/{m}/",
    "/notice/{m}/xlsx/",
    "/notice/{m}/pdf/",
    "/api/v1/summary/overview/?month={m}",
    "/api/v1/summary/ranking/?month={m}",
    "/api/v1/summary/districts/shangcheng/?month={m}",
    "/api/v1/progress/?month={m}",
    "/api/v1/alerts/?month={m}",
    "/admin/tracker/progressreport/export/?month={m}",
]


@pytest.mark.parametrize("month", ["0001-01", "9999-12", "2023-06", "2024-13", "0000-00"])
def test_months_outside_the_plan_are_400_or_404_everywhere(personas, client, month):
    """Every page and endpoint that takes a month, as 督查室 (who reaches them all)."""
    client.force_login(personas.supervisor)
    statuses = {}
    for url in MONTH_URLS:
        response = client.get(url.format(m=month), raise_request_exception=False)
        statuses[url] = response.status_code
    server_errors = {u: s for u, s in statuses.items() if s >= 500}
    assert server_errors == {}
    # Pages and endpoints refuse (the admin export falls back to a message and redirect).
    assert all(s in (302, 400, 404) for s in statuses.values()), statuses
