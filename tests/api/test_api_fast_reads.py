"""The read endpoints that build their JSON from plain rows give exactly what their
serializers give (the same page, the same objects), on the simulated year."""

import json

import pytest
from rest_framework.test import APIClient

from tests.dashboard_helpers import simulated_year
from tracker.api.auth import make_token
from tracker.api.serializers import (
    AgencyRankingRowSerializer,
    OverviewSerializer,
    ProgressReportSerializer,
    RankingRowSerializer,
)
from tracker.plans.selection import plan_month
from tracker.progress.models import ProgressReport
from tracker.reporting.overview import overview as read_overview
from tracker.reporting.ranking import agency_ranking as read_agency_ranking
from tracker.reporting.ranking import ranking as read_ranking


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


def _client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)[0]}")
    return client


@pytest.mark.parametrize("who", ["supervisor", "chunan_user"])
@pytest.mark.parametrize(
    "query", ["", "?page=2", "?page_size=500", "?month=2024-08", "?is_correction=false&page=3"]
)
def test_progress_list_equals_the_serializers_json(year, db, who, query):
    user = getattr(year, who)
    response = _client(user).get(f"/api/v1/progress/{query}")
    assert response.status_code == 200
    body = response.json()
    ids = [r["id"] for r in body["results"]]
    assert ids and body["count"] >= len(ids)
    by_id = ProgressReport.objects.select_related("reported_by").in_bulk(ids)
    expected = ProgressReportSerializer([by_id[pk] for pk in ids], many=True).data
    assert body["results"] == [dict(r) for r in expected]
    assert any(r["reported_by"] for r in body["results"])


@pytest.mark.parametrize("who", ["supervisor", "agency", "chunan_user"])
@pytest.mark.parametrize("month", ["2024-03", "2024-06", "2024-09"])
def test_summaries_equal_their_serializers_json(year, db, who, month):
    """Overview (per viewer), ranking and 部门晾晒: the endpoint's JSON is the serializer's on the
    same selector output."""
    user = getattr(year, who)
    client = _client(user)
    when = plan_month(month)
    overview = client.get(f"/api/v1/summary/overview/?month={month}")
    assert overview.status_code == 200
    expected = OverviewSerializer(read_overview(user, when)).data
    assert overview.json() == json.loads(json.dumps(expected))
    projects = [p for c in overview.json()["categories"] for p in c["projects"]]
    assert projects and any(p["pace_pct"] is not None for p in projects)
    ranking = client.get(f"/api/v1/summary/ranking/?month={month}")
    assert ranking.status_code == 200
    rows = RankingRowSerializer(read_ranking(when), many=True).data
    assert ranking.json() == json.loads(json.dumps(rows)) and len(rows) == 14
    agencies = client.get(f"/api/v1/summary/agency-ranking/?month={month}")
    assert agencies.status_code == 200
    rows = AgencyRankingRowSerializer(read_agency_ranking(when), many=True).data
    assert agencies.json() == json.loads(json.dumps(rows)) and len(rows) == 19


@pytest.mark.parametrize("who", ["supervisor", "agency", "chunan_user"])
def test_trajectory_equals_the_serializers_json(year, db, who, monkeypatch):
    """序时进度 vs reported value: the endpoint's JSON is ``TrajectorySerializer``'s, for
    amounts and rates, city-only and split targets, city-wide and one district's."""
    from tracker.api import serializers
    from tracker.plans.models import Indicator
    from tracker.plans.reference import District

    user = getattr(year, who)
    client = _client(user)
    chunan = District.objects.get(name="淳安县")
    indicators = Indicator.objects.filter(project__plan_year__year=2024)
    picked = {
        indicators.filter(kind=Indicator.Kind.LEVEL).first(),
        indicators.filter(scope=Indicator.Scope.CITY).first(),
        indicators.filter(project__seq=1).first(),
        indicators.filter(quotas__district=chunan).first(),
    } - {None}
    urls = [f"/api/v1/indicators/{i.pk}/trajectory/" for i in picked]
    urls += [f"{u}?district={chunan.pk}" for u in urls]

    def fetch():
        return [(r.status_code, r.json()) for r in map(client.get, urls)]

    fast = fetch()
    monkeypatch.setattr(
        serializers, "trajectory_data", lambda b: serializers.TrajectorySerializer(b).data
    )
    assert fast == fetch()
    assert any(code == 200 and any(p["actual"] for p in body["points"]) for code, body in fast)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/New_York"])
def test_progress_row_times_equal_drf_in_any_active_time_zone(zone):
    """``progress_row`` writes datetimes as DRF's ``DateTimeField`` does: ISO 8601 in the
    active time zone, UTC as 「Z」, microseconds kept, across a DST change."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from django.utils import timezone
    from rest_framework import serializers

    from tracker.api.serializers import progress_row

    field = serializers.DateTimeField()
    start = datetime(2024, 3, 10, 6, 59, 59, 123456, tzinfo=ZoneInfo("UTC"))
    with timezone.override(ZoneInfo(zone)):
        for hours in range(0, 24 * 240, 7):
            when = start + timedelta(hours=hours)
            row = progress_row((1, 2, 3, start.date(), None, "", False, "", 0, "", when, None))
            assert row["reported_at"] == field.to_representation(when)
            assert row["created_at"] is None
