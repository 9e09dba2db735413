"""Concurrency on the real PostgreSQL: two checks at once leave identical alerts and send
once; two workers racing for one delivery send it once.

Run with ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/test``; skipped on SQLite.
"""

import threading
from datetime import date

import pytest
from django.core import mail
from django.db import connection

from tests.lag_helpers import local, percent_plan, report
from tracker.accounts.models import Role
from tracker.monitoring.checks import run_due_checks
from tracker.monitoring.models import LagAlert, LagEvaluation
from tracker.notifications import delivery as outbox
from tracker.notifications.models import Contact, Delivery, Notification

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

AS_OF = local(2024, 8, 6, 9)
JULY = date(2024, 7, 1)


@pytest.fixture(autouse=True)
def _postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("需要 PostgreSQL：设置 DATABASE_URL=postgres://… 后运行")


def in_parallel(*calls):
    """Run the calls in threads released at the same moment; return their results."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


@pytest.fixture
def world(personas):
    p = personas
    percent_plan(p.indicator_a)
    p.indicator_b.quotas.all().delete()
    Contact.objects.create(name="市民政局", role=Role.AGENCY, agency=p.agency_a, email="mz@x.cn")
    Contact.objects.create(
        name="萧山区民政局", role=Role.DISTRICT, district=p.district_b, email="xs@x.cn"
    )
    for month, a, b in [(4, 5, 2), (5, 10, 3), (6, 15, 4), (7, 20, 5)]:
        report(p.indicator_a, p.district_a, f"2024-{month:02d}", a)
        report(p.indicator_a, p.district_b, f"2024-{month:02d}", b)
    return p


def snapshot():
    return sorted(
        LagAlert.objects.values_list(
            "indicator_id", "district_id", "month", "kind", "severity", "status", "level",
            "supervised", "streak", "message", "last_month", "notified_state",
            "notified_level",
        )
    )  # fmt: skip


def test_two_concurrent_checks_leave_identical_alerts_and_notify_once(world):
    first, second = in_parallel(
        lambda: run_due_checks(JULY, as_of=AS_OF), lambda: run_due_checks(JULY, as_of=AS_OF)
    )
    # Months run once in all: whatever one run did, the other found up to date.
    months = sorted(r.month for r in [*first, *second])
    assert months == [date(2024, m, 1) for m in range(1, 8)]
    concurrent = snapshot()
    notes = Notification.objects.count()
    assert notes == 2  # the catch-up notifies once: the district and the agency
    assert LagEvaluation.objects.filter(month=JULY).count() == 2

    # A third, sequential run changes nothing and sends nothing.
    assert run_due_checks(JULY, as_of=AS_OF) == []
    assert snapshot() == concurrent
    assert Notification.objects.count() == notes
    july = LagAlert.objects.get(district=world.district_b, kind=LagAlert.Kind.LAG)
    assert (july.streak, july.supervised, july.month) == (3, True, date(2024, 5, 1))


def test_two_workers_racing_for_a_delivery_send_it_once(world):
    run_due_checks(JULY, as_of=AS_OF)
    delivery = Delivery.objects.order_by("pk").first()
    outcomes = in_parallel(lambda: outbox.deliver(delivery.pk), lambda: outbox.deliver(delivery.pk))
    sent = [o for o in outcomes if o is not None]
    assert len(sent) == 1 and sent[0].status == Delivery.Status.SENT
    assert len(mail.outbox) == 1


def test_two_people_saving_the_same_cell_at_once_one_wins_the_other_is_told(personas):
    """Both read version 1 and save together: the row lock makes the second see version 2."""
    from tracker.progress.models import ProgressReport
    from tracker.progress.writes import Entry, ProgressRejected, submit

    p = personas
    cell = dict(indicator_id=p.indicator_a.pk, district_id=p.district_a.pk, month="2024-06")
    submit(p.agency_a_user, [Entry(value=10, **cell)], today=date(2024, 7, 20))

    def save(user, value):
        def call():
            try:
                submit(user, [Entry(value=value, expected_version=1, **cell)],
                       today=date(2024, 7, 20))  # fmt: skip
                return "saved"
            except ProgressRejected as exc:
                return exc.errors[0].code

        return call

    outcomes = in_parallel(save(p.agency_a_user, 11), save(p.district_a_user, 12))
    assert sorted(outcomes) == ["conflict", "saved"]
    report = ProgressReport.objects.get()
    assert report.version == 2 and report.value in (11, 12)
    assert report.history.count() == 2  # the create and the one winning change
