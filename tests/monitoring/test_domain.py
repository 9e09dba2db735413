"""The one rule of a cell and its roll-ups (``tracker.domain``), on the 2024 plan's numbers.

序号1 (新增老年助餐服务点, 227 个, due 「11月底」): 临安区's quota is 45 个; 9月底 expects
100 of 227 city-wide. These are pure functions: no database.
"""

from datetime import date
from decimal import Decimal as D

from tracker import formats as fmt
from tracker.choices import BADNESS, COLOUR, LABEL, RED_STATUSES, LagStatus, worst
from tracker.monitoring.rules import (
    Forecast,
    Thresholds,
    classify,
    forecast,
    gap_points,
    is_at_risk,
    roll_up,
)
from tracker.progress.values import value_as_of
from tracker.ratios import completion_pct, pace_completion_pct

S = LagStatus
T = Thresholds()


def lin_an(month_is_checkpoint=False, past_due=False, actual=D(38), expected=D(45)):
    return classify(
        level=False,
        quota=D(45),
        expected=expected,
        actual=actual,
        on_time=True,
        deadline_passed=True,
        is_checkpoint=month_is_checkpoint,
        thresholds=T,
        past_due=past_due,
    )


def test_lin_an_red_at_the_deadline_and_overdue_after_it():
    """38 of 45 at 「11月底全面完成」: 15.6 points behind, 红 at the checkpoint; in
    December the same figure is 逾期未完成 (counted red), never 黄."""
    assert lin_an(month_is_checkpoint=True) == (S.SERIOUSLY_BEHIND, D("15.56"))
    status, gap = lin_an(past_due=True)
    assert status == S.OVERDUE and status in RED_STATUSES and gap == D("15.56")
    assert BADNESS[S.OVERDUE] > BADNESS[S.SERIOUSLY_BEHIND]
    # 95% of the target after the deadline is still overdue, 100% is done.
    assert lin_an(past_due=True, actual=D("42.75"))[0] == S.OVERDUE
    assert lin_an(past_due=True, actual=D(45))[0] == S.ON_TRACK
    # Not reported after the deadline with the target unmet: overdue, not grey.
    assert lin_an(past_due=True, actual=None)[0] == S.OVERDUE


def test_rates_after_the_deadline_follow_the_same_rule():
    """A rate (保障率 83%) below its target level after the deadline is overdue."""
    args = dict(level=True, quota=D(83), expected=D(83), on_time=True, deadline_passed=True,
                is_checkpoint=False, thresholds=T, past_due=True)  # fmt: skip
    assert classify(actual=D("82.5"), **args)[0] == S.OVERDUE
    assert classify(actual=D(83), **args)[0] == S.ON_TRACK


def test_two_rates_two_names():
    """完成率 = actual ÷ 任务数, 序时完成率 = actual ÷ 序时应达: 9月底 临安区 at 19 of 45
    with 19.8 expected (100/227 of 45)."""
    expected = D(45) * D(100) / D(227)
    assert completion_pct(D(19), D(45)) == D("42.22")
    assert pace_completion_pct(D(19), expected) == D("95.84")
    assert pace_completion_pct(D(19), D(0)) is None
    assert gap_points(level=False, quota=D(45), expected=expected, actual=D(19)) == D("1.83")


def test_value_as_of_is_the_latest_report_up_to_the_month():
    reports = [(date(2024, 6, 1), D(10)), (date(2024, 9, 1), D(30)), (date(2024, 7, 1), D(12))]
    assert value_as_of(reports, date(2024, 8, 1)) == (D(12), date(2024, 7, 1))
    assert value_as_of(reports, date(2024, 5, 1)) is None


def test_on_a_back_loaded_curve_is_not_at_risk():
    """序号1 expects nothing until June, 100 by September: a district exactly on that
    curve moves at the plan's pace and is not at risk, though a straight line from its
    slow start misses the quota; one 30% slower than the plan is."""
    plan_pace = D(45) * D(100) / D(227) / 3  # June→September, per month
    on_curve = forecast(quota=D(45), actual=D("19.82"), base_value=D(0), window=3,
                        months_left=2, plan_pace=plan_pace)  # fmt: skip
    assert on_curve.misses_target  # a straight line would say "at risk"
    assert not is_at_risk(S.ON_TRACK, on_curve, T)
    slow = forecast(quota=D(45), actual=D(14), base_value=D(0), window=3, months_left=2,
                    plan_pace=plan_pace)  # fmt: skip
    assert is_at_risk(S.ON_TRACK, slow, T)
    assert not is_at_risk(S.BEHIND, slow, T)  # behind is its own status, not a risk
    assert not is_at_risk(S.ON_TRACK, Forecast(months_left=0, misses_target=True), T)


class C:
    def __init__(self, quota, expected, actual, status):
        self.quota, self.expected, self.actual, self.status = quota, expected, actual, status


def test_roll_up_capped_and_uncapped():
    """One district's surplus does not hide another's gap; past the deadline one short
    district keeps the total overdue."""
    cells = [C(D(50), D(25), D(60), S.ON_TRACK), C(D(50), D(25), D(5), S.SERIOUSLY_BEHIND)]
    r = roll_up(cells, level=False, thresholds=T)
    assert (r.quota, r.expected, r.actual, r.actual_capped) == (100, 50, 65, 55)
    assert (r.completion_pct, r.completion_uncapped_pct, r.pace_pct) == (55, 65, 50)
    assert r.status == S.ON_TRACK and r.counts["seriously_behind"] == 1
    done = [C(D(50), D(50), D(50), S.ON_TRACK), C(D(50), D(50), D(49), S.OVERDUE)]
    assert roll_up(done, level=False, thresholds=T).status == S.OVERDUE


def test_vocabulary_lives_with_the_choices():
    assert LABEL[S.OVERDUE] == "逾期未完成" and COLOUR[S.OVERDUE] == "darkred"
    assert worst([S.ON_TRACK, S.OVERDUE, S.NOT_REPORTED]) == S.OVERDUE
    assert worst([]) == S.NOT_DUE


def test_amounts_in_the_plans_printed_units():
    assert fmt.amount(D("250000.0000"), "人", scale=fmt.scale_of("25 万人")) == "25 万人"
    assert fmt.amount(D("8590000"), "人", scale=fmt.scale_of("859 万")) == "859 万人"
    assert fmt.amount(D("1500000"), "平方米", scale=fmt.scale_of("150 万平方米")) == "150 万平方米"
    assert fmt.amount(D("227.0000"), "个") == "227 个"
    assert fmt.amount(D("83.0"), "", level=True) == "83%"
    assert fmt.number(D("12345.678")) == "12,345.7"
    assert fmt.percent(D("42.55")) == "42.6%" and fmt.percent(None) == "—"


def test_an_unmet_target_never_reads_100_in_the_matrix():
    """99.6% of a quota is short of it (逾期未完成 after the deadline): the grid says 99."""
    assert fmt.whole_percent(D("99.6")) == "99"
    assert fmt.whole_percent(D("100")) == "100"
    assert fmt.whole_percent(D("100.4")) == "100"
    assert fmt.whole_percent(D("84.6")) == "85"
    assert fmt.whole_percent(None) == "—"


def test_a_cell_ahead_of_pace_reads_ahead_not_a_negative_lag():
    """The gap is expected minus actual share: positive is behind, negative ahead."""
    assert fmt.versus_pace(D("6.04")) == "落后 6 个百分点"
    assert fmt.versus_pace(D("-6")) == "领先 6 个百分点"
    assert fmt.versus_pace(D("-0.04")) == "与序时进度持平"
    assert fmt.versus_pace(D("0")) == "与序时进度持平"
    assert fmt.versus_pace(None) == "—"
