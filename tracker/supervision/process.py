"""The 挂牌督办 state machine: 交办, 整改反馈, 销号, 继续督办 (see ``models``).

Who may (on top of seeing the item at all, ``restrict``):

- 交办, 销号, 继续督办: 市政府督查室 only (a superuser counts as 督查室);
- 整改反馈: the responsible unit (the district's users, or for a 市本级 item the lead
  agency's) or 督查室 on its behalf;
- leaders read only.

Each step checks the state under a row lock and writes the item, one
``SupervisionEvent`` (who, when, why) and a simple-history row together; a refused step
raises ``Refused`` with the reason in Chinese and changes nothing. ``now`` is injectable
(tests pin the clock).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from tracker.accounts.permissions import scope_for
from tracker.monitoring.models import LagEvaluation
from tracker.months import first_of_month, month_label
from tracker.plans.reference import District
from tracker.review.attachments import checked_file
from tracker.review.workflow import ReviewRejected, stamp_history
from tracker.supervision.models import (
    OPEN_STATES,
    State,
    SupervisionAttachment,
    SupervisionEvent,
    SupervisionItem,
)

Action = SupervisionEvent.Action
MAX_FILES = 10  # 佐证材料 per 反馈
ONLY_SUPERVISION = "只有市政府督查室可以{what}挂牌督办事项"


class Refused(Exception):
    """A step that is not allowed, with the reason (Chinese); nothing was changed."""


def event_month(at: datetime) -> date:
    """The month (first day, local time) a step happened in."""
    return first_of_month(timezone.localdate(at))


def _today(now: datetime) -> date:
    return timezone.localdate(now)


def _require_supervision(user, what: str) -> None:
    if not scope_for(user).is_supervision:
        raise Refused(ONLY_SUPERVISION.format(what=what))


def is_responsible(user, item: SupervisionItem) -> bool:
    """Is ``user`` of the item's responsible unit (the district, or the lead agency of a
    市本级 item)?"""
    scope = scope_for(user)
    if item.responsible_agency_id:
        return scope.is_agency and scope.agency_id == item.responsible_agency_id
    return scope.is_district and scope.district_id == item.district_id


def may_feedback(user, item: SupervisionItem) -> bool:
    return scope_for(user).is_supervision or is_responsible(user, item)


def _text(value: str, what: str, limit: int = 2000) -> str:
    value = (value or "").strip()
    if not value:
        raise Refused(f"请填写{what}")
    if len(value) > limit:
        raise Refused(f"{what}过长（最多 {limit} 个字）")
    return value


def _deadline(value, today: date) -> date:
    if not isinstance(value, date):
        raise Refused("请填写整改期限")
    if value <= today:
        raise Refused(f"整改期限应晚于今天（{today:%Y-%m-%d}）")
    return value


def _event(item, action, old_state, user, why, now, deadline=None) -> SupervisionEvent:
    return SupervisionEvent.objects.create(
        item=item, action=action, old_state=old_state, new_state=item.state, round=item.round,
        at=now, month=event_month(now), by=user if getattr(user, "pk", None) else None, why=why,
        deadline=deadline,
    )  # fmt: skip


def _locked(item: SupervisionItem, expected: State, what: str) -> SupervisionItem:
    """The item re-read under a row lock, in the state the step starts from."""
    fresh = SupervisionItem.objects.select_for_update().get(pk=item.pk)
    if fresh.state != expected:
        raise Refused(
            f"该督办事项当前为「{fresh.get_state_display()}」，不能{what}"
            f"（只有「{expected.label}」的事项可以{what}）"
        )
    return fresh


def open_item(indicator_id: int, district_id: int) -> SupervisionItem | None:
    return SupervisionItem.objects.filter(
        indicator_id=indicator_id, district_id=district_id, state__in=OPEN_STATES
    ).first()


def assign(
    user, indicator, district: District, month: date, *, deadline, note: str = "",
    now: datetime | None = None,
) -> SupervisionItem:  # fmt: skip
    """交办 a cell of ``month``'s notice: the responsible unit, a deadline and a note."""
    now = now or timezone.now()
    _require_supervision(user, "交办")
    deadline = _deadline(deadline, _today(now))
    note = (note or "").strip()[:2000]
    if not LagEvaluation.objects.filter(
        indicator=indicator, district=district, month=month
    ).exists():
        raise Refused(
            f"{district.name}「{indicator.label}」在{month_label(month)}没有进度检查结果，不能交办"
        )
    existing = open_item(indicator.pk, district.pk)
    if existing is not None:
        raise Refused(
            f"{district.name}「{indicator.label}」已有未销号的挂牌督办事项"
            f"（{existing.get_state_display()}），不能重复交办"
        )
    agency = indicator.project.lead_agency if district.kind == District.Kind.CITY else None
    item = SupervisionItem(
        indicator=indicator, district=district, month=month, state=State.ASSIGNED,
        responsible_agency=agency, deadline=deadline, note=note, assigned_at=now,
        assigned_by=user, updated_at=now,
    )  # fmt: skip
    try:
        with transaction.atomic():
            stamp_history(item, user, "交办").save()
            _event(item, Action.ASSIGN, "", user, note, now, deadline)
    except IntegrityError as exc:  # another 交办 of the same cell won the race
        raise Refused(
            f"{district.name}「{indicator.label}」已有未销号的挂牌督办事项，不能重复交办"
        ) from exc
    return item


def feedback(
    user, item: SupervisionItem, text: str, files=(), *, now: datetime | None = None
) -> SupervisionEvent:
    """整改反馈 by the responsible unit (or 督查室): text and 佐证材料 files
    (``[(name, content)]``, checked like a report's)."""
    now = now or timezone.now()
    if not may_feedback(user, item):
        raise Refused(f"只有责任单位（{item.unit_name}）或市政府督查室可以填报该事项的整改反馈")
    text = _text(text, "整改反馈内容")
    files = list(files)
    if len(files) > MAX_FILES:
        raise Refused(f"一次最多上传 {MAX_FILES} 个佐证材料")
    try:
        checked = [checked_file(name, content) for name, content in files]
    except ReviewRejected as exc:
        raise Refused(str(exc)) from exc
    stored = []
    try:
        with transaction.atomic():
            fresh = _locked(item, State.ASSIGNED, "填报整改反馈")
            fresh.state, fresh.updated_at = State.REPORTED, now
            stamp_history(fresh, user, "整改反馈").save()
            event = _event(fresh, Action.FEEDBACK, State.ASSIGNED, user, text, now)
            for shown, kind, data in checked:
                doc = SupervisionAttachment(
                    item=fresh, event=event, original_name=shown, kind=kind, size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(), uploaded_by=event.by,
                    uploaded_at=now,
                )  # fmt: skip
                path = f"attachments/supervision/{now:%Y/%m}/{uuid.uuid4().hex}.{kind}"
                doc.file.save(path, ContentFile(data), save=False)
                stored.append(doc.file)
                doc.save()
    except Exception:
        for f in stored:  # refused or failed: no file left behind
            f.storage.delete(f.name)
        raise
    item.refresh_from_db()
    return event


def close(user, item: SupervisionItem, reason: str, *, now: datetime | None = None):
    """销号 after a 反馈, with the reason (督查室)."""
    now = now or timezone.now()
    _require_supervision(user, "销号")
    reason = _text(reason, "销号理由")
    with transaction.atomic():
        fresh = _locked(item, State.REPORTED, "销号")
        fresh.state, fresh.updated_at = State.CLOSED, now
        fresh.closed_at, fresh.closed_by, fresh.close_reason = now, user, reason
        stamp_history(fresh, user, f"销号：{reason}"[:100]).save()
        event = _event(fresh, Action.CLOSE, State.REPORTED, user, reason, now)
    item.refresh_from_db()
    return event


def keep_open(user, item: SupervisionItem, reason: str, *, deadline, now: datetime | None = None):
    """继续督办 after a 反馈 that does not settle it: back to 已交办 with a new deadline
    and the reason; a new round (its own reminder and escalation)."""
    now = now or timezone.now()
    _require_supervision(user, "继续督办")
    reason = _text(reason, "继续督办理由")
    deadline = _deadline(deadline, _today(now))
    with transaction.atomic():
        fresh = _locked(item, State.REPORTED, "继续督办")
        fresh.state, fresh.updated_at = State.ASSIGNED, now
        fresh.deadline, fresh.round = deadline, fresh.round + 1
        stamp_history(fresh, user, f"继续督办：{reason}"[:100]).save()
        event = _event(fresh, Action.KEEP_OPEN, State.REPORTED, user, reason, now, deadline)
    item.refresh_from_db()
    return event
