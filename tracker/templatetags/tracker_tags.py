"""Template filters for figures and dates, over the one formatter (``tracker.formats``) and
the one set of month labels (``tracker.months``): ``{{ value|num }}`` → 「1,234.5」,
``{{ value|pct }}`` → 「61.5%」, ``{{ value|amount:indicator }}`` → 「25 万人」 (the plan's
printed units), ``{{ month|month_end_label }}`` → 「2024年9月底」; 「—」 or "" when there is
nothing."""

from django import template

from tracker import formats as fmt
from tracker import months
from tracker.formats import show_amount, show_bound

register = template.Library()


@register.filter
def num(value, places: int = 1):
    """A figure to ``places`` decimal places (trailing zeros dropped), or 「—」 when missing."""
    return fmt.number(value, int(places))


@register.filter
def plain(value):
    """Machine text for a form field to send back: 「1234.5」, never 「1,234.5」 or 「1E+3」."""
    return fmt.plain(value)


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
def bound(value, indicator):
    """A quota of ``indicator`` as a bound: 「≤4.3%」 for a ceiling target, else ``amount``."""
    return show_bound(indicator, value)


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


def _dated(label):
    def filter_(value):
        return label(value) if value else ""

    filter_.__doc__ = label.__doc__
    return filter_


for _label in (
    months.month_label,
    months.month_end_label,
    months.short_month_label,
    months.short_month_end_label,
    months.date_label,
    months.short_date_label,
):
    register.filter(_label.__name__, _dated(_label))
