"""The published 2024 plan with a simulated year, built once per test module.

Loading the plan and simulating nine months takes a few seconds; the summary and page
tests only read it, so each module builds it once inside a transaction that is rolled
back when the module is done (every test still runs in its own savepoint through the
``db`` fixture, so a test that writes leaves nothing behind).

Use from a test module::

    @pytest.fixture(scope="module")
    def year(django_db_setup, django_db_blocker, plan_2024_data):
        yield from simulated_year(django_db_blocker, plan_2024_data)

and request ``db`` (or ``year`` together with ``db``) in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.demo.simulation import SimulationResult, simulate_year
from tracker.plans.loader import load_plan
from tracker.plans.models import Project
from tracker.plans.reference import District

SEED = 7
THROUGH = date(2024, 9, 1)
SEPT = "2024-09"


@dataclass
class SimulatedYear:
    result: SimulationResult
    plan_year: object
    seq1: Project  # 新增老年助餐服务点, led by 市民政局
    chunan: District  # lags by design (about half of pace)
    xihu: District
    supervisor: object
    agency: object  # 市民政局 (序号1's lead agency)
    chunan_user: object
    xihu_user: object
    outsider: object  # a user without a role


def build(plan_data, *, seed: int = SEED, through: date = THROUGH) -> SimulatedYear:
    plan_year = load_plan(plan_data).plan_year
    result = simulate_year(2024, seed=seed, through=through)
    seq1 = Project.objects.select_related("lead_agency").get(plan_year=plan_year, seq=1)
    chunan = District.objects.get(name="淳安县")
    xihu = District.objects.get(name="西湖区")
    return SimulatedYear(
        result=result,
        plan_year=plan_year,
        seq1=seq1,
        chunan=chunan,
        xihu=xihu,
        supervisor=make_user("dcs", Role.SUPERVISION),
        agency=make_user("mz", Role.AGENCY, agency=seq1.lead_agency),
        chunan_user=make_user("ca", Role.DISTRICT, district=chunan),
        xihu_user=make_user("xh", Role.DISTRICT, district=xihu),
        outsider=make_user("nobody"),
    )


def simulated_year(django_db_blocker, plan_data, **options):
    """Generator for a module-scoped fixture: build, yield, roll everything back."""
    atomic = transaction.atomic()
    with django_db_blocker.unblock():
        atomic.__enter__()
        try:
            data = build(plan_data, **options)
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    try:
        yield data
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
