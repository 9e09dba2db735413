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

from django.db.models import BooleanField, Count, ExpressionWrapper, Max, OuterRef, Q, Subquery
from django.utils import timezone

from tracker.months import add_months
from tracker.supervision.models import OPEN_STATES, State, SupervisionEvent, SupervisionItem

STATE_LABELS = dict(State.choices)


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


def _then(month: date, queryset):
    """``queryset`` with, per item, its state, round and deadline at the end of ``month``
    (the last step by then: subqueries, no extra query) and whether it was in force."""
    steps = (
        SupervisionEvent.objects.filter(item=OuterRef("pk"), at__lt=end_of(month))
        .exclude(action__in=(SupervisionEvent.Action.REMIND, SupervisionEvent.Action.ESCALATE))
        .order_by("-at", "-pk")
    )
    return queryset.annotate(
        step_state=Subquery(steps.values("new_state")[:1]),
        step_round=Subquery(steps.values("round")[:1]),
        step_deadline=Subquery(steps.exclude(deadline=None).values("deadline")[:1]),
        in_force_then=ExpressionWrapper(in_force_q(month), output_field=BooleanField()),
    ).select_related("indicator__project__lead_agency", "district", "responsible_agency")


def _dress(item: SupervisionItem) -> SupervisionItem:
    item.state_then = item.step_state or item.state
    item.round_then = item.step_round or item.round
    item.deadline_then = item.step_deadline or item.deadline
    item.state_then_label = STATE_LABELS.get(item.state_then, "")
    item.assigned_on = timezone.localdate(item.assigned_at)
    return item


def items_as_of(month: date, queryset=None) -> list[SupervisionItem]:
    """The items in force at the end of ``month``, plan order, each with ``state_then``,
    ``deadline_then`` and ``round_then`` (from its steps up to then) and ``assigned_on``
    (local date). 1 query."""
    return then_and_open(month, queryset)[0]


def then_and_open(month: date, queryset=None):
    """(``items_as_of(month)``, ``{cell: item}`` of the items open today), read together:
    the notice shows the first and offers 督查室 the second. 1 query."""
    qs = SupervisionItem.objects.all() if queryset is None else queryset
    rows = _then(month, qs.filter(in_force_q(month) | Q(state__in=OPEN_STATES))).order_by(
        "indicator__project__seq", "indicator__order", "district__order", "pk"
    )
    then, now = [], {}
    for item in rows:
        if item.in_force_then:
            then.append(_dress(item))
        if item.is_open:
            now[(item.indicator_id, item.district_id)] = item
    return then, now


def version(month: date) -> str:
    """Changes whenever a step up to the end of ``month`` changes (the notice's cache
    key). 1 query."""
    agg = SupervisionEvent.objects.filter(at__lt=end_of(month)).aggregate(
        n=Count("pk"), t=Max("at")
    )
    return f"{agg['n']}:{agg['t']}"
