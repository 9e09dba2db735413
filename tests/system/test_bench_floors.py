"""The benchmark's floors (``bench/floors.py``): never reachable from production URLs, and
each API floor returns the same data as its endpoint on the simulated year; the lag
benchmark's floor agrees with the engine."""

import os
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import Resolver404, resolve
from rest_framework.test import APIClient

from tests.dashboard_helpers import simulated_year
from tracker.api.auth import make_token
from tracker.plans.models import Indicator
from tracker.progress.models import ProgressReport
from tracker.progress.values import value_as_of

SEPT = date(2024, 9, 1)

FLOORS = [
    "/bench/floor/api/overview/",
    "/bench/floor/api/ranking/",
    "/bench/floor/api/progress/",
    "/bench/floor/api/trajectory/1/",
    "/bench/floor/page/overview/",
    "/bench/floor/page/matrix/",
    "/bench/floor/page/cell/1/1/",
    "/bench/floor/page/ranking/",
    "/bench/floor/page/notice/2024-09/",
]


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


@pytest.mark.parametrize("path", FLOORS)
def test_no_floor_in_production_urls(path, client, db):
    with pytest.raises(Resolver404):
        resolve(path)
    assert client.get(path).status_code == 404
    resolve(path, urlconf="bench.urls")  # the benchmark's URLconf mounts it


def _client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)[0]}")
    return client


@pytest.mark.parametrize("who", ["supervisor", "chunan_user"])
@override_settings(ROOT_URLCONF="bench.urls")
def test_api_floors_return_the_endpoints_data(year, db, who):
    client = _client(getattr(year, who))
    seq1 = Indicator.objects.get(project=year.seq1).pk
    pairs = [
        ("/api/v1/summary/overview/?month=2024-09", "/bench/floor/api/overview/?month=2024-09"),
        ("/api/v1/summary/ranking/?month=2024-09", "/bench/floor/api/ranking/?month=2024-09"),
        (f"/api/v1/indicators/{seq1}/trajectory/", f"/bench/floor/api/trajectory/{seq1}/"),
    ]
    for api, floor in pairs:
        ours, bare = client.get(api), client.get(floor)
        assert ours.status_code == bare.status_code == 200
        assert ours.json() == bare.json(), api
    ours = client.get("/api/v1/progress/").json()
    bare = client.get("/bench/floor/api/progress/").json()
    assert ours["count"] == bare["count"] > 0
    assert ours["results"] == bare["results"]


@override_settings(ROOT_URLCONF="bench.urls")
def test_floors_answer_as_the_api_for_a_picked_plan_and_refuse_a_user_without_a_role(year, db):
    """The floors read the plan picker (``?plan``) and the caller's role as the API does:
    the same data for a picked plan, the same refusal for a signed-in user without a role."""
    from django.contrib.auth import get_user_model

    from tracker.plans.reference import PlanYear

    plan = PlanYear.objects.get(year=2024)
    client = _client(year.supervisor)
    for name in ("overview", "ranking"):
        q = f"?month=2024-09&plan={plan.pk}"
        ours = client.get(f"/api/v1/summary/{name}/{q}")
        bare = client.get(f"/bench/floor/api/{name}/{q}")
        assert ours.status_code == bare.status_code == 200
        assert ours.json() == bare.json(), name
    nobody = _client(get_user_model().objects.create_user("no-role", password="x-9-long-pw"))
    seq1 = Indicator.objects.get(project=year.seq1).pk
    for api, floor in [
        ("/api/v1/summary/ranking/?month=2024-09", "/bench/floor/api/ranking/?month=2024-09"),
        ("/api/v1/summary/overview/?month=2024-09", "/bench/floor/api/overview/?month=2024-09"),
        ("/api/v1/progress/", "/bench/floor/api/progress/"),
        (f"/api/v1/indicators/{seq1}/trajectory/", f"/bench/floor/api/trajectory/{seq1}/"),
    ]:
        assert nobody.get(api).status_code == nobody.get(floor).status_code == 403, api


def test_trajectory_floor_carries_the_latest_report_forward(year, db):
    """September's city figure is the sum of each district's latest report up to
    September (a district silent in September counts with its August figure), not the
    sum of September's reports."""
    seq1 = Indicator.objects.get(project=year.seq1)
    series = {}
    reports = ProgressReport.objects.filter(indicator=seq1)
    for d, m, v in reports.values_list("district_id", "month", "value"):
        series.setdefault(d, []).append((m, v))
    carried = sum((f[0] for s in series.values() if (f := value_as_of(s, SEPT))), Decimal(0))
    with override_settings(ROOT_URLCONF="bench.urls"):
        body = _client(year.supervisor).get(f"/bench/floor/api/trajectory/{seq1.pk}/").json()
    point = next(p for p in body["points"] if p["month"] == "2024-09")
    assert Decimal(point["actual"]) == carried > 0


def test_lag_benchmark_floor_agrees_with_the_engine_and_splits_the_check():
    """``bench.lag`` at a tiny scale on SQLite (its own scratch database, built by the
    migrations): the months before are checked first, the bare-SQL floor gives every
    cell the engine's status, and the whole check's time is split by step."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.setdefault("SECRET_KEY", "bench-smoke-test-key")
    out = subprocess.run(
        [sys.executable, "-m", "bench.lag", "--districts", "12", "--indicators", "3"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    # June is checked after January to May, as the monthly schedule leaves it.
    assert "此前已检查 2024-01 至 2024-05" in out.stdout, out.stdout
    agree = re.search(r"与引擎一致 (\d+)/(\d+)", out.stdout)
    assert agree and agree[1] == agree[2] == "36", out.stdout  # 12 districts × 3
    for step in ("评估", "存储状态", "同步预警", "生成通知"):
        assert step in out.stdout.split("其中：")[1], out.stdout
