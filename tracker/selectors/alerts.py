"""Every read of alerts the pages and the API summaries need, behind a few functions.

This is the only module of the read models that touches ``LagAlert``: when alerts become
episodes (one per indicator × district × kind with flip rows), only these functions
change. Their contracts:

- "open as of a month": an alert raised for that month or earlier in the same plan year,
  not closed by the end of that month (closed later counts as still open then), never
  superseded. Looking back at 2024-09 shows what was open at the end of September.
- ``who`` scopes like every selector (a user, a ``Scope`` or None for city-wide).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date

from django.db.models import Count, Q

from tracker.models import LagAlert

from .common import _scoped


def open_alerts_q(month: date) -> Q:
    """Filter for alerts open at the end of ``month`` (see the module docstring)."""
    return (
        Q(month__lte=month, month__gte=month.replace(month=1))
        & ~Q(status=LagAlert.Status.SUPERSEDED)
        & (Q(closed_in_month__isnull=True) | Q(closed_in_month__gt=month))
    )


def open_alert_counts_by_indicator(who, month: date) -> Counter:
    """``{indicator_id: n}`` of alerts open at the end of ``month`` in ``who``'s scope.
    1 query."""
    return Counter(
        dict(
            _scoped(LagAlert.objects, who)
            .filter(open_alerts_q(month))
            .order_by()
            .values_list("indicator_id")
            .annotate(n=Count("pk"))
        )
    )


def open_alert_total(month: date) -> int:
    """How many alerts were open at the end of ``month``, city-wide. 1 query."""
    return LagAlert.objects.filter(open_alerts_q(month)).count()


def open_alerts_by_cell(
    who, month: date, cells: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], tuple[int, bool]]:
    """For each (indicator_id, district_id) of ``cells``: (open alerts at the end of
    ``month``, whether one of them is flagged 挂牌督办). Missing keys: none. 1 query."""
    cells = list(cells)
    if not cells:
        return {}
    per_cell: dict[tuple[int, int], list[bool]] = defaultdict(list)
    qs = _scoped(LagAlert.objects, who).filter(open_alerts_q(month))
    for indicator_id, district_id, supervised in qs.filter(
        indicator_id__in={i for i, _ in cells}, district_id__in={d for _, d in cells}
    ).values_list("indicator_id", "district_id", "supervised"):
        per_cell[(indicator_id, district_id)].append(supervised)
    return {k: (len(v), any(v)) for k, v in per_cell.items()}


def cell_alerts(who, indicator_id: int, district_id: int) -> list[LagAlert]:
    """The alert history of one cell, newest month first. 1 query."""
    return list(
        _scoped(LagAlert.objects, who)
        .filter(indicator_id=indicator_id, district_id=district_id)
        .order_by("-month", "kind")
    )


def supervised_cells(month: date) -> set[tuple[int, int]]:
    """(indicator_id, district_id) of cells with an open alert flagged 挂牌督办 at the end
    of ``month`` (the alert engine's escalation), city-wide. 1 query."""
    return set(
        LagAlert.objects.filter(open_alerts_q(month), supervised=True).values_list(
            "indicator_id", "district_id"
        )
    )


def attach_open_alerts(who, month: date, lines) -> None:
    """Fill ``open_alerts`` and ``supervised`` on each line (anything with
    ``indicator_id`` and ``district_id``) from ``open_alerts_by_cell``. 1 query."""
    found = open_alerts_by_cell(who, month, {(x.indicator_id, x.district_id) for x in lines})
    for line in lines:
        line.open_alerts, line.supervised = found.get(
            (line.indicator_id, line.district_id), (0, False)
        )


def alerts_version(month: date) -> str:
    """A string that changes whenever an alert the notice of ``month`` could show changes
    (count and last update of that year's alerts up to the month). 1 query."""
    from django.db.models import Max

    agg = LagAlert.objects.filter(month__lte=month, month__year=month.year).aggregate(
        n=Count("pk"), t=Max("updated_at")
    )
    return f"{agg['n']}:{agg['t']}"
