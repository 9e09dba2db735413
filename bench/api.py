"""``python -m bench.api [--duration 10] [--connections 8] [--workers 2] [--database-url URL]``.

Serves the project with gunicorn under the benchmark's settings (``bench.settings``:
production's URLs plus the floors of ``bench/floors.py``) and drives it with wrk (Debian's
``wrk``, compiled, one thread) for each API endpoint and dashboard page, then for its floor
(a bare view computing the same answer from the same tables). Prints requests/s,
p50/p95/p99 latency (wrk's own histogram, through a Lua ``done`` hook) and the ratio
endpoint ÷ floor in the same run, which is what stays comparable on a loaded machine.
With ``--rounds N`` each endpoint and its floor are run N times alternately, and the
medians are printed, with each round's ratio: a drift in the machine's load then hits both
sides instead of deciding the ratio.

Without ``--database-url`` a scratch SQLite database under ``var/`` gets the 2024 plan and
a simulated year (through September); with it, the database must already hold both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
M = "month=2024-09"
LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def targets(ids: dict) -> list[tuple[str, str, str, str]]:
    """(name, auth, endpoint path, floor path); auth: "token" (API) or "session" (pages)."""
    i, d, cell_i = ids["indicator"], ids["district"], ids["cell_indicator"]
    f = "/bench/floor"
    return [
        ("API overview", "token", f"/api/v1/summary/overview/?{M}", f"{f}/api/overview/?{M}"),
        ("API summary/ranking", "token", f"/api/v1/summary/ranking/?{M}", f"{f}/api/ranking/?{M}"),
        ("API progress (50/page)", "token", "/api/v1/progress/", f"{f}/api/progress/"),
        ("API trajectory", "token", f"/api/v1/indicators/{i}/trajectory/",
         f"{f}/api/trajectory/{i}/"),
        ("page overview", "session", f"/?{M}", f"{f}/page/overview/?{M}"),
        ("page matrix", "session", f"/matrix/?{M}", f"{f}/page/matrix/?{M}"),
        ("page cell", "session", f"/matrix/{cell_i}/{d}/?{M}", f"{f}/page/cell/{cell_i}/{d}/"),
        ("page ranking", "session", f"/ranking/?{M}", f"{f}/page/ranking/?{M}"),
        ("page notice", "session", "/notice/2024-09/", f"{f}/page/notice/2024-09/"),
    ]  # fmt: skip


SETUP = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from tracker.api.auth import make_token
from tracker.models import District, Indicator, LagEvaluation, UserProfile
u, _ = get_user_model().objects.get_or_create(username="bench")
u.set_password("bench-pass-1"); u.save()
UserProfile.objects.get_or_create(user=u, defaults={"role": "supervision"})
client = Client(); client.force_login(u)
e = LagEvaluation.objects.filter(month="2024-09-01").order_by("indicator_id", "district_id")[0]
print(json.dumps({
    "token": make_token(u)[0], "session": client.cookies["sessionid"].value,
    "indicator": Indicator.objects.filter(project__seq=1).values_list("pk", flat=True)[0],
    "cell_indicator": e.indicator_id, "district": e.district_id,
}))
"""


def run(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[2])
    parser.add_argument("--duration", type=int, default=10, help="每项压测秒数")
    parser.add_argument("--connections", type=int, default=8, help="wrk 并发连接数")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn 进程数")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--database-url", help="已导入计划并模拟全年的数据库；默认新建临时 SQLite")
    parser.add_argument(
        "--cache-url",
        default=os.environ.get("TRACKER_CACHE_URL", ""),
        help="共享缓存（限流计数）：生产部署用 Redis，如 redis://127.0.0.1:6379/6；默认文件缓存",
    )
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="每项与其下限交替压测的轮数；打印各项中位数与每轮的比值",
    )  # fmt: skip
    parser.add_argument("--reuse", action="store_true", help="沿用上次的临时 SQLite 数据库")
    parser.add_argument("--only", help="只测名称含此文字的项目")
    o = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("需要 wrk：apt-get install -y wrk")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "DEBUG": "0",
           "API_THROTTLE_USER": "100000000/min", "API_THROTTLE_ANON": "100000000/min",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    env.setdefault("SECRET_KEY", "bench-only-not-a-secret")
    if o.cache_url:
        env["TRACKER_CACHE_URL"] = o.cache_url
    env["STATIC_ROOT"] = str(ROOT / "var" / "bench_static")  # pages need hashed static files
    python = sys.executable

    def manage(*args, **kw):
        return subprocess.run([python, "manage.py", *args], cwd=ROOT, env=env, check=True, **kw)

    if not o.database_url and o.reuse and (ROOT / "var" / "bench_api.sqlite3").exists():
        env["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench_api.sqlite3'}"
    elif not o.database_url:
        scratch = ROOT / "var" / "bench_api.sqlite3"
        scratch.parent.mkdir(exist_ok=True)
        scratch.unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{scratch}"
        print("准备临时数据库（计划 + 模拟到 9 月）…", flush=True)
        manage("migrate", "-v0", stdout=subprocess.DEVNULL)
        manage("load_plan", "fixtures/plan_2024.yaml", stdout=subprocess.DEVNULL)
        manage(
            "simulate_year", "2024", "--through", "2024-09", "--quiet", stdout=subprocess.DEVNULL
        )
    else:
        env["DATABASE_URL"] = o.database_url
    import json

    manage("collectstatic", "--noinput", "-v0")
    out = manage("shell", "-c", SETUP, capture_output=True, text=True)
    ids = json.loads(out.stdout.strip().splitlines()[-1])
    headers = {
        "token": f"Authorization: Bearer {ids['token']}",
        "session": f"Cookie: sessionid={ids['session']}",
    }
    server = subprocess.Popen(
        [python, "-m", "gunicorn", "config.wsgi", "-w", str(o.workers), "-b",
         f"127.0.0.1:{o.port}", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{o.port}"
    try:
        _wait(base)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA)
        print(
            f"gunicorn {o.workers} 个进程；wrk 1 线程 {o.connections} 个连接，"
            f"每项 {o.duration} s × {o.rounds} 轮（与下限交替，取中位数）"
        )
        print(f"{'':<24}{'':<7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'÷floor':>8}")
        for name, auth, path, floor in targets(ids):
            if o.only and o.only not in name:
                continue
            runs = {"ours": [], "floor": []}
            for url in (path, floor):
                _check(base + url, headers[auth])
            ratios = []
            for _round in range(o.rounds):  # alternated, so load drifts hit both alike
                for label, url in (("ours", path), ("floor", floor)):
                    runs[label].append(_wrk(wrk, base + url, headers[auth], script.name, o))
                ratios.append(runs["ours"][-1][0] / runs["floor"][-1][0])
            for label in ("ours", "floor"):
                rps, p50, p95, p99 = (median(x) for x in zip(*runs[label], strict=True))
                ratio = ""
                if label == "ours":
                    ratio = f"{median(ratios):8.2f}"
                    if o.rounds > 1:
                        ratio += "  (" + " ".join(f"{r:.2f}" for r in ratios) + ")"
                print(f"{name if label == 'ours' else '':<24}{label:<7}{rps:>8.0f}"
                      f"{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{ratio}", flush=True)  # fmt: skip
        os.unlink(script.name)
    finally:
        server.terminate()
        server.wait(timeout=20)


def _wait(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/api/health/", timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # up (health may report a missing broker: not this benchmark's concern)
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn 未能启动")


def _check(url: str, header: str) -> None:
    """A request before the run: the path must answer 200 (wrk only counts errors)."""
    name, value = header.split(": ", 1)
    request = urllib.request.Request(url, headers={name: value})
    with urllib.request.urlopen(request, timeout=60) as response:
        if response.status != 200 or response.url != url:
            raise SystemExit(f"{url} 返回 {response.status} {response.url}")


def _wrk(wrk, url, header, script, o):
    out = subprocess.run(
        [wrk, "-t1", f"-c{o.connections}", f"-d{o.duration}s", "--timeout", "30s",
         "-H", header, "-s", script, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    requests, duration_us, p50, p95, p99, errors = map(int, line.split()[1:])
    if errors:
        raise SystemExit(f"{url}: {errors} 个请求出错")
    return requests / (duration_us / 1e6), p50 / 1000, p95 / 1000, p99 / 1000


if __name__ == "__main__":
    run(sys.argv[1:])
