"""Soak test of the run command: web, workers and beat for SOAK_SECONDS under load.

``scripts/soak.sh`` (``SOAK_SECONDS``, default 600). Runs ``scripts/run.sh`` from this
checkout with a var folder of its own (``SOAK_VAR_DIR``, default a new temporary folder),
a free port and beat's heartbeat every second (``TRACKER_HEARTBEAT_SECONDS=1``). While it
runs, ``SOAK_WRITERS`` (2) threads change progress notes through the API, each up to
``SOAK_WRITES_PER_SECOND`` (10) times a second (together below the user throttle of
3000 a minute). At the end it checks, and prints:

- every process stayed alive: the supervisor reported no exit and no restart;
- every heartbeat beat sent ran on the worker (none expired or lost);
- every write the API acknowledged is stored: one history row each, and the last note of
  each row is the last one acknowledged;
- nothing went to the broker's ``dead_letters`` queue and nothing logged
  ``database is locked`` or an unrecoverable error.

Exit status 0 when all hold, 1 otherwise; the run's output stays in the var folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLEARED = {"DATABASE_URL", "SECRET_KEY", "DJANGO_SECURE", "DEBUG", "REDIS_URL",
           "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DJANGO_SETTINGS_MODULE",
           "TEST_DATABASE_NAME", "CELERY_TASK_ALWAYS_EAGER", "TRACKER_CACHE_DIR",
           "TRACKER_BROKER_FILE", "TRACKER_CACHE_URL", "MEDIA_ROOT"}  # fmt: skip
START_TIMEOUT = 900  # seconds: install check, migrate, collectstatic, load, simulate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, url: str):
        self.url, self.token = url, ""

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


class Writer(threading.Thread):
    """Changes the notes of its own progress rows in turn; keeps what was acknowledged."""

    def __init__(self, api: Api, rows: list[dict], tag: str, stop: threading.Event, rate: float):
        super().__init__(daemon=True)
        self.api, self.rows, self.tag, self.stop = api, rows, tag, stop
        self.interval = 1 / rate
        self.acknowledged: dict[int, list[str]] = {row["id"]: [] for row in rows}
        self.refused: list[str] = []

    def run(self) -> None:
        n = 0
        began = time.monotonic()
        while not self.stop.is_set():
            self.stop.wait(max(0.0, began + n * self.interval - time.monotonic()))
            row = self.rows[n % len(self.rows)]
            note = f"soak {self.tag}-{n}"
            try:
                status, body = self.api.call(
                    "PATCH", f"/api/v1/progress/{row['id']}/",
                    {"version": row["version"], "note": note},
                )  # fmt: skip
            except OSError as exc:  # no answer: not acknowledged, counted as refused
                status, body = 0, {"detail": repr(exc)}
            if status == 200:
                row["version"] = body["version"]
                self.acknowledged[row["id"]].append(note)
            else:
                self.refused.append(f"{status} {body}")
            n += 1


def count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text, flags=re.MULTILINE))


def main() -> int:
    seconds = int(os.environ.get("SOAK_SECONDS", "600"))
    writers_wanted = int(os.environ.get("SOAK_WRITERS", "2"))
    rate = float(os.environ.get("SOAK_WRITES_PER_SECOND", "10"))
    var = Path(os.environ.get("SOAK_VAR_DIR") or tempfile.mkdtemp(prefix="tracker-soak-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = var / "soak-run.log"
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(TRACKER_VAR_DIR=str(var), HOST="127.0.0.1", PORT=str(port),
               TRACKER_HEARTBEAT_SECONDS="1", PYTHONUNBUFFERED="1")  # fmt: skip
    print(f"soak: {seconds} s, var folder {var}, {url}", flush=True)
    run = subprocess.Popen(
        ["scripts/run.sh"], cwd=ROOT, env=env, stdout=log.open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    api = Api(url)
    failures: list[str] = []
    stop = threading.Event()
    writers: list[Writer] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if run.poll() is not None:
                print(log.read_text(errors="replace")[-4000:])
                print(f"soak: FAILED, the run command exited ({run.returncode}) before it was up")
                return 1
            with contextlib.suppress(OSError, ValueError):
                if api.call("GET", "/api/health/") == (200, {"status": "ok"}):
                    break
            if time.monotonic() > deadline:
                print(log.read_text(errors="replace")[-4000:])
                print(f"soak: FAILED, not healthy after {START_TIMEOUT} s")
                return 1
            time.sleep(2)
        user = env.get("TRACKER_ADMIN_USER", "admin")
        password = env.get("TRACKER_ADMIN_PASSWORD", "minsheng-2024")
        status, body = api.call("POST", "/api/v1/auth/token/",
                                {"username": user, "password": password})  # fmt: skip
        assert status == 200, (status, body)
        api.token = body["token"]
        status, body = api.call("GET", "/api/v1/progress/?month=2024-12&page_size=200")
        assert status == 200, (status, body)
        rows = body["results"] if isinstance(body, dict) else body
        rows = [{"id": r["id"], "version": r["version"]} for r in rows][: 10 * writers_wanted]
        assert len(rows) >= writers_wanted, "no progress rows to write"
        started_output = len(log.read_text(errors="replace"))
        writers = [
            Writer(api, rows[i::writers_wanted], f"w{i}", stop, rate) for i in range(writers_wanted)
        ]
        for writer in writers:
            writer.start()
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            time.sleep(1)
            if run.poll() is not None:
                failures.append(f"the run command exited ({run.returncode})")
                break
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
        sent_by_now = count(r"Sending due task heartbeat", log.read_text(errors="replace"))
        time.sleep(5)  # the last heartbeats sent reach the worker
        with contextlib.suppress(OSError, ValueError):
            health = api.call("GET", "/api/health/")
            if health[0] != 200:
                failures.append(f"/api/health/ at the end: {health}")
    finally:
        stop.set()
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGINT)
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                failures.append("the run command did not stop within 60 s of Ctrl-C")

    output = log.read_text(errors="replace")
    during = output[started_output:]
    exits = re.findall(r"^.*system\s+\|\s+\S+ 已退出.*$", output, flags=re.MULTILINE)
    ran = count(r"worker\.1\s+\|.*Task tracker\.heartbeat\[[0-9a-f-]+\] succeeded", output)
    discarded = count(r"(?i)(expired|revoked|discard).*tracker\.heartbeat|"
                      r"tracker\.heartbeat.*(expired|revoked|discard)", output)  # fmt: skip
    acknowledged = sum(len(notes) for w in writers for notes in w.acknowledged.values())
    refused = [r for w in writers for r in w.refused]
    with sqlite3.connect(var / "db.sqlite3") as db:
        stored = db.execute(
            "SELECT count(*) FROM tracker_historicalprogressreport WHERE note LIKE 'soak w%'"
        ).fetchone()[0]
        mismatched = []
        for writer in writers:
            for pk, notes in writer.acknowledged.items():
                (note,) = db.execute(
                    "SELECT note FROM tracker_progressreport WHERE id = ?", (pk,)
                ).fetchone()
                if notes and note != notes[-1]:
                    mismatched.append((pk, note, notes[-1]))
    in_queue = (
        "SELECT m.payload FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id"
        " WHERE q.name = ?"
    )
    with sqlite3.connect(var / "broker.sqlite3") as broker:
        dead = len(broker.execute(in_queue, ("dead_letters",)).fetchall())
        waiting = sum(
            '"task": "tracker.heartbeat"' in payload
            for (payload,) in broker.execute(in_queue, ("celery",))
        )
    # Every heartbeat sent: one per "Sending due task" line, plus one per beat start
    # (config/celery.py sends it without that line). Each ran, or still waits in the
    # broker because the worker stopped first; none may be lost or expire.
    sent = count(r"Sending due task heartbeat", output) + count(
        r"system\s+\|\s+beat\.1 已启动", output
    )

    if exits:
        failures.append(f"processes exited: {exits}")
    if ran < sent_by_now or ran + waiting != sent:
        failures.append(f"heartbeats: {sent} sent, {ran} ran, {waiting} still queued")
    if discarded:
        failures.append(f"{discarded} heartbeats expired or discarded")
    if acknowledged == 0:
        failures.append("no write was acknowledged")
    if stored != acknowledged:
        failures.append(f"writes: {acknowledged} acknowledged, {stored} in history")
    if mismatched:
        failures.append(f"rows whose last note is not the last acknowledged: {mismatched[:5]}")
    if refused:
        failures.append(f"{len(refused)} writes refused, e.g. {refused[:3]}")
    if dead:
        failures.append(f"{dead} messages in dead_letters")
    for bad in ("database is locked", "Unrecoverable error", "Traceback"):
        if bad in during:
            failures.append(f"the output says {bad!r}")

    print(
        f"soak: {seconds} s; processes exited: {len(exits)}; heartbeats sent {sent}, ran "
        f"{ran}, queued at the stop {waiting}, expired {discarded}; writes acknowledged "
        f"{acknowledged}, "
        f"refused {len(refused)}, stored {stored}; dead letters {dead}; output in {log}"
    )
    for failure in failures:
        print(f"soak: FAILED: {failure}")
    print("soak: OK" if not failures else "soak: FAILED")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
