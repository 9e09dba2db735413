"""Telling people: one digest per recipient per run, delivered once, retried with backoff.

1. ``create_digests`` (inside the check's transaction) gathers the alerts with news
   (``revision > notified_revision``), groups them by recipient — the district's
   contacts, the lead agency's contacts, and the supervision office's for alerts
   escalated to it — and records one ``Notification`` per recipient with one
   ``Delivery`` per channel (email, webhook). The alerts are then marked notified, so a
   repeated run has nothing to send. Sending is queued only after commit. 提示-level
   alerts (at risk: on track but the forecast misses the quota) are not mailed; they
   show in the admin, API and dashboard.
2. ``deliver(delivery_id)`` claims the delivery with a compare-and-set
   (``filter(pk=…, status__in=(pending, retrying), next_attempt_at__lte=now)
   .update(status=sending) == 1``) before sending: two workers or a redelivered task
   cannot both send it. A failure is recorded and retried after
   ``DELIVERY_RETRY_SECONDS`` × 2^(attempt−1) until ``DELIVERY_MAX_ATTEMPTS``; then the
   delivery is marked failed and shows in the admin.
3. ``due_deliveries`` (run every few minutes by beat) finds deliveries due for a retry
   and marks deliveries stuck in *sending* (a worker died mid-send) as failed for a
   person to check — they are never resent blindly.

Email goes through Django's email backend; the webhook is a JSON POST carrying an
``Idempotency-Key`` so receivers can drop repeats.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tracker.models import Contact, Delivery, LagAlert, Notification, Role
from tracker.services.numbers import plain

logger = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=15)
SEVERITY_LABEL = {"red": "红色", "yellow": "黄色", "info": "提示"}


# --- recording -----------------------------------------------------------------------


class Recipients:
    """Who hears about an alert: its district's contacts, the project's lead agency's
    and, once the alert is escalated to it, the supervision office's."""

    def __init__(self, contacts):
        self.by_district: dict[int, list[Contact]] = defaultdict(list)
        self.by_agency: dict[int, list[Contact]] = defaultdict(list)
        self.supervision: list[Contact] = []
        for c in contacts:
            if c.role == Role.DISTRICT:
                self.by_district[c.district_id].append(c)
            elif c.role == Role.AGENCY:
                self.by_agency[c.agency_id].append(c)
            elif c.role == Role.SUPERVISION:
                self.supervision.append(c)

    def __call__(self, alert: LagAlert) -> list[Contact]:
        out = self.by_district.get(alert.district_id, []) + self.by_agency.get(
            alert.indicator.project.lead_agency_id, []
        )
        if alert.level >= LagAlert.Level.SUPERVISION:
            out += self.supervision
        return out


def create_digests(
    month: date, run_number: int, alerts: list[LagAlert], *, enqueue: bool = True
) -> list[Notification]:
    """Record one digest per recipient for the alerts that have news (bounded queries)."""
    ids = [a.pk for a in alerts if a.revision > a.notified_revision]
    if not ids:
        return []
    fresh = list(
        LagAlert.objects.filter(pk__in=ids)
        .exclude(severity=LagAlert.Severity.INFO)
        .select_related("indicator__project", "district")
        .order_by("indicator__project__seq", "indicator__order", "district__order", "kind")
    )
    contacts = list(Contact.objects.filter(is_active=True).order_by("pk"))
    recipients = Recipients(contacts)
    by_contact: dict[int, list[LagAlert]] = defaultdict(list)
    contact_of = {c.pk: c for c in contacts}
    for alert in fresh:
        for contact in recipients(alert):
            by_contact[contact.pk].append(alert)
    now = timezone.now()
    notifications = []
    for contact_id, items in by_contact.items():
        contact = contact_of[contact_id]
        items.sort(key=_digest_order)
        subject, body = render_digest(contact, month, items)
        notifications.append(
            Notification(
                contact=contact,
                month=month,
                run_number=run_number,
                subject=subject,
                body=body,
                payload=digest_payload(contact, month, run_number, items),
                created_at=now,
            )
        )
    Notification.objects.bulk_create(notifications)
    Through = Notification.alerts.through
    Through.objects.bulk_create(
        [
            Through(notification_id=n.pk, lagalert_id=a.pk)
            for n in notifications
            for a in by_contact[n.contact_id]
        ]
    )
    deliveries = []
    for n in notifications:
        if n.contact.email:
            deliveries.append(
                Delivery(notification=n, channel=Delivery.Channel.EMAIL, address=n.contact.email)
            )
        if n.contact.webhook_url:
            deliveries.append(
                Delivery(
                    notification=n,
                    channel=Delivery.Channel.WEBHOOK,
                    address=n.contact.webhook_url,
                    next_attempt_at=now,
                )
            )
    Delivery.objects.bulk_create(deliveries)
    LagAlert.objects.filter(pk__in=ids).update(notified_revision=F("revision"))
    if enqueue and deliveries:
        delivery_ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: queue_deliveries(delivery_ids))
    return notifications


def _digest_order(alert: LagAlert):
    rank = LagAlert.SEVERITY_RANK
    return (
        -alert.level,
        -rank[alert.severity],
        alert.indicator.project.seq,
        alert.indicator.order,
        alert.district.order,
    )


def render_digest(contact: Contact, month: date, alerts: list[LagAlert]) -> tuple[str, str]:
    """Subject and plain-text body of a digest, in Chinese."""
    counts = defaultdict(int)
    for a in alerts:
        counts[a.severity] += 1
    summary = "、".join(
        f"{SEVERITY_LABEL[s]} {counts[s]} 项" for s in ("red", "yellow", "info") if counts[s]
    )
    subject = f"【民生实事】{month.year}年{month.month}月进度预警：{summary}"
    lines = [
        f"{contact.name}：",
        "",
        f"根据截至{month.year}年{month.month}月底的进度，以下 {len(alerts)} 项需要关注：",
        "",
    ]
    for i, a in enumerate(alerts, start=1):
        tags = [SEVERITY_LABEL[a.severity], a.get_kind_display()]
        if a.supervised:
            tags.insert(0, "挂牌督办")
        elif a.level > LagAlert.Level.DISTRICT:
            tags.append(f"已升级至{a.get_level_display()}")
        lines.append(f"{i}. 【{'·'.join(tags)}】序号{a.indicator.project.seq} {a.message}")
    lines += ["", "请登录民生实事跟踪系统查看详情，并在预警中确认处理情况。"]
    return subject, "\n".join(lines)


def digest_payload(contact: Contact, month: date, run_number: int, alerts: list[LagAlert]):
    """The webhook body: the same digest as structured data."""

    def num(v):
        return None if v is None else plain(v)

    return {
        "type": "minsheng.lag_digest",
        "month": f"{month:%Y-%m}",
        "run": run_number,
        "recipient": {"id": contact.pk, "name": contact.name, "role": contact.role},
        "alerts": [
            {
                "id": a.pk,
                "project_seq": a.indicator.project.seq,
                "project": a.indicator.project.name,
                "indicator": a.indicator.label,
                "unit": a.indicator.unit,
                "district": a.district.name,
                "kind": a.kind,
                "severity": a.severity,
                "status": a.status,
                "level": a.get_level_display(),
                "supervised": a.supervised,
                "streak": a.streak,
                "quota": num(a.quota),
                "expected": num(a.expected),
                "actual": num(a.actual),
                "gap_points": num(a.gap_points),
                "forecast": num(a.forecast),
                "message": a.message,
            }
            for a in alerts
        ],
    }


def queue_deliveries(delivery_ids) -> None:
    """Queue the sending tasks (after commit). A broker that is down is logged, not
    raised: the deliveries stay pending and the retry sweep picks them up."""
    from tracker.tasks import deliver_notification

    for pk in delivery_ids:
        try:
            deliver_notification.delay(pk)
        except Exception:  # broker unreachable; the beat sweep will retry
            logger.exception("could not queue delivery %s", pk)


# --- sending -----------------------------------------------------------------------------


class WebhookError(Exception):
    pass


def send_email(delivery: Delivery) -> None:
    n = delivery.notification
    EmailMessage(
        subject=n.subject,
        body=n.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.address],
        headers={"X-Tracker-Delivery": str(delivery.pk)},
    ).send(fail_silently=False)


def send_webhook(delivery: Delivery) -> None:
    if urlsplit(delivery.address).scheme not in ("http", "https"):
        raise WebhookError(f"Webhook 地址只支持 http/https：{delivery.address}")
    body = json.dumps(delivery.notification.payload, ensure_ascii=False, cls=DjangoJSONEncoder)
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
    timeout = float(settings.TRACKER.get("WEBHOOK_TIMEOUT_SECONDS", 10))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if not 200 <= response.status < 300:
            raise WebhookError(f"Webhook 返回 HTTP {response.status}")


SENDERS = {Delivery.Channel.EMAIL: send_email, Delivery.Channel.WEBHOOK: send_webhook}


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_in: int | None = None


def backoff_seconds(attempt: int) -> int:
    """Delay before the next try after ``attempt`` failed tries: base × 2^(attempt−1)."""
    base = int(settings.TRACKER.get("DELIVERY_RETRY_SECONDS", 60))
    return base * 2 ** max(attempt - 1, 0)


def deliver(delivery_id: int, *, now: datetime | None = None) -> Outcome | None:
    """Claim and send one delivery; None when it is not ours to send (gone, already
    claimed or sent, or not yet due)."""
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
        max_attempts = int(settings.TRACKER.get("DELIVERY_MAX_ATTEMPTS", 5))
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if delivery.attempts >= max_attempts:
            outcome = Outcome(Delivery.Status.FAILED)
            next_at = now
        else:
            delay = backoff_seconds(delivery.attempts)
            outcome = Outcome(Delivery.Status.RETRYING, delay)
            next_at = now + timedelta(seconds=delay)
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
            status=outcome.status, next_attempt_at=next_at, last_error=error
        )
        return outcome
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.SENT, sent_at=timezone.now(), last_error=""
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
