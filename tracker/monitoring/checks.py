"""Alert episodes from the months' evaluations, and the checks that produce them.

``run_lag_check(month)`` is the whole monthly check, the one thing tasks and the
``check_lag`` command call: under a per-month lock it evaluates the month
(``services.lag``), stores the statuses, brings the alert episodes in line
(``sync_alerts``) and records one digest per recipient with the news
(``services.notifications``), all in one transaction. ``run_due_checks(month)`` catches
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
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from tracker import formats as number
from tracker.calendar import reporting_deadline
from tracker.db.bulk import copy_create, copy_history, copy_supported, copy_update
from tracker.monitoring.evaluation import (
    PROBLEM_STATUSES,
    Cell,
    LagStatus,
    MonthEvaluation,
    evaluate_month,
    indicator_batches,
    save_evaluation,
)
from tracker.monitoring.models import LagAlert, LagAlertFlip, LagEvaluation, LagRun
from tracker.monitoring.rules import shortfall
from tracker.months import add_months, first_of_month, month_end, month_end_label
from tracker.notifications.digests import create_digests
from tracker.plans.models import Milestone
from tracker.plans.reference import District, PlanYear
from tracker.plans.trajectory import IndicatorPlan, load_indicator_plans, milestone_months
from tracker.plans.units import city_unit_ids
from tracker.progress.models import MilestoneCompletion, ProgressReport

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
    (``tracker.domain``): 累计完成, 序时应达, 任务数, 完成率 = 累计完成 ÷ 任务数, 序时完成率 =
    累计完成 ÷ 序时应达, amounts in the plan's printed units (「25 万人」).

    e.g. “萧山区 新增老年助餐服务点：截至2024年9月底累计完成 30 个，序时应达 40 个，
    差 10 个（完成率 75%，序时完成率 75%）；按近三月进度预计11月底达 38 个”.
    """
    who = "全市" if plan.is_city_only else district_name
    head = f"{who} {plan.label}："
    fc = cell.forecast
    deadline = f"{plan.deadline.month}月底"
    parts = []
    if kind == Kind.NOT_REPORTED:
        parts.append(f"{month.year}年{month.month}月进度未按时填报")
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
            f"任务数 {_show(plan, cell.quota)}，尚差 "
            f"{_show(plan, shortfall(cell.actual, cell.quota))}（完成率 "
            f"{number.percent(cell.completion_pct)}），逾期未完成"
        )
        if cell.streak >= 2:
            parts.append(f"已连续 {cell.streak} 个月滞后")
        return head + "；".join(parts)
    if plan.is_level:
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
            text += f"，低于任务数 {_show(plan, cell.quota)}"
        parts.append(text)
        if fc.needed_pace is not None and fc.at_deadline < cell.quota:
            parts.append(f"此后每月需完成 {_show(plan, fc.needed_pace)}")
    elif fc.months_left <= 0:
        parts.append(f"已到预计完成时间（{deadline}），任务数 {_show(plan, cell.quota)}")
    if cell.streak >= 2 and kind != Kind.AT_RISK:
        parts.append(f"已连续 {cell.streak} 个月滞后")
    return head + "；".join(parts)


def _show(plan: IndicatorPlan, value: Decimal | None) -> str:
    """An amount in the plan's printed units (the one formatter, ``domain.format``)."""
    return number.amount(
        value, plan.unit, level=plan.is_level, scale=number.scale_of(plan.target_text)
    )


def _amount(plan: IndicatorPlan, value: Decimal) -> str:
    return f"为 {_show(plan, value)}" if plan.is_level else f"累计完成 {_show(plan, value)}"


def _red_points(plan: IndicatorPlan) -> Decimal:
    key = "LEVEL_RED_POINTS" if plan.is_level else "LAG_RED_POINTS"
    return Decimal(str(settings.TRACKER.get(key, 30)))


# --- episodes from the months' statuses ------------------------------------------------


def escalation(streak: int) -> tuple[int, bool]:
    """``(level, 挂牌督办)`` for a district behind ``streak`` months in a row."""
    conf = settings.TRACKER
    if streak >= int(conf.get("ESCALATE_TO_SUPERVISION_AFTER", 3)):
        return Level.SUPERVISION, True
    if streak >= int(conf.get("ESCALATE_TO_AGENCY_AFTER", 2)):
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
        return head + f"{row.month.year}年{row.month.month}月进度未按时填报"
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


class _Writer:
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
        if copy_supported():  # PostgreSQL: COPY (services.bulk), the same rows
            self._copy()
            return
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
        for flip in self.flips:
            flip.alert_id = flip.alert.pk
        LagAlertFlip.objects.bulk_create(self.flips, batch_size=BATCH)

    def _copy(self) -> None:
        copy_create(LagAlert, self.new)
        copy_history(LagAlert, self.new, update=False, date=self.now, reason=CHANGE_REASON)
        copy_update(LagAlert, self.changed, [*TRACKED_FIELDS, "updated_at"])
        copy_history(LagAlert, self.changed, update=True, date=self.now, reason=CHANGE_REASON)
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


def sync_alerts(
    evaluation: MonthEvaluation,
    *,
    now: datetime | None = None,
    months: list[date] | None = None,
) -> AlertChanges:
    """Bring the year's episodes of the evaluated indicators in line with the stored
    statuses of every evaluated month (``evaluation`` has just been stored); see the
    module docstring. Bounded queries: the year's problem rows, the evaluated months, the
    stored episodes, then bulk writes. ``months``: the evaluated months, when the caller
    knows them (a check by indicator batches: those of the whole plan, so every batch
    sees the same months; ``EvaluatedMonths``); default those of the evaluated
    indicators."""
    now = now or timezone.now()
    changes = AlertChanges()
    if not evaluation.plans:
        return changes
    month = evaluation.month
    ids = list(evaluation.plans)
    year = LagEvaluation.objects.filter(month__year=month.year, indicator_id__in=ids)
    if months is None:
        months = evaluated_months(month.year, ids)
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
    out = _Writer(now, changes)

    keys = set(rows) | {(i, d) for (i, d, k) in stored if k in CHECK_KINDS}
    for indicator_id, district_id in sorted(keys):
        plan = evaluation.plans[indicator_id]
        name = "全市" if plan.is_city_only else names.get(district_id, "")
        runs = derive_runs(months, rows.get((indicator_id, district_id), {}))
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
    if months and month == months[-1]:
        _sync_at_risk(evaluation, stored, names, out)
    out.write()
    return changes


def _sync_at_risk(evaluation: MonthEvaluation, stored: dict, names: dict, out: _Writer) -> None:
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


# --- the checks ---------------------------------------------------------------------------


@dataclass
class CheckResult:
    month: date
    run_number: int | None
    evaluation: MonthEvaluation | None
    changes: AlertChanges
    notifications: list = field(default_factory=list)
    dry_run: bool = False
    kind: str = "lag"
    skipped: bool = False

    def summary(self) -> dict:
        data = {"month": f"{self.month:%Y-%m}", "run": self.run_number, "kind": self.kind}
        if self.evaluation is not None:
            data["statuses"] = {str(k): v for k, v in self.evaluation.status_counts().items()}
        data["alerts"] = self.changes.counts()
        data["notifications"] = len(self.notifications)
        return data


def lock_month(month: date) -> LagRun:
    """Take the month's lock row (inside a transaction): concurrent checks of the same
    month run one after the other. The insert comes first so SQLite takes its write
    lock at once instead of failing to upgrade a read lock later."""
    LagRun.objects.bulk_create([LagRun(month=month)], ignore_conflicts=True)
    return LagRun.objects.select_for_update().get(month=month)


def run_lag_check(
    month: date,
    *,
    as_of: datetime | None = None,
    dry_run: bool = False,
    notify: bool = True,
    deliver: bool = True,
    only_if_stale: bool = False,
    keep_cells: bool = True,
) -> CheckResult:
    """The monthly check of ``month``: evaluate, store, sync episodes, record digests.

    ``dry_run`` evaluates and reports what the alerts would be, writing nothing.
    ``notify=False`` records no digests (the news stays pending for the next check that
    notifies); ``deliver=False`` records them without queueing their sending.
    ``only_if_stale`` (catch-up) skips the month when, once the lock is held, another
    run has already brought it up to date.

    The cells are streamed by indicator batches (``check_batch``: evaluate, store, sync
    the batch's episodes, then drop its cells), so memory stays bounded whatever the
    number of districts; ``keep_cells=False`` also leaves them out of the result (its
    evaluation then carries the city totals and status counts only, its changes their
    counts only).
    """
    month = first_of_month(month)
    if dry_run:
        evaluation = evaluate_month(month, as_of=as_of)
        changes = AlertChanges(created=preview_alerts(evaluation))
        return CheckResult(month, None, evaluation, changes, dry_run=True)
    as_of = as_of or timezone.now()
    with transaction.atomic():
        run = lock_month(month)
        if only_if_stale and _is_fresh(run):
            return CheckResult(month, run.run_count, None, AlertChanges(), skipped=True)
        started = timezone.now()
        run.run_count += 1
        plans = tracked_plans(month)
        evaluation = MonthEvaluation(month, as_of, reporting_deadline(month), plans, [], {})
        evaluation.counts = Counter()
        changes = AlertChanges()
        months_of = EvaluatedMonths(month, plans)
        for batch in indicator_batches(plans, CELLS_PER_BATCH):
            part, part_changes = check_batch(
                month, {pk: plans[pk] for pk in batch}, run.run_count, as_of, started,
                months_of=months_of,
            )  # fmt: skip
            merge_batch(evaluation, part, keep_cells=keep_cells)
            changes.merge(part_changes, keep=keep_cells)
            del part, part_changes
        if keep_cells:
            evaluation.counts = None
        notes = create_digests(month, run.run_count, enqueue=deliver) if notify else []
        result = CheckResult(month, run.run_count, evaluation, changes, notes)
        run.started_at = started
        run.completed_at = timezone.now()
        run.as_of = evaluation.as_of
        run.summary = result.summary()
        run.save()
    logger.info("lag check %s: %s", f"{month:%Y-%m}", result.summary())
    return result


CELLS_PER_BATCH = 20_000  # cells held at once by a check (about 40 MiB of Python objects)


def tracked_plans(month: date) -> dict[int, IndicatorPlan]:
    """The indicators a check of ``month`` evaluates (tracked, of the month's year)."""
    plans = load_indicator_plans(year=month.year)
    return {k: p for k, p in plans.items() if p.is_tracked and p.year == month.year}


def check_batch(
    month: date,
    plans: dict[int, IndicatorPlan],
    run_number: int,
    as_of: datetime,
    now: datetime,
    *,
    months_of: EvaluatedMonths,
) -> tuple[MonthEvaluation, AlertChanges]:
    """One indicator batch of a month's check: evaluate, store its statuses, sync its
    episodes (their history and flips included) over the evaluated months of the whole
    plan (``months_of``). The batches of a month are independent: run one after another
    (``run_lag_check``) or on several workers (``tasks``)."""
    evaluation = evaluate_month(month, as_of=as_of, plans=plans)
    save_evaluation(evaluation, run_number)
    months = months_of.after_save(stored=bool(evaluation.cells))
    return evaluation, sync_alerts(evaluation, now=now, months=months)


# --- the check of a month spread over workers (tasks.check_lag_spread) -------------------


@dataclass(frozen=True)
class SpreadCheck:
    """A month's check started for spreading: its run number and indicator batches."""

    month: date
    run_number: int
    as_of: datetime
    started: datetime
    batches: list[list[int]]


def start_spread_check(month: date, *, as_of: datetime | None = None) -> SpreadCheck:
    """Claim the next run of ``month`` (under the month's lock) for a check by indicator
    batches on several workers; ``run_spread_batch`` does each batch, the last one to
    finish records the digests and completes the run. A later run (spread or not)
    supersedes it: batches of an older run then do nothing."""
    month = first_of_month(month)
    as_of = as_of or timezone.now()
    with transaction.atomic():
        run = lock_month(month)
        started = timezone.now()
        run.run_count += 1
        batches = indicator_batches(tracked_plans(month), CELLS_PER_BATCH)
        run.started_at, run.completed_at, run.as_of = started, None, as_of
        run.summary = {"spread": {"batches": len(batches), "done": [], "statuses": {},
                                  "alerts": {}}}  # fmt: skip
        if not batches:  # nothing tracked this year: done at once
            run.completed_at = started
            run.summary = {"month": f"{month:%Y-%m}", "run": run.run_count, "kind": "lag"}
        run.save()
    return SpreadCheck(month, run.run_count, as_of, started, batches)


def run_spread_batch(
    month: date,
    indicator_ids: list[int],
    run_number: int,
    as_of: datetime,
    started: datetime,
    *,
    notify: bool = True,
    deliver: bool = True,
) -> CheckResult | None:
    """One batch of a spread check (see ``start_spread_check``), in one transaction.
    Idempotent: a batch done already, or of a superseded run, changes nothing. Returns
    the month's result when this batch was the last one (digests recorded), else None."""
    month = first_of_month(month)
    key = ",".join(map(str, sorted(indicator_ids)))
    with transaction.atomic():
        run = LagRun.objects.get(month=month)
        if run.run_count != run_number or key in run.summary.get("spread", {}).get("done", []):
            return None
        plans = tracked_plans(month)
        batch = {pk: plans[pk] for pk in indicator_ids if pk in plans}
        part, changes = check_batch(
            month, batch, run_number, as_of, started, months_of=EvaluatedMonths(month, plans)
        )
        # The claim: batches finish one at a time on the month's row; the one that
        # completes the set does the finishing step, once.
        run = LagRun.objects.select_for_update().get(month=month)
        spread = run.summary.get("spread")
        if run.run_count != run_number or spread is None or key in spread["done"]:
            transaction.set_rollback(True)  # superseded meanwhile, or done by a twin
            return None
        spread["done"].append(key)
        for name, counts in (("statuses", part.status_counts()), ("alerts", changes.counts())):
            for k, v in counts.items():
                spread[name][str(k)] = spread[name].get(str(k), 0) + v
        result = None
        if len(spread["done"]) == spread["batches"]:
            notes = create_digests(month, run_number, enqueue=deliver) if notify else []
            run.completed_at = timezone.now()
            run.summary = {
                "month": f"{month:%Y-%m}", "run": run_number, "kind": "lag",
                "statuses": spread["statuses"], "alerts": spread["alerts"],
                "notifications": len(notes), "batches": spread["batches"],
            }  # fmt: skip
            result = CheckResult(month, run_number, None, AlertChanges(), notes)
        run.save()
    if result is not None:
        logger.info("lag check %s (spread): %s", f"{month:%Y-%m}", run.summary)
    return result


def merge_batch(whole: MonthEvaluation, part: MonthEvaluation, *, keep_cells: bool) -> None:
    whole.city.update(part.city)
    whole.counts.update(part.status_counts())
    if keep_cells:
        whole.cells.extend(part.cells)


def _last_changes(start: date, end: date) -> dict[date, datetime]:
    """``{month: latest change}`` of the reports of ``start``..``end``: filed, corrected
    (``reported_at``) or deleted (the deletion's history row)."""
    changed = dict(
        ProgressReport.objects.filter(month__gte=start, month__lte=end)
        .order_by()
        .values("month")
        .annotate(last=Max("reported_at"))
        .values_list("month", "last")
    )
    deleted = (
        ProgressReport.history.filter(history_type="-", month__gte=start, month__lte=end)
        .order_by()
        .values("month")
        .annotate(last=Max("history_date"))
        .values_list("month", "last")
    )
    for month, last in deleted:
        if month not in changed or last > changed[month]:
            changed[month] = last
    return changed


def _is_fresh(run: LagRun) -> bool:
    """Checked, with no report for it or before it filed, changed or deleted since, and
    the month before not re-checked since (what ``stale_months`` decides, for one
    locked month)."""
    if run.completed_at is None:
        return False
    start = run.month.replace(month=1)
    changed = any(t > run.started_at for t in _last_changes(start, run.month).values())
    previous = (
        run.month > start
        and LagRun.objects.filter(
            month=add_months(run.month, -1), completed_at__gt=run.started_at
        ).exists()
    )
    return not changed and not previous


def stale_months(up_to: date) -> list[date]:
    """Months of ``up_to``'s year, up to it, that need (re)checking, in order.

    A month needs it when it was never checked, or when a report for it or an earlier
    month was filed, changed or deleted after its last check started (a correction);
    every month after a stale one is stale too (its streaks depend on it).
    """
    up_to = first_of_month(up_to)
    months = [date(up_to.year, m, 1) for m in range(1, up_to.month + 1)]
    runs = {r.month: r for r in LagRun.objects.filter(month__in=months)}
    changed = _last_changes(months[0], up_to)
    stale, latest_change = [], None
    for month in months:
        last = changed.get(month)
        if last is not None and (latest_change is None or last > latest_change):
            latest_change = last
        run = runs.get(month)
        if (
            stale
            or run is None
            or run.completed_at is None
            or (latest_change is not None and latest_change > run.started_at)
        ):
            stale.append(month)
    return stale


def run_due_checks(
    up_to: date,
    *,
    as_of: datetime | None = None,
    deliver: bool = True,
    notify: bool = True,
    keep_cells: bool = True,
) -> list[CheckResult]:
    """Catch up: run the check of every stale month up to ``up_to``, oldest first. Only
    the last run records digests (none with ``notify=False``), so recipients hear the
    current state once, not each month's replay. ``keep_cells``: see ``run_lag_check``."""
    up_to = first_of_month(up_to)
    if not PlanYear.objects.filter(year=up_to.year).exists():
        return []
    months = stale_months(up_to)
    results = [
        run_lag_check(
            m,
            as_of=as_of,
            only_if_stale=True,
            notify=notify and m == months[-1],
            deliver=deliver,
            keep_cells=keep_cells,
        )
        for m in months
    ]
    return [r for r in results if not r.skipped]


def notify_news(month: date, *, deliver: bool = True) -> list:
    """Record the digests of whatever news the episodes hold, as a run of ``month``
    (under its lock, so two catch-ups never record the same news twice)."""
    month = first_of_month(month)
    with transaction.atomic():
        run = lock_month(month)
        if not LagAlert.objects.with_news().filter(month__year=month.year).exists():
            return []
        run.run_count += 1
        notes = create_digests(month, run.run_count, enqueue=deliver)
        run.save(update_fields=["run_count"])
    return notes


def run_catch_up(up_to: date, *, as_of: datetime | None = None) -> list[CheckResult]:
    """The daily catch-up (and the monthly check): every stale month's lag check, then
    every milestone month never checked, then one digest per recipient with the news of
    both."""
    up_to = first_of_month(up_to)
    if not PlanYear.objects.filter(year=up_to.year).exists():
        return []
    # Scheduled: the results are only summarised, so the cells are streamed, not kept.
    results = run_due_checks(up_to, as_of=as_of, notify=False, keep_cells=False)
    results += run_due_milestone_checks(up_to, as_of=as_of, notify=False)
    notes = notify_news(up_to)
    if results and notes:
        results[-1].notifications = notes
    return results


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
        texts = "；".join(f"「{m.text}」（{m.due_date.month}月底）" for m in items)
        wanted[key] = (
            first_of_month(items[0].due_date),
            f"{names.get(key[1], '')} {project.name}：应完成的节点未完成：{texts}",
        )
    return wanted


def milestone_due_at(month: date) -> datetime:
    """When the scheduled milestone check of ``month`` runs: the day after the
    reporting deadline at ``CHECK_HOUR`` (what a catch-up uses as ``as_of``)."""
    hour = int(settings.TRACKER.get("CHECK_HOUR", 9))
    deadline = timezone.localtime(reporting_deadline(month))
    return (deadline + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)


def run_milestone_check(
    month: date, *, as_of: datetime | None = None, deliver: bool = True, notify: bool = True
) -> CheckResult | None:
    """Check the qualitative milestones due by ``month`` (or by the latest milestone
    month already checked, if later: checking an earlier month by hand never reopens
    what a later check closed); None if the plan names no milestone in ``month``.

    One 节点未完成 episode per (indicator, district): opened when something is overdue,
    its message updated while it stays so, resolved when everything due is done.
    """
    month = first_of_month(month)
    as_of = as_of or timezone.now()
    plans = load_indicator_plans(year=month.year)
    if month not in milestone_months(plans.values()):
        return None
    with transaction.atomic():
        run = lock_month(month)
        started = timezone.now()
        run.run_count += 1
        latest = (
            LagRun.objects.filter(
                month__year=month.year, milestones_checked_at__isnull=False
            ).aggregate(m=Max("month"))["m"]
            or month
        )
        through = max(month, latest)
        wanted = milestone_alerts(through, plans, as_of)
        changes = AlertChanges()
        out = _Writer(started, changes)
        for alert in LagAlert.objects.filter(
            kind=Kind.MILESTONE, month__year=month.year, indicator_id__in=list(plans)
        ).filter(status__in=LagAlert.ACTIVE):
            out.watch(alert)
            want = wanted.pop((alert.indicator_id, alert.district_id), None)
            if want is None:
                out.flip(alert.resolve(through, now=started, why="节点已完成"))
            else:
                out.flip(alert.update(through, now=started, message=want[1]))
            out.done(alert)
        for (indicator_id, district_id), (due, message) in wanted.items():
            alert, flip = LagAlert.open(
                indicator_id, district_id, Kind.MILESTONE, due, now=started,
                why="节点未按时完成", severity=Severity.RED, streak=0, message=message,
            )  # fmt: skip
            alert.last_month = through
            out.created(alert, flip)
        out.write()
        notes = create_digests(month, run.run_count, enqueue=deliver) if notify else []
        run.milestones_checked_at = timezone.now()
        run.save(update_fields=["run_count", "milestones_checked_at"])
    return CheckResult(month, run.run_count, None, changes, notes, kind="milestone")


def run_due_milestone_checks(
    up_to: date, *, as_of: datetime | None = None, deliver: bool = True, notify: bool = True
) -> list[CheckResult]:
    """Catch up milestone months up to ``up_to`` never checked (beat or workers were
    down), oldest first, each as of the time its scheduled check was due, so an outage
    raises the same alerts a punctual run would have; then re-check the latest milestone
    month as of now so milestones completed since resolve their alerts."""
    up_to = first_of_month(up_to)
    now = as_of or timezone.now()
    plans = load_indicator_plans(year=up_to.year)
    months = sorted(m for m in milestone_months(plans.values()) if m <= up_to)
    if not months:
        return []
    checked = set(
        LagRun.objects.filter(month__in=months, milestones_checked_at__isnull=False).values_list(
            "month", flat=True
        )
    )
    todo = [(m, min(milestone_due_at(m), now)) for m in months if m not in checked]
    todo.append((months[-1], now))
    results = [
        run_milestone_check(m, as_of=at, deliver=deliver, notify=notify and i == len(todo) - 1)
        for i, (m, at) in enumerate(todo)
    ]
    return [r for r in results if r is not None]
