"""Redis down: the API keeps answering and health says degraded.

A private ``redis-server`` on a free port is the cache the throttles count in; the test
stops it mid-way, as an outage would. (Not the shared Redis: other tests use it.)
"""

import shutil
import socket
import subprocess
import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.health.checks import record_heartbeat

pytestmark = pytest.mark.redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_redis():
    if not shutil.which("redis-server"):
        pytest.skip("未安装 redis-server")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield server, f"redis://127.0.0.1:{port}/0"
    server.kill()
    server.wait()


def test_api_answers_and_health_is_degraded_while_redis_is_down(
    db, settings, monkeypatch, private_redis
):
    server, url = private_redis
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 1},
        }
    }
    # DRF reads the rates into the class when it is defined
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    staff = make_user("duchashi", Role.SUPERVISION)
    record_heartbeat_now()
    client = APIClient()
    client.force_authenticate(staff)

    # Redis up: the throttle counts (the 4th request in a minute is refused).
    answers = [client.get("/api/v1/districts/").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]

    server.kill()
    server.wait()
    # Redis down: the throttle fails open, every GET answers, health says why it's degraded.
    assert [client.get("/api/v1/districts/").status_code for _ in range(5)] == [200] * 5
    health = client.get("/api/health/")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert health.json()["checks"]["cache"] == {
        "ok": False,
        "backend": "redis",
        "error": "ConnectionError",
    }


def record_heartbeat_now():
    now = timezone.now()
    record_heartbeat(now, now=now)
