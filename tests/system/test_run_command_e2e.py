"""The README's run command, as a new user runs it, looked at in a real browser.

``scripts/run.sh`` runs from a clean copy of the repository (tracked and new files, no
``var/``, no collected static files) with the project's venv, on a free port. It must set
everything up, serve the dashboard through gunicorn + WhiteNoise (hashed, compressed static
files: ``live_server`` would serve them by itself and hide a broken start), and run a Celery
worker and beat that prove they are alive through /api/health/. Debian's Chromium then checks
the stylesheet is applied (computed style of the header) and the trajectory chart is drawn
(non-blank canvas pixels). Every process started is stopped, also when a test fails.

Runs once, in the SQLite pass: the run command is the embedded default.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.browser import chrome, require_chromium

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 420  # seconds: migrate, collectstatic, load the plan, simulate a year
# Variables of this test run that must not leak into a new user's first run.
CLEARED = {"DATABASE_URL", "SECRET_KEY", "DJANGO_SECURE", "DEBUG", "TRACKER_VAR_DIR",
           "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DJANGO_SETTINGS_MODULE",
           "STATIC_ROOT", "TEST_DATABASE_NAME", "TRACKER_ADMIN_USER", "TRACKER_ADMIN_PASSWORD",
           "TRACKER_PUBLIC_READ_ONLY", "CELERY_TASK_ALWAYS_EAGER", "HOST", "PORT",
           "TRACKER_CACHE_DIR", "TRACKER_BROKER_FILE"}  # fmt: skip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="runs once, in the SQLite pass: the run command is the embedded default",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_copy(dest: Path) -> Path:
    """The repository as a fresh clone would have it (plus uncommitted work), with the
    project's venv linked in so nothing is downloaded."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
    )  # fmt: skip
    if listed.returncode == 0:
        files = listed.stdout.decode().split("\0")
    else:  # not a git checkout (an unpacked archive): everything but local state
        local = {".venv", "var", "staticfiles", ".git", ".hypothesis", ".ruff_cache"}
        files = [
            str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
            if p.is_file() and not local & set(p.relative_to(ROOT).parts)
            and "__pycache__" not in p.parts and ".egg-info" not in str(p)
        ]  # fmt: skip
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def _stat(pid) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` with its start time (the supervisor starts its children
    in their own sessions, so a process group would miss them; the start time tells a
    reused pid)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(entry.name)
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            fields = _stat(child)
            if fields and child not in found:
                found[child] = fields[19]
                todo.append(child)
    return found


def alive(seen: dict[int, str]) -> set[int]:
    """Those of ``seen`` still running (not zombies, same start time)."""
    out = set()
    for pid, started in seen.items():
        fields = _stat(pid)
        if fields and fields[0] != "Z" and fields[19] == started:
            out.add(pid)
    return out


class Run:
    def __init__(self, workdir: Path, port: int):
        self.workdir, self.port = workdir, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / "run.log"
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        env.update(HOST="127.0.0.1", PORT=str(port), PYTHONUNBUFFERED="1")
        self.env = env
        self.proc = subprocess.Popen(
            ["scripts/run.sh"], cwd=workdir, env=env, stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.seen: dict[int, str] = {}

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def output_showing(self, *patterns: str, within: float = 120) -> str:
        """The output once every regex of ``patterns`` is in it. The web process may answer
        before the worker has printed its banner (it starts at the same time, and boots
        slower on a busy machine), so wait for it; ``within`` bounds the wait only."""
        deadline = time.monotonic() + within
        while True:
            out = self.output()
            if all(re.search(p, out) for p in patterns) or time.monotonic() > deadline:
                return out
            time.sleep(0.5)

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self.seen |= descendants(self.proc.pid)
            if self.proc.poll() is not None:
                pytest.fail(
                    f"run command exited ({self.proc.returncode}):\n{self.output()[-4000:]}"
                )
            try:
                with urllib.request.urlopen(self.url + "/accounts/login/", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        pytest.fail(f"not answering after {START_TIMEOUT} s:\n{self.output()[-4000:]}")

    def stop(self) -> set[int]:
        """Ctrl-C as a user would (SIGINT to the foreground group), then make sure: every
        process ever seen below the command is gone. Returns those that needed a kill."""
        self.seen |= descendants(self.proc.pid)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while alive(self.seen) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftover = alive(self.seen)
        for pid in leftover:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return leftover


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    require_chromium()
    workdir = clean_copy(tmp_path_factory.mktemp("clean-copy"))
    started = Run(workdir, free_port())
    try:
        started.wait_until_serving()
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def browser(run):
    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def logged_in(run, browser):
    """Logs in with the demo login the run command prints."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    login = re.search(r"登录 log in\s+(\S+) / (\S+?)（", run.output())
    assert login, run.output()[-2000:]
    browser.get(run.url + "/")
    browser.find_element(By.NAME, "username").send_keys(login[1])
    browser.find_element(By.NAME, "password").send_keys(login[2])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".kpis")))
    return browser


PROCESSES = ("web.1", "worker.1", "deliveries.1", "beat.1")


def test_output_says_where_to_open_and_how_to_log_in(run):
    queues = {"worker.1": "celery", "deliveries.1": "deliveries"}
    consuming = [rf"{re.escape(p)}\s+\|\s+\.> {q}\s+exchange=" for p, q in queues.items()]
    out = run.output_showing(*[rf"{p}\s+\|" for p in PROCESSES], *consuming)
    assert f"{run.url}/" in out and f"{run.url}/admin/" in out
    assert "admin / minsheng-2024" in out
    for process in PROCESSES:  # each visible in the output
        assert re.search(rf"{re.escape(process)}\s+\|", out), process
    # Checks and heartbeats on one worker, deliveries on their own: one queue each.
    for pattern in consuming:
        assert re.search(pattern, out), pattern
    assert not re.search(r"worker\.1\s+\|\s+\.> deliveries", out)


def test_overview_is_styled_by_the_stylesheet(run, logged_in):
    """Computed style of the header: the stylesheet's red gradient and white flex bar, not
    the browser's defaults (which a 404 on /static/ would leave)."""
    header = logged_in.find_element("css selector", "header.topbar")
    assert header.value_of_css_property("display") == "flex"
    assert "linear-gradient" in header.value_of_css_property("background-image")
    assert header.value_of_css_property("color") in ("rgba(255, 255, 255, 1)", "rgb(255, 255, 255)")
    css = logged_in.find_element("css selector", "link[rel=stylesheet]").get_attribute("href")
    assert re.search(r"/static/tracker/dashboard\.[0-9a-f]{12}\.css$", css), css  # hashed
    request = urllib.request.Request(css, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Encoding"] == "gzip"  # compressed by collectstatic
        assert "immutable" in response.headers["Cache-Control"]


def test_trajectory_chart_on_a_cell_page_is_drawn(run, logged_in):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    logged_in.get(run.url + "/matrix/")
    # a red or 未按时填报 cell links to 本月填报; take a cell that opens the cell page
    link = logged_in.find_element(By.CSS_SELECTOR, "#matrix tbody td a[href^='/matrix/']")
    logged_in.get(link.get_attribute("href"))
    wait = WebDriverWait(logged_in, 30)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#chart canvas")))
    script = logged_in.find_element(By.CSS_SELECTOR, "script[src*=echarts]").get_attribute("src")
    assert re.search(r"echarts-5\.6\.0\.min\.[0-9a-f]{12}\.js$", script), script
    count_drawn = """
        const c = document.querySelector('#chart canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2] || d[i + 3] !== d[3]) n++;
        }
        return [n, c.width * c.height];"""
    wait.until(lambda b: b.execute_script(count_drawn)[0] > 0)
    drawn, area = logged_in.execute_script(count_drawn)
    assert drawn > area * 0.01, (drawn, area)  # lines, axes and labels, not a blank box


CHUNAN_OFFICER = """
import json
from django.contrib.auth import get_user_model
from tracker.accounts.models import Role, UserProfile
from tracker.formats import indicator_scale, plain
from tracker.monitoring.models import LagEvaluation
from tracker.plans.reference import District
d = District.objects.get(name="淳安县")
u = get_user_model().objects.create_user("chunan-e2e", password="e2e-pass-123")
UserProfile.objects.create(user=u, role=Role.DISTRICT, district=d)
red = LagEvaluation.objects.filter(
    district=d, month="2024-12-01", status__in=("seriously_behind", "overdue"),
    indicator__kind="cumulative",
).select_related("indicator").order_by("indicator__project__seq", "indicator__order")
e = next(e for e in red if indicator_scale(e.indicator) == 1)
print(json.dumps({"indicator": e.indicator_id, "district": d.pk, "quota": plain(e.quota)}))
"""


def test_a_saved_figure_shows_at_once_on_every_page(run, logged_in):
    """淳安县 saves a red December cell up to its quota in 本月填报, then opens the overview,
    the matrix and the cell page: the new status shows, with no check run in between
    (issue 28: the save re-evaluates its cells in its own transaction)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    made = subprocess.run(
        [str(run.workdir / ".venv" / "bin" / "python"), "manage.py", "shell", "-c",
         CHUNAN_OFFICER], cwd=run.workdir, env=run.env, capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    cell = json.loads(made.stdout.strip().splitlines()[-1])
    key = f"{cell['indicator']}-{cell['district']}"
    driver = chrome()
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(run.url + "/accounts/login/")
        driver.find_element(By.NAME, "username").send_keys("chunan-e2e")
        driver.find_element(By.NAME, "password").send_keys("e2e-pass-123")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".kpis")))
        red_kpi = "//div[contains(@class,'kpi')][span[contains(.,'个区县指标红色')]]/b"
        red_before = int(driver.find_element(By.XPATH, red_kpi).text)

        driver.get(run.url + "/report/")
        box = wait.until(ec.presence_of_element_located((By.NAME, f"value-{key}")))
        box.clear()
        box.send_keys(cell["quota"])
        driver.find_element(By.ID, "entry-save").click()
        saved = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messages")))
        assert "保存" in saved.text, saved.text

        driver.get(run.url + "/")
        assert int(driver.find_element(By.XPATH, red_kpi).text) == red_before - 1
        assert driver.find_element(By.ID, "evaluated-at").text.startswith("数据更新于 ")
        driver.get(run.url + "/matrix/")
        td = driver.find_element(
            By.XPATH, f"//tr[@data-indicator='{cell['indicator']}']/td[contains(@class,'cell')]"
        )
        assert td.get_attribute("data-status") == "on_track", td.get_attribute("title")
        driver.get(run.url + f"/matrix/{cell['indicator']}/{cell['district']}/")
        assert driver.find_element(By.CSS_SELECTOR, ".page-head .chip").text == "正常"
        assert driver.find_element(By.ID, "evaluated-at").text.startswith("数据更新于 ")
    finally:
        driver.quit()


def test_swagger_ui_is_served_locally(run, logged_in):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    logged_in.get(run.url + "/api/docs/")
    WebDriverWait(logged_in, 30).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .information-container"))
    )


def test_worker_and_beat_are_alive(run, logged_in):
    """Beat's heartbeat, run by the worker, read back by /api/health/ (staff see each check;
    anonymous callers only the word)."""
    deadline = time.monotonic() + 120
    while True:
        logged_in.get(run.url + "/api/health/")
        body = json.loads(logged_in.find_element("tag name", "body").text)
        if body["status"] == "ok" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert body["status"] == "ok", body
    assert body["checks"]["worker"]["ok"] and body["checks"]["beat"]["ok"], body
    assert body["checks"]["database"]["backend"] == "sqlite"
    assert body["checks"]["broker"]["transport"] == "sqlite"
    with urllib.request.urlopen(run.url + "/api/health/", timeout=10) as response:
        assert json.loads(response.read()) == {"status": "ok"}


# --- issue 30: review in bulk, a return corrected, evidence in the browser -------------

SETUP_REVIEW = r"""
import json
from django.contrib.auth import get_user_model
from tracker.accounts.models import Role, UserProfile
from tracker.calendar import reporting_month
from tracker.plans.reference import Agency, District
from tracker.plans.selection import current_plan
from tracker.review import workflow
from tracker.progress.due import due_indicators
from tracker.progress.models import ProgressReport

User = get_user_model()
plan = current_plan()
month = reporting_month(plan)
agency = Agency.objects.get(name="市卫生健康委员会")
def user(name, **profile):
    u = User.objects.filter(username=name).first()
    u = u or User.objects.create_user(name, password="pw-" + name)
    UserProfile.objects.get_or_create(user=u, defaults=profile)
    return u
user("weijian", role=Role.AGENCY, agency=agency)
ready = []
for d in District.objects.filter(kind="district").order_by("order"):
    due = due_indicators(d, month)
    filed = ProgressReport.objects.filter(district=d, month=month, indicator__in=due).count()
    if due and filed == len(due) and any(i.project.lead_agency_id == agency.pk for i in due):
        ready.append(d)
    if len(ready) == 2:
        break
for d in ready:
    workflow.submit_month(user("d-" + d.code, role=Role.DISTRICT, district=d), d, month)
print(json.dumps({"month": month.strftime("%Y-%m"), "districts": [d.code for d in ready]}))
"""


@pytest.fixture(scope="module")
def review_world(run):
    """卫健委's user, two districts' users, and their month submitted (what the districts
    would have done on the 上报 button), made in the run command's own database."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    done = subprocess.run(
        [".venv/bin/python", "manage.py", "shell", "-v0", "-c", SETUP_REVIEW],
        cwd=run.workdir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    world = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(world["districts"]) == 2, world
    return world


def _login(browser, run, username, password):
    """Log in and wait for the page it leads to (a navigation started before that would
    be overtaken by the login's redirect)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.delete_all_cookies()
    browser.get(run.url + "/accounts/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(lambda b: "/accounts/login/" not in b.current_url)


def _message(browser, expected: str) -> str:
    """The page's messages once they say ``expected`` (the form's answer is a new page:
    wait for it rather than read the page it replaces)."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def said(b):
        try:
            found = b.find_elements(By.CSS_SELECTOR, "#messages")
            return found and expected in found[0].text and found[0].text
        except StaleElementReferenceException:
            return False

    try:
        return WebDriverWait(browser, 30).until(said)
    except TimeoutException:
        found = browser.find_elements(By.CSS_SELECTOR, "#messages, .errornote")
        return " / ".join(f.text for f in found) or browser.page_source[-2000:]


def test_weijian_approves_and_returns_one_and_the_district_corrects_and_resubmits(
    run, browser, review_world, tmp_path
):
    """卫健委 opens 审核与上报 (1), the first district-month (2), 全部审核通过 (3): every
    one of its cells there approved, each row having shown figure, 上月, 序时应达 and
    status. Then in the second district-month it returns one cell with a reason, and that
    district sees the return, attaches evidence, corrects and submits again. One test:
    the district's part needs the return (xdist may run two tests of a module apart)."""
    from selenium.webdriver.common.by import By

    first, second = review_world["districts"]
    month = review_world["month"]
    _login(browser, run, "weijian", "pw-weijian")
    browser.get(run.url + "/review/")  # action 1
    browser.find_element(By.CSS_SELECTOR, f"#review-ways a[data-district='{first}']").click()  # 2
    rows = browser.find_elements(By.CSS_SELECTOR, "#review-sheet tbody tr")
    assert rows and all(r.get_attribute("data-state") == "pending" for r in rows)
    heads = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#review-sheet thead th")]
    assert {"本月累计", "上月", "序时应达", "状态", "原因说明", "佐证材料", "记录"} <= set(heads)
    browser.find_element(By.ID, "approve-all").click()  # action 3
    done = f"已审核通过 {len(rows)} 项"
    assert done in _message(browser, done)
    states = {r.get_attribute("data-state") for r in browser.find_elements(
        By.CSS_SELECTOR, "#review-sheet tbody tr")}  # fmt: skip
    assert states == {"approved"}

    browser.get(f"{run.url}/review/{second}/{month}/")
    row = browser.find_element(By.CSS_SELECTOR, "#review-sheet tbody tr[data-state=pending]")
    review_world["returned"] = row.get_attribute("data-indicator")
    row.find_element(By.CSS_SELECTOR, "input[name^=reason-]").send_keys("与台账不符，请核对")
    row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()  # the keyboard: space
    browser.find_element(By.ID, "return-selected").click()
    assert "已退回 1 项" in _message(browser, "已退回 1 项")
    browser.delete_all_cookies()  # 卫健委 leaves; the district logs in
    _the_district_corrects_the_return(run, browser, review_world, tmp_path)


def _the_district_corrects_the_return(run, browser, review_world, tmp_path):
    from selenium.webdriver.common.by import By

    second, month = review_world["districts"][1], review_world["month"]
    indicator = review_world["returned"]
    _login(browser, run, f"d-{second}", f"pw-d-{second}")
    browser.get(run.url + "/my/")
    assert browser.find_element(By.ID, "returned-link").text == "退回 1"  # the header
    cards = [c.get_attribute("id") for c in browser.find_elements(By.CSS_SELECTOR, "section")]
    assert cards[0] == "returned", cards  # first in 我的待办
    returned = browser.find_element(By.ID, "returned")
    assert "与台账不符，请核对" in returned.text
    returned.find_element(By.CSS_SELECTOR, "a.fix-link").click()
    row = browser.find_element(By.CSS_SELECTOR, f"tr.returned[data-indicator='{indicator}']")
    assert "与台账不符，请核对" in row.text  # on its entry row

    pdf = tmp_path / "核对台账.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    row.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(pdf))
    row.find_element(By.CSS_SELECTOR, "button[id$='-go']").click()
    assert "已上传佐证材料「核对台账.pdf」" in _message(browser, "已上传佐证材料「核对台账.pdf」")
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-indicator='{indicator}'].returned")
    link = row.find_element(By.CSS_SELECTOR, "a.attachment-link")
    opened = browser.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then(r => r.text().then("
        "t => done([r.status, r.headers.get('content-type'), "
        "r.headers.get('content-disposition'), t.slice(0, 8)])));",
        link.get_attribute("href"),
    )
    assert opened[:2] == [200, "application/pdf"] and opened[2].startswith("inline"), opened
    assert opened[3] == "%PDF-1.4"
    link.click()  # opens in a new tab, in the browser's own viewer
    assert len(browser.window_handles) == 2
    browser.switch_to.window(browser.window_handles[1])
    assert "/attachments/" in browser.current_url
    browser.close()
    browser.switch_to.window(browser.window_handles[0])

    box = row.find_element(By.CSS_SELECTOR, "input[name^=value-]")
    corrected = str(int(float(box.get_attribute("value") or 0)) + 1)
    box.clear()
    box.send_keys(corrected)
    browser.find_element(By.ID, "entry-save").click()
    assert "已全部保存" in _message(browser, "已全部保存")
    browser.get(f"{run.url}/review/?month={month}")
    browser.find_element(By.ID, "submit-month").click()
    assert "已上报" in _message(browser, "已上报")
    assert not browser.find_elements(By.ID, "returned-link")  # nothing returned any more


def worker_main_pid(run) -> int:
    """The checks worker's main process (its pool children carry the same command line)."""
    found = {}
    for pid in descendants(run.proc.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "celery -A config worker -n worker@" in command and "/bin/sh" not in command:
            found[pid] = int(_stat(pid)[1])
    mains = [pid for pid, parent in found.items() if parent not in found]
    assert len(mains) == 1, found
    return mains[0]


def test_a_killed_worker_is_restarted_and_web_stays_up(run):
    """SIGKILL, as the out-of-memory killer would: the supervisor says so, starts the worker
    again, and the new worker runs a task; web answered throughout."""
    from kombu import Connection  # only here: a message straight onto the run's broker

    from config.celery import app  # the project's tasks and serializer

    run.output_showing(r"worker\.1\s+\|.*ready\.")
    killed = worker_main_pid(run)
    os.kill(killed, signal.SIGKILL)
    out = run.output_showing(
        r"system\s+\|\s+worker\.1 已退出（被信号 SIGKILL 终止",
        r"(?s)worker\.1 已退出.*worker\.1 已启动",
        within=60,
    )
    assert re.search(r"worker\.1 已退出（被信号 SIGKILL 终止.*\d+ 秒后重启", out), out[-3000:]
    with urllib.request.urlopen(run.url + "/accounts/login/", timeout=10) as response:
        assert response.status == 200
    assert worker_main_pid(run) != killed
    broker = f"sqlite:///{run.workdir / 'var' / 'broker.sqlite3'}"
    with Connection(broker) as connection:
        sent = app.send_task("celery.accumulate", args=("restarted",), connection=connection)
    out = run.output_showing(rf"worker\.1\s+\|.*Task celery\.accumulate\[{sent.id}\] succeeded")
    assert re.search(rf"Task celery\.accumulate\[{sent.id}\] succeeded", out), out[-3000:]
    for other in ("web.1", "deliveries.1", "beat.1"):  # nobody else went down
        assert not re.search(rf"{re.escape(other)} 已退出", out), other


def test_one_ctrl_c_stops_every_process(run):
    run.seen |= descendants(run.proc.pid)
    assert len(run.seen) >= 4  # web, worker, deliveries, beat (and their children)
    leftover = run.stop()
    assert run.proc.returncode is not None
    assert not leftover, f"still running after Ctrl-C: {leftover}"
    with pytest.raises(OSError):
        urllib.request.urlopen(run.url + "/accounts/login/", timeout=3)
