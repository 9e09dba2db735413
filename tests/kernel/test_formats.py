"""Numbers, one formatter per audience (``tracker.formats``): people get rounded, grouped
figures in the plan's units; machines (the API, CSV, form values) get ``plain`` — the
exact decimal, never an exponent, so what the API writes it accepts back."""

from decimal import Decimal

import pytest

from tracker import formats as fmt


@pytest.mark.parametrize(
    ("stored", "text"),
    [("20.0000", "20"), ("8.0000", "8"), ("1234.5000", "1234.5"), ("0.1250", "0.125"),
     ("2E+1", "20"), ("60000.0000", "60000"), ("0.0000", "0"), ("-0.0", "0"), ("1E-4", "0.0001")],
)  # fmt: skip
def test_plain_is_the_exact_decimal_without_exponent_or_trailing_zeros(stored, text):
    assert fmt.plain(Decimal(stored)) == text


def test_people_read_rounded_grouped_figures_in_the_plans_units():
    assert fmt.number(Decimal("1234.5000")) == "1,234.5"
    assert fmt.amount(Decimal("250000"), "人", scale=Decimal(10000)) == "25 万人"
    assert fmt.amount(Decimal("83"), "%", level=True) == "83%"
    assert fmt.with_unit("120", "个") == "120 个" and fmt.with_unit("83", "%") == "83%"


class _Indicator:
    def __init__(self, unit, is_level, target_text=""):
        self.unit, self.is_level, self.target_text = unit, is_level, target_text


def test_one_rule_for_an_indicators_units():
    rate = _Indicator("分", is_level=True)  # a rate's figures are levels, whatever its unit
    people = _Indicator("人", is_level=False, target_text="25万人")
    assert fmt.base_unit(rate) == "%" and fmt.indicator_unit(rate) == "%"
    assert fmt.base_unit(people) == "人" and fmt.indicator_unit(people) == "万人"
    assert fmt.show_amount(people, Decimal(250000)) == "25 万人"
