"""Summary endpoints on the 2024 plan with a simulated year: real numbers, bounded queries."""

from datetime import date

import pytest
from rest_framework.test import APIClient

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.choices import LagStatus
from tracker.demo.simulation import simulate_year
from tracker.monitoring.models import LagEvaluation
from tracker.plans.models import Indicator, Project
from tracker.plans.reference import District


@pytest.fixture
def year(plan_2024):
    simulate_year(2024, seed=7, through=date(2024, 9, 1))
    seq1 = Project.objects.get(plan_year=plan_2024, seq=1)
    return {
        "supervisor": make_user("dcs", Role.SUPERVISION),
        "agency": make_user("mz", Role.AGENCY, agency=seq1.lead_agency),
        "chunan": make_user("ca", Role.DISTRICT, district=District.objects.get(code="chunan")),
        "seq1": seq1,
    }


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_overview_ranking_and_scorecard(year, django_assert_max_num_queries):
    client = client_for(year["supervisor"])
    with django_assert_max_num_queries(8):
        overview = client.get("/api/v1/summary/overview/", {"month": "2024-09"}).json()
    assert overview["month"] == "2024-09" and len(overview["categories"]) == 10
    assert sum(len(c["projects"]) for c in overview["categories"]) == 48
    first = overview["categories"][0]["projects"][0]
    assert first["seq"] == 1 and first["indicators"][0]["label"] == "新增老年助餐服务点"

    with django_assert_max_num_queries(8):
        ranking = client.get("/api/v1/summary/ranking/", {"month": "2024-09"}).json()
    # level rows share their place, the next one skips (1, 2, 2, 4): a row's place is 1 +
    # the index of the first row level with it
    keys = [(r["share_pct"], r["seriously_behind"], r["not_reported"]) for r in ranking]
    assert [r["rank"] for r in ranking] == [keys.index(k) + 1 for k in keys]
    assert [r["tied"] for r in ranking] == [keys.count(k) > 1 for k in keys]
    assert [r["rank_label"] for r in ranking] == [
        f"并列第{r['rank']}" if r["tied"] else str(r["rank"]) for r in ranking
    ]
    assert len(ranking) == 14 and any(r["tied"] for r in ranking)  # 萧山区 and 钱塘区 (seed 7)
    assert ranking[-1]["district"]["name"] == "淳安县"
    assert all(r["change"] is not None for r in ranking)

    with django_assert_max_num_queries(12):
        card = client.get("/api/v1/summary/districts/chunan/", {"month": "2024-09"}).json()
    assert card["rank"] == 14
    stored = LagEvaluation.objects.filter(month="2024-09-01", district__code="chunan")
    assert len(card["indicators"]) == stored.count()
    red = [i for i in card["indicators"] if i["status"] == LagStatus.SERIOUSLY_BEHIND]
    assert len(red) == stored.filter(status=LagStatus.SERIOUSLY_BEHIND).count() > 30


def test_summaries_are_scoped(year):
    agency = client_for(year["agency"]).get("/api/v1/summary/overview/").json()
    projects = [p for c in agency["categories"] for p in c["projects"]]
    assert {p["seq"] for p in projects} == set(
        Project.objects.filter(lead_agency=year["seq1"].lead_agency).values_list("seq", flat=True)
    )
    mine = client_for(year["chunan"])
    assert mine.get("/api/v1/summary/districts/xihu/").status_code == 404
    assert mine.get("/api/v1/summary/districts/chunan/").status_code == 200


def test_list_endpoints_do_not_grow_queries_with_rows(year, django_assert_max_num_queries):
    client = client_for(year["supervisor"])
    for url in ("/api/v1/progress/?page_size=500", "/api/v1/alerts/?page_size=500",
                "/api/v1/quotas/?page_size=500", "/api/v1/projects/?page_size=100",
                "/api/v1/indicators/"):  # fmt: skip
        with django_assert_max_num_queries(6):
            response = client.get(url)
        assert response.status_code == 200 and response.json()["count"] > 0
    with django_assert_max_num_queries(10):
        detail = client.get(f"/api/v1/projects/{year['seq1'].pk}/").json()
    assert len(detail["indicators"][0]["quotas"]) == 14
    indicator = Indicator.objects.get(project=year["seq1"])
    with django_assert_max_num_queries(8):
        trajectory = client.get(f"/api/v1/indicators/{indicator.pk}/trajectory/").json()
    assert len(trajectory["points"]) == 12
