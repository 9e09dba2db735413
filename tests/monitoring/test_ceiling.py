"""A ceiling target (失业率低于4.3%) is judged the right way round: at or below the bound is
on track, above it is behind, and after the deadline above it is 逾期未完成. The same
statuses on the overview, the matrix and in the notice (issue 29)."""

import re
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook

from tests.factories import DistrictFactory, IndicatorFactory, ProjectFactory, QuotaFactory
from tests.lag_helpers import local, report
from tracker.choices import LagStatus
from tracker.monitoring.checks import run_lag_check
from tracker.monitoring.models import LagAlert, LagEvaluation
from tracker.monitoring.rules import Thresholds, classify, forecast, is_at_risk
from tracker.plans.models import Indicator
from tracker.plans.trajectory import expected_curve, load_indicator_plans
from tracker.ratios import completion_pct

D = Decimal
S = LagStatus
JULY, DECEMBER = date(2024, 7, 1), date(2024, 12, 1)


def judge(actual, *, past_due=False):
    return classify(
        level=True,
        quota=D("4.3"),
        expected=D("4.3"),
        actual=D(actual),
        on_time=True,
        deadline_passed=True,
        is_checkpoint=False,
        thresholds=Thresholds(),
        past_due=past_due,
        ceiling=True,
    )


def test_the_rule_reads_a_ceiling_the_right_way_round():
    assert judge("2.9") == (S.ON_TRACK, D("-1.40"))
    assert judge("4.3") == (S.ON_TRACK, D("0.00"))
    assert judge("5.5") == (S.BEHIND, D("1.20"))  # 1.2 points above the bound
    assert judge("7.5") == (S.SERIOUSLY_BEHIND, D("3.20"))
    assert judge("2.9", past_due=True)[0] == S.ON_TRACK
    assert judge("6.5", past_due=True)[0] == S.OVERDUE
    # 完成率: ≥ 100% reads "met" either way
    assert completion_pct(D("2.9"), D("4.3"), ceiling=True) == 100
    assert completion_pct(D("6.5"), D("4.3"), ceiling=True) == D("66.15")
    # rising towards the bound: at risk although on track today
    rising = forecast(
        quota=D("4.3"), actual=D("4.0"), base_value=D("3.4"), window=3, months_left=4,
        ceiling=True,
    )  # fmt: skip
    assert rising.misses_target and rising.at_deadline == D("4.8") and rising.needed_pace is None
    assert is_at_risk(S.ON_TRACK, rising, Thresholds())
    falling = forecast(
        quota=D("4.3"), actual=D("4.0"), base_value=D("4.6"), window=3, months_left=4,
        ceiling=True,
    )  # fmt: skip
    assert not falling.misses_target


@pytest.fixture
def unemployment(personas):
    project = ProjectFactory(
        seq=9, name="城镇登记失业率控制在4.3%以内", lead_agency=personas.agency_a,
        category=personas.project_a.category, plan_year=personas.project_a.plan_year,
    )  # fmt: skip
    indicator = IndicatorFactory(
        project=project, label="城镇登记失业率", unit="%", kind=Indicator.Kind.LEVEL,
        target_value=D("4.3"), target_text="低于4.3%", direction=Indicator.Direction.CEILING,
    )  # fmt: skip
    fuyang = DistrictFactory(code="fuyang", name="富阳区", order=9)
    districts = {"below": personas.district_a, "at": personas.district_b, "above": fuyang}
    values = {"below": "2.9", "at": "4.3", "above": "6.5"}
    for name, district in districts.items():
        QuotaFactory(indicator=indicator, district=district, value=D("4.3"), published_text="4.3%")
        for month in ("2024-06", "2024-07"):
            report(indicator, district, month, values[name])
    return indicator, districts


def statuses(indicator, districts, month):
    stored = dict(
        LagEvaluation.objects.filter(indicator=indicator, month=month).values_list(
            "district_id", "status"
        )
    )
    return {name: stored[d.pk] for name, d in districts.items()}


def test_the_curve_of_a_ceiling_is_the_bound(unemployment):
    indicator, districts = unemployment
    plan = load_indicator_plans(indicator.project.plan_year, indicator_ids=[indicator.pk])[
        indicator.pk
    ]
    assert plan.is_ceiling
    assert {p.value for p in expected_curve(plan)} == {D("4.3")}
    assert {p.value for p in expected_curve(plan, districts["above"].pk)} == {D("4.3")}


def test_three_districts_below_at_and_above_on_every_page(unemployment, personas, client):
    indicator, districts = unemployment
    run_lag_check(JULY, as_of=local(2024, 8, 10, 9), notify=False)
    assert statuses(indicator, districts, JULY) == {
        "below": S.ON_TRACK, "at": S.ON_TRACK, "above": S.BEHIND,
    }  # fmt: skip
    above = LagEvaluation.objects.get(indicator=indicator, district=districts["above"], month=JULY)
    assert above.gap_points == D("2.2") and above.completion_pct == D("66.15")
    alerts = LagAlert.objects.filter(indicator=indicator)
    assert [a.district_id for a in alerts] == [districts["above"].pk]
    assert "为 6.5%，上限 ≤4.3%，超出 2.2%" in alerts[0].message

    client.force_login(personas.supervisor)
    page = client.get("/matrix/", {"month": "2024-07"}).content.decode()
    row = page[page.index(f'data-indicator="{indicator.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "城镇登记失业率" in row and "≤4.3%" in row
    assert row.count('data-status="on_track"') == 2 and row.count('data-status="behind"') == 1

    page = client.get(f"/projects/{indicator.project.seq}/", {"month": "2024-07"}).content.decode()
    assert "6.5% / ≤4.3%" in page  # the cell's title: value against the bound

    # after the deadline (11月底) the district above the bound has not met it
    run_lag_check(DECEMBER, as_of=local(2025, 1, 10, 9), notify=False)
    assert statuses(indicator, districts, DECEMBER) == {
        "below": S.ON_TRACK, "at": S.ON_TRACK, "above": S.OVERDUE,
    }  # fmt: skip
    overview = client.get("/", {"month": "2024-12"}).content.decode()
    project_row = overview[overview.index('data-seq="9"') :]
    project_row = project_row[: project_row.index("</tr>")]
    # the mean level capped at the bound (4.3, 4.3, 6.5 → 5.03) is above 4.3: not met
    assert 'data-status="overdue"' in project_row and "1 个区县红" in project_row
    cell = client.get(
        f"/matrix/{indicator.pk}/{districts['above'].pk}/", {"month": "2024-12"}
    ).content.decode()
    assert "逾期未完成，超出 2.2%" in cell
    notice = client.get("/notice/2024-12/").content.decode()
    supervised = notice[notice.index('id="supervised"') : notice.index('id="red-by-district"')]
    assert "城镇登记失业率（上限）" in supervised and "富阳区" in supervised
    assert "≤4.3" in supervised and "逾期未完成" in supervised
    listed = re.findall(rf'data-district="(\w+)" data-indicator="{indicator.pk}"', supervised)
    assert listed == ["fuyang"]  # 2.9% and 4.3% are not listed
    assert 'id="ceiling-note"' in notice
    workbook = load_workbook(BytesIO(client.get("/notice/2024-12/xlsx/").content))
    cells = [c.value for row in workbook.active.iter_rows() for c in row]
    assert "城镇登记失业率（上限）" in cells
