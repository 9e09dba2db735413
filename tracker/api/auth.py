"""Machine-client auth: bearer tokens stored (hashed) by django-rest-knox, and the login
that issues them, behind django-axes.

- ``POST /api/v1/auth/token/`` with username and password → a token, valid
  ``conf.API_TOKEN_MAX_AGE`` seconds (8 h by default; ``REST_KNOX["TOKEN_TTL"]``).
  Only a hash is stored, so a leaked database does not leak tokens.
- Each token is a row: a user lists their own (``GET /api/v1/auth/tokens/``) and
  revokes one (``DELETE /api/v1/auth/tokens/<key>/``); 督查室 lists and revokes
  anyone's (``tracker.accounts.permissions``: tokens are outside the policy table, so
  督查室-only beyond one's own).
- Deactivating a user or changing their password deletes their tokens
  (``tracker.accounts.security.revoke_on_user_change``); reactivation does not revive them.
- Wrong passwords are counted by django-axes per username *and* address (see
  ``tracker.accounts.security``); a locked pair gets 429 with a Chinese message, while the owner
  logging in from their own address is not affected by a stranger's failures.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework import exceptions

from tracker import conf


def token_ttl() -> timedelta:
    return timedelta(seconds=conf.API_TOKEN_MAX_AGE)


def make_token(user) -> tuple[str, int]:
    """A new bearer token for ``user`` and its lifetime in seconds."""
    ttl = token_ttl()
    _instance, token = AuthToken.objects.create(user=user, expiry=ttl)
    return token, int(ttl.total_seconds())


class BearerTokenAuthentication(TokenAuthentication):
    """knox's token check with the ``Bearer`` keyword and Chinese messages."""

    keyword = "Bearer"

    def authenticate_header(self, request):
        return self.keyword

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed as exc:
            detail = str(exc.detail)
            if "inactive" in detail.lower():
                message = "账号已停用，令牌已失效"
            elif "header" in detail.lower():
                message = "Authorization 头格式应为：Bearer <令牌>"
            else:
                message = "令牌无效、已过期或已被撤销，请重新获取"
            raise exceptions.AuthenticationFailed(message) from exc


class LockedOut(exceptions.APIException):
    status_code = 429
    default_detail = "登录失败次数过多，该账号在此地址已暂时锁定，请稍后再试或联系市政府督查室解锁"
    default_code = "locked_out"


def login(request, username: str, password: str):
    """The user for these credentials; raises on lockout (429) or failure (401).

    Goes through ``django.contrib.auth.authenticate`` with the Django request, so
    django-axes counts the failure and refuses a locked username-and-address pair."""
    django_request = getattr(request, "_request", request)
    user = authenticate(django_request, username=username, password=password)
    if getattr(django_request, "axes_locked_out", False):
        raise LockedOut()
    if user is None or not user.is_active:
        raise exceptions.AuthenticationFailed("用户名或密码错误")
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
            "description": "POST /api/v1/auth/token/ 获取令牌，有效期见 expires_in（秒）；"
            "GET /api/v1/auth/tokens/ 查看、DELETE 撤销",
        }
