"""Two plans in one year: a plan loaded after months of checks of another has its own
evaluated months, so its episodes are not opened and resolved in the same run."""

import copy
from datetime import date

import pytest

from tests.plan_helpers import district_plan
from tracker.demo.simulation import _check_time
from tracker.monitoring.checks import run_lag_check
from tracker.monitoring.models import LagAlert
from tracker.plans.loader import load_plan

pytestmark = pytest.mark.django_db
MONTHS = [date(2024, m, 1) for m in range(1, 7)]


def test_a_second_plans_alerts_stay_open_when_the_first_was_checked_for_longer():
    first = load_plan(district_plan()).plan_year
    for month in MONTHS:
        run_lag_check(month, as_of=_check_time(month), notify=False)
    assert LagAlert.objects.filter(indicator__project__plan_year=first).exists()
    data = copy.deepcopy(district_plan())
    data["issuer"] = "西湖区教育局"
    second = load_plan(data).plan_year

    result = run_lag_check(date(2024, 3, 1), as_of=_check_time(date(2024, 3, 1)), notify=False)
    opened = {a.pk for a in result.changes.created}
    resolved = {a.pk for a in result.changes.resolved}
    mine = LagAlert.objects.filter(indicator__project__plan_year=second)
    assert mine.exists() and opened >= set(mine.values_list("pk", flat=True))
    assert not opened & resolved  # opened and resolved in one run: the bug
    assert all(a.is_active for a in mine)
