"""The outbox against real servers: a mail server down for hours then back, one that takes
a message and never confirms it, a worker gone in the middle of an attempt, and robots
(钉钉/企业微信) that cannot de-duplicate. Mail goes through a real local SMTP server
(aiosmtpd); time is pinned with time-machine, and the sweep is what beat runs."""

import asyncio
import http.client
import json
import smtplib
import socket
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.urls import reverse

from tests.lag_helpers import local, percent_plan, report
from tracker.accounts.models import Role
from tracker.health.checks import check_deliveries
from tracker.monitoring.checks import run_lag_check
from tracker.notifications import delivery as outbox
from tracker.notifications.models import Contact, Delivery, WebhookFormat

NOW = local(2024, 8, 6, 9)


class Mailbox:
    """aiosmtpd handler: records every message it takes; ``hang`` never confirms DATA."""

    def __init__(self, hang: bool = False):
        self.hang = hang
        self.received: list[tuple[str, str]] = []  # (recipient, Message-ID)

    async def handle_DATA(self, server, session, envelope):
        text = envelope.content.decode("utf-8", "replace")
        mid = next(
            (line.split(":", 1)[1].strip() for line in text.splitlines()
             if line.lower().startswith("message-id:")), "",
        )  # fmt: skip
        for rcpt in envelope.rcpt_tos:
            self.received.append((rcpt, mid))
        if self.hang:
            await asyncio.sleep(60)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    """Django sends over SMTP to 127.0.0.1:<port>, where nothing listens until
    ``start()``; a short total deadline per attempt."""
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.TRACKER = {**settings.TRACKER, "DELIVERY_DEADLINE_SECONDS": 2}
    controllers = []

    def start(handler: Mailbox) -> Mailbox:
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return handler

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def world(personas):
    """Twelve mailboxes of 萧山区 (behind in July), its lead agency and 上城区."""
    p = personas
    percent_plan(p.indicator_a)
    p.indicator_b.quotas.all().delete()
    for i in range(12):
        Contact.objects.create(
            name=f"萧山区联络员{i}", role=Role.DISTRICT, district=p.district_b,
            email=f"xs{i}@example.cn",
        )  # fmt: skip
    Contact.objects.create(name="市民政局", role=Role.AGENCY, agency=p.agency_a, email="mz@x.cn")
    Contact.objects.create(
        name="上城区民政局", role=Role.DISTRICT, district=p.district_a, email="sc@x.cn"
    )
    report(p.indicator_a, p.district_a, "2024-07", 4)
    report(p.indicator_a, p.district_b, "2024-07", 14)
    return p


def july_check():
    with time_machine.travel(NOW, tick=False):
        return run_lag_check(date(2024, 7, 1), deliver=False)


def beat_minute(now, workers: int = 1) -> None:
    """What beat and the workers do at ``now``: the sweep, then every due delivery
    (``workers`` of them race for each: the claim lets one send)."""
    with time_machine.travel(now, tick=False):
        for pk in outbox.due_deliveries():
            for _ in range(workers):
                outbox.deliver(pk)


def test_a_mail_outage_longer_than_the_old_schedule_loses_nothing_and_sends_once(world, smtp):
    """The server is down for 3 hours (the old schedule gave up after ~15 minutes):
    every digest keeps retrying, health is degraded after 15 minutes; the server comes
    back and every digest arrives exactly once, though two workers race for each."""
    july_check()
    addresses = set(Delivery.objects.values_list("address", flat=True))
    assert len(addresses) == 14
    now = NOW
    while now < NOW + timedelta(hours=3):  # down: connection refused
        beat_minute(now)
        if now == NOW + timedelta(minutes=5):
            assert check_deliveries(now)["ok"]  # a blip is not an outage yet
        now += timedelta(minutes=5)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.RETRYING}
    assert Delivery.objects.filter(attempts__gte=6).count() == 14  # past the old five
    health = check_deliveries(now)
    assert not health["ok"] and health["retrying"] == 14
    assert "连续发送失败超过 15 分钟" in health["error"]

    mailbox = smtp(Mailbox())
    end = now + timedelta(hours=2)  # the longest delay is an hour (with jitter, less)
    while now <= end:
        beat_minute(now, workers=2)
        now += timedelta(minutes=5)
    assert sorted(r for r, _ in mailbox.received) == sorted(addresses)  # each exactly once
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    # one Message-ID per delivery, the same on every attempt
    assert {mid for _, mid in mailbox.received} == {
        outbox.message_id(d) for d in Delivery.objects.all()
    }
    assert check_deliveries(now)["ok"]


def test_after_the_retry_window_deliveries_are_failed_shown_and_resent(
    world, smtp, client, settings
):
    """Down for longer than ``DELIVERY_RETRY_HOURS`` (here 1): failed, health degraded
    with the count, 督查室's header links to them, 「全部重新发送」 sends them once."""
    settings.TRACKER = {**settings.TRACKER, "DELIVERY_RETRY_HOURS": 1}
    july_check()
    now = NOW
    while now <= NOW + timedelta(hours=2):
        beat_minute(now)
        now += timedelta(minutes=5)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.FAILED}
    health = check_deliveries(now)
    assert (health["ok"], health["failed"]) == (False, 14)

    client.force_login(world.supervisor)
    page = client.get(reverse("dashboard:overview")).content.decode()
    assert "通知发送失败 14 条" in page
    assert reverse("admin:tracker_delivery_changelist") + "?attention=1" in page
    listing = client.get(reverse("admin:tracker_delivery_changelist"), {"attention": "1"})
    assert listing.context["cl"].result_count == 14
    assert "ConnectionRefusedError" in listing.content.decode()  # 督查室 reads the detail
    assert "全部重新发送（14 条失败或结果不明）" in listing.content.decode()

    mailbox = smtp(Mailbox())
    with time_machine.travel(now, tick=False):
        response = client.post(reverse("admin:tracker_delivery_resend_all"))
    assert response.status_code == 302
    beat_minute(now, workers=2)
    assert len(mailbox.received) == 14 and len(set(mailbox.received)) == 14
    assert check_deliveries(now)["ok"]
    page = client.get(reverse("dashboard:overview")).content.decode()
    assert "通知发送失败" not in page


def test_a_mail_server_that_takes_data_and_never_confirms_gets_it_once(world, smtp, client):
    """The server has the whole message but never says 250: the attempt ends at its
    deadline and the delivery is unknown, not sent again (the old code sent it twice);
    a person resends it from its row."""
    mailbox = smtp(Mailbox(hang=True))
    july_check()
    one = Delivery.objects.get(address="mz@x.cn")
    Delivery.objects.exclude(pk=one.pk).delete()  # this one only
    outcome = outbox.deliver(one.pk)
    assert outcome.status == Delivery.Status.UNKNOWN
    one.refresh_from_db()
    assert "服务器未确认" in one.last_error and "超过单次发送总时限 2 秒" in one.last_error
    assert one.request_sent_at is not None
    beat_minute(NOW + timedelta(hours=1))  # the sweep does not resend it
    assert [r for r, _ in mailbox.received].count("mz@x.cn") == 1
    assert not check_deliveries()["ok"] and check_deliveries()["unknown"] == 1

    mailbox.hang = False
    client.force_login(world.supervisor)
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        client.post(reverse("admin:tracker_delivery_resend", args=[one.pk]))
        assert outbox.deliver(one.pk).status == Delivery.Status.SENT
    assert [r for r, _ in mailbox.received].count("mz@x.cn") == 2  # the person's choice


def test_a_delivery_whose_worker_died_before_handing_over_is_retried(
    world, smtp, monkeypatch, settings
):
    """The worker is killed while connecting (nothing handled the exit: the row stays
    *sending*). After the lease the sweep queues it again and it goes out once."""
    mailbox = smtp(Mailbox())
    july_check()
    one = Delivery.objects.get(address="mz@x.cn")
    Delivery.objects.exclude(pk=one.pk).delete()  # this one only

    def killed(*args, **kwargs):
        raise SystemExit("worker killed")

    with monkeypatch.context() as m:
        m.setattr(smtplib.SMTP, "connect", killed)
        with time_machine.travel(NOW, tick=False), pytest.raises(SystemExit):
            outbox.deliver(one.pk)
    one.refresh_from_db()
    assert one.status == Delivery.Status.SENDING and one.request_sent_at is None
    beat_minute(NOW + timedelta(seconds=30))  # within the lease: left alone
    assert mailbox.received == []
    lease = settings.TRACKER["DELIVERY_LEASE_SECONDS"]
    beat_minute(NOW + timedelta(seconds=lease + 60), workers=2)
    assert [r for r, _ in mailbox.received].count("mz@x.cn") == 1
    one.refresh_from_db()
    assert (one.status, one.attempts) == (Delivery.Status.SENT, 2)


class Robot(BaseHTTPRequestHandler):
    """A 钉钉-style robot: records each POST, answers ``answer`` (or hangs)."""

    received: list
    hang = False
    answer = {"errcode": 0, "errmsg": "ok"}

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        if self.hang:
            threading.Event().wait(5)
            return
        data = json.dumps(self.answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def robot(settings):
    # the test server listens on 127.0.0.1, a range refused unless the setting allows it
    settings.TRACKER = {
        **settings.TRACKER, "WEBHOOK_ALLOW_PRIVATE": True, "DELIVERY_DEADLINE_SECONDS": 1,
    }  # fmt: skip

    class Handler(Robot):
        received = []

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/robot/send", Handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("fmt", [WebhookFormat.DINGTALK, WebhookFormat.WECOM])
def test_a_robot_that_took_the_request_is_never_sent_it_again(world, robot, fmt):
    """钉钉/企业微信 ignore Idempotency-Key: a robot that has the request and does not
    answer within the deadline gets no second copy; the delivery is unknown."""
    url, handler = robot
    handler.hang = True
    Contact.objects.filter(name="市民政局").update(email="", webhook_url=url, webhook_format=fmt)
    july_check()
    hook = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    with time_machine.travel(NOW, tick=False):
        assert outbox.deliver(hook.pk).status == Delivery.Status.UNKNOWN
    for hours in (1, 30):
        beat_minute(NOW + timedelta(hours=hours))
    assert len(handler.received) == 1
    hook.refresh_from_db()
    assert hook.status == Delivery.Status.UNKNOWN and "请求已发出" in hook.last_error


def test_a_robot_that_answered_a_failure_is_retried(world, robot):
    """A robot that says it failed (``errcode`` 45009, rate limit) has not posted the
    message: retrying is safe, and the group sees the digest once."""
    url, handler = robot
    handler.answer = {"errcode": 45009, "errmsg": "api freq out of limit"}
    Contact.objects.filter(name="市民政局").update(
        email="", webhook_url=url, webhook_format=WebhookFormat.DINGTALK
    )
    july_check()
    hook = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    with time_machine.travel(NOW, tick=False):
        assert outbox.deliver(hook.pk).status == Delivery.Status.RETRYING
    handler.answer = {"errcode": 0, "errmsg": "ok"}
    beat_minute(NOW + timedelta(minutes=5))
    hook.refresh_from_db()
    assert hook.status == Delivery.Status.SENT and "45009" in hook.last_error
    assert len(handler.received) == 2  # the refused one and the posted one


def test_a_robot_whose_worker_died_after_sending_is_not_resent(world, robot, monkeypatch):
    """The request reached the robot, then the worker died before the answer: after the
    lease the delivery is unknown, not sent again."""
    url, handler = robot
    Contact.objects.filter(name="市民政局").update(
        email="", webhook_url=url, webhook_format=WebhookFormat.WECOM
    )
    july_check()
    hook = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)

    def killed(self, *args, **kwargs):
        raise SystemExit("worker killed")

    with monkeypatch.context() as m:
        m.setattr(http.client.HTTPConnection, "getresponse", killed)
        with time_machine.travel(NOW, tick=False), pytest.raises(SystemExit):
            outbox.deliver(hook.pk)
    beat_minute(NOW + timedelta(hours=1))
    hook.refresh_from_db()
    assert hook.status == Delivery.Status.UNKNOWN and "无法确认是否已送达" in hook.last_error
    assert len(handler.received) == 1
