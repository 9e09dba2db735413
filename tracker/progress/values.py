"""The value of a cell (indicator × district) as of a month: one rule, two forms.

The value as of month *M* is the cell's newest counted report for *M* or an earlier month
of the same plan year (a cell has at most one report a month). Counted: every filed
figure, or with ``COUNT_ONLY_REVIEWED`` only approved ones (``state.counted_reports``).

- ``value_as_of(reports, month)``: the rule on plain ``(month, value)`` pairs (pages that
  already hold a cell's reports: the entry sheet's and the admin grid's 上月);
  ``values_as_of_months`` the same for several months in one pass (the re-evaluation);
- ``series_as_of(rows, year, level=)``: every month of a year, over several cells: the
  sum (rates: the mean) of each cell's value as of that month (the trajectory);
- ``reports_as_of`` / ``latest_reports`` / ``values_as_of`` / ``latest_by_cell``: the same
  rule as queries (one cell, or many cells in one windowed statement: the lag
  evaluation, the workbooks).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Case, F, IntegerField, Value, When, Window
from django.db.models.functions import RowNumber

from tracker.progress.models import ProgressReport
from tracker.progress.state import counted_reports


def value_as_of(
    reports: Iterable[tuple[date, Decimal]], month: date
) -> tuple[Decimal, date] | None:
    """The value of a cell as of ``month``: its latest report for that month or earlier
    (``(value, month reported)``), None when there is none. ``reports`` are
    ``(month, value)`` pairs of one plan year."""
    return values_as_of_months(reports, [month]).get(month)


def values_as_of_months(reports: Iterable[tuple[date, object]], months: Iterable[date]) -> dict:
    """``value_as_of`` of one cell for each of ``months`` at once: ``{month: (value,
    month reported)}`` for the months where the cell has a value by then. ``reports``
    are ``(month, value)`` pairs of one plan year (``value`` any object). One pass over
    the reports sorted by month instead of one per month (the re-evaluation of several
    months: ``monitoring.evaluation.months_figures``)."""
    ordered = sorted(reports, key=lambda r: r[0])
    out, i, best = {}, 0, None
    for month in sorted(set(months)):
        while i < len(ordered) and ordered[i][0] <= month:
            best = (ordered[i][1], ordered[i][0])
            i += 1
        if best is not None:
            out[month] = best
    return out


def series_as_of(rows: Iterable, year: int, *, level: bool) -> dict[date, Decimal]:
    """``{month: value}`` for the months of ``year`` where a cell has a value: the sum
    (rates: the mean) over the cells of each one's ``value_as_of`` that month. ``rows``
    are ``(cell, month, value)`` — ``cell`` any key of a cell (a district id)."""
    by_cell: dict = {}
    for cell, month, value in rows:
        by_cell.setdefault(cell, []).append((month, value))
    out = {}
    for m in range(1, 13):
        month = date(year, m, 1)
        values = [f[0] for s in by_cell.values() if (f := value_as_of(s, month)) is not None]
        if values:
            total = sum(values, Decimal(0))
            out[month] = total / len(values) if level else total
    return out


def reports_as_of(month: date, as_of: datetime | None = None, *, counted: bool = True):
    """The reports for ``month`` or earlier, filed by ``as_of`` when given: what "the value
    of a cell as of ``month``" is read from (its newest month wins; a cell has at most one
    report per month, ``report_unique_cell``). ``counted``: only the figures that count
    (the evaluation, the trajectory); without it every filed figure (what the person
    entering sees as 上月 and the workbooks hand out and read back)."""
    reports = ProgressReport.objects.all()
    if counted:
        reports = counted_reports(reports)
    reports = reports.filter(month__lte=month)
    if as_of is not None:
        reports = reports.filter(created_at__lte=as_of)
    return reports


def latest_reports(indicator_ref, district_ref, month: date, as_of: datetime | None = None):
    """The one query rule for "the value of a cell as of ``month``": the reports of the
    cell for ``month`` or earlier (filed by ``as_of`` when given), newest month first.
    ``value_as_of`` is the same rule on plain data; ``latest_by_cell`` the
    same rule for many cells at once."""
    return (
        reports_as_of(month, as_of)
        .filter(indicator_id=indicator_ref, district_id=district_ref)
        .order_by("-month")
    )


def values_as_of(
    indicator_ids, district_ids, month: date, *, counted: bool = True
) -> dict[tuple[int, int], Decimal]:
    """``{(indicator_id, district_id): value}`` as of ``month`` for every cell that has a
    report by then (one windowed query, ``latest_by_cell``; ``counted`` as for
    ``reports_as_of``). An indicator belongs to one plan year and its reports never leave
    it, so no year filter is needed."""
    reports = reports_as_of(month, counted=counted).filter(
        indicator_id__in=list(indicator_ids), district_id__in=list(district_ids)
    )
    return {(i, d): v for i, d, _month, v in latest_by_cell(reports)}


def latest_by_cell(reports, *, split_at: date | None = None, extra: tuple = ()):
    """The newest report of each cell among ``reports``, in one query (a window function):
    rows ``(indicator_id, district_id, month, value, *extra)`` (``extra``: more columns or
    annotations of ``reports``). With ``split_at``, the newest of each cell up to and including that
    month is returned as well: up to two rows a cell, the newest overall being the one
    with the later month."""
    partition = [F("indicator_id"), F("district_id")]
    if split_at is not None:
        partition.append(
            Case(
                When(month__lte=split_at, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
    return (
        reports.order_by()
        .annotate(newest=Window(RowNumber(), partition_by=partition, order_by=F("month").desc()))
        .filter(newest=1)
        .values_list("indicator_id", "district_id", "month", "value", *extra)
    )
