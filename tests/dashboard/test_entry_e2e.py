"""本月填报 in a real headless Chromium, as 淳安县's officer, and the phone layout.

From the dashboard, one click on the header's 「本月填报」 opens the month being reported;
every indicator is filled, one mistake is refused with its row named and nothing saved,
the mistake is fixed and everything is saved, and the completeness page shows the month
complete. Then, at 390 px (a phone), the overview, 我的待办 and 本月填报 do not scroll
sideways, names keep their width and statuses show; screenshots go to ``var/screenshots``.
Skipped only where Chromium is not installed.

Time is not pinned (the live server runs in its own thread and the browser keeps the real
clock for cookies): at any date after January 2025 the 2024 plan's month being reported is
2024年12月 (``calendar.reporting_month`` clamps to the plan's year).
"""

from datetime import date
from decimal import Decimal

import pytest

from tests.dashboard.test_dashboard_e2e import shot
from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.demo.simulation import simulate_year
from tracker.formats import plain
from tracker.plans.reference import District
from tracker.progress.entry_sheet import entry_sheet
from tracker.progress.models import ProgressReport

pytestmark = pytest.mark.slow
DEC = date(2024, 12, 1)


def fill_value(row) -> str:
    """A valid December figure: the quota, or the last figure if that is already higher."""
    value = max(row.quota or Decimal(0), row.previous or Decimal(0))
    return plain(value)


@pytest.mark.django_db(transaction=True)
def test_chunan_fills_its_month_on_one_page(live_server, browser, plan_2024):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    simulate_year(2024, seed=7, through=date(2024, 9, 1))
    chunan = District.objects.get(name="淳安县")
    user = make_user("chunan-e2e", Role.DISTRICT, district=chunan, password="e2e-pass-123")
    rows = entry_sheet(user, DEC).rows
    assert len(rows) > 30  # every indicator with a quota for 淳安县
    wait = WebDriverWait(browser, 20)

    browser.get(live_server.url + "/accounts/login/")
    browser.find_element(By.NAME, "username").send_keys("chunan-e2e")
    browser.find_element(By.NAME, "password").send_keys("e2e-pass-123")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".kpis")))  # the dashboard

    # one click from the dashboard: the header link
    link = browser.find_element(By.ID, "report-link")
    assert "本月填报 · 2024年12月" in link.text
    link.click()
    wait.until(ec.presence_of_element_located((By.ID, "entry")))
    assert browser.current_url.endswith("/report/2024-12/")
    assert "2024年12月，2025年1月5日前报送" in browser.find_element(By.ID, "deadline").text
    months = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".entry-months a")]
    assert months[0] == "2024年12月（本期）" and len(months) == 12
    assert not browser.find_elements(By.CSS_SELECTOR, "input[type=month]")

    bad = rows[3]
    for row in rows:
        box = browser.find_element(By.NAME, f"value-{row.key}")
        box.clear()
        box.send_keys("三十" if row is bad else fill_value(row))
    browser.find_element(By.ID, "entry-save").click()
    errors = wait.until(ec.presence_of_element_located((By.ID, "entry-errors")))
    assert "全部未保存" in errors.text
    assert f"「{bad.indicator.label}」（淳安县）：「三十」不是数字" in errors.text
    marked = browser.find_elements(By.CSS_SELECTOR, "tr.row-error")
    assert [r.get_attribute("id") for r in marked] == [bad.anchor]
    assert not ProgressReport.objects.filter(district=chunan, month=DEC).exists()

    box = browser.find_element(By.NAME, f"value-{bad.key}")  # the others kept what was typed
    assert browser.find_element(By.NAME, f"value-{rows[0].key}").get_attribute("value") == (
        fill_value(rows[0])
    )
    box.clear()
    box.send_keys(fill_value(bad))
    browser.find_element(By.ID, "entry-save").click()
    saved = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messages")))
    assert "已全部保存" in saved.text
    stored = dict(
        ProgressReport.objects.filter(district=chunan, month=DEC).values_list(
            "indicator_id", "value"
        )
    )
    assert stored == {r.indicator.pk: Decimal(fill_value(r)) for r in rows}
    shot(browser, "entry-chunan-saved.png")

    # the month is now complete on the completeness page (nothing missing or pending; filed
    # today, long after the 2025-01-05 deadline, so 逾期 rather than 按时)
    browser.get(live_server.url + "/completeness/?month=2024-12")
    row = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"tr[data-key='{chunan.code}']"))
    )

    def col(name):
        return int(row.find_element(By.CSS_SELECTOR, f"td[data-col='{name}']").text)

    assert col("missing") == 0 and col("pending") == 0
    assert col("filed") == col("expected") == col("late") > 30

    # --- a phone: 390 px wide ---------------------------------------------------------------
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    width = "return document.documentElement.scrollWidth"
    pages = [
        ("/", "tr.project td:nth-child(2)", "tr.project .chip", "mobile-overview.png"),
        ("/my/", "#my-work td:nth-child(2)", "#my-work .chip", "mobile-my-work.png"),
        ("/report/2024-12/", "td.entry-name", "td[data-label='状态'] .chip", "mobile-entry.png"),
    ]
    for path, name_css, status_css, picture in pages:
        browser.get(live_server.url + path)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, name_css)))
        assert browser.execute_script(width) <= 390, path
        names = browser.find_elements(By.CSS_SELECTOR, name_css)[:5]
        assert names and all(n.size["width"] >= 250 for n in names), path  # not squeezed
        for chip in browser.find_elements(By.CSS_SELECTOR, status_css)[:5]:
            assert chip.is_displayed()
            assert chip.location["x"] + chip.size["width"] <= 390, path  # status on screen
        assert shot(browser, picture).stat().st_size > 10_000
