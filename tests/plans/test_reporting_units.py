"""Which units report a target: one rule (``plans.units.may_report``). A city-wide target
is reported on its plan's 市本级 column and nowhere else; a plan without such a column (a
区's plan over its 街道) has nobody to report it, so the registered 市本级 is refused
too — by the write path, what is due and the 上报 grid alike."""

import copy
from datetime import date

import pytest

from tests.factories import make_user
from tests.plan_helpers import district_plan
from tracker.accounts.models import Role
from tracker.plans.loader import load_plan
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.plans.units import city_unit_id, may_report
from tracker.progress.due import due_cells
from tracker.progress.writes import Entry, validate
from tracker.review.queries import plan_districts

MARCH = date(2024, 3, 1)


def with_city_wide_target(data: dict) -> dict:
    data = copy.deepcopy(data)
    data["projects"][1]["indicators"] = [
        {"label": "防诈骗宣传场次", "unit": "场", "kind": "cumulative", "target": "10场",
         "scope": "city"}
    ]  # fmt: skip
    return data


@pytest.mark.django_db
def test_a_district_plan_without_a_city_column_refuses_the_registered_city_unit(plan_2024):
    xihu = load_plan(with_city_wide_target(district_plan())).plan_year
    city_wide = Indicator.objects.get(project__plan_year=xihu, scope=Indicator.Scope.CITY)
    registered_city = District.objects.get(kind=District.Kind.CITY)  # 2024's 市本级
    assert city_unit_id(xihu) is None  # 西湖区's plan prints no 市本级 column
    assert not may_report(city_wide, registered_city.pk, city_unit=None, has_quota=False)

    supervisor = make_user("dcs", Role.SUPERVISION)
    errors = validate(supervisor, [Entry(city_wide.pk, registered_city.pk, "2024-03", "3")],
                      today=date(2024, 4, 2))  # fmt: skip
    assert [e.message for e in errors] == ["「防诈骗宣传场次」不分解到区、县(市)，只能按市本级填报"]
    due = set(due_cells(MARCH))
    assert (city_wide.pk, registered_city.pk) not in due
    assert registered_city not in plan_districts(xihu, supervisor)


@pytest.mark.django_db
def test_the_city_plans_city_wide_target_is_reported_on_its_city_column_only(plan_2024):
    city_wide = (
        Indicator.objects.filter(project__plan_year=plan_2024, scope=Indicator.Scope.CITY)
        .exclude(kind=Indicator.Kind.QUALITATIVE)
        .first()
    )
    city = District.objects.get(pk=city_unit_id(plan_2024))
    other = District.objects.exclude(pk=city.pk).order_by("order").first()
    supervisor = make_user("dcs", Role.SUPERVISION)
    ok = validate(supervisor, [Entry(city_wide.pk, city.pk, "2024-03", "1")],
                  today=date(2024, 4, 2))  # fmt: skip
    refused = validate(supervisor, [Entry(city_wide.pk, other.pk, "2024-03", "1")],
                       today=date(2024, 4, 2))  # fmt: skip
    assert ok == [] and refused and refused[0].field == "district"
    assert (city_wide.pk, city.pk) in set(due_cells(MARCH))
