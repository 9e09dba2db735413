"""What the 挂牌督办 pages and the API read: the items a viewer sees, filtered, and one
item with its steps and files. Scoped like every read (``restrict_viewer``): a district
sees its own items, an agency the items of its projects, 督查室 and leaders what their
role reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Q

from tracker.accounts.permissions import restrict_viewer
from tracker.supervision.models import (
    State,
    SupervisionAttachment,
    SupervisionEvent,
    SupervisionItem,
)

STATE_CHOICES = State.choices


def overdue_q(today: date) -> Q:
    """已交办 and past its deadline (no 反馈 for the round)."""
    return Q(state=State.ASSIGNED, deadline__lt=today)


def visible(who):
    """The items ``who`` reads, with what a list row shows (no extra query per row)."""
    return restrict_viewer(SupervisionItem.objects.all(), who).select_related(
        "indicator__project__lead_agency",
        "district",
        "responsible_agency",
        "assigned_by",
        "closed_by",
    )


def items(
    who, *, today: date, state: str = "", district: str = "", overdue: bool = False
) -> list[SupervisionItem]:
    """The list page: open ones first (overdue first, then by deadline), then closed,
    newest first. ``district`` is a code. 1 query."""
    qs = visible(who)
    if state in State.values:
        qs = qs.filter(state=state)
    if district:
        qs = qs.filter(district__code=district)
    if overdue:
        qs = qs.filter(overdue_q(today))
    found = list(qs)
    for item in found:
        item.overdue = item.is_overdue(today)
    return sorted(
        found,
        key=lambda i: (not i.is_open, not i.overdue, i.deadline if i.is_open else date.min,
                       -i.assigned_at.timestamp()),
    )  # fmt: skip


@dataclass
class ItemPage:
    item: SupervisionItem
    events: list[SupervisionEvent]
    files: dict[int, list[SupervisionAttachment]]  # by event id


def item_page(who, pk: int) -> ItemPage | None:
    """One item with its steps (each with its files), or None outside ``who``'s scope.
    3 queries."""
    item = visible(who).filter(pk=pk).first()
    if item is None:
        return None
    events = list(item.events.select_related("by").order_by("at", "pk"))
    files: dict[int, list[SupervisionAttachment]] = {}
    for f in item.attachments.order_by("uploaded_at", "pk"):
        files.setdefault(f.event_id, []).append(f)
    for e in events:
        e.files = files.get(e.pk, [])
    return ItemPage(item=item, events=events, files=files)
