"""The tracker's ratios, one definition each: 完成率, 序时进度 and 序时完成率.

Pure arithmetic on Decimals, shared by every layer (the entry page and workbooks, the
lag rules, the read models): a ratio a person sees is computed here and nowhere else.
"""

from __future__ import annotations

from decimal import Decimal

HUNDRED = Decimal(100)
POINTS = Decimal("0.01")
PLACES = Decimal("0.0001")


def pct(part: Decimal | None, whole: Decimal | None) -> Decimal | None:
    """``part ÷ whole`` in percent to 2 places; None when either is missing or whole is 0."""
    if part is None or whole is None or not whole:
        return None
    return (part * HUNDRED / whole).quantize(POINTS)


def completion_pct(
    actual: Decimal | None, quota: Decimal | None, *, ceiling: bool = False
) -> Decimal | None:
    """完成率 = 累计完成 ÷ 任务数.

    For a ceiling (失业率低于4.3%) 100% means within the bound, and above it the bound ÷ the
    value: 2.9% and 4.3% are 100%, 6.5% is 66.15%. So ≥ 100% reads "met" either way.
    """
    if ceiling:
        if actual is None or quota is None:
            return None
        return HUNDRED.quantize(POINTS) if actual <= quota else pct(quota, actual)
    return pct(actual, quota)


def pace_completion_pct(
    actual: Decimal | None, expected: Decimal | None, *, ceiling: bool = False
) -> Decimal | None:
    """序时完成率 = 累计完成 ÷ 序时应达 (None while nothing is expected); for a ceiling the
    expectation is the bound itself, read as ``completion_pct`` reads it."""
    if expected is None or expected <= 0:
        return None
    return completion_pct(actual, expected, ceiling=ceiling)


def pace_pct(expected: Decimal | None, quota: Decimal | None) -> Decimal | None:
    """序时进度 = 序时应达 ÷ 任务数."""
    return pct(expected, quota)
