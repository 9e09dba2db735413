"""Shared fixtures: small personas and the published 2024 plan.

Personas: the supervision office (督查室), two lead agencies (民政局, 卫健委) each with
one project, and two districts (上城区, 萧山区) each with a user.
"""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tests.factories import (
    AgencyFactory,
    DistrictFactory,
    IndicatorFactory,
    ProjectFactory,
    QuotaFactory,
    make_user,
)
from tracker.accounts.models import Role
from tracker.plans.loader import load_plan, read_plan_file


@dataclass
class Personas:
    agency_a: object
    agency_b: object
    district_a: object
    district_b: object
    project_a: object
    project_b: object
    indicator_a: object
    indicator_b: object
    supervisor: object
    agency_a_user: object
    agency_b_user: object
    district_a_user: object
    district_b_user: object
    outsider: object


# the ``browser`` fixture (headless Chromium) of tests/browser.py, for every browser test
pytest_plugins = ["tests.browser"]


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Tests create many users; the production hasher would spend seconds on each."""
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_hashers.cache_clear()


@pytest.fixture(autouse=True, scope="session")
def _static_files_from_the_apps():
    """Pages render without `collectstatic`: the tests use plain static URLs served from the
    apps. The hashed, compressed files of a real start are checked by
    tests/system/test_run_command_e2e.py, which runs the README's run command itself."""
    from django.test.utils import override_settings

    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages, WHITENOISE_USE_FINDERS=True):
        yield


@pytest.fixture(autouse=True, scope="session")
def _own_file_cache(tmp_path_factory):
    """With the file cache (no cache URL set), the tests count in a directory of their
    own, not the checkout's ``var/cache``: clearing it between tests must not reset the
    counters of a server running from the same checkout, nor another test run's. The
    processes tests start inherit the place (``TRACKER_CACHE_DIR``) and share it."""
    from django.conf import settings
    from django.test.utils import override_settings

    configured = settings.CACHES["default"]
    if not configured["BACKEND"].endswith("FileBasedCache"):
        yield  # a cache URL (Redis): the configured one, as before
        return
    location = str(tmp_path_factory.mktemp("cache"))
    with (
        pytest.MonkeyPatch.context() as patch,
        override_settings(CACHES={"default": {**configured, "LOCATION": location}}),
    ):
        patch.setenv("TRACKER_CACHE_DIR", location)
        yield


@pytest.fixture(autouse=True, scope="session")
def _own_broker_file(tmp_path_factory):
    """With the embedded broker (no broker URL set), the tasks tests queue go to a SQLite
    file of their own, not the checkout's ``var/broker.sqlite3``: a worker running from the
    same checkout (``scripts/run.sh``) would otherwise later run the tests' deliveries
    against its own database's ids. Processes tests start inherit the file
    (``TRACKER_BROKER_FILE``)."""
    from django.conf import settings
    from django.test.utils import override_settings

    from config.celery import app

    if not settings.CELERY_BROKER_URL.startswith("sqlite:"):
        yield  # a broker URL (Redis): the configured one, as before
        return
    path = tmp_path_factory.mktemp("broker") / "broker.sqlite3"
    url = f"sqlite:///{path}"
    configured = app.conf.broker_url
    with (
        pytest.MonkeyPatch.context() as patch,
        override_settings(BROKER_FILE=path, CELERY_BROKER_URL=url),
    ):
        patch.setenv("TRACKER_BROKER_FILE", str(path))
        app.conf.broker_url = url
        try:
            yield
        finally:
            app.conf.broker_url = configured


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache: the cache is shared between processes (a
    file cache, or Redis), so throttle counters (429) and cached notices would otherwise
    leak from one test, or one run, into the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def personas(db):
    agency_a = AgencyFactory(name="市民政局")
    agency_b = AgencyFactory(name="市卫生健康委员会")
    district_a = DistrictFactory(code="shangcheng", name="上城区", order=1)
    district_b = DistrictFactory(code="xiaoshan", name="萧山区", order=5)
    project_a = ProjectFactory(seq=1, name="新增老年助餐服务点", lead_agency=agency_a)
    project_b = ProjectFactory(
        seq=2, name="新建基层生育咨询门诊", lead_agency=agency_b, category=project_a.category
    )
    indicator_a = IndicatorFactory(project=project_a, label="新增老年助餐服务点")
    indicator_b = IndicatorFactory(project=project_b, label="基层生育咨询门诊")
    for indicator in (indicator_a, indicator_b):
        for district in (district_a, district_b):
            QuotaFactory(indicator=indicator, district=district, value=Decimal(50))
    return Personas(
        agency_a=agency_a,
        agency_b=agency_b,
        district_a=district_a,
        district_b=district_b,
        project_a=project_a,
        project_b=project_b,
        indicator_a=indicator_a,
        indicator_b=indicator_b,
        supervisor=make_user("duchashi", Role.SUPERVISION),
        agency_a_user=make_user("minzheng", Role.AGENCY, agency=agency_a),
        agency_b_user=make_user("weijian", Role.AGENCY, agency=agency_b),
        district_a_user=make_user("shangcheng", Role.DISTRICT, district=district_a),
        district_b_user=make_user("xiaoshan", Role.DISTRICT, district=district_b),
        outsider=make_user("outsider"),
    )


PLAN_2024 = Path(__file__).resolve().parent.parent / "fixtures" / "plan_2024.yaml"


@pytest.fixture(scope="session")
def plan_2024_data():
    """The parsed 2024 fixture, read once per session."""
    return read_plan_file(PLAN_2024)


@pytest.fixture
def plan_2024(db, plan_2024_data):
    """The published 2024 plan loaded into the test database; returns its PlanYear."""
    return load_plan(plan_2024_data).plan_year
