"""The notice is a 公文 (issue 32): GB/T 9704-2012's parts and layout, in the PDF, the page
and the xlsx, each part set per month by 督查室 in the admin.

On the simulated year through December, the PDF is rendered, its pages turned into images
and checked (not blank, the red 版头 at the top of page 1), and its words' boxes read
(``pdf_boxes``): no word outside its page or the text area, none on top of another, and
every part present (发文机关标志, 发文字号, 标题, 主送机关, 成文日期 with the day, 署名, the
版记's 抄送, 印发机关 and 印发日期 on the last page, 「— n —」 page numbers). The overlap
check is shown to fail on the old nowrap table headers. A 390 px phone sees the ranking's
红 and 较上月 columns (Chromium, slow).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from openpyxl import load_workbook

from tests.dashboard_helpers import simulated_year
from tests.reporting.pdf_boxes import (
    fonts,
    needs_poppler,
    outside,
    overlapping,
    pages,
    render_pages,
)
from tracker.reporting.document import document_of
from tracker.reporting.issued import issue
from tracker.reporting.models import NoticeIssue

NOV, DEC = date(2024, 11, 1), date(2024, 12, 1)
MM = 72 / 25.4  # points in a millimetre
PARTS = {
    "mark": "杭州市人民政府督查室文件",
    "doc_number": "杭督通〔2024〕12号",
    "addressees": "各区、县（市）人民政府，市政府有关部门",
    "signatory": "杭州市人民政府督查室",
    "copy_to": "市委督查室，市人大常委会办公厅",
    "printer": "杭州市人民政府办公厅秘书处",
}


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data, through=DEC)


@pytest.fixture
def pdf_cache(settings, tmp_path):
    settings.TRACKER = {**settings.TRACKER, "NOTICE_PDF_DIR": str(tmp_path / "cache")}


def fetch_pdf(client, month: str, tmp_path):
    response = client.get(f"/notice/{month}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    path = tmp_path / f"notice-{month}.pdf"
    path.write_bytes(response.content)
    return path


def outside_text_area(page) -> list:
    """Words beyond the 156 mm text area (订口 28 mm on odd pages, 26 mm on even ones)."""
    left = (28 if page.number % 2 else 26) * MM
    return [w for w in page.words if w.x0 < left - 1 or w.x1 > left + 156 * MM + 1]


# --- the PDF --------------------------------------------------------------------------


@needs_poppler
def test_december_pdf_is_a_gbt9704_document(year, db, client, pdf_cache, tmp_path):
    """Every part is in the PDF where GB/T 9704 puts it, no word leaves its page or the
    text area or lies on another, and the pages are drawn (red 版头 on page 1)."""
    from PIL import Image  # pillow, through WeasyPrint

    NoticeIssue.objects.create(
        month=DEC, issued_on=date(2025, 1, 8), printed_on=date(2025, 1, 9), **PARTS
    )
    client.force_login(year.supervisor)
    pdf = fetch_pdf(client, "2024-12", tmp_path)
    found = pages(pdf)
    assert 2 <= len(found) <= 8
    for page in found:
        assert round(page.width / MM) == 210 and round(page.height / MM) == 297  # A4
        assert outside(page) == [], page.number
        assert outside_text_area(page) == [], page.number
        assert overlapping(page) == [], page.number
        # 「— n —」 under the text area (which ends 35 mm above the page's foot)
        number = [w for w in page.words if w.text == str(page.number) and w.y0 > 262 * MM]
        dashes = [w for w in page.words if w.text == "—" and w.y0 > 262 * MM]
        assert len(number) == 1 and len(dashes) == 2, page.number

    first, last = found[0], found[-1]
    mark = next(w for w in first.words if w.text == PARTS["mark"])
    assert mark.y0 > 37 * MM + 30 * MM  # 35 mm under the top of the text area
    texts = [w.text for w in first.words]
    doc_no = texts.index(PARTS["doc_number"])
    assert texts.index(PARTS["mark"]) < doc_no < texts.index("2024年12月民生实事项目推进情况通报")
    assert f"{PARTS['addressees']}：" in first.text
    whole = "".join(p.text for p in found)
    assert "2025年1月8日" in whole and PARTS["signatory"] in whole  # 成文日期 with its day
    # 版记 at the foot of the last page: 抄送 over 印发机关 and 印发日期
    assert f"抄送：{PARTS['copy_to']}。" in last.text.replace(" ", "")
    printer = next(w for w in last.words if w.text == PARTS["printer"])
    printed_on = next(w for w in last.words if w.text == "2025年1月9日印发")
    assert printer.y0 > 230 * MM and abs(printer.y0 - printed_on.y0) < 1
    assert printed_on.x0 > printer.x1  # 印发机关 left, 印发日期 right
    assert all("抄送" not in p.text for p in found[:-1])

    if "cwTeXFangSong" in subprocess.run(["fc-list"], capture_output=True, text=True).stdout:
        assert "cwTeXFangSong" in fonts(pdf)  # 正文 in 仿宋 (fonts-cwtex-fs)

    images = render_pages(pdf, tmp_path)
    assert len(images) == len(found)
    shots = Path(django_settings.BASE_DIR) / "var" / "screenshots"  # to look at
    shots.mkdir(parents=True, exist_ok=True)
    for path in images:
        shutil.copy(path, shots / f"notice-gbt-{path.name}")
        with Image.open(path) as image:
            assert sum(image.convert("L").histogram()[:128]) > 500, f"{path.name} is blank"
    with Image.open(images[0]) as image:
        rgb = image.convert("RGB")
        top = red_pixels(rgb.crop((0, 0, rgb.width, rgb.height * 2 // 5)))
        assert top > 300  # the 发文机关标志 and the separator line, in red
        assert red_pixels(rgb.crop((0, rgb.height // 2, rgb.width, rgb.height))) < top


def red_pixels(image) -> int:
    data = image.tobytes()
    return sum(
        1 for i in range(0, len(data), 3) if data[i] > 180 and data[i + 1] < 90 and data[i + 2] < 90
    )


@needs_poppler
def test_the_overlap_check_catches_nowrap_headers(tmp_path):
    """The old notice's headers (``white-space: nowrap`` in a narrow fixed table) print on
    top of each other; the same table with wrapping headers does not."""
    from weasyprint import HTML

    head = "".join(f"<th>{t}</th>" for t in ("累计完成", "序时完成率", "落后百分点", "状态"))
    for nowrap, expected in ((True, True), (False, False)):
        css = "table{table-layout:fixed;width:60mm;font:10pt 'WenQuanYi Zen Hei'}"
        css += "th{white-space:%s;border:.5pt solid}" % ("nowrap" if nowrap else "normal")
        pdf = tmp_path / f"t{nowrap}.pdf"
        HTML(string=f"<style>{css}</style><table><tr>{head}</tr></table>").write_pdf(pdf)
        (page,) = pages(pdf)
        assert bool(overlapping(page)) is expected, nowrap


@needs_poppler
def test_parts_set_in_the_admin_change_the_pdf_and_the_xlsx(year, db, client, pdf_cache, tmp_path):
    """督查室 sets the parts of November's notice in the admin (kept in history); the PDF and
    the xlsx print them. A 印发日期 before the 成文日期 is refused in Chinese."""
    client.force_login(year.supervisor)
    before = fetch_pdf(client, "2024-11", tmp_path)
    assert "杭州市人民政府督查室文件" in pages(before)[0].text  # the defaults
    form = {
        "month": "2024-11-01", "supervision_cap": "10", "mark": "民生实事项目推进情况通报",
        "doc_number": "杭督通〔2024〕11号", "addressees": "各区、县（市）人民政府：",
        "signatory": "杭州市民生实事工作领导小组办公室", "issued_on": "2024-12-09",
        "copy_to": "市委办公厅。", "printer": "杭州市人民政府督查室", "printed_on": "2024-12-08",
    }  # fmt: skip
    refused = client.post("/admin/tracker/noticeissue/add/", form)
    assert refused.status_code == 200 and "印发日期不能早于成文日期" in refused.content.decode()
    assert not NoticeIssue.objects.filter(month=NOV).exists()
    form["printed_on"] = "2024-12-10"
    response = client.post("/admin/tracker/noticeissue/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    row = NoticeIssue.objects.get(month=NOV)
    # the notice adds 「：」 and 「。」 itself: typed ones are dropped
    assert row.addressees == "各区、县（市）人民政府" and row.copy_to == "市委办公厅"
    assert row.history.count() == 1

    text = "".join(p.text for p in pages(fetch_pdf(client, "2024-11", tmp_path)))
    for part in ("民生实事项目推进情况通报", "杭督通〔2024〕11号", "各区、县（市）人民政府：",
                 "杭州市民生实事工作领导小组办公室", "2024年12月9日", "抄送：市委办公厅。",
                 "杭州市人民政府督查室", "2024年12月10日印发"):  # fmt: skip
        assert part in text, part
    assert "杭州市人民政府督查室文件" not in text

    ws = load_workbook(io.BytesIO(client.get("/notice/2024-11/xlsx/").content)).active
    cells = [v for r in ws.iter_rows(values_only=True) for v in r if v is not None]
    assert ws["A1"].value == "民生实事项目推进情况通报" and ws["A2"].value == "杭督通〔2024〕11号"
    assert ws["A3"].value == "2024年11月民生实事项目推进情况通报"
    assert ws["A1"].font.color.rgb.endswith("C00000")
    for part in ("各区、县（市）人民政府：", "杭州市民生实事工作领导小组办公室", "2024年12月9日",
                 "市委办公厅。", "杭州市人民政府督查室", "2024年12月10日印发"):  # fmt: skip
        assert part in cells, part
    assert "淳安县" in cells  # and the tables


def test_defaults_date_the_notice_on_the_day_of_the_check(year, db):
    """Without settings, the notice is still a whole 公文: 成文日期 with its day (the day
    after the reporting deadline, when the month is checked), 主送 as 杭政办函〔2024〕4号."""
    doc = document_of(DEC, None)
    assert doc.issued_on_label == "2025年1月6日" and doc.printed_on_label == "2025年1月6日印发"
    assert doc.addressees == "各区、县（市）人民政府，市政府各部门、各直属单位"
    assert doc.mark == "杭州市人民政府督查室文件" and doc.signatory == "杭州市人民政府督查室"


def test_an_issued_notice_keeps_its_parts(year, db, settings):
    """At 印发 the blank parts are written into the record and the snapshot, so a later
    change of the settings' defaults does not change what went out."""
    record = issue(NOV, year.supervisor)
    assert record.mark == "杭州市人民政府督查室文件" and record.copy_to
    assert record.printed_on == record.issued_on
    frozen = record.snapshot["context"]["notice"]["document"]
    assert frozen["mark"] == record.mark and frozen["issued_on_label"].endswith("日")
    settings.TRACKER = {**settings.TRACKER, "NOTICE_ISSUER": "别的机关"}
    record.refresh_from_db()
    assert document_of(NOV, record).mark == "杭州市人民政府督查室文件"
    assert document_of(DEC, None).mark == "别的机关文件"


# --- the page on a phone --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_phone_sees_the_red_and_change_columns(live_server, browser, plan_2024):
    """At 390 px the notice does not scroll sideways; the ranking's 红 and 较上月 are on
    screen; a table wider than the screen scrolls inside its own frame, to its last column."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.dashboard.test_dashboard_e2e import shot
    from tests.factories import make_user
    from tracker.accounts.models import Role
    from tracker.demo.simulation import simulate_year

    simulate_year(2024, seed=7, through=date(2024, 9, 1))
    make_user("dcs-phone", Role.SUPERVISION, password="e2e-pass-123")
    browser.get(live_server.url + "/accounts/login/")
    browser.find_element(By.NAME, "username").send_keys("dcs-phone")
    browser.find_element(By.NAME, "password").send_keys("e2e-pass-123")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The next get must not overtake the login's POST, or it lands on the login page.
    WebDriverWait(browser, 30).until(lambda b: "/accounts/login/" not in b.current_url)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    browser.get(live_server.url + "/notice/2024-09/")
    WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.ID, "ranking")))
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    boxes = browser.execute_script(
        """return Object.fromEntries([...document.querySelectorAll('#ranking th')].map(th => {
             const r = th.getBoundingClientRect();
             return [th.textContent.trim(), [Math.round(r.left), Math.round(r.right)]]; }))"""
    )
    for label in ("红", "较上月"):
        assert label in boxes, (label, boxes)
        left, right = boxes[label]
        assert left >= 0 and right <= 390, (label, boxes)
    frames = browser.execute_script(
        """return [...document.querySelectorAll('#notice .table-wrap')].map(w => {
             const t = w.querySelector('table'); w.scrollLeft = w.scrollWidth;
             const cells = t.querySelectorAll('th'); const lastCell = cells[cells.length - 1];
             return [t.id, w.clientWidth, w.scrollWidth, getComputedStyle(w).overflowX,
                     Math.round(lastCell.getBoundingClientRect().right)]; })"""
    )
    assert {f[0] for f in frames} >= {"ranking", "supervised", "red-by-district"}
    for table, inner, width, overflow, last_right in frames:
        assert inner <= 390 and last_right <= 390, table  # the last column scrolls into view
        if width > inner:
            assert overflow == "auto", table
    assert shot(browser, "mobile-notice.png").stat().st_size > 10_000
