"""An issued notice is a record (issue 28): after 印发, the notice's page, PDF and xlsx are
what went out, whatever is corrected later, and say so; the live figures move on.

On the simulated year (September): issue the notice, raise one of its 挂牌督办 cells to
its quota, re-evaluate; the issued page, PDF and xlsx keep the old figures and the stamp
「此后更正不影响已印发内容」, while the live notice counts one red cell fewer.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import date

import pytest
from openpyxl import load_workbook

from tests.dashboard_helpers import SEPT, simulated_year
from tracker.formats import plain
from tracker.monitoring.checks import run_lag_check
from tracker.progress.models import ProgressReport
from tracker.progress.writes import Entry, Source, submit
from tracker.reporting.issued import NotIssuable, issue
from tracker.reporting.models import NoticeIssue
from tracker.reporting.notice import LIVE_STAMP
from tracker.reporting.notice import notice as read_notice
from tracker.reporting.notice_files import notice_workbook

SEPTEMBER = date(2024, 9, 1)
KEPT = "此后更正不影响已印发内容"


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


@pytest.fixture
def pdf_dir(settings, tmp_path):
    settings.TRACKER = {**settings.TRACKER, "NOTICE_PDF_DIR": str(tmp_path / "pdf")}


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _sheet_text(content: bytes) -> str:
    ws = load_workbook(io.BytesIO(content)).active
    return "\n".join(
        "|".join("" if v is None else str(v) for v in row) for row in ws.iter_rows(values_only=True)
    )


def _candidate_row(text: str, line) -> str:
    """The workbook row of ``line`` among the 挂牌督办 candidates."""
    return next(r for r in text.splitlines() if line.label in r and line.district.name in r)


def _pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "issued.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True)
    return out.stdout


def _raise_to_quota(year, line):
    """A correction: the cell's September figure becomes its quota, then the month is
    evaluated again (the check a write triggers)."""
    report = ProgressReport.objects.filter(
        indicator_id=line.indicator_id, district_id=line.district_id, month=SEPTEMBER
    ).first()
    entry = Entry(
        indicator_id=line.indicator_id,
        district_id=line.district_id,
        month=SEPTEMBER,
        value=plain(line.quota),
        is_correction=report is not None,
        correction_reason="核实后更正" if report is not None else "",
        expected_version=report.version if report is not None else 0,
        confirmed=True,
    )
    submit(year.supervisor, [entry], source=Source.API)
    run_lag_check(SEPTEMBER, notify=False)


def test_the_live_notice_says_it_is_live(year, db, client):
    client.force_login(year.supervisor)
    page = client.get(f"/notice/{SEPT}/").content.decode()
    assert LIVE_STAMP in page and "尚未印发" in page and KEPT not in page
    sheet = _sheet_text(client.get(f"/notice/{SEPT}/xlsx/").content)
    assert "实时数据，尚未印发" in sheet


def test_an_issued_notice_keeps_its_figures_after_a_correction(year, db, client, pdf_dir, tmp_path):
    before = read_notice(SEPTEMBER)
    line = next(x for x in before.candidates if x.actual is not None and x.actual < x.quota)
    old_actual = line.actual
    record = issue(SEPTEMBER, year.supervisor)
    assert record.issued_at is not None and record.issued_by == year.supervisor
    assert record.issued_on is not None  # 成文日期: the day it went out
    frozen = record.snapshot["context"]["notice"]
    assert frozen["seriously_behind"] == before.seriously_behind
    [kept] = [
        x
        for x in frozen["candidates"]
        if (x["indicator"]["pk"], x["district"]["pk"]) == (line.indicator_id, line.district_id)
    ]
    assert kept["actual"] == plain(old_actual) and kept["status_label"] == line.status_label

    _raise_to_quota(year, line)

    live = read_notice(SEPTEMBER)
    assert (line.indicator_id, line.district_id) not in {
        (x.indicator_id, x.district_id) for x in live.red_items
    }
    assert live.seriously_behind == before.seriously_behind - 1
    live_sheet = _sheet_text(notice_workbook(live))
    assert not any(line.label in r and line.district.name in r for r in live_sheet.splitlines())
    assert "实时数据，尚未印发" in live_sheet

    client.force_login(year.supervisor)
    page = client.get(f"/notice/{SEPT}/").content.decode()
    assert KEPT in page and "尚未印发" not in page
    assert f"严重滞后（红）{before.seriously_behind}个" in _flat(page)
    assert f'data-district="{line.district.code}" data-indicator="{line.indicator_id}"' in page

    sheet = _sheet_text(client.get(f"/notice/{SEPT}/xlsx/").content)
    assert KEPT in sheet
    actual_cell = _candidate_row(sheet, line).split("|")[7]  # 累计完成, as issued
    assert float(actual_cell) == float(line.actual_shown) < float(line.quota_shown)

    pdf = client.get(f"/notice/{SEPT}/pdf/").content
    assert pdf == bytes(NoticeIssue.objects.get(month=SEPTEMBER).pdf)
    if shutil.which("pdftotext"):
        text = _flat(_pdf_text(pdf, tmp_path))
        assert _flat(KEPT) in text
        assert f"严重滞后（红）{before.seriously_behind}个" in text

    with pytest.raises(NotIssuable, match="已于"):
        issue(SEPTEMBER, year.supervisor)  # a record is issued once


def test_a_month_without_a_check_cannot_be_issued(year, db):
    with pytest.raises(NotIssuable, match="没有进度检查结果"):
        issue(date(2024, 12, 1), year.supervisor)
    assert not NoticeIssue.objects.filter(month=date(2024, 12, 1), issued_at__isnull=False)
