"""序时进度: the expected curve per month, from plain plan data and from the real 2024 plan."""

from datetime import date
from decimal import Decimal

import pytest

from tracker.plans.trajectory import (
    IndicatorPlan,
    PlanMilestone,
    expected_at,
    expected_curve,
    load_indicator_plans,
    milestone_months,
)

D = Decimal


def ms(month, kind="qualitative", value=None, *, indicator=1, district=None, text="", day=None):
    due = date(2024, month, day or [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1])
    return PlanMilestone(
        due=due,
        kind=kind,
        value=None if value is None else D(value),
        indicator_id=indicator,
        district_id=district,
        text=text or f"{month}月底",
    )


def plan(milestones, *, target=227, kind="cumulative", deadline=(11, 30), quotas=None, **kw):
    return IndicatorPlan(
        indicator_id=1,
        year=2024,
        kind=kind,
        target=None if target is None else D(target),
        deadline=date(2024, *deadline),
        milestones=tuple(milestones),
        quotas=quotas or {},
        **kw,
    )


def values(curve):
    return [None if p.value is None else float(round(p.value, 2)) for p in curve]


# 序号1 as published: 3月底确定点位, 6月底招标, 9月底不少于100个, 11月底全面完成 (227).
SEQ1 = [
    ms(3, indicator=None),
    ms(6, indicator=None),
    ms(9, "absolute", 100),
    ms(11, "percent", 100),
]


def test_nothing_expected_until_the_last_qualitative_step_then_linear():
    """A project still choosing sites and tendering is not behind for showing no numbers."""
    curve = expected_curve(plan(SEQ1))
    assert values(curve) == [0, 0, 0, 0, 0, 0, 33.33, 66.67, 100, 163.5, 227, 227]
    assert not curve[3].is_due  # April
    assert curve[6].is_due  # July
    assert [p.month.month for p in curve if p.is_checkpoint] == [9, 11]
    assert curve[8].text == "9月底"


def test_without_qualitative_steps_the_curve_rises_from_january():
    """序号12: 6万 at March means 2万 a month from the start of the year."""
    curve = expected_curve(
        plan(
            [ms(3, "absolute", 60000), ms(6, "absolute", 130000), ms(11, "absolute", 250000)],
            target=250000,
        )
    )
    assert values(curve)[:3] == [20000, 40000, 60000]
    assert curve[5].value == D(130000)


def test_monthly_amounts_override_interpolation():
    """序号27: 5月—8月每月250堂 is 250 more each month, not a straight line from April."""
    curve = expected_curve(
        plan(
            [
                ms(3, indicator=None),
                ms(4, indicator=None),
                *[ms(m, "monthly", 250) for m in (5, 6, 7, 8)],
                ms(9, "percent", 100),
            ],
            target=1000,
            deadline=(9, 30),
        )
    )
    assert values(curve) == [0, 0, 0, 0, 250, 500, 750, 1000, 1000, 1000, 1000, 1000]


def test_a_gap_before_monthly_amounts_is_held_flat():
    """Monthly amounts add to what was expected before them, not to a guess."""
    curve = expected_curve(
        plan(
            [ms(3, "absolute", 30), ms(6, "monthly", 10), ms(7, "monthly", 10)],
            target=100,
            deadline=(12, 31),
        )
    )
    assert values(curve)[:8] == [10, 20, 30, 30, 30, 40, 50, 60]
    assert curve[11].value == D(100)  # the target is due at the deadline


def test_rates_are_levels_with_nothing_expected_before_the_first_checkpoint():
    """序号9: 80%→81%→82%→83%; a level is never summed nor started from 0."""
    curve = expected_curve(
        plan(
            [ms(3, "level", 80), ms(6, "level", 81), ms(9, "level", 82), ms(12, "level", 83)],
            target=83,
            kind="level",
        )
    )
    assert values(curve) == [
        None, None, 80, 80.33, 80.67, 81, 81.33, 81.67, 82, 82.33, 82.67, 83,
    ]  # fmt: skip
    assert curve[0].fraction is None


def test_target_is_due_at_the_deadline_when_no_checkpoint_says_so():
    """序号3 names only qualitative steps before 11月底: the whole target falls due then."""
    curve = expected_curve(
        plan([ms(3, indicator=None), ms(6, indicator=None), ms(9, indicator=None)], target=100)
    )
    assert values(curve) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 100, 100]
    assert curve[10].is_checkpoint and curve[10].text == "预计完成时间"


def test_curve_is_flat_after_an_early_deadline():
    """序号41 ends in May (5月18日): the target stays due for the rest of the year."""
    curve = expected_curve(
        plan(
            [ms(4, indicator=None), ms(5, "percent", 100, day=18)],
            target=20,
            deadline=(5, 31),
        )
    )
    assert values(curve) == [0, 0, 0, 0, 20, 20, 20, 20, 20, 20, 20, 20]


def test_stage_and_pace_numbers_are_not_checkpoints():
    """「新增点位建设启动30%」 and 「平均每月1000余场」 say nothing about completions."""
    curve = expected_curve(
        plan(
            [ms(3, "stage", 30), ms(3, "pace", 1000), ms(6, "percent", 50)],
            target=100,
            deadline=(12, 31),
        )
    )
    assert [p.month.month for p in curve if p.is_checkpoint] == [6, 12]
    assert curve[2].value == D(25)


def test_qualitative_step_of_another_indicator_does_not_delay_this_one():
    """序号8: a step written for one indicator applies to that indicator only."""
    other = ms(6, indicator=2)
    project_wide = ms(3, indicator=None)
    curve = expected_curve(plan([project_wide, other, ms(9, "percent", 50)], target=100))
    assert values(curve)[3:6] == [8.33, 16.67, 25]


def test_district_curve_is_its_quota_times_the_city_fraction():
    p = plan(SEQ1, quotas={5: D(40), 10: D(45)})
    city = expected_curve(p)
    xiaoshan = expected_curve(p, 5)
    assert xiaoshan[8].value == (D(40) * D(100) / D(227)).quantize(D("0.0001"))
    assert xiaoshan[10].value == D(40)
    assert xiaoshan[8].fraction == city[8].fraction
    assert expected_curve(p, 99) == ()  # no quota, no expectation


def test_district_specific_milestones_replace_the_scaled_curve():
    p = plan(
        [*SEQ1, ms(6, "absolute", 30, district=5)],
        quotas={5: D(40), 10: D(45)},
    )
    own = expected_curve(p, 5)
    assert own[5].value == D(30) and own[5].is_checkpoint
    assert own[10].value == D(40)  # its quota is due at the deadline
    assert expected_curve(p, 10)[5].value == D(0)  # the other district keeps the city curve


def test_city_only_and_qualitative_indicators():
    city_only = plan([ms(3, "absolute", 60000)], target=250000, scope="city", quotas={})
    assert expected_curve(city_only, 1) == ()
    assert expected_at(city_only, date(2024, 3, 15)).value == D(60000)
    qualitative = plan([ms(3)], target=None, kind="qualitative")
    assert all(p.value is None for p in expected_curve(qualitative))
    with pytest.raises(ValueError, match="不在 2024 年度"):
        expected_at(city_only, date(2025, 1, 1))


# --- the published 2024 plan --------------------------------------------------------------


@pytest.fixture
def plans_2024(plan_2024, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        plans = load_indicator_plans(plan_2024)
    return {(p.project_seq, i): p for i, p in _numbered(plans.values())}


def _numbered(plans):
    seen = {}
    for p in plans:
        seen[p.project_seq] = seen.get(p.project_seq, 0) + 1
        yield seen[p.project_seq], p


def at(p, month, district=None):
    return expected_at(p, date(2024, month, 1), district).value


def test_seq12_city_employment(plans_2024):
    p = plans_2024[(12, 1)]
    assert p.is_city_only
    assert at(p, 3) == D(60000)
    assert at(p, 6) == D(130000)
    assert at(p, 9) == D(200000)
    assert at(p, 11) == D(250000)


def test_seq1_meal_points_expect_nothing_in_april(plans_2024):
    p = plans_2024[(1, 1)]
    assert at(p, 4) == 0
    assert at(p, 9) == D(100)
    assert at(p, 11) == D(227)
    xiaoshan = next(d for d, q in p.quotas.items() if q == D(40))
    assert at(p, 11, xiaoshan) == D(40)


@pytest.mark.parametrize(
    ("seq", "deadline", "complete_from"), [(34, 10, 10), (41, 5, 5), (6, 9, 9), (27, 9, 8)]
)
def test_completion_deadlines_are_respected(plans_2024, seq, deadline, complete_from):
    """序号34 ends in October, 41 in May, 6 and 27 in September (27's monthly lessons
    already add up to the 1000 by August)."""
    p = plans_2024[(seq, 1)]
    assert p.deadline.month == deadline
    assert at(p, complete_from - 1) < p.target
    assert all(at(p, m) == p.target for m in range(complete_from, 13))


def test_seq27_monthly_lessons_and_seq9_levels(plans_2024):
    lessons = plans_2024[(27, 1)]
    assert [at(lessons, m) for m in (4, 5, 6, 7, 8)] == [0, 250, 500, 750, 1000]
    rate = plans_2024[(9, 1)]
    assert at(rate, 2) is None
    assert [at(rate, m) for m in (3, 6, 9, 12)] == [80, 81, 82, 83]


def test_milestone_months_of_the_plan(plans_2024):
    months = {m.month for m in milestone_months(plans_2024.values())}
    assert {3, 6, 9, 11, 12} <= months
    assert 5 in months  # 序号41's 5月18日 and 序号27's monthly amounts
