"""到期提醒 and 逾期督促 of 挂牌督办 items, through the alerts' channels and outbox.

- **When**: beat runs ``tracker.send_supervision_news`` every day at ``CHECK_HOUR``:15
  (``config.celery``). An item 已交办 (no 反馈 yet for its round) is *reminded* from
  ``conf.SUPERVISION_REMIND_DAYS`` (3) days before its deadline up to the deadline day,
  and *escalated* from the day after the deadline. A day missed while beat was down is
  caught up the next day; a reminder not sent by the deadline is not sent late (the
  escalation says more).
- **Who**: a reminder goes to the responsible unit's contacts (the district's, or the
  lead agency's for a 市本级 item); an escalation to the responsible unit, the lead
  agency and 督查室, and names the project's 分管市领导 (leaders are readers, not
  contacts: they see overdue items on the 挂牌督办 page).
- **Once per piece of news**: the item's round is claimed first with a conditional
  UPDATE (``reminded_round`` / ``escalated_round`` below the round → the round); only the
  caller whose UPDATE changed the row records the event, the notifications and their
  deliveries, in the same transaction. A second run, or a second worker, updates nothing
  and sends nothing. ``继续督办`` starts a new round with its own reminder and escalation.
  The ``Notification`` rows are also unique per (contact, item, run number) as a backstop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tracker import conf
from tracker.accounts.models import Role
from tracker.months import date_label, month_label
from tracker.notifications import delivery as outbox
from tracker.notifications.digests import record_deliveries
from tracker.notifications.models import Contact, Notification
from tracker.notifications.render import site_url
from tracker.supervision.models import State, SupervisionEvent, SupervisionItem
from tracker.supervision.process import event_month

logger = logging.getLogger(__name__)
Action = SupervisionEvent.Action


def remind_days() -> int:
    return conf.SUPERVISION_REMIND_DAYS


@dataclass
class Sent:
    """What one run recorded."""

    reminded: list[SupervisionItem] = field(default_factory=list)
    escalated: list[SupervisionItem] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)


def run_number(item: SupervisionItem, action: str) -> int:
    """The notification's run number: 2n-1 for round n's reminder, 2n for its escalation."""
    return 2 * item.round - (1 if action == Action.REMIND else 0)


def send_supervision_news(now: datetime | None = None, *, enqueue: bool = True) -> Sent:
    """Remind and escalate every item that is due today; each round's reminder and
    escalation at most once, whoever runs this and however often."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    assigned = SupervisionItem.objects.filter(state=State.ASSIGNED).select_related(
        "indicator__project__lead_agency", "district", "responsible_agency"
    )
    sent = Sent()
    due_reminders = assigned.filter(
        deadline__gte=today, deadline__lte=today + timedelta(days=remind_days())
    )
    news = [(i, Action.REMIND) for i in due_reminders.order_by("deadline", "pk")]
    news += [
        (i, Action.ESCALATE) for i in assigned.filter(deadline__lt=today).order_by("deadline", "pk")
    ]
    for item, action in news:
        claim = "reminded_round" if action == Action.REMIND else "escalated_round"
        if getattr(item, claim) >= item.round:
            continue
        with transaction.atomic():  # the claim and what it sends commit together
            if not _claim(item, claim):
                continue  # another run or worker took it
            sent.notifications += _tell(item, action, today, now, enqueue)
        (sent.reminded if action == Action.REMIND else sent.escalated).append(item)
    return sent


def _claim(item: SupervisionItem, field_name: str) -> bool:
    """Take this round's news for this caller: a conditional UPDATE that only one caller
    can win (the round, state and deadline it saw must still hold)."""
    return bool(
        SupervisionItem.objects.filter(
            pk=item.pk, state=State.ASSIGNED, round=item.round, deadline=item.deadline,
            **{f"{field_name}__lt": item.round},
        ).update(**{field_name: item.round})
    )  # fmt: skip


def recipients(item: SupervisionItem, action: str) -> list[Contact]:
    """The responsible unit's active contacts; for an escalation also the lead agency's
    and 督查室's."""
    project = item.indicator.project
    contacts = Contact.objects.filter(is_active=True).order_by("pk")
    if item.responsible_agency_id:
        unit = list(contacts.filter(role=Role.AGENCY, agency_id=item.responsible_agency_id))
    else:
        unit = list(contacts.filter(role=Role.DISTRICT, district_id=item.district_id))
    if action == Action.REMIND:
        return unit
    seen = {c.pk for c in unit}
    more = contacts.filter(
        Q(role=Role.AGENCY, agency_id=project.lead_agency_id) | Q(role=Role.SUPERVISION)
    )
    return unit + [c for c in more if c.pk not in seen]


def _tell(item, action, today: date, now: datetime, enqueue: bool) -> list[Notification]:
    """Record the event and one notification (with its deliveries) per recipient; the
    claim is already taken. Sending is queued after commit."""
    project = item.indicator.project
    days = (item.deadline - today).days
    what = f"{item.district.name}「{item.indicator.label}」（序号{project.seq} {project.name}）"
    deadline = date_label(item.deadline)
    if action == Action.REMIND:
        why = f"距整改期限（{deadline}）还有 {days} 天，尚未提交整改反馈"
        subject = f"【挂牌督办】到期提醒：{what}整改期限为{deadline}"
    else:
        why = f"已超过整改期限（{deadline}）{-days} 天，尚未提交整改反馈"
        subject = f"【挂牌督办】逾期督促：{what}已逾期 {-days} 天"
    leader = project.city_leader.strip()
    link = site_url(f"/supervision/{item.pk}/")
    lines = [
        f"{month_label(item.month)}通报挂牌督办事项：{what}",
        f"责任单位：{item.unit_name}；第 {item.round} 轮，整改期限：{deadline}。",
        why + "。",
    ]
    if item.note:
        lines.append(f"交办要求：{item.note}")
    if action == Action.ESCALATE and leader:
        lines.append(f"分管市领导：{leader}")
    lines.append(f"请登录民生实事跟踪系统填报整改反馈：{link}")
    markdown = "\n\n".join(
        [f"### {subject}", *(f"- {x}" for x in lines[:-1]), f"> [查看督办事项]({link})"]
    )
    payload = {
        "type": "minsheng.supervision_" + ("reminder" if action == Action.REMIND else "overdue"),
        "item": item.pk, "round": item.round, "project_seq": project.seq,
        "indicator": item.indicator.label, "district": item.district.name,
        "responsible_unit": item.unit_name, "deadline": item.deadline.isoformat(),
        "days_left": days, "city_leader": leader, "link": link, "markdown": markdown,
    }  # fmt: skip
    notes = []
    # inside the caller's transaction, with the claim
    SupervisionEvent.objects.create(
        item=item, action=action, old_state=item.state, new_state=item.state,
        round=item.round, at=now, month=event_month(now), why=why, deadline=item.deadline,
    )  # fmt: skip
    for contact in recipients(item, action):
        notes.append(
            Notification(
                contact=contact,
                month=item.month,
                run_number=run_number(item, action),
                subject=subject[:200],
                body="\n".join([f"{contact.name}：", "", *lines]),
                payload={
                    **payload,
                    "recipient": {"id": contact.pk, "name": contact.name, "role": contact.role},
                },
                created_at=now,
                supervision_item=item,
            )
        )
    Notification.objects.bulk_create(notes)
    deliveries = record_deliveries(notes, now=now)
    if enqueue and deliveries:
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: outbox.queue_deliveries(ids))
    logger.info("挂牌督办%s：%s（%d 个接收人）", Action(action).label, what, len(notes))
    return notes


@shared_task(name="tracker.send_supervision_news", soft_time_limit=300, time_limit=360)
def send_supervision_news_task() -> int:
    """挂牌督办 到期提醒 and 逾期督促, once per item and round (claimed on the item)."""
    sent = send_supervision_news()
    return len(sent.reminded) + len(sent.escalated)
