"""Reporting reminders (issue 14): two days before the deadline each contact with
unfiled reports in scope gets one digest naming them, others nothing; once per month per
contact, whoever runs it and however often."""

from datetime import date

import pytest
import time_machine
from django.core import mail

from config.celery import app
from tests.lag_helpers import local, report
from tracker.accounts.models import Role
from tracker.accounts.permissions import Scope
from tracker.notifications import delivery as outbox
from tracker.notifications import reminders
from tracker.notifications.models import Contact, Delivery, Notification
from tracker.notifications.reminders import send_reminders_task
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.progress.due import unfiled

NOV = date(2024, 11, 1)
TWO_DAYS_BEFORE = local(2024, 12, 3, 9)  # November is due on 5 December


@pytest.fixture
def world(plan_2024):
    chunan = District.objects.get(name="淳安县")
    xihu = District.objects.get(name="西湖区")
    seq1 = Indicator.objects.select_related("project__lead_agency").filter(project__seq=1).first()
    agency = seq1.project.lead_agency
    contacts = {
        "chunan": Contact.objects.create(
            name="淳安县民政局", role=Role.DISTRICT, district=chunan, email="ca@example.cn"
        ),
        "xihu": Contact.objects.create(
            name="西湖区", role=Role.DISTRICT, district=xihu, webhook_url="http://127.0.0.1:9/x"
        ),
        "agency": Contact.objects.create(
            name=agency.name, role=Role.AGENCY, agency=agency, email="mz@example.cn"
        ),
        "dcs": Contact.objects.create(name="督查室", role=Role.SUPERVISION, email="d@example.cn"),
        "off": Contact.objects.create(
            name="停用",
            role=Role.DISTRICT,
            district=chunan,
            email="off@example.cn",
            is_active=False,
        ),
    }
    # 西湖区 has filed all of November; 淳安县 one indicator of it
    for ind, _ in unfiled(NOV, Scope(role=Role.DISTRICT, district_id=xihu.pk)):
        report(Indicator.objects.get(pk=ind), xihu, "2024-11", 1)
    chunan_cells = unfiled(NOV, Scope(role=Role.DISTRICT, district_id=chunan.pk))
    filed_ind = Indicator.objects.get(pk=chunan_cells[0][0])
    report(filed_ind, chunan, "2024-11", 1)
    return contacts, chunan, filed_ind, agency


def lines(indicators):
    return {f"序号{i.project.seq} {i.label}" for i in indicators}


def run(now=TWO_DAYS_BEFORE):
    with time_machine.travel(now, tick=False):
        return send_reminders_task()


def test_two_days_before_each_contact_with_unfiled_reports_gets_one_digest(world):
    contacts, chunan, filed_ind, agency = world
    assert run() == 3
    by_contact = {n.contact_id: n for n in Notification.objects.all()}
    assert set(by_contact) == {contacts[k].pk for k in ("chunan", "agency", "dcs")}  # not 西湖区

    note = by_contact[contacts["chunan"].pk]
    missing = unfiled(NOV, Scope(role=Role.DISTRICT, district_id=chunan.pk))
    wanted = lines(Indicator.objects.filter(pk__in=[i for i, _ in missing]))
    listed = {line.split(". ", 1)[1] for line in note.body.splitlines() if ". 序号" in line}
    assert listed == wanted and f"序号{filed_ind.project.seq} {filed_ind.label}" not in listed
    assert note.subject == f"【民生实事】填报提醒：2024年11月尚有 {len(missing)} 项未填报"
    assert "2024年11月，12月5日前报送" in note.body

    agency_note = by_contact[contacts["agency"].pk]
    agency_cells = unfiled(NOV, Scope(role=Role.AGENCY, agency_id=agency.pk))
    assert agency_note.payload["unfiled_count"] == len(agency_cells)
    assert {(u["indicator_id"], u["district_id"]) for u in agency_note.payload["unfiled"]} == set(
        agency_cells
    )
    assert "淳安县" in agency_note.body and "西湖区" not in agency_note.body

    dcs = by_contact[contacts["dcs"].pk]
    assert dcs.payload["unfiled_count"] == len(unfiled(NOV)) and "西湖区" not in dcs.body
    assert f"淳安县：{len(missing)} 项" in dcs.body

    # through the alerts' channels and sending path
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        for pk in Delivery.objects.filter(channel=Delivery.Channel.EMAIL).values_list(
            "pk", flat=True
        ):
            outbox.deliver(pk)
    assert sorted(m.to[0] for m in mail.outbox) == [
        "ca@example.cn",
        "d@example.cn",
        "mz@example.cn",
    ]
    assert all("填报提醒" in m.subject for m in mail.outbox)


def test_run_twice_or_the_next_day_still_one_each(world):
    assert run() == 3
    assert run() == 0
    assert run(local(2024, 12, 5, 9)) == 0  # the deadline day: still in the window, told
    assert Notification.objects.count() == 3
    assert Delivery.objects.count() == 3  # three mailboxes, no webhook for 西湖区


def test_a_second_worker_racing_the_first_sends_nothing(world):
    contacts, *_ = world
    assert run() == 3
    # a second worker that read "nobody told yet" before the first committed reaches the
    # claim: the unique (contact, month, run) constraint refuses it
    again = reminders.claim(
        contacts["chunan"], NOV, "s", "b", {"unfiled_count": 1}, TWO_DAYS_BEFORE
    )
    assert again is None
    assert Notification.objects.filter(contact=contacts["chunan"]).count() == 1


def test_robot_webhooks_get_the_reminder_as_markdown(world):
    from tracker.notifications.models import WebhookFormat

    contacts, chunan, *_ = world
    Contact.objects.filter(pk=contacts["chunan"].pk).update(
        webhook_url="http://127.0.0.1:9/robot", webhook_format=WebhookFormat.DINGTALK
    )
    run()
    hook = Delivery.objects.get(
        notification__contact=contacts["chunan"], channel=Delivery.Channel.WEBHOOK
    )
    body = outbox.webhook_body(hook)
    text = body["markdown"]["text"]
    assert body["msgtype"] == "markdown" and "填报提醒" in body["markdown"]["title"]
    assert "**2024年11月，12月5日前报送**" in text
    missing = unfiled(NOV, Scope(role=Role.DISTRICT, district_id=chunan.pk))
    assert text.count("\n- 序号") == len(missing)


def test_outside_the_window_nothing_is_sent(world, settings):
    assert run(local(2024, 12, 2, 9)) == 0  # three days before
    assert run(local(2024, 12, 6, 9)) == 0  # deadline passed: December is being reported
    assert not Notification.objects.exists()
    settings.TRACKER = {**settings.TRACKER, "REMINDER_DAYS_BEFORE": 4}
    assert run(local(2024, 12, 1, 9)) == 3


def test_nothing_when_everything_is_filed(world):
    for ind, dist in unfiled(NOV):
        report(Indicator.objects.get(pk=ind), District.objects.get(pk=dist), "2024-11", 1)
    assert run() == 0 and not Notification.objects.exists()


def test_beat_runs_the_reminders_daily_at_the_check_hour():
    entry = app.conf.beat_schedule["report-reminders"]
    assert entry["task"] == "tracker.send_reminders"
    assert entry["schedule"].hour == {9} and entry["schedule"].day_of_month == set(range(1, 32))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_on_postgresql_send_one_each(plan_2024):
    """Two workers released at the same moment: each contact still gets one reminder."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("需要 PostgreSQL：设置 DATABASE_URL=postgres://… 后运行")
    chunan = District.objects.get(name="淳安县")
    Contact.objects.create(name="淳安县", role=Role.DISTRICT, district=chunan, email="c@x.cn")
    Contact.objects.create(name="督查室", role=Role.SUPERVISION, email="d@x.cn")
    barrier, results, errors = threading.Barrier(2), [], []

    def worker():
        try:
            barrier.wait()
            results.append(len(reminders.send_reminders(enqueue=False)))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not errors and sorted(results) in ([0, 2], [1, 1])
    assert Notification.objects.count() == 2 and Delivery.objects.count() == 2
