"""Which plan of a year: one answer (``tracker.plans.selection``) for pages, commands and
the completeness page, also when a year has two plans. The order is the city's plan
first, then the order they were loaded — never the issuer's name, where 上城区 sorts
before 杭州市."""

import copy

import pytest

from tests.plan_helpers import district_plan
from tracker.plans.loader import PlanFileError, load_plan
from tracker.plans.reference import PlanYear
from tracker.plans.selection import find_plan, plan_of, plan_of_year, plans_of_year
from tracker.reporting.completeness import select


def shangcheng_plan() -> dict:
    data = copy.deepcopy(district_plan())
    data["issuer"], data["title"] = "上城区人民政府", "2024年上城区民生实事项目"
    data["districts"] = [  # units of its own, not 西湖区's
        {"code": f"sc-{n}", "name": name, "kind": "subdistrict"}
        for n, name in enumerate(("湖滨街道", "小营街道", "清波街道", "紫阳街道"))
    ]
    return data


@pytest.mark.django_db
def test_two_plans_in_one_year_the_city_plan_is_the_answer_everywhere(plan_2024_data):
    shangcheng = load_plan(shangcheng_plan()).plan_year  # loaded first
    city = load_plan(plan_2024_data).plan_year
    # The model's own order (by issuer name) would put 上城区 first: 上 sorts before 杭.
    assert PlanYear.objects.filter(year=2024).order_by("issuer").first() == shangcheng
    assert plans_of_year(2024) == [city, shangcheng]
    assert plan_of_year(2024) == city
    assert find_plan(2024) == city
    assert plan_of(2024) == city
    assert find_plan(2024, "上城区人民政府") == shangcheng
    assert select(year="2024", view="year").plan == city  # the completeness page and API


@pytest.mark.django_db
def test_two_plans_without_the_citys_pages_pick_the_first_loaded_and_commands_ask():
    xihu = load_plan(district_plan()).plan_year
    shangcheng = load_plan(shangcheng_plan()).plan_year
    assert plans_of_year(2024) == [xihu, shangcheng]
    assert plan_of_year(2024) == xihu
    with pytest.raises(PlanFileError, match="请用 --issuer 指定发布机关"):
        find_plan(2024)
    assert find_plan(2024, "上城区人民政府") == shangcheng
