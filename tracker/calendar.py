"""The reporting calendar: which month is being reported, by when, and which months a user
may still enter. One home for it — the entry pages, 我的待办, the dashboard header, the
reminders, completeness and the lag check all ask here.

- A report for month M is due by the ``REPORTING_DEADLINE_DAY`` (default 5) of month M+1,
  end of day, Asia/Shanghai (``reporting_deadline``). After that a missing report is
  未按时填报.
- The **month being reported** at a moment is the earliest month whose deadline has not
  passed yet: on 3 December, November (due 5 December); on 23 November, November too
  (October's deadline passed on the 5th). For a plan it is clamped to the plan's year: a
  2024 plan in March 2026 is at 2024年12月 (its deadline long passed), and before the year
  starts it is at January.
- The **months a user may enter** for a plan are its months up to the month being
  reported, oldest first (a future month is never offered); locked months are the review
  service's business, not the calendar's.
- The **current plan** (the plan whose year holds the month being reported) is
  ``tracker.plans.selection.current_plan``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from tracker import conf
from tracker.months import add_months, clamp_to_year, first_of_month, month_label, short_date_label

__all__ = [
    "days_left",
    "deadline_label",
    "due_month",
    "enterable_months",
    "reporting_deadline",
    "reporting_month",
]


def reporting_deadline(month: date) -> datetime:
    """The last moment a report for ``month`` is on time: end of the deadline day, local."""
    day = conf.REPORTING_DEADLINE_DAY
    next_month = add_months(first_of_month(month), 1)
    end = datetime.combine(next_month.replace(day=day) + timedelta(days=1), time.min)
    return timezone.make_aware(end) - timedelta(microseconds=1)


def due_month(now: datetime | None = None) -> date:
    """The latest month whose reporting deadline has passed at ``now`` (the month to check)."""
    now = timezone.localtime(now or timezone.now())
    month = add_months(first_of_month(now.date()), -1)
    return month if now > reporting_deadline(month) else add_months(month, -1)


def reporting_month(plan=None, now: datetime | None = None) -> date:
    """The month being reported at ``now``; with a plan, clamped to the plan's year."""
    month = add_months(due_month(now), 1)
    return month if plan is None else clamp_to_year(month, plan.year)


def days_left(month: date, now: datetime | None = None) -> int:
    """Whole days from ``now``'s date to ``month``'s deadline day: 0 on the day itself,
    negative once it has passed."""
    today = timezone.localtime(now or timezone.now()).date()
    return (timezone.localtime(reporting_deadline(month)).date() - today).days


def deadline_label(month: date) -> str:
    """「2024年11月，12月5日前报送」: the month and its deadline, as the pages print it."""
    deadline = timezone.localtime(reporting_deadline(month)).date()
    year = f"{deadline.year}年" if deadline.year != month.year else ""
    return f"{month_label(month)}，{year}{short_date_label(deadline)}前报送"


def enterable_months(plan, now: datetime | None = None) -> list[date]:
    """The plan's months a user may still enter at ``now``: January up to the month being
    reported (locks aside), oldest first."""
    last = reporting_month(plan, now)
    return [date(plan.year, m, 1) for m in range(1, last.month + 1)]
