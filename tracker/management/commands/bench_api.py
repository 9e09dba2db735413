"""``python manage.py bench_api [--requests N] [--concurrency C] [--workers W]``.

Builds a scratch SQLite database under ``var/`` (or uses ``--database-url``, which must
already hold the 2024 plan and a simulated year), serves the project with gunicorn in a
separate process and drives it from this one with a thread pool of HTTP clients. For each
endpoint it prints requests/s and p50/p95/p99 latency, next to the bare Django view that
returns the same JSON from the same query (``tracker/api/floor.py``, the floor).
Figures depend on the machine; the README records ours.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

M = "?month=2024-09"
ENDPOINTS = [
    ("summary (overview)", "/api/v1/summary/overview/" + M, "/api/floor/overview/" + M),
    ("ranking", "/api/v1/summary/ranking/" + M, "/api/floor/ranking/" + M),
    ("progress list", "/api/v1/progress/", "/api/floor/progress/"),
    ("trajectory", "/api/v1/indicators/{pk}/trajectory/", "/api/floor/trajectory/{pk}/"),
]  # fmt: skip


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


class Command(BaseCommand):
    help = "用 gunicorn 启动 API，从另一进程压测主要接口，输出吞吐量和延迟分位数（含下限）"

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=400, help="每个接口的请求数")
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--workers", type=int, default=2, help="gunicorn 进程数")
        parser.add_argument("--port", type=int, default=8799)
        parser.add_argument(
            "--database-url", help="已导入计划并模拟全年的数据库；默认新建临时 SQLite"
        )

    def handle(self, *args, requests, concurrency, workers, port, database_url, **options):
        root = Path(settings.BASE_DIR)
        env = {**os.environ, "TRACKER_BENCH_FLOOR": "1", "API_THROTTLE_USER": "1000000/min",
               "API_THROTTLE_LOGIN": "1000/min", "DEBUG": "0"}  # fmt: skip
        python = sys.executable
        if not database_url:
            scratch = root / "var" / "bench_api.sqlite3"
            scratch.unlink(missing_ok=True)
            database_url = f"sqlite:///{scratch}"
            env["DATABASE_URL"] = database_url
            self.stdout.write("准备临时数据库（计划 + 模拟全年）…")
            for step in (["migrate", "-v0"], ["load_plan", "fixtures/plan_2024.yaml"],
                         ["simulate_year", "2024", "--quiet"]):  # fmt: skip
                subprocess.run([python, "manage.py", *step], cwd=root, env=env, check=True,
                               stdout=subprocess.DEVNULL)  # fmt: skip
        env["DATABASE_URL"] = database_url
        setup = (
            "from django.contrib.auth import get_user_model; "
            "from tracker.models import UserProfile, Indicator; "
            "u, _ = get_user_model().objects.get_or_create(username='bench'); "
            "u.set_password('bench-pass-1'); u.save(); "
            "UserProfile.objects.get_or_create(user=u, defaults={'role': 'supervision'}); "
            "print(Indicator.objects.filter(project__seq=1).values_list('pk', flat=True)[0])"
        )
        out = subprocess.run([python, "manage.py", "shell", "-c", setup], cwd=root, env=env,
                             check=True, capture_output=True, text=True)  # fmt: skip
        indicator_pk = int(out.stdout.strip().splitlines()[-1])
        server = subprocess.Popen(
            [python, "-m", "gunicorn", "config.wsgi", "-w", str(workers), "-b",
             f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=root, env=env,
        )  # fmt: skip
        try:
            self._wait(port)
            token = self._token(port)
            headers = {"Authorization": f"Bearer {token}"}
            self.stdout.write(
                f"gunicorn {workers} 个进程；每个接口 {requests} 次请求，并发 {concurrency}"
            )
            self.stdout.write(
                f"{'接口':<20}{'':<6}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
            )
            for name, api_path, floor_path in ENDPOINTS:
                for label, path in (("API", api_path), ("floor", floor_path)):
                    url = path.format(pk=indicator_pk)
                    rps, p50, p95, p99 = self._drive(port, url, headers, requests, concurrency)
                    self.stdout.write(
                        f"{name:<20}{label:<6}{rps:>8.0f}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}"
                    )
        finally:
            server.terminate()
            server.wait(timeout=10)

    def _wait(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/health/")
                conn.getresponse().read()
                return
            except OSError:
                time.sleep(0.3)
        raise CommandError("gunicorn 未能启动")

    def _token(self, port: int) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"username": "bench", "password": "bench-pass-1"})
        conn.request("POST", "/api/v1/auth/token/", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = json.loads(response.read())
        if response.status != 200:
            raise CommandError(f"获取令牌失败：{data}")
        return data["token"]

    def _drive(self, port, path, headers, total, concurrency):
        def worker(n):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            times = []
            for _ in range(n):
                start = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise CommandError(f"{path} 返回 {response.status}")
                times.append((time.perf_counter() - start) * 1000)
            conn.close()
            return times

        self._warm(port, path, headers)
        share = [total // concurrency + (1 if i < total % concurrency else 0)
                 for i in range(concurrency)]  # fmt: skip
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = [t for chunk in pool.map(worker, share) for t in chunk]
        elapsed = time.perf_counter() - started
        return (
            len(latencies) / elapsed,
            statistics.median(latencies),
            _percentile(latencies, 95),
            _percentile(latencies, 99),
        )

    def _warm(self, port, path, headers):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(5):
            conn.request("GET", path, headers=headers)
            conn.getresponse().read()
        conn.close()
