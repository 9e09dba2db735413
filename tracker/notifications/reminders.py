"""Reporting reminders: before the deadline, each contact gets ONE digest of what is still
unfiled in their scope for the month being reported.

- **When**: beat runs ``tracker.send_reminders`` every day at ``CHECK_HOUR``
  (``config.celery``); it acts only from ``conf.REMINDER_DAYS_BEFORE`` (default 2)
  days before the month's deadline up to the deadline day itself
  (``reporting.days_left``), so a day missed while beat was down is caught up the next day.
- **What**: the month being reported (``reporting.reporting_month``) and its unfiled cells
  (``due.filing_states``, read once for all contacts; the same cells as ``due.unfiled``):
  a district contact hears about its district's cells, a lead agency's about its
  projects' cells, 督查室's about every cell (as counts per district). A contact with
  nothing unfiled gets nothing.
- **Once**: a reminder is a ``Notification`` with ``run_number`` 0 (``REMINDER_RUN``; lag
  checks number their runs from 1), so the existing unique constraint
  ``notification_one_per_run`` (contact, month, run) is the claim: the row is inserted in
  its own savepoint and a second run, or a second worker racing the first, hits the
  constraint and sends nothing. Deliveries go through the same channels and sending path
  as alert digests (``notifications.record_deliveries`` → ``deliver``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime

from celery import shared_task
from django.db import IntegrityError, transaction
from django.utils import timezone

from tracker import conf
from tracker.accounts.models import Role
from tracker.calendar import days_left, deadline_label, reporting_month
from tracker.months import format_month, month_label
from tracker.notifications import delivery as outbox
from tracker.notifications import digests as notifications
from tracker.notifications.models import Contact, Notification
from tracker.notifications.render import site_url
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.progress.due import FilingState, filing_states

logger = logging.getLogger(__name__)

REMINDER_RUN = 0  # Notification.run_number of a reminder (lag checks count from 1)
MAX_LINES = 60  # lines listed one by one in a digest; the rest as a count
OPEN = (FilingState.MISSING, FilingState.PENDING)

__all__ = ["REMINDER_RUN", "days_before", "is_reminder_day", "send_reminders"]


def days_before() -> int:
    return conf.REMINDER_DAYS_BEFORE


def is_reminder_day(month: date, now: datetime | None = None) -> bool:
    """From ``REMINDER_DAYS_BEFORE`` days before ``month``'s deadline to the day itself."""
    return 0 <= days_left(month, now) <= days_before()


def send_reminders(
    now: datetime | None = None, *, month: date | None = None, enqueue: bool = True
) -> list[Notification]:
    """Record (and, after commit, queue) one reminder per contact with unfiled cells in
    scope for the month being reported; returns the reminders recorded by this call."""
    now = now or timezone.now()
    month = month or reporting_month(None, now)
    if not is_reminder_day(month, now):
        return []
    unfiled = [
        (i, d) for (i, d, _), s in filing_states([month], None, now=now).items() if s in OPEN
    ]
    if not unfiled:
        return []
    done = set(
        Notification.objects.filter(month=month, run_number=REMINDER_RUN).values_list(
            "contact_id", flat=True
        )
    )
    contacts = [
        c for c in Contact.objects.filter(is_active=True).order_by("pk") if c.pk not in done
    ]
    if not contacts:
        return []
    indicators = {
        i.pk: i
        for i in Indicator.objects.filter(pk__in={i for i, _ in unfiled}).select_related("project")
    }
    districts = {d.pk: d for d in District.objects.all()}
    recorded = []
    with transaction.atomic():  # claims and their deliveries commit together
        for contact in contacts:
            cells = _in_scope(contact, unfiled, indicators)
            if not cells:
                continue
            subject, body, markdown, payload = render(contact, month, cells, indicators, districts)
            note = claim(contact, month, subject, body, {**payload, "markdown": markdown}, now)
            if note is not None:
                recorded.append(note)
        deliveries = notifications.record_deliveries(recorded, now=now)
        if enqueue and deliveries:
            ids = [d.pk for d in deliveries]
            transaction.on_commit(lambda: outbox.queue_deliveries(ids))
    return recorded


def claim(contact, month, subject, body, payload, now) -> Notification | None:
    """Insert the contact's reminder for ``month``; None if one exists (another run or
    worker claimed it first: the unique constraint decides)."""
    try:
        with transaction.atomic():
            return Notification.objects.create(
                contact=contact, month=month, run_number=REMINDER_RUN, subject=subject,
                body=body, payload=payload, open_count=payload["unfiled_count"], created_at=now,
            )  # fmt: skip
    except IntegrityError:
        logger.info("%s 的%s填报提醒已由其他任务发送，跳过", contact, month_label(month))
        return None


def _in_scope(contact: Contact, cells, indicators) -> list[tuple[int, int]]:
    if contact.role == Role.SUPERVISION:
        return list(cells)
    if contact.role == Role.DISTRICT:
        return [(i, d) for i, d in cells if d == contact.district_id]
    if contact.role == Role.AGENCY:
        return [
            (i, d) for i, d in cells if indicators[i].project.lead_agency_id == contact.agency_id
        ]
    return []


def _lines(contact, cells, indicators, districts) -> list[str]:
    """What is unfiled: a district's indicators one by one; for an agency each indicator
    with its districts; for 督查室 the count per district."""
    if contact.role == Role.DISTRICT:
        return [f"序号{indicators[i].project.seq} {indicators[i].label}" for i, _ in cells]
    if contact.role == Role.AGENCY:
        by_indicator: dict[int, list[str]] = defaultdict(list)
        for i, d in cells:
            by_indicator[i].append(districts[d].name)
        return [
            f"序号{indicators[i].project.seq} {indicators[i].label}：{'、'.join(names)}"
            for i, names in by_indicator.items()
        ]
    per_district: dict[int, int] = defaultdict(int)
    for _, d in cells:
        per_district[d] += 1
    ordered = sorted(per_district, key=lambda d: (districts[d].order, d))
    return [f"{districts[d].name}：{per_district[d]} 项" for d in ordered]


def render(contact, month, cells, indicators, districts):
    """Subject, plain-text body, robot markdown and the generic JSON payload."""
    label = deadline_label(month)
    subject = f"【民生实事】填报提醒：{month_label(month)}尚有 {len(cells)} 项未填报"
    lines = _lines(contact, cells, indicators, districts)
    shown, rest = lines[:MAX_LINES], len(lines) - MAX_LINES
    link = site_url(f"/report/{format_month(month)}/")  # 本月填报 of that month
    body = [f"{contact.name}：", "", f"{label}。截至目前，以下 {len(cells)} 项尚未填报："]
    body += [f"{n}. {line}" for n, line in enumerate(shown, start=1)]
    if rest > 0:
        body.append(f"……另有 {rest} 条，详见系统。")
    body += ["", f"请在截止日前登录民生实事跟踪系统填报：{link}"]
    markdown = [f"### {subject}", f"{contact.name}：", f"**{label}**，以下尚未填报："]
    markdown += [f"- {line}" for line in shown]
    if rest > 0:
        markdown.append(f"- ……另有 {rest} 条")
    markdown.append(f"> [登录填报]({link})")
    payload = {
        "type": "minsheng.report_reminder",
        "month": f"{format_month(month)}",
        "deadline": label,
        "recipient": {"id": contact.pk, "name": contact.name, "role": contact.role},
        "unfiled_count": len(cells),
        "link": link,
        "unfiled": [
            {
                "project_seq": indicators[i].project.seq,
                "indicator": indicators[i].label,
                "indicator_id": i,
                "district": districts[d].name,
                "district_id": d,
            }
            for i, d in cells
        ],
    }
    return subject, "\n".join(body), "\n\n".join(markdown), payload


# --- tasks ----------------------------------------------------------------------------


@shared_task(name="tracker.send_reminders", soft_time_limit=300, time_limit=360)
def send_reminders_task() -> int:
    """Reporting reminders: one digest per contact of what is still unfiled for the month
    being reported, from ``REMINDER_DAYS_BEFORE`` days before its deadline; claimed per
    contact and month, so a re-run or a second worker sends nothing twice."""
    return len(send_reminders())
