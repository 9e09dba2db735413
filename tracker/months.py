"""Months: arithmetic, and the one way each kind of month or day label is written.

A *month* is represented by the date of its first day (``date(2024, 6, 1)``);
``month_end`` gives the last day, which is what the plan's 「6月底」 means.
"""

import calendar
import re
from datetime import date

MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$")


def first_of_month(value: date) -> date:
    return value.replace(day=1)


def month_end(value: date) -> date:
    return value.replace(day=calendar.monthrange(value.year, value.month)[1])


def add_months(value: date, months: int) -> date:
    index = value.year * 12 + value.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def clamp_to_year(month: date, year: int) -> date:
    """``month`` brought inside ``year``: January before it, December after it."""
    return min(max(month, date(year, 1, 1)), date(year, 12, 1))


def parse_month(text: str) -> date:
    """Parse ``YYYY-MM`` into the first day of that month; raise ValueError in Chinese."""
    match = MONTH_RE.match(str(text).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"月份格式应为 YYYY-MM，例如 2024-06，收到「{text}」")
    return date(int(match.group(1)), int(match.group(2)), 1)


def format_month(value: date) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def months_of_year(year: int) -> list[date]:
    return [date(year, m, 1) for m in range(1, 13)]


def month_label(value: date) -> str:
    """「2024年9月」: how people write a month (pages, exports, messages)."""
    return f"{value.year}年{value.month}月"


def month_end_label(value: date) -> str:
    """「2024年9月底」: a cumulative figure's as-of point (截至…月底)."""
    return f"{month_label(value)}底"


def short_month_label(value: date) -> str:
    """「9月」: a month inside a year already named (chart axes, lists of one year)."""
    return f"{value.month}月"


def short_month_end_label(value: date) -> str:
    """「9月底」: a month end inside a year already named (milestones, deadlines)."""
    return f"{value.month}月底"


def date_label(value: date) -> str:
    """「2024年9月30日」: a day (成文日期, 计划追赶完成时间)."""
    return f"{value.year}年{value.month}月{value.day}日"


def short_date_label(value: date) -> str:
    """「9月30日」: a day inside a year already named."""
    return f"{value.month}月{value.day}日"


def moment_label(value, *, year: bool = False) -> str:
    """「12月5日 10:32」: a moment inside a year already named; with ``year``
    「2024年12月5日 10:32」 (印发时间). Pass it in local time."""
    day = date_label(value) if year else short_date_label(value)
    return f"{day} {value.hour:02d}:{value.minute:02d}"
