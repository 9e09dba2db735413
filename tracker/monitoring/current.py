"""Keeping the stored evaluation current: re-evaluate exactly the cells a write changed.

The stored evaluation (``LagEvaluation``) is what every page, the API, the workbooks, the
notice and the alerts read. It is written by one function, ``evaluation.evaluate_month``
(the plan, the counted reports and the clock), in two places:

- the scheduled checks (``checks``): a whole month once its reporting deadline has passed
  (the clock's part), then the alert episodes and the digests;
- after every write that changes an evaluation's inputs, in the writing transaction,
  here: ``reevaluate`` for a report saved, corrected or deleted, a review decision that
  changes what counts, an unlock or relock (``progress.signals.figures_changed``), and a
  plan change (``plans.signals.plan_changed``).

Which months: every month already stored of the plan's year, from the changed month on
(the later months' values and streaks carry the change forward). A month not yet stored
is the schedule's to evaluate first. Roll-ups (indicator, project, category, city,
district) are not stored; each is computed from the stored cells when read (an
indicator's and the city's by ``rules.indicator_roll_up``, a project's and a category's in
``reporting.overview``, a district's tally in ``reporting.ranking``), so they are current
as soon as their cells are.

A re-evaluation records no alert and mails nobody: the episodes and digests stay with
the scheduled checks, which read the same stored statuses.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from django.db.models import Q
from django.utils import timezone

from tracker.choices import PROBLEM_STATUSES
from tracker.monitoring.evaluation import evaluate_month, months_figures, store_cells
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.rules import Thresholds
from tracker.months import add_months, first_of_month
from tracker.plans.models import Indicator
from tracker.plans.signals import plan_changed
from tracker.plans.trajectory import load_indicator_plans
from tracker.progress.signals import figures_changed


def stored_months(year: int, since: date, indicator_ids) -> list[date]:
    """The months of ``year`` from ``since`` on holding stored cells of these indicators."""
    return list(
        LagEvaluation.objects.filter(
            indicator_id__in=list(indicator_ids), month__gte=since, month__lte=date(year, 12, 1)
        )
        .order_by("month")
        .values_list("month", flat=True)
        .distinct()
    )


def reevaluate(
    indicator_ids,
    since: date,
    *,
    cells=None,
    now: datetime | None = None,
    prune: bool = False,
) -> int:
    """Re-evaluate and store the cells of ``indicator_ids`` (every district with a quota),
    or exactly ``cells`` (``(indicator_id, district_id)`` pairs of these indicators,
    ``reevaluate_cells``), in every stored month of ``since``'s year from ``since`` on,
    oldest first (a month's streak reads the month before). ``prune`` (a plan change)
    also drops stored cells of these indicators that no longer exist (a quota removed,
    an indicator no longer tracked). Returns the number of rows written: cells whose
    evaluation changed (``evaluation.store_cells`` leaves the others as they are).

    Queries: 1 for the months, and when there are any 3 for the plan, 2 for every
    month's figures (``evaluation.months_figures``: the reports once, the streaks of the
    month before the first), 1 to store every month's cells (+1 with ``prune``), however
    many months. A month's streak follows the month before as re-evaluated here, before
    anything is stored.
    """
    ids = sorted(set(indicator_ids))
    if not ids:
        return 0
    since = first_of_month(since)
    months = stored_months(since.year, since, ids)
    if not months:
        return 0
    now = now or timezone.now()
    plans = load_indicator_plans(indicator_ids=ids)
    thresholds = Thresholds.from_settings()
    figures = months_figures(plans, months, now, thresholds, cells=cells)
    evaluations, curves, streaks, previous = [], {}, {}, None
    for month in months:
        evaluation = evaluate_month(
            month, as_of=now, plans=plans, thresholds=thresholds, curves=curves, city=False,
            figures=figures[month],
        )  # fmt: skip
        if previous is not None:  # the month before is re-evaluated too, not yet stored
            follows = add_months(month, -1) == previous
            for c in evaluation.cells:
                before = streaks.get((c.indicator_id, c.district_id), 0) if follows else 0
                c.streak = before + 1 if c.status in PROBLEM_STATUSES else 0
        streaks = {(c.indicator_id, c.district_id): c.streak for c in evaluation.cells}
        previous = month
        evaluations.append(evaluation)
    written = store_cells(evaluations, now)
    if prune:
        _prune(evaluations, months, ids, cells)
    return written


def _prune(evaluations, months: list[date], ids: list[int], cells=None) -> None:
    """Drop the stored cells of ``ids`` in ``months`` that the re-evaluation no longer
    produced (a quota removed, a target no longer tracked). Unchanged rows are not
    rewritten (``store_cells``), so what is stale is told by its key, not its time.
    1 query; with ``cells``, only the cells asked for and not produced, and none when
    every one was."""
    kept: dict[int, set[int]] = {i: set() for i in ids}
    for evaluation in evaluations:
        for c in evaluation.cells:
            kept[c.indicator_id].add(c.district_id)
    stale = Q()
    if cells is None:
        for indicator_id, districts in kept.items():
            stale |= Q(indicator_id=indicator_id) & ~Q(district_id__in=sorted(districts))
    else:
        gone: dict[int, list[int]] = defaultdict(list)
        for indicator_id, district_id in sorted(set(cells)):
            if district_id not in kept[indicator_id]:
                gone[indicator_id].append(district_id)
        if not gone:
            return
        for indicator_id, districts in gone.items():
            stale |= Q(indicator_id=indicator_id, district_id__in=districts)
    LagEvaluation.objects.filter(month__in=months).filter(stale).delete()


def reevaluate_cells(
    cells, since: date, *, now: datetime | None = None, prune: bool = False
) -> int:
    """``reevaluate`` exactly ``cells`` (``(indicator_id, district_id)`` pairs), in one
    pass whatever their districts (a district's month saved; a corrected plan file's
    quotas in several districts). ``prune`` as in ``reevaluate`` (quotas removed)."""
    cells = sorted(set(cells))
    if not cells:
        return 0
    ids = {indicator_id for indicator_id, _district_id in cells}
    return reevaluate(ids, since, cells=cells, now=now, prune=prune)


# --- receivers (connected in TrackerConfig.ready) ---------------------------------------


def on_figures_changed(sender, *, cells, month, **kwargs) -> None:
    """``progress.signals.figures_changed``: the changed cells, from ``month`` on."""
    if cells:
        reevaluate_cells(cells, month)


def on_plan_changed(
    sender, *, plan, indicator_ids=None, project_ids=(), cells=(), **kwargs
) -> None:
    """``plans.signals.plan_changed``: every cell of the changed indicators (and of the
    projects whose milestones changed) and the ``cells`` whose quota alone changed, from
    January of the plan's year on; cells that no longer exist are dropped."""
    since = date(plan.year, 1, 1)
    indicators = Indicator.objects.filter(project__plan_year=plan)
    if indicator_ids is not None:
        wanted = set(indicator_ids)
        if project_ids:
            wanted |= set(
                indicators.filter(project_id__in=list(project_ids)).values_list("pk", flat=True)
            )
        ids = wanted
    else:
        ids = set(indicators.values_list("pk", flat=True))
    reevaluate(ids, since, prune=True)
    quota_cells = [(i, d) for i, d in cells if i not in ids]
    if quota_cells:
        reevaluate_cells(quota_cells, since, prune=True)


def connect() -> None:
    """Connect the receivers (``TrackerConfig.ready``)."""
    figures_changed.connect(on_figures_changed, dispatch_uid="tracker_reevaluate_figures")
    plan_changed.connect(on_plan_changed, dispatch_uid="tracker_reevaluate_plan")
