"""Lag evaluation of a month: every district × indicator against its 序时进度, set-based.

``evaluate_month(month)`` reads everything it needs set-based (plan: 3 queries; cells:
one statement per ``READ_CELLS`` cells joining quotas, the newest reports by a windowed
query and last month's streaks, +1 with city-only indicators) — not a subquery per cell
— and returns a ``MonthEvaluation``: one ``Cell`` per (indicator, district) with its
status, gap and forecast, plus city totals.
It writes nothing; ``save_evaluation`` stores the cells in one statement.

The rules of one cell (status, 逾期未完成 after the completion deadline, gap, 完成率 and
序时完成率, forecast, at risk) and of roll-ups live in ``tracker.monitoring.rules``; this module
only gathers the figures set-based and stores the result. Thresholds: ``tracker.conf``.

A missing report: 未按时填报 once the reporting deadline (the ``REPORTING_DEADLINE_DAY`` of
the next month, end of day, Asia/Shanghai) has passed; before it the district's latest
earlier report stands (the value as of a month is the latest report up to that month).

As of: ``as_of`` (default now) replays the past — only reports first filed
(``created_at``) by then count, with their current value; a report counts as on time
when it was first filed by the deadline.

Forecast: the pace of the last ``FORECAST_WINDOW_MONTHS`` months (from the start of the
year when fewer have passed), extrapolated to the deadline month, with the plan's own pace
over the same months beside it (``monitoring.rules.is_at_risk`` compares the two).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Q,
    Value,
    When,
)
from django.utils import timezone

from tracker.calendar import reporting_deadline
from tracker.choices import PROBLEM_STATUSES
from tracker.db.bulk import copy_supported, copy_upsert
from tracker.db.pipeline import pipelined
from tracker.memory import cyclic_gc_paused
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.rules import (
    Forecast,
    RollUp,
    Thresholds,
    classify,
    forecast,
    indicator_roll_up,
    is_at_risk,
)
from tracker.months import add_months, first_of_month
from tracker.plans.models import Quota
from tracker.plans.trajectory import (
    IndicatorPlan,
    expected_at,
    expected_curve,
    load_indicator_plans,
)
from tracker.plans.units import city_unit_ids
from tracker.progress.models import ProgressReport
from tracker.progress.values import latest_by_cell, reports_as_of, values_as_of_months
from tracker.ratios import PLACES, completion_pct, pace_completion_pct, pace_pct

# --- dates ------------------------------------------------------------------------


def months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


# --- a month: set-based ----------------------------------------------------------------


@dataclass(slots=True)
class Cell:
    """One district on one indicator for the evaluated month."""

    indicator_id: int
    district_id: int
    quota: Decimal
    expected: Decimal | None
    actual: Decimal | None
    reported_month: date | None
    on_time: bool
    status: str
    gap_points: Decimal | None
    is_checkpoint: bool
    checkpoint_text: str
    forecast: Forecast
    streak: int

    at_risk: bool = False
    ceiling: bool = False

    @property
    def completion_pct(self) -> Decimal | None:
        """完成率 = 累计完成 ÷ 任务数 (a ceiling: see ``tracker.ratios``)."""
        return completion_pct(self.actual, self.quota, ceiling=self.ceiling)

    @property
    def pace_completion_pct(self) -> Decimal | None:
        """序时完成率 = 累计完成 ÷ 序时应达."""
        return pace_completion_pct(self.actual, self.expected, ceiling=self.ceiling)

    @property
    def pace_pct(self) -> Decimal | None:
        """序时进度 = 序时应达 ÷ 任务数."""
        return pace_pct(self.expected, self.quota)

    @property
    def is_problem(self) -> bool:
        return self.status in PROBLEM_STATUSES


@dataclass(frozen=True)
class CityTotal:
    """The city on one indicator: ``monitoring.rules.roll_up`` of its district cells, with the
    plan's target beside it."""

    indicator_id: int
    target: Decimal
    roll: RollUp

    @property
    def expected(self) -> Decimal | None:
        return self.roll.expected

    @property
    def actual(self) -> Decimal:
        return self.roll.actual or Decimal(0)

    @property
    def actual_capped(self) -> Decimal:
        return self.roll.actual_capped or Decimal(0)

    @property
    def status(self) -> str:
        return self.roll.status

    @property
    def districts(self) -> int:
        return self.roll.cells

    @property
    def counts(self) -> dict:
        return {k: v for k, v in self.roll.counts.items() if v}

    @property
    def completion_pct(self) -> Decimal:
        return self.roll.completion_uncapped_pct or Decimal(0)

    @property
    def completion_capped_pct(self) -> Decimal:
        return self.roll.completion_pct or Decimal(0)

    @property
    def pace_pct(self) -> Decimal | None:
        return self.roll.pace_pct


@dataclass
class MonthEvaluation:
    month: date
    as_of: datetime
    deadline: datetime
    plans: dict[int, IndicatorPlan]
    cells: list[Cell]
    city: dict[int, CityTotal]
    _index: dict = field(default_factory=dict, repr=False, compare=False)
    counts: Counter | None = None  # status counts when the cells were not kept (a stream)

    @property
    def deadline_passed(self) -> bool:
        return self.as_of > self.deadline

    def status_counts(self) -> Counter:
        if self.counts is not None:
            return Counter(self.counts)
        return Counter(c.status for c in self.cells)

    def cell(self, indicator_id: int, district_id: int) -> Cell | None:
        """The cell of one district on one indicator (None if it has no quota)."""
        if len(self._index) != len(self.cells):
            self._index.clear()
            self._index.update(((c.indicator_id, c.district_id), c) for c in self.cells)
        return self._index.get((indicator_id, district_id))


def evaluate_month(
    month: date,
    *,
    as_of: datetime | None = None,
    plan_year=None,
    indicator_ids=None,
    thresholds: Thresholds | None = None,
    plans: dict[int, IndicatorPlan] | None = None,
    district_ids=None,
    curves: dict | None = None,
    city: bool = True,
    figures=None,
) -> MonthEvaluation:
    """Evaluate every tracked indicator × district of ``month`` (any day of it).

    Reads only. The plan year is ``month``'s year unless ``plan_year`` is given;
    ``indicator_ids`` narrows the evaluation; ``plans`` may be passed in when the caller
    already loaded them; ``district_ids`` narrows it to those districts' cells (the
    re-evaluation after a write: ``tracker.monitoring.current``; its city totals then
    cover those cells only). ``figures``: the cells' figures already read for this month
    (``months_figures``, several months in one read); by default they are read here.
    """
    month = first_of_month(month)
    as_of = as_of or timezone.now()
    thresholds = thresholds or Thresholds.from_settings()
    deadline = reporting_deadline(month)
    if plans is None:
        plans = load_indicator_plans(
            plan_year, year=None if plan_year else month.year, indicator_ids=indicator_ids
        )
    plans = {k: p for k, p in plans.items() if p.is_tracked and p.year == month.year}
    evaluation = MonthEvaluation(month, as_of, deadline, plans, [], {})
    if not plans:
        return evaluation

    window, base_month = forecast_base(month, thresholds)
    curves = curves if curves is not None else {}
    for pk, p in plans.items():  # ``curves``: a caller evaluating several months computes
        if pk not in curves:  # each indicator's curve once (``monitoring.current``)
            curves[pk] = expected_curve(p)
    own_curves = {  # districts with milestones of their own (rare): their own curve
        pk: {m.district_id for m in p.milestones if m.district_id is not None}
        for pk, p in plans.items()
    }
    deadline_passed = as_of > deadline

    class _Fixed:  # what every cell of one indicator shares, computed once per indicator
        __slots__ = (
            "base_fraction", "ceiling", "level", "months_left", "own", "past_due", "point"
        )  # fmt: skip

        def __init__(self, plan):
            deadline_month = plan.deadline_month  # a property: computed, not stored
            curve = curves[plan.indicator_id]
            self.level = plan.is_level
            self.ceiling = plan.is_ceiling
            self.past_due = month > deadline_month
            self.months_left = months_between(month, deadline_month)
            self.point = curve[month.month - 1]
            self.base_fraction = (
                None if base_month is None else curve[base_month.month - 1].fraction
            )
            self.own = own_curves[plan.indicator_id]

    fixed = {pk: _Fixed(p) for pk, p in plans.items()}

    def make_cell(plan, district_id, quota, latest, latest_month, on_time, base, prev):
        f = fixed[plan.indicator_id]
        own = bool(f.own) and district_id in f.own and plan.has_district_milestones(district_id)
        if own:
            point = expected_at(plan, month, district_id)
            expected = point.value
        else:  # the city's expected fraction of this district's quota
            point = f.point
            expected = _share(quota, point.fraction)
        if base_month is None:
            base_expected = None if f.level else Decimal(0)
        elif own:
            base_expected = expected_at(plan, base_month, district_id).value
        else:
            base_expected = _share(quota, f.base_fraction)
        plan_pace = (
            None
            if expected is None or base_expected is None
            else (expected - base_expected) / window
        )
        on_time = bool(on_time)
        status, gap = classify(
            level=f.level,
            quota=quota,
            expected=expected,
            actual=latest,
            on_time=on_time,
            deadline_passed=deadline_passed,
            is_checkpoint=point.is_checkpoint,
            thresholds=thresholds,
            past_due=f.past_due,
            ceiling=f.ceiling,
        )
        if base is None and not f.level:
            base = Decimal(0)  # cumulative since the start of the year
        fc = forecast(
            quota=quota,
            actual=latest,
            base_value=base,
            window=window,
            months_left=f.months_left,
            plan_pace=plan_pace,
            ceiling=f.ceiling,
        )
        return Cell(
            plan.indicator_id,
            district_id,
            quota,
            expected,
            latest,
            latest_month,
            on_time,
            status,
            gap,
            point.is_checkpoint,
            point.text,
            fc,
            (prev or 0) + 1 if status in PROBLEM_STATUSES else 0,
            is_at_risk(status, fc, thresholds),
            f.ceiling,
        )

    with cyclic_gc_paused():  # cells, forecasts, decimals: nothing here forms a cycle
        if figures is None:
            figures = _cell_figures(plans, month, as_of, deadline, base_month, district_ids)
        for plan, district_id, quota, *row in figures:
            evaluation.cells.append(make_cell(plan, district_id, quota, *row))

    if city:  # ``city=False``: the caller stores the cells only (``monitoring.current``)
        evaluation.city = city_totals(evaluation, thresholds)
    return evaluation


def forecast_base(month: date, thresholds: Thresholds) -> tuple[int, date | None]:
    """The forecast's window for ``month`` and its base month (None when the window
    reaches back to the start of the year: the base is 0)."""
    window = min(thresholds.forecast_window, month.month)
    base_month = add_months(month, -window) if window == thresholds.forecast_window else None
    if base_month is not None and base_month.year < month.year:
        base_month = None
    return window, base_month


def _share(quota: Decimal, fraction: Decimal | None) -> Decimal | None:
    return None if fraction is None else (quota * fraction).quantize(PLACES)


def _city_cells(plans, districts) -> dict[int, list[int]]:
    """市本级 unit → its city-only indicators (sorted): a city-only indicator is reported
    on its plan's own 市本级 column (``plans.units.city_unit_ids``); ``districts`` (None:
    all) keeps only those units. +1 query when there are city-only indicators."""
    city_only = sorted(pk for pk, p in plans.items() if p.is_city_only)
    cells: dict[int, list[int]] = {}
    if city_only:
        city_units = city_unit_ids({plans[pk].plan_year_id for pk in city_only})
        for pk in city_only:
            unit = city_units.get(plans[pk].plan_year_id)
            if unit is not None and (districts is None or unit in districts):
                cells.setdefault(unit, []).append(pk)
    return cells


def _cell_figures(plans, month, as_of, deadline, base_month, district_ids=None):
    """What each cell of the evaluation needs, read set-based: ``(plan, district_id, quota,
    latest_value, latest_month, on_time, base_value, prev_streak)`` for each quota above 0
    of a district-split indicator (by indicator, district), then each city-only indicator
    on its plan's 市本级 column (by unit, indicator).

    One statement per ``READ_CELLS`` cells of split indicators (by indicator batches), +1
    with city-only indicators (and +1 ``city_unit_ids``): the cells joined in SQL with
    their newest reports (``values.latest_by_cell``'s windowed query, pivoted to one row a cell)
    and last month's stored streaks — at 180 000 cells 1.6 s instead of 2.2 s for three
    queries joined in Python dicts, and a quarter of the Python time. On PostgreSQL the
    statements are pipelined (``db.pipeline``): the server reads the next batch
    while Python computes the cells of this one.

    - latest: the cell's newest counted report for ``month`` or earlier filed by ``as_of``;
    - on_time: that report is for ``month`` itself and was filed by the ``deadline``;
    - base: the newest such report for ``base_month`` or earlier (None without a base);
    - prev_streak: the cell's stored streak of the month before (None if not stored).

    ``district_ids`` (None: all) keeps only those districts' cells.
    """
    districts = None if district_ids is None else sorted(set(district_ids))
    split = [pk for pk, p in plans.items() if not p.is_city_only]
    city_cells = _city_cells(plans, districts)

    statements = []  # (SQL and params, its cells are city-only)
    for batch in indicator_batches({pk: plans[pk] for pk in split}, READ_CELLS):
        quotas = Quota.objects.filter(indicator_id__in=batch, value__gt=0)
        which = Q(indicator_id__in=batch)
        if districts is not None:
            quotas = quotas.filter(district_id__in=districts)
            which &= Q(district_id__in=districts)
        quotas = quotas.order_by().values_list("indicator_id", "district_id", "value")
        statements.append((_figures_statement(
            quotas.query.sql_with_params(), which, month, as_of,
            deadline, base_month, order="indicator_id, district_id",
        ), False))  # fmt: skip
    if city_cells:
        pairs = [(pk, unit) for unit in sorted(city_cells) for pk in city_cells[unit]]
        cells = " UNION ALL ".join(
            ["SELECT %s AS indicator_id, %s AS district_id, NULL AS value"] * len(pairs)
        )
        which = Q(pk__in=[])
        for unit, ids in city_cells.items():
            which |= Q(indicator_id__in=ids, district_id=unit)
        statements.append((_figures_statement(
            (cells, [x for pair in pairs for x in pair]), which, month, as_of, deadline,
            base_month, order="district_id, indicator_id",
        ), True))  # fmt: skip

    converters = [
        _db_converter(Quota, "value"),
        _db_converter(ProgressReport, "value"),
        _db_converter(ProgressReport, "month"),
    ]
    convert = any(converters)
    to_quota, to_value, to_month = (c or _identity for c in converters)
    rows_of = pipelined([statement for statement, _city in statements])
    for (_statement, city), rows in zip(statements, rows_of, strict=True):
        for i, d, quota, latest, latest_month, on_time, base, streak in rows:
            if convert:  # SQLite
                quota, latest, base = to_quota(quota), to_value(latest), to_value(base)
                latest_month = to_month(latest_month)
            plan = plans[i]
            yield (
                plan,
                d,
                plan.target if city else quota,
                latest,
                latest_month,
                bool(on_time),
                base,
                streak,
            )


def months_figures(
    plans, months, as_of, thresholds: Thresholds | None = None, *, cells=None
) -> dict[date, list[tuple]]:
    """``_cell_figures`` of several months of one plan year from one read: ``{month: rows}``,
    the rows as ``_cell_figures`` yields them, in its order (``evaluate_month(figures=)``).

    The re-evaluation after a write (``monitoring.current``) evaluates a few cells in
    each stored month from the changed one on; one windowed statement a month cost more
    than the cells. Here the cells' counted reports up to the last month (filed by
    ``as_of``) are read once, and each month's figures follow the same rule on them:
    latest and base by ``values.values_as_of_months`` (the rule on plain data), on time
    when the latest is the month's own report filed by its deadline. The streak of the
    month before is read for the first month only (+1 query); a later month's is the one
    re-evaluated before it (None here). Reads: 2 (+1 ``city_unit_ids`` with city-only
    indicators). ``tests/monitoring/test_current.py`` checks the rows equal
    ``_cell_figures``'s in every month of the simulated year.
    ``cells`` (``(indicator_id, district_id)`` pairs) narrows it to exactly those cells
    (a district's month saved, the quotas of a corrected plan file).
    """
    months = sorted({first_of_month(m) for m in months})
    out: dict[date, list[tuple]] = {m: [] for m in months}
    if not months:
        return out
    plans = {k: p for k, p in plans.items() if p.is_tracked and p.year == months[0].year}
    only = None if cells is None else set(cells)
    cells = []  # (plan, district_id, quota or None for city-only), in _cell_figures' order
    for pk in sorted(pk for pk, p in plans.items() if not p.is_city_only):
        for d, quota in sorted(plans[pk].quotas.items()):
            if quota > 0:
                cells.append((plans[pk], d, quota))
    city = _city_cells(plans, None)
    cells += [(plans[pk], unit, None) for unit in sorted(city) for pk in city[unit]]
    if only is not None:
        cells = [c for c in cells if (c[0].indicator_id, c[1]) in only]
    if not cells:
        return out
    wanted = {(p.indicator_id, d) for p, d, _q in cells}
    reports = reports_as_of(months[-1], as_of).filter(
        indicator_id__in=sorted({i for i, _d in wanted}),
        district_id__in=sorted({d for _i, d in wanted}),
    )
    by_cell: dict[tuple[int, int], list] = {}
    for i, d, m, value, created in reports.order_by().values_list(
        "indicator_id", "district_id", "month", "value", "created_at"
    ):
        if (i, d) in wanted:
            by_cell.setdefault((i, d), []).append((m, value, created))
    before = add_months(months[0], -1)
    streaks = dict.fromkeys(wanted)
    for i, d, streak in LagEvaluation.objects.filter(
        month=before, indicator_id__in=sorted({i for i, _d in wanted})
    ).values_list("indicator_id", "district_id", "streak"):
        if (i, d) in streaks:
            streaks[(i, d)] = streak
    thresholds = thresholds or Thresholds.from_settings()
    schedule = []  # (month, its deadline, its base month)
    for month in months:
        schedule.append((month, reporting_deadline(month), forecast_base(month, thresholds)[1]))
    wanted_months = {m for m, _d, _b in schedule} | {b for _m, _d, b in schedule if b}
    first = months[0]
    for plan, d, quota in cells:
        key = (plan.indicator_id, d)
        as_of_month = values_as_of_months(
            ((m, (v, c)) for m, v, c in by_cell.get(key, ())), wanted_months
        )
        quota = plan.target if quota is None else quota
        streak = streaks[key]
        for month, deadline, base_month in schedule:
            latest = as_of_month.get(month)
            value, latest_month, on_time = None, None, False
            if latest is not None:
                (value, created), latest_month = latest
                on_time = latest_month == month and created <= deadline
            found = None if base_month is None else as_of_month.get(base_month)
            out[month].append((
                plan, d, quota, value, latest_month, on_time,
                None if found is None else found[0][0],
                streak if month == first else None,
            ))  # fmt: skip
    return out


READ_CELLS = 5_000  # cells a statement of the evaluation reads (``_cell_figures``)


def indicator_batches(plans: dict[int, IndicatorPlan], cells: int):
    """Indicator ids in batches of about ``cells`` cells (by their quotas), in id order."""
    batches, current, size = [], [], 0
    for pk in sorted(plans):
        n = max(1, len(plans[pk].quotas))
        if current and size + n > cells:
            batches.append(current)
            current, size = [], 0
        current.append(pk)
        size += n
    if current:
        batches.append(current)
    return batches


def _figures_statement(cells, which, month, as_of, deadline, base_month, *, order):
    """The statement (SQL, params) of rows ``(indicator_id, district_id, quota, latest,
    latest_month, on_time, base, prev_streak)`` of the cells selected by ``cells`` (SQL
    and params of rows ``indicator_id, district_id, value``), whose reports ``which``
    selects."""
    reports = (
        reports_as_of(month, as_of)
        .filter(which)
        .annotate(
            on_time=Case(
                When(month=month, created_at__lte=deadline, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
    )
    newest, newest_params = latest_by_cell(
        reports, split_at=base_month, extra=("on_time",)
    ).query.sql_with_params()
    cells_sql, cells_params = cells
    # part 0: the newest report of the cell; part 1: the newest up to the base month
    part, part_params = (
        ("CASE WHEN n.month <= %s THEN 1 ELSE 0 END", [base_month])
        if (base_month is not None)
        else ("0", [])
    )
    streaks = connection.ops.quote_name(LagEvaluation._meta.db_table)
    sql = f"""
    SELECT c.indicator_id, c.district_id, c.value, r.latest, r.latest_month, r.on_time,
        r.base, s.streak
    FROM ({cells_sql}) c
    LEFT JOIN (
        SELECT w.indicator_id, w.district_id,
            COALESCE(MAX(CASE WHEN w.part = 0 THEN w.value END),
                     MAX(CASE WHEN w.part = 1 THEN w.value END)) AS latest,
            COALESCE(MAX(CASE WHEN w.part = 0 THEN w.month END),
                     MAX(CASE WHEN w.part = 1 THEN w.month END)) AS latest_month,
            MAX(CASE WHEN w.part = 0 AND w.on_time THEN 1 ELSE 0 END) AS on_time,
            MAX(CASE WHEN w.part = 1 THEN w.value END) AS base
        FROM (SELECT n.*, {part} AS part FROM ({newest}) n) w
        GROUP BY w.indicator_id, w.district_id
    ) r ON r.indicator_id = c.indicator_id AND r.district_id = c.district_id
    LEFT JOIN {streaks} s ON s.indicator_id = c.indicator_id
        AND s.district_id = c.district_id AND s.month = %s
    ORDER BY {", ".join(f"c.{column}" for column in order.split(", "))}
    """
    params = [*cells_params, *part_params, *newest_params, add_months(month, -1)]
    return sql, params


def _identity(value):
    return value


def _db_converter(model, name):
    """What the ORM applies to a column's raw values, for rows read with a cursor
    (SQLite: decimals come back as numbers and dates as text); None when nothing is
    applied (PostgreSQL)."""
    column = model._meta.get_field(name).get_col(model._meta.db_table)
    steps = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
    if not steps:
        return None

    def convert(value):
        for step in steps:
            value = step(value, column, connection)
        return value

    return convert


def city_totals(evaluation: MonthEvaluation, thresholds=None) -> dict[int, CityTotal]:
    """Per indicator: ``monitoring.rules.indicator_roll_up`` of its cells (capped and
    uncapped totals, a status judged on the capped figure, in a checkpoint or past-due
    month as a cell)."""
    thresholds = thresholds or Thresholds.from_settings()
    by_indicator: dict[int, list[Cell]] = {}
    for c in evaluation.cells:
        by_indicator.setdefault(c.indicator_id, []).append(c)
    totals = {}
    for indicator_id, cells in by_indicator.items():
        plan = evaluation.plans[indicator_id]
        totals[indicator_id] = CityTotal(
            indicator_id=indicator_id,
            target=plan.target,
            roll=indicator_roll_up(
                cells,
                level=plan.is_level,
                month=evaluation.month,
                deadline_month=plan.deadline_month,
                thresholds=thresholds,
                ceiling=plan.is_ceiling,
            ),
        )
    return totals


# --- storing ----------------------------------------------------------------------------

_COLUMNS = (
    "indicator_id",
    "district_id",
    "month",
    "status",
    "quota",
    "expected",
    "actual",
    "reported_month",
    "on_time",
    "gap_points",
    "completion_pct",
    "pace_pct",
    "is_checkpoint",
    "forecast",
    "needed_pace",
    "at_risk",
    "streak",
)
_UNIQUE = ("indicator_id", "district_id", "month")


def _row(c: Cell, month: date) -> list:
    def s(v):
        return None if v is None else str(v)

    return [
        c.indicator_id,
        c.district_id,
        month.isoformat(),
        c.status,
        s(c.quota),
        s(c.expected),
        s(c.actual),
        s(c.reported_month and c.reported_month.isoformat()),
        c.on_time,
        s(c.gap_points),
        s(c.completion_pct),
        s(c.pace_pct),
        c.is_checkpoint,
        s(c.forecast.at_deadline),
        s(c.forecast.needed_pace),
        c.at_risk,
        c.streak,
    ]


def save_evaluation(evaluation: MonthEvaluation, run_number: int) -> int:
    """Store every cell of ``evaluation`` (one upsert) and drop stale rows.

    A fixed number of statements whatever the size: with COPY (PostgreSQL,
    ``bulk.copy_supported``) the cells go into a temporary table, else they travel as one
    JSON parameter (``jsonb_array_elements``, SQLite ``json_each``), into one
    ``INSERT … ON CONFLICT (indicator, district, month) DO UPDATE`` (ids kept); rows of
    the month for these indicators not written by this run (a quota removed since) are
    deleted. The JSON parameter cost about a third of the write at 60 000 cells.
    """
    cells = evaluation.cells
    if cells:
        _upsert(
            [_row(c, evaluation.month) for c in cells],
            run_number,
            timezone.now(),
        )
    LagEvaluation.objects.filter(
        month=evaluation.month, indicator_id__in=list(evaluation.plans)
    ).exclude(run_number=run_number).delete()
    return len(cells)


def store_cells(evaluations, evaluated_at: datetime) -> int:
    """Upsert the cells of ``evaluations`` (of one or several months) in one statement (as
    ``save_evaluation``), leaving every other stored cell alone: the re-evaluation after
    a write. Only rows whose evaluation changed are written (a new ``evaluated_at``
    included): a plan reload that re-evaluates every target rewrites the cells it
    changed, not all nine months of every cell (issue 28). A stored row keeps its
    ``run_number`` (the check that last wrote it); a new one gets 0. Returns the number
    of rows written (inserted or changed)."""
    rows = [_row(c, e.month) for e in evaluations for c in e.cells]
    if not rows:
        return 0
    # a write's few cells: one statement beats COPY's four
    return _upsert(rows, 0, evaluated_at, keep_run=True, copy=False, changed_only=True)


def _upsert(
    rows: list[list],
    run_number: int,
    evaluated_at: datetime,
    *,
    keep_run: bool = False,
    copy: bool = True,
    changed_only: bool = False,
) -> int | None:
    """``changed_only``: a stored row whose evaluation columns all equal the new ones is
    left as it is (``ON CONFLICT … DO UPDATE … WHERE`` some column differs, NULL-safe);
    returns the rows written (None through COPY, which the checks use)."""
    keep = ("run_number",) if keep_run else ()
    if copy and copy_supported():  # the rows through COPY into a temporary table, then the upsert
        copy_upsert(
            LagEvaluation,
            _COLUMNS,
            rows,
            unique=_UNIQUE,
            fixed={"run_number": run_number, "evaluated_at": evaluated_at},
            keep=keep,
        )
        return
    table = connection.ops.quote_name(LagEvaluation._meta.db_table)
    fields = {f.column: f for f in LagEvaluation._meta.concrete_fields}
    columns = [*_COLUMNS, "run_number", "evaluated_at"]
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    updates = ", ".join(
        f"{connection.ops.quote_name(c)} = excluded.{connection.ops.quote_name(c)}"
        for c in columns
        if c not in _UNIQUE and c not in keep
    )
    unique = ", ".join(connection.ops.quote_name(c) for c in _UNIQUE)
    if connection.vendor == "postgresql":
        selects = ", ".join(
            f"(e->>{i})::{fields[c].db_type(connection)}" for i, c in enumerate(_COLUMNS)
        )
        source = "jsonb_array_elements(%s::jsonb) AS e"
    elif connection.vendor == "sqlite":
        selects = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_COLUMNS)))
        source = "json_each(%s) WHERE true"
    else:  # pragma: no cover - other backends: plain bulk upsert
        _bulk_upsert(rows, run_number, evaluated_at, keep)
        return
    sql = (
        f"INSERT INTO {table} ({quoted}) SELECT {selects}, %s, %s FROM {source} "
        f"ON CONFLICT ({unique}) DO UPDATE SET {updates}"
    )
    if changed_only:
        same = "IS NOT DISTINCT FROM" if connection.vendor == "postgresql" else "IS"
        compared = [connection.ops.quote_name(c) for c in _COLUMNS if c not in _UNIQUE]
        sql += (
            " WHERE NOT ("
            + " AND ".join(f"{table}.{c} {same} excluded.{c}" for c in compared)
            + ")"
        )
    params = [
        run_number,
        connection.ops.adapt_datetimefield_value(evaluated_at),
        json.dumps(rows, separators=(",", ":")),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _bulk_upsert(rows, run_number, evaluated_at, keep):  # pragma: no cover - not PG/SQLite
    objs = []
    for r in rows:
        values = dict(zip(_COLUMNS, r, strict=True))
        objs.append(LagEvaluation(**values, run_number=run_number, evaluated_at=evaluated_at))
    LagEvaluation.objects.bulk_create(
        objs,
        update_conflicts=True,
        unique_fields=["indicator", "district", "month"],
        update_fields=[c.removesuffix("_id") for c in _COLUMNS if c not in _UNIQUE]
        + [c for c in ("run_number", "evaluated_at") if c not in keep],
    )


def stored_statuses(month: date, *, indicator_ids=None):
    """The stored evaluation rows of ``month`` (for pages and the API)."""
    rows = LagEvaluation.objects.filter(month=first_of_month(month))
    if indicator_ids is not None:
        rows = rows.filter(indicator_id__in=list(indicator_ids))
    return rows
