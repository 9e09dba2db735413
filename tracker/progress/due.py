"""What is due: which (indicator, district) cells must be reported for a month, and how
each was filed. One home for it — 本月填报, 我的待办's 未填报 list, submission
(``review.submit_month``), the completeness page and API, and the reminders all ask here.

- **Due** for month M: every numeric indicator (累计数量 or 比率/水平) of the plans of M's
  year, for each district with a quota on it (``Indicator.Scope.DISTRICTS``), and the
  city-wide ones (``Indicator.Scope.CITY``) for the plan's 市本级 column. Qualitative milestones are
  reported as completions (``MilestoneCompletion``), not counted here.
- **Expected** for month M: a due cell once its plan expects something by the end of M
  (``trajectory.expected_curve``'s ``ExpectedPoint.is_due``: the city curve scaled to
  the district's quota, or its own milestones). Before a project starts (its expected
  amount still 0) nobody is asked for a 0: the cell is offered for entry but neither
  counted nor chased. Filing states, ``unfiled`` (我的待办, reminders) and completeness
  cover expected cells only.
- **Filing state** of an expected cell for M (DHIS2's reporting rates): 按时 when its report for
  M was first filed (``created_at``) by M's reporting deadline (``reporting.reporting_deadline``),
  逾期 when filed after it, 未填报 when there is none and the deadline has passed, 待填报
  while there is none and the deadline is still ahead.
- Scope: ``who`` is a user, a ``Scope`` or None (everything); a district sees its own
  cells, a lead agency its projects' cells, 督查室 all — the one scoping of
  ``tracker.accounts.permissions``.

Set-based: ``due_cells`` is 2 queries, ``filing_states`` 3 per plan year + 4 (the plans'
trajectories and the reports), whatever the number of cells and months.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from django.db import models
from django.db.models import OuterRef
from django.utils import timezone

from tracker.accounts.permissions import Scope, scope_for
from tracker.calendar import reporting_deadline
from tracker.months import first_of_month
from tracker.plans.models import Indicator, Quota
from tracker.plans.reference import District
from tracker.plans.trajectory import expected_curve, load_indicator_plans
from tracker.plans.units import city_unit_expression, column_position
from tracker.progress.models import ProgressReport

__all__ = ["FilingState", "due_cells", "due_indicators", "filing_states", "unfiled"]


class FilingState(models.TextChoices):
    ON_TIME = "on_time", "按时填报"
    LATE = "late", "逾期填报"
    MISSING = "missing", "未填报"
    PENDING = "pending", "待填报"


def _scope(who) -> Scope | None:
    if who is None or isinstance(who, Scope):
        return who
    return scope_for(who)


def due_cells(month: date, who=None, *, district_ids: Iterable[int] | None = None):
    """The (indicator_id, district_id) cells due for ``month`` in ``who``'s scope, in plan
    order (project 序号, indicator, the plan's column order; city-wide targets on the
    plan's own 市本级 column, ``plan_units``). 2 queries."""
    month = first_of_month(month)
    scope = _scope(who)
    numeric = Indicator.objects.filter(project__plan_year__year=month.year).exclude(
        kind=Indicator.Kind.QUALITATIVE
    )
    quotas = Quota.objects.filter(indicator__in=numeric.filter(scope=Indicator.Scope.DISTRICTS))
    city = numeric.filter(scope=Indicator.Scope.CITY)
    if scope is not None:
        quotas = scope.apply(quotas)
        if scope.role is None:
            return []
        city = scope.apply(city)  # an agency's own projects; a leader's; all for the others
    if district_ids is not None:
        district_ids = list(district_ids)
        quotas = quotas.filter(district_id__in=district_ids)
    pairs = list(
        quotas.annotate(
            column=column_position(
                OuterRef("indicator__project__plan_year_id"), OuterRef("district_id")
            )
        )
        .order_by("indicator__project__seq", "indicator__pk", "column")
        .values_list("indicator_id", "district_id", "indicator__project__seq")
        .distinct()
    )
    # each plan's own 市本级 column (``plans.units.city_unit_ids``' rule) read in the same
    # query, so the count does not depend on whether the plan has city-wide targets
    city_rows = list(
        city.annotate(city_unit=city_unit_expression())
        .values_list("pk", "project__seq", "city_unit")
        .order_by("project__seq", "pk")
    )
    added = False
    for pk, seq, city_id in city_rows:  # on each plan's own 市本级 column
        if (
            city_id is not None
            and (scope is None or not scope.is_district or scope.district_id == city_id)
            and (district_ids is None or city_id in district_ids)
        ):
            pairs.append((pk, city_id, seq))
            added = True
    if added:
        pairs.sort(key=lambda p: p[2])  # stable: keeps indicator and district order
    return [(i, d) for i, d, _ in pairs]


def due_indicators(district: District, month: date) -> list[Indicator]:
    """The numeric indicators ``district`` reports for ``month`` (plan order)."""
    ids = [i for i, _ in due_cells(month, None, district_ids=[district.pk])]
    order = {pk: n for n, pk in enumerate(ids)}
    found = Indicator.objects.filter(pk__in=ids).select_related("project")
    return sorted(found, key=lambda i: order[i.pk])


def filing_states(
    months: Iterable[date], who=None, *, now: datetime | None = None
) -> dict[tuple[int, int, date], FilingState]:
    """(indicator_id, district_id, month) → FilingState for every cell expected in
    ``months`` in ``who``'s scope (see the module docstring). Reports are read in one
    query per call."""
    now = now or timezone.now()
    months = sorted({first_of_month(m) for m in months})
    by_year: dict[int, list[tuple[int, int]]] = {}  # the cells depend on the year only
    for m in months:
        if m.year not in by_year:
            by_year[m.year] = due_cells(m, who)
    due = _expected({m: by_year[m.year] for m in months})
    filed: dict[tuple[int, int, date], datetime] = {}
    if months:
        indicator_ids = {i for cells in due.values() for i, _ in cells}
        for ind, dist, month, created in ProgressReport.objects.filter(
            month__in=months, indicator_id__in=indicator_ids
        ).values_list("indicator_id", "district_id", "month", "created_at"):
            filed[(ind, dist, month)] = created
    states = {}
    for month, cells in due.items():
        deadline = reporting_deadline(month)
        for ind, dist in cells:
            created = filed.get((ind, dist, month))
            if created is None:
                state = FilingState.MISSING if now > deadline else FilingState.PENDING
            else:
                state = FilingState.ON_TIME if created <= deadline else FilingState.LATE
            states[(ind, dist, month)] = state
    return states


def _expected(due: dict[date, list[tuple[int, int]]]) -> dict[date, list[tuple[int, int]]]:
    """Keep the cells whose plan expects something by the end of their month."""
    ids = {i for cells in due.values() for i, _ in cells}
    if not ids:
        return due
    plans = load_indicator_plans(indicator_ids=ids)
    curves: dict[tuple[int, int], tuple] = {}

    def curve(ind: int, dist: int):
        key = (ind, dist)
        if key not in curves:
            plan = plans.get(ind)
            if plan is None or not plan.is_tracked:
                curves[key] = ()
            elif plan.is_city_only:
                curves[key] = expected_curve(plan)  # due_cells put it on the plan's 市本级
            else:
                curves[key] = expected_curve(plan, dist)
        return curves[key]

    out = {}
    for month, cells in due.items():
        kept = []
        for ind, dist in cells:
            points = curve(ind, dist)
            if points and points[month.month - 1].is_due and points[0].month.year == month.year:
                kept.append((ind, dist))
        out[month] = kept
    return out


def unfiled(month: date, who=None) -> list[tuple[int, int]]:
    """The cells due for ``month`` in scope that have no report yet (plan order)."""
    month = first_of_month(month)
    states = filing_states([month], who)
    open_states = (FilingState.MISSING, FilingState.PENDING)
    return [(i, d) for (i, d, m), s in states.items() if s in open_states]
