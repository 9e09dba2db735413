"""Lists people can work with (issue 14): the matrix, ranking and district pages take a
search and filters, export exactly what they show (xlsx and csv), keep the filters when
the month changes, and the matrix cells say their numbers on hover."""

import csv
import html as htmllib
import io
import re

import pytest
from openpyxl import load_workbook

from tests.dashboard_helpers import SEPT, simulated_year
from tracker.choices import LagStatus
from tracker.formats import percent, show_amount
from tracker.monitoring.models import LagEvaluation
from tracker.plans.models import Indicator

pytestmark = pytest.mark.django_db
S = LagStatus


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


def xlsx_rows(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def csv_rows(response):
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_matrix_filtered_to_a_district_and_status_exports_what_it_shows(
    year, client, django_assert_max_num_queries
):
    client.force_login(year.supervisor)
    params = {"month": SEPT, "district": "chunan", "status": S.SERIOUSLY_BEHIND}
    # +1: the header's month being reported; +1: 督查室's count of deliveries to resend;
    # +1: the missed milestones' 挂牌督办 as of the month (issue 32)
    with django_assert_max_num_queries(13):
        page = client.get("/matrix/", params)
    m = page.context["matrix"]
    assert [d.name for d in m.districts] == ["淳安县"]
    red = LagEvaluation.objects.filter(
        month="2024-09-01", district=year.chunan, status=S.SERIOUSLY_BEHIND
    )
    assert len(m.rows) == red.count() > 0
    assert all(r.cells[0].status == S.SERIOUSLY_BEHIND for r in m.rows)

    rows = xlsx_rows(client.get("/matrix/", {**params, "format": "xlsx"}))
    assert rows[0] == ["序号", "指标", "淳安县"]
    assert [r[1] for r in rows[1:]] == [r.indicator.label for r in m.rows]
    assert all(r[2].endswith("（严重滞后（红））") for r in rows[1:])
    shown = re.findall(r'<td class="cell[^"]*"[^>]*><a [^>]*>([^<]*)</a>', page.content.decode())
    assert [r[2].split("%")[0] for r in rows[1:]] == shown  # the grid's numbers


def test_matrix_search_and_csv(year, client, django_assert_max_num_queries):
    client.force_login(year.supervisor)
    # +1: the header's month being reported; +1: 督查室's count of deliveries to resend;
    # +1: the missed milestones' 挂牌督办 as of the month (issue 32)
    with django_assert_max_num_queries(14):
        page = client.get("/matrix/", {"month": SEPT, "q": "助餐"})
    labels = [r.indicator.label for r in page.context["matrix"].rows]
    assert labels and all("助餐" in f"{lb}{year.seq1.name}" for lb in labels)
    everything = client.get("/matrix/", {"month": SEPT}).context["matrix"]
    assert len(labels) < len(everything.rows)
    rows = csv_rows(client.get("/matrix/", {"month": SEPT, "q": "助餐", "format": "csv"}))
    assert rows[0][:2] == ["序号", "指标"] and len(rows[0]) == 2 + len(everything.districts)
    assert [r[1] for r in rows[1:]] == labels
    # the lead agency's name finds its indicators too
    agency = client.get("/matrix/", {"month": SEPT, "q": year.seq1.lead_agency.name})
    assert year.seq1.pk in {r.indicator.project_id for r in agency.context["matrix"].rows}


def test_the_month_picker_keeps_the_filters(year, client):
    client.force_login(year.supervisor)
    html = client.get("/matrix/", {"month": SEPT, "district": "chunan", "q": "助餐"}).content
    picker = re.search(r'<form method="get" class="month-picker">.*?</form>', html.decode(), re.S)
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', picker[0]))
    assert hidden == {"district": "chunan", "q": "助餐"}  # the month comes from the select
    august = client.get("/matrix/", {"month": "2024-08", **hidden})
    assert [d.code for d in august.context["matrix"].districts] == ["chunan"]


def test_matrix_cells_show_their_numbers_on_hover(year, client):
    client.force_login(year.supervisor)
    html = client.get("/matrix/", {"month": SEPT, "district": "chunan"}).content.decode()
    indicator = Indicator.objects.filter(project=year.seq1).first()
    e = LagEvaluation.objects.get(month="2024-09-01", district=year.chunan, indicator=indicator)
    row = re.search(rf'<tr data-indicator="{indicator.pk}">.*?</tr>', html, re.S)[0]
    title = htmllib.unescape(re.search(r'<td class="cell[^"]*"[^>]*title="([^"]*)"', row)[1])
    assert title == (
        f"{e.get_status_display()}：累计完成 {show_amount(indicator, e.actual)} / "
        f"任务数 {show_amount(indicator, e.quota)}；序时应达 {show_amount(indicator, e.expected)}；"
        f"完成率 {percent(e.completion_pct)}"
    )


def test_ranking_search_and_export(year, client):
    client.force_login(year.supervisor)
    page = client.get("/ranking/", {"month": SEPT, "q": "县"})
    names = [r.district.name for r in page.context["rows"]]
    assert sorted(names) == ["桐庐县", "淳安县"]
    rows = xlsx_rows(client.get("/ranking/", {"month": SEPT, "q": "县", "format": "xlsx"}))
    assert rows[0][:3] == ["排名", "区、县(市)", "正常占比"]
    assert [r[1] for r in rows[1:]] == names
    first = page.context["rows"][0]
    assert rows[1][2] == percent(first.share_pct) and rows[1][3] == first.due


def test_district_page_filters_by_status_and_exports(year, client):
    client.force_login(year.chunan_user)
    params = {"month": SEPT, "status": S.SERIOUSLY_BEHIND}
    page = client.get("/districts/chunan/", params)
    lines = page.context["lines"]
    assert lines and all(e.status == S.SERIOUSLY_BEHIND for e in lines)
    one = client.get("/districts/chunan/", {"month": SEPT, "project": 1}).context["lines"]
    assert one and {e.project_seq for e in one} == {1}
    assert len(page.context["card"]) > len(lines)  # the KPIs still count the whole month
    rows = csv_rows(client.get("/districts/chunan/", {**params, "format": "csv"}))
    assert rows[0][:3] == ["序号", "指标", "牵头单位"] and len(rows) == len(lines) + 1
    assert {r[9] for r in rows[1:]} == {"严重滞后（红）"}
    assert rows[1][3] == lines[0].show(lines[0].quota)
    # another district's page stays closed to 淳安县
    assert client.get("/districts/xihu/", {**params, "format": "csv"}).status_code == 404


def test_a_label_that_looks_like_a_formula_is_exported_as_text():
    from tracker.reporting.list_files import Table, csv_bytes, workbook

    table = Table("t", ("指标",), [['=HYPERLINK("http://x")'], ["正常"]])
    sheet = load_workbook(io.BytesIO(workbook([table]))).worksheets[0]
    assert sheet["A2"].value == '\'=HYPERLINK("http://x")' and sheet["A2"].data_type == "s"
    assert csv_bytes(table).decode("utf-8").splitlines()[1] == '"\'=HYPERLINK(""http://x"")"'
