"""Two plans in one year: completeness counts the chosen plan's cells only (``?plan=``),
the city's plan by default — never both together."""

from datetime import date

import pytest

from tests.factories import make_user
from tests.plan_helpers import second_plan_2024
from tracker.accounts.models import Role
from tracker.plans.loader import load_plan
from tracker.progress.due import filing_states

pytestmark = pytest.mark.django_db


def test_each_plan_is_counted_alone_on_the_page_and_in_the_api(plan_2024, plan_2024_data, client):
    other = load_plan(second_plan_2024(plan_2024_data)).plan_year
    user = make_user("dcs", Role.SUPERVISION)
    client.force_login(user)

    def api(**params):
        response = client.get("/api/v1/completeness/", {"view": "year", **params})
        assert response.status_code == 200, response.content[:300]
        return response.json()["total"]["expected"]

    def page(**params):
        response = client.get("/completeness/", {"view": "year", **params})
        assert response.status_code == 200
        return response.context["data"].total.expected, response.content.decode()

    both = len(filing_states([date(2024, m, 1) for m in range(1, 13)], user))
    city = api(year=2024)
    assert city > 0 and both == 2 * city  # the two plans together: what the page showed before
    assert api(plan=plan_2024.pk) == city
    assert api(plan=other.pk) == city  # the same projects over the same units
    expected, html = page(plan=other.pk)
    assert expected == city
    assert f"plan={other.pk}" in html  # its links keep the plan
    assert page(year=2024)[0] == city


def test_an_unknown_plan_is_a_404_in_chinese(plan_2024, client):
    client.force_login(make_user("dcs", Role.SUPERVISION))
    response = client.get("/api/v1/completeness/", {"plan": 9999})
    assert response.status_code == 404
    assert "没有编号为9999的计划" in response.json()["detail"]
    response = client.get("/api/v1/completeness/", {"plan": plan_2024.pk, "year": 2025})
    assert response.status_code == 404
