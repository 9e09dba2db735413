"""What is due and how it was filed: the simulated 2024 year gives exact figures."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from tracker.accounts.permissions import SUPERVISION_SCOPE, Scope
from tracker.plans.models import Indicator, Quota
from tracker.plans.reference import District
from tracker.progress.due import FilingState, due_cells, due_indicators, filing_states

SH = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db


def test_due_cells_are_the_quotas_plus_city_wide_targets(plan_2024):
    cells = due_cells(date(2024, 6, 1), SUPERVISION_SCOPE)
    numeric = Quota.objects.exclude(indicator__kind=Indicator.Kind.QUALITATIVE).filter(
        indicator__scope=Indicator.Scope.DISTRICTS
    )
    city_wide = Indicator.objects.filter(scope=Indicator.Scope.CITY).exclude(
        kind=Indicator.Kind.QUALITATIVE
    )
    assert len(cells) == numeric.count() + city_wide.count()
    assert len(set(cells)) == len(cells)


def test_a_district_sees_only_its_own_cells(plan_2024):
    chunan = District.objects.get(name="淳安县")
    scope = Scope(role="district", district_id=chunan.pk)
    cells = due_cells(date(2024, 6, 1), scope)
    assert cells and {d for _, d in cells} == {chunan.pk}
    assert [i for i, _ in cells] == [i.pk for i in due_indicators(chunan, date(2024, 6, 1))]


def test_filing_states_before_and_after_the_deadline(plan_2024):
    chunan = District.objects.get(name="淳安县")
    scope = Scope(role="district", district_id=chunan.pk)
    before = filing_states([date(2024, 6, 1)], scope, now=datetime(2024, 7, 5, 20, tzinfo=SH))
    after = filing_states([date(2024, 6, 1)], scope, now=datetime(2024, 7, 6, 1, tzinfo=SH))
    assert set(before.values()) == {FilingState.PENDING}
    assert set(after.values()) == {FilingState.MISSING}


def test_a_cell_is_counted_from_the_month_its_plan_expects_something(plan_2024):
    """Before a project starts (expected amount still 0) its cells are offered for entry
    but not counted or chased; from the first month with something expected they are."""
    from tracker.plans.trajectory import expected_curve, load_indicator_plans

    plans = load_indicator_plans(year=2024)
    jan = date(2024, 1, 1)
    offered = due_cells(jan, SUPERVISION_SCOPE)
    counted = filing_states([jan], SUPERVISION_SCOPE, now=datetime(2024, 3, 1, tzinfo=SH))
    late_start = [
        (i, d)
        for i, d in offered
        if plans[i].quotas.get(d) and not plans[i].is_city_only
        and not expected_curve(plans[i], d)[0].is_due
    ]  # fmt: skip
    assert late_start and not any((i, d, jan) in counted for i, d in late_start)
    ind, dist = late_start[0]
    first = next(p.month for p in expected_curve(plans[ind], dist) if p.is_due)
    assert (ind, dist, first) in filing_states([first], SUPERVISION_SCOPE)
    assert (ind, dist) in due_cells(first, SUPERVISION_SCOPE)
