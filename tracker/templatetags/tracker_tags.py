"""Template filters for figures: ``{{ value|num }}`` → 「1,234.5」, ``{{ value|pct }}`` →
「61.5%」, both 「—」 when there is nothing (used by the dashboard templates)."""

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def num(value, places: int = 1):
    """A figure to ``places`` decimal places (trailing zeros dropped), or 「—」 when missing."""
    if value is None or value == "":
        return "—"
    d = Decimal(str(value)).quantize(Decimal(1).scaleb(-int(places)))
    text = f"{d:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def pct(value, places: int = 1):
    """A percentage: 「61.5%」, or 「—」 when missing."""
    text = num(value, places)
    return text if text == "—" else f"{text}%"


@register.filter
def bar_width(value):
    """A share in percent clamped to 0–100, for a CSS width."""
    if value is None or value == "":
        return 0
    return max(0, min(100, round(float(value))))
