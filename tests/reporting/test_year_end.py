"""The simulated 2024 year through December: one rule for a cell's status everywhere.

The year is simulated once for the module (``tests.dashboard_helpers``), through December,
so the months after 预计完成时间 exist: 序号1 is due 「11月底」, 序号41 in May, 序号34 in
October. Checked here: 临安区 序号1 in November and December, no cell past its deadline
with the target unmet shown 正常 or 黄 (through the API, month by month), and a
cross-check of every cell and month: stored evaluation = matrix = API scorecard = notice.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.dashboard_helpers import simulated_year
from tracker.choices import RED_STATUSES, LagStatus
from tracker.monitoring.models import LagEvaluation
from tracker.months import format_month, months_of_year
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.reporting.matrix import matrix as read_matrix
from tracker.reporting.models import NoticeIssue
from tracker.reporting.notice import notice as read_notice
from tracker.reporting.ranking import ranking as read_ranking
from tracker.reporting.scorecard import district_scorecard

S = LagStatus
NOV, DEC = date(2024, 11, 1), date(2024, 12, 1)
MONTHS = months_of_year(2024)


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data, through=DEC)


@pytest.fixture(scope="module")
def api_cards(year, django_db_blocker):
    """Every district's API scorecard for every month: {(month, code): json}."""
    client = APIClient()
    client.force_authenticate(year.supervisor)
    cards = {}
    with django_db_blocker.unblock():
        for district in District.objects.order_by("order"):
            for month in MONTHS:
                response = client.get(
                    f"/api/v1/summary/districts/{district.code}/", {"month": format_month(month)}
                )
                assert response.status_code == 200
                cards[(month, district.code)] = response.json()
    return cards


def test_lin_an_seq1_red_in_november_and_overdue_in_december(year, db, api_cards):
    """The deadline month (「11月底全面完成」) is a checkpoint: 红. December, with no more
    progress, is 逾期未完成 (counted red) — never milder than November."""
    seq1 = Indicator.objects.get(project=year.seq1)
    linan = District.objects.get(name="临安区")
    stored = {
        e.month: e
        for e in LagEvaluation.objects.filter(indicator=seq1, district=linan, month__gte=NOV)
    }
    assert stored[NOV].status == S.SERIOUSLY_BEHIND and stored[NOV].actual < stored[NOV].quota
    assert stored[DEC].status == S.OVERDUE and stored[DEC].status in RED_STATUSES
    by_api = {
        m: next(i for i in api_cards[(m, "linan")]["indicators"] if i["indicator"] == seq1.pk)
        for m in (NOV, DEC)
    }
    assert by_api[NOV]["status"] == "seriously_behind"
    assert by_api[DEC]["status"] == "overdue" and by_api[DEC]["status_label"] == "逾期未完成"
    card = district_scorecard(year.supervisor, linan, DEC)
    line = next(x for x in card if x.indicator_id == seq1.pk)
    assert line.shortfall_text.endswith("个") and line.colour == "darkred"


def test_no_cell_past_its_deadline_and_unmet_is_green_or_yellow(year, db, api_cards):
    """Month by month through the API: after 预计完成时间 a target not fully met is never
    正常 or 黄 (the report found 113 of 162 such cells in December before the fix)."""
    deadline = {
        i.pk: (i.project.deadline.replace(day=1), i.kind)
        for i in Indicator.objects.select_related("project")
    }
    past_due_unmet = Counter()
    for (month, _code), card in api_cards.items():
        for line in card["indicators"]:
            due_month, _kind = deadline[line["indicator"]]
            if month <= due_month or line["actual"] is None:
                unmet = month > due_month and line["actual"] is None
            else:
                unmet = float(line["actual"]) < float(line["quota"])
            if month > due_month and unmet:
                past_due_unmet[month] += 1
                assert line["status"] not in ("on_track", "behind"), (month, line)
    assert past_due_unmet[DEC] > 50  # the rule is exercised, not vacuous


def test_stored_matrix_api_and_notice_agree_on_every_cell_and_month(year, db, api_cards):
    """The one cross-check: for every month of the year and every cell, the stored
    evaluation, the matrix, the API scorecard and the notice's lists say the same."""
    for month in MONTHS:
        stored = {
            (e.indicator_id, e.district_id): e.status
            for e in LagEvaluation.objects.filter(month=month)
        }
        assert stored, month
        grid = read_matrix(year.supervisor, month)
        in_matrix = {
            (c.indicator_id, c.district_id): c.status for r in grid.rows for c in r.cells if c
        }
        assert in_matrix == stored, month
        by_api = {}
        for district in District.objects.all():
            for line in api_cards[(month, district.code)]["indicators"]:
                by_api[(line["indicator"], district.pk)] = line["status"]
        assert by_api == stored, month
        n = read_notice(month)
        red = {k for k, s in stored.items() if s in RED_STATUSES}
        assert {(e.indicator_id, e.district_id) for e in n.red_items} == red, month
        listed = {(e.indicator_id, e.district_id) for e in n.candidates}
        assert listed <= red and len(listed) <= n.cap
        summarised = sum(d.count for d in n.others_by_district)
        assert summarised + len(listed) == len(red), month
        counts = Counter(stored.values())
        assert n.seriously_behind == sum(counts[s] for s in RED_STATUSES)
        assert (n.on_track, n.behind, n.not_reported) == (
            counts[S.ON_TRACK], counts[S.BEHIND], counts[S.NOT_REPORTED]
        )  # fmt: skip
        assert n.cells_due == len(stored) - counts[S.NOT_DUE]
        ranked = {r.district.pk: r for r in n.ranking}
        for district_id, row in ranked.items():
            mine = Counter(s for (_i, d), s in stored.items() if d == district_id)
            assert row.seriously_behind == sum(mine[s] for s in RED_STATUSES)
            assert row.on_track == mine[S.ON_TRACK]


def test_at_risk_share_before_and_after(year, db, capsys):
    """有逾期风险 respects the plan's curve: far fewer cells are flagged than by the old
    straight-line rule (on track and the straight-line forecast short of the quota).
    The figures go into the README."""
    rows = LagEvaluation.objects.filter(status=S.ON_TRACK).exclude(forecast=None)
    on_track_total = LagEvaluation.objects.exclude(status=S.NOT_DUE).count()
    old = sum(1 for e in rows if e.forecast < e.quota)
    new = LagEvaluation.objects.filter(at_risk=True).count()
    with capsys.disabled():
        print(
            f"\nat risk on the simulated 2024 (seed 7, Jan–Dec): old rule {old} of "
            f"{on_track_total} due cells ({old * 100 / on_track_total:.1f}%), "
            f"new rule {new} ({new * 100 / on_track_total:.1f}%)"
        )
    assert new < old
    assert not LagEvaluation.objects.filter(at_risk=True).exclude(status=S.ON_TRACK).exists()


# --- the notice as a PDF ------------------------------------------------------------------

SIGNATURE = "杭州市人民政府督查室"


def _pages_text(pdf: bytes, tmp_path) -> list[str]:
    path = tmp_path / "notice.pdf"
    path.write_bytes(pdf)
    pngs = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(pngs)], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    shots = Path(settings.BASE_DIR) / "var" / "screenshots"  # to look at, like the e2e test
    shots.mkdir(parents=True, exist_ok=True)
    for png in pages:
        shutil.copy(png, shots / f"notice-pdf-{png.name}")
    texts = []
    for i in range(1, len(pages) + 1):
        out = subprocess.run(
            ["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(path), "-"],
            check=True,
            capture_output=True,
            text=True,
        )
        texts.append(out.stdout)
    return texts


needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("pdftotext")),
    reason="poppler-utils 未安装 (apt-get install poppler-utils)",
)


@needs_poppler
def test_notice_pdf_pages(year, db, client, settings, tmp_path):
    """December's notice as a PDF (WeasyPrint): a few pages, not sixteen; the 文号 and the
    ranking are in it as text; page numbers; no page holds only the signature."""
    settings.TRACKER = {**settings.TRACKER, "NOTICE_PDF_DIR": str(tmp_path / "cache")}
    NoticeIssue.objects.create(
        month=DEC, doc_number="杭督通〔2024〕12号", issued_on=date(2025, 1, 8)
    )
    client.force_login(year.supervisor)
    response = client.get("/notice/2024-12/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pages = _pages_text(response.content, tmp_path)
    assert 1 <= len(pages) <= 6
    text = "\n".join(pages)
    assert "杭督通〔2024〕12号" in text and "2025年1月8日" in text
    ranking = read_ranking(DEC)
    assert ranking[0].district.name in pages[0] or ranking[0].district.name in pages[1]
    assert all(r.district.name in text for r in ranking)
    assert "序时完成率 = 累计完成 ÷ 序时应达" in text.replace("\n", "")
    for i, page in enumerate(pages, start=1):
        assert f"—{i}—" in page.replace(" ", "")  # page numbers, GB/T 9704's 「— 1 —」
        lines = [x.strip() for x in page.splitlines() if x.strip()]
        # the 版记 (抄送, 印发机关和印发日期) closes the last page, alone if it must (GB/T
        # 9704 puts it on the back page); the signature never stands alone
        imprint = [x for x in lines if x.startswith("抄送") or x.endswith("印发")]
        rest = [
            x for x in lines
            if SIGNATURE not in x and x not in imprint
            and not re.fullmatch(r"[\d年月日—/ ]+", x)
        ]  # fmt: skip
        if imprint and not rest and not any(SIGNATURE in x for x in lines):
            assert i == len(pages), f"the 版记 stands alone on page {i}, not the last"
            continue
        assert len(rest) >= 3, f"page {i} holds only the signature: {lines}"


@needs_poppler
def test_notice_pdf_is_rendered_once_until_its_data_change(
    year, db, client, settings, tmp_path, monkeypatch
):
    """The second request is served from the stored file (no rendering); changing the
    notice settings renders it again."""
    from tracker.reporting import notice_files as notice_io

    settings.TRACKER = {**settings.TRACKER, "NOTICE_PDF_DIR": str(tmp_path)}
    client.force_login(year.supervisor)
    first = client.get("/notice/2024-11/pdf/").content
    assert len(list(tmp_path.glob("notice-2024-11-*.pdf"))) == 1

    def no_rendering(data):
        raise AssertionError("rendered again")

    monkeypatch.setattr(notice_io, "render_pdf", no_rendering)
    assert client.get("/notice/2024-11/pdf/").content == first
    NoticeIssue.objects.create(month=NOV, doc_number="杭督通〔2024〕11号")
    monkeypatch.undo()
    again = client.get("/notice/2024-11/pdf/").content
    assert again != first and len(list(tmp_path.glob("notice-2024-11-*.pdf"))) == 1


def test_notice_outside_the_plans_months_is_404(year, db, client):
    client.force_login(year.supervisor)
    for month in ("2023-12", "2025-01"):
        for suffix in ("", "xlsx/", "pdf/"):
            assert client.get(f"/notice/{month}/{suffix}").status_code == 404, (month, suffix)


def test_no_bottom_words_when_districts_are_level_at_the_top(year, db):
    """「居后」 never names a district level with the best one."""
    for month in MONTHS:
        n = read_notice(month)
        best = n.top[0].share_pct if n.top else None
        assert all(r.share_pct < best for r in n.bottom), month


def test_notice_cap_is_set_by_the_supervision_office(year, db):
    total = read_notice(DEC).candidates_total
    assert total > 3
    NoticeIssue.objects.create(month=DEC, supervision_cap=3)
    n = read_notice(DEC)
    assert len(n.candidates) == 3 and n.candidates_total == total
    gaps = [(e.status != S.OVERDUE, -(e.gap_points or 0)) for e in n.candidates]
    assert gaps == sorted(gaps)  # furthest behind first


def test_december_pages_show_overdue_and_printed_units(year, db, client):
    """The year-end pages count 逾期未完成 with the red ones and show amounts as the plan
    prints them (序号12: 「25 万人」, never 250000.0000)."""
    client.force_login(year.supervisor)
    overview = client.get("/", {"month": "2024-12"})
    assert "项目逾期未完成" in overview.content.decode()
    counts = overview.context["overview"].project_counts
    assert counts["overdue"] > 0 and counts["on_track"] + counts["overdue"] <= 48
    jobs = Indicator.objects.get(project__seq=12, project__plan_year=year.plan_year)
    city = District.objects.get(kind=District.Kind.CITY)
    html = client.get(f"/matrix/{jobs.pk}/{city.pk}/", {"month": "2024-12"}).content.decode()
    assert "25 万人" in html and "250000" not in html
    linan = client.get("/districts/linan/", {"month": "2024-12"}).content.decode()
    assert "逾期未完成" in linan and "尚差" in linan
