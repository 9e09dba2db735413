"""REST API v1: scoping on every endpoint, writes through the progress service, auth."""

import os
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from tracker.monitoring.models import LagAlert
from tracker.progress.models import ProgressReport
from tracker.progress.writes import Entry, submit

TODAY = date(2024, 7, 20)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(personas):
    with time_machine.travel(date(2024, 7, 20), tick=False):
        p = personas
        for indicator in (p.indicator_a, p.indicator_b):
            for district in (p.district_a, p.district_b):
                submit(p.supervisor, [Entry(indicator.pk, district.pk, "2024-06", 10)], today=TODAY)
        alert = LagAlert.objects.create(
            indicator=p.indicator_a, district=p.district_b, month=date(2024, 6, 1),
            kind=LagAlert.Kind.LAG, severity=LagAlert.Severity.YELLOW, message="萧山区 落后",
        )  # fmt: skip
        yield p, alert


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def ids(response) -> set:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


PERSONAS = ("supervisor", "agency_a_user", "agency_b_user", "district_a_user", "district_b_user")


@pytest.mark.parametrize("who", PERSONAS)
def test_lists_are_scoped_even_when_filters_name_other_owners(world, who):
    p, alert = world
    user = getattr(p, who)
    reports = {(r.indicator_id, r.district_id): r.pk for r in ProgressReport.objects.all()}
    expected_progress = {
        "supervisor": set(reports.values()),
        "agency_a_user": {reports[(p.indicator_a.pk, d.pk)] for d in (p.district_a, p.district_b)},
        "agency_b_user": {reports[(p.indicator_b.pk, d.pk)] for d in (p.district_a, p.district_b)},
        "district_a_user": {
            reports[(i.pk, p.district_a.pk)] for i in (p.indicator_a, p.indicator_b)
        },
        "district_b_user": {
            reports[(i.pk, p.district_b.pk)] for i in (p.indicator_a, p.indicator_b)
        },
    }[who]
    client = api(user)
    assert ids(client.get("/api/v1/progress/")) == expected_progress
    # Naming another owner's ids in a filter reveals nothing.
    named = ids(client.get("/api/v1/progress/", {"indicator": p.indicator_b.pk,
                                                "district": p.district_b.pk}))  # fmt: skip
    assert named == expected_progress & {reports[(p.indicator_b.pk, p.district_b.pk)]}
    sees_alert = who in ("supervisor", "agency_a_user", "district_b_user")
    assert ids(client.get("/api/v1/alerts/", {"district": p.district_b.pk})) == (
        {alert.pk} if sees_alert else set()
    )
    detail = client.get(f"/api/v1/progress/{reports[(p.indicator_a.pk, p.district_a.pk)]}/")
    in_scope = who in ("supervisor", "agency_a_user", "district_a_user")
    assert detail.status_code == (200 if in_scope else 404)
    quotas = client.get("/api/v1/quotas/", {"indicator": p.indicator_a.pk}).json()["results"]
    assert {q["district_name"] for q in quotas} == {
        "supervisor": {"上城区", "萧山区"},
        "agency_a_user": {"上城区", "萧山区"},
        "agency_b_user": set(),
        "district_a_user": {"上城区"},
        "district_b_user": {"萧山区"},
    }[who]
    projects = {row["seq"] for row in client.get("/api/v1/projects/").json()["results"]}
    assert projects == {"agency_a_user": {1}, "agency_b_user": {2}}.get(who, {1, 2})


@pytest.mark.parametrize("who", PERSONAS)
def test_writes_are_refused_outside_scope(world, who):
    p, alert = world
    user = getattr(p, who)
    client = api(user)
    with time_machine.travel(date(2024, 8, 20), tick=False):
        created = client.post("/api/v1/progress/", {"indicator": p.indicator_a.pk,
                              "district": p.district_b.pk, "month": "2024-07", "value": "12"},
                              format="json")  # fmt: skip
    may_create = who in ("supervisor", "agency_a_user", "district_b_user")
    assert created.status_code == (201 if may_create else 400)
    if not may_create:
        assert "您无权填报萧山区" in created.json()["errors"][0]["message"]

    target = ProgressReport.objects.get(indicator=p.indicator_a, district=p.district_a)
    changed = client.patch(f"/api/v1/progress/{target.pk}/", {"value": "11", "version": 1},
                           format="json")  # fmt: skip
    may_change = who in ("supervisor", "agency_a_user", "district_a_user")
    assert changed.status_code == (200 if may_change else 404)
    target.refresh_from_db()
    assert target.value == (11 if may_change else 10)

    deleted = client.delete(f"/api/v1/progress/{target.pk}/")
    assert deleted.status_code == {True: 204, False: 403}[who == "supervisor"] or (
        not may_change and deleted.status_code == 404
    )
    assert ProgressReport.objects.filter(pk=target.pk).exists() is (who != "supervisor")

    ack = client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "已督促"}, format="json")
    may_ack = who in ("supervisor", "agency_a_user", "district_b_user")
    assert ack.status_code == (200 if may_ack else 404)
    alert.refresh_from_db()
    assert (alert.status == LagAlert.Status.ACKNOWLEDGED) is may_ack


def test_an_update_may_not_move_a_row(world):
    p, _ = world
    report = ProgressReport.objects.get(indicator=p.indicator_a, district=p.district_a)
    response = api(p.agency_a_user).patch(
        f"/api/v1/progress/{report.pk}/", {"district": p.district_b.pk}, format="json"
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]  # the one error body (tracker.api.errors)
    assert error["field"] == "district" and "不能修改" in error["message"]
    assert error["row"] is None and "不能修改" in response.json()["detail"]


def test_validation_errors_are_listed_and_nothing_changes(world):
    p, _ = world
    client = api(p.agency_a_user)
    with time_machine.travel(date(2024, 8, 20), tick=False):
        bad = client.post("/api/v1/progress/bulk/", {
            "indicator": p.indicator_a.pk, "month": "2024-07",
            "rows": [{"district": p.district_a.pk, "value": "8"},
                     {"district": p.district_b.pk, "value": "12 吨"}],
        }, format="json")  # fmt: skip
        assert bad.status_code == 400
        errors = bad.json()["errors"]
        assert [(e["row"], e["field"]) for e in errors] == [(1, "value"), (2, "value")]
        assert "小于2024年6月已填报的 10 个" in errors[0]["message"]
        assert "与指标单位「个」不一致" in errors[1]["message"]
        assert not ProgressReport.objects.filter(month=date(2024, 7, 1)).exists()

        good = client.post("/api/v1/progress/bulk/", {
            "indicator": p.indicator_a.pk, "month": "2024-07",
            "rows": [{"district": p.district_a.pk, "value": "18"},
                     {"district": p.district_b.pk, "value": "12 个", "note": "含村级"}],
        }, format="json")  # fmt: skip
    assert good.status_code == 200 and good.json()["created"] == 2
    july = ProgressReport.objects.filter(month=date(2024, 7, 1))
    assert {h.history_user for r in july for h in r.history.all()} == {p.agency_a_user}
    assert {h.history_change_reason for r in july for h in r.history.all()} == {"API 填报"}


def test_second_writer_gets_409(world):
    p, _ = world
    report = ProgressReport.objects.get(indicator=p.indicator_a, district=p.district_a)
    with time_machine.travel(date(2024, 7, 20), tick=False):
        first = api(p.district_a_user).patch(
            f"/api/v1/progress/{report.pk}/", {"value": "12", "version": 1}, format="json"
        )
        second = api(p.agency_a_user).patch(
            f"/api/v1/progress/{report.pk}/", {"value": "13", "version": 1}, format="json"
        )
    assert first.status_code == 200 and first.json()["version"] == 2
    assert second.status_code == 409
    assert "请刷新后重新填报" in second.json()["errors"][0]["message"]
    report.refresh_from_db()
    assert report.value == 12


def test_trajectory_city_and_district(world):
    from tests.lag_helpers import percent_plan

    p, _ = world
    percent_plan(p.indicator_a)
    client = api(p.supervisor)
    city = client.get(f"/api/v1/indicators/{p.indicator_a.pk}/trajectory/").json()
    june = next(pt for pt in city["points"] if pt["month"] == "2024-06")
    assert Decimal(june["actual"]) == 20  # two districts × 10
    assert Decimal(june["expected"]) == Decimal(city["target"]) * Decimal("0.3")
    assert june["is_checkpoint"] is True
    mine = api(p.district_b_user).get(f"/api/v1/indicators/{p.indicator_a.pk}/trajectory/")
    assert mine.json()["district"] == p.district_b.pk
    other = api(p.district_b_user).get(
        f"/api/v1/indicators/{p.indicator_a.pk}/trajectory/", {"district": p.district_a.pk}
    )
    assert other.status_code == 404


def test_anonymous_gets_nothing_unless_published_mode(world, settings):
    p, _ = world
    assert api().get("/api/v1/projects/").status_code == 401
    assert api().get("/api/v1/progress/").status_code == 401
    assert api(p.outsider).get("/api/v1/projects/").status_code == 403  # no role
    settings.TRACKER = {**settings.TRACKER, "PUBLIC_READ_ONLY": True}
    assert len(api().get("/api/v1/projects/").json()["results"]) == 2
    assert api().get("/api/v1/summary/ranking/", {"month": "2024-06"}).status_code == 200
    assert api().get("/api/v1/progress/").status_code == 401
    assert api().get("/api/v1/alerts/").status_code == 401
    assert api().post("/api/v1/progress/", {}, format="json").status_code == 401


def test_published_mode_shows_anonymous_no_district_data(world, settings):
    """Anonymous sees no more than a district user sees of *another* district: no
    scorecard, no per-district trajectory, no district's quotas."""
    p, _ = world
    settings.TRACKER = {**settings.TRACKER, "PUBLIC_READ_ONLY": True}
    anon = api()
    card = anon.get("/api/v1/summary/districts/shangcheng/", {"month": "2024-06"})
    assert card.status_code == 401
    url = f"/api/v1/indicators/{p.indicator_a.pk}/trajectory/"
    assert anon.get(url, {"district": p.district_a.pk}).status_code == 401
    city = anon.get(url)  # the city's aggregate stays public, like the overview
    assert city.status_code == 200 and city.json()["district"] is None
    assert anon.get("/api/v1/quotas/").json()["results"] == []
    detail = anon.get(f"/api/v1/projects/{p.project_a.pk}/").json()
    assert all(i["quotas"] == [] for i in detail["indicators"])
    # What a district user sees of the other district: the same nothing.
    other = api(p.district_b_user)
    assert other.get(url, {"district": p.district_a.pk}).status_code == 404
    assert other.get("/api/v1/summary/districts/shangcheng/").status_code == 404


def test_token_auth_expiry_revocation_and_lockout(world, settings):
    p, _ = world
    p.agency_a_user.set_password("s3cret-pass")
    p.agency_a_user.save()
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": "minzheng",
                           "password": "s3cret-pass"}, format="json")  # fmt: skip
    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/progress/").status_code == 200
    with time_machine.travel(timedelta(hours=9)):
        assert client.get("/api/v1/progress/").status_code == 401
    p.agency_a_user.set_password("another-pass")
    p.agency_a_user.save()
    assert client.get("/api/v1/progress/").status_code == 401  # password change revokes

    client = APIClient()
    for _ in range(4):
        r = client.post("/api/v1/auth/token/", {"username": "minzheng", "password": "x"},
                        format="json")  # fmt: skip
        assert r.status_code in (401, 403)
    locked = client.post("/api/v1/auth/token/", {"username": "minzheng", "password": "x"},
                         format="json")  # fmt: skip
    assert locked.status_code == 429 and "锁定" in locked.json()["detail"]
    right = client.post("/api/v1/auth/token/", {"username": "minzheng",
                        "password": "another-pass"}, format="json")  # fmt: skip
    assert right.status_code == 429  # still locked, even with the right password


def test_page_size_is_capped_at_500(world):
    """The real cap, not a patched one: 504 rows exist, ``page_size=100000`` gets 500."""
    from tests.factories import DistrictFactory
    from tracker.plans.models import Quota

    p, _ = world
    districts = [DistrictFactory(code=f"cap{i}", name=f"测试区{i}") for i in range(42)]
    Quota.objects.bulk_create(
        Quota(indicator=p.indicator_b, district=d, value=Decimal(50)) for d in districts
    )
    ProgressReport.objects.bulk_create(
        ProgressReport(indicator=p.indicator_b, district=d, month=date(2024, m, 1), value=m)
        for d in districts
        for m in range(1, 13)
    )
    client = api(p.supervisor)
    assert len(client.get("/api/v1/progress/", {"page_size": 3}).json()["results"]) == 3
    capped = client.get("/api/v1/progress/", {"page_size": 100000}).json()
    assert capped["count"] == 4 + 42 * 12
    assert len(capped["results"]) == 500


def test_requests_are_throttled(world, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    p, _ = world
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    client = api(p.supervisor)
    statuses = [client.get("/api/v1/districts/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_throttle_counts_every_window_of_a_minute_and_says_when_to_retry(world, monkeypatch):
    """3 a minute: the 4th request within any minute is refused with Retry-After, and
    the counter kept for a client is per second, not one entry per request."""
    from django.core.cache import cache
    from rest_framework.throttling import UserRateThrottle

    from tracker.api.throttling import UserThrottle

    p, _ = world
    now = [1000.0]
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    monkeypatch.setattr(UserThrottle, "timer", staticmethod(lambda: now[0]))
    client = api(p.supervisor)

    def at(seconds):
        now[0] = 1000.0 + seconds
        return client.get("/api/v1/districts/")

    assert [at(t).status_code for t in (0, 0.5, 30)] == [200, 200, 200]
    refused = at(59)
    assert refused.status_code == 429 and refused["Retry-After"] == "2"
    assert at(60.5).status_code == 429  # the first two are still within this minute
    assert at(61).status_code == 200
    key = UserThrottle.cache_format % {"scope": "user", "ident": p.supervisor.pk}
    assert cache.get(key) == [[1061, 1], [1030, 1]]


def test_docs_load_only_our_own_static_files(personas, client):
    """Every script and stylesheet of the Swagger UI page is one of our static files
    (found by the staticfiles finders and served from STATIC_URL), none from elsewhere."""
    import re

    from django.conf import settings
    from django.contrib.staticfiles import finders

    client.force_login(personas.district_a_user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
    assert any("swagger-ui" in a for a in assets)
    for asset in assets:
        assert asset.startswith("/" + settings.STATIC_URL.lstrip("/")), asset
        assert finders.find(asset.split("/", 2)[2].split("?")[0]), asset


def test_schema_and_docs_need_a_login_unless_published(personas, client, settings):
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/").status_code in (401, 403)
    client.force_login(personas.outsider)  # a login without a role is not enough
    assert client.get("/api/schema/").status_code == 403
    client.logout()
    settings.TRACKER = {**settings.TRACKER, "PUBLIC_READ_ONLY": True}
    assert client.get("/api/schema/").status_code == 200


def test_schema_validates_without_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn",
         "--file", os.devnull],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def test_check_deploy_is_clean_with_production_settings():
    env = {**os.environ, "DEBUG": "0", "DJANGO_SECURE": "1", "SECRET_KEY": "x" * 64 + "Yz9!q",
           "ALLOWED_HOSTS": "tracker.example.gov.cn",
           "TRACKER_SITE_URL": "https://tracker.example.gov.cn"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("who", PERSONAS)
def test_detail_endpoints_are_scoped(world, who):
    """Project, indicator, quota, trajectory and scorecard of 民政局's indicator in 上城区."""
    p, _ = world
    client = api(getattr(p, who))
    quota = p.indicator_a.quotas.get(district=p.district_a)
    reads_plan = who != "agency_b_user"  # districts read the whole plan; agencies their own
    reads_cell = who in ("supervisor", "agency_a_user", "district_a_user")
    expect = {
        f"/api/v1/projects/{p.project_a.pk}/": reads_plan,
        f"/api/v1/indicators/{p.indicator_a.pk}/": reads_plan,
        f"/api/v1/quotas/{quota.pk}/": reads_cell,
        f"/api/v1/indicators/{p.indicator_a.pk}/trajectory/?district={p.district_a.pk}": reads_cell,
    }
    for url, allowed in expect.items():
        assert client.get(url).status_code == (200 if allowed else 404), url
    card = client.get("/api/v1/summary/districts/shangcheng/", {"month": "2024-06"})
    assert card.status_code == (404 if who == "district_b_user" else 200)
