"""A month's check spread over two real Celery worker processes (Redis broker), by
indicator batches: the same statuses, episodes, flips, history and digests as the
one-task check, with the finishing step (digests) done once.

Skipped (with the reason) when Redis is not reachable at ``REDIS_TEST_URL``; the
two-worker run needs PostgreSQL (concurrent writers), the claim test runs everywhere.
"""

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.system.test_celery_worker import REDIS_URL, redis_app  # noqa: F401 - the fixture
from tracker.accounts.models import Role
from tracker.demo.simulation import _check_time, simulate_year
from tracker.monitoring import checks as alerts
from tracker.monitoring.checks import check_lag_spread, run_lag_check
from tracker.monitoring.models import LagAlert, LagAlertFlip, LagEvaluation, LagRun
from tracker.notifications.models import Contact, Notification
from tracker.plans.reference import District

pytestmark = [pytest.mark.redis, pytest.mark.slow]
MONTHS = [date(2024, m, 1) for m in (1, 2, 3, 4)]


def snapshot():
    return {
        "statuses": sorted(
            LagEvaluation.objects.values_list(
                "indicator_id", "district_id", "month", "status", "streak", "actual",
                "expected", "forecast", "at_risk", "on_time", "run_number",
            )
        ),
        "alerts": sorted(
            LagAlert.objects.values_list(
                "indicator_id", "district_id", "kind", "month", "last_month", "status",
                "severity", "level", "supervised", "streak", "message", "closed_in_month",
                "notified_state",
            )
        ),
        "flips": sorted(
            LagAlertFlip.objects.values_list(
                "alert__indicator_id", "alert__district_id", "alert__kind", "month",
                "old_status", "new_status", "why",
            )
        ),
        "history": sorted(
            LagAlert.history.values_list(
                "indicator_id", "district_id", "kind", "status", "streak", "history_type"
            )
        ),
        "digests": sorted(
            Notification.objects.values_list("contact_id", "month", "run_number", "body")
        ),
        "runs": sorted(LagRun.objects.values_list("month", "run_count")),
    }  # fmt: skip


@contextmanager
def worker_processes(queue: str, cells_per_batch: int, count: int = 2):
    """``count`` worker processes (``tests.spread_worker``) on ``queue`` and the test
    database; stopped (warm shutdown, then killed) on exit. Their output is shown when
    the test fails."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
    }
    command = [sys.executable, "-m", "tests.spread_worker", queue, str(cells_per_batch)]
    with tempfile.TemporaryFile(mode="w+") as log:
        procs = [
            subprocess.Popen([*command, f"w{i}@spread"], env=env, stdout=log, stderr=log,
                             cwd=Path(__file__).resolve().parents[2])
            for i in range(1, count + 1)
        ]  # fmt: skip
        try:
            yield procs
        except BaseException:
            log.seek(0)
            print("worker output:\n" + log.read())
            raise
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def reset():
    Notification.objects.all().delete()
    LagAlertFlip.objects.all().delete()
    LagAlert.objects.all().delete()
    LagAlert.history.all().delete()
    LagEvaluation.objects.all().delete()
    LagRun.objects.all().delete()


@pytest.mark.postgres  # workers write at once: SQLite's in-memory test database locks
@pytest.mark.django_db(transaction=True)
def test_spread_check_on_two_workers_equals_the_one_task_check(
    redis_app,  # noqa: F811
    plan_2024,
    monkeypatch,
):
    if connection.vendor != "postgresql":
        pytest.skip("需要 PostgreSQL（两个 worker 同时写入）：设置 DATABASE_URL 后运行")
    _app, queues = redis_app  # the test's app is current: .delay() goes to its queue
    simulate_year(2024, seed=3, through=MONTHS[-1])  # the reports (its checks are reset)
    Contact.objects.create(name="督查室", role=Role.SUPERVISION, email="dcs@x.cn")
    for district in District.objects.order_by("order")[:4]:
        Contact.objects.create(
            name=district.name, role=Role.DISTRICT, district=district, email="d@x.cn"
        )
    reset()
    for month in MONTHS:  # one task, one batch (the plan has fewer cells than a batch)
        run_lag_check(month, as_of=_check_time(month), deliver=False)
    one_task = snapshot()
    assert one_task["alerts"] and one_task["digests"]
    reset()

    monkeypatch.setattr(alerts, "CELLS_PER_BATCH", 100)  # about ten batches a month
    batches = len(alerts.indicator_batches(alerts.tracked_plans(MONTHS[0]), alerts.CELLS_PER_BATCH))
    assert batches >= 5
    with worker_processes(queues[0], alerts.CELLS_PER_BATCH) as procs:
        for month in MONTHS:  # in order: a month's streaks build on the month before
            check_lag_spread.delay(f"{month:%Y-%m}", _check_time(month).isoformat())
            deadline = time.monotonic() + 120  # a bound on waiting, not a measured duration
            while not LagRun.objects.filter(month=month, completed_at__isnull=False).exists():
                assert all(p.poll() is None for p in procs), "a worker process exited"
                if time.monotonic() > deadline:
                    pytest.fail(f"spread check of {month} not completed")
                time.sleep(0.2)
    spread = snapshot()
    workers = set(LagRun.objects.values_list("summary__batches", flat=True))
    assert workers == {batches}
    for part in one_task:
        assert spread[part] == one_task[part], part


@pytest.mark.django_db
def test_a_batch_done_twice_or_of_a_superseded_run_changes_nothing(plan_2024, monkeypatch):
    simulate_year(2024, seed=3, through=date(2024, 2, 1))
    monkeypatch.setattr(alerts, "CELLS_PER_BATCH", 100)
    month, at = MONTHS[1], _check_time(MONTHS[1])
    spread = alerts.start_spread_check(month, as_of=at)
    first, *rest = spread.batches
    args = (spread.run_number, spread.as_of, spread.started)
    alerts.run_spread_batch(month, first, *args)
    before = snapshot()
    assert alerts.run_spread_batch(month, first, *args) is None  # redelivered: nothing
    assert snapshot() == before
    run_lag_check(month, as_of=at)  # a newer run supersedes the spread one
    after = snapshot()
    assert alerts.run_spread_batch(month, rest[0], *args) is None
    assert snapshot() == after
