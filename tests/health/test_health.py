"""/api/health/: database, broker, and a worker and beat alive by their heartbeat.

The heartbeat is stale after TRACKER["HEARTBEAT_STALE_MINUTES"] (5); stale, missing or any
backend down answers 503 ``degraded``. Anonymous callers see only the status word.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.health.checks import heartbeat, record_heartbeat
from tracker.health.models import Heartbeat

NOW = datetime(2024, 7, 20, 1, 0, tzinfo=UTC)


def get(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client.get("/api/health/")


@pytest.fixture
def staff(db):
    return make_user("duchashi", Role.SUPERVISION)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_fresh_heartbeat_is_ok_and_staff_see_each_check(staff, frozen):
    record_heartbeat(
        NOW - timedelta(seconds=70), hostname="celery@web1", now=NOW - timedelta(minutes=1)
    )
    response = get(staff)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["stale_after_minutes"] == 5
    checks = body["checks"]
    assert set(checks) == {"database", "broker", "cache", "worker", "beat", "deliveries"}
    assert all(check["ok"] for check in checks.values())
    assert checks["worker"]["hostname"] == "celery@web1" and checks["worker"]["age_seconds"] == 60
    assert checks["beat"]["age_seconds"] == 70
    assert (
        response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    )


def test_anonymous_gets_only_the_status_word(db, frozen, settings):
    record_heartbeat(NOW, now=NOW)
    response = get()
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    settings.CELERY_BROKER_URL = "redis://:s3cret@127.0.0.1:1/0"
    down = get()
    assert down.status_code == 503 and down.json() == {"status": "degraded"}
    text = down.content.decode()
    for name in ("redis", "sqlite", "postgresql", "s3cret", "database", "broker", "worker"):
        assert name not in text


@pytest.mark.parametrize(
    ("beat_age", "worker_age", "stale"),
    [(5, 5, set()), (6, 1, {"beat"}), (1, 6, {"worker"}), (30, 30, {"beat", "worker"})],
)
def test_heartbeat_older_than_the_limit_is_503(staff, frozen, beat_age, worker_age, stale):
    """5 minutes is still alive; 6 minutes is not (HEARTBEAT_STALE_MINUTES = 5)."""
    record_heartbeat(NOW - timedelta(minutes=beat_age), now=NOW - timedelta(minutes=worker_age))
    response = get(staff)
    assert response.status_code == (503 if stale else 200)
    checks = response.json()["checks"]
    assert {name for name in ("beat", "worker") if not checks[name]["ok"]} == stale
    for name in stale:
        assert checks[name]["error"] == "超过 5 分钟无心跳"
    assert response.json()["status"] == ("degraded" if stale else "ok")


def test_no_heartbeat_yet_is_degraded(staff):
    response = get(staff)
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {
        "ok": False, "last_seen": None, "error": "尚无心跳记录",
    }  # fmt: skip


def test_stale_limit_is_a_setting(staff, frozen, settings):
    settings.TRACKER = {**settings.TRACKER, "HEARTBEAT_STALE_MINUTES": 15}
    record_heartbeat(NOW - timedelta(minutes=10), now=NOW - timedelta(minutes=10))
    assert get(staff).status_code == 200


def test_heartbeat_task_records_beat_send_time_and_worker_run(db, frozen):
    """What beat sends (the send time, ISO) is what the worker stores; one row, updated."""
    sent = NOW - timedelta(seconds=3)
    heartbeat.apply(args=(sent.isoformat(),))
    heartbeat.apply(args=(NOW.isoformat(),))
    row = Heartbeat.objects.get()
    assert row.beat_sent_at == NOW and row.worker_ran_at == NOW


def test_beat_schedules_the_heartbeat_with_its_send_time(frozen):
    from config.celery import beat_schedule

    entry = beat_schedule()["heartbeat"]
    assert entry["task"] == "tracker.heartbeat"
    assert entry["schedule"] == timedelta(seconds=60)
    (lazy,) = entry["args"]
    assert datetime.fromisoformat(lazy()) == NOW  # evaluated by beat when it sends
    assert entry["options"]["expires"] == 120


def test_database_down_is_503_not_500(staff, monkeypatch):
    """Even for a logged-in caller, whose session lives in the database that is down."""
    from django.db import OperationalError

    from tracker.health import checks as service

    class Down:
        vendor = "postgresql"

        def cursor(self):
            raise OperationalError("connection refused")

    def session_unreachable(self):
        raise OperationalError("connection refused")

    client = APIClient()
    client.force_login(staff)
    monkeypatch.setattr(service, "connection", Down())
    monkeypatch.setattr(
        "django.contrib.sessions.backends.db.SessionStore.load", session_unreachable
    )
    response = client.get("/api/health/")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded"}  # not identified: anonymous


def test_a_broker_outage_is_degraded_with_its_reason(staff, frozen, settings):
    """Beat and the worker keep reconnecting (without end, config/settings.py); health
    says the broker is the reason, at once and beside the heartbeats once they are stale."""
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    record_heartbeat(NOW - timedelta(minutes=1), now=NOW - timedelta(minutes=1))
    response = get(staff)
    assert response.status_code == 503 and response.json()["status"] == "degraded"
    broker = response.json()["checks"]["broker"]
    assert broker["ok"] is False and broker["transport"] == "redis"
    assert broker["reason"].startswith("无法连接消息队列")
    assert "reason" not in response.json()["checks"]["worker"]  # its heartbeat is still fresh

    record_heartbeat(NOW - timedelta(minutes=6), now=NOW - timedelta(minutes=6))
    checks = get(staff).json()["checks"]
    for name in ("worker", "beat"):
        assert checks[name]["error"] == "超过 5 分钟无心跳"
        assert checks[name]["reason"].startswith("无法连接消息队列")


def test_the_worker_never_gives_up_on_its_broker(settings):
    from config.celery import app  # the configured app, as the worker reads it

    assert app.conf.broker_connection_retry and app.conf.broker_connection_retry_on_startup
    assert app.conf.broker_connection_max_retries is None  # Celery's default gives up at 100
