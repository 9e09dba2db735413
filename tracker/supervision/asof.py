"""挂牌督办 as it stood at the end of a month: what every page for month M shows.

An item counts for M when it was 交办'd by the end of M (local time) and not 销号 by
then; its state then is the last step taken by then. So the September scorecard never
marks a cell that was only 交办'd in October, and an item closed in November still shows
for October. ``LagAlert.supervised`` is not read here: it is the alert engine's proposal
(escalated to 督查室), not a 挂牌督办.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time

from django.db.models import Count, Max, Q
from django.utils import timezone

from tracker.months import add_months
from tracker.supervision.models import SupervisionEvent, SupervisionItem


def end_of(month: date) -> datetime:
    """The first instant after ``month`` (local time)."""
    return timezone.make_aware(datetime.combine(add_months(month, 1), time.min))


def in_force_q(month: date) -> Q:
    """Items 交办'd by the end of ``month`` and not 销号 by then."""
    end = end_of(month)
    return Q(assigned_at__lt=end) & (Q(closed_at__isnull=True) | Q(closed_at__gte=end))


def in_force(month: date, queryset=None):
    qs = SupervisionItem.objects.all() if queryset is None else queryset
    return qs.filter(in_force_q(month))


def supervised_cells(month: date, cells: Iterable[tuple[int, int]] | None = None) -> set:
    """(indicator_id, district_id) of the cells under 挂牌督办 at the end of ``month``,
    city-wide (``cells``: only those). 1 query."""
    qs = in_force(month)
    if cells is not None:
        cells = list(cells)
        if not cells:
            return set()
        qs = qs.filter(
            indicator_id__in={i for i, _ in cells}, district_id__in={d for _, d in cells}
        )
    return set(qs.values_list("indicator_id", "district_id"))


def items_as_of(month: date, queryset=None) -> list[SupervisionItem]:
    """The items in force at the end of ``month``, plan order, each with ``state_then``,
    ``deadline_then`` and ``round_then`` (from its steps up to then) and ``assigned_on``
    (local date). 2 queries (1 when there are none)."""
    items = list(
        in_force(month, queryset)
        .select_related("indicator__project__lead_agency", "district", "responsible_agency")
        .order_by("indicator__project__seq", "indicator__order", "district__order")
    )
    end = end_of(month)
    last: dict[int, SupervisionEvent] = {}
    deadline: dict[int, date] = {}
    steps = SupervisionEvent.objects.filter(item__in=[i.pk for i in items], at__lt=end).exclude(
        action__in=(SupervisionEvent.Action.REMIND, SupervisionEvent.Action.ESCALATE)
    )
    for e in steps.order_by("at", "pk"):
        last[e.item_id] = e
        if e.deadline is not None:
            deadline[e.item_id] = e.deadline
    for item in items:
        step = last.get(item.pk)
        item.state_then = step.new_state if step else item.state
        item.round_then = step.round if step else item.round
        item.deadline_then = deadline.get(item.pk, item.deadline)
        item.assigned_on = timezone.localdate(item.assigned_at)
        item.state_then_label = dict(SupervisionItem._meta.get_field("state").choices).get(
            item.state_then, ""
        )
    return items


def version(month: date) -> str:
    """Changes whenever a step up to the end of ``month`` changes (the notice's cache
    key). 1 query."""
    agg = SupervisionEvent.objects.filter(at__lt=end_of(month)).aggregate(
        n=Count("pk"), t=Max("at")
    )
    return f"{agg['n']}:{agg['t']}"
