"""Numbers in API filters: out-of-range values are a 400 with a Chinese message, not a 500.

The fuzz test found ``?category=9.223372036854776e+18`` on /api/v1/projects/ raising
SQLite's OverflowError; every number filter (declared or automatic) is bounded now.
"""

import pytest
from rest_framework.test import APIClient

from tests.factories import make_user
from tracker.accounts.models import Role

HUGE = "9223372036854775808"  # 2**63: one past the largest 64-bit integer


@pytest.fixture
def client(plan_2024):
    client = APIClient()
    client.force_authenticate(make_user("dcs", Role.SUPERVISION))
    return client


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/projects/", "category"),  # declared filter
        ("/api/v1/projects/", "seq"),  # automatic filter from the model field
        ("/api/v1/indicators/", "project"),
        ("/api/v1/projects/", "lead_agency"),
    ],
)
@pytest.mark.parametrize(
    ("value", "message"),
    [(HUGE, "数值过大"), ("9.223372036854776e+18", "请输入整数"), ("-" + HUGE, "数值过小")],
)
def test_a_number_beyond_64_bits_is_refused_in_chinese(client, path, param, value, message):
    response = client.get(path, {param: value})
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["field"] == param and message in error["message"]
    assert message in response.json()["detail"]


def test_an_id_that_does_not_exist_filters_to_nothing(client):
    """A foreign-key filter is a number like any id: no such district, no rows (the schema
    says integer, so a well-formed id is never a 400)."""
    response = client.get("/api/v1/quotas/", {"district": 999999})
    assert response.status_code == 200 and response.json()["count"] == 0


@pytest.mark.parametrize("value", ["null", "yes", "2"])
def test_a_boolean_filter_takes_true_or_false_only(client, value):
    response = client.get("/api/v1/progress/", {"is_correction": value})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "应为 true 或 false"
    assert client.get("/api/v1/progress/", {"is_correction": "false"}).status_code == 200


@pytest.mark.parametrize("value", ["0", "-1", "abc", ""])
def test_a_page_size_below_one_is_refused(client, value):
    response = client.get("/api/v1/projects/", {"page_size": value})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "page_size"


def test_numbers_in_range_still_filter(client):
    response = client.get("/api/v1/projects/", {"seq": 12})
    assert response.status_code == 200
    [project] = response.json()["results"]
    assert project["seq"] == 12


def test_a_query_parameter_given_twice_is_refused(client):
    """Not the last value silently: ``?year=abc&year=2024`` would pass an invalid year."""
    response = client.get("/api/v1/projects/?year=abc&year=2024")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"row": None, "field": "year", "message": "该参数只能出现一次", "code": "repeated"}
    ]
