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
@pytest.mark.parametrize("value", [HUGE, "9.223372036854776e+18", "-" + HUGE])
def test_a_number_beyond_64_bits_is_refused_in_chinese(client, path, param, value):
    response = client.get(path, {param: value})
    assert response.status_code == 400, response.content
    assert "数值过" in str(response.json())


def test_numbers_in_range_still_filter(client):
    response = client.get("/api/v1/projects/", {"seq": 12})
    assert response.status_code == 200
    [project] = response.json()["results"]
    assert project["seq"] == 12
