"""One current truth (issue 28): every write that changes an evaluation's inputs
re-evaluates the affected stored cells in its own transaction, with no check run.

On the simulated 2024 year (January to September checked, as beat would have). The real
clock is well past February 2025, so every write here is a correction to last year made
after the following February: the case the daily catch-up used to miss.
"""

import copy
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.dashboard_helpers import simulated_year
from tracker.calendar import reporting_deadline
from tracker.choices import PROBLEM_STATUSES
from tracker.choices import LagStatus as S
from tracker.formats import plain
from tracker.monitoring.checks import run_catch_up, run_lag_check, stale_months
from tracker.monitoring.current import reevaluate_cells
from tracker.monitoring.evaluation import _cell_figures, forecast_base, months_figures
from tracker.monitoring.models import LagAlert, LagEvaluation, LagRun
from tracker.monitoring.rules import Thresholds, roll_up
from tracker.notifications.models import Notification
from tracker.plans.loader import load_plan
from tracker.plans.models import Indicator, Quota
from tracker.plans.signals import plan_changed
from tracker.plans.trajectory import load_indicator_plans
from tracker.progress.models import ProgressReport
from tracker.progress.writes import Entry, delete_report, submit
from tracker.reporting.overview import overview

SEPT = date(2024, 9, 1)
JUNE = date(2024, 6, 1)


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


def stored(cell, month):
    indicator_id, district_id = cell
    return LagEvaluation.objects.get(
        indicator_id=indicator_id, district_id=district_id, month=month
    )


def red_cell(year, month=SEPT):
    """One of 淳安县's 严重滞后 cells of ``month`` (a split, cumulative indicator)."""
    row = (
        LagEvaluation.objects.filter(
            district=year.chunan,
            month=month,
            status=S.SERIOUSLY_BEHIND,
            indicator__kind=Indicator.Kind.CUMULATIVE,
        )
        .order_by("indicator__project__seq", "indicator__order")
        .first()
    )
    return row.indicator_id, row.district_id


def test_a_saved_red_cell_shows_its_new_status_with_no_check(
    year, db, django_assert_max_num_queries
):
    cell = red_cell(year)
    before = stored(cell, SEPT)
    august = stored(cell, date(2024, 8, 1))
    counts = overview(year.supervisor, SEPT).cell_counts
    runs = list(LagRun.objects.values_list("month", "run_count", "completed_at"))
    alerts = list(LagAlert.objects.order_by("pk").values_list("pk", "status", "last_month"))
    notes = Notification.objects.count()
    entry = Entry(cell[0], cell[1], "2024-09", str(before.quota), expected_version=None)
    # The save and its re-evaluation: a bounded number of queries (September only is
    # stored after the month saved; the rest is the write path's own).
    with django_assert_max_num_queries(40):
        submit(year.chunan_user, [entry])
    after = stored(cell, SEPT)
    assert after.actual == before.quota and after.status == S.ON_TRACK
    assert after.streak == 0 and after.evaluated_at > before.evaluated_at
    assert stored(cell, date(2024, 8, 1)).evaluated_at == august.evaluated_at  # untouched
    new_counts = overview(year.supervisor, SEPT).cell_counts
    assert new_counts[S.SERIOUSLY_BEHIND] == counts[S.SERIOUSLY_BEHIND] - 1
    assert new_counts[S.ON_TRACK] == counts[S.ON_TRACK] + 1
    # No check ran: the re-evaluation writes no LagRun, changes no alert and mails nobody
    # (the episodes and digests are the scheduled checks').
    assert list(LagRun.objects.values_list("month", "run_count", "completed_at")) == runs
    assert list(LagAlert.objects.order_by("pk").values_list("pk", "status", "last_month")) == alerts
    assert Notification.objects.count() == notes


def test_a_correction_to_last_year_reevaluates_that_month_and_every_later_one(year, db):
    cell = red_cell(year, JUNE)
    june = stored(cell, JUNE)
    entry = Entry(cell[0], cell[1], "2024-06", str(june.quota), is_correction=True,
                  correction_reason="补录台账")  # fmt: skip
    submit(year.supervisor, [entry])
    assert stored(cell, JUNE).status == S.ON_TRACK and stored(cell, JUNE).streak == 0
    assert stored(cell, JUNE).actual == june.quota
    july = stored(cell, date(2024, 7, 1))
    # July's own (lower) report stands, but its streak starts again after June.
    assert july.actual < june.quota
    assert july.streak == (1 if july.status in PROBLEM_STATUSES else 0)
    assert stored(cell, date(2024, 5, 1)).evaluated_at < july.evaluated_at  # May untouched
    # Deleting the correction re-evaluates again: June falls back to May's figure.
    report = ProgressReport.objects.get(indicator_id=cell[0], district_id=cell[1], month=JUNE)
    delete_report(year.supervisor, report, reason="录错月份")
    assert stored(cell, JUNE).actual == stored(cell, date(2024, 5, 1)).actual
    assert stored(cell, JUNE).status != S.ON_TRACK


def test_the_catch_up_rechecks_a_correction_to_last_year(year, db):
    """A figure of 2024 changed behind the write path's back (a repair in the database):
    the daily catch-up of March 2025 re-checks 2024's months from it on."""
    cell = red_cell(year, JUNE)
    report = ProgressReport.objects.get(indicator_id=cell[0], district_id=cell[1], month=JUNE)
    quota = stored(cell, JUNE).quota
    ProgressReport.objects.filter(pk=report.pk).update(value=quota, reported_at=timezone.now())
    assert stale_months(SEPT)[0] == JUNE
    results = run_catch_up(date(2025, 3, 1))
    assert [r.month for r in results] == [JUNE, date(2024, 7, 1), date(2024, 8, 1), SEPT]
    assert stored(cell, JUNE).status == S.ON_TRACK
    assert stale_months(SEPT) == []


def test_a_quota_correction_reevaluates_its_cells_in_every_stored_month(year, db):
    cell = red_cell(year)
    quota = Quota.objects.get(indicator_id=cell[0], district_id=cell[1])
    actual = stored(cell, SEPT).actual
    assert actual is not None and actual > 0
    quota.value = actual  # the plan corrected down to what the district has done
    quota.save()
    plan_changed.send(sender=Quota, plan=year.plan_year, indicator_ids=[cell[0]], project_ids=[])
    after = stored(cell, SEPT)
    assert after.quota == actual and after.completion_pct == Decimal(100)
    assert after.status == S.ON_TRACK
    months = set(LagEvaluation.objects.filter(indicator_id=cell[0]).values_list("month", flat=True))
    assert {stored(cell, m).quota for m in months} == {actual}


def test_reloading_the_plan_file_reevaluates_only_the_cells_whose_quota_changed(
    year, db, plan_2024_data
):
    """A reload of the 2024 file with one quota corrected (淳安县's, down to what it has
    done) rewrites that cell's rows in every stored month and no other row; the same file
    loaded again rewrites nothing (issue 28: a reload costs no more than its changes)."""
    cell = red_cell(year)
    indicator = Indicator.objects.select_related("project").get(pk=cell[0])
    actual = stored(cell, SEPT).actual
    data = copy.deepcopy(plan_2024_data)
    column = [d["code"] for d in data["districts"]].index(year.chunan.code)
    project = next(p for p in data["projects"] if p["key"] == indicator.project.key)
    target = next(i for i in project["indicators"] if i["key"] == indicator.key)
    target["quotas"][column] = f"{plain(actual)} {indicator.unit}"
    before = dict(LagEvaluation.objects.values_list("pk", "evaluated_at"))
    load_plan(data, confirm=True, reason="淳安县任务数更正")
    after = dict(LagEvaluation.objects.values_list("pk", "evaluated_at"))
    rewritten = {pk for pk, at in after.items() if before.get(pk) != at}
    rows = LagEvaluation.objects.filter(indicator_id=cell[0], district_id=cell[1])
    assert rewritten == set(rows.values_list("pk", flat=True))
    assert {r.quota for r in rows} == {actual}
    assert stored(cell, SEPT).status == S.ON_TRACK
    load_plan(data)  # unchanged: nothing re-evaluated, nothing rewritten
    assert dict(LagEvaluation.objects.values_list("pk", "evaluated_at")) == after


def test_a_removed_quota_drops_its_stored_cells(year, db):
    cell = red_cell(year)
    Quota.objects.filter(indicator_id=cell[0], district_id=cell[1]).delete()
    ProgressReport.objects.filter(indicator_id=cell[0], district_id=cell[1]).delete()
    plan_changed.send(sender=Quota, plan=year.plan_year, indicator_ids=[cell[0]], project_ids=[])
    assert not LagEvaluation.objects.filter(indicator_id=cell[0], district_id=cell[1]).exists()
    assert LagEvaluation.objects.filter(indicator_id=cell[0], month=SEPT).exists()


def test_the_reevaluation_of_a_whole_district_month_takes_a_fixed_number_of_queries(
    year, db, django_assert_num_queries
):
    """淳安县's whole month (every cell it reports): 1 query for the evaluated months, 3
    for the plan, 2 for the figures of every month (the reports, the streaks of the
    month before) and 1 to store every month's cells, whatever the number of cells and
    of months. Only the rows whose evaluation changed are written."""
    cells = set(
        Quota.objects.filter(district=year.chunan).values_list("indicator_id", "district_id")
    )
    assert len(cells) > 40
    stored = LagEvaluation.objects.filter(district=year.chunan, month__gte=JUNE)
    stored.update(actual=-1)  # spoiled behind the re-evaluation's back: every row differs
    with django_assert_num_queries(7):
        assert reevaluate_cells(cells, SEPT) == len(cells)
    with django_assert_num_queries(7):  # June to September: September is current again
        assert reevaluate_cells(cells, JUNE) == 3 * len(cells)
    with django_assert_num_queries(7):  # nothing changed since: no row is rewritten
        assert reevaluate_cells(cells, JUNE) == 0
    with django_assert_num_queries(1):  # a month never evaluated: nothing to do
        assert reevaluate_cells(cells, date(2024, 11, 1)) == 0


def test_cells_in_several_districts_are_reevaluated_in_one_pass_and_no_other(
    year, db, django_assert_num_queries
):
    """A corrected plan file's quotas lie in several districts, each on its own target.
    They are re-evaluated together in the queries of one district's month, and exactly
    they are: the same targets' cells in the other's district, spoiled beside them, stay
    as they were (a cross product of targets and districts would have repaired them)."""
    a = red_cell(year)
    september = set(
        LagEvaluation.objects.filter(month=SEPT).values_list("indicator_id", "district_id")
    )
    b = next(
        (i, d)
        for i, d in sorted(september)
        if i != a[0] and d != a[1] and (a[0], d) in september and (i, a[1]) in september
    )
    crossed = [(a[0], b[1]), (b[0], a[1])]
    for cell in (a, b, *crossed):
        LagEvaluation.objects.filter(indicator_id=cell[0], district_id=cell[1], month=SEPT).update(
            actual=-1
        )
    with django_assert_num_queries(7):
        assert reevaluate_cells([a, b], SEPT) == 2
    assert stored(a, SEPT).actual != -1 and stored(b, SEPT).actual != -1
    assert [stored(cell, SEPT).actual for cell in crossed] == [-1, -1]


@pytest.mark.parametrize("reviewed", [False, True], ids=["all-filed", "only-reviewed"])
def test_several_months_read_at_once_give_each_month_the_figures_read_alone(
    year, db, settings, reviewed
):
    """The re-evaluation reads every month's figures in one go (``months_figures``); each
    month gets exactly the rows its own windowed statement (``_cell_figures``) reads: every
    cell of the plan and of 淳安县 alone, January to September, now and as of 20 July
    2024 (reports filed later not yet counted, on time or late), with only reviewed
    figures counting or all. The streak of the month before comes with the first month
    only (the later ones follow the re-evaluated month)."""
    settings.TRACKER = {**settings.TRACKER, "COUNT_ONLY_REVIEWED": reviewed}
    plans = load_indicator_plans(year=2024)
    months = [date(2024, m, 1) for m in range(1, 10)]
    thresholds = Thresholds.from_settings()
    for as_of in (timezone.now(), timezone.make_aware(datetime(2024, 7, 20, 12))):
        for districts in (None, [year.chunan.pk]):
            cells = None if districts is None else {(pk, d) for pk in plans for d in districts}
            together = months_figures(plans, months, as_of, thresholds, cells=cells)
            for month in months:
                base = forecast_base(month, thresholds)[1]
                alone = list(_cell_figures(
                    {k: p for k, p in plans.items() if p.is_tracked}, month, as_of,
                    reporting_deadline(month), base, districts,
                ))  # fmt: skip
                assert [r[:-1] for r in together[month]] == [r[:-1] for r in alone], month
                if month == months[0]:
                    assert [r[-1] for r in together[month]] == [r[-1] for r in alone]
            if not reviewed:  # the simulated year's figures are filed, few are reviewed
                assert any(r[5] for r in together[JUNE])  # on time
                assert any(r[3] is not None and not r[5] for r in together[JUNE])


def test_the_overview_judges_a_checkpoint_month_as_the_check_does(year, db):
    """June and September are checkpoint months: an indicator whose capped total is below
    the red threshold there is 红 on the overview, as in the check's city totals, not the
    黄 of an ordinary month (issue 28: 7 of 540 indicator-months differed)."""
    thresholds = Thresholds.from_settings()
    due = {i.pk: i.due.replace(day=1) for i in Indicator.objects.select_related("project")}
    differs = []
    for month in (JUNE, SEPT):
        city = run_lag_check(month, notify=False).evaluation.city
        rows = {}
        for r in LagEvaluation.objects.filter(month=month):
            rows.setdefault(r.indicator_id, []).append(r)
        for summary in (i for p in overview(year.supervisor, month).projects for i in p.indicators):
            assert summary.status == city[summary.id].status, (month, summary.label)
            plain = roll_up(
                rows[summary.id], level=summary.is_level, thresholds=thresholds,
                past_due=month > due[summary.id],
            ).status  # fmt: skip
            if plain != summary.status:
                differs.append((month, summary.label, plain, summary.status))
    assert differs, "the simulated year has checkpoint months where the two rules differ"
    assert {(p, s) for _m, _l, p, s in differs} <= {(S.BEHIND, S.SERIOUSLY_BEHIND)}, differs
