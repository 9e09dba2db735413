"""Due, everywhere: 我的待办 lists what is not yet reported first, every 待办 row and every
red or 未按时填报 cell links to 本月填报 at that cell, and the header shows the month being
reported. The simulated 2024 year (through September), time pinned to 10 October 2024:
October is being reported (September's deadline passed on 5 October), due 5 November.
"""

import csv
import io
from datetime import date

import pytest
import time_machine
from openpyxl import load_workbook

from tests.dashboard_helpers import SEPT, simulated_year
from tracker.monitoring.models import LagEvaluation
from tracker.plans.models import Indicator
from tracker.progress.due import due_cells
from tracker.progress.models import ProgressReport
from tracker.progress.writes import Entry, submit


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


@pytest.fixture(autouse=True)
def _october():
    with time_machine.travel("2024-10-10 09:00:00+08:00", tick=False):
        yield


@pytest.fixture
def seq1_indicator(year):
    return Indicator.objects.get(project=year.seq1, order=1)


def test_my_work_lists_unfiled_first_with_links(year, db, client, seq1_indicator):
    oct_cells = due_cells(date(2024, 10, 1), year.chunan_user)
    first_ind, first_dist = oct_cells[0]
    value = _value(first_ind, first_dist)
    submit(year.chunan_user, [Entry(first_ind, first_dist, "2024-10", value)])
    client.force_login(year.chunan_user)
    response = client.get("/my/", {"month": SEPT})
    html = response.content.decode()
    unfiled = response.context["unfiled"]
    assert [(u.indicator_id, u.district_id) for u in unfiled] == oct_cells[1:]  # filed one gone
    assert all(u.month.month == 10 for u in unfiled)
    assert "2024年10月，11月5日前报送" in html and "还剩 26 天" in html
    assert html.index('id="unfiled"') < html.index('id="lag"')  # unfiled first, then lag
    ind, dist = oct_cells[1]
    assert f'href="/report/2024-10/#c-{ind}-{dist}"' in html
    # every lag row links to the entry page at its cell
    rows = response.context["rows"]
    assert rows
    for e in rows:
        month = "2024-09" if e.status == "not_reported" else "2024-10"
        assert f'href="/report/{month}/#c-{e.indicator_id}-{e.district_id}"' in html
    # the header: month being reported and days left, one click to 本月填报
    assert 'id="report-link"' in html and "本月填报 · 2024年10月 · 还剩 26 天" in html


def _value(indicator_id, district_id):
    """September's figure again (a cumulative value may stay, never go down)."""
    last = (
        ProgressReport.objects.filter(indicator_id=indicator_id, district_id=district_id)
        .order_by("-month")
        .first()
    )
    return str(last.value) if last else "0"


def test_my_work_search_filter_and_export(year, db, client, seq1_indicator):
    client.force_login(year.chunan_user)
    everything = client.get("/my/", {"month": SEPT}).context
    response = client.get("/my/", {"month": SEPT, "q": "老年助餐"})
    assert 'name="q" value="老年助餐"' in response.content.decode()  # the box keeps the search
    assert {u.label for u in response.context["unfiled"]} == {seq1_indicator.label}
    assert {e.label for e in response.context["rows"]} <= {seq1_indicator.label}
    only = client.get("/my/", {"month": SEPT, "show": "unfiled"}).context
    assert only["rows"] == [] and len(only["unfiled"]) == len(everything["unfiled"])
    red = client.get("/my/", {"month": SEPT, "show": "red"}).context
    assert red["unfiled"] == [] and red["rows"]
    assert {e.status for e in red["rows"]} <= {"seriously_behind", "overdue"}

    response = client.get("/my/", {"month": SEPT, "q": "老年助餐", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0][:4] == ["类型", "月份", "序号", "指标"]
    assert lines[1][:5] == ["未填报", "2024年10月", "1", seq1_indicator.label, "淳安县"]
    assert all(line[3] == seq1_indicator.label for line in lines[1:])

    response = client.get("/my/", {"month": SEPT, "show": "red", "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    body = list(sheet.iter_rows(min_row=2, values_only=True))
    # red: the missed qualitative milestones (issue 30), then the red figures
    missed = red["missed_milestones"]
    assert len(body) == len(missed) + len(red["rows"])
    assert all(r[0] == "节点未完成" and r[4] == "淳安县" for r in body[: len(missed)])
    assert all(r[0] == "滞后" and r[4] == "淳安县" for r in body[len(missed) :])


def test_red_cells_link_to_the_entry_page_for_who_may_enter(year, db, client, seq1_indicator):
    cell = f"#c-{seq1_indicator.pk}-{year.chunan.pk}"
    client.force_login(year.agency)  # 市民政局 leads 序号1
    html = client.get("/matrix/", {"month": SEPT}).content.decode()
    assert f'href="/report/2024-10/{cell}"' in html
    client.force_login(year.supervisor)
    html = client.get("/matrix/", {"month": SEPT}).content.decode()
    assert f'href="/report/2024-10/?district=chunan{cell}"' in html
    # a green cell keeps its cell page link
    green = LagEvaluation.objects.filter(month="2024-09-01", status="on_track").first()
    assert f'href="/matrix/{green.indicator_id}/{green.district_id}/?month={SEPT}"' in html


def test_header_link_reaches_the_entry_page(year, db, client):
    client.force_login(year.chunan_user)
    html = client.get("/").content.decode()
    assert 'href="/report/"' in html
    response = client.get("/report/", follow=True)
    assert response.redirect_chain == [("/report/2024-10/", 302)]
    sheet = response.context["sheet"]
    assert {r.district for r in sheet.rows} == {year.chunan}
    assert len(sheet.rows) == len(due_cells(sheet.month, year.chunan_user))
    assert not ProgressReport.objects.filter(month="2024-10-01").exists()
