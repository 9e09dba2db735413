"""Ties as notices write them (issue 32): level rows share their place, 「并列第N」, and the
next place skips (1, 2, 2, 4), on the ranking page, the notice (page, PDF, xlsx), the list
export, the district page and the API.

The simulated year (seed 7, through September) has the case the issue saw: 上城区 and
拱墅区 are level in September (88.24% 正常, 4 红, 0 未按时填报 each; read once from the
stored evaluations), which used to read 「7（并列）」 and 「8（并列）」.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from rest_framework.test import APIClient

from tests.dashboard_helpers import simulated_year
from tracker.formats import place
from tracker.plans.reference import Agency, District
from tracker.reporting.notice import notice as read_notice
from tracker.reporting.ranking import AgencyRankingRow, RankingRow, place_rows
from tracker.reporting.ranking import ranking as read_ranking

pytestmark = pytest.mark.django_db
SEPT = date(2024, 9, 1)
#: September's places around the tie (seed 7, through September)
AROUND_THE_TIE = [("钱塘区", "6"), ("上城区", "并列第7"), ("拱墅区", "并列第7"), ("建德市", "9")]


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


def test_place_is_written_as_notices_write_it():
    assert place(3) == "3" and place(8, tied=True) == "并列第8" and place(None) == "—"


@pytest.mark.parametrize("kind", ["district", "agency"])
def test_level_rows_share_the_place_and_the_next_one_skips(kind):
    """Constructed: two rows level on share, 红 and 未按时填报 (a third level on the share
    only, with more 红, is not tied)."""
    figures = [  # (share, 红, 未按时填报)
        ("95", 1, 0), ("90", 2, 1), ("90", 2, 1), ("90", 3, 0), ("80", 0, 0), (None, 0, 0),
    ]  # fmt: skip
    rows = []
    for n, (share, red, missing) in enumerate(reversed(figures)):
        common = dict(
            due=10 if share else 0, on_track=0, behind=0, seriously_behind=red,
            not_reported=missing, share_pct=Decimal(share) if share else None, rank=0,
        )  # fmt: skip
        if kind == "district":
            rows.append(RankingRow(district=District(name=f"区{n}", order=n), **common))
        else:
            rows.append(AgencyRankingRow(agency=Agency(pk=n, name=f"局{n}"), **common))
    place_rows(rows, lambda r: (n,))
    assert [r.rank for r in rows] == [1, 2, 2, 4, 5, 6]
    assert [r.place for r in rows] == ["1", "并列第2", "并列第2", "4", "5", "6"]
    assert [r.tied for r in rows] == [False, True, True, False, False, False]


def test_september_tie_everywhere(year, client, tmp_path):
    rows = read_ranking(SEPT)
    shown = [(r.district.name, r.place) for r in rows]
    start = shown.index(AROUND_THE_TIE[0])
    assert shown[start : start + 4] == AROUND_THE_TIE
    tied = [r for r in rows if r.tied]
    assert [r.district.name for r in tied] == ["上城区", "拱墅区"]
    assert {r.rank for r in tied} == {7} and tied[0].tie_key == tied[1].tie_key
    assert tied[0].tie_key == (Decimal("88.24"), 4, 0)

    client.force_login(year.xihu_user)
    page = client.get("/ranking/", {"month": "2024-09"}).content.decode()
    client.force_login(year.supervisor)
    notice_page = client.get("/notice/2024-09/").content.decode()
    for html in (page, notice_page):
        assert '<td class="place tied">并列第7</td>' in html
        assert html.count("并列第7") >= 2 and "（并列）" not in html
        assert '<tr data-district="jiande"><td class="place">9</td>' in html  # 8 is skipped
        assert '<tr data-district="gongshu"><td class="place tied">并列第7</td>' in html

    card = client.get("/districts/shangcheng/", {"month": "2024-09"}).content.decode()
    assert "晾晒并列第7名" in card

    listed = load_workbook(
        io.BytesIO(client.get("/ranking/", {"month": "2024-09", "format": "xlsx"}).content)
    ).worksheets[0]
    places = {r[1]: r[0] for r in listed.iter_rows(values_only=True)}
    assert places["上城区"] == places["拱墅区"] == "并列第7" and places["建德市"] == 9

    sheet = load_workbook(io.BytesIO(client.get("/notice/2024-09/xlsx/").content)).active
    places = {r[1]: r[0] for r in sheet.iter_rows(values_only=True) if r[1]}
    assert places["上城区"] == places["拱墅区"] == "并列第7" and places["建德市"] == 9

    api = APIClient()
    api.force_authenticate(year.xihu_user)
    body = api.get("/api/v1/summary/ranking/", {"month": "2024-09"}).json()
    by_name = {r["district"]["name"]: r for r in body}
    for name in ("上城区", "拱墅区"):
        assert (by_name[name]["rank"], by_name[name]["tied"]) == (7, True)
        assert by_name[name]["rank_label"] == "并列第7"
    assert (by_name["建德市"]["rank"], by_name["建德市"]["tied"]) == (9, False)
    assert by_name["建德市"]["rank_label"] == "9"

    if shutil.which("pdftotext"):  # the PDF (poppler-utils; skipped without it)
        from tracker.reporting.notice_files import render_pdf

        path = tmp_path / "notice.pdf"
        path.write_bytes(render_pdf(read_notice(SEPT)))
        text = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        for name, shown_place in AROUND_THE_TIE:
            line = next(x for x in text.splitlines() if name in x and "%" in x)
            assert line.split()[0] == shown_place, line
