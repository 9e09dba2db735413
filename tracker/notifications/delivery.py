"""Sending: the delivery outbox, claimed before each attempt, retried by Celery.

``deliver(delivery_id)`` claims the delivery with a compare-and-set
(``filter(pk=…, status__in=(pending, retrying), next_attempt_at__lte=now)
.update(status=sending) == 1``) before sending: two workers or a redelivered task cannot
both send it. A failure is recorded and the task retries after ``DELIVERY_RETRY_SECONDS``
× 2^(attempt−1) until ``DELIVERY_MAX_ATTEMPTS``; then the delivery is marked failed and
shows in the admin. ``due_deliveries`` (beat, every few minutes) finds deliveries due for
a retry and marks deliveries stuck in *sending* as failed for a person to check.

Channels: email through Django's email backend (``EMAIL_TIMEOUT``); webhooks as a POST
with ``WEBHOOK_TIMEOUT_SECONDS``, in the contact's format (generic JSON with an
``Idempotency-Key`` header, or a 钉钉/企业微信 group robot's markdown). Redirects are
never followed.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tracker import conf
from tracker.notifications.models import Delivery, WebhookFormat
from tracker.notifications.render import site_link

logger = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=15)
WECOM_MAX_BYTES = 4000  # 企业微信 markdown content: at most 4096 bytes


def queue_deliveries(delivery_ids) -> int:
    """Queue the sending tasks (after commit) on the ``deliveries`` queue; returns how
    many were queued. A broker that is down is one warning line, not a traceback per
    delivery: the rest are not tried, they stay pending and the beat sweep
    (``retry_deliveries``) picks them up."""
    delivery_ids = list(delivery_ids)
    if not delivery_ids:
        return 0
    done = 0
    try:
        with deliver_notification.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)  # one try, not kombu's backoff
            for pk in delivery_ids:
                deliver_notification.apply_async((pk,), connection=connection, retry=False)
                done += 1
    except Exception as exc:  # broker unreachable; the beat sweep will retry
        logger.warning(
            "消息队列不可用（%s: %s），%d 条通知保持待发送，将由定时重试发送",
            type(exc).__name__,
            (str(exc).splitlines() or [""])[0],
            len(delivery_ids) - done,
        )
    return done


# --- sending -----------------------------------------------------------------------------


class WebhookError(Exception):
    pass


def send_email(delivery: Delivery) -> None:
    """Send by Django's email backend; ``EMAIL_TIMEOUT`` bounds a silent mail server."""
    n = delivery.notification
    EmailMessage(
        subject=n.subject,
        body=n.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.address],
        headers={"X-Tracker-Delivery": str(delivery.pk)},
    ).send(fail_silently=False)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook URL that redirects is refused, never followed (it could point the
    digest anywhere)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise WebhookError(f"Webhook 地址返回重定向 HTTP {code}（{newurl}），未跟随；请更正地址")


_opener = urllib.request.build_opener(_NoRedirect)


def webhook_body(delivery: Delivery) -> dict:
    """The body for the contact's webhook format: generic JSON, or the markdown message
    of a 钉钉/浙政钉 or 企业微信 group robot."""
    n = delivery.notification
    payload = dict(n.payload)
    markdown = payload.pop("markdown", "") or n.body
    fmt = n.contact.webhook_format
    if fmt == WebhookFormat.DINGTALK:
        return {"msgtype": "markdown", "markdown": {"title": n.subject, "text": markdown}}
    if fmt == WebhookFormat.WECOM:
        data = markdown.encode("utf-8")
        if len(data) > WECOM_MAX_BYTES:
            tail = f"\n\n> 内容过长，[请在系统中查看]({site_link()})"
            keep = WECOM_MAX_BYTES - len(tail.encode("utf-8"))
            markdown = data[:keep].decode("utf-8", errors="ignore") + tail
        return {"msgtype": "markdown", "markdown": {"content": markdown}}
    return payload


def send_webhook(delivery: Delivery) -> None:
    if urlsplit(delivery.address).scheme not in ("http", "https"):
        raise WebhookError(f"Webhook 地址只支持 http/https：{delivery.address}")
    body = json.dumps(webhook_body(delivery), ensure_ascii=False, cls=DjangoJSONEncoder)
    request = urllib.request.Request(
        delivery.address,
        data=body.encode("utf-8"),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": f"tracker-delivery-{delivery.pk}",
            "X-Tracker-Delivery": str(delivery.pk),
            "User-Agent": "minsheng-tracker",
        },
    )
    timeout = conf.WEBHOOK_TIMEOUT_SECONDS
    with _opener.open(request, timeout=timeout) as response:
        if not 200 <= response.status < 300:
            raise WebhookError(f"Webhook 返回 HTTP {response.status}")
        answer = response.read(65536)
    if delivery.notification.contact.webhook_format != WebhookFormat.JSON:
        # robots answer 200 with {"errcode": 0, "errmsg": "ok"}; anything else failed
        try:
            result = json.loads(answer or b"{}")
        except ValueError as exc:
            raise WebhookError("机器人返回的不是 JSON") from exc
        if result.get("errcode", 0) != 0:
            raise WebhookError(f"机器人返回错误 {result.get('errcode')}：{result.get('errmsg')}")


SENDERS = {Delivery.Channel.EMAIL: send_email, Delivery.Channel.WEBHOOK: send_webhook}


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_in: int | None = None
    error: str = ""


def backoff_seconds(attempt: int) -> int:
    """Delay before the next try after ``attempt`` failed tries: base × 2^(attempt−1)."""
    base = conf.DELIVERY_RETRY_SECONDS
    return base * 2 ** max(attempt - 1, 0)


def deliver(delivery_id: int, *, now: datetime | None = None) -> Outcome | None:
    """Claim and send one delivery; None when it is not ours to send (gone, already
    claimed or sent, or not yet due). A failure is recorded with its time and the
    delivery waits for its retry (``retry_in`` seconds) or is marked failed; the last
    error stays visible after a later success."""
    now = now or timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id,
        status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING),
        next_attempt_at__lte=now,
    ).update(status=Delivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        return None
    delivery = Delivery.objects.select_related("notification__contact").get(pk=delivery_id)
    try:
        SENDERS[delivery.channel](delivery)
    except Exception as exc:  # any failure of the channel is recorded and retried
        logger.warning("delivery %s failed: %s", delivery_id, exc)
        max_attempts = conf.DELIVERY_MAX_ATTEMPTS
        error = f"{type(exc).__name__}: {exc}"[:2000]
        failed_at = timezone.now()
        if delivery.attempts >= max_attempts:
            outcome = Outcome(Delivery.Status.FAILED, error=error)
            next_at = failed_at
        else:
            delay = backoff_seconds(delivery.attempts)
            outcome = Outcome(Delivery.Status.RETRYING, delay, error)
            next_at = failed_at + timedelta(seconds=delay)
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
            status=outcome.status, next_attempt_at=next_at, last_error=error,
            last_error_at=failed_at,
        )  # fmt: skip
        return outcome
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.SENT, sent_at=timezone.now()
    )
    return Outcome(Delivery.Status.SENT)


def due_deliveries(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of deliveries due for a (re)try; stuck *sending* ones are marked failed."""
    now = now or timezone.now()
    Delivery.objects.filter(
        status=Delivery.Status.SENDING, claimed_at__lt=now - STUCK_AFTER
    ).update(
        status=Delivery.Status.FAILED,
        last_error="发送过程中断，无法确认是否已送达；请核实后在后台选择“重新发送”。",
    )
    return list(
        Delivery.objects.filter(
            status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING),
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def resend(deliveries) -> int:
    """Put failed deliveries back in the queue (an admin action); returns how many."""
    ids = list(deliveries.filter(status=Delivery.Status.FAILED).values_list("pk", flat=True))
    count = Delivery.objects.filter(pk__in=ids, status=Delivery.Status.FAILED).update(
        status=Delivery.Status.PENDING, next_attempt_at=timezone.now(), attempts=0
    )
    if ids:
        transaction.on_commit(lambda: queue_deliveries(ids))
    return count


# --- tasks ----------------------------------------------------------------------------


@shared_task(
    bind=True,
    name="tracker.deliver_notification",
    soft_time_limit=60,
    time_limit=90,
    max_retries=None,  # the service counts attempts (DELIVERY_MAX_ATTEMPTS)
)
def deliver_notification(self, delivery_id: int) -> str | None:
    """Send one delivery (claimed first); on failure retry with Celery's own retry after
    the backoff the service computed."""
    try:
        outcome = deliver(delivery_id)
    except SoftTimeLimitExceeded:  # left *sending*; the sweep marks it for a person
        return "timeout"
    if outcome is None:
        return None
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return str(outcome.status)


@shared_task(name="tracker.retry_deliveries", soft_time_limit=60, time_limit=90)
def retry_deliveries() -> int:
    """Sweep: queue deliveries due for a retry (and any whose task was lost)."""
    return queue_deliveries(due_deliveries())
