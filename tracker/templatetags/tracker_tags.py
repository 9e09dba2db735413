"""Template filters for figures, over the one formatter (``tracker.formats``):
``{{ value|num }}`` → 「1,234.5」, ``{{ value|pct }}`` → 「61.5%」, ``{{ value|amount:indicator }}``
→ 「25 万人」 (the plan's printed units); 「—」 when there is nothing."""

from django import template

from tracker import formats as fmt
from tracker.formats import show_amount

register = template.Library()


@register.filter
def num(value, places: int = 1):
    """A figure to ``places`` decimal places (trailing zeros dropped), or 「—」 when missing."""
    return fmt.number(value, int(places))


@register.filter
def pct(value, places: int = 1):
    """A percentage: 「61.5%」, or 「—」 when missing."""
    return fmt.percent(value, int(places))


@register.filter
def versus_pace(gap_points):
    """「落后 6 个百分点」/「领先 6 个百分点」/「与序时进度持平」, or 「—」."""
    return fmt.versus_pace(gap_points)


@register.filter
def whole_pct(value):
    """A share as a whole number for the matrix; below 100 never shows 「100」."""
    return fmt.whole_percent(value)


@register.filter
def amount(value, indicator):
    """An amount of ``indicator`` in the unit the plan prints: 「25 万人」「120 个」「83%」."""
    return show_amount(indicator, value)


@register.filter
def bar_width(value):
    """A share in percent clamped to 0–100, for a CSS width."""
    if value is None or value == "":
        return 0
    return max(0, min(100, round(float(value))))


@register.filter
def person(user) -> str:
    """A user as pages name them: full name, else username; 「—」 for nobody (a deleted
    account leaves ``None`` behind ``SET_NULL``)."""
    if user is None:
        return "—"
    return user.get_full_name() or user.username
