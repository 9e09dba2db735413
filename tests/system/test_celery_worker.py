"""A real Celery worker consuming from the real Redis broker runs the check end to end,
with a mail server that accepts and never answers: the check completes, the email
attempt fails at ``EMAIL_TIMEOUT`` and the next delivery (a webhook) goes out after it.

Skipped (with the reason) when Redis is not reachable at ``REDIS_TEST_URL``
(default ``redis://127.0.0.1:6379/15``).
"""

import json
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from config.celery import app as main_app
from tests.lag_helpers import percent_plan, report
from tracker.accounts.models import Role
from tracker.monitoring.checks import check_lag
from tracker.monitoring.models import LagAlert, LagRun
from tracker.notifications.models import Contact, Delivery, Notification

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def redis_app():
    """A Celery app like the project's, on the real Redis and a queue of its own."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis 不可用（{REDIS_URL}）：{exc}；跳过真实 Celery worker 测试")
    queue = f"test-lag-{uuid.uuid4().hex[:8]}"
    deliveries = f"{queue}-deliveries"
    app = Celery("tracker-worker-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url=REDIS_URL,
        broker_transport_options={},
        task_default_queue=queue,
        task_routes={"tracker.deliver_notification": {"queue": deliveries}},
        task_always_eager=False,
        result_backend=None,
        worker_hijack_root_logger=False,
    )
    app.set_current()
    try:
        yield app, [queue, deliveries]
    finally:
        main_app.set_current()
        client.delete(queue, deliveries)
        client.close()


@pytest.fixture
def silent_mail_server():
    """A local socket that accepts SMTP connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])  # kept open, never answered
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], held
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture
def hook(settings):
    # the test server listens on 127.0.0.1, a range refused unless the setting allows it
    settings.TRACKER = {**settings.TRACKER, "WEBHOOK_ALLOW_PRIVATE": True}

    class Handler(BaseHTTPRequestHandler):
        received = []

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.received.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, Handler.received
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_worker_runs_the_check_and_a_silent_mail_server_does_not_hang_it(
    redis_app, personas, silent_mail_server, hook, settings
):
    app, queues = redis_app
    smtp_port, held = silent_mail_server
    hook_port, received = hook
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", smtp_port, 1
    p = personas
    percent_plan(p.indicator_a)
    p.indicator_b.quotas.all().delete()
    Contact.objects.create(name="市民政局", role=Role.AGENCY, agency=p.agency_a, email="mz@x.cn")
    Contact.objects.create(
        name="萧山区民政局", role=Role.DISTRICT, district=p.district_b,
        webhook_url=f"http://127.0.0.1:{hook_port}/hook",
    )  # fmt: skip
    for month, value in [("2024-04", 5), ("2024-05", 10), ("2024-06", 15)]:
        report(p.indicator_a, p.district_a, month, value)
        report(p.indicator_a, p.district_b, month, value)
    report(p.indicator_a, p.district_a, "2024-07", 20)
    report(p.indicator_a, p.district_b, "2024-07", 4)  # falls behind in July

    # Two checks of the same month queued at once (a retry, a second beat): one effect.
    check_lag.delay("2024-07")
    check_lag.delay("2024-07")
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=queues
    ):
        deadline = time.monotonic() + 120  # a bound on waiting, not a measured duration
        while time.monotonic() < deadline:
            states = dict(Delivery.objects.values_list("channel", "status"))
            if states == {"email": Delivery.Status.RETRYING, "webhook": Delivery.Status.SENT}:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"deliveries not attempted by the worker: {states}")

    assert LagRun.objects.filter(completed_at__isnull=False).count() == 7  # Jan–Jul caught up
    alert = LagAlert.objects.get(district=p.district_b, kind=LagAlert.Kind.LAG)
    assert alert.severity == "red"
    assert Notification.objects.count() == 2  # one digest each, July's news only
    email = Delivery.objects.get(channel=Delivery.Channel.EMAIL)
    assert email.attempts == 1 and "timed out" in email.last_error  # EMAIL_TIMEOUT, not a hang
    assert held  # the mail server was reached and said nothing
    [digest] = received  # the webhook went out after the email attempt gave up
    messages = [a["message"] for a in digest["alerts"]]
    # July's lag, beside the March milestone still not done (escalated in July, issue 30)
    assert any(
        m.startswith("萧山区 新增老年助餐服务点：截至2024年7月底累计完成 4 个") for m in messages
    )
    assert any("应完成的节点未完成：「3月底前确定项目点位」" in m for m in messages)
