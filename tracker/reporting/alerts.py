"""Every read of alerts the pages and the API summaries need, behind a few functions.

This is the only module of the read models that touches ``LagAlert``. An alert is an
episode (one per indicator × district × kind, with flip rows; see
``tracker.monitoring.models``), so every count here counts cells, not months. Contracts:

- "open as of a month": ``LagAlert.objects.open_as_of(month)`` — an episode opened in that
  plan year by the end of that month and not closed by then (closed later counts as
  still open then), never superseded; 提示 (at-risk) episodes are not counted. Looking
  back at 2024-09 shows what was open at the end of September.
- ``who`` scopes like every selector (a user, a ``Scope`` or None for city-wide).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date

from django.db.models import Count, Max, Q

from tracker.accounts.permissions import restrict_viewer
from tracker.monitoring.models import LagAlert


def open_alerts_q(month: date) -> Q:
    """Filter for episodes open at the end of ``month`` (the rule lives in
    ``LagAlertQuerySet.open_as_of``; this is it as a ``Q`` for other querysets)."""
    return Q(pk__in=LagAlert.objects.open_as_of(month).values("pk"))


def _open(who, month: date):
    return restrict_viewer(LagAlert.objects, who).open_as_of(month)


def open_alert_counts_by_indicator(who, month: date) -> Counter:
    """``{indicator_id: n}`` of alerts open at the end of ``month`` in ``who``'s scope.
    1 query."""
    return Counter(
        dict(_open(who, month).order_by().values_list("indicator_id").annotate(n=Count("pk")))
    )


def open_alert_total(month: date) -> int:
    """How many alerts were open at the end of ``month``, city-wide. 1 query."""
    return LagAlert.objects.open_as_of(month).count()


def open_alerts_by_cell(
    who, month: date, cells: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], tuple[int, bool]]:
    """For each (indicator_id, district_id) of ``cells``: (open alerts at the end of
    ``month``, whether one of them is flagged 挂牌督办). Missing keys: none. 1 query."""
    cells = list(cells)
    if not cells:
        return {}
    per_cell: dict[tuple[int, int], list[bool]] = defaultdict(list)
    qs = _open(who, month)
    for indicator_id, district_id, supervised in qs.filter(
        indicator_id__in={i for i, _ in cells}, district_id__in={d for _, d in cells}
    ).values_list("indicator_id", "district_id", "supervised"):
        per_cell[(indicator_id, district_id)].append(supervised)
    return {k: (len(v), any(v)) for k, v in per_cell.items()}


def cell_alerts(who, indicator_id: int, district_id: int) -> list[LagAlert]:
    """The alert episodes of one cell, newest first, each with its flips (month, from,
    to, why). 2 queries."""
    return list(restrict_viewer(LagAlert.objects, who).for_cell(indicator_id, district_id))


def supervised_cells(month: date) -> set[tuple[int, int]]:
    """(indicator_id, district_id) of cells with an open alert flagged 挂牌督办 at the end
    of ``month`` (the alert engine's escalation), city-wide. 1 query."""
    return set(
        LagAlert.objects.open_as_of(month)
        .filter(supervised=True)
        .values_list("indicator_id", "district_id")
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
    agg = LagAlert.objects.filter(month__lte=month, month__year=month.year).aggregate(
        n=Count("pk"), t=Max("updated_at")
    )
    return f"{agg['n']}:{agg['t']}"


def missed_milestones(who, month: date, plan=None) -> list[LagAlert]:
    """The qualitative milestones missed and still not done at the end of ``month`` (open
    节点未完成 episodes) in ``who``'s scope, plan order. Red, like a missed target, on the
    overview, the matrix, 我的待办 and the notice (issue 30); ``message`` names the
    milestones, ``level`` / ``supervised`` say how far it has escalated. 1 query."""
    qs = _open(who, month).filter(kind=LagAlert.Kind.MILESTONE)
    if plan is not None:
        qs = qs.filter(indicator__project__plan_year=plan)
    return list(
        qs.select_related("indicator__project__lead_agency", "district").order_by(
            "indicator__project__seq", "district__order", "month"
        )
    )
