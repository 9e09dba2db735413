"""Webhooks only where they belong: hosts on the allow list for everyone, other hosts
for 督查室 and admins only, never loopback, link-local or private addresses (checked
when the contact is saved and again, after resolving the host, when sending), and a
failure shown to a contact's owner as 「发送失败」 with no network detail."""

import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine
from django.urls import reverse

from tests.lag_helpers import local, percent_plan, report
from tracker.accounts.models import Role
from tracker.monitoring.checks import run_lag_check
from tracker.notifications import delivery as outbox
from tracker.notifications.channels import webhook_url_problem
from tracker.notifications.models import Contact, Delivery

NOW = local(2024, 8, 6, 9)
ADD = "admin:tracker_contact_add"


@pytest.fixture
def listener():
    """A real HTTP listener on 127.0.0.1 counting what reaches it."""

    class Handler(BaseHTTPRequestHandler):
        received = []

        def do_POST(self):
            self.received.append(self.path)
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


def add_contact(client, user, district, url):
    client.force_login(user)
    return client.post(
        reverse(ADD),
        {
            "name": "萧山区民政局群", "role": Role.DISTRICT, "district": district.pk,
            "email": "", "webhook_url": url, "webhook_format": "dingtalk", "is_active": "on",
        },
    )  # fmt: skip


def test_a_district_cannot_point_a_webhook_at_127_0_0_1(personas, client, listener):
    port, _ = listener
    p = personas
    response = add_contact(client, p.district_b_user, p.district_b, f"http://127.0.0.1:{port}/")
    assert response.status_code == 200
    assert "Webhook 地址不能指向本机、内网或链路本地地址" in response.content.decode()
    assert not Contact.objects.exists()
    # not even 督查室 may: a private address needs the setting
    response = add_contact(client, p.supervisor, p.district_b, "http://10.1.2.3/hook")
    assert "不能指向本机、内网或链路本地地址" in response.content.decode()
    assert not Contact.objects.exists()


def test_only_the_allow_list_for_a_district_other_hosts_by_supervision(personas, client):
    p = personas
    response = add_contact(client, p.district_b_user, p.district_b, "https://hooks.example.com/x")
    assert "Webhook 只能发往允许的地址（oapi.dingtalk.com、qyapi.weixin.qq.com）" in (
        response.content.decode()
    )
    assert not Contact.objects.exists()
    robot = "https://oapi.dingtalk.com/robot/send?access_token=abc"
    assert add_contact(client, p.district_b_user, p.district_b, robot).status_code == 302
    assert Contact.objects.get().webhook_url == robot
    Contact.objects.all().delete()
    other = "https://hooks.example.com/x"
    assert add_contact(client, p.supervisor, p.district_b, other).status_code == 302
    assert Contact.objects.get().webhook_url == other


def test_more_hosts_by_setting(settings):
    settings.TRACKER = {**settings.TRACKER, "WEBHOOK_HOSTS": ["im.zjzwfw.gov.cn"]}
    assert webhook_url_problem("https://im.zjzwfw.gov.cn/robot", any_host=False) is None
    assert webhook_url_problem("https://oapi.dingtalk.com/robot", any_host=False)
    assert webhook_url_problem("ftp://im.zjzwfw.gov.cn/", any_host=True).startswith(
        "Webhook 地址必须是 http:// 或 https://"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_a_webhook_to_a_private_address_is_refused_at_send_time(personas, listener, client, host):
    """A contact stored before the rules (or with a name that resolves to loopback) is
    refused when sending: nothing reaches the listener. The district reads 「发送失败」
    only; 督查室 reads why."""
    port, received = listener
    p = personas
    percent_plan(p.indicator_a)
    p.indicator_b.quotas.all().delete()
    Contact.objects.create(
        name="萧山区民政局", role=Role.DISTRICT, district=p.district_b, email="",
        webhook_url=f"http://{host}:{port}/hook",
    )  # fmt: skip
    report(p.indicator_a, p.district_b, "2024-07", 14)
    with time_machine.travel(NOW, tick=False):
        run_lag_check(date(2024, 7, 1), deliver=False)
        hook = Delivery.objects.get()
        assert outbox.deliver(hook.pk).status == Delivery.Status.RETRYING
    assert received == []
    hook.refresh_from_db()
    assert "本机、内网或链路本地地址" in hook.last_error

    client.force_login(p.district_b_user)
    page = client.get(reverse("admin:tracker_delivery_changelist")).content.decode()
    assert '<td class="field-error">发送失败</td>' in page
    assert "解析到" not in page and "已拒绝发送" not in page
    client.force_login(p.supervisor)
    page = client.get(reverse("admin:tracker_delivery_changelist")).content.decode()
    assert "解析到本机、内网或链路本地地址" in page


def test_the_owner_reads_only_sending_failed_on_the_notification_page(personas, client):
    """The notification's deliveries (inline) hide the detail from the contact's owner."""
    p = personas
    percent_plan(p.indicator_a)
    p.indicator_b.quotas.all().delete()
    Contact.objects.create(
        name="萧山区民政局", role=Role.DISTRICT, district=p.district_b, email="xs@x.cn"
    )
    report(p.indicator_a, p.district_b, "2024-07", 14)
    with time_machine.travel(NOW, tick=False):
        run_lag_check(date(2024, 7, 1), deliver=False)
    secret = "SMTPConnectError: 10.8.0.5:25 refused"
    Delivery.objects.update(status=Delivery.Status.FAILED, last_error=secret)
    delivery = Delivery.objects.get()
    url = reverse("admin:tracker_notification_change", args=[delivery.notification_id])
    client.force_login(p.district_b_user)
    page = client.get(url).content.decode()
    assert "发送失败" in page and secret not in page
    client.force_login(p.supervisor)
    assert secret in client.get(url).content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "http://192.168.1.10/hook",
        "http://100.64.0.1/hook",  # shared address space
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",  # loopback, mapped into IPv6
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_non_public_addresses_are_refused_even_for_supervision(url):
    assert webhook_url_problem(url, any_host=True) == "Webhook 地址不能指向本机、内网或链路本地地址"


def test_a_setting_allows_private_addresses(settings):
    settings.TRACKER = {**settings.TRACKER, "WEBHOOK_ALLOW_PRIVATE": True}
    assert webhook_url_problem("http://10.0.0.8/relay", any_host=True) is None
