"""A plausible year of progress for demos and tests (``manage.py simulate_year``).

Deterministic for a given seed. Every district with a quota reports every month from the
first month its 序时进度 expects anything, following its expected curve times a
performance factor, never decreasing:

- most districts: factor around 1.0 (on track, a few points either side);
- **淳安县** lags by design: at about half of pace on every indicator (红, 严重滞后);
- **临安区** trails at about 86% of pace (黄 between checkpoints, 红 at some of them);
- about 6% of other cells, chosen by the seed, trail at about 75% of pace;
- **建德市** files its reports for April and July late (on the 9th, after the 5th
  deadline), so those months show 未按时填报; a few random cells skip a month entirely;
- two corrections: a district's figure for a month is lowered afterwards with
  ``is_correction`` and a reason.

Reports are filed (``created_at``, ``reported_at`` and their history rows' dates) on the
2nd–4th of the following month, late ones on the 9th, so the lag engine's as-of logic sees
what it would have seen. History rows are written for every report, correction and
milestone completion (user ``simulate_year``, reason 「模拟数据」/「更正」).
Qualitative milestones are marked done in their month by all but 淳安县, which finishes a
month late. After writing, the lag check and the milestone check run month by month, each
as of 09:00 on the day after the reporting deadline, as beat would have run them.
Demo data is never delivered: the checks record no digests, whatever contacts exist,
and the year's alert episodes are marked told, so no later check or sweep sends them.

Running it again replaces the year's simulated data: it deletes the year's progress
reports, milestone completions, statuses, alerts, their notifications and check runs, then
writes everything afresh (history rows of deleted reports stay, as deletions). It refuses
to touch a year holding progress entered by anyone else unless ``force`` is given.

``through`` defaults to December, or for the current year the latest month whose
reporting deadline has passed (``monitoring.evaluation.due_month``). Checks never run for a month
whose deadline is still ahead.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from tracker.calendar import due_month, reporting_deadline
from tracker.monitoring.checks import run_lag_check, run_milestone_check
from tracker.monitoring.models import LagAlert, LagEvaluation, LagRun
from tracker.months import add_months, month_end, months_of_year
from tracker.notifications.digests import mark_told
from tracker.notifications.models import Notification
from tracker.plans.loader import PlanFileError
from tracker.plans.models import Indicator, Milestone, Quota
from tracker.plans.reference import District, PlanYear
from tracker.plans.selection import find_plan
from tracker.plans.trajectory import expected_curve, load_indicator_plans
from tracker.plans.units import OUTSIDE, city_unit_id, sort_units, unit_order
from tracker.progress.models import MilestoneCompletion, ProgressReport

SIM_USERNAME = "simulate_year"
SERIOUS_LAGGARD = "淳安县"
LAGGARD = "临安区"
LATE_REPORTER = "建德市"
LATE_MONTHS = (4, 7)
Q = Decimal("0.0001")


class SimulationError(Exception):
    pass


@dataclass
class SimulationResult:
    reports: int
    corrections: int
    completions: int
    months_checked: int
    alerts: int


def _filed_at(month: date, rng: random.Random, *, late: bool) -> datetime:
    next_month = add_months(month, 1)
    day = 9 if late else rng.randint(2, 4)
    moment = datetime.combine(next_month.replace(day=day), time(rng.randint(9, 17), 0))
    return timezone.make_aware(moment)


def _check_time(month: date) -> datetime:
    """09:00 the day after the reporting deadline, when beat runs the check."""
    deadline = timezone.localtime(reporting_deadline(month))
    return timezone.make_aware(datetime.combine(deadline.date() + timedelta(days=1), time(9)))


def default_through(year: int, now: datetime | None = None) -> date:
    """December of ``year``, or for a year still running the latest month already due."""
    return min(date(year, 12, 1), due_month(now))


@contextmanager
def _dated(model, *names: str) -> Iterator[None]:
    """Let bulk writes keep the dates set on the objects (``auto_now``/``auto_now_add``
    would stamp them with now): the simulated filing dates must reach the rows and
    their history rows alike."""
    fields = [model._meta.get_field(name) for name in names]
    saved = [(f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, (auto_now, auto_now_add) in zip(fields, saved, strict=True):
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def simulate_year(
    year: int,
    *,
    seed: int = 2024,
    through: date | None = None,
    force: bool = False,
    progress: Callable[[str, int], None] | None = None,
    issuer: str | None = None,
) -> SimulationResult:
    """Fill ``year``'s plan (the one of ``issuer``; without one the only plan of the year,
    else the city's: ``plans.selection.find_plan``) with simulated progress through
    ``through`` and run the checks."""
    if not PlanYear.objects.filter(year=year).exists():
        raise SimulationError(f"{year}年计划尚未导入，请先运行 load_plan")
    try:
        plan_year = find_plan(year, issuer)
    except PlanFileError as exc:
        raise SimulationError("；".join(exc.problems)) from exc
    through = through or default_through(year)
    if through.year != year:
        raise SimulationError(f"--through 应在{year}年内（{year}年尚无到期的月份时无法模拟）")
    user, _ = get_user_model().objects.get_or_create(
        username=SIM_USERNAME, defaults={"is_active": False, "first_name": "模拟数据"}
    )
    reports = ProgressReport.objects.filter(indicator__project__plan_year=plan_year)
    if not force and reports.exclude(reported_by=user).exists():
        raise SimulationError(
            f"{year}年已有人工填报的进度数据；模拟会覆盖全年数据，确需覆盖请加 --force"
        )
    step = progress or (lambda label, n=1: None)
    rng = random.Random(seed)
    plans = load_indicator_plans(plan_year)
    districts = {d.pk: d for d in District.objects.all()}
    city = districts.get(city_unit_id(plan_year))  # the plan's own 市本级 column
    order = unit_order(plan_year)  # the plan's column order
    districts = {pk: districts[pk] for pk in (d.pk for d in sort_units(order, districts.values()))}
    months = [m for m in months_of_year(year) if m <= through]

    with transaction.atomic():
        _clear(plan_year)
        batch: list[ProgressReport] = []
        for plan in plans.values():
            if not plan.is_tracked:
                step("进度", 1)
                continue
            if plan.is_city_only:
                cells = [(city, plan.target, expected_curve(plan))] if city else []
            else:
                cells = [
                    (districts[d], quota, expected_curve(plan, d))
                    for d, quota in sorted(
                        plan.quotas.items(), key=lambda kv: order.get(kv[0], OUTSIDE)
                    )
                ]
            for district, quota, curve in cells:
                if not curve or not quota:
                    continue
                factor = _factor(district, rng)
                value = Decimal(0)
                for month in months:
                    point = curve[month.month - 1]
                    if point.value is None:
                        continue
                    if not plan.is_level and point.value <= 0 and value == 0:
                        continue
                    if rng.random() < 0.01 and district.name != LATE_REPORTER:
                        continue  # a month skipped entirely
                    value = _next_value(plan.is_level, point.value, quota, factor, value, rng)
                    late = district.name == LATE_REPORTER and month.month in LATE_MONTHS
                    filed = _filed_at(month, rng, late=late)
                    report = ProgressReport(
                        indicator_id=plan.indicator_id,
                        district=district,
                        month=month,
                        value=value,
                        reported_by=user,
                        created_at=filed,
                        reported_at=filed,
                    )
                    report._history_date = filed
                    batch.append(report)
            step("进度", 1)
        with _dated(ProgressReport, "created_at", "reported_at"):
            bulk_create_with_history(
                batch,
                ProgressReport,
                batch_size=500,
                default_user=user,
                default_change_reason="模拟数据",
            )
            corrections = _corrections(batch, months, user, rng)
        completions = _milestones(plan_year, months, districts, user, rng)
    checked = 0
    for month in months:
        at = _check_time(month)
        if timezone.now() < at:
            break  # its reports are not due yet
        run_lag_check(month, as_of=at, notify=False)
        run_milestone_check(month, as_of=at, notify=False)
        checked += 1
        step("检查", 1)
    # Demo data is never delivered: no digests were recorded, and the episodes count as
    # told, so no later check announces the made-up year to real contacts.
    mark_told(LagAlert.objects.filter(indicator__project__plan_year=plan_year))
    return SimulationResult(
        reports=len(batch),
        corrections=corrections,
        completions=completions,
        months_checked=checked,
        alerts=LagAlert.objects.filter(indicator__project__plan_year=plan_year).count(),
    )


def work_units(year: int, through: date | None = None) -> int:
    """Steps the progress bar will count: one per indicator, one per month checked."""
    months = (through or default_through(year)).month
    return Indicator.objects.filter(project__plan_year__year=year).count() + months


def _clear(plan_year: PlanYear) -> None:
    year = plan_year.year
    Notification.objects.filter(month__year=year).delete()
    LagAlert.objects.filter(indicator__project__plan_year=plan_year).delete()
    LagEvaluation.objects.filter(indicator__project__plan_year=plan_year).delete()
    LagRun.objects.filter(month__year=year).delete()
    MilestoneCompletion.objects.filter(milestone__project__plan_year=plan_year).delete()
    ProgressReport.objects.filter(indicator__project__plan_year=plan_year).delete()


def _factor(district: District, rng: random.Random) -> Decimal:
    if district.name == SERIOUS_LAGGARD:
        base = rng.uniform(0.45, 0.6)
    elif district.name == LAGGARD:
        base = rng.uniform(0.84, 0.88)
    elif rng.random() < 0.06:
        base = rng.uniform(0.7, 0.8)
    else:
        base = rng.uniform(0.97, 1.08)
    return Decimal(str(round(base, 3)))


def _next_value(level, expected, quota, factor, previous, rng) -> Decimal:
    noise = Decimal(str(round(rng.uniform(-0.02, 0.02), 3)))
    if level:
        shortfall = (Decimal(1) - factor) * 10  # points below the expected level
        value = min(Decimal(100), expected - shortfall + noise * 10)
    else:
        value = min(quota * Decimal("1.15"), expected * (factor + noise))
        # whole quotas (助餐点, 床位, 人) are counted in whole units; 26.9 万人 in tenths
        whole = quota == quota.to_integral_value()
        value = value.quantize(Decimal(1) if whole else Decimal("0.1"), rounding=ROUND_HALF_UP)
    return max(previous, max(value, Decimal(0))).quantize(Q)


def _corrections(reports: list[ProgressReport], months, user, rng) -> int:
    """Two figures of the month before last corrected downwards three weeks after they
    were filed, with a reason (version 2, ``is_correction``); never below the district's
    earlier figures."""
    if len(months) < 3:
        return 0
    month = months[-2]
    candidates = [r for r in reports if r.month == month and r.value > 10]
    earlier: dict[tuple[int, int], Decimal] = {}
    for r in reports:
        if r.month < month:
            key = (r.indicator_id, r.district_id)
            earlier[key] = max(earlier.get(key, Decimal(0)), r.value)
    fixed = []
    for report in rng.sample(candidates, min(2, len(candidates))):
        floor = earlier.get((report.indicator_id, report.district_id), Decimal(0))
        report.value = max(floor, (report.value * Decimal("0.9")).quantize(Decimal(1)))
        report.is_correction = True
        report.correction_reason = "核查发现重复统计，更正为实际完成数"
        report.version += 1
        report.reported_at = report.created_at + timedelta(days=20)
        report._history_date = report.reported_at
        fixed.append(report)
    if fixed:
        bulk_update_with_history(
            fixed,
            ProgressReport,
            ["value", "is_correction", "correction_reason", "version", "reported_at"],
            default_user=user,
            default_change_reason="更正",
        )
    return len(fixed)


def _milestones(plan_year, months, districts, user, rng) -> int:
    """Qualitative milestones done in their month (淳安县 a month late)."""
    project_districts: dict[int, set[int]] = {}
    for project_id, district_id in Quota.objects.filter(
        indicator__project__plan_year=plan_year
    ).values_list("indicator__project_id", "district_id"):
        project_districts.setdefault(project_id, set()).add(district_id)
    rows = []
    last = months[-1] if months else None
    for milestone in Milestone.objects.filter(
        project__plan_year=plan_year, kind=Milestone.Kind.QUALITATIVE, district__isnull=True
    ):
        due = milestone.due_date
        owed = sorted(project_districts.get(milestone.project_id, ()), key=list(districts).index)
        for district_id in owed:
            district = districts[district_id]
            done_on = due - timedelta(days=rng.randint(0, 20))
            if district.name == SERIOUS_LAGGARD:
                done_on = month_end(add_months(due.replace(day=1), 1))
            if last is None or done_on > month_end(last):
                continue
            reported_at = timezone.make_aware(datetime.combine(done_on, time(18)))
            row = MilestoneCompletion(
                milestone=milestone,
                district=district,
                done=True,
                done_on=done_on,
                reported_by=user,
                reported_at=reported_at,
            )
            row._history_date = reported_at
            rows.append(row)
    if rows:
        with _dated(MilestoneCompletion, "reported_at"):
            bulk_create_with_history(
                rows, MilestoneCompletion, batch_size=500, default_user=user,
                default_change_reason="模拟数据",
            )  # fmt: skip
    return len(rows)
