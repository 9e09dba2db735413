"""Sending: the delivery outbox, claimed with a lease before each attempt.

A delivery is a row first (recorded with its digest), a message second. Every attempt
claims the row with a compare-and-set (``filter(pk=…, status__in=(pending, retrying),
next_attempt_at__lte=now).update(status=sending, claimed_at=now)``): two workers, a
redelivered task or the sweep cannot both send it. Delivery is **at least once** for mail
and generic webhooks and **at most once** where the outcome is ambiguous and the channel
cannot de-duplicate (docs/operations.md, "Deliveries").

- A failure before the server could have the message (refused, unreachable, an answer
  saying it failed) is retried with exponential backoff and jitter
  (``DELIVERY_RETRY_SECONDS`` doubling, capped at ``DELIVERY_RETRY_MAX_SECONDS``) for
  ``DELIVERY_RETRY_HOURS`` from the first attempt; then the delivery is *failed*.
- A message the server may have (sent in full, never confirmed) is retried only on a
  generic JSON webhook (``Idempotency-Key``); mail and 钉钉/企业微信 robots, which cannot
  de-duplicate, become *unknown* for a person to check and resend.
- A claim is a lease: ``retry_deliveries`` (beat, every minute) puts a delivery still
  *sending* ``DELIVERY_LEASE_SECONDS`` after its claim (its worker died) back in the
  queue, or marks it *unknown* when the request had already gone out on a channel that
  cannot de-duplicate (``request_sent_at``).
- Every attempt ends by ``DELIVERY_DEADLINE_SECONDS`` (``channels.Deadline``).

Failed and unknown deliveries need a person: they make ``/api/health/`` degraded and are
counted in 督查室's header, and the admin resends them (one, or 「全部重新发送」).
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from tracker import conf
from tracker.notifications.channels import ChannelError, post_json, send_smtp
from tracker.notifications.models import Delivery, WebhookFormat
from tracker.notifications.render import site_link

logger = logging.getLogger(__name__)

WECOM_MAX_BYTES = 4000  # 企业微信 markdown content: at most 4096 bytes
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
#: retries due sooner than this go back to Celery with a countdown; later ones wait for
#: the sweep (no long-lived ETA messages in the broker)
CELERY_RETRY_WITHIN = 300
#: what a contact's owner reads about a failure (the detail is for staff and the logs)
OWNER_ERROR = "发送失败"
UNKNOWN_NOTE = "为免重复，不再自动重发；请向接收方核实，未收到的在后台「重新发送」。"


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


class Attempt:
    """One claimed attempt: what the channel tells the outbox while it sends."""

    def __init__(self, delivery_id: int):
        self.delivery_id = delivery_id
        self.done = False

    def _mine(self):
        return Delivery.objects.filter(pk=self.delivery_id, status=Delivery.Status.SENDING)

    def handing_over(self) -> None:
        """The request (or the mail's DATA) is about to go out: from here a worker that
        dies leaves an outcome nobody knows."""
        self._mine().update(request_sent_at=timezone.now())

    def accepted(self) -> None:
        """The server confirmed: recorded at once (before QUIT or anything else)."""
        if not self.done:
            self._mine().update(status=Delivery.Status.SENT, sent_at=timezone.now())
            self.done = True


def message_id(delivery: Delivery) -> str:
    """One Message-ID per delivery, the same on every attempt: a mail client or a
    mailbox that de-duplicates shows a resent copy once."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "tracker.local"
    return f"<tracker-delivery-{delivery.pk}@{domain}>"


def send_email(delivery: Delivery, attempt: Attempt) -> None:
    """Over SMTP step by step (``channels.send_smtp``) when the SMTP backend is
    configured; any other backend (console, locmem in tests) through Django."""
    n = delivery.notification
    message = EmailMessage(
        subject=n.subject,
        body=n.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.address],
        headers={"X-Tracker-Delivery": str(delivery.pk), "Message-ID": message_id(delivery)},
    )
    if settings.EMAIL_BACKEND == SMTP_BACKEND:
        send_smtp(message, before_data=attempt.handing_over, accepted=attempt.accepted)
    else:
        message.send(fail_silently=False)


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


def send_webhook(delivery: Delivery, attempt: Attempt) -> None:
    body = json.dumps(webhook_body(delivery), ensure_ascii=False, cls=DjangoJSONEncoder)
    status, answer = post_json(
        delivery.address,
        body.encode("utf-8"),
        {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": f"tracker-delivery-{delivery.pk}",
            "X-Tracker-Delivery": str(delivery.pk),
            "User-Agent": "minsheng-tracker",
        },
        before_send=attempt.handing_over,
    )
    if not 200 <= status < 300:
        raise ChannelError(f"Webhook 返回 HTTP Error {status}")
    if delivery.notification.contact.webhook_format != WebhookFormat.JSON:
        # robots answer 200 with {"errcode": 0, "errmsg": "ok"}; anything else failed
        try:
            result = json.loads(answer or b"{}")
        except ValueError as exc:
            raise ChannelError("机器人返回的不是 JSON") from exc
        if result.get("errcode", 0) != 0:
            raise ChannelError(f"机器人返回错误 {result.get('errcode')}：{result.get('errmsg')}")


SENDERS = {Delivery.Channel.EMAIL: send_email, Delivery.Channel.WEBHOOK: send_webhook}


def deduplicating() -> Q:
    """Deliveries whose receiver de-duplicates a repeat: generic JSON webhooks (they get
    an ``Idempotency-Key``). Mail and 钉钉/企业微信 robots do not."""
    return Q(channel=Delivery.Channel.WEBHOOK, notification__contact__webhook_format="json")


def _deduplicates(delivery: Delivery) -> bool:
    return (
        delivery.channel == Delivery.Channel.WEBHOOK
        and delivery.notification.contact.webhook_format == WebhookFormat.JSON
    )


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_in: int | None = None
    error: str = ""


def backoff_seconds(attempt: int) -> int:
    """Delay before the next try after ``attempt`` failed tries: base × 2^(attempt−1),
    capped, then jittered down to half at random ("equal jitter"), so the deliveries an
    outage held back do not all come back at the same second."""
    ceiling = min(
        conf.DELIVERY_RETRY_SECONDS * 2 ** min(max(attempt - 1, 0), 30),
        conf.DELIVERY_RETRY_MAX_SECONDS,
    )
    return max(1, round(ceiling / 2 + random.uniform(0, ceiling / 2)))


def give_up_at(first_attempt_at: datetime) -> datetime:
    return first_attempt_at + timedelta(hours=conf.DELIVERY_RETRY_HOURS)


def deliver(delivery_id: int, *, now: datetime | None = None) -> Outcome | None:
    """Claim and send one delivery; None when it is not ours to send (gone, already
    claimed or sent, or not yet due). A failure is recorded with its time, and the
    delivery waits for its retry (``retry_in`` seconds), is *failed* (retried for
    ``DELIVERY_RETRY_HOURS``) or *unknown* (see the module docstring); the last error
    stays visible after a later success."""
    now = now or timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id,
        status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING),
        next_attempt_at__lte=now,
    ).update(
        status=Delivery.Status.SENDING,
        claimed_at=now,
        request_sent_at=None,
        attempts=F("attempts") + 1,
        first_attempt_at=Coalesce(F("first_attempt_at"), Value(now)),
    )
    if claimed != 1:
        return None
    delivery = Delivery.objects.select_related("notification__contact").get(pk=delivery_id)
    attempt = Attempt(delivery_id)
    try:
        SENDERS[delivery.channel](delivery, attempt)
    except Exception as exc:  # any failure of the channel is recorded
        return _failed(delivery, exc)
    attempt.accepted()
    return Outcome(Delivery.Status.SENT)


def _failed(delivery: Delivery, exc: Exception) -> Outcome:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    logger.warning("delivery %s (%s) failed: %s", delivery.pk, delivery.address, error)
    failed_at = timezone.now()
    last = give_up_at(delivery.first_attempt_at or failed_at)
    if isinstance(exc, ChannelError) and exc.taken and not _deduplicates(delivery):
        outcome = Outcome(Delivery.Status.UNKNOWN, error=f"{error}\n{UNKNOWN_NOTE}")
        next_at = failed_at
    elif failed_at >= last:
        outcome = Outcome(Delivery.Status.FAILED, error=error)
        next_at = failed_at
    else:
        next_at = min(failed_at + timedelta(seconds=backoff_seconds(delivery.attempts)), last)
        delay = max(1, round((next_at - failed_at).total_seconds()))
        outcome = Outcome(Delivery.Status.RETRYING, delay, error)
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING).update(
        status=outcome.status, next_attempt_at=next_at, last_error=outcome.error,
        last_error_at=failed_at,
    )  # fmt: skip
    return outcome


def sweep_expired_claims(*, now: datetime | None = None) -> int:
    """Deliveries still *sending* a lease after their claim: their worker died. Put back
    in the queue, except where the request had gone out on a channel that cannot
    de-duplicate: *unknown*, for a person. Returns how many were re-queued."""
    now = now or timezone.now()
    expired = Delivery.objects.filter(
        status=Delivery.Status.SENDING,
        claimed_at__lt=now - timedelta(seconds=conf.DELIVERY_LEASE_SECONDS),
    )
    expired.filter(request_sent_at__isnull=False).exclude(deduplicating()).update(
        status=Delivery.Status.UNKNOWN,
        next_attempt_at=now,
        last_error_at=now,
        last_error="发送过程中断（发送进程在请求发出后退出），无法确认是否已送达。" + UNKNOWN_NOTE,
    )
    return expired.update(
        status=Delivery.Status.RETRYING,
        next_attempt_at=now,
        last_error_at=now,
        last_error="发送进程中断（领取超时），已自动重新排队",
    )


def due_deliveries(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of deliveries due for a (re)try, after expired claims are swept back."""
    now = now or timezone.now()
    sweep_expired_claims(now=now)
    return list(
        Delivery.objects.filter(
            status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING),
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def needing_a_person(queryset=None):
    """Deliveries a person must look at: failed, or of unknown outcome."""
    queryset = Delivery.objects.all() if queryset is None else queryset
    return queryset.filter(status__in=Delivery.NEEDS_A_PERSON)


def resend(deliveries) -> int:
    """Put failed (or unknown) deliveries back in the queue with a fresh retry window
    (the admin's actions); returns how many."""
    ids = list(needing_a_person(deliveries).values_list("pk", flat=True))
    count = Delivery.objects.filter(pk__in=ids, status__in=Delivery.NEEDS_A_PERSON).update(
        status=Delivery.Status.PENDING, next_attempt_at=timezone.now(), attempts=0,
        first_attempt_at=None,
    )  # fmt: skip
    if ids:
        transaction.on_commit(lambda: queue_deliveries(ids))
    return count


# --- tasks ----------------------------------------------------------------------------


@shared_task(
    bind=True,
    name="tracker.deliver_notification",
    soft_time_limit=60,  # a backstop: each attempt ends at DELIVERY_DEADLINE_SECONDS
    time_limit=90,  # below DELIVERY_LEASE_SECONDS, so a live worker's claim never expires
    max_retries=None,  # the service decides (DELIVERY_RETRY_HOURS)
)
def deliver_notification(self, delivery_id: int) -> str | None:
    """Send one delivery (claimed first) on the ``deliveries`` queue; a retry due soon
    goes back to Celery with a countdown, a later one waits for the sweep."""
    try:
        outcome = deliver(delivery_id)
    except SoftTimeLimitExceeded:  # left *sending*; the sweep takes it when the lease ends
        return "timeout"
    if outcome is None:
        return None
    if outcome.retry_in is not None and outcome.retry_in <= CELERY_RETRY_WITHIN:
        raise self.retry(countdown=outcome.retry_in)
    return str(outcome.status)


@shared_task(name="tracker.retry_deliveries", soft_time_limit=60, time_limit=90)
def retry_deliveries() -> int:
    """Sweep (default queue, every minute): expired claims back in the queue, and every
    delivery due for a retry queued (also any whose task was lost)."""
    return queue_deliveries(due_deliveries())
