"""The lag check's COPY writes (``db.bulk``, PostgreSQL) store exactly what the ORM
path (``bulk_create`` with history, the upsert of changed episodes) stores: the simulated
year checked month by month both ways, every alert, flip and history row compared on all
their values (ids aside: they differ between two runs)."""

from datetime import date

import pytest
import time_machine
from django.db import connection

from tests.monitoring.test_lag_spread import reset
from tracker.accounts.models import Role
from tracker.demo.simulation import _check_time, simulate_year
from tracker.monitoring.checks import run_lag_check
from tracker.monitoring.models import LagAlert, LagAlertFlip, LagEvaluation
from tracker.notifications import digests as notifications
from tracker.notifications.models import Contact, Notification
from tracker.plans.reference import District

MONTHS = [date(2024, m, 1) for m in range(1, 10)]
IGNORED = {"id", "history_id", "alert", "alert_id"}


def rows(model_or_manager, extra=()):
    qs = model_or_manager.objects if hasattr(model_or_manager, "objects") else model_or_manager
    names = [f.attname for f in qs.model._meta.concrete_fields if f.attname not in IGNORED] + list(
        extra
    )
    return sorted(qs.values_list(*names), key=repr)


def snapshot():
    return {
        "alerts": rows(LagAlert),
        "flips": rows(LagAlertFlip, ("alert__indicator_id", "alert__district_id", "alert__kind")),
        "history": rows(LagAlert.history.all()),
        "statuses": rows(LagEvaluation),
    }


@pytest.mark.postgres
@pytest.mark.django_db
def test_copy_writes_equal_the_orm_writes_on_the_simulated_year(plan_2024, settings):
    if connection.vendor != "postgresql":
        pytest.skip("COPY 仅用于 PostgreSQL：设置 DATABASE_URL 后运行")
    simulate_year(2024, seed=5, through=MONTHS[-1])
    Contact.objects.create(name="督查室", role=Role.SUPERVISION, email="dcs@x.cn")
    for district in District.objects.order_by("order"):
        Contact.objects.create(
            name=district.name, role=Role.DISTRICT, district=district, email="d@x.cn"
        )

    def check_all():
        reset()
        for month in MONTHS:  # the clock pinned: both runs stamp the same times
            with time_machine.travel(_check_time(month), tick=False):
                run_lag_check(month, as_of=_check_time(month), deliver=False)
        kinds = set(LagAlert.history.values_list("history_type", flat=True))
        assert kinds == {"+", "~"}  # created and changed episodes both written
        return {**snapshot(), "digests": digests()}

    settings.TRACKER = {**settings.TRACKER, "BULK_COPY": True}  # whatever the environment says
    copied = check_all()
    assert len(copied["alerts"]) > 50 and copied["flips"] and copied["history"]
    assert len(copied["digests"]) > 10 and len(copied["statuses"]) > 1000
    settings.TRACKER = {**settings.TRACKER, "BULK_COPY": False}
    orm = check_all()
    for part in copied:
        assert copied[part] == orm[part], part


def without_ids(payload):  # alert ids differ between two runs
    return {**payload, "alerts": [{**a, "id": None} for a in payload["alerts"]]}


def digests():
    return sorted(
        (n.contact_id, n.month, n.run_number, n.subject, n.body,
         repr(without_ids(n.payload)), n.open_count,
         tuple(sorted(n.alerts.values_list("indicator_id", "district_id", "kind"))),
         tuple(sorted(n.deliveries.values_list("channel", "address"))))
        for n in Notification.objects.all()
    )  # fmt: skip


@pytest.mark.django_db
def test_digests_written_by_chunks_equal_the_digests_written_at_once(plan_2024, monkeypatch):
    """``create_digests`` renders and writes ``DIGESTS_PER_CHUNK`` recipients at a time:
    one recipient a chunk gives the same digests, alert links and deliveries as all in
    one; the returned digests read their deferred text back."""
    simulate_year(2024, seed=3, through=date(2024, 6, 1))
    Contact.objects.create(name="督查室", role=Role.SUPERVISION, email="dcs@x.cn")
    for district in District.objects.order_by("order"):
        Contact.objects.create(
            name=district.name, role=Role.DISTRICT, district=district, email="d@x.cn"
        )

    def check_all():
        reset()
        for month in MONTHS[:6]:
            with time_machine.travel(_check_time(month), tick=False):
                result = run_lag_check(month, as_of=_check_time(month), deliver=False)
        return digests(), result.notifications

    at_once, notes = check_all()
    assert len(at_once) >= 10
    assert {n.body for n in notes} <= {d[4] for d in at_once}
    assert all("预警" in n.body and n.payload["alerts"] for n in notes)
    monkeypatch.setattr(notifications, "DIGESTS_PER_CHUNK", 1)
    by_one, _ = check_all()
    assert by_one == at_once
