"""Telling people: one digest of news per recipient, delivered once, retried by Celery.

1. ``create_digests`` (inside the check's transaction) takes the episodes with news —
   ``LagAlert.objects.with_news()``: opened and never announced, escalated above the
   announced level, or closed after being announced open — and groups them by
   recipient: the district's contacts, the lead agency's contacts, and the supervision
   office's for episodes escalated to it. Each recipient gets one ``Notification`` with
   the news in sections (新增 / 升级 / 解除 / 撤销) and the episodes still open in its
   scope as a count with a link (``TRACKER["SITE_URL"]`` + ``/my/``), and one
   ``Delivery`` per channel. The episodes are then marked told (``notified_state``,
   ``notified_level``), so re-running or re-evaluating a month re-sends nothing that
   did not change. Each item carries the district's 原因说明 / 整改措施 / 计划追赶完成时间
   when one was written (``selectors.explanations``, 1 query). Sending is queued only
   after commit. 提示-level episodes are not mailed; they show in the admin, API and
   dashboard.
2. ``deliver(delivery_id)`` claims the delivery with a compare-and-set
   (``filter(pk=…, status__in=(pending, retrying), next_attempt_at__lte=now)
   .update(status=sending) == 1``) before sending: two workers or a redelivered task
   cannot both send it. A failure is recorded (``last_error`` and ``last_error_at``
   stay after a later success) and the task retries with ``self.retry(countdown=…)``
   after ``DELIVERY_RETRY_SECONDS`` × 2^(attempt−1) until ``DELIVERY_MAX_ATTEMPTS``;
   then the delivery is marked failed and shows in the admin.
3. ``notify_return``: a lead agency's 退回 of a submitted cell (issue 15) is told to
   the district's contacts the same way (recorded in the review's transaction, queued
   on commit, each delivery claimed before sending).
4. ``due_deliveries`` (run every few minutes by beat) finds deliveries due for a retry
   and marks deliveries stuck in *sending* (a worker died mid-send) as failed for a
   person to check — they are never resent blindly.

Channels: email through Django's email backend (``EMAIL_TIMEOUT`` bounds a mail server
that never answers); webhooks as a POST with ``WEBHOOK_TIMEOUT_SECONDS``, in the
contact's format: generic JSON (with an ``Idempotency-Key`` header), or the markdown
message of a 钉钉/浙政钉 or 企业微信 group robot. A webhook that answers with a redirect
is a failure: redirects are never followed.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, F, OuterRef, Value
from django.utils import timezone

from tracker.accounts.models import Role
from tracker.db.bulk import copy_create, copy_rows, copy_supported, pk_in
from tracker.monitoring.models import LagAlert
from tracker.notifications.models import Contact, Delivery, Notification, WebhookFormat
from tracker.numbers import plain
from tracker.plans.units import column_position

logger = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=15)
SEVERITY_LABEL = {"red": "红色", "yellow": "黄色", "info": "提示"}
NEWS_ORDER = ("opened", "escalated", "resolved", "superseded")
NEWS_LABEL = {"opened": "新增预警", "escalated": "预警升级", "resolved": "已解除",
              "superseded": "已撤销（数据更正）"}  # fmt: skip
WECOM_MAX_BYTES = 4000  # 企业微信 markdown content: at most 4096 bytes


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
    from tracker.review.explanations import explanations_for

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
        copy = copy_supported()  # PostgreSQL: COPY (services.bulk), the same rows
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
    from tracker.plans.models import Indicator
    from tracker.plans.reference import District

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
    from tracker.months import month_label
    from tracker.progress.models import CellState

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
    link = site_url(f"/review/?month={month:%Y-%m}")
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
            "month": f"{month:%Y-%m}",
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


def site_url(path: str) -> str:
    """``TRACKER["SITE_URL"]`` + ``path`` (a page of the dashboard)."""
    return settings.TRACKER.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/") + path


def site_link() -> str:
    """Where recipients read the still-open alerts (我的待办)."""
    return site_url("/my/")


# get_kind_display / get_level_display without a model method call per alert and digest
KIND_LABEL = dict(LagAlert.Kind.choices)
LEVEL_LABEL = dict(LagAlert.Level.choices)


def _label(labels: dict, value) -> str:
    return str(labels.get(value, value))


def _tags(a: LagAlert) -> str:
    """「红·进度滞后·已升级至牵头单位」; once per alert a check (kept on the instance: the
    alert is in several digests, each rendered twice, text and markdown)."""
    text = getattr(a, "_tags", None)
    if text is None:
        tags = [SEVERITY_LABEL[a.severity], _label(KIND_LABEL, a.kind)]
        if a.supervised:
            tags.insert(0, "挂牌督办")
        elif a.level > LagAlert.Level.DISTRICT:
            tags.append(f"已升级至{_label(LEVEL_LABEL, a.level)}")
        a._tags = text = "·".join(tags)
    return text


def _explanation(alert: LagAlert) -> str:
    """The district's 原因说明 / 整改措施 / 计划追赶完成时间 for the alert's cell, as one
    line ("" when none was written; see ``selectors.explanations``)."""
    x = getattr(alert, "explanation", None)
    if x is None:
        return ""
    d = x.catch_up_by
    return (
        f"原因说明：{x.reason}；整改措施：{x.measures}；"
        f"计划追赶完成时间：{d.year}年{d.month}月{d.day}日"
    )


def _sections(alerts: list[LagAlert]):
    for kind in NEWS_ORDER:
        items = [a for a in alerts if a.news_kind == kind]
        if items:
            yield kind, items


def render_digest(
    contact: Contact, month: date, alerts: list[LagAlert], still_open: int = 0
) -> tuple[str, str]:
    """Subject and plain-text body of a digest, in Chinese: the news, then the count of
    episodes still open with a link."""
    counts = Counter(a.news_kind for a in alerts)
    summary = "、".join(f"{NEWS_LABEL[k]} {counts[k]} 项" for k in NEWS_ORDER if counts[k])
    subject = f"【民生实事】{month.year}年{month.month}月进度预警变化：{summary}"
    lines = [f"{contact.name}：", "", f"根据截至{month.year}年{month.month}月底的进度："]
    for kind, items in _sections(alerts):
        lines += ["", f"{NEWS_LABEL[kind]}（{len(items)} 项）："]
        for i, a in enumerate(items, start=1):
            lines.append(f"{i}. 【{_tags(a)}】序号{a.indicator.project.seq} {a.message}")
            if kind != "resolved" and _explanation(a):
                lines.append(f"   {_explanation(a)}")
    lines += [
        "",
        f"目前仍未解除的预警共 {still_open} 项（不再逐条重复），详见 {site_link()}",
        "请登录民生实事跟踪系统查看详情，并在预警中确认处理情况。",
    ]
    return subject, "\n".join(lines)


def render_markdown(
    subject: str, contact: Contact, month: date, alerts: list[LagAlert], still_open: int
) -> str:
    """The digest as robot-webhook markdown (钉钉/浙政钉, 企业微信)."""
    lines = [f"### {subject}", f"{contact.name}："]
    for kind, items in _sections(alerts):
        lines.append(f"#### {NEWS_LABEL[kind]}（{len(items)} 项）")
        lines += [
            f"- **{_tags(a)}** 序号{a.indicator.project.seq} {a.message}"
            + (f"（{_explanation(a)}）" if kind != "resolved" and _explanation(a) else "")
            for a in items
        ]
    lines.append(f"> 目前仍未解除 {still_open} 项，[查看详情]({site_link()})")
    return "\n\n".join(lines)


def digest_payload(
    contact: Contact, month: date, run_number: int, alerts: list[LagAlert], still_open: int = 0
):
    """The generic webhook body: the same digest as structured data."""
    return {
        "type": "minsheng.lag_digest",
        "month": f"{month:%Y-%m}",
        "run": run_number,
        "recipient": {"id": contact.pk, "name": contact.name, "role": contact.role},
        "still_open": still_open,
        "link": site_link(),
        "alerts": [_alert_item(a) for a in alerts],
    }


def _alert_item(a: LagAlert) -> dict:
    """One alert as the digest payload lists it. An alert is in several digests (its
    district's, its lead agency's, 督查室's): its item is built once a check and shared
    (``_digest_item`` on the instance; the news and explanation are set before)."""
    item = getattr(a, "_digest_item", None)
    if item is not None:
        return item

    def num(v):
        return None if v is None else plain(v)

    a._digest_item = item = {
        "id": a.pk,
        "news": a.news_kind,
        "project_seq": a.indicator.project.seq,
        "project": a.indicator.project.name,
        "indicator": a.indicator.label,
        "unit": a.indicator.unit,
        "district": a.district.name,
        "kind": a.kind,
        "severity": a.severity,
        "status": a.status,
        "since": f"{a.month:%Y-%m}",
        "level": _label(LEVEL_LABEL, a.level),
        "supervised": a.supervised,
        "streak": a.streak,
        "quota": num(a.quota),
        "expected": num(a.expected),
        "actual": num(a.actual),
        "gap_points": num(a.gap_points),
        "forecast": num(a.forecast),
        "message": a.message,
        "explanation": None
        if getattr(a, "explanation", None) is None
        else {
            "month": f"{a.explanation.month:%Y-%m}",
            "reason": a.explanation.reason,
            "measures": a.explanation.measures,
            "catch_up_by": a.explanation.catch_up_by.isoformat(),
        },
    }
    return item


def queue_deliveries(delivery_ids) -> int:
    """Queue the sending tasks (after commit) on the ``deliveries`` queue; returns how
    many were queued. A broker that is down is one warning line, not a traceback per
    delivery: the rest are not tried, they stay pending and the beat sweep
    (``retry_deliveries``) picks them up."""
    from tracker.tasks import deliver_notification

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
    timeout = float(settings.TRACKER.get("WEBHOOK_TIMEOUT_SECONDS", 10))
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
    base = int(settings.TRACKER.get("DELIVERY_RETRY_SECONDS", 60))
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
        max_attempts = int(settings.TRACKER.get("DELIVERY_MAX_ATTEMPTS", 5))
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
