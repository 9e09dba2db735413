"""Logins, tokens, cache and headers (issue 13): the holes of the security test as tests."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OWNER_IP, STRANGER_IP = "10.0.0.1", "10.6.6.6"
LIMIT = settings.AXES_FAILURE_LIMIT


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner(personas):
    user = personas.district_a_user
    user.set_password("right-pass-2024")
    user.save()
    return user


LOGINS = {
    "dashboard": ("/accounts/login/", "username", "password"),
    "admin": ("/admin/login/", "username", "password"),
}


def _html_login(where, username, password, ip, **extra):
    url, user_field, pass_field = LOGINS[where]
    return Client(REMOTE_ADDR=ip, **extra).post(url, {user_field: username, pass_field: password})


def _logged_in(response) -> bool:
    return response.status_code == 302 and "login" not in response["Location"]


@pytest.mark.parametrize("where", LOGINS)
def test_html_login_locks_after_failures_with_a_chinese_message(owner, where):
    for _ in range(LIMIT):
        assert _html_login(where, owner.username, "wrong", STRANGER_IP).status_code in (200, 429)
    locked = _html_login(where, owner.username, "right-pass-2024", STRANGER_IP)
    assert locked.status_code == 429
    assert "登录失败次数过多" in locked.content.decode()


@pytest.mark.parametrize("where", LOGINS)
def test_a_stranger_cannot_lock_the_owner_out(owner, where):
    for _ in range(LIMIT + 3):
        _html_login(where, owner.username, "wrong", STRANGER_IP)
    assert _logged_in(_html_login(where, owner.username, "right-pass-2024", OWNER_IP))


def _token(username, password, ip, **headers):
    client = APIClient(REMOTE_ADDR=ip, **headers)
    return client.post("/api/v1/auth/token/", {"username": username, "password": password},
                       format="json")  # fmt: skip


def test_api_lockout_is_per_username_and_address(owner):
    for _ in range(LIMIT):
        assert _token(owner.username, "wrong", STRANGER_IP).status_code in (401, 429)
    locked = _token(owner.username, "right-pass-2024", STRANGER_IP)
    assert locked.status_code == 429 and "锁定" in locked.json()["detail"]
    assert _token(owner.username, "right-pass-2024", OWNER_IP).status_code == 200


def test_a_wrong_password_is_401_as_documented(owner):
    """401 with the bearer challenge, the documented answer (not DRF's 403 for a view
    without authentication classes), in the one error body."""
    response = _token(owner.username, "wrong", OWNER_IP)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"detail": "用户名或密码错误"}


def test_forwarded_for_is_not_trusted_by_default(owner):
    """40 attempts each with another X-Forwarded-For: all counted against one address."""
    statuses = [
        _token(
            owner.username, "wrong", STRANGER_IP, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}"
        ).status_code
        for i in range(LIMIT + 2)
    ]
    assert statuses[-1] == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {STRANGER_IP}


def test_forwarded_for_is_used_behind_configured_proxies(owner, settings):
    from tracker.accounts.security import client_ip

    request = Client().request().wsgi_request  # any request object
    request.META.update(REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert client_ip(request) == "10.9.9.9"
    settings.TRACKER_NUM_PROXIES = 1
    assert client_ip(request) == "203.0.113.7"  # the one our proxy saw, not the client's claim


def test_throttles_ignore_forwarded_for_by_default(db):
    from rest_framework.throttling import AnonRateThrottle

    request = APIClient().request().wsgi_request
    request.META.update(REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    assert AnonRateThrottle().get_ident(request) == "10.9.9.9"


def test_locks_are_listed_for_the_supervision_office_and_can_be_lifted(owner, personas, client):
    for _ in range(LIMIT):
        _token(owner.username, "wrong", STRANGER_IP)
    lock = AccessAttempt.objects.get()
    changelist = reverse("admin:axes_accessattempt_changelist")
    client.force_login(personas.district_b_user)
    assert client.get(changelist).status_code == 403
    client.force_login(personas.supervisor)
    page = client.get(changelist)
    assert page.status_code == 200 and owner.username in page.content.decode()
    client.post(changelist, {"action": "unlock", "_selected_action": [lock.pk]})
    assert not AccessAttempt.objects.exists()
    assert _token(owner.username, "right-pass-2024", STRANGER_IP).status_code == 200


# --- tokens ---------------------------------------------------------------------------


def _bearer(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _issue(user) -> str:
    from tracker.api.auth import make_token

    return make_token(user)[0]


def test_a_single_token_can_be_revoked_by_its_owner(owner):
    first, second = _issue(owner), _issue(owner)
    client = _bearer(first)
    listed = client.get("/api/v1/auth/tokens/").json()["results"]
    assert len(listed) == 2 and sum(t["current"] for t in listed) == 1
    other = next(t["key"] for t in listed if not t["current"])
    assert client.delete(f"/api/v1/auth/tokens/{other}/").status_code == 204
    assert _bearer(second).get("/api/v1/progress/").status_code == 401
    assert client.get("/api/v1/progress/").status_code == 200  # the other one still works


def test_supervision_revokes_anyones_token_others_cannot(owner, personas):
    token = _issue(owner)
    key = _bearer(token).get("/api/v1/auth/tokens/").json()["results"][0]["key"]
    stranger = _bearer(_issue(personas.district_b_user))
    assert stranger.delete(f"/api/v1/auth/tokens/{key}/").status_code == 404
    assert _bearer(token).get("/api/v1/progress/").status_code == 200
    boss = _bearer(_issue(personas.supervisor))
    assert key in {t["key"] for t in boss.get("/api/v1/auth/tokens/").json()["results"]}
    assert boss.delete(f"/api/v1/auth/tokens/{key}/").status_code == 204
    assert _bearer(token).get("/api/v1/progress/").status_code == 401


def test_deactivation_revokes_and_reactivation_does_not_revive(owner):
    token = _issue(owner)
    owner.is_active = False
    owner.save()
    owner.is_active = True
    owner.save()
    response = _bearer(token).get("/api/v1/progress/")
    assert response.status_code == 401 and "令牌" in response.json()["detail"]


def test_password_change_revokes_and_expiry_is_kept(owner):
    token = _issue(owner)
    with time_machine.travel(timedelta(hours=9)):
        assert _bearer(token).get("/api/v1/progress/").status_code == 401
    token = _issue(owner)
    owner.set_password("a-new-pass-2024")
    owner.save()
    assert _bearer(token).get("/api/v1/progress/").status_code == 401


def test_a_forged_token_is_refused(owner):
    token = _issue(owner)
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    assert _bearer(forged).get("/api/v1/progress/").status_code == 401


# --- cache, sessions, headers -----------------------------------------------------------


def test_the_cache_is_shared_between_processes(db):
    """Throttle counters live in the configured cache; another process sees them."""
    assert "LocMem" not in settings.CACHES["default"]["BACKEND"]
    cache.set("tracker-test-shared", "from-parent", 60)
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        "django.setup(); from django.core.cache import cache;"
        "print(cache.get('tracker-test-shared')); cache.set('tracker-test-child', 'hi', 60)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env=os.environ.copy())  # fmt: skip
    assert out.stdout.strip() == "from-parent", out.stderr[-1000:]
    assert cache.get("tracker-test-child") == "hi"


def test_the_tests_count_in_a_cache_of_their_own(db):
    """Clearing the cache between tests leaves the checkout's ``var/cache`` (a server
    running from it keeps its throttle counters) alone."""
    backend = settings.CACHES["default"]
    if not backend["BACKEND"].endswith("FileBasedCache"):
        pytest.skip("缓存配置为 Redis（TRACKER_CACHE_URL / REDIS_URL）")
    checkout = os.path.realpath(os.path.join(ROOT, "var", "cache"))
    assert os.path.realpath(backend["LOCATION"]) != checkout
    assert os.environ["TRACKER_CACHE_DIR"] == backend["LOCATION"]


def test_sessions_last_a_working_day():
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_pages_carry_a_content_security_policy_without_inline_scripts(db, client, url):
    policy = client.get(url)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert "http" not in policy  # no other origin
