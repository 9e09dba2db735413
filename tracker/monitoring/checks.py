"""The scheduled checks: evaluate a month, store its statuses, bring the alert episodes in
line (``tracker.monitoring.episodes``) and record the news, under a per-month lock.

``run_lag_check(month)`` is the whole monthly check, the one thing tasks and the
``check_lag`` command call: under a per-month lock it evaluates the month
(``tracker.monitoring.evaluation``), stores the statuses, brings the alert episodes in
line (``episodes.sync_alerts``) and records one digest per recipient with the news
(``signals.news_ready``: the notifications package records the digests), all in one
transaction. ``run_due_checks(month)``
catches up: it (re)runs, in order, every month of the year up to ``month`` that was never
checked or whose figures changed since (a report filed, corrected or deleted), and
notifies once, at the end. ``run_milestone_check(month)`` checks qualitative milestones
(确定点位, 开展招标 …) due by a milestone month; ``run_due_milestone_checks`` catches up
milestone months never checked, each as of the time its check was due.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from celery import group, shared_task
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from tracker import conf
from tracker.calendar import reporting_deadline
from tracker.monitoring.episodes import (
    AlertChanges,
    EpisodeWriter,
    PlanMonths,
    escalation,
    milestone_alerts,
    preview_alerts,
    sync_alerts,
)
from tracker.monitoring.evaluation import (
    MonthEvaluation,
    evaluate_month,
    indicator_batches,
    save_evaluation,
)
from tracker.monitoring.models import LagAlert, LagRun
from tracker.monitoring.signals import record_news
from tracker.months import add_months, first_of_month, format_month, parse_month
from tracker.plans.reference import PlanYear
from tracker.plans.trajectory import IndicatorPlan, load_indicator_plans, milestone_months
from tracker.progress.models import ProgressReport

logger = logging.getLogger(__name__)

Kind, Severity = LagAlert.Kind, LagAlert.Severity


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
        data = {"month": f"{format_month(self.month)}", "run": self.run_number, "kind": self.kind}
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
        months_of = PlanMonths(month, plans)
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
        notes = record_news(month, run.run_count, deliver=deliver) if notify else []
        result = CheckResult(month, run.run_count, evaluation, changes, notes)
        run.started_at = started
        run.completed_at = timezone.now()
        run.as_of = evaluation.as_of
        run.summary = result.summary()
        run.save()
    logger.info("lag check %s: %s", f"{format_month(month)}", result.summary())
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
    months_of: PlanMonths,
) -> tuple[MonthEvaluation, AlertChanges]:
    """One indicator batch of a month's check: evaluate, store its statuses, sync its
    episodes (their history and flips included) over the evaluated months of the whole
    plan (``months_of``). The batches of a month are independent: run one after another
    (``run_lag_check``) or on several workers (``tasks``)."""
    evaluation = evaluate_month(month, as_of=as_of, plans=plans)
    save_evaluation(evaluation, run_number)
    months = months_of.after_save(evaluation)
    return evaluation, sync_alerts(evaluation, now=now, months=months)


# --- the check of a month spread over workers (check_lag_spread below) -------------------


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
            run.summary = {"month": f"{format_month(month)}", "run": run.run_count, "kind": "lag"}
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
            month, batch, run_number, as_of, started, months_of=PlanMonths(month, plans)
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
            notes = record_news(month, run_number, deliver=deliver) if notify else []
            run.completed_at = timezone.now()
            run.summary = {
                "month": f"{format_month(month)}", "run": run_number, "kind": "lag",
                "statuses": spread["statuses"], "alerts": spread["alerts"],
                "notifications": len(notes), "batches": spread["batches"],
            }  # fmt: skip
            result = CheckResult(month, run_number, None, AlertChanges(), notes)
        run.save()
    if result is not None:
        logger.info("lag check %s (spread): %s", f"{format_month(month)}", run.summary)
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
        notes = record_news(month, run.run_count, deliver=deliver)
        run.save(update_fields=["run_count"])
    return notes


def last_year_checked(up_to: date) -> date | None:
    """The latest checked month of the year before ``up_to``'s, when it has one: the
    catch-up re-checks that year's corrected months too (``stale_months``). 1 query."""
    return LagRun.objects.filter(month__year=up_to.year - 1, completed_at__isnull=False).aggregate(
        m=Max("month")
    )["m"]


def run_catch_up(up_to: date, *, as_of: datetime | None = None) -> list[CheckResult]:
    """The daily catch-up (and the monthly check): every stale month's lag check, then
    every milestone month never checked, then one digest per recipient with the news of
    both."""
    up_to = first_of_month(up_to)
    # Last year's checked months whose figures were corrected since (a correction to
    # December is usual in January and February, but may come at any time).
    last_year = last_year_checked(up_to)
    results = []
    if last_year is not None:
        results = run_due_checks(last_year, as_of=as_of, notify=False, keep_cells=False)
    if not PlanYear.objects.filter(year=up_to.year).exists():
        if results:
            notify_news(date(up_to.year - 1, 12, 1))
        return results
    # Scheduled: the results are only summarised, so the cells are streamed, not kept.
    results += run_due_checks(up_to, as_of=as_of, notify=False, keep_cells=False)
    results += run_due_milestone_checks(up_to, as_of=as_of, notify=False)
    notes = notify_news(up_to)
    if results and notes:
        results[-1].notifications = notes
    return results


# --- qualitative milestones -------------------------------------------------------------


def milestone_streak(due: date, through: date) -> int:
    """Months a milestone due in ``due`` has been overdue as of the check of ``through``
    (1 in its own month), the count ``episodes.escalation`` escalates on."""
    return max(1, (through.year - due.year) * 12 + through.month - due.month + 1)


def milestone_due_at(month: date) -> datetime:
    """When the scheduled milestone check of ``month`` runs: the day after the
    reporting deadline at ``CHECK_HOUR`` (what a catch-up uses as ``as_of``)."""
    hour = conf.CHECK_HOUR
    deadline = timezone.localtime(reporting_deadline(month))
    return (deadline + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)


def run_milestone_check(
    month: date,
    *,
    as_of: datetime | None = None,
    deliver: bool = True,
    notify: bool = True,
    through: date | None = None,
) -> CheckResult | None:
    """Check the qualitative milestones due by ``month`` (or by the latest milestone
    month already checked, or ``through`` — the month the schedule is checking — if
    later: checking an earlier month by hand never reopens what a later check closed);
    None if the plan names no milestone in ``month``.

    One 节点未完成 episode per (indicator, district): opened when something is overdue,
    its message updated while it stays so, resolved when everything due is done. A
    missed milestone is red, like a missed target, and escalates like one (issue 30):
    its streak is the months it has been overdue through the month checked
    (``milestone_streak``), and ``episodes.escalation`` raises it to the lead agency,
    then to 督查室 with 挂牌督办.
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
        through = max(month, latest, first_of_month(through or month))
        wanted = milestone_alerts(through, plans, as_of)
        changes = AlertChanges()
        out = EpisodeWriter(started, changes)
        for alert in LagAlert.objects.filter(
            kind=Kind.MILESTONE, month__year=month.year, indicator_id__in=list(plans)
        ).filter(status__in=LagAlert.ACTIVE):
            out.watch(alert)
            want = wanted.pop((alert.indicator_id, alert.district_id), None)
            if want is None:
                out.flip(alert.resolve(through, now=started, why="节点已完成"))
            else:
                streak = milestone_streak(want[0], through)
                level = escalation(streak)[0]
                out.flip(
                    alert.update(
                        through, now=started, message=want[1], streak=streak,
                        level=max(level, alert.level),
                    )
                )  # fmt: skip
            out.done(alert)
        for (indicator_id, district_id), (due, message) in wanted.items():
            streak = milestone_streak(due, through)
            alert, flip = LagAlert.open(
                indicator_id, district_id, Kind.MILESTONE, due, now=started,
                why="节点未按时完成", severity=Severity.RED, streak=streak, message=message,
                level=escalation(streak)[0],
            )  # fmt: skip
            alert.last_month = through
            out.created(alert, flip)
        out.write()
        notes = record_news(month, run.run_count, deliver=deliver) if notify else []
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
    last = len(todo) - 1
    # the last run re-checks as of ``up_to``: a milestone still missed months later
    # escalates like a lag streak (issue 30)
    results = [
        run_milestone_check(
            m, as_of=at, deliver=deliver, notify=notify and i == last,
            through=up_to if i == last else None,
        )
        for i, (m, at) in enumerate(todo)
    ]  # fmt: skip
    return [r for r in results if r is not None]


# --- tasks ----------------------------------------------------------------------------


@shared_task(name="tracker.check_lag", soft_time_limit=600, time_limit=660)
def check_lag(month: str) -> list[dict]:
    """The lag check of ``month`` ("YYYY-MM"), catching up missed or changed earlier
    months of the year first, then any milestone month never checked (the daily
    catch-up covers both); one digest per recipient with the news of both."""
    return [r.summary() for r in run_catch_up(parse_month(month))]


@shared_task(name="tracker.check_lag_spread", soft_time_limit=60, time_limit=90)
def check_lag_spread(month: str, as_of: str | None = None) -> int:
    """The lag check of one month spread over the workers: claims the month's next run
    and queues one ``tracker.check_lag_batch`` per indicator batch (a group); whichever
    worker finishes the last batch records the digests (a claim on the month's row, no
    result backend needed). Same statuses, episodes and digests as ``check_lag``'s check
    of that month. Returns the number of batches queued."""
    spread = start_spread_check(
        parse_month(month), as_of=datetime.fromisoformat(as_of) if as_of else None
    )
    group(
        check_lag_batch.s(
            month, batch, spread.run_number, spread.as_of.isoformat(), spread.started.isoformat()
        )
        for batch in spread.batches
    ).apply_async()
    return len(spread.batches)


@shared_task(name="tracker.check_lag_batch", soft_time_limit=600, time_limit=660)
def check_lag_batch(month: str, indicator_ids: list, run: int, as_of: str, started: str):
    """One indicator batch of a spread check (``run_spread_batch``)."""
    result = run_spread_batch(
        parse_month(month), indicator_ids, run,
        datetime.fromisoformat(as_of), datetime.fromisoformat(started),
    )  # fmt: skip
    return None if result is None else result.month.isoformat()


@shared_task(name="tracker.check_milestones", soft_time_limit=600, time_limit=660)
def check_milestones(month: str) -> list[dict]:
    """The milestone check after ``month`` and any missed milestone month before it;
    does nothing when the plan names no milestone up to ``month``."""
    return [r.summary() for r in run_due_milestone_checks(parse_month(month))]
