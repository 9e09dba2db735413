"""The shortcuts a month's check takes by indicator batches give the answers of the
straightforward reads they replace: the evaluated months read once per check
(``EvaluatedMonths``) and the told episodes picked by one array parameter (``pk_in``)."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tracker.db.bulk import pk_in
from tracker.demo.simulation import _check_time, simulate_year
from tracker.monitoring import checks as alerts
from tracker.monitoring.checks import run_lag_check
from tracker.monitoring.episodes import EvaluatedMonths, evaluated_months
from tracker.monitoring.models import LagAlert, LagEvaluation

JAN, FEB, MAR = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)


@pytest.mark.django_db
def test_every_batch_syncs_episodes_over_the_months_the_whole_plan_has_stored(
    plan_2024, monkeypatch
):
    """Each batch of March's check sees the months a fresh read of the whole plan's
    statuses would give at that moment: January and February, and March once stored."""
    simulate_year(2024, seed=7, through=FEB)
    monkeypatch.setattr(alerts, "CELLS_PER_BATCH", 100)
    plans = alerts.tracked_plans(MAR)
    seen, real_sync = [], alerts.sync_alerts

    def sync(evaluation, *, now=None, months=None):
        seen.append((months, evaluated_months(2024, list(plans))))
        return real_sync(evaluation, now=now, months=months)

    monkeypatch.setattr(alerts, "sync_alerts", sync)
    run_lag_check(MAR, as_of=_check_time(MAR))
    assert len(seen) == len(alerts.indicator_batches(plans, 100)) > 1
    for given, fresh in seen:  # by plan: one plan here
        assert given == {plan_2024.pk: fresh} and fresh == [JAN, FEB, MAR]


@pytest.mark.django_db
def test_evaluated_months_reads_the_other_months_once_and_asks_for_its_own(plan_2024):
    """A batch that stored nothing still counts the checked month when an earlier batch
    stored it, and not when none did; the other months are read on the first call only."""
    simulate_year(2024, seed=7, through=FEB)
    ids = list(alerts.tracked_plans(MAR))
    months = EvaluatedMonths(MAR, ids)
    with CaptureQueriesContext(connection) as first:
        assert months.after_save(stored=False) == [JAN, FEB]  # March not stored yet
    assert len(first) == 2  # the other months, then whether March is stored
    cell = LagEvaluation.objects.filter(month=FEB, indicator_id__in=ids).first()
    cell.pk, cell.month = None, MAR
    cell.save()  # an earlier batch stored a March status
    with CaptureQueriesContext(connection) as later:
        assert months.after_save(stored=False) == [JAN, FEB, MAR]
        assert months.after_save(stored=True) == [JAN, FEB, MAR]
    assert len(later) == 1  # the exists() of the batch that stored nothing
    with CaptureQueriesContext(connection) as known:
        assert months.after_save(stored=False) == [JAN, FEB, MAR]
    assert len(known) == 0  # March known stored: not asked again


@pytest.mark.django_db
def test_pk_in_picks_the_rows_of_pk_in(plan_2024):
    simulate_year(2024, seed=7, through=FEB)
    ids = list(LagAlert.objects.order_by("pk").values_list("pk", flat=True)[::3])
    assert ids
    every = LagAlert.objects.all()
    want = sorted(every.filter(pk__in=ids).values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        got = sorted(pk_in(every, ids).values_list("pk", flat=True))
    assert got == want
    if connection.vendor == "postgresql":  # one array parameter, not one per id
        assert "= ANY(" in queries[0]["sql"]
    assert list(pk_in(every, [])) == []
    changed = pk_in(LagAlert.objects.exclude(pk=ids[0]), ids).update(level=99)
    assert changed == len(ids) - 1
    assert LagAlert.objects.filter(level=99).count() == len(ids) - 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_episodes_table_leaves_room_for_in_place_updates(db):
    """Migration 0008: the check rewrites open episodes twice a run; fillfactor 60 lets
    PostgreSQL update them in place (HOT)."""
    if connection.vendor != "postgresql":
        pytest.skip("仅 PostgreSQL：设置 DATABASE_URL 后运行")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE relname = %s", [LagAlert._meta.db_table]
        )
        (options,) = cursor.fetchone()
    assert "fillfactor=60" in (options or [])
