"""A webhook that trickles its answer one byte a second: the attempt ends at its total
deadline (a per-read timeout never would), and a heartbeat sent meanwhile is run by a
real worker on the default queue while the delivery is still in flight (deliveries have
their own queue, ``deliveries``)."""

import socket
import threading
import time
from datetime import date

import pytest
import time_machine
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.db import connections
from django.utils import timezone

from config.celery import app as main_app
from tests.lag_helpers import local, percent_plan, report
from tracker.accounts.models import Role
from tracker.health.models import Heartbeat
from tracker.monitoring.checks import run_lag_check
from tracker.notifications import delivery as outbox
from tracker.notifications.models import Contact, Delivery

DEADLINE = 6  # seconds; the server would take a minute


class Trickle:
    """A TCP server that reads one HTTP request, then answers one byte a second."""

    ANSWER = b'HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{"errcode": 0}\r\n'

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = self.server.getsockname()[1]
        self.got_request = threading.Event()
        self.sent = 0
        self.cut = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        conn, _ = self.server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(
                line.split(b":")[1] for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ))  # fmt: skip
            while len(body) < length:
                body += conn.recv(65536)
            self.got_request.set()
            try:
                for byte in self.ANSWER:
                    conn.sendall(bytes([byte]))
                    self.sent += 1
                    time.sleep(1)
            except OSError:  # the client hung up
                self.cut = True

    def close(self):
        self.server.close()


@pytest.fixture
def trickle(settings):
    # the test server listens on 127.0.0.1, a range refused unless the setting allows it
    settings.TRACKER = {
        **settings.TRACKER, "WEBHOOK_ALLOW_PRIVATE": True, "DELIVERY_DEADLINE_SECONDS": DEADLINE,
    }  # fmt: skip
    server = Trickle()
    yield server
    server.close()


@pytest.fixture
def default_queue_app():
    """A Celery app like the project's (same routes), on an in-memory broker."""
    app = Celery("tracker-slow-server-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url="memory://",
        broker_transport_options={},
        task_routes=main_app.conf.task_routes,
        task_always_eager=False,
        result_backend=None,
        worker_hijack_root_logger=False,
    )
    app.set_current()
    try:
        yield app
    finally:
        main_app.set_current()


@pytest.mark.django_db(transaction=True)
def test_a_trickling_webhook_ends_at_the_deadline_and_a_heartbeat_runs_meanwhile(
    personas, trickle, default_queue_app
):
    app = default_queue_app
    router = app.amqp.router
    assert router.route({}, "tracker.deliver_notification")["queue"].name == "deliveries"
    assert router.route({}, "tracker.heartbeat")["queue"].name == "celery"

    p = personas
    percent_plan(p.indicator_a)
    p.indicator_b.quotas.all().delete()
    Contact.objects.create(
        name="萧山区民政局", role=Role.DISTRICT, district=p.district_b,
        webhook_url=f"http://127.0.0.1:{trickle.port}/hook",
    )  # fmt: skip
    report(p.indicator_a, p.district_b, "2024-07", 14)
    with time_machine.travel(local(2024, 8, 6, 9), tick=False):
        run_lag_check(date(2024, 7, 1), deliver=False)
    hook = Delivery.objects.get()

    outcomes = []

    def deliveries_worker():  # the ``deliveries`` worker's slot, busy with the slow hook
        try:
            outcomes.append(outbox.deliver(hook.pk))
        finally:
            connections.close_all()

    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=["celery"], shutdown_timeout=10
    ):
        sending = threading.Thread(target=deliveries_worker)
        sending.start()
        assert trickle.got_request.wait(30)
        app.send_task("tracker.heartbeat", args=(timezone.now().isoformat(),))
        waited = time.monotonic() + 60  # a bound on waiting, not a measured duration
        while not Heartbeat.objects.exists() and time.monotonic() < waited:
            time.sleep(0.1)
        sending.join(60)

    beat = Heartbeat.objects.get()
    hook.refresh_from_db()
    [outcome] = outcomes
    # the heartbeat ran while the delivery was still waiting for its answer
    assert beat.worker_ran_at < hook.last_error_at
    # the attempt was cut at its deadline, long before the server would have finished
    assert f"超过单次发送总时限 {DEADLINE} 秒" in hook.last_error
    assert trickle.sent < len(Trickle.ANSWER)
    # a generic JSON webhook de-duplicates (Idempotency-Key): it is retried
    assert outcome.status == Delivery.Status.RETRYING
