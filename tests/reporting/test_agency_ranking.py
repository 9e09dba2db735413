"""部门晾晒 and one 未报 (issue 32) on the simulated 2024 year (seed 7, through December).

The expected rows below were derived once from the stored evaluations, by hand:
``LagEvaluation.objects.filter(month=...).values_list("indicator__project__lead_agency__name",
"status").annotate(n=Count("pk"))`` for November and December, then the rule
(docs/status-rules.md, 部门晾晒): share of due cells 正常, then fewer 红 (严重滞后 and 逾期未完成),
then fewer 未按时填报; level rows share their place. December, for example:
市文化广电旅游局 and 市生态环境局 are 12 正常 + 1 逾期未完成 each (12/13 = 92.31%), level,
so both are 「并列第1」 and 市供销社 (7/8 = 87.50%) is 3; in November they were level too
(12 正常 + 1 红 each) at 并列第2, behind one agency, so they moved up one place.
``test_rows_are_the_stored_evaluations`` re-derives every agency's counts from that query.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Count
from openpyxl import load_workbook
from rest_framework.test import APIClient

from tests.dashboard_helpers import simulated_year
from tracker.choices import RED_STATUSES, LagStatus
from tracker.formats import percent
from tracker.monitoring.models import LagEvaluation
from tracker.plans.reference import Agency
from tracker.reporting.notice import notice as read_notice
from tracker.reporting.ranking import agency_ranking

S = LagStatus
SEPT, NOV, DEC = date(2024, 9, 1), date(2024, 11, 1), date(2024, 12, 1)
pytestmark = pytest.mark.django_db

#: name: (place, rank, tied, due, 正常, 黄, 红, 未按时填报, 正常占比, last month's rank,
#: change, projects, of which 红 (all 逾期未完成 in December))
DECEMBER = {
    "市文化广电旅游局": ("并列第1", 1, True, 13, 12, 0, 1, 0, "92.31", 2, 1, 1, 1),
    "市生态环境局": ("并列第1", 1, True, 13, 12, 0, 1, 0, "92.31", 2, 1, 1, 1),
    "市供销社": ("3", 3, False, 8, 7, 0, 1, 0, "87.50", 4, 1, 1, 1),
    "市卫生健康委员会": ("8", 8, False, 106, 83, 0, 23, 0, "78.30", 6, -2, 6, 6),
    "市医疗保障局": ("19", 19, False, 36, 21, 0, 15, 0, "58.33", 12, -7, 3, 3),
}
#: 未报 (no report for the month, its deadline passed): the completeness page's and the
#: notice's one number. Derived once from ``progress.due.filing_states``.
MISSING = {SEPT: 6, DEC: 10}


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data, through=DEC)


def _row_tuple(r) -> tuple:
    return (
        r.place, r.rank, r.tied, r.due, r.on_track, r.behind, r.seriously_behind,
        r.not_reported, str(r.share_pct), r.previous_rank, r.change, r.project_total,
        r.projects["seriously_behind"] + r.projects["overdue"],
    )  # fmt: skip


def test_december_agencies_exactly(year):
    rows = agency_ranking(DEC)
    assert len(rows) == 19  # every lead agency of the 2024 plan has numeric targets
    by_name = {r.agency.name: r for r in rows}
    for name, expected in DECEMBER.items():
        assert _row_tuple(by_name[name]) == expected, name
    # the tie: a shared place, the next one skipped
    assert [r.place for r in rows[:3]] == ["并列第1", "并列第1", "3"]
    assert {r.agency.name for r in rows[:2]} == {"市文化广电旅游局", "市生态环境局"}
    assert rows[0].projects_text == "红 1"
    assert rows[-1].agency.name == "市医疗保障局" and rows[-1].place == "19"


def test_rows_are_the_stored_evaluations(year):
    """Every agency's counts are its projects' stored cells, and the places follow the
    rule: 1 + the number of agencies strictly ahead."""
    for month in (NOV, DEC):
        tally = defaultdict(Counter)
        for agency, status, n in (
            LagEvaluation.objects.filter(month=month)
            .values_list("indicator__project__lead_agency", "status")
            .annotate(n=Count("pk"))
            .order_by()
        ):
            tally[agency][status] += n
        rows = agency_ranking(month)
        assert {r.agency.pk for r in rows} == set(tally)
        for r in rows:
            c = tally[r.agency.pk]
            assert r.due == sum(n for s, n in c.items() if s != S.NOT_DUE)
            assert r.on_track == c[S.ON_TRACK] and r.behind == c[S.BEHIND]
            assert r.seriously_behind == sum(c[s] for s in RED_STATUSES)
            assert r.not_reported == c[S.NOT_REPORTED]
            ahead = [x for x in rows if _better(x, r)]
            assert r.rank == len(ahead) + 1
            assert r.tied == any(x is not r and x.tie_key == r.tie_key for x in rows)


def _better(a, b) -> bool:
    def key(r):
        return (r.share_pct is None, -(r.share_pct or 0), r.seriously_behind, r.not_reported)

    return key(a) < key(b)


def test_page_notice_api_and_xlsx_show_the_same_numbers(
    year, client, django_assert_max_num_queries
):
    pks = dict(Agency.objects.filter(name__in=DECEMBER).values_list("name", "pk"))
    client.force_login(year.chunan_user)  # published to every district
    # +1: the overview's missed milestones read 挂牌督办 as of the month (supervision)
    with django_assert_max_num_queries(17):
        page = client.get("/ranking/", {"month": "2024-12"}).content.decode()
    client.force_login(year.supervisor)
    notice_html = client.get("/notice/2024-12/").content.decode()
    for html in (page, notice_html):
        assert "部门晾晒" in html
        for name, e in DECEMBER.items():
            cells = _html_row(html, f'data-agency="{pks[name]}"')
            assert cells[:2] == [e[0], name]
            assert cells[2] == percent(Decimal(e[8]))  # 「92.3%」: pages print one place
            assert cells[3:8] == [str(x) for x in e[3:8]]
            assert cells[8] == str(e[11])
            assert cells[10] == (f"↑{e[10]}" if e[10] > 0 else f"↓{-e[10]}")

    api = APIClient()
    api.force_authenticate(year.chunan_user)
    with django_assert_max_num_queries(12):
        body = api.get("/api/v1/summary/agency-ranking/", {"month": "2024-12"}).json()
    by_name = {r["agency"]["name"]: r for r in body}
    for name, e in DECEMBER.items():
        r = by_name[name]
        got = (
            r["rank_label"], r["rank"], r["tied"], r["due"], r["on_track"], r["behind"],
            r["seriously_behind"], r["not_reported"], str(Decimal(r["share_pct"]).quantize(
                Decimal("0.01"))), r["previous_rank"],
            r["change"], r["project_total"],
            r["projects"]["seriously_behind"] + r["projects"]["overdue"],
        )  # fmt: skip
        assert got == e, name

    sheet = load_workbook(io.BytesIO(client.get("/notice/2024-12/xlsx/").content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(rows) if r[0] == "（二）部门晾晒（牵头单位排名）")
    table = {r[1]: r for r in rows[start + 2 : start + 21]}
    for name, e in DECEMBER.items():
        r = table[name]
        assert (r[0], r[2], *r[3:8], r[8], r[9], r[10]) == (
            e[0] if e[2] else e[1], float(Decimal(e[8])), *e[3:8], e[9], e[10], e[11],
        )  # fmt: skip


def _html_row(html: str, marker: str) -> list[str]:
    """The texts of the table cells of the row carrying ``marker``."""
    row = html[html.index(marker) : html.index("</tr>", html.index(marker))]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in cells]


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils 未安装")
def test_the_pdf_carries_the_agency_ranking(year, tmp_path):
    from tracker.reporting.notice_files import render_pdf

    path = tmp_path / "notice.pdf"
    path.write_bytes(render_pdf(read_notice(DEC)))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "部门晾晒" in text
    for name, e in DECEMBER.items():
        line = next(x for x in text.splitlines() if name in x and "%" in x)
        assert line.split()[0] == e[0] and percent(Decimal(e[8])) in line, line


@pytest.mark.parametrize("month", [DEC, SEPT])
def test_completeness_and_the_notice_agree_on_missing(year, client, month):
    """One 未报: the completeness page's total (督查室) is the notice's, for December (where
    the deadline rule leaves no cell with the status 未按时填报, the old disagreement) and
    for a past month."""
    text = month.strftime("%Y-%m")
    client.force_login(year.supervisor)
    page = client.get("/completeness/", {"month": text, "year": 2024})
    assert page.status_code == 200
    total = page.context["data"].total
    notice = read_notice(month)
    assert total.missing == notice.filing.missing == MISSING[month]
    assert (total.expected, total.filed, total.late) == (
        notice.filing.expected, notice.filing.filed, notice.filing.late,
    )  # fmt: skip
    notice_html = client.get(f"/notice/{text}/").content.decode()
    assert f"未报 {MISSING[month]} 个" in notice_html
    assert "与「填报完整性」页口径相同" in notice_html
    assert "口径" in page.content.decode() and "月度通报" in page.content.decode()
    api = client.get("/api/v1/completeness/", {"month": text, "year": 2024}).json()
    assert api["total"]["missing"] == MISSING[month]
    stored = LagEvaluation.objects.filter(month=month, status=S.NOT_REPORTED).count()
    if month == DEC:
        assert stored == 0  # why the notice used to say 0
