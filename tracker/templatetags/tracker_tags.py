"""Template filters for figures: ``{{ value|num }}`` → 「1,234.5」 or 「—」 for nothing."""

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def num(value, places: int = 1):
    """A figure to one decimal place (trailing zeros dropped), or 「—」 when missing."""
    if value is None or value == "":
        return "—"
    d = Decimal(str(value)).quantize(Decimal(1).scaleb(-int(places)))
    text = f"{d:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
