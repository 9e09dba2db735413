"""Celery tasks and beat: the month beat computes, catch-up, idempotency, queues and
time limits, real deliveries through the task (locmem mail outbox, a loopback HTTP
server), a broker outage."""

import json
import logging
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from config.celery import app, due_month_arg
from tests.lag_helpers import local, percent_plan, report
from tracker.accounts.models import Role
from tracker.monitoring.checks import check_lag, check_milestones
from tracker.monitoring.models import LagAlert, LagRun
from tracker.notifications.delivery import deliver_notification, retry_deliveries
from tracker.notifications.models import Contact, Delivery


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


def test_every_task_has_time_limits_and_deliveries_have_their_own_queue():
    """Nothing can hang a worker; a slow mailbox never delays a check."""
    from django.conf import settings

    app.loader.import_default_modules()  # what a worker imports: tracker.tasks
    ours = {name: task for name, task in app.tasks.items() if name.startswith("tracker.")}
    assert {"tracker.check_lag", "tracker.deliver_notification", "tracker.heartbeat"} <= set(ours)
    for name, task in ours.items():
        assert 0 < task.soft_time_limit < task.time_limit, name
    assert deliver_notification.soft_time_limit > settings.TRACKER["DELIVERY_DEADLINE_SECONDS"]
    assert deliver_notification.time_limit < settings.TRACKER["DELIVERY_LEASE_SECONDS"]
    route = app.amqp.router.route({}, "tracker.deliver_notification")
    assert route["queue"].name == "deliveries"
    assert app.amqp.router.route({}, "tracker.check_lag")["queue"].name == "celery"


def test_check_catches_up_missed_months_in_order_and_is_idempotent(world):
    with time_machine.travel(local(2024, 8, 6, 9), tick=False):
        first = check_lag("2024-07")
        again = check_lag("2024-07")
    lag = [s["month"] for s in first if s["kind"] == "lag"]
    assert lag == [f"2024-{m:02d}" for m in range(1, 8)]
    # the daily catch-up covers milestone months too: March missed by both districts
    milestone_runs = [s["month"] for s in first if s["kind"] == "milestone"]
    assert milestone_runs == ["2024-03", "2024-06", "2024-06"]  # missed ones, then as of now
    assert [s for s in again if s["kind"] == "lag"] == []
    assert all(s["notifications"] == 0 for s in again)
    assert LagRun.objects.filter(completed_at__isnull=False).count() == 7
    july = LagAlert.objects.get(kind=LagAlert.Kind.LAG, district=world.district_a)
    assert july.streak == 3 and july.supervised  # behind May to July: escalated by catch-up


def test_check_of_a_year_without_a_plan_returns_quietly(db):
    assert check_lag("2031-06") == []
    assert check_milestones("2031-06") == []
    assert not LagRun.objects.exists()


def test_milestone_check_covers_every_milestone_month_so_far(world):
    with time_machine.travel(local(2024, 7, 6, 9), tick=False):
        results = check_milestones("2024-06")
    assert [r["month"] for r in results] == ["2024-03", "2024-06", "2024-06"]  # then as of now
    assert LagAlert.objects.filter(kind=LagAlert.Kind.MILESTONE).count() == 2  # 3月底, 2 districts


class Hook(BaseHTTPRequestHandler):
    """A webhook receiver on loopback: answers ``status`` and records each body."""

    status = 200
    received: list

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook(settings):
    # the test server listens on 127.0.0.1, a range refused unless the setting allows it
    settings.TRACKER = {**settings.TRACKER, "WEBHOOK_ALLOW_PRIVATE": True}

    class Handler(Hook):
        received = []

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, Handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def eager():
    """Tasks run in-process as the worker would run them (``task_always_eager``)."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_the_check_task_delivers_real_mail_and_webhook_posts_and_retries(
    world, hook, eager, django_capture_on_commit_callbacks
):
    """The check queues its deliveries after commit; the delivery task sends the email
    (Django's locmem outbox) and POSTs the webhook (a real server on 127.0.0.1). The
    webhook fails first: the task retries through Celery and the sweep sends it later,
    keeping the first error visible."""
    from django.core import mail

    server, handler = hook
    handler.status = 500
    Contact.objects.create(
        name="上城区民政局", role=Role.DISTRICT, district=world.district_a,
        webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
    )  # fmt: skip
    with (
        time_machine.travel(local(2024, 8, 6, 9), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        check_lag("2024-07")
    [agency_mail] = mail.outbox
    assert agency_mail.to == ["mz@example.cn"] and "上城区 新增老年助餐服务点" in agency_mail.body
    assert len(handler.received) == 1
    webhook = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    assert webhook.status == Delivery.Status.RETRYING and "HTTP Error 500" in webhook.last_error

    handler.status = 200
    with time_machine.travel(local(2024, 8, 6, 9, 5), tick=False):
        assert retry_deliveries() == 1
    webhook.refresh_from_db()
    assert webhook.status == Delivery.Status.SENT and "HTTP Error 500" in webhook.last_error
    assert len(handler.received) == 2 and handler.received[1]["alerts"][0]["district"] == "上城区"
    assert len(mail.outbox) == 1  # the email was not sent again


@pytest.fixture
def broker_down():
    """The broker refuses connections (nothing listens on port 1)."""
    before = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    yield
    app.conf.broker_url = before


def test_a_broker_outage_is_one_warning_and_pending_deliveries(
    world, broker_down, caplog, django_capture_on_commit_callbacks
):
    Contact.objects.create(name="市政府督查室", role=Role.SUPERVISION, email="dcs@example.cn")
    Contact.objects.create(
        name="上城区民政局", role=Role.DISTRICT, district=world.district_a, email="sc@example.cn"
    )
    out = StringIO()
    with (
        caplog.at_level(logging.WARNING),
        time_machine.travel(local(2024, 8, 6, 9), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("check_lag", "--month", "2024-07", "--catch-up", stdout=out)
    assert Delivery.objects.count() >= 3
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.PENDING}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and not warnings[0].exc_info
    assert "消息队列不可用" in warnings[0].getMessage()
    assert f"{Delivery.objects.count()} 条通知保持待发送" in warnings[0].getMessage()


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
    assert LagAlert.objects.filter(last_month="2024-07-01").exists()


def test_check_lag_command_refuses_bad_input(world):
    with pytest.raises(CommandError, match="月份格式应为 YYYY-MM"):
        call_command("check_lag", "--month", "2024/7")
    with pytest.raises(CommandError, match="尚未载入 2031 年度计划"):
        call_command("check_lag", "--month", "2031-07")
    with pytest.raises(CommandError, match="--as-of 应为日期时间"):
        call_command("check_lag", "--month", "2024-07", "--as-of", "昨天")


def test_the_tests_queue_tasks_in_a_broker_file_of_their_own(settings):
    """A worker running from the checkout (``scripts/run.sh``) consumes
    ``var/broker.sqlite3``; the suite's queued deliveries go to the suite's own file, or
    that worker would later run them against its own database's delivery ids."""
    import os
    import sqlite3
    from pathlib import Path

    from tracker.notifications.digests import queue_deliveries

    if not settings.CELERY_BROKER_URL.startswith("sqlite:"):
        pytest.skip("消息队列配置为 Redis（CELERY_BROKER_URL / REDIS_URL）")
    checkout = Path(__file__).resolve().parents[2] / "var" / "broker.sqlite3"
    own = Path(app.conf.broker_url.removeprefix("sqlite:///"))
    assert own.resolve() != checkout.resolve()
    assert os.environ["TRACKER_BROKER_FILE"] == str(own)
    before = checkout.stat().st_mtime_ns if checkout.exists() else None
    assert queue_deliveries([987654]) == 1
    query = (
        "SELECT m.id, m.payload FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id"
        " WHERE q.name = 'deliveries'"
    )
    with sqlite3.connect(own) as db:
        mine = [row for row in db.execute(query) if '"argsrepr": "(987654,)"' in row[1]]
        assert len(mine) == 1
        db.execute("DELETE FROM kombu_message WHERE id = ?", (mine[0][0],))  # nobody runs it
    assert (checkout.stat().st_mtime_ns if checkout.exists() else None) == before
