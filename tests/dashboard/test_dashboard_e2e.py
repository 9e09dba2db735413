"""End to end in a real headless Chromium (Debian's package, driven by Selenium).

Logs in through the login page, opens the overview and the matrix, clicks 淳安县's red
cell, waits for the ECharts canvas and saves screenshots under ``var/screenshots``.
Skipped, with the reason, only where Chromium or ChromeDriver is not installed
(``apt-get install chromium chromium-driver``; no browser is ever downloaded).
"""

from datetime import date
from pathlib import Path

import pytest

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.demo.simulation import simulate_year

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

pytestmark = pytest.mark.slow


def shot(browser, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    browser.save_screenshot(str(path))
    return path


@pytest.mark.django_db(transaction=True)
def test_supervisor_logs_in_and_drills_into_a_red_cell(live_server, browser, plan_2024):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    simulate_year(2024, seed=7, through=date(2024, 9, 1))
    make_user("dcs", Role.SUPERVISION, password="e2e-pass-123")
    wait = WebDriverWait(browser, 15)

    browser.get(live_server.url + "/")
    assert "/accounts/login/" in browser.current_url  # sent to log in first
    browser.find_element(By.NAME, "username").send_keys("dcs")
    browser.find_element(By.NAME, "password").send_keys("e2e-pass-123")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".kpis")))
    assert "2024年民生实事项目总览" in browser.page_source
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.project")) == 48
    assert browser.find_elements(By.CSS_SELECTOR, "section.category")[0].is_displayed()
    assert shot(browser, "overview.png").stat().st_size > 10_000

    browser.find_element(By.LINK_TEXT, "区县×指标").click()
    wait.until(ec.presence_of_element_located((By.ID, "matrix")))
    headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#matrix th.district")]
    column = headers.index("淳安县")
    first_row = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")[0]
    assert "新增老年助餐服务点" in first_row.text
    cell = first_row.find_elements(By.CSS_SELECTOR, "td")[column]
    assert "red" in cell.get_attribute("class")
    shot(browser, "matrix.png")
    cell.find_element(By.TAG_NAME, "a").click()

    # a red cell leads to where it is fixed: 本月填报 at that cell (督查室 may enter it) …
    wait.until(ec.presence_of_element_located((By.ID, "entry")))
    anchor = browser.current_url.split("#")[1]
    assert "/report/" in browser.current_url and "district=chunan" in browser.current_url
    row = browser.find_element(By.ID, anchor)
    assert "新增老年助餐服务点" in row.text
    # … whose name opens the cell's year
    row.find_element(By.CSS_SELECTOR, "td.entry-name a").click()

    wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#chart[data-rendered='1'] canvas"))
    )
    canvas = browser.find_element(By.CSS_SELECTOR, "#chart canvas")
    assert canvas.size["width"] > 300 and canvas.size["height"] > 200
    assert "淳安县 · 序号1 新增老年助餐服务点" in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "#alerts li")  # the alert history
    path = shot(browser, "cell-chunan-seq1.png")
    assert path.stat().st_size > 10_000

    browser.find_element(By.LINK_TEXT, "月度通报").click()
    wait.until(ec.presence_of_element_located((By.ID, "red-by-district")))
    red = browser.find_elements(By.CSS_SELECTOR, "#red-by-district td")
    assert any(td.text == "淳安县" for td in red)
    shot(browser, "notice.png")


@pytest.mark.django_db(transaction=True)
def test_alert_list_in_the_admin_reads_a_row_at_a_glance(live_server, browser, plan_2024):
    """进度预警 in the admin: the 说明 column keeps a readable width, so a row is a few
    lines high (squeezed to a few characters a line, each row was a screen tall), and
    it comes before the escalation details, in view without scrolling sideways."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    simulate_year(2024, seed=7, through=date(2024, 9, 1))
    make_user("dcs", Role.SUPERVISION, password="e2e-pass-123")
    browser.get(live_server.url + "/admin/login/?next=/admin/tracker/lagalert/")
    browser.find_element(By.NAME, "username").send_keys("dcs")
    browser.find_element(By.NAME, "password").send_keys("e2e-pass-123")
    browser.find_element(By.CSS_SELECTOR, "[type=submit]").click()
    WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.ID, "result_list")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert rows, browser.page_source[:500]
    message = rows[0].find_element(By.CSS_SELECTOR, "td.field-short_message")
    assert len(message.text) > 40  # a full explanation, shortened to 60 characters
    line = browser.execute_script(
        "return parseFloat(getComputedStyle(arguments[0]).lineHeight)", message
    )
    assert rows[0].size["height"] <= 4 * line + 20, (rows[0].size, line)
    visible = browser.execute_script(
        "return document.querySelector('#changelist .results').getBoundingClientRect().right"
    )
    right = message.location["x"] + message.size["width"]
    assert right <= visible, (right, visible)  # 说明 in view without scrolling sideways
    shot(browser, "admin_alerts.png")
