"""One cell — an indicator × district × month, as of a time — and its roll-ups.

The one home of these rules; the lag check, every page, the API, the notice, the Excel
exports and the alert texts call them (the stored ``LagEvaluation`` rows are their output).

Vocabulary (the same names everywhere):

- 累计完成 (``actual``): the value as of a month = the district's latest report for that
  month or an earlier one of the year (``value_as_of``). Only reports filed by the as-of
  time count (the query side lives in ``tracker.monitoring.evaluation``).
- 任务数 (``quota``): the district's annual quota (a rate: its target level).
- 序时应达 (``expected``): the plan's curve at the month end (``plans.trajectory``).
- 完成率 = 累计完成 ÷ 任务数 (``completion_pct``).
- 序时完成率 = 累计完成 ÷ 序时应达 (``pace_completion_pct``).
- 序时进度 = 序时应达 ÷ 任务数 (``pace_pct``).
- 落后百分点 (``gap_points``): cumulative: (序时应达 − 累计完成) ÷ 任务数 × 100; rates:
  序时应达 − 累计完成 in points of the level.
- A ceiling (``ceiling=True``: 失业率低于4.3%, 事故率不高于…) is met at or below its bound:
  its 序时应达 is the bound in every month, the gap is how far the value is *above* it
  (累计完成 − 序时应达, in points or ÷ 任务数 × 100), and after the deadline it is met when
  累计完成 ≤ 任务数. The forecast misses when the trend crosses the bound.

Status (``classify``), in this order:

1. 未到节点 when nothing is expected yet.
2. After the completion deadline month (预计完成时间): 逾期未完成 while the target is not
   fully met (reported or not), otherwise 正常. Never milder than at the deadline.
3. 未按时填报 when there is no figure or the month's report was late.
4. 红 when the gap > red threshold, or ≥ yellow in a checkpoint month; 黄 when ≥ yellow;
   正常 otherwise.

At risk (有逾期风险, ``is_at_risk``): on track today, still before the deadline, the pace of
the last months is more than ``AT_RISK_PACE_SHORTFALL_PCT`` % below the plan's own pace
over the same months, and at that pace the quota would be missed. A district exactly on a
back-loaded plan's curve is therefore never at risk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from tracker import conf
from tracker.choices import BADNESS, LagStatus, status_counts
from tracker.ratios import HUNDRED, PLACES, POINTS, completion_pct, pace_completion_pct, pace_pct

S = LagStatus


_DECLARED = conf.BY_KEY  # the declared defaults, one home


@dataclass(frozen=True)
class Thresholds:
    """The lag thresholds; the defaults are ``tracker.conf``'s declared ones."""

    yellow: Decimal = _DECLARED["LAG_YELLOW_POINTS"].default
    red: Decimal = _DECLARED["LAG_RED_POINTS"].default
    level_yellow: Decimal = _DECLARED["LEVEL_YELLOW_POINTS"].default
    level_red: Decimal = _DECLARED["LEVEL_RED_POINTS"].default
    forecast_window: int = _DECLARED["FORECAST_WINDOW_MONTHS"].default
    risk_shortfall_pct: Decimal = _DECLARED["AT_RISK_PACE_SHORTFALL_PCT"].default

    @classmethod
    def from_settings(cls) -> Thresholds:
        """The thresholds in effect (``tracker.conf``)."""
        return cls(
            yellow=conf.LAG_YELLOW_POINTS,
            red=conf.LAG_RED_POINTS,
            level_yellow=conf.LEVEL_YELLOW_POINTS,
            level_red=conf.LEVEL_RED_POINTS,
            forecast_window=conf.FORECAST_WINDOW_MONTHS,
            risk_shortfall_pct=conf.AT_RISK_PACE_SHORTFALL_PCT,
        )

    def for_level(self, level: bool) -> tuple[Decimal, Decimal]:
        """(yellow, red) thresholds in points for a rate or a cumulative target."""
        return (self.level_yellow, self.level_red) if level else (self.yellow, self.red)


def gap_points(
    *,
    level: bool,
    quota: Decimal,
    expected: Decimal | None,
    actual: Decimal | None,
    ceiling: bool = False,
) -> Decimal | None:
    """落后百分点 (positive: behind; for a ceiling, above the bound)."""
    if actual is None or expected is None:
        return None
    raw = actual - expected if ceiling else expected - actual
    raw = raw if level else raw * HUNDRED / quota
    return raw.quantize(POINTS)


def meets(actual: Decimal | None, quota: Decimal, *, ceiling: bool = False) -> bool:
    """The target is met: at least the quota, or for a ceiling at most the bound."""
    if actual is None:
        return False
    return actual <= quota if ceiling else actual >= quota


# --- status ------------------------------------------------------------------------------


def classify(
    *,
    level: bool,
    quota: Decimal,
    expected: Decimal | None,
    actual: Decimal | None,
    on_time: bool,
    deadline_passed: bool,
    is_checkpoint: bool,
    thresholds: Thresholds,
    past_due: bool = False,
    ceiling: bool = False,
) -> tuple[str, Decimal | None]:
    """``(status, gap_points)`` of one cell (see the module docstring).

    ``deadline_passed``: the month's *reporting* deadline has passed (a missing report is
    then 未按时填报); ``past_due``: the month is after the *completion* deadline month.
    """
    gap = gap_points(level=level, quota=quota, expected=expected, actual=actual, ceiling=ceiling)
    if expected is None or (not level and expected <= 0):
        return S.NOT_DUE, gap
    if past_due:
        if meets(actual, quota, ceiling=ceiling):
            return S.ON_TRACK, gap
        return S.OVERDUE, gap
    if actual is None or (deadline_passed and not on_time):
        return S.NOT_REPORTED, gap
    yellow, red = thresholds.for_level(level)
    if gap > red:
        return S.SERIOUSLY_BEHIND, gap
    if gap >= yellow:
        return (S.SERIOUSLY_BEHIND if is_checkpoint else S.BEHIND), gap
    return S.ON_TRACK, gap


def shortfall(actual: Decimal | None, quota: Decimal, *, ceiling: bool = False) -> Decimal:
    """What is still missing to the quota (0 when met); for a ceiling, the excess above it."""
    if ceiling:
        return max((actual or Decimal(0)) - quota, Decimal(0))
    return max(quota - (actual or Decimal(0)), Decimal(0))


# --- forecast and risk ---------------------------------------------------------------------


class Forecast(NamedTuple):
    """Where the recent pace leads by the deadline.

    ``pace``: average monthly increase over the window; ``at_deadline``: the value at the
    deadline month end at that pace; ``needed_pace``: the monthly increase still needed to
    reach the quota; ``misses_target``: the forecast falls short of the quota;
    ``plan_pace``: the plan's own monthly increase for this district over the same window.

    A named tuple, not a frozen dataclass: one is built per cell of every check, and a
    frozen dataclass's ``__init__`` (``object.__setattr__`` per field) cost more than the
    forecast's arithmetic.
    """

    pace: Decimal | None = None
    at_deadline: Decimal | None = None
    needed_pace: Decimal | None = None
    months_left: int = 0
    misses_target: bool = False
    plan_pace: Decimal | None = None
    ceiling: bool = False

    def slower_than_plan(self, tolerance_pct: Decimal) -> bool:
        """The recent pace is more than ``tolerance_pct`` % below the plan's own pace."""
        if self.pace is None or self.plan_pace is None or self.plan_pace <= 0:
            return False
        return self.pace < self.plan_pace * (HUNDRED - tolerance_pct) / HUNDRED


def _q(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(PLACES)


def forecast(
    *,
    quota: Decimal,
    actual: Decimal | None,
    base_value: Decimal | None,
    window: int,
    months_left: int,
    plan_pace: Decimal | None = None,
    ceiling: bool = False,
) -> Forecast:
    """Extrapolate ``actual`` at the pace since ``base_value`` (``window`` months ago).

    For a ceiling nothing more is "needed" (``needed_pace`` None); it misses when the value
    at the deadline would be above the bound.
    """
    plan_pace = _q(plan_pace)
    if actual is None:
        return Forecast(months_left=max(months_left, 0), plan_pace=plan_pace, ceiling=ceiling)
    pace = None if base_value is None or window <= 0 else (actual - base_value) / window
    if months_left <= 0:
        return Forecast(
            pace=_q(pace),
            at_deadline=actual,
            months_left=0,
            misses_target=not meets(actual, quota, ceiling=ceiling),
            plan_pace=plan_pace,
            ceiling=ceiling,
        )
    at_deadline = None if pace is None else actual + pace * months_left
    needed = None if ceiling else max(quota - actual, Decimal(0)) / months_left
    return Forecast(
        pace=_q(pace),
        at_deadline=_q(at_deadline),
        needed_pace=_q(needed),
        months_left=months_left,
        misses_target=at_deadline is not None and not meets(at_deadline, quota, ceiling=ceiling),
        plan_pace=plan_pace,
        ceiling=ceiling,
    )


def is_at_risk(status: str, fc: Forecast, thresholds: Thresholds) -> bool:
    """有逾期风险: on track, before the deadline, slower than the plan's own curve by more
    than the tolerance, and forecast to miss the quota at that pace. A ceiling (whose plan
    has no pace: the bound is flat) is at risk when its trend crosses the bound."""
    return (
        status == S.ON_TRACK
        and fc.months_left > 0
        and fc.misses_target
        and (fc.ceiling or fc.slower_than_plan(thresholds.risk_shortfall_pct))
    )


# --- roll-ups ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RollUp:
    """Cells of one indicator summed up (a project's, a category's or the city's view).

    Cumulative: Σ 任务数, Σ 序时应达, Σ 累计完成 (uncapped) and Σ min(累计完成, 任务数)
    (capped: one district's surplus never hides another's gap); missing reports count 0.
    Rates: mean levels over the cells (actual: over those that reported). Rates derived
    from these sums with the same functions as a cell's. A ceiling caps the other way:
    max(累计完成, 任务数), so a district far below its bound never hides one above it.
    """

    quota: Decimal
    expected: Decimal | None
    actual: Decimal | None
    actual_capped: Decimal | None
    status: str
    counts: dict = field(default_factory=dict)
    cells: int = 0
    reported: int = 0
    ceiling: bool = False

    @property
    def completion_pct(self) -> Decimal | None:
        """完成率 on the capped total."""
        return completion_pct(self.actual_capped, self.quota, ceiling=self.ceiling)

    @property
    def completion_uncapped_pct(self) -> Decimal | None:
        return completion_pct(self.actual, self.quota, ceiling=self.ceiling)

    @property
    def pace_pct(self) -> Decimal | None:
        return pace_pct(self.expected, self.quota)

    @property
    def pace_completion_pct(self) -> Decimal | None:
        return pace_completion_pct(self.actual_capped, self.expected, ceiling=self.ceiling)


def _mean(values: list[Decimal]) -> Decimal | None:
    return sum(values, Decimal(0)) / len(values) if values else None


def roll_up(
    cells: Iterable,
    *,
    level: bool,
    thresholds: Thresholds,
    is_checkpoint: bool = False,
    past_due: bool = False,
    ceiling: bool = False,
) -> RollUp:
    """Roll cells (anything with ``quota``, ``expected``, ``actual``, ``status``) up.

    Status: 未到节点 with no cells; 未按时填报 when more than half of the cells are; else
    ``classify`` on the capped totals (a checkpoint or past-due month applies as for a
    cell), and never milder than 逾期未完成 when a cell is overdue and the total is short.
    """
    cells = list(cells)
    counts = status_counts(c.status for c in cells)
    expected_values = [c.expected for c in cells if c.expected is not None]
    reported = [c for c in cells if c.actual is not None]
    cap = max if ceiling else min
    if level:
        quota = _mean([c.quota for c in cells]) or Decimal(0)
        expected = _mean(expected_values)
        actual = _mean([c.actual for c in reported])
        capped = _mean([cap(c.actual, c.quota) for c in reported])
    else:
        quota = sum((c.quota for c in cells), Decimal(0))
        expected = sum(expected_values, Decimal(0)) if expected_values else None
        actual = sum((c.actual for c in reported), Decimal(0)) if reported else None
        capped = sum((cap(c.actual, c.quota) for c in reported), Decimal(0)) if reported else None
    if not cells:
        status = S.NOT_DUE
    elif counts[S.NOT_REPORTED] * 2 > len(cells):
        status = S.NOT_REPORTED
    else:
        status, _ = classify(
            level=level,
            quota=quota or Decimal(1),
            expected=expected,
            actual=capped if capped is not None else Decimal(0),
            on_time=True,
            deadline_passed=False,
            is_checkpoint=is_checkpoint,
            thresholds=thresholds,
            past_due=past_due or counts[S.OVERDUE] > 0,
            ceiling=ceiling,
        )
    return RollUp(
        quota=quota.quantize(PLACES),
        expected=_q(expected),
        actual=_q(actual),
        actual_capped=_q(capped),
        status=status,
        counts=counts,
        cells=len(cells),
        reported=len(reported),
        ceiling=ceiling,
    )


def indicator_roll_up(
    cells: Iterable,
    *,
    level: bool,
    month: date,
    deadline_month: date,
    thresholds: Thresholds,
    ceiling: bool = False,
) -> RollUp:
    """An indicator's figure and status over its stored cells of ``month``: the one
    roll-up of an indicator (the check's city totals, the overview, the API summaries).
    ``roll_up`` as a cell in a checkpoint month (any of its cells stands at a checkpoint
    of the curve: the city's curve is every split cell's) and after the indicator's
    deadline month (``deadline_month``); a ceiling caps at the bound from above."""
    cells = list(cells)
    return roll_up(
        cells,
        level=level,
        thresholds=thresholds,
        is_checkpoint=any(c.is_checkpoint for c in cells),
        past_due=month > deadline_month,
        ceiling=ceiling,
    )


def sort_key_worst_first(status: str, gap: Decimal | None) -> tuple:
    """Sort key: worse status first, then the larger gap."""
    return (-BADNESS[status], -(gap if gap is not None else Decimal(-1000)))
