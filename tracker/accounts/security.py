"""Login hardening shared by the admin, the dashboard and the API token endpoint.

- **Client address** (``client_ip``): ``REMOTE_ADDR``, unless ``TRACKER_NUM_PROXIES``
  says how many reverse proxies in front of us append to ``X-Forwarded-For``; then the
  address that many hops from the right. Off (0) by default, so a client cannot pick
  its own address by sending the header. django-axes and DRF's throttles
  (``REST_FRAMEWORK["NUM_PROXIES"]``) use the same setting.
- **Lockout** (django-axes, ``AccessAttempt`` rows in the database, so every worker
  process sees them): failures are counted per *username and address together*, so a
  stranger guessing from elsewhere cannot lock the owner out. ``lockout_response``
  answers in Chinese: JSON for the API, a page for the HTML logins.
- **Tokens** are revoked when their user is deactivated or changes password
  (``revoke_on_user_change``); reactivating the user does not bring them back.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse

LOCKED_MESSAGE = (
    "登录失败次数过多，该账号在此地址已暂时锁定，请 {minutes} 分钟后再试或联系市政府督查室解锁"
)


def num_proxies() -> int:
    return int(getattr(settings, "TRACKER_NUM_PROXIES", 0) or 0)


def client_ip(request) -> str:
    """The caller's address, trusting ``X-Forwarded-For`` only behind known proxies."""
    request = getattr(request, "_request", request)  # a DRF Request wraps the Django one
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = num_proxies()
    if proxies <= 0:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]


def _minutes() -> int:
    cooloff = getattr(settings, "AXES_COOLOFF_TIME", None)
    return int(cooloff.total_seconds() // 60) if cooloff else 15


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    message = LOCKED_MESSAGE.format(minutes=_minutes())
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": message, "code": "locked_out"},
            status=429,
            json_dumps_params={"ensure_ascii": False},
        )
    body = (
        '<!doctype html><html lang="zh-hans"><meta charset="utf-8"><title>账号已暂时锁定</title>'
        f"<h1>账号已暂时锁定</h1><p>{message}</p></html>"
    )
    return HttpResponse(body, status=429, content_type="text/html; charset=utf-8")


def revoke_tokens(user) -> int:
    from knox.models import AuthToken  # knox's models: this module loads before the apps

    return AuthToken.objects.filter(user_id=user.pk).delete()[0]


def revoke_on_user_change(sender, instance, raw=False, **kwargs):
    """pre_save on the user model: a new password or deactivation revokes every token."""
    if raw or instance.pk is None:
        return
    old = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if old is None:
        return
    if old["password"] != instance.password or (old["is_active"] and not instance.is_active):
        revoke_tokens(instance)
