"""The value of a cell as of a month: one home (``tracker.progress.values``). With
``COUNT_ONLY_REVIEWED`` on, what counts (the evaluation, the trajectory) leaves an
unreviewed figure out, and what the person entering sees (本月填报's 上月, the admin grid,
the 单项模板) is the figure as filed — the same answer wherever one is asked."""

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from rest_framework.test import APIClient

from tests.lag_helpers import report
from tracker.admin.progress import grid_rows
from tracker.progress.entry_sheet import entry_sheet
from tracker.progress.values import value_as_of, values_as_of, values_as_of_months
from tracker.progress.workbooks import export_template

MAY, JUNE, JULY = date(2024, 5, 1), date(2024, 6, 1), date(2024, 7, 1)


def test_the_value_as_of_a_month_is_the_latest_report_up_to_it():
    reports = [(date(2024, 3, 1), 5), (date(2024, 5, 1), 9)]
    assert value_as_of(reports, date(2024, 4, 1)) == (5, date(2024, 3, 1))
    assert value_as_of(reports, date(2024, 9, 1)) == (9, date(2024, 5, 1))
    assert value_as_of(reports, date(2024, 2, 1)) is None


def test_several_months_at_once_give_each_month_its_value_as_of_it():
    """The re-evaluation's form (one pass for many months) answers each month as
    ``value_as_of`` does, the reports in any order."""
    reports = [(date(2024, 5, 1), 9), (date(2024, 3, 1), 5), (date(2024, 8, 1), 0)]
    months = [date(2024, m, 1) for m in range(1, 13)]
    at_once = values_as_of_months(reports, months)
    for month in months:
        assert at_once.get(month) == value_as_of(reports, month), month
    assert at_once[date(2024, 7, 1)] == (9, date(2024, 5, 1))
    assert date(2024, 2, 1) not in at_once


@pytest.mark.django_db
def test_counted_and_as_filed_each_have_one_answer(personas, settings):
    p = personas
    settings.TRACKER = {**settings.TRACKER, "COUNT_ONLY_REVIEWED": True}
    report(p.indicator_a, p.district_a, "2024-05", 20)
    report(p.indicator_a, p.district_a, "2024-06", 30)  # neither approved
    cell = (p.indicator_a.pk, p.district_a.pk)

    assert values_as_of([cell[0]], [cell[1]], JUNE) == {}  # nothing counts yet
    assert values_as_of([cell[0]], [cell[1]], JUNE, counted=False) == {cell: 30}

    client = APIClient()
    client.force_authenticate(p.supervisor)
    body = client.get(f"/api/v1/indicators/{p.indicator_a.pk}/trajectory/",
                      {"district": p.district_a.pk}).json()  # fmt: skip
    assert {pt["month"]: pt["actual"] for pt in body["points"]}["2024-06"] is None

    sheet = entry_sheet(p.supervisor, JULY, district_ids=[p.district_a.pk])
    [row] = [r for r in sheet.rows if r.indicator.pk == cell[0]]
    assert (row.previous, row.previous_month) == (30, JUNE)
    [grid] = [g for g in grid_rows(p.supervisor, p.indicator_a, JULY, None, {})
              if g.district.pk == cell[1]]  # fmt: skip
    assert (grid.previous, grid.previous_month) == (30, JUNE)
    template = load_workbook(io.BytesIO(export_template(p.supervisor, p.indicator_a, JULY)))
    previous = {r[0].value: r[3].value for r in template["填报"].iter_rows(min_row=4)}
    assert previous["shangcheng"] == 30  # was blank: the template read the counted value
