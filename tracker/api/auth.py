"""Machine-client auth: signed, expiring bearer tokens; login lockout after failures.

A token is ``signing.dumps({"uid": …, "pw": <fingerprint of the password hash>})``
with a timestamp, checked with ``max_age = TRACKER["API_TOKEN_MAX_AGE"]`` (8 h by
default). Nothing is stored: a password change (new hash) or deactivation revokes every
token of the user at once. Decision: no token table, so no extra model to migrate and
nothing to clean up; the price is that a single token cannot be revoked alone.

Lockout: ``API_LOGIN_MAX_FAILURES`` (5) failed logins for a username within
``API_LOGIN_LOCKOUT_SECONDS`` (900) lock that username for the same period, counted in
the cache (Redis in production, local memory by default).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core import signing
from django.core.cache import cache
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

SALT = "tracker.api.token"


def _conf(key, default):
    return settings.TRACKER.get(key, default)


def _fingerprint(user) -> str:
    return hashlib.sha256(f"{user.pk}:{user.password}".encode()).hexdigest()[:16]


def make_token(user) -> tuple[str, int]:
    """A bearer token for ``user`` and its lifetime in seconds."""
    max_age = int(_conf("API_TOKEN_MAX_AGE", 8 * 3600))
    token = signing.dumps({"uid": user.pk, "pw": _fingerprint(user)}, salt=SALT)
    return token, max_age


def user_for_token(token: str):
    max_age = int(_conf("API_TOKEN_MAX_AGE", 8 * 3600))
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise exceptions.AuthenticationFailed("令牌已过期，请重新获取") from exc
    except signing.BadSignature as exc:
        raise exceptions.AuthenticationFailed("令牌无效") from exc
    user = get_user_model().objects.filter(pk=data.get("uid"), is_active=True).first()
    if user is None or _fingerprint(user) != data.get("pw"):
        raise exceptions.AuthenticationFailed("令牌已失效（用户已停用或已修改密码），请重新获取")
    return user


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization 头格式应为：Bearer <令牌>")
        return user_for_token(header[1].decode("ascii", "replace")), None

    def authenticate_header(self, request):
        return self.keyword


class LockedOut(exceptions.APIException):
    status_code = 429
    default_detail = "登录失败次数过多，该账号已暂时锁定，请稍后再试"
    default_code = "locked_out"


def _key(username: str) -> str:
    return "tracker:api-login-failures:" + hashlib.sha256(username.encode()).hexdigest()[:32]


def login(request, username: str, password: str):
    """The user for these credentials, counting failures; raises on lockout or failure."""
    limit = int(_conf("API_LOGIN_MAX_FAILURES", 5))
    period = int(_conf("API_LOGIN_LOCKOUT_SECONDS", 900))
    key = _key(username or "")
    if cache.get(key, 0) >= limit:
        raise LockedOut()
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        try:
            failures = cache.incr(key)
        except ValueError:
            cache.set(key, 1, period)
            failures = 1
        if failures >= limit:
            cache.touch(key, period)
            raise LockedOut()
        raise exceptions.AuthenticationFailed("用户名或密码错误")
    cache.delete(key)
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return user


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the bearer token in the OpenAPI schema."""

    target_class = "tracker.api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "POST /api/v1/auth/token/ 获取令牌，有效期见 expires_in（秒）",
        }
