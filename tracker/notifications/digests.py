"""Telling people: one digest of news per recipient, delivered through the outbox.

1. ``create_digests`` (inside the check's transaction) takes the episodes with news —
   ``LagAlert.objects.with_news()``: opened and never announced, escalated above the
   announced level, or closed after being announced open — and groups them by
   recipient: the district's contacts, the lead agency's contacts, and the supervision
   office's for episodes escalated to it. Each recipient gets one ``Notification`` with
   the news in sections (新增 / 升级 / 解除 / 撤销) and the episodes still open in its
   scope as a count with a link (``conf.SITE_URL`` + ``/my/``), and one
   ``Delivery`` per channel. The episodes are then marked told (``notified_state``,
   ``notified_level``), so re-running or re-evaluating a month re-sends nothing that
   did not change. Each item carries the district's 原因说明 / 整改措施 / 计划追赶完成时间
   when one was written (``review.explanations``, 1 query). Sending is queued only
   after commit. 提示-level episodes are not mailed; they show in the admin, API and
   dashboard.
2. ``deliver(delivery_id)`` (``tracker.notifications.delivery``, the outbox) claims the
   delivery with a compare-and-set and a lease before each attempt; failures are retried
   with backoff and jitter for ``DELIVERY_RETRY_HOURS``, then *failed*; an outcome the
   server may have taken on a channel that cannot de-duplicate is *unknown*, never
   resent automatically. ``last_error`` and ``last_error_at`` stay after a later success.
3. ``notify_return``: a lead agency's 退回 of a submitted cell (issue 15) is told to
   the district's contacts the same way (recorded in the review's transaction, queued
   on commit, each delivery claimed before sending).
4. ``retry_deliveries`` (beat, every minute) sweeps expired claims back into the queue
   (a worker died mid-attempt) and queues the deliveries due for a retry.

Channels (``tracker.notifications.channels``): mail over SMTP step by step, webhooks as a
POST to a host resolved and checked at send time, each attempt bounded by
``DELIVERY_DEADLINE_SECONDS`` in total; the contact's format is generic JSON (with an
``Idempotency-Key`` header) or the markdown message of a 钉钉/浙政钉 or 企业微信 group
robot. A webhook that answers with a redirect is a failure: redirects are never followed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime

from django.db import transaction
from django.db.models import Count, F, OuterRef, Value
from django.utils import timezone

from tracker.accounts.models import Role
from tracker.db.bulk import copy_create, copy_rows, copy_supported, pk_in
from tracker.monitoring.models import LagAlert
from tracker.months import format_month, month_label
from tracker.notifications.delivery import queue_deliveries
from tracker.notifications.models import Contact, Delivery, Notification
from tracker.notifications.render import (
    NEWS_ORDER,
    digest_payload,
    render_digest,
    render_markdown,
    site_url,
)
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.plans.units import column_position
from tracker.progress.models import CellState
from tracker.review.explanations import explanations_for

# --- recording -----------------------------------------------------------------------


class Recipients:
    """Who hears about an episode: its district's contacts, the project's lead agency's
    and, once it is (or was announced as) escalated to it, the supervision office's."""

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
        if max(alert.level, alert.notified_level) >= LagAlert.Level.SUPERVISION:
            out += self.supervision
        return out


def open_counts(year: int) -> tuple[Counter, Counter, int]:
    """Episodes still open (not 提示) by district, by lead agency, and escalated to 督查室
    (3 queries)."""
    active = (
        LagAlert.objects.active().filter(month__year=year).exclude(severity=LagAlert.Severity.INFO)
    )
    by_district = Counter(
        dict(active.order_by().values_list("district_id").annotate(n=Count("pk")))
    )
    by_agency = Counter(
        dict(
            active.order_by()
            .values_list("indicator__project__lead_agency_id")
            .annotate(n=Count("pk"))
        )
    )
    supervision = active.filter(level__gte=LagAlert.Level.SUPERVISION).count()
    return by_district, by_agency, supervision


DIGESTS_PER_CHUNK = 200  # digests rendered and written at once (the rest not held)


def create_digests(month: date, run_number: int, *, enqueue: bool = True) -> list[Notification]:
    """Record one digest per recipient for the episodes of ``month``'s year with news,
    and mark them told (bounded queries whatever the number of episodes: a few per
    ``DIGESTS_PER_CHUNK`` recipients).

    Memory: the episodes share one instance of each indicator (with its project) and
    district; digests are rendered, written and released ``DIGESTS_PER_CHUNK`` at a time.
    The returned notifications have their ``body`` and ``payload`` deferred (read back
    from the database when accessed), so a check of every district of a province does
    not hold every digest's text at once."""
    news = list(
        LagAlert.objects.with_news()
        .filter(month__year=month.year)
        .annotate(  # the alert's plan's column order (plan_units)
            column=column_position(
                OuterRef("indicator__project__plan_year_id"), OuterRef("district_id")
            )
        )
        .order_by(
            "indicator__project__seq", "indicator__order", "column", "district__order", "kind"
        )
    )
    if not news:
        return []
    _share_related(news)
    contacts = list(Contact.objects.filter(is_active=True).order_by("pk"))
    recipients = Recipients(contacts)
    by_contact: dict[int, list[LagAlert]] = defaultdict(list)
    contact_of = {c.pk: c for c in contacts}

    why = explanations_for(None, {(a.indicator_id, a.district_id) for a in news}, month)
    for alert in news:
        alert.news_kind = alert.news()
        alert.explanation = why.get((alert.indicator_id, alert.district_id))
        for contact in recipients(alert):
            by_contact[contact.pk].append(alert)
    now = timezone.now()
    notifications: list[Notification] = []
    delivery_ids: list[int] = []
    counts = open_counts(month.year) if by_contact else (Counter(), Counter(), 0)
    pending = list(by_contact)
    Through = Notification.alerts.through
    for start in range(0, len(pending), DIGESTS_PER_CHUNK):
        chunk = []
        for contact_id in pending[start : start + DIGESTS_PER_CHUNK]:
            contact = contact_of[contact_id]
            items = by_contact[contact_id]
            items.sort(key=_digest_order)
            still_open = _open_for(contact, counts)
            subject, body = render_digest(contact, month, items, still_open)
            payload = digest_payload(contact, month, run_number, items, still_open)
            payload["markdown"] = render_markdown(subject, contact, month, items, still_open)
            chunk.append(
                Notification(
                    contact=contact, month=month, run_number=run_number, subject=subject,
                    body=body, payload=payload, open_count=still_open, created_at=now,
                )
            )  # fmt: skip
        copy = copy_supported()  # PostgreSQL: COPY (db.bulk), the same rows
        if copy:
            copy_create(Notification, chunk)
        else:
            _bulk_create_wide(chunk, ("payload", "body"))
        links = ((n.pk, a.pk) for n in chunk for a in by_contact[n.contact_id])
        if copy:
            copy_rows(Through, ("notification", "lagalert"), links)
        else:
            Through.objects.bulk_create(Through(notification_id=n, lagalert_id=a) for n, a in links)
        delivery_ids += [d.pk for d in record_deliveries(chunk, now=now)]
        for n in chunk:  # written: read back on access, not held
            del n.__dict__["body"], n.__dict__["payload"]
        notifications += chunk
    mark_told(pk_in(LagAlert.objects.all(), [a.pk for a in news]), now=now)
    if enqueue and delivery_ids:
        transaction.on_commit(lambda: queue_deliveries(delivery_ids))
    return notifications


def _share_related(alerts: list[LagAlert]) -> None:
    """Give ``alerts`` one shared instance of each indicator (with its project) and
    district (``select_related`` would build three objects per alert): 2 queries."""
    indicators = Indicator.objects.select_related("project").in_bulk(
        {a.indicator_id for a in alerts}
    )
    districts = District.objects.in_bulk({a.district_id for a in alerts})
    for a in alerts:
        a.indicator = indicators[a.indicator_id]
        a.district = districts[a.district_id]


def record_deliveries(notifications, *, now: datetime | None = None) -> list[Delivery]:
    """One ``Delivery`` per channel of each notification's contact (email, webhook),
    recorded pending; the caller queues them after commit (``queue_deliveries``). Also
    used by the reporting reminders (``tracker.notifications.reminders``)."""
    now = now or timezone.now()
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
    return deliveries


def notify_return(cell, reviewer, *, enqueue: bool = True) -> list[Notification]:
    """Tell the district (its active contacts, same channels as the alert digests) that
    the lead agency returned ``cell`` (a ``CellReview`` just saved as 退回): indicator,
    month and reason. Called inside ``review.review_cell``'s transaction; sending is
    queued after commit and each delivery is claimed before sending, so it goes out once.
    The notification's ``run_number`` is the cell's return count (1 for the first
    return), unique per contact with ``review``. 4 queries."""
    contacts = list(
        Contact.objects.filter(is_active=True, role=Role.DISTRICT, district_id=cell.district_id)
        .select_related("district")
        .order_by("pk")
    )
    if not contacts:
        return []
    number = cell.history.filter(state=CellState.RETURNED).count() or 1
    indicator, month = cell.indicator, cell.month
    project = indicator.project
    who = getattr(reviewer, "get_full_name", lambda: "")() or getattr(reviewer, "username", "")
    subject = (
        f"【民生实事】{cell.district.name}{month_label(month)}"
        f"「{indicator.label}」被退回，请更正后重新上报"
    )[:200]
    link = site_url(f"/review/?month={format_month(month)}")
    now = timezone.now()
    notifications = []
    for contact in contacts:
        lines = [
            f"{contact.name}：",
            "",
            f"{project.lead_agency.name}审核{cell.district.name}{month_label(month)}的上报数据时，"
            f"退回了序号{project.seq}「{project.name}」的量化目标「{indicator.label}」。",
            f"退回原因：{cell.reason}",
            f"审核人：{who}，{timezone.localtime(cell.reviewed_at or now):%Y-%m-%d %H:%M}",
            "",
            f"请更正该项数据后在「审核与上报」页面重新上报本月：{link}",
        ]
        markdown = "\n\n".join(
            [
                f"### {subject}",
                f"{contact.name}：",
                f"- 项目：序号{project.seq} {project.name}",
                f"- 指标：{indicator.label}",
                f"- 月份：{month_label(month)}",
                f"- **退回原因**：{cell.reason}",
                f"> [更正后重新上报]({link})",
            ]
        )
        payload = {
            "type": "minsheng.review_returned",
            "month": f"{format_month(month)}",
            "return_number": number,
            "recipient": {"id": contact.pk, "name": contact.name, "role": contact.role},
            "project_seq": project.seq,
            "project": project.name,
            "indicator": indicator.label,
            "district": cell.district.name,
            "reason": cell.reason,
            "reviewed_by": who,
            "link": link,
            "markdown": markdown,
        }
        notifications.append(
            Notification(
                contact=contact, month=month, run_number=number, subject=subject,
                body="\n".join(lines), payload=payload, created_at=now, review=cell,
            )
        )  # fmt: skip
    Notification.objects.bulk_create(notifications)
    deliveries = record_deliveries(notifications, now=now)
    if enqueue and deliveries:
        delivery_ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: queue_deliveries(delivery_ids))
    return notifications


def _bulk_create_wide(objs: list, wide: tuple[str, ...]) -> None:
    """``bulk_create`` for rows with large text or JSON values (a digest lists every
    alert of its recipient). On PostgreSQL Django inserts many rows through
    ``UNNEST(array params)``, and psycopg escapes every quote of every element of a text
    array with a regex: seconds for a few thousand digests. Passed as ``Value``
    expressions, the values go as plain parameters of a multi-row ``VALUES`` instead
    (same statement count); the objects keep their plain values."""
    if not objs:
        return
    model = type(objs[0])
    fields = {name: model._meta.get_field(name) for name in wide}
    plain = [{name: getattr(o, name) for name in wide} for o in objs]
    for o in objs:
        for name, f in fields.items():
            setattr(o, name, Value(getattr(o, name), output_field=f))
    try:
        model.objects.bulk_create(objs)
    finally:
        for o, values in zip(objs, plain, strict=True):
            for name, value in values.items():
                setattr(o, name, value)


def mark_told(alerts, *, now: datetime | None = None) -> int:
    """Record that recipients know the current state of ``alerts`` (a queryset): what
    ``create_digests`` does after recording, and what the demo year does instead of
    notifying. Two UPDATEs."""
    now = now or timezone.now()
    told = LagAlert.Told
    n = alerts.filter(status__in=LagAlert.ACTIVE).update(
        notified_state=told.OPEN, notified_level=F("level"), notified_at=now
    )
    n += alerts.exclude(status__in=LagAlert.ACTIVE).update(
        notified_state=told.CLOSED, notified_level=F("level"), notified_at=now
    )
    return n


def _open_for(contact: Contact, counts) -> int:
    by_district, by_agency, supervision = counts
    if contact.role == Role.DISTRICT:
        return by_district.get(contact.district_id, 0)
    if contact.role == Role.AGENCY:
        return by_agency.get(contact.agency_id, 0)
    return supervision


def _digest_order(alert: LagAlert):
    rank = LagAlert.SEVERITY_RANK
    return (
        NEWS_ORDER.index(alert.news_kind),
        -alert.level,
        -rank[alert.severity],
        alert.indicator.project.seq,
        alert.indicator.order,
        getattr(alert, "column", 0),
        alert.district.order,
    )
