"""Lag evaluation: statuses, thresholds, reporting deadline, forecast, city totals, queries."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.factories import IndicatorFactory, ProjectFactory, QuotaFactory
from tests.lag_helpers import (
    add_districts,
    city_district,
    late_start_plan,
    local,
    milestone,
    percent_plan,
    report,
)
from tracker.calendar import due_month, reporting_deadline
from tracker.choices import LagStatus
from tracker.db.bulk import copy_supported
from tracker.monitoring.checks import run_lag_check
from tracker.monitoring.evaluation import evaluate_month, save_evaluation
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.rules import Thresholds, classify, forecast
from tracker.plans.models import Indicator, Milestone, Quota

D = Decimal
S = LagStatus
JULY, JUNE = date(2024, 7, 1), date(2024, 6, 1)
AFTER_JULY_DEADLINE = local(2024, 8, 10, 9)


def cls(expected, actual, *, quota=50, level=False, checkpoint=False, on_time=True, passed=True):
    return classify(
        level=level,
        quota=D(quota),
        expected=None if expected is None else D(expected),
        actual=None if actual is None else D(actual),
        on_time=on_time,
        deadline_passed=passed,
        is_checkpoint=checkpoint,
        thresholds=Thresholds(),
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "status", "gap"),
    [
        ((20, 16), {}, S.ON_TRACK, "8.00"),  # 8 points behind pace: tolerated
        ((20, 15), {}, S.BEHIND, "10.00"),  # 10 points: 黄
        ((20, 5), {}, S.BEHIND, "30.00"),  # 30 points: still 黄
        ((20, 4.5), {}, S.SERIOUSLY_BEHIND, "31.00"),  # more than 30: 红
        ((20, 15), {"checkpoint": True}, S.SERIOUSLY_BEHIND, "10.00"),  # checkpoint missed
        ((20, 16), {"checkpoint": True}, S.ON_TRACK, "8.00"),
        ((20, 60), {}, S.ON_TRACK, "-80.00"),  # over-achievement is on track
        ((0, None), {}, S.NOT_DUE, None),  # nothing expected yet
        ((None, 3), {"level": True}, S.NOT_DUE, None),  # a rate before its first level
        ((20, None), {}, S.NOT_REPORTED, None),  # nothing ever reported
        ((20, 19), {"on_time": False}, S.NOT_REPORTED, "2.00"),  # deadline passed
        ((20, 19), {"on_time": False, "passed": False}, S.ON_TRACK, "2.00"),  # not yet due
        ((81, 80.5), {"level": True}, S.ON_TRACK, "0.50"),
        ((81, 80), {"level": True}, S.BEHIND, "1.00"),
        ((81, 77.5), {"level": True}, S.SERIOUSLY_BEHIND, "3.50"),
        ((81, 80), {"level": True, "checkpoint": True}, S.SERIOUSLY_BEHIND, "1.00"),
    ],
)
def test_classify(args, kwargs, status, gap):
    got_status, got_gap = cls(*args, **kwargs)
    assert got_status == status
    assert got_gap == (None if gap is None else D(gap))


@override_settings(TRACKER={"LAG_YELLOW_POINTS": 5, "LAG_RED_POINTS": 20})
def test_thresholds_come_from_settings():
    t = Thresholds.from_settings()
    assert (t.yellow, t.red) == (5, 20)
    status, _ = classify(
        level=False,
        quota=D(100),
        expected=D(20),
        actual=D(14),
        on_time=True,
        deadline_passed=True,
        is_checkpoint=False,
        thresholds=t,
    )
    assert status == S.BEHIND


def test_forecast_at_recent_pace():
    """30 now, 18 three months ago: 4 a month, 38 by November; 5 a month still needed."""
    fc = forecast(quota=D(40), actual=D(30), base_value=D(18), window=3, months_left=2)
    assert (fc.pace, fc.at_deadline, fc.needed_pace) == (D(4), D(38), D(5))
    assert fc.misses_target
    done = forecast(quota=D(40), actual=D(30), base_value=D(0), window=3, months_left=0)
    assert done.at_deadline == D(30) and done.needed_pace is None
    assert forecast(quota=D(40), actual=None, base_value=None, window=3, months_left=2).pace is None


def test_reporting_deadline_is_end_of_the_fifth_in_shanghai():
    assert reporting_deadline(JUNE) == local(2024, 7, 5, 23, 59, 59, 999999)
    assert due_month(local(2024, 7, 5, 23, 59)) == date(2024, 5, 1)
    assert due_month(local(2024, 7, 6, 0, 0, 1)) == JUNE
    assert due_month(local(2025, 1, 6, 9)) == date(2024, 12, 1)
    with override_settings(TRACKER={"REPORTING_DEADLINE_DAY": 10}):
        assert due_month(local(2024, 7, 8, 9)) == date(2024, 5, 1)


@pytest.fixture
def world(personas):
    """personas' 助餐 indicator (quota 50 in each district) on a 30/60/100% plan."""
    percent_plan(personas.indicator_a)
    return personas


def test_statuses_of_a_month(world):
    p = world
    ind = p.indicator_a
    yellow, red, silent, late, star = add_districts(ind, 5)
    # July: expected 40% of 50 = 20 (not a checkpoint month)
    for d, june, july in [
        (p.district_a, 15, 21),  # on track
        (p.district_b, 15, 17),  # 6 points behind: on track
        (yellow, 12, 14),  # 12 points: 黄
        (red, 4, 4),  # 32 points: 红
        (silent, 15, None),  # no July report: 未按时填报
        (late, 15, 20),  # July filed after the deadline: 未按时填报
        (star, 40, 60),  # over quota
    ]:
        report(ind, d, "2024-06", june)
        if july is not None:
            filed = local(2024, 8, 7, 10) if d is late else None
            report(ind, d, "2024-07", july, filed=filed)

    ev = evaluate_month(JULY, as_of=AFTER_JULY_DEADLINE, indicator_ids=[ind.pk])
    status = {c.district_id: c.status for c in ev.cells}
    assert status == {
        p.district_a.pk: S.ON_TRACK,
        p.district_b.pk: S.ON_TRACK,
        yellow.pk: S.BEHIND,
        red.pk: S.SERIOUSLY_BEHIND,
        silent.pk: S.NOT_REPORTED,
        late.pk: S.NOT_REPORTED,
        star.pk: S.ON_TRACK,
    }
    silent_cell = ev.cell(ind.pk, silent.pk)
    assert silent_cell.actual == 15 and silent_cell.reported_month == JUNE
    # Over-achievement does not hide lag: capped counts the star at its quota.
    city = ev.city[ind.pk]
    assert ev.cell(ind.pk, late.pk).actual == 20  # late, but its figure is known
    assert city.actual == 21 + 17 + 14 + 4 + 15 + 20 + 60
    assert city.actual_capped == 21 + 17 + 14 + 4 + 15 + 20 + 50
    # The roll-up is over the districts' own quotas (the same rule as every page):
    # 7 districts × 50, each expected at 40% of it.
    assert city.target == 100 and city.expected == 7 * 20
    assert city.counts[S.NOT_REPORTED] == 2


def test_as_of_replays_what_was_known_then(world):
    """Before the deadline a missing month falls back to the last figure; reports filed
    after ``as_of`` do not exist yet."""
    p = world
    ind = p.indicator_a
    report(ind, p.district_a, "2024-06", 16)
    report(ind, p.district_a, "2024-07", 21, filed=local(2024, 8, 4, 10))
    report(ind, p.district_b, "2024-06", 12)
    before = evaluate_month(JULY, as_of=local(2024, 8, 2, 9), indicator_ids=[ind.pk])
    a = before.cell(ind.pk, p.district_a.pk)
    b = before.cell(ind.pk, p.district_b.pk)
    assert (a.actual, a.status) == (16, S.ON_TRACK)  # June's 16 of July's 20: 8 points
    assert b.status == S.BEHIND  # 12 of 20: 16 points behind on June's figure
    after = evaluate_month(JULY, as_of=AFTER_JULY_DEADLINE, indicator_ids=[ind.pk])
    assert after.cell(ind.pk, p.district_a.pk).actual == 21
    assert after.cell(ind.pk, p.district_b.pk).status == S.NOT_REPORTED


def test_checkpoint_month_turns_behind_into_seriously_behind(world):
    p = world
    ind = p.indicator_a
    report(ind, p.district_a, "2024-06", 10)  # expected 15: 10 points behind at a checkpoint
    report(ind, p.district_b, "2024-06", 15)
    ev = evaluate_month(JUNE, as_of=local(2024, 7, 6, 9), indicator_ids=[ind.pk])
    a = ev.cell(ind.pk, p.district_a.pk)
    assert a.is_checkpoint and a.checkpoint_text == "6月底前完成30%"
    assert a.status == S.SERIOUSLY_BEHIND
    assert ev.cell(ind.pk, p.district_b.pk).status == S.ON_TRACK


def test_nothing_due_before_the_plan_expects_numbers(personas):
    late_start_plan(personas.indicator_b)
    ev = evaluate_month(date(2024, 5, 1), as_of=local(2024, 6, 6, 9))
    cells = [c for c in ev.cells if c.indicator_id == personas.indicator_b.pk]
    assert {c.status for c in cells} == {S.NOT_DUE}
    assert len(cells) == 2


def test_rates_are_compared_as_levels(personas):
    rate = IndicatorFactory(
        project=personas.project_b,
        order=2,
        label="保障率",
        unit="%",
        kind="level",
        target_value=D(83),
    )
    QuotaFactory(indicator=rate, district=personas.district_a, value=D(83))
    QuotaFactory(indicator=rate, district=personas.district_b, value=D(83))
    milestone(rate, 3, Milestone.Kind.LEVEL, 80)
    milestone(rate, 6, Milestone.Kind.LEVEL, 81)
    # May: expected 80.67%
    report(rate, personas.district_a, "2024-05", "79.5")
    report(rate, personas.district_b, "2024-05", "77")
    ev = evaluate_month(date(2024, 5, 1), as_of=local(2024, 6, 6, 9), indicator_ids=[rate.pk])
    a = ev.cell(rate.pk, personas.district_a.pk)
    b = ev.cell(rate.pk, personas.district_b.pk)
    assert (a.status, a.gap_points) == (S.BEHIND, D("1.17"))
    assert (b.status, b.gap_points) == (S.SERIOUSLY_BEHIND, D("3.67"))
    assert ev.city[rate.pk].actual == D("78.25")  # the mean level, not a sum


def test_city_only_indicator_is_checked_on_the_city(personas):
    """序号12 is not split over districts: it is judged as one unit, on 市本级."""
    city = city_district()
    jobs = IndicatorFactory(
        project=personas.project_b,
        order=3,
        label="城镇新增就业",
        unit="人",
        target_value=D(250000),
        scope=Indicator.Scope.CITY,
    )
    milestone(jobs, 3, Milestone.Kind.ABSOLUTE, 60000)
    milestone(jobs, 6, Milestone.Kind.ABSOLUTE, 130000)
    report(jobs, city, "2024-06", 100000)
    ev = evaluate_month(JUNE, as_of=local(2024, 7, 6, 9), indicator_ids=[jobs.pk])
    [cell] = ev.cells
    assert cell.district_id == city.pk and cell.quota == 250000
    assert cell.expected == 130000
    assert cell.gap_points == D(12)  # 30000 short of 250000
    assert cell.status == S.SERIOUSLY_BEHIND  # 6月底 is a checkpoint: 13万 missed


def test_forecast_and_at_risk(world):
    """On track in July, but at the pace since April the quota is missed in November."""
    p = world
    ind = p.indicator_a
    report(ind, p.district_a, "2024-04", 17)
    report(ind, p.district_a, "2024-07", 20)  # expected 20: on track; 1 a month since April
    report(ind, p.district_b, "2024-04", 5)
    report(ind, p.district_b, "2024-07", 26)  # 7 a month: 54 by November
    ev = evaluate_month(JULY, as_of=AFTER_JULY_DEADLINE, indicator_ids=[ind.pk])
    a = ev.cell(ind.pk, p.district_a.pk)
    b = ev.cell(ind.pk, p.district_b.pk)
    assert a.status == S.ON_TRACK and a.at_risk
    assert (a.forecast.pace, a.forecast.at_deadline, a.forecast.needed_pace) == (1, 24, D("7.5"))
    assert not b.at_risk and b.forecast.at_deadline == 54
    # The plan itself adds 5 a month from April (5) to July (20): 上城区 is slower than
    # the plan, 萧山区 faster.
    assert a.forecast.plan_pace == 5 and a.forecast.slower_than_plan(D(10))
    assert not b.forecast.slower_than_plan(D(10))


def test_streak_counts_consecutive_problem_months(world):
    p = world
    ind = p.indicator_a
    for month, value in [("2024-05", 2), ("2024-06", 3), ("2024-07", 4)]:
        report(ind, p.district_a, month, value)
        report(ind, p.district_b, month, 50)
    streaks = []
    for m in (5, 6, 7):
        result = run_lag_check(date(2024, m, 1), as_of=local(2024, m + 1, 6, 9), notify=False)
        streaks.append(result.evaluation.cell(ind.pk, p.district_a.pk).streak)
    assert streaks == [1, 2, 3]


def test_statuses_are_stored_in_one_upsert(world):
    p = world
    ind = p.indicator_a
    report(ind, p.district_a, "2024-07", 21)
    ev = evaluate_month(JULY, as_of=AFTER_JULY_DEADLINE)
    with CaptureQueriesContext(connection) as queries:
        save_evaluation(ev, run_number=1)
    # The upsert and the clean-up; with COPY (PostgreSQL) the upsert reads from a
    # temporary table: drop if left, create, insert, drop (the COPY itself is not logged).
    assert len(queries) == (5 if copy_supported() else 2)
    stored = LagEvaluation.objects.get(indicator=ind, district=p.district_a, month=JULY)
    assert stored.status == S.ON_TRACK and stored.actual == 21 and stored.expected == 20
    assert stored.pace_pct == 40 and stored.completion_pct == 42
    # Re-running updates in place; a district whose quota went away loses its row.
    Quota.objects.filter(indicator=ind, district=p.district_b).delete()
    report(ind, p.district_a, "2024-07", 4)
    save_evaluation(evaluate_month(JULY, as_of=AFTER_JULY_DEADLINE), run_number=2)
    rows = LagEvaluation.objects.filter(indicator=ind, month=JULY)
    assert [(r.district_id, r.status, r.run_number) for r in rows] == [
        (p.district_a.pk, S.SERIOUSLY_BEHIND, 2)
    ]


@pytest.mark.parametrize("n", [3, 30])
def test_query_count_does_not_grow_with_districts(personas, n, django_assert_max_num_queries):
    """One set-based evaluation: the same few queries for 3 or 30 districts, and the
    whole check (statuses, alerts with history, digests) stays bounded too."""
    project = ProjectFactory(seq=40, lead_agency=personas.agency_a)
    for order in (1, 2):
        ind = IndicatorFactory(project=project, order=order)
        percent_plan(ind)
        for i, d in enumerate(add_districts(ind, n, start=1000 + order * 100)):
            report(ind, d, "2024-06", 15)
            report(ind, d, "2024-07", [21, 14, 4][i % 3])
    with django_assert_max_num_queries(6):  # plan: 3; quotas, reports, last streaks: 3
        evaluate_month(JULY, as_of=AFTER_JULY_DEADLINE)
    with django_assert_max_num_queries(30):
        result = run_lag_check(JULY, as_of=AFTER_JULY_DEADLINE)
    assert len(result.changes.created) >= 2 * n * 2 // 3


@time_machine.travel(local(2024, 12, 20, 10), tick=False)
def test_a_simulated_year_on_the_published_plan(plan_2024):
    """序号1 (助餐服务点) through 2024 for three districts: one on pace, one stuck at zero,
    one that stops reporting; statuses as a supervisor would read them month by month."""
    from tracker.plans.reference import District

    ind = Indicator.objects.get(project__seq=1, order=1)
    xiaoshan = District.objects.get(name="萧山区")  # quota 40
    linan = District.objects.get(name="临安区")  # quota 45
    chunan = District.objects.get(name="淳安县")  # quota 8
    pace = {7: 6, 8: 12, 9: 18, 10: 29, 11: 40}
    for m in range(1, 12):
        month = f"2024-{m:02d}"
        report(ind, xiaoshan, month, pace.get(m, 0))
        report(ind, linan, month, 0)
        if m <= 8:
            report(ind, chunan, month, {7: 1, 8: 2}.get(m, 0))
    seen = {}
    for m in range(4, 12):
        ev = evaluate_month(date(2024, m, 1), indicator_ids=[ind.pk])
        seen[m] = tuple(ev.cell(ind.pk, d.pk).status for d in (xiaoshan, linan, chunan))
    assert seen[4] == (S.NOT_DUE, S.NOT_DUE, S.NOT_DUE)  # 序号1 expects 0 in April
    assert seen[6] == (S.NOT_DUE, S.NOT_DUE, S.NOT_DUE)
    assert seen[7] == (S.ON_TRACK, S.BEHIND, S.ON_TRACK)  # 临安 14.7 points behind
    assert seen[8] == (S.ON_TRACK, S.BEHIND, S.ON_TRACK)
    assert seen[9] == (S.ON_TRACK, S.SERIOUSLY_BEHIND, S.NOT_REPORTED)  # 9月底 checkpoint
    assert seen[11] == (S.ON_TRACK, S.SERIOUSLY_BEHIND, S.NOT_REPORTED)


def test_a_district_with_its_own_milestones_is_judged_on_them(world):
    """萧山区 has its own 6月底 checkpoint of 25 (the city plan would give it 15)."""
    p = world
    own = milestone(
        p.indicator_a, 6, Milestone.Kind.ABSOLUTE, 25, text="萧山区6月底完成25个", order=7
    )
    own.district = p.district_b
    own.save()
    report(p.indicator_a, p.district_a, "2024-06", 15)
    report(p.indicator_a, p.district_b, "2024-06", 15)
    ev = evaluate_month(JUNE, as_of=local(2024, 7, 6, 9), indicator_ids=[p.indicator_a.pk])
    b = ev.cell(p.indicator_a.pk, p.district_b.pk)
    assert (b.expected, b.checkpoint_text, b.status) == (
        25,
        "萧山区6月底完成25个",
        S.SERIOUSLY_BEHIND,
    )
    assert ev.cell(p.indicator_a.pk, p.district_a.pk).expected == 15
