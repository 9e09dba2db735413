"""Formatting of decimal amounts for people and CSV files."""

from decimal import Decimal


def plain(value: Decimal | None) -> str:
    """``Decimal('60000.0000')`` → ``'60000'``, ``Decimal('113.5000')`` → ``'113.5'``."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return text
