"""The reporting calendar: one answer to 'which month is being reported, and by when'."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tracker import calendar as reporting
from tracker.plans.reference import PlanYear
from tracker.plans.selection import current_plan

SH = ZoneInfo("Asia/Shanghai")


def at(*args):
    return datetime(*args, tzinfo=SH)


@pytest.mark.parametrize(
    "now, month",
    [
        (at(2024, 12, 3, 10), date(2024, 11, 1)),  # November due 5 December
        (at(2024, 12, 5, 23, 59), date(2024, 11, 1)),  # still the deadline day
        (at(2024, 12, 6, 0, 0), date(2024, 12, 1)),  # November's deadline passed
        (at(2024, 11, 23, 12), date(2024, 11, 1)),
        (at(2025, 1, 4, 9), date(2024, 12, 1)),  # December is reported in January
    ],
)
def test_month_being_reported(now, month):
    assert reporting.reporting_month(now=now) == month


def test_deadline_label_and_days_left():
    assert reporting.deadline_label(date(2024, 11, 1)) == "2024年11月，12月5日前报送"
    assert reporting.deadline_label(date(2024, 12, 1)) == "2024年12月，2025年1月5日前报送"
    assert reporting.days_left(date(2024, 11, 1), at(2024, 12, 3, 18)) == 2
    assert reporting.days_left(date(2024, 11, 1), at(2024, 12, 5, 23)) == 0
    assert reporting.days_left(date(2024, 11, 1), at(2024, 12, 7, 8)) == -2


@pytest.mark.django_db
def test_plan_months_are_clamped_to_the_plan_year():
    plan = PlanYear.objects.create(year=2024, title="2024年民生实事")
    # In November 2026 (today) the 2024 plan is at its last month, not a month it lacks.
    assert reporting.reporting_month(plan, at(2026, 11, 23)) == date(2024, 12, 1)
    assert reporting.enterable_months(plan, at(2024, 3, 2)) == [date(2024, 1, 1), date(2024, 2, 1)]
    assert reporting.enterable_months(plan, at(2023, 12, 20)) == [date(2024, 1, 1)]
    assert len(reporting.enterable_months(plan, at(2026, 11, 23))) == 12


@pytest.mark.django_db
def test_current_plan_prefers_the_year_being_reported_then_the_city():
    p2024 = PlanYear.objects.create(year=2024, title="2024")
    assert current_plan(at(2026, 11, 23)) == p2024  # latest before
    district = PlanYear.objects.create(issuer="西湖区人民政府", year=2025, title="西湖区2025")
    city = PlanYear.objects.create(year=2025, title="2025")
    with time_machine.travel(at(2025, 6, 20), tick=False):
        assert current_plan() == city
        assert current_plan(issuer="西湖区人民政府") == district
    assert current_plan(at(2023, 5, 1)) == p2024  # earliest after
