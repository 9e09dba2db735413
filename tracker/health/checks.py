"""Is the tracker working: database, broker, cache, and a worker and beat that are alive.

Liveness comes from a heartbeat: beat sends ``tracker.heartbeat`` every
``conf.HEARTBEAT_SECONDS`` (60 s, and once when beat starts) with the time it sent
it; the worker that runs it records that time and its own (``Heartbeat``). Each is stale
when older than ``conf.HEARTBEAT_STALE_MINUTES`` (5 minutes); anything stale or
unreachable makes the report ``degraded``.

Deliveries too: any delivery a person must look at (failed after
``DELIVERY_RETRY_HOURS``, or of unknown outcome), or one still retrying
``DELIVERY_BACKLOG_MINUTES`` after its first attempt (a mail server or webhook down for
longer than a blip), makes the report ``degraded``, with the counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from tracker import conf
from tracker.health.models import Heartbeat
from tracker.notifications.models import Delivery

#: a delivery still failing this long after its first attempt is an outage, not a blip
DELIVERY_BACKLOG_MINUTES = 15

HEARTBEAT = "celery"
OK, DEGRADED = "ok", "degraded"
BROKER_DOWN = "无法连接消息队列：beat 发不出任务，worker 收不到任务（两者都在按退避间隔重连）"


def stale_after() -> timedelta:
    return timedelta(minutes=conf.HEARTBEAT_STALE_MINUTES)


def record_heartbeat(sent_at: datetime, hostname: str = "", now: datetime | None = None) -> None:
    """Called by the worker running beat's heartbeat task: one row, overwritten."""
    Heartbeat.objects.update_or_create(
        name=HEARTBEAT,
        defaults={
            "beat_sent_at": sent_at,
            "worker_ran_at": now or timezone.now(),
            "worker_hostname": hostname[:200],
        },
    )


@dataclass
class Report:
    checks: dict[str, dict] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(check["ok"] for check in self.checks.values())

    @property
    def status(self) -> str:
        return OK if self.healthy else DEGRADED


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "backend": connection.vendor}
    except Exception as exc:  # any failure means unhealthy
        return {"ok": False, "backend": connection.vendor, "error": type(exc).__name__}


def check_broker() -> dict:
    """Open a connection to the configured broker (no message is sent)."""
    from kombu import Connection  # only when health is asked: kombu loads the transport

    url = settings.CELERY_BROKER_URL
    transport = url.split(":", 1)[0]
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    try:
        with Connection(url, transport_options=options, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "transport": transport}
    except Exception as exc:  # unreachable, refused, timed out
        return {
            "ok": False, "transport": transport, "error": type(exc).__name__,
            "reason": BROKER_DOWN,
        }  # fmt: skip


def check_cache() -> dict:
    """Ping the shared cache the throttles count in. django-redis swallows its errors
    (the API fails open), so this asks the server directly; a file cache is always up."""
    backend = settings.CACHES["default"]["BACKEND"]
    if not backend.startswith("django_redis"):
        return {"ok": True, "backend": backend.rsplit(".", 2)[-2]}
    from django_redis import get_redis_connection  # only with a Redis cache configured

    try:
        get_redis_connection("default").ping()
        return {"ok": True, "backend": "redis"}
    except Exception as exc:  # refused, timed out, auth
        return {"ok": False, "backend": "redis", "error": type(exc).__name__}


def check_heartbeat(now: datetime | None = None) -> dict[str, dict]:
    """``{"worker": …, "beat": …}`` from the recorded heartbeat."""
    now = now or timezone.now()
    limit = stale_after()
    try:
        beat = Heartbeat.objects.filter(name=HEARTBEAT).first()
    except Exception as exc:  # the database check reports the cause
        error = {"ok": False, "error": type(exc).__name__}
        return {"worker": dict(error), "beat": dict(error)}
    if beat is None:
        never = {"ok": False, "last_seen": None, "error": "尚无心跳记录"}
        return {"worker": dict(never), "beat": dict(never)}

    def entry(at: datetime, **extra) -> dict:
        age = (now - at).total_seconds()
        out = {"ok": age <= limit.total_seconds(), "last_seen": at.isoformat(), **extra}
        out["age_seconds"] = round(age)
        if not out["ok"]:
            out["error"] = f"超过 {int(limit.total_seconds() // 60)} 分钟无心跳"
        return out

    return {
        "worker": entry(beat.worker_ran_at, hostname=beat.worker_hostname),
        "beat": entry(beat.beat_sent_at),
    }


def check_deliveries(now: datetime | None = None) -> dict:
    """Failed and unknown deliveries (a person must resend them) and deliveries retrying
    for longer than ``DELIVERY_BACKLOG_MINUTES``; one query."""
    now = now or timezone.now()
    since = now - timedelta(minutes=DELIVERY_BACKLOG_MINUTES)
    try:
        counts = Delivery.objects.aggregate(
            failed=Count("pk", filter=Q(status=Delivery.Status.FAILED)),
            unknown=Count("pk", filter=Q(status=Delivery.Status.UNKNOWN)),
            retrying=Count(
                "pk", filter=Q(status=Delivery.Status.RETRYING, first_attempt_at__lt=since)
            ),
        )
    except Exception as exc:  # the database check reports the cause
        return {"ok": False, "error": type(exc).__name__}
    out = {"ok": not any(counts.values()), **counts}
    if counts["failed"] or counts["unknown"]:
        stuck = counts["failed"] + counts["unknown"]
        out["error"] = f"{stuck} 条通知发送失败或结果不明，需人工重新发送"
    elif counts["retrying"]:
        out["error"] = (
            f"{counts['retrying']} 条通知连续发送失败超过 {DELIVERY_BACKLOG_MINUTES} 分钟，正在重试"
        )
    return out


def report(now: datetime | None = None) -> Report:
    database = check_database()
    broker = check_broker()
    result = Report({"database": database, "broker": broker, "cache": check_cache()})
    result.checks.update(check_heartbeat(now))
    if not broker["ok"]:  # the likely cause of a heartbeat going stale: say so beside it
        for name in ("worker", "beat"):
            if not result.checks[name]["ok"]:
                result.checks[name]["reason"] = BROKER_DOWN
    result.checks["deliveries"] = check_deliveries(now)
    return result


# --- tasks ----------------------------------------------------------------------------


@shared_task(
    name="tracker.heartbeat", bind=True, ignore_result=True, soft_time_limit=20, time_limit=30
)
def heartbeat(self, sent_at: str) -> None:
    """Beat's liveness ping: record when beat sent it and that a worker ran it (read back
    by ``/api/health/``)."""
    record_heartbeat(datetime.fromisoformat(sent_at), hostname=self.request.hostname or "")
