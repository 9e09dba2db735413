"""Debian's Chromium driven by Selenium (no browser download), for the browser tests."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
MISSING = (
    "未安装 Chromium / ChromeDriver，跳过浏览器测试（apt-get install chromium chromium-driver）"
    " / Chromium or ChromeDriver not installed: browser test skipped"
)


def have_chromium() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def require_chromium() -> None:
    """Skip with the reason where Chromium is genuinely absent; in CI (which installs it,
    scripts/test.sh) its absence is a failure, not a skip."""
    if have_chromium():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but Chromium / ChromeDriver are missing: " + MISSING)
    pytest.skip(MISSING)


def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1440,1000",
                "--disable-dev-shm-usage", "--lang=zh-CN"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(2)
    return driver


@pytest.fixture
def browser():
    """A headless Chromium for one test (skipped where it is not installed)."""
    require_chromium()
    driver = chrome()
    yield driver
    driver.quit()
