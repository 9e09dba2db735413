"""A real Celery worker consuming from the real Redis broker runs the check end to end.

Skipped (with the reason) when Redis is not reachable at ``REDIS_TEST_URL``
(default ``redis://127.0.0.1:6379/15``).
"""

import os
import time
import uuid

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.core import mail

from config.celery import app as main_app
from tests.lag_helpers import percent_plan, report
from tracker import tasks
from tracker.models import Contact, Delivery, LagAlert, LagRun, Notification, Role

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
    app = Celery("tracker-worker-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url=REDIS_URL,
        broker_transport_options={},
        task_default_queue=queue,
        task_always_eager=False,
        result_backend=None,
        worker_hijack_root_logger=False,
    )
    app.set_current()
    try:
        yield app
    finally:
        main_app.set_current()
        client.delete(queue)
        client.close()


@pytest.mark.django_db(transaction=True)
def test_worker_runs_the_check_and_delivers_each_digest_once(redis_app, personas):
    p = personas
    percent_plan(p.indicator_a)
    p.indicator_b.quotas.all().delete()
    Contact.objects.create(name="市民政局", role=Role.AGENCY, agency=p.agency_a, email="mz@x.cn")
    Contact.objects.create(
        name="萧山区民政局", role=Role.DISTRICT, district=p.district_b, email="xs@x.cn"
    )
    for month, value in [("2024-04", 5), ("2024-05", 10), ("2024-06", 15)]:
        report(p.indicator_a, p.district_a, month, value)
        report(p.indicator_a, p.district_b, month, value)
    report(p.indicator_a, p.district_a, "2024-07", 20)
    report(p.indicator_a, p.district_b, "2024-07", 4)  # falls behind in July

    # Two checks of the same month queued at once (a retry, a second beat): one effect.
    tasks.check_lag.delay("2024-07")
    tasks.check_lag.delay("2024-07")
    with start_worker(redis_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = list(Delivery.objects.values_list("status", flat=True))
            if statuses and all(s == Delivery.Status.SENT for s in statuses):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"deliveries not sent by the worker in time: {statuses}")

    assert LagRun.objects.filter(completed_at__isnull=False).count() == 7  # Jan–Jul caught up
    alert = LagAlert.objects.get(district=p.district_b, kind=LagAlert.Kind.LAG)
    assert alert.severity == "red"
    assert Notification.objects.count() == 2  # one digest each, for July only
    assert sorted(m.to[0] for m in mail.outbox) == ["mz@x.cn", "xs@x.cn"]
    assert "萧山区 新增老年助餐服务点：截至2024年7月底累计完成 4 个" in mail.outbox[0].body
