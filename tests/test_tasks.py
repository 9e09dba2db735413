"""Celery tasks and beat: the month beat computes, catch-up, idempotency, queueing."""

from datetime import date, timedelta
from io import StringIO
from unittest import mock

import pytest
import time_machine
from django.core.management import CommandError, call_command

from config.celery import app, due_month_arg
from tests.lag_helpers import local, percent_plan, report
from tracker import tasks
from tracker.models import Contact, Delivery, LagAlert, LagRun, Notification, Role
from tracker.services.notifications import Outcome


def test_beat_schedule_runs_the_checks_at_nine_after_the_deadline():
    schedule = app.conf.beat_schedule
    monthly = schedule["lag-monthly-check"]
    assert monthly["task"] == "tracker.check_lag"
    assert monthly["schedule"].day_of_month == {6}
    assert monthly["schedule"].hour == {9} and monthly["schedule"].minute == {0}
    assert schedule["milestone-check"]["task"] == "tracker.check_milestones"
    assert schedule["lag-catch-up"]["schedule"].day_of_month == set(range(1, 32))
    assert schedule["delivery-retry"]["task"] == "tracker.retry_deliveries"
    assert app.conf.timezone == "Asia/Shanghai" and not app.conf.enable_utc
    # Next monthly run after June's: 6 July 09:00 in Shanghai.
    with time_machine.travel(local(2024, 7, 1, 0), tick=False):
        wait = monthly["schedule"].remaining_estimate(local(2024, 6, 6, 9))
    assert wait == timedelta(days=5, hours=9)


@pytest.mark.parametrize(
    ("now", "month"),
    [
        (local(2024, 7, 6, 9), "2024-06"),  # on time
        (local(2024, 7, 5, 23), "2024-05"),  # June's reports not yet due
        (local(2024, 8, 2, 9), "2024-06"),  # sent late after an outage: still June
        (local(2025, 1, 6, 9), "2024-12"),
    ],
)
def test_beat_computes_the_month_when_it_sends(now, month):
    [lazy] = app.conf.beat_schedule["lag-monthly-check"]["args"]
    with time_machine.travel(now, tick=False):
        assert lazy() == month == due_month_arg()


@pytest.fixture
def world(personas):
    percent_plan(personas.indicator_a)
    personas.indicator_b.quotas.all().delete()
    Contact.objects.create(
        name="市民政局", role=Role.AGENCY, agency=personas.agency_a, email="mz@example.cn"
    )
    for m in range(4, 8):
        report(personas.indicator_a, personas.district_a, f"2024-{m:02d}", 1)
        report(personas.indicator_a, personas.district_b, f"2024-{m:02d}", 10 * (m - 3))
    return personas


def test_check_catches_up_missed_months_in_order_and_is_idempotent(world):
    with time_machine.travel(local(2024, 8, 6, 9), tick=False):
        first = tasks.check_lag("2024-07")
        again = tasks.check_lag("2024-07")
    assert [s["month"] for s in first] == [f"2024-{m:02d}" for m in range(1, 8)]
    assert again == []
    assert LagRun.objects.filter(completed_at__isnull=False).count() == 7
    july = LagAlert.objects.get(month=date(2024, 7, 1), district=world.district_a)
    assert july.streak == 3 and july.supervised  # behind May to July: escalated by catch-up


def test_check_of_a_year_without_a_plan_returns_quietly(db):
    assert tasks.check_lag("2031-06") == []
    assert tasks.check_milestones("2031-06") == []
    assert not LagRun.objects.exists()


def test_milestone_check_covers_every_milestone_month_so_far(world):
    with time_machine.travel(local(2024, 7, 6, 9), tick=False):
        results = tasks.check_milestones("2024-06")
    assert [r["month"] for r in results] == ["2024-03", "2024-06"]
    assert LagAlert.objects.filter(kind=LagAlert.Kind.MILESTONE).count() == 2  # 3月底, 2 districts


def test_deliveries_are_queued_after_commit(world, django_capture_on_commit_callbacks):
    with (
        mock.patch.object(tasks.deliver_notification, "delay") as delay,
        time_machine.travel(local(2024, 8, 6, 9), tick=False),
    ):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            tasks.check_lag("2024-07")
        assert delay.call_count == 0  # nothing leaves before the transaction commits
        for callback in callbacks:
            callback()
    ids = set(Delivery.objects.values_list("pk", flat=True))
    assert {c.args[0] for c in delay.call_args_list} == ids and len(ids) >= 1


def test_a_broker_outage_leaves_deliveries_pending_for_the_sweep(
    world, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(tasks.deliver_notification, "delay", side_effect=OSError("down")),
        time_machine.travel(local(2024, 8, 6, 9), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        tasks.check_lag("2024-07")
    assert Notification.objects.exists()
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.PENDING}
    with (
        mock.patch.object(tasks.deliver_notification, "delay") as delay,
        time_machine.travel(local(2024, 8, 6, 9, 5), tick=False),
    ):
        assert tasks.retry_deliveries() == Delivery.objects.count()
    assert delay.call_count == Delivery.objects.count()


def test_failed_delivery_task_schedules_its_retry():
    with (
        mock.patch.object(
            tasks.notifications, "deliver", return_value=Outcome(Delivery.Status.RETRYING, 120)
        ),
        mock.patch.object(tasks.deliver_notification, "apply_async") as apply_async,
    ):
        assert tasks.deliver_notification(7) == "retrying"
    apply_async.assert_called_once_with((7,), countdown=120)
    with mock.patch.object(tasks.notifications, "deliver", return_value=None):
        assert tasks.deliver_notification(7) is None


def test_check_lag_command_prints_a_summary_table(world):
    out = StringIO()
    with time_machine.travel(local(2024, 8, 6, 9), tick=False):
        call_command("check_lag", "--month", "2024-07", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "2024年7月进度检查（试运行，未写入）" in text
    assert "填报截止 2024-08-05" in text
    row = next(line for line in text.splitlines() if line.startswith("1 "))
    assert row.split()[1:6] == ["新增老年助餐服务点", "40", "41", "41", "1"]  # 上城区 behind
    assert "将产生预警" in text
    assert not LagAlert.objects.exists() and not LagRun.objects.exists()

    out = StringIO()
    with time_machine.travel(local(2024, 8, 6, 9), tick=False):
        call_command("check_lag", "--month", "2024-07", "--milestones", stdout=out)
    assert "预警：新增 " in out.getvalue()
    assert "7月计划中没有进度节点" in out.getvalue()
    assert LagAlert.objects.filter(month=date(2024, 7, 1)).exists()


def test_check_lag_command_refuses_bad_input(world):
    with pytest.raises(CommandError, match="月份格式应为 YYYY-MM"):
        call_command("check_lag", "--month", "2024/7")
    with pytest.raises(CommandError, match="尚未载入 2031 年度计划"):
        call_command("check_lag", "--month", "2031-07")
    with pytest.raises(CommandError, match="--as-of 应为日期时间"):
        call_command("check_lag", "--month", "2024-07", "--as-of", "昨天")
