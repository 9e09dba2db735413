"""Notifications: one digest of news per recipient per run, delivered once, retried,
visible; email, generic JSON and robot (钉钉/浙政钉, 企业微信) webhooks; no redirects."""

import json
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from tests.lag_helpers import local, percent_plan, report
from tracker import conf
from tracker.accounts.models import Role
from tracker.monitoring.checks import run_lag_check
from tracker.monitoring.models import LagAlert
from tracker.notifications import delivery as outbox
from tracker.notifications.models import Contact, Delivery, Notification, WebhookFormat

NOW = local(2024, 8, 6, 9)


@pytest.fixture
def world(personas):
    p = personas
    percent_plan(p.indicator_a)
    p.indicator_b.quotas.all().delete()
    Contact.objects.create(
        name="萧山区民政局", role=Role.DISTRICT, district=p.district_b, email="xs@example.cn"
    )
    Contact.objects.create(
        name="上城区民政局", role=Role.DISTRICT, district=p.district_a, email="sc@example.cn"
    )
    Contact.objects.create(
        name="市民政局", role=Role.AGENCY, agency=p.agency_a, email="mz@example.cn"
    )
    Contact.objects.create(
        name="市卫健委", role=Role.AGENCY, agency=p.agency_b, email="wj@example.cn"
    )
    Contact.objects.create(name="市政府督查室", role=Role.SUPERVISION, email="dcs@example.cn")
    return p


def july_check():
    with time_machine.travel(NOW, tick=False):
        return run_lag_check(date(2024, 7, 1), deliver=False)


def deliver_all(now=NOW):
    with time_machine.travel(now, tick=False):
        return [outbox.deliver(pk) for pk in Delivery.objects.values_list("pk", flat=True)]


def both_behind(p):
    report(p.indicator_a, p.district_a, "2024-07", 4)  # 红
    report(p.indicator_a, p.district_b, "2024-07", 14)  # 黄


def test_one_digest_per_recipient_per_run(world):
    """Two districts behind: each district hears of its own, the agency gets one digest of
    both, the other agency and the supervision office hear nothing."""
    both_behind(world)
    result = july_check()
    digests = {n.contact.name: n for n in result.notifications}
    assert set(digests) == {"萧山区民政局", "上城区民政局", "市民政局"}
    assert digests["市民政局"].alerts.count() == 2
    assert digests["萧山区民政局"].alerts.get().district == world.district_b
    assert mail.outbox == []  # recorded, not yet sent
    assert all(o.status == Delivery.Status.SENT for o in deliver_all())
    assert sorted(m.to[0] for m in mail.outbox) == [
        "mz@example.cn",
        "sc@example.cn",
        "xs@example.cn",
    ]
    agency_mail = next(m for m in mail.outbox if m.to == ["mz@example.cn"])
    assert agency_mail.subject == "【民生实事】2024年7月进度预警变化：新增预警 2 项"
    assert (
        "1. 【红色·进度滞后】序号1 上城区 新增老年助餐服务点：截至2024年7月底累计完成 4 个"
        in agency_mail.body
    )
    assert "萧山区 新增老年助餐服务点" in agency_mail.body
    # the link is the site's address (TRACKER_SITE_URL), whatever the deployment sets
    assert (
        f"目前仍未解除的预警共 2 项（不再逐条重复），详见 {conf.SITE_URL}/my/" in agency_mail.body
    )


def test_still_open_episodes_are_a_count_not_repeated(world, settings):
    """August: 上城区 is still behind (no news: escalation is set later here), 萧山区
    catches up (news: resolved). The agency's digest lists the resolution only and counts
    the one still open."""
    settings.TRACKER = {**settings.TRACKER, "ESCALATE_TO_AGENCY_AFTER": 5}
    p = world
    both_behind(p)
    july_check()
    report(p.indicator_a, p.district_a, "2024-08", 5)
    report(p.indicator_a, p.district_b, "2024-08", 25)
    with time_machine.travel(local(2024, 9, 6, 9), tick=False):
        august = run_lag_check(date(2024, 8, 1), deliver=False)
    digests = {n.contact.name: n for n in august.notifications}
    assert set(digests) == {"萧山区民政局", "市民政局"}  # 上城区 has no news
    body = digests["市民政局"].body
    assert "已解除（1 项）" in body and "萧山区" in body and "上城区" not in body
    assert "目前仍未解除的预警共 1 项" in body and digests["市民政局"].open_count == 1


def test_a_second_run_sends_nothing(world):
    both_behind(world)
    july_check()
    deliver_all()
    assert july_check().notifications == []
    assert deliver_all() == [None] * Delivery.objects.count()
    assert len(mail.outbox) == 3


def test_a_delivery_is_claimed_once(world):
    """Two workers (or a redelivered task) racing for the same delivery send it once."""
    both_behind(world)
    july_check()
    delivery = Delivery.objects.filter(address="mz@example.cn").get()
    with time_machine.travel(NOW, tick=False):
        first = outbox.deliver(delivery.pk)
        second = outbox.deliver(delivery.pk)
    assert first.status == Delivery.Status.SENT and second is None
    assert len(mail.outbox) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.sent_at is not None
    assert outbox.deliver(999999) is None  # gone: nothing to do


def test_escalated_alerts_reach_the_supervision_office(world):
    p = world
    for month in (5, 6, 7):
        report(p.indicator_a, p.district_b, f"2024-{month:02d}", 1)
    for month in (5, 6):
        with time_machine.travel(local(2024, month + 1, 6, 9), tick=False):
            run_lag_check(date(2024, month, 1), deliver=False)
    result = july_check()
    supervision = next(n for n in result.notifications if n.contact.name == "市政府督查室")
    assert "【建议挂牌督办·红色·进度滞后】" in supervision.body


class Receiver(BaseHTTPRequestHandler):
    status = 200
    answer: dict | None = None
    location = ""
    received: list
    paths: list

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.paths.append((self.path, body))
        self.received.append((dict(self.headers), json.loads(body)))
        self.send_response(self.status)
        if self.location:
            self.send_header("Location", self.location)
        data = json.dumps(self.answer).encode() if self.answer is not None else b""
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    """A real HTTP endpoint on 127.0.0.1 recording what it receives."""
    # the test server listens on 127.0.0.1, a range refused unless the setting allows it
    settings.TRACKER = {**settings.TRACKER, "WEBHOOK_ALLOW_PRIVATE": True}

    class Handler(Receiver):
        received = []
        paths = []

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, Handler
    server.shutdown()
    server.server_close()


def test_webhook_receives_the_digest_as_json(world, webhook):
    server, handler = webhook
    Contact.objects.filter(name="萧山区民政局").update(
        webhook_url=f"http://127.0.0.1:{server.server_port}/hook"
    )
    report(world.indicator_a, world.district_b, "2024-07", 14)
    july_check()
    hook = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    with time_machine.travel(NOW, tick=False):
        assert outbox.deliver(hook.pk).status == Delivery.Status.SENT
    [(headers, payload)] = handler.received
    assert headers["Idempotency-Key"] == f"tracker-delivery-{hook.pk}"
    assert payload["type"] == "minsheng.lag_digest" and payload["month"] == "2024-07"
    assert payload["still_open"] == 1 and payload["link"].endswith("/my/")
    [item] = payload["alerts"]
    assert (item["news"], item["since"]) == ("opened", "2024-07")
    assert (item["district"], item["severity"], item["actual"], item["expected"]) == (
        "萧山区",
        "yellow",
        "14",
        "20",
    )
    assert item["message"].startswith("萧山区 新增老年助餐服务点：截至2024年7月底累计完成 14 个")


def test_failed_webhook_retries_with_backoff_and_jitter_for_the_window_then_fails(
    world, webhook, settings
):
    """Each delay is between half and all of base × 2^(n−1) (capped); the tries go on
    until the retry window (``DELIVERY_RETRY_HOURS`` from the first try) ends, the last
    one at its end; then the delivery is failed."""
    server, handler = webhook
    handler.status = 500
    settings.TRACKER = {
        **settings.TRACKER,
        "DELIVERY_RETRY_HOURS": 1,
        "DELIVERY_RETRY_SECONDS": 60,
        "DELIVERY_RETRY_MAX_SECONDS": 600,
    }
    Contact.objects.filter(name="萧山区民政局").update(
        email="", webhook_url=f"http://127.0.0.1:{server.server_port}/hook"
    )
    report(world.indicator_a, world.district_b, "2024-07", 14)
    july_check()
    hook = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    now, delays = NOW, []
    with time_machine.travel(now, tick=False):
        outcome = outbox.deliver(hook.pk)
    with time_machine.travel(now + timedelta(seconds=29), tick=False):
        assert outbox.deliver(hook.pk) is None  # not due: at least half of 60 s
    while outcome.status == Delivery.Status.RETRYING:
        delays.append(outcome.retry_in)
        now += timedelta(seconds=outcome.retry_in)
        with time_machine.travel(now, tick=False):
            outcome = outbox.deliver(hook.pk)
    assert outcome.status == Delivery.Status.FAILED
    assert now == NOW + timedelta(hours=1)  # the last try at the end of the window
    for n, delay in enumerate(delays[:-1], start=1):
        ceiling = min(60 * 2 ** (n - 1), 600)
        assert ceiling / 2 <= delay <= ceiling, (n, delay)
    hook.refresh_from_db()
    assert hook.attempts == len(delays) + 1 == len(handler.received)
    assert "HTTP Error 500" in hook.last_error


def test_the_last_error_stays_visible_after_a_later_success(world, webhook):
    server, handler = webhook
    handler.status = 503
    Contact.objects.filter(name="萧山区民政局").update(
        email="", webhook_url=f"http://127.0.0.1:{server.server_port}/hook"
    )
    report(world.indicator_a, world.district_b, "2024-07", 14)
    july_check()
    hook = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    with time_machine.travel(NOW, tick=False):
        assert outbox.deliver(hook.pk).status == Delivery.Status.RETRYING
    handler.status = 200
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):
        assert outbox.deliver(hook.pk).status == Delivery.Status.SENT
    hook.refresh_from_db()
    assert (hook.status, hook.attempts) == (Delivery.Status.SENT, 2)
    assert "HTTP Error 503" in hook.last_error and hook.last_error_at is not None


@pytest.mark.parametrize(
    ("fmt", "key"), [(WebhookFormat.DINGTALK, "text"), (WebhookFormat.WECOM, "content")]
)
def test_robot_webhooks_get_the_digest_as_markdown(world, webhook, fmt, key):
    """钉钉/浙政钉 and 企业微信 group robots: ``{"msgtype": "markdown", …}``; a robot's
    non-zero ``errcode`` (e.g. a wrong keyword) is a failure."""
    server, handler = webhook
    handler.answer = {"errcode": 0, "errmsg": "ok"}
    Contact.objects.filter(name="萧山区民政局").update(
        email="", webhook_url=f"http://127.0.0.1:{server.server_port}/robot", webhook_format=fmt
    )
    report(world.indicator_a, world.district_b, "2024-07", 14)
    july_check()
    hook = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    with time_machine.travel(NOW, tick=False):
        assert outbox.deliver(hook.pk).status == Delivery.Status.SENT
    [(_headers, payload)] = handler.received
    assert payload["msgtype"] == "markdown"
    text = payload["markdown"][key]
    assert text.startswith("### 【民生实事】2024年7月进度预警变化：新增预警 1 项")
    assert "- **黄色·进度滞后** 序号1 萧山区 新增老年助餐服务点" in text
    assert f"[查看详情]({conf.SITE_URL}/my/)" in text

    handler.answer = {"errcode": 310000, "errmsg": "keywords not in content"}
    Delivery.objects.filter(pk=hook.pk).update(status=Delivery.Status.PENDING)
    with time_machine.travel(NOW, tick=False):
        assert outbox.deliver(hook.pk).status == Delivery.Status.RETRYING
    hook.refresh_from_db()
    assert "310000" in hook.last_error


def test_a_webhook_that_redirects_is_not_followed(world, webhook):
    server, handler = webhook
    handler.status = 302
    handler.location = f"http://127.0.0.1:{server.server_port}/elsewhere"
    Contact.objects.filter(name="萧山区民政局").update(
        email="", webhook_url=f"http://127.0.0.1:{server.server_port}/hook"
    )
    report(world.indicator_a, world.district_b, "2024-07", 14)
    july_check()
    hook = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    with time_machine.travel(NOW, tick=False):
        assert outbox.deliver(hook.pk).status == Delivery.Status.RETRYING
    assert [path for path, _ in handler.paths] == ["/hook"]  # /elsewhere never requested
    hook.refresh_from_db()
    assert "重定向" in hook.last_error and "未跟随" in hook.last_error


def test_expired_claims_are_requeued_unless_the_request_went_out(world, settings):
    """A claim is a lease: still *sending* ``DELIVERY_LEASE_SECONDS`` after the claim, the
    worker is gone. Mail it had not handed over yet goes back in the queue; mail it had
    (``request_sent_at``) is unknown: it may be in the mailbox, a person decides."""
    both_behind(world)
    july_check()
    lease = settings.TRACKER["DELIVERY_LEASE_SECONDS"]
    dead, handed_over, young = Delivery.objects.order_by("pk")[:3]
    gone = NOW - timedelta(seconds=lease + 1)
    Delivery.objects.filter(pk=dead.pk).update(status=Delivery.Status.SENDING, claimed_at=gone)
    Delivery.objects.filter(pk=handed_over.pk).update(
        status=Delivery.Status.SENDING, claimed_at=gone, request_sent_at=gone
    )
    Delivery.objects.filter(pk=young.pk).update(
        status=Delivery.Status.SENDING, claimed_at=NOW - timedelta(seconds=lease - 1)
    )
    with time_machine.travel(NOW, tick=False):
        ids = outbox.due_deliveries()
    states = dict(Delivery.objects.values_list("pk", "status"))
    assert states[dead.pk] == Delivery.Status.RETRYING and dead.pk in ids
    assert states[handed_over.pk] == Delivery.Status.UNKNOWN and handed_over.pk not in ids
    assert states[young.pk] == Delivery.Status.SENDING and young.pk not in ids  # still alive
    handed_over.refresh_from_db()
    assert "无法确认是否已送达" in handed_over.last_error


def test_failed_deliveries_are_visible_in_admin_and_can_be_resent(world, client):
    both_behind(world)
    july_check()
    failed = Delivery.objects.get(address="xs@example.cn")
    Delivery.objects.filter(pk=failed.pk).update(
        status=Delivery.Status.FAILED, attempts=5, last_error="SMTPServerDisconnected: 连接断开"
    )
    admin = get_user_model().objects.create_superuser("root", "root@example.cn", "pw-123456-x")
    client.force_login(admin)
    url = reverse("admin:tracker_delivery_changelist")
    page = client.get(url, {"status__exact": "failed"})
    assert page.status_code == 200
    assert "SMTPServerDisconnected: 连接断开" in page.content.decode()
    assert page.context["cl"].result_count == 1
    client.post(url, {"action": "resend", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Delivery.Status.PENDING, 0)


def test_admin_lists_are_scoped(world, client):
    """A district officer sees only their district's alerts and notifications."""
    from django.contrib.auth.models import Permission

    both_behind(world)
    july_check()
    user = world.district_b_user
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_lagalert", "view_notification"])
    )
    client.force_login(user)
    alerts = client.get(reverse("admin:tracker_lagalert_changelist"))
    assert {a.district for a in alerts.context["cl"].result_list} == {world.district_b}
    notes = client.get(reverse("admin:tracker_notification_changelist"))
    assert [n.contact.name for n in notes.context["cl"].result_list] == ["萧山区民政局"]
    other = LagAlert.objects.get(district=world.district_a)
    assert client.get(reverse("admin:tracker_lagalert_history", args=[other.pk])).status_code == 404
    assert Notification.objects.for_user(user).count() == 1
