"""Alerts from a month's evaluation, and the checks that produce them.

``run_lag_check(month)`` is the whole monthly check, the one thing tasks and the
``check_lag`` command call: under a per-month lock it evaluates the month
(``services.lag``), stores the statuses, brings the month's ``LagAlert`` rows in line
and records one digest per recipient (``services.notifications``), all in one
transaction. ``run_due_checks(month)`` catches up: it (re)runs, in order, every month
of the year up to ``month`` that was never checked or whose figures changed since.
``run_milestone_check(month)`` checks qualitative milestones (确定点位, 开展招标 …)
of a milestone month against the districts' completions.

Lifecycle of an alert, keyed on (indicator, district, month, kind):

- created open; re-evaluating the month updates it in place (numbers, message);
- a district behind for consecutive months escalates: after
  ``ESCALATE_TO_AGENCY_AFTER`` months to the lead agency, after
  ``ESCALATE_TO_SUPERVISION_AFTER`` to the supervision office with 挂牌督办;
- a later month in which the district has caught up resolves the earlier alerts;
- re-evaluating a month after a corrected figure supersedes the alerts that no longer
  hold (they stay visible with status 已撤销);
- acknowledging (``LagAlert.acknowledge``) is done by people.

Each notable change (new, escalated, more severe, reopened) bumps ``revision``; a
digest carries every alert whose revision has not been notified yet, so a second run
or a second worker finds nothing new to send.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from tracker.choices import RED_STATUSES
from tracker.domain import format as number
from tracker.domain.cell import shortfall
from tracker.models import (
    District,
    LagAlert,
    LagRun,
    Milestone,
    MilestoneCompletion,
    PlanYear,
    ProgressReport,
)
from tracker.months import add_months, first_of_month, month_end

from .lag import Cell, LagStatus, MonthEvaluation, city_district_id, evaluate_month, save_evaluation
from .notifications import create_digests
from .trajectory import IndicatorPlan, load_indicator_plans, milestone_months

logger = logging.getLogger(__name__)

Kind, Severity, Status, Level = LagAlert.Kind, LagAlert.Severity, LagAlert.Status, LagAlert.Level
CHECK_KINDS = (Kind.LAG, Kind.NOT_REPORTED, Kind.AT_RISK)
CHANGE_REASON = "进度检查"
BATCH = 500
TRACKED_FIELDS = (
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
    "revision",
    "updated_at",
    "closed_at",
    "closed_in_month",
)


# --- explanations -------------------------------------------------------------------


def _month_label(month: date) -> str:
    return f"{month.year}年{month.month}月底"


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
                f"最近一次填报为截至{_month_label(cell.reported_month)}"
                f"{_amount(plan, cell.actual)}，本月序时应达 {_show(plan, cell.expected)}"
            )
        return head + "；".join(parts)
    rates = (
        f"完成率 {number.percent(cell.completion_pct)}，"
        f"序时完成率 {number.percent(cell.pace_completion_pct)}"
    )
    if cell.status == LagStatus.OVERDUE:
        parts.append(
            f"已过预计完成时间（{deadline}），截至{_month_label(month)}"
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
            f"截至{_month_label(month)}为 {number.percent(cell.actual)}，序时应达 "
            f"{number.percent(cell.expected)}，低 {number.points(cell.gap_points)}"
        )
    elif kind == Kind.AT_RISK:
        parts.append(
            f"截至{_month_label(month)}{_amount(plan, cell.actual)}，"
            f"序时应达 {_show(plan, cell.expected)}，目前进度正常"
        )
    else:
        behind = (cell.expected or 0) - (cell.actual or 0)
        parts.append(
            f"截至{_month_label(month)}{_amount(plan, cell.actual)}，"
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


# --- what the alerts of a month should be ----------------------------------------------


def escalation(streak: int) -> tuple[int, bool]:
    """``(level, 挂牌督办)`` for a district behind ``streak`` months in a row."""
    conf = settings.TRACKER
    if streak >= int(conf.get("ESCALATE_TO_SUPERVISION_AFTER", 3)):
        return Level.SUPERVISION, True
    if streak >= int(conf.get("ESCALATE_TO_AGENCY_AFTER", 2)):
        return Level.AGENCY, False
    return Level.DISTRICT, False


def desired_alerts(evaluation: MonthEvaluation, district_names: dict[int, str]) -> dict:
    """``{(indicator_id, district_id, kind): fields}`` the evaluation calls for."""
    wanted = {}
    for cell in evaluation.cells:
        if cell.status in (LagStatus.BEHIND, *RED_STATUSES):
            kind = Kind.LAG  # 逾期未完成 is a red lag (tracker.choices.RED_STATUSES)
            severity = Severity.RED if cell.status in RED_STATUSES else Severity.YELLOW
        elif cell.status == LagStatus.NOT_REPORTED:
            kind, severity = Kind.NOT_REPORTED, Severity.YELLOW
        elif _needs_risk_alert(cell):
            kind, severity = Kind.AT_RISK, Severity.INFO
        else:
            continue
        plan = evaluation.plans[cell.indicator_id]
        level, supervised = escalation(cell.streak) if kind != Kind.AT_RISK else (0, False)
        wanted[(cell.indicator_id, cell.district_id, kind)] = {
            "severity": severity,
            "level": level,
            "supervised": supervised,
            "streak": cell.streak,
            "quota": cell.quota,
            "expected": cell.expected,
            "actual": cell.actual,
            "gap_points": cell.gap_points,
            "forecast": cell.forecast.at_deadline,
            "message": explain(
                kind, cell, plan, district_names.get(cell.district_id, ""), evaluation.month
            ),
        }
    return wanted


def _needs_risk_alert(cell: Cell) -> bool:
    """At risk (on track, forecast short of the quota) *and* slower than the plan itself
    over the same months by more than ``AT_RISK_PACE_SHORTFALL_PCT`` percent: a slow
    start the plan foresees is no news."""
    tolerance = Decimal(str(settings.TRACKER.get("AT_RISK_PACE_SHORTFALL_PCT", 10)))
    return cell.at_risk and cell.forecast.slower_than_plan(tolerance)


@dataclass
class AlertChanges:
    created: list[LagAlert] = field(default_factory=list)
    updated: list[LagAlert] = field(default_factory=list)
    escalated: list[LagAlert] = field(default_factory=list)
    resolved: list[LagAlert] = field(default_factory=list)
    superseded: list[LagAlert] = field(default_factory=list)
    news: list[LagAlert] = field(default_factory=list)  # to be notified

    def counts(self) -> dict[str, int]:
        return {
            "新增": len(self.created),
            "更新": len(self.updated),
            "升级": len(self.escalated),
            "解除": len(self.resolved),
            "撤销": len(self.superseded),
        }


def _apply(
    month: date,
    kinds,
    indicator_ids,
    wanted: dict,
    *,
    vanished: str,
    now: datetime,
    changes: AlertChanges,
) -> None:
    """Make the month's alerts of ``kinds`` match ``wanted`` (bulk writes with history)."""
    existing = {
        (a.indicator_id, a.district_id, a.kind): a
        for a in LagAlert.objects.filter(
            month=month, kind__in=kinds, indicator_id__in=list(indicator_ids)
        )
    }
    new, changed, fields, closing = [], [], set(), []
    for (indicator_id, district_id, kind), values in wanted.items():
        alert = existing.get((indicator_id, district_id, kind))
        if alert is None:
            alert = LagAlert(
                indicator_id=indicator_id,
                district_id=district_id,
                month=month,
                kind=kind,
                status=Status.ESCALATED if values["level"] > Level.DISTRICT else Status.OPEN,
                created_at=now,
                updated_at=now,
                revision=1,
                **values,
            )
            new.append(alert)
            continue
        before = {f: getattr(alert, f) for f in TRACKED_FIELDS}
        news = False
        if not alert.is_active:
            alert.status = Status.ESCALATED if values["level"] > Level.DISTRICT else Status.OPEN
            alert.closed_at = alert.closed_in_month = None
            news = True
        if values["level"] > alert.level:
            alert.status = Status.ESCALATED
            changes.escalated.append(alert)
            news = True
        rank = LagAlert.SEVERITY_RANK
        if rank[values["severity"]] > rank[alert.severity]:
            news = True
        for name, value in values.items():
            if name == "level":
                value = max(value, alert.level)
            elif name == "supervised":
                value = value or alert.supervised
            setattr(alert, name, value)
        if news:
            alert.revision += 1
        diff = [f for f in TRACKED_FIELDS if getattr(alert, f) != before[f]]
        if diff:
            alert.updated_at = now
            fields.update(diff, ["updated_at"])
            changed.append(alert)
            changes.updated.append(alert)
    for key, alert in existing.items():
        if key not in wanted and alert.is_active:
            closing.append(alert)
    if new:
        bulk_create_with_history(
            new, LagAlert, batch_size=BATCH, default_change_reason=CHANGE_REASON
        )
    if changed:
        bulk_update_with_history(
            changed,
            LagAlert,
            sorted(fields),
            batch_size=BATCH,
            default_change_reason=CHANGE_REASON,
        )
    _close(closing, vanished, month, now)
    target = changes.superseded if vanished == Status.SUPERSEDED else changes.resolved
    target.extend(closing)
    changes.created.extend(new)
    changes.news.extend(a for a in [*new, *changed] if a.revision > a.notified_revision)


def _close(alerts: list[LagAlert], status: str, month: date, now: datetime) -> None:
    """Resolve or supersede alerts: one UPDATE and their history rows."""
    if not alerts:
        return
    for alert in alerts:
        alert.status = status
        alert.closed_at = alert.updated_at = now
        alert.closed_in_month = month
    for i in range(0, len(alerts), BATCH):
        chunk = alerts[i : i + BATCH]
        LagAlert.objects.filter(pk__in=[a.pk for a in chunk]).update(
            status=status, closed_at=now, closed_in_month=month, updated_at=now
        )
    LagAlert.history.bulk_history_create(
        alerts, batch_size=BATCH, update=True, default_change_reason=CHANGE_REASON
    )


def sync_alerts(evaluation: MonthEvaluation, *, now: datetime | None = None) -> AlertChanges:
    """Bring the month's lag alerts in line with ``evaluation``; resolve caught-up ones."""
    now = now or timezone.now()
    changes = AlertChanges()
    if not evaluation.plans:
        return changes
    names = dict(District.objects.values_list("pk", "name"))
    wanted = desired_alerts(evaluation, names)
    _apply(
        evaluation.month,
        CHECK_KINDS,
        evaluation.plans,
        wanted,
        vanished=Status.SUPERSEDED,
        now=now,
        changes=changes,
    )
    # Earlier months: a district that has caught up resolves what was raised before.
    cells = {(c.indicator_id, c.district_id): c for c in evaluation.cells}
    resolved = []
    for alert in LagAlert.objects.filter(
        month__lt=evaluation.month,
        month__gte=evaluation.month.replace(month=1),
        status__in=LagAlert.ACTIVE,
        kind__in=CHECK_KINDS,
        indicator_id__in=list(evaluation.plans),
    ):
        cell = cells.get((alert.indicator_id, alert.district_id))
        if cell is not None and _caught_up(alert.kind, cell):
            resolved.append(alert)
    _close(resolved, Status.RESOLVED, evaluation.month, now)
    changes.resolved.extend(resolved)
    return changes


def _caught_up(kind: str, cell: Cell) -> bool:
    if kind == Kind.LAG:
        return cell.status in (LagStatus.ON_TRACK, LagStatus.NOT_DUE)
    if kind == Kind.NOT_REPORTED:
        return cell.status != LagStatus.NOT_REPORTED
    return not _needs_risk_alert(cell)  # AT_RISK


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
) -> CheckResult:
    """The monthly check of ``month``: evaluate, store, alert, record digests.

    ``dry_run`` evaluates and reports what the alerts would be, writing nothing.
    ``notify=False`` records no digests; ``deliver=False`` records them without queueing
    their sending (benchmarks). ``only_if_stale`` (catch-up) skips the month when, once
    the lock is held, another run has already brought it up to date.
    """
    month = first_of_month(month)
    if dry_run:
        evaluation = evaluate_month(month, as_of=as_of)
        names = dict(District.objects.values_list("pk", "name"))
        changes = AlertChanges()
        wanted = desired_alerts(evaluation, names)
        changes.created = [
            LagAlert(indicator_id=i, district_id=d, month=month, kind=k, **v)
            for (i, d, k), v in wanted.items()
        ]
        return CheckResult(month, None, evaluation, changes, dry_run=True)
    with transaction.atomic():
        run = lock_month(month)
        if only_if_stale and _is_fresh(run):
            return CheckResult(month, run.run_count, None, AlertChanges(), skipped=True)
        started = timezone.now()
        run.run_count += 1
        evaluation = evaluate_month(month, as_of=as_of)
        save_evaluation(evaluation, run.run_count)
        changes = sync_alerts(evaluation, now=started)
        notes = (
            create_digests(month, run.run_count, changes.news, enqueue=deliver) if notify else []
        )
        result = CheckResult(month, run.run_count, evaluation, changes, notes)
        run.started_at = started
        run.completed_at = timezone.now()
        run.as_of = evaluation.as_of
        run.summary = result.summary()
        run.save()
    logger.info("lag check %s: %s", f"{month:%Y-%m}", result.summary())
    return result


def _is_fresh(run: LagRun) -> bool:
    """Checked, with no report for it or before it changed since, and the month before
    not re-checked since (what ``stale_months`` decides, for one locked month)."""
    if run.completed_at is None:
        return False
    start = run.month.replace(month=1)
    changed = ProgressReport.objects.filter(
        month__gte=start, month__lte=run.month, reported_at__gt=run.started_at
    ).exists()
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
    month was filed or changed after its last check started (a correction); every
    month after a stale one is stale too (its streaks and resolutions depend on it).
    """
    up_to = first_of_month(up_to)
    months = [date(up_to.year, m, 1) for m in range(1, up_to.month + 1)]
    runs = {r.month: r for r in LagRun.objects.filter(month__in=months)}
    changed = dict(
        ProgressReport.objects.filter(month__gte=months[0], month__lte=up_to)
        .order_by()
        .values("month")
        .annotate(last=Max("reported_at"))
        .values_list("month", "last")
    )
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


def run_due_checks(up_to: date, *, as_of: datetime | None = None) -> list[CheckResult]:
    """Catch up: run the check of every stale month up to ``up_to``, oldest first."""
    up_to = first_of_month(up_to)
    if not PlanYear.objects.filter(year=up_to.year).exists():
        return []
    results = [
        run_lag_check(month, as_of=as_of, only_if_stale=True) for month in stale_months(up_to)
    ]
    return [r for r in results if not r.skipped]


# --- qualitative milestones -------------------------------------------------------------


def milestone_alerts(month: date, plans: dict[int, IndicatorPlan], as_of: datetime) -> dict:
    """``{(indicator_id, district_id, MILESTONE): fields}`` for qualitative milestones of
    ``month`` that a district has not marked done by ``as_of``.

    A district owes a milestone when it has a quota on an indicator it concerns (the
    city district for indicators done by the city as a whole); a district-specific
    milestone is owed by that district only. The alert sits on the milestone's
    indicator, or for a project-wide one on the project's first indicator.
    """
    milestones = list(
        Milestone.objects.filter(
            project_id__in={p.project_id for p in plans.values()},
            kind=Milestone.Kind.QUALITATIVE,
            due_date__gte=month,
            due_date__lte=month_end(month),
        )
        .select_related("project")
        .order_by("project__seq", "order")
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
    city = city_district_id()
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
                if p.is_city_only and city is not None:
                    owing.add(city)
        for district_id in owing:
            if (m.pk, district_id) not in done:
                missing[(anchor, district_id, Kind.MILESTONE)].append(m)
    wanted = {}
    for key, items in missing.items():
        project = items[0].project
        texts = "；".join(f"「{m.text}」" for m in items)
        wanted[key] = {
            "severity": Severity.RED,
            "level": Level.DISTRICT,
            "supervised": False,
            "streak": 0,
            "quota": None,
            "expected": None,
            "actual": None,
            "gap_points": None,
            "forecast": None,
            "message": f"{names.get(key[1], '')} {project.name}："
            f"{month.month}月底前应完成的节点未完成：{texts}",
        }
    return wanted


def run_milestone_check(
    month: date, *, as_of: datetime | None = None, deliver: bool = True
) -> CheckResult | None:
    """Check the qualitative milestones of ``month``; None if the plan names no milestone
    in that month (the beat entry runs monthly and this decides)."""
    month = first_of_month(month)
    as_of = as_of or timezone.now()
    plans = load_indicator_plans(year=month.year)
    if month not in milestone_months(plans.values()):
        return None
    with transaction.atomic():
        run = lock_month(month)
        started = timezone.now()
        run.run_count += 1
        changes = AlertChanges()
        wanted = milestone_alerts(month, plans, as_of)
        _apply(
            month,
            (Kind.MILESTONE,),
            plans,
            wanted,
            vanished=Status.RESOLVED,
            now=started,
            changes=changes,
        )
        notes = create_digests(month, run.run_count, changes.news, enqueue=deliver)
        run.milestones_checked_at = timezone.now()
        run.save(update_fields=["run_count", "milestones_checked_at"])
    return CheckResult(month, run.run_count, None, changes, notes, kind="milestone")


def run_due_milestone_checks(up_to: date, *, as_of: datetime | None = None) -> list[CheckResult]:
    """Every milestone month of the year up to ``up_to``, oldest first: missed ones are
    caught up and milestones completed late resolve their alerts."""
    up_to = first_of_month(up_to)
    plans = load_indicator_plans(year=up_to.year)
    months = sorted(m for m in milestone_months(plans.values()) if m <= up_to)
    results = [run_milestone_check(m, as_of=as_of) for m in months]
    return [r for r in results if r is not None]
