"""Every read of alerts the pages and the API summaries need, behind a few functions.

This is the only module of the read models that touches ``LagAlert``. An alert is an
episode (one per indicator × district × kind, with flip rows; see
``tracker.monitoring.models``), so every count here counts cells, not months. Contracts:

- "open as of a month": ``LagAlert.objects.open_as_of(month)`` — an episode opened in that
  plan year by the end of that month and not closed by then (closed later counts as
  still open then), never superseded; 提示 (at-risk) episodes are not counted. Looking
  back at 2024-09 shows what was open at the end of September.
- 挂牌督办 is a ``tracker.supervision`` item, read as of the month
  (``supervision.asof``); ``LagAlert.supervised`` is only the engine's proposal.
- ``who`` scopes like every selector (a user, a ``Scope`` or None for city-wide).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date

from django.db.models import Count, Max, Q

from tracker.accounts.permissions import restrict_viewer
from tracker.monitoring.episodes import escalation
from tracker.monitoring.models import LagAlert
from tracker.supervision.asof import supervised_cells


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
    ``month``, whether the cell was under 挂牌督办 then: an item 交办'd by the end of
    ``month`` and not 销号 by then, ``supervision.asof``). Missing keys: neither.
    2 queries."""
    cells = list(cells)
    if not cells:
        return {}
    wanted = set(cells)
    per_cell: dict[tuple[int, int], int] = defaultdict(int)
    qs = _open(who, month)
    for key in qs.filter(
        indicator_id__in={i for i, _ in cells}, district_id__in={d for _, d in cells}
    ).values_list("indicator_id", "district_id"):
        per_cell[key] += 1
    flagged = supervised_cells(month, cells) & wanted
    return {k: (per_cell.get(k, 0), k in flagged) for k in set(per_cell) | flagged}


def cell_alerts(who, indicator_id: int, district_id: int) -> list[LagAlert]:
    """The alert episodes of one cell, newest first, each with its flips (month, from,
    to, why). 2 queries."""
    return list(restrict_viewer(LagAlert.objects, who).for_cell(indicator_id, district_id))


def attach_open_alerts(who, month: date, lines) -> None:
    """Fill ``open_alerts`` and ``supervised`` (挂牌督办 as of the month) on each line
    (anything with ``indicator_id`` and ``district_id``) from ``open_alerts_by_cell``.
    2 queries."""
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


def streak_as_of(alert: LagAlert, month: date) -> int:
    """The episode's streak at the end of ``month``: an episode is a run of problem
    months, so a month before its last evaluated one had that many fewer."""
    back = (alert.last_month.year - month.year) * 12 + alert.last_month.month - month.month
    return max(1, alert.streak - max(0, back))


def level_as_of(alert: LagAlert, month: date) -> int:
    """How far the episode had escalated by the end of ``month`` (the engine's rule,
    ``monitoring.episodes.escalation``, on the streak then), not how far it is now."""
    return escalation(streak_as_of(alert, month))[0]


def missed_milestones(who, month: date, plan=None, *, supervised=None) -> list[LagAlert]:
    """The qualitative milestones missed and still not done at the end of ``month`` (open
    节点未完成 episodes) in ``who``'s scope, plan order. Red, like a missed target, on the
    overview, the matrix, 我的待办 and the notice (issue 30); ``message`` names the
    milestones. Each carries what was true at the end of ``month``: ``streak_then``,
    ``level_then`` (with ``level_then_label``) and ``under_supervision`` (挂牌督办 then,
    ``supervision.asof``; ``supervised``: those cells, when the caller has read them).
    2 queries (1 with ``supervised``)."""
    qs = _open(who, month).filter(kind=LagAlert.Kind.MILESTONE)
    if plan is not None:
        qs = qs.filter(indicator__project__plan_year=plan)
    found = list(
        qs.select_related("indicator__project__lead_agency", "district").order_by(
            "indicator__project__seq", "district__order", "month"
        )
    )
    flagged = (
        supervised
        if supervised is not None
        else supervised_cells(month, [(a.indicator_id, a.district_id) for a in found])
    )
    labels = dict(LagAlert.Level.choices)
    for a in found:
        a.streak_then = streak_as_of(a, month)
        a.level_then = level_as_of(a, month)
        a.level_then_label = labels[a.level_then]
        a.under_supervision = (a.indicator_id, a.district_id) in flagged
    return found
