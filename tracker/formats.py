"""The number formatters, one per audience:

- people (pages, messages, the notice): ``number``, ``amount``, ``percent``, ``points`` —
  rounded, grouped, in the plan's printed units;
- machines (the API, CSV, files read back): ``plain`` — the exact decimal, no exponent,
  no trailing zeros, no grouping, so any value written out is accepted back unchanged;
- workbooks: native numbers (``tracker.progress.workbooks``), rounded as ``rounded``.

The plan is stored in base units (「25 万人」 is 250000 人) but printed in 万 where the
gazette does; ``scale_of(target_text)`` tells which, and ``amount`` shows a value the way
the plan prints it: ``amount(Decimal('250000.0000'), '人', scale=10000)`` → 「25 万人」.
Percentages (完成率, 序时完成率, 落后百分点) go through ``percent`` / ``points``.
"""

from __future__ import annotations

from decimal import Decimal

WAN = Decimal(10000)
DASH = "—"


def scale_of(printed_text: str | None) -> Decimal:
    """10000 when the plan prints the target in 万 (「25 万人」「859 万」), else 1."""
    return WAN if printed_text and "万" in printed_text else Decimal(1)


def rounded(value, places: int = 1) -> Decimal | None:
    """``value`` rounded to ``places`` decimals, the rounding every shown figure goes
    through (``number`` prints it; the month workbook's 序时应达 cell holds it); None when
    missing."""
    if value is None or value == "":
        return None
    if type(value) is not Decimal:  # floats and ints through their text, as typed
        value = Decimal(str(value))
    return value.quantize(_QUANTUM[places] if places in _QUANTUM else _quantum(places))


def _quantum(places) -> Decimal:
    return Decimal(1).scaleb(-int(places))


_QUANTUM = {p: _quantum(p) for p in range(5)}  # the lag check formats ~100 000 figures


def plain(value) -> str:
    """``Decimal('60000.0000')`` → 「60000」, ``Decimal('113.5000')`` → 「113.5」, never
    「6E+4」; "" for None."""
    if value is None:
        return ""
    if type(value) is not Decimal:
        value = Decimal(str(value))
    return _without_trailing_zeros(format(value, "f"))


def _without_trailing_zeros(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def number(value, places: int = 1, *, grouping: bool = True) -> str:
    """``value`` to at most ``places`` decimals, trailing zeros dropped, thousands
    separated: 「1,234.5」; 「—」 when missing."""
    d = rounded(value, places)
    if d is None:
        return DASH
    return _without_trailing_zeros(f"{d:,f}" if grouping else f"{d:f}")


def unit_label(unit: str, *, level: bool = False, scale: Decimal = Decimal(1)) -> str:
    """The unit as printed: 「%」 for rates, 「万人」 for a 万-scaled amount."""
    if level:
        return "%"
    return f"万{unit}" if scale == WAN else unit


def with_unit(number_text: str, unit: str) -> str:
    """「83%」, 「120 个」: a formatted number followed by its unit (「%」 without a space)."""
    if not unit:
        return number_text
    return f"{number_text}{unit}" if unit == "%" else f"{number_text} {unit}"


def scaled(value: Decimal | None, scale: Decimal = Decimal(1)) -> Decimal | None:
    """A base-unit value in printed units (÷ 10000 for 万)."""
    return None if value is None else value / scale


def amount(value, unit: str = "", *, level: bool = False, scale: Decimal = Decimal(1)) -> str:
    """「25 万人」「120 个」「83%」, or 「—」."""
    if value is None:
        return DASH
    places = 2 if scale == WAN else 1
    if type(value) is not Decimal:
        value = Decimal(str(value))
    text = number(value / scale if scale != 1 else value, places)
    return with_unit(text, unit_label(unit, level=level, scale=scale))


def percent(value, places: int = 1) -> str:
    """「61.5%」, or 「—」."""
    text = number(value, places)
    return text if text == DASH else f"{text}%"


def points(value, places: int = 1) -> str:
    """「15.6 个百分点」, or 「—」."""
    text = number(value, places)
    return text if text == DASH else f"{text} 个百分点"


def versus_pace(gap_points, places: int = 1) -> str:
    """A cell against its 序时进度, from its gap (expected minus actual share, in points):
    「落后 6 个百分点」, 「领先 6 个百分点」 or 「与序时进度持平」 (a negative 「落后 -6」
    reads as behind at a glance), or 「—」."""
    if gap_points is None or gap_points == "":
        return DASH
    d = Decimal(str(gap_points))
    if number(abs(d), places) == number(Decimal(0), places):  # rounds to 0
        return "与序时进度持平"
    return f"{'落后' if d > 0 else '领先'} {points(abs(d), places)}"


def place(rank: int | None, tied: bool = False) -> str:
    """A place in a 晾晒 ranking as notices write it: 「3」, or 「并列第8」 for rows level
    with another (they share the place; the next one skips, 1, 2, 2, 4). 「—」 unranked."""
    if rank is None:
        return DASH
    return f"并列第{rank}" if tied else str(rank)


def whole_percent(value) -> str:
    """A share as a whole number for tight grids (the matrix): rounded, except that a share
    below 100 never reads 「100」 (99.6 → 「99」), so an unmet target never looks met."""
    if value is None or value == "":
        return DASH
    d = Decimal(str(value))
    if Decimal(99) < d < Decimal(100):
        return "99"
    return number(d, 0, grouping=False)


# --- an indicator's amounts, as its plan prints them ------------------------------------


def indicator_scale(indicator) -> Decimal:
    """The scale the plan prints this indicator's amounts in (10000 for 万)."""
    return scale_of(indicator.target_text)


def base_unit(indicator) -> str:
    """The unit figures are stored and typed in: 「%」 for rates, else the plan's base unit
    (「人」 where the plan prints 「万人」)."""
    return unit_label(indicator.unit, level=indicator.is_level)


def indicator_unit(indicator) -> str:
    """The unit as the plan prints it: 「%」 for rates, 「万人」 for 万-scaled amounts."""
    return unit_label(indicator.unit, level=indicator.is_level, scale=indicator_scale(indicator))


def show_amount(indicator, value) -> str:
    """An amount of ``indicator`` in the plan's printed units: 「25 万人」."""
    return amount(value, indicator.unit, level=indicator.is_level, scale=indicator_scale(indicator))


def show_bound(indicator, value) -> str:
    """A quota or target as a bound: 「≤4.3%」 for a ceiling (at most), else ``show_amount``."""
    text = show_amount(indicator, value)
    if value is None or getattr(indicator, "direction", "floor") != "ceiling":
        return text
    return f"≤{text}"
