"""Completeness and timeliness (issue 14): the simulated 2024 year (seed 2024) gives exact
figures — 建德市 files April and July after the deadline, a few random cells skip a
month — and the page, its workbook and the API show the same numbers."""

import io
import re
from collections import Counter
from datetime import date

import pytest
from openpyxl import load_workbook

from tests.dashboard_helpers import simulated_year
from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.demo.simulation import LATE_MONTHS, LATE_REPORTER
from tracker.plans.reference import District
from tracker.progress.due import FilingState, filing_states
from tracker.progress.models import ProgressReport
from tracker.reporting.completeness import completeness

pytestmark = pytest.mark.django_db
YEAR = [date(2024, m, 1) for m in range(1, 13)]


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(
        django_db_blocker, plan_2024_data, seed=2024, through=date(2024, 12, 1)
    )


def api(client, user, **params):
    client.force_login(user)
    response = client.get("/api/v1/completeness/", params)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def row(rows, name):
    return next(r for r in rows if r["name"] == name)


def test_jiande_is_late_in_april_and_july_and_never_missing(year, client):
    body = api(client, year.supervisor, view="year", year=2024)
    assert body["months"] == [f"2024-{m:02d}" for m in range(1, 13)]
    jiande = row(body["districts"], LATE_REPORTER)
    assert LATE_MONTHS == (4, 7)
    for n, cell in enumerate(jiande["months"], start=1):
        assert cell["expected"] > 0 and cell["missing"] == 0 and cell["pending"] == 0
        if n in (4, 7):
            assert cell["late"] == cell["filed"] == cell["expected"] and cell["on_time"] == 0
            assert cell["on_time_rate"] == "0" and cell["filed_rate"] == "100"
        else:
            assert cell["late"] == 0 and cell["on_time"] == cell["expected"]
    others = [r for r in body["districts"] if r["name"] != LATE_REPORTER]
    assert all(c["late"] == 0 for r in others for c in r["months"])  # only 建德市 is late
    late_by_month = {m["month"]: m["late"] for m in body["by_month"]}
    assert late_by_month["2024-04"] == jiande["months"][3]["expected"]
    assert late_by_month["2024-07"] == jiande["months"][6]["expected"]


def test_the_randomly_skipped_cells_are_missing(year, client):
    body = api(client, year.supervisor, view="year", year=2024)
    total = body["total"]
    # every simulated report is an expected cell, so 已报 is the number of reports ...
    assert total["filed"] == ProgressReport.objects.filter(month__year=2024).count()
    assert total["expected"] == total["filed"] + total["missing"] and total["pending"] == 0
    # ... and each missing cell is a month skipped by a cell that reports other months
    states = filing_states(YEAR)
    missing = [k for k, s in states.items() if s == FilingState.MISSING]
    assert len(missing) == total["missing"] > 0
    filed = set(ProgressReport.objects.values_list("indicator_id", "district_id", "month"))
    months_of = Counter((i, d) for i, d, _ in filed)
    for ind, dist, month in missing:
        assert (ind, dist, month) not in filed and months_of[(ind, dist)] >= 1
    assert total["missing"] < total["expected"] * 0.02  # about 1% of cells skip a month
    per_district = Counter(d for _, d, _ in missing)
    for r in body["districts"]:
        assert r["total"]["missing"] == per_district[r["id"]]


def _page_table(html, table_id):
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S).group(0)
    out = {}
    for key, cells in re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', table, re.S):
        out[key] = dict(re.findall(r'data-col="(\w+)">([^<]*)<', cells))
    return out


def test_page_workbook_and_api_agree(year, client, django_assert_max_num_queries):
    client.force_login(year.supervisor)
    with django_assert_max_num_queries(20):
        page = client.get("/completeness/", {"month": "2024-04"})
    html = page.content.decode()
    assert page.status_code == 200 and "填报完整性与及时性" in html
    body = api(client, year.supervisor, month="2024-04")
    assert body["months"] == ["2024-04"]
    shown = _page_table(html, "districts")
    codes = dict(District.objects.values_list("code", "name"))
    for code, cols in shown.items():
        want = body["total"] if code == "total" else row(body["districts"], codes[code])
        want = want.get("total", want)
        for col in ("expected", "filed", "on_time", "late", "missing", "pending"):
            assert int(cols[col]) == want[col], (code, col)
        assert cols["filed_rate"] == f"{float(want['filed_rate']):g}%"
    jiande = next(c for k, c in shown.items() if k != "total" and codes[k] == LATE_REPORTER)
    assert jiande["on_time"] == "0" and jiande["late"] == jiande["expected"]
    assert len(_page_table(html, "agencies")) == len(body["agencies"])

    xlsx = client.get("/completeness/", {"month": "2024-04", "format": "xlsx"})
    wb = load_workbook(io.BytesIO(xlsx.content))
    sheet = wb.worksheets[0]
    rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows[LATE_REPORTER][1:6] == tuple(
        row(body["districts"], LATE_REPORTER)["total"][k]
        for k in ("expected", "filed", "on_time", "late", "missing")
    )
    assert rows["合计"][1] == body["total"]["expected"]


def test_year_view_grid_and_workbook(year, client, django_assert_max_num_queries):
    client.force_login(year.supervisor)
    with django_assert_max_num_queries(40):
        html = client.get("/completeness/", {"view": "year", "year": "2024"}).content.decode()
    body = api(client, year.supervisor, view="year", year=2024)
    jiande = row(body["districts"], LATE_REPORTER)
    april = jiande["months"][3]
    grid = re.search(r'id="district-grid".*?</table>', html, re.S).group(0)
    line = re.search(rf"<th class=\"sticky\">{LATE_REPORTER}</th>(.*?)</tr>", grid, re.S).group(1)
    assert f"{april['filed']}/{april['expected']}<small>·逾{april['late']}</small>" in line

    xlsx = client.get("/completeness/", {"view": "year", "year": "2024", "format": "xlsx"})
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert [ws.title for ws in wb.worksheets] == ["区、县(市)×月份", "牵头单位×月份", "明细"]
    grid_rows = {r[0]: r for r in wb.worksheets[0].iter_rows(min_row=2, values_only=True)}
    want = f"{april['filed']}/{april['expected']}（逾期 {april['late']}）"
    assert grid_rows[LATE_REPORTER][4] == want


def test_scoped_a_district_sees_its_row_an_agency_its_projects(year, client):
    chunan = api(client, year.chunan_user, view="year", year=2024)
    assert [r["name"] for r in chunan["districts"]] == ["淳安县"]
    city = api(client, year.supervisor, view="year", year=2024)
    assert chunan["districts"][0] == row(city["districts"], "淳安县")
    assert chunan["total"] == row(city["districts"], "淳安县")["total"]

    agency = api(client, year.agency, view="year", year=2024)
    assert [r["name"] for r in agency["agencies"]] == [year.seq1.lead_agency.name]
    assert agency["agencies"][0] == row(city["agencies"], year.seq1.lead_agency.name)
    assert sum(r["total"]["expected"] for r in agency["districts"]) == agency["total"]["expected"]
    assert agency["total"]["expected"] < city["total"]["expected"]

    client.force_login(year.outsider)
    assert client.get("/api/v1/completeness/").status_code == 403
    assert client.get("/completeness/").status_code == 403


def test_a_month_outside_the_plan_is_refused_in_chinese(year, client):
    client.force_login(year.supervisor)
    response = client.get("/api/v1/completeness/", {"month": "2025-01", "year": "2024"})
    assert response.status_code == 404 and "2025年没有民生实事计划" in response.json()["detail"]
    page = client.get("/completeness/", {"month": "2024-13"})
    assert page.status_code == 404


def test_the_schema_documents_the_endpoint(year, client):
    client.force_login(year.supervisor)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    op = schema["paths"]["/api/v1/completeness/"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"month", "view", "year"}


def test_a_jiande_user_sees_its_late_july(year):
    jiande = District.objects.get(name=LATE_REPORTER)
    user = make_user("jd", Role.DISTRICT, district=jiande)
    data = completeness([date(2024, 7, 1)], user)
    assert [r.name for r in data.districts] == [LATE_REPORTER]
    assert data.total.late == data.total.expected > 0 and data.total.on_time_rate == 0


def test_every_cell_of_the_year_grid_is_the_apis(year, client, django_assert_max_num_queries):
    client.force_login(year.supervisor)
    html = client.get("/completeness/", {"view": "year", "year": "2024"}).content.decode()
    with django_assert_max_num_queries(25):
        body = api(client, year.supervisor, view="year", year=2024)
    for table_id, rows in (("district-grid", body["districts"]), ("agency-grid", body["agencies"])):
        grid = re.search(rf'id="{table_id}".*?</table>', html, re.S).group(0)
        shown = re.findall(
            r'<tr data-key="[^"]+"><th class="sticky">([^<]+)</th>(.*?)</tr>', grid, re.S
        )
        assert [name for name, _ in shown] == [r["name"] for r in rows]
        for (_name, cells), r in zip(shown, rows, strict=True):
            shown_cells = re.findall(r"<td[^>]*>(?:(\d+)/(\d+)|—)", cells)
            want = [(c["filed"], c["expected"]) for c in r["months"]] + [
                (r["total"]["filed"], r["total"]["expected"])
            ]
            assert [(int(a or 0), int(b or 0)) for a, b in shown_cells] == want


def test_a_district_user_sees_its_own_row_on_the_page(year, client):
    client.force_login(year.chunan_user)
    html = client.get("/completeness/", {"month": "2024-07"}).content.decode()
    rows = _page_table(html, "districts")
    assert set(rows) == {"chunan", "total"} and rows["chunan"] == rows["total"]
