"""Alert episodes from the months' evaluations (the checks that run them: ``checks``).

``run_lag_check(month)`` is the whole monthly check, the one thing tasks and the
``check_lag`` command call: under a per-month lock it evaluates the month
(``monitoring.evaluation``), stores the statuses, brings the alert episodes in line
(``sync_alerts``) and records one digest per recipient with the news
(``notifications.digests``), all in one transaction. ``run_due_checks(month)`` catches
up: it (re)runs, in order, every month of the year up to ``month`` that was never
checked or whose figures changed since (a report filed, corrected or deleted), and
notifies once, at the end. ``run_milestone_check(month)`` checks qualitative milestones
(确定点位, 开展招标 …) due by a milestone month; ``run_due_milestone_checks`` catches up
milestone months never checked, each as of the time its check was due.

An alert is an **episode** per (indicator, district, kind) (``LagAlert``):

- The episodes of a cell are *derived* from the stored statuses of every evaluated month
  of the year: each run of consecutive problem months (``PROBLEM_STATUSES``) is one
  episode, 进度滞后 (any problem status other than 未按时填报; a month not reported
  inside a lag run continues it) or 未按时填报. It is open while the run reaches the
  latest evaluated month, otherwise resolved in the first month after the run.
- ``sync_alerts`` reconciles the stored episodes with that derivation through the model's
  transitions: open, update (latest numbers, streak), escalate (streak ≥
  ``ESCALATE_TO_AGENCY_AFTER``: lead agency; ≥ ``ESCALATE_TO_SUPERVISION_AFTER``: 督查室
  with 挂牌督办), resolve, reopen, supersede (a correction removed the cause: a stored
  episode that overlaps no derived run). Each status change is a flip.
- Because the derivation looks at the whole year, re-evaluating a past month (a
  correction, a late filing, a deletion) changes only what the months' statuses really
  change; an episode resolved by a later month stays resolved.
- 提示 (at risk) episodes follow the latest evaluated month only; they are never mailed.
- Notifying is separate (``LagAlert.objects.with_news()``): what recipients were last told
  is kept on the episode, so an alert already delivered is never delivered again.
- Acknowledging (``LagAlert.acknowledge``) is done by people.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from tracker import conf
from tracker import formats as number
from tracker.choices import PROBLEM_STATUSES, LagStatus
from tracker.db.bulk import copy_create, copy_history, copy_supported, copy_update
from tracker.monitoring.evaluation import Cell, MonthEvaluation
from tracker.monitoring.models import LagAlert, LagAlertFlip, LagEvaluation
from tracker.monitoring.rules import shortfall
from tracker.months import (
    first_of_month,
    month_end,
    month_end_label,
    month_label,
    short_month_end_label,
)
from tracker.plans.models import Milestone
from tracker.plans.reference import District
from tracker.plans.trajectory import IndicatorPlan
from tracker.plans.units import city_unit_ids
from tracker.progress.models import MilestoneCompletion

logger = logging.getLogger(__name__)

Kind, Severity, Status, Level = LagAlert.Kind, LagAlert.Severity, LagAlert.Status, LagAlert.Level
CHECK_KINDS = (Kind.LAG, Kind.NOT_REPORTED)  # derived from the months' statuses
CHANGE_REASON = "进度检查"
BATCH = 2000  # rows per multi-row INSERT (Django lowers it to what the backend allows)
FAR = date.max
TRACKED_FIELDS = (
    "month",
    "last_month",
    "severity",
    "status",
    "level",
    "supervised",
    "streak",
    "quota",
    "expected",
    "actual",
    "gap_points",
    "forecast",
    "message",
    "closed_at",
    "closed_in_month",
)


# --- explanations -------------------------------------------------------------------


def explain(kind: str, cell: Cell, plan: IndicatorPlan, district_name: str, month: date) -> str:
    """The plain Chinese explanation of an alert, with the numbers, in the domain's words
    (``tracker.ratios``): 累计完成, 序时应达, 任务数, 完成率 = 累计完成 ÷ 任务数,
    序时完成率 = 累计完成 ÷ 序时应达, amounts in the plan's printed units (「25 万人」).

    e.g. “萧山区 新增老年助餐服务点：截至2024年9月底累计完成 30 个，序时应达 40 个，
    差 10 个（完成率 75%，序时完成率 75%）；按近三月进度预计11月底达 38 个”.
    """
    who = "全市" if plan.is_city_only else district_name
    head = f"{who} {plan.label}："
    fc = cell.forecast
    deadline = short_month_end_label(plan.deadline)
    parts = []
    if kind == Kind.NOT_REPORTED:
        parts.append(f"{month_label(month)}进度未按时填报")
        if cell.actual is not None and cell.reported_month is not None:
            parts.append(
                f"最近一次填报为截至{month_end_label(cell.reported_month)}"
                f"{_amount(plan, cell.actual)}，本月序时应达 {_show(plan, cell.expected)}"
            )
        return head + "；".join(parts)
    rates = (
        f"完成率 {number.percent(cell.completion_pct)}，"
        f"序时完成率 {number.percent(cell.pace_completion_pct)}"
    )
    if cell.status == LagStatus.OVERDUE:
        parts.append(
            f"已过预计完成时间（{deadline}），截至{month_end_label(month)}"
            f"{_amount(plan, cell.actual) if cell.actual is not None else '未填报'}，"
            f"任务数 {_bound(plan, cell.quota)}，{'超出' if plan.is_ceiling else '尚差'} "
            f"{_show(plan, shortfall(cell.actual, cell.quota, ceiling=plan.is_ceiling))}（完成率 "
            f"{number.percent(cell.completion_pct)}），逾期未完成"
        )
        if cell.streak >= 2:
            parts.append(f"已连续 {cell.streak} 个月滞后")
        return head + "；".join(parts)
    if plan.is_ceiling and kind != Kind.AT_RISK:  # above the bound (失业率低于4.3%)
        above = (cell.actual or 0) - (cell.expected or 0)
        parts.append(
            f"截至{month_end_label(month)}{_amount(plan, cell.actual)}，上限 "
            f"{_bound(plan, cell.expected)}，超出 {_show(plan, above)}"
        )
    elif plan.is_level:
        parts.append(
            f"截至{month_end_label(month)}为 {number.percent(cell.actual)}，序时应达 "
            f"{number.percent(cell.expected)}，低 {number.points(cell.gap_points)}"
        )
    elif kind == Kind.AT_RISK:
        parts.append(
            f"截至{month_end_label(month)}{_amount(plan, cell.actual)}，"
            f"序时应达 {_show(plan, cell.expected)}，目前进度正常"
        )
    else:
        behind = (cell.expected or 0) - (cell.actual or 0)
        parts.append(
            f"截至{month_end_label(month)}{_amount(plan, cell.actual)}，"
            f"序时应达 {_show(plan, cell.expected)}，差 {_show(plan, behind)}（{rates}）"
        )
    if (
        kind == Kind.LAG
        and cell.status == LagStatus.SERIOUSLY_BEHIND
        and cell.is_checkpoint
        and cell.gap_points is not None
        and cell.gap_points <= _red_points(plan)
    ):  # 红 only because a checkpoint was missed
        parts.append(f"未完成「{cell.checkpoint_text}」节点")
    if fc.months_left > 0 and fc.at_deadline is not None:
        verb = "仅达" if kind == Kind.AT_RISK else "达"
        text = f"按近三月进度预计{deadline}{verb} {_show(plan, fc.at_deadline)}"
        if kind == Kind.AT_RISK:
            text += (
                f"，超出上限 {_bound(plan, cell.quota)}"
                if plan.is_ceiling
                else f"，低于任务数 {_show(plan, cell.quota)}"
            )
        parts.append(text)
        if fc.needed_pace is not None and fc.at_deadline < cell.quota:
            parts.append(f"此后每月需完成 {_show(plan, fc.needed_pace)}")
    elif fc.months_left <= 0:
        parts.append(f"已到预计完成时间（{deadline}），任务数 {_show(plan, cell.quota)}")
    if cell.streak >= 2 and kind != Kind.AT_RISK:
        parts.append(f"已连续 {cell.streak} 个月滞后")
    return head + "；".join(parts)


def _show(plan: IndicatorPlan, value: Decimal | None) -> str:
    """An amount in the plan's printed units (the one formatter, ``formats``)."""
    return number.amount(
        value, plan.unit, level=plan.is_level, scale=number.scale_of(plan.target_text)
    )


def _bound(plan: IndicatorPlan, value: Decimal | None) -> str:
    """A quota as printed, 「≤4.3%」 for a ceiling."""
    return ("≤" if plan.is_ceiling and value is not None else "") + _show(plan, value)


def _amount(plan: IndicatorPlan, value: Decimal) -> str:
    return f"为 {_show(plan, value)}" if plan.is_level else f"累计完成 {_show(plan, value)}"


def _red_points(plan: IndicatorPlan) -> Decimal:
    return conf.LEVEL_RED_POINTS if plan.is_level else conf.LAG_RED_POINTS


# --- episodes from the months' statuses ------------------------------------------------


def escalation(streak: int) -> tuple[int, bool]:
    """``(level, 挂牌督办)`` for a district behind ``streak`` months in a row."""
    if streak >= conf.ESCALATE_TO_SUPERVISION_AFTER:
        return Level.SUPERVISION, True
    if streak >= conf.ESCALATE_TO_AGENCY_AFTER:
        return Level.AGENCY, False
    return Level.DISTRICT, False


def kind_for(status: str) -> str:
    """The episode kind a problem status belongs to: 未按时填报, or 进度滞后 for every
    other problem status (黄, 红 and any status later added to ``PROBLEM_STATUSES``)."""
    return Kind.NOT_REPORTED if status == LagStatus.NOT_REPORTED else Kind.LAG


def severity_for(status: str) -> str:
    """黄 for 滞后（黄） and 未按时填报; 红 for every other problem status."""
    if status in (LagStatus.BEHIND, LagStatus.NOT_REPORTED):
        return Severity.YELLOW
    return Severity.RED


@dataclass(slots=True)
class Row:
    """A stored problem status of one cell in one month (from ``LagEvaluation``)."""

    month: date
    status: str
    streak: int
    quota: Decimal | None = None
    expected: Decimal | None = None
    actual: Decimal | None = None
    gap_points: Decimal | None = None
    forecast: Decimal | None = None


@dataclass
class Run:
    """A derived episode: consecutive problem months of one kind."""

    kind: str
    start: date
    last: Row
    severity: str
    end: date | None = None  # the first month after the run (resolved in it)


def derive_runs(months: list[date], rows: dict[date, Row]) -> list[Run]:
    """The episodes of one cell, given the evaluated months (in order) and the cell's
    problem rows. A month not reported inside a lag run continues it (not reporting is
    no recovery); a lag month after a not-reported run resolves that run (a report came)
    and opens a lag episode."""
    runs: list[Run] = []
    current: Run | None = None
    for month in months:
        row = rows.get(month)
        if row is None:
            if current is not None:
                current.end = month
                runs.append(current)
                current = None
            continue
        kind = kind_for(row.status)
        if current is not None and current.kind == Kind.NOT_REPORTED and kind == Kind.LAG:
            current.end = month
            runs.append(current)
            current = None
        if current is None:
            current = Run(kind, month, row, severity_for(row.status))
        else:
            current.last = row
            if kind == current.kind:
                current.severity = severity_for(row.status)
    if current is not None:
        runs.append(current)
    return runs


def brief(kind: str, row: Row, plan: IndicatorPlan, district_name: str) -> str:
    """A short explanation from a stored row (months re-derived without their ``Cell``)."""
    head = f"{district_name} {plan.label}："
    if kind == Kind.NOT_REPORTED:
        return head + f"{month_label(row.month)}进度未按时填报"
    return head + (
        f"截至{month_end_label(row.month)}{_amount(plan, row.actual)}，"
        f"序时应达 {_show(plan, row.expected)}"
        f"（{LagStatus(row.status).label}）"
    )


@dataclass
class AlertChanges:
    created: list[LagAlert] = field(default_factory=list)
    updated: list[LagAlert] = field(default_factory=list)
    escalated: list[LagAlert] = field(default_factory=list)
    resolved: list[LagAlert] = field(default_factory=list)
    superseded: list[LagAlert] = field(default_factory=list)

    tally: Counter = field(default_factory=Counter)  # counts of changes not kept

    def merge(self, other: AlertChanges, *, keep: bool = True) -> None:
        """Add ``other``'s changes (``keep=False``: only their counts)."""
        if not keep:
            self.tally.update(other.counts())
            return
        for name in ("created", "updated", "escalated", "resolved", "superseded"):
            getattr(self, name).extend(getattr(other, name))
        self.tally.update(other.tally)

    def counts(self) -> dict[str, int]:
        kept = {
            "新增": len(self.created),
            "更新": len(self.updated),
            "升级": len(self.escalated),
            "解除": len(self.resolved),
            "撤销": len(self.superseded),
        }
        return {k: v + self.tally[k] for k, v in kept.items()}


class EpisodeWriter:
    """Collects the episodes and flips of a sync and writes them in bulk (with history)."""

    def __init__(self, now: datetime, changes: AlertChanges):
        self.now, self.changes = now, changes
        self.new: list[LagAlert] = []
        self.changed: list[LagAlert] = []
        self.flips: list[LagAlertFlip] = []
        self._before: dict[int, tuple] = {}

    def watch(self, alert: LagAlert) -> None:
        self._before[id(alert)] = tuple(getattr(alert, f) for f in TRACKED_FIELDS)

    def flip(self, flip: LagAlertFlip | None) -> None:
        if flip is None:
            return
        self.flips.append(flip)
        to = flip.new_status
        if to == Status.RESOLVED:
            self.changes.resolved.append(flip.alert)
        elif to == Status.SUPERSEDED:
            self.changes.superseded.append(flip.alert)
        elif to == Status.ESCALATED and flip.old_status:
            self.changes.escalated.append(flip.alert)

    def created(self, alert: LagAlert, flip: LagAlertFlip) -> None:
        self.new.append(alert)
        self.flips.append(flip)
        self.changes.created.append(alert)

    def done(self, alert: LagAlert) -> None:
        """Queue ``alert`` for saving if a tracked field changed."""
        before = self._before.pop(id(alert))
        if tuple(getattr(alert, f) for f in TRACKED_FIELDS) != before:
            alert.updated_at = self.now
            self.changed.append(alert)
            self.changes.updated.append(alert)

    def write(self) -> None:
        if copy_supported():  # PostgreSQL: COPY (db.bulk), the same rows
            self._copy()
            return
        # Changed episodes first: one resolved here frees its key for a new episode of
        # the same cell and kind (a correction splitting a run in two).
        if self.changed:
            # One multi-row upsert per batch (INSERT … ON CONFLICT (id) DO UPDATE) instead
            # of Django's bulk_update, whose CASE WHEN per row and field costs seconds at
            # tens of thousands of episodes; then their history rows in bulk.
            LagAlert.objects.bulk_create(
                self.changed,
                batch_size=BATCH,
                update_conflicts=True,
                unique_fields=["id"],
                update_fields=[*TRACKED_FIELDS, "updated_at"],
            )
            LagAlert.history.bulk_history_create(
                self.changed,
                batch_size=BATCH,
                update=True,
                default_change_reason=CHANGE_REASON,
                default_date=self.now,
            )
        if self.new:
            bulk_create_with_history(
                self.new,
                LagAlert,
                batch_size=BATCH,
                default_change_reason=CHANGE_REASON,
                default_date=self.now,
            )
            if any(a.pk is None for a in self.new):  # backends that return no ids
                self._fetch_ids()
        for flip in self.flips:
            flip.alert_id = flip.alert.pk
        LagAlertFlip.objects.bulk_create(self.flips, batch_size=BATCH)

    def _copy(self) -> None:
        copy_update(LagAlert, self.changed, [*TRACKED_FIELDS, "updated_at"])
        copy_history(LagAlert, self.changed, update=True, date=self.now, reason=CHANGE_REASON)
        copy_create(LagAlert, self.new)
        copy_history(LagAlert, self.new, update=False, date=self.now, reason=CHANGE_REASON)
        for flip in self.flips:
            flip.alert_id = flip.alert.pk
        copy_create(LagAlertFlip, self.flips)

    def _fetch_ids(self) -> None:  # pragma: no cover - PostgreSQL and SQLite return ids
        ids = {
            (a.indicator_id, a.district_id, a.kind, a.month, a.created_at): a.pk
            for a in LagAlert.objects.filter(created_at=self.now)
        }
        for a in self.new:
            a.pk = ids[(a.indicator_id, a.district_id, a.kind, a.month, a.created_at)]


def _numbers(run: Run, cell: Cell | None, plan: IndicatorPlan, name: str, month: date) -> dict:
    """The fields an episode takes from the last month of its run: from the evaluated
    ``Cell`` when that month is the one being checked, otherwise from the stored row."""
    row = run.last
    values = {
        "severity": run.severity,
        "streak": row.streak,
        "level": escalation(row.streak)[0],
    }
    if cell is not None:
        values.update(
            quota=cell.quota,
            expected=cell.expected,
            actual=cell.actual,
            gap_points=cell.gap_points,
            forecast=cell.forecast.at_deadline,
            message=explain(kind_for(cell.status), cell, plan, name, month),
        )
    else:
        values.update(
            quota=row.quota,
            expected=row.expected,
            actual=row.actual,
            gap_points=row.gap_points,
            forecast=row.forecast,
        )
    return values


def _overlaps(alert: LagAlert, run: Run) -> bool:
    return alert.month < (run.end or FAR) and run.start < (alert.closed_in_month or FAR)


def evaluated_months(year: int, indicator_ids, *, exclude: date | None = None) -> list[date]:
    """The months of ``year`` with stored statuses for any of ``indicator_ids``
    (``exclude``: a month left out)."""
    rows = LagEvaluation.objects.filter(month__year=year, indicator_id__in=list(indicator_ids))
    if exclude is not None:
        rows = rows.exclude(month=exclude)
    return sorted(set(rows.order_by().values_list("month", flat=True).distinct()))


class EvaluatedMonths:
    """The evaluated months every batch of ``month``'s check derives episodes from
    (``evaluated_months`` of the whole plan, after the batch's statuses are stored).

    A check writes statuses of its own month only, so the other months are read once
    per check (the year's statuses scanned once instead of once per batch); the checked
    month counts once any of the plan's statuses for it is stored, which a batch that
    has just stored cells, or follows one, knows without asking (otherwise one indexed
    lookup)."""

    def __init__(self, month: date, indicator_ids):
        self.month, self.ids = month, list(indicator_ids)
        self._others: list[date] | None = None
        self._present = False  # once stored, the month's statuses stay for the check

    def after_save(self, *, stored: bool) -> list[date]:
        if self._others is None:
            self._others = evaluated_months(self.month.year, self.ids, exclude=self.month)
        self._present = (
            self._present
            or stored
            or LagEvaluation.objects.filter(month=self.month, indicator_id__in=self.ids).exists()
        )
        return sorted({*self._others, self.month} if self._present else self._others)


def by_plan(plans: dict) -> dict[int | None, list[int]]:
    """Indicator ids (of ``{indicator_id: IndicatorPlan}``) grouped by their plan: each
    plan of a year has its own evaluated months."""
    out: dict[int | None, list[int]] = defaultdict(list)
    for pk, plan in plans.items():
        out[plan.plan_year_id].append(pk)
    return dict(out)


class PlanMonths:
    """``EvaluatedMonths`` per plan of the check: a plan loaded in June has no January
    statuses, so its episodes are not cut short by another plan's months."""

    def __init__(self, month: date, plans: dict):
        self.of = {p: EvaluatedMonths(month, ids) for p, ids in by_plan(plans).items()}

    def after_save(self, evaluation: MonthEvaluation) -> dict[int | None, list[date]]:
        stored = {evaluation.plans[c.indicator_id].plan_year_id for c in evaluation.cells}
        wanted = {p.plan_year_id for p in evaluation.plans.values()}
        return {p: m.after_save(stored=p in stored) for p, m in self.of.items() if p in wanted}


def sync_alerts(
    evaluation: MonthEvaluation,
    *,
    now: datetime | None = None,
    months: list[date] | dict | None = None,
) -> AlertChanges:
    """Bring the year's episodes of the evaluated indicators in line with the stored
    statuses of every evaluated month (``evaluation`` has just been stored); see the
    module docstring. Bounded queries: the year's problem rows, the evaluated months, the
    stored episodes, then bulk writes. ``months``: the evaluated months, when the caller
    knows them (a check by indicator batches: those of the whole plan, so every batch
    sees the same months; ``PlanMonths``), by plan id, or one list for all; default those
    of the evaluated indicators, plan by plan (two plans of a year never share months)."""
    now = now or timezone.now()
    changes = AlertChanges()
    if not evaluation.plans:
        return changes
    month = evaluation.month
    ids = list(evaluation.plans)
    year = LagEvaluation.objects.filter(month__year=month.year, indicator_id__in=ids)
    groups = by_plan(evaluation.plans)
    if months is None:
        months = {p: evaluated_months(month.year, pks) for p, pks in groups.items()}
    elif not isinstance(months, dict):
        months = dict.fromkeys(groups, months)
    rows: dict[tuple[int, int], dict[date, Row]] = defaultdict(dict)
    for i, d, m, *rest in year.filter(status__in=PROBLEM_STATUSES).values_list(
        "indicator_id", "district_id", "month", "status", "streak",
        "quota", "expected", "actual", "gap_points", "forecast",
    ):  # fmt: skip
        rows[(i, d)][m] = Row(m, *rest)
    stored: dict[tuple, list[LagAlert]] = defaultdict(list)
    for alert in (
        LagAlert.objects.filter(month__year=month.year, indicator_id__in=ids)
        .exclude(status=Status.SUPERSEDED)
        .order_by("month", "pk")
    ):
        stored[(alert.indicator_id, alert.district_id, alert.kind)].append(alert)
    names = dict(District.objects.values_list("pk", "name"))
    cells = {(c.indicator_id, c.district_id): c for c in evaluation.cells}
    out = EpisodeWriter(now, changes)

    keys = set(rows) | {(i, d) for (i, d, k) in stored if k in CHECK_KINDS}
    for indicator_id, district_id in sorted(keys):
        plan = evaluation.plans[indicator_id]
        name = "全市" if plan.is_city_only else names.get(district_id, "")
        runs = derive_runs(months[plan.plan_year_id], rows.get((indicator_id, district_id), {}))
        cell = cells.get((indicator_id, district_id))
        for kind in CHECK_KINDS:
            episodes = stored.get((indicator_id, district_id, kind), [])
            matched: set[int] = set()
            for run in (r for r in runs if r.kind == kind):
                current = cell if run.last.month == month else None
                numbers = _numbers(run, current, plan, name, month)
                alert = next(
                    (a for a in episodes if id(a) not in matched and _overlaps(a, run)), None
                )
                if alert is None:
                    numbers.setdefault("message", brief(kind, run.last, plan, name))
                    alert, flip = LagAlert.open(
                        indicator_id, district_id, kind, run.start, now=now, **numbers
                    )
                    alert.last_month = run.last.month
                    out.created(alert, flip)
                    if run.end is not None:
                        out.flip(alert.resolve(run.end, now=now))
                    continue
                matched.add(id(alert))
                out.watch(alert)
                alert.month = run.start
                out.flip(alert.update(run.last.month, now=now, **numbers))
                alert.last_month = run.last.month  # a correction may have shortened it
                if run.end is None:
                    out.flip(alert.reopen(run.last.month, now=now))
                elif alert.is_active:
                    out.flip(alert.resolve(run.end, now=now))
                elif alert.status == Status.RESOLVED:
                    alert.closed_in_month = run.end
                out.done(alert)
            for alert in episodes:
                if id(alert) not in matched:
                    out.watch(alert)
                    out.flip(alert.supersede(month, now=now))
                    out.done(alert)
    latest = max((m[-1] for m in months.values() if m), default=None)
    if month == latest:
        _sync_at_risk(evaluation, stored, names, out)
    out.write()
    return changes


def _sync_at_risk(
    evaluation: MonthEvaluation, stored: dict, names: dict, out: EpisodeWriter
) -> None:
    """提示 episodes follow the latest evaluated month: open while at risk."""
    month, now = evaluation.month, out.now
    wanted = {}
    for cell in evaluation.cells:
        if _needs_risk_alert(cell):
            wanted[(cell.indicator_id, cell.district_id)] = cell
    for (i, d, kind), episodes in stored.items():
        if kind != Kind.AT_RISK:
            continue
        for alert in episodes:
            if not alert.is_active:
                continue
            out.watch(alert)
            cell = wanted.pop((i, d), None)
            if cell is None:
                out.flip(alert.resolve(month, now=now, why="预计可按期完成"))
            else:
                out.flip(alert.update(month, now=now, **_risk_numbers(evaluation, cell, names)))
            out.done(alert)
    for (i, d), cell in wanted.items():
        alert, flip = LagAlert.open(
            i, d, Kind.AT_RISK, month, now=now, why="预计难以按期完成",
            **_risk_numbers(evaluation, cell, names),
        )  # fmt: skip
        out.created(alert, flip)


def _risk_numbers(evaluation: MonthEvaluation, cell: Cell, names: dict) -> dict:
    plan = evaluation.plans[cell.indicator_id]
    return {
        "severity": Severity.INFO,
        "streak": 0,
        "quota": cell.quota,
        "expected": cell.expected,
        "actual": cell.actual,
        "gap_points": cell.gap_points,
        "forecast": cell.forecast.at_deadline,
        "message": explain(
            Kind.AT_RISK, cell, plan, names.get(cell.district_id, ""), evaluation.month
        ),
    }


def _needs_risk_alert(cell: Cell) -> bool:
    """At risk by the one rule (``tracker.monitoring.rules.is_at_risk``, stored as
    ``Cell.at_risk``): on track, slower than the plan's own pace and forecast short."""
    return cell.at_risk


def preview_alerts(evaluation: MonthEvaluation) -> list[LagAlert]:
    """What the month alone calls for (a dry run): one unsaved episode per problem or
    at-risk cell, with its explanation."""
    names = dict(District.objects.values_list("pk", "name"))
    out = []
    for cell in evaluation.cells:
        if cell.status in PROBLEM_STATUSES:
            kind, severity = kind_for(cell.status), severity_for(cell.status)
        elif _needs_risk_alert(cell):
            kind, severity = Kind.AT_RISK, Severity.INFO
        else:
            continue
        plan = evaluation.plans[cell.indicator_id]
        level, supervised = escalation(cell.streak) if kind != Kind.AT_RISK else (0, False)
        out.append(
            LagAlert(
                indicator_id=cell.indicator_id, district_id=cell.district_id, kind=kind,
                month=evaluation.month, last_month=evaluation.month, severity=severity,
                level=level, supervised=supervised, streak=cell.streak,
                message=explain(kind, cell, plan, names.get(cell.district_id, ""),
                                evaluation.month),
            )
        )  # fmt: skip
    return out


# --- qualitative milestones -------------------------------------------------------------


def milestone_alerts(month: date, plans: dict[int, IndicatorPlan], as_of: datetime) -> dict:
    """``{(indicator_id, district_id): (first due month, message)}`` for qualitative
    milestones due by the end of ``month`` (this year) that a district has not marked
    done by ``as_of``.

    A district owes a milestone when it has a quota on an indicator it concerns (the
    city district for indicators done by the city as a whole); a district-specific
    milestone is owed by that district only. The alert sits on the milestone's
    indicator, or for a project-wide one on the project's first indicator.
    """
    milestones = list(
        Milestone.objects.filter(
            project_id__in={p.project_id for p in plans.values()},
            kind=Milestone.Kind.QUALITATIVE,
            due_date__gte=month.replace(month=1),
            due_date__lte=month_end(month),
        )
        .select_related("project")
        .order_by("due_date", "project__seq", "order")
    )
    if not milestones:
        return {}
    done = set(
        MilestoneCompletion.objects.filter(
            milestone__in=milestones, done=True, reported_at__lte=as_of
        ).values_list("milestone_id", "district_id")
    )
    by_project: dict[int, list[IndicatorPlan]] = defaultdict(list)
    for plan in plans.values():
        by_project[plan.project_id].append(plan)
    city_units = city_unit_ids({p.plan_year_id for p in plans.values()})
    names = dict(District.objects.values_list("pk", "name"))
    missing: dict[tuple, list[Milestone]] = defaultdict(list)
    for m in milestones:
        concerned = [
            p for p in by_project[m.project_id] if m.indicator_id in (None, p.indicator_id)
        ]
        if not concerned:
            continue
        anchor = concerned[0].indicator_id
        if m.district_id is not None:
            owing = {m.district_id}
        else:
            owing = set()
            for p in concerned:
                owing.update(p.quotas)
                city = city_units.get(p.plan_year_id)  # the plan's own 市本级 column
                if p.is_city_only and city is not None:
                    owing.add(city)
        for district_id in owing:
            if (m.pk, district_id) not in done:
                missing[(anchor, district_id)].append(m)
    wanted = {}
    for key, items in missing.items():
        project = items[0].project
        texts = "；".join(f"「{m.text}」（{short_month_end_label(m.due_date)}）" for m in items)
        wanted[key] = (
            first_of_month(items[0].due_date),
            f"{names.get(key[1], '')} {project.name}：应完成的节点未完成：{texts}",
        )
    return wanted
