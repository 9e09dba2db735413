"""The embedded broker (``config/broker.py``: kombu's SQLAlchemy transport on a SQLite
file) loses nothing, hands out nothing twice or half-written, and a malformed message
does not stop a real worker.

kombu's filesystem transport, the former default, handed out about 1 message in 8,400
half-written under two producers and one consumer; each killed the worker (issue 31).
"""

import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from kombu import Connection

from config.broker import DEAD_LETTERS

ROOT = Path(__file__).resolve().parents[2]
PER_PRODUCER = 10_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="runs once, in the SQLite pass: the embedded broker does not depend on it",
    ),
]


def queued(path: Path, queue: str) -> list[dict]:
    """The messages waiting in ``queue``, read straight from the SQLite file."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT m.payload FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id"
            " WHERE q.name = ? ORDER BY m.id",
            (queue,),
        ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


def test_two_producers_and_a_consumer_move_20000_messages_whole_once_each(tmp_path):
    url = f"sqlite:///{tmp_path / 'broker.sqlite3'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.broker_load", url]
    producers = [
        subprocess.Popen([*command, tag, str(PER_PRODUCER)], cwd=ROOT, env=env, stderr=-1)
        for tag in ("web", "beat")
    ]
    received: list[tuple[str, int]] = []
    unreadable = 0
    with Connection(url) as connection:
        queue = connection.SimpleQueue("load")
        deadline = time.monotonic() + 600  # bounds the wait only
        while len(received) < 2 * PER_PRODUCER and time.monotonic() < deadline:
            try:
                message = queue.get(timeout=1)
            except queue.Empty:
                if all(p.poll() is not None for p in producers) and not queue.qsize():
                    break
                continue
            try:
                body = message.payload
                received.append((body["tag"], body["n"]))
            except Exception:  # a half-written or garbled message
                unreadable += 1
            message.ack()
        queue.close()
    for producer in producers:
        assert producer.wait(timeout=60) == 0, producer.stderr.read().decode()[-2000:]

    expected = {(tag, n) for tag in ("web", "beat") for n in range(PER_PRODUCER)}
    assert unreadable == 0
    assert len(received) == len(set(received)), "duplicates"
    assert set(received) == expected, f"lost: {len(expected - set(received))}"
    assert not queued(tmp_path / "broker.sqlite3", DEAD_LETTERS)
    # Each producer's messages arrive in the order it sent them.
    for tag in ("web", "beat"):
        assert [n for t, n in received if t == tag] == list(range(PER_PRODUCER))


def put_raw(path: Path, queue: str, payload: str) -> None:
    """A row as any writer could leave it: the broker's tables, no kombu in between."""
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR IGNORE INTO kombu_queue (name) VALUES (?)", (queue,))
        (queue_id,) = db.execute("SELECT id FROM kombu_queue WHERE name = ?", (queue,)).fetchone()
        db.execute(
            "INSERT INTO kombu_message (queue_id, visible, payload, version) VALUES (?, 1, ?, 1)",
            (queue_id, payload),
        )


def envelope(body: bytes, task: str) -> str:
    """A kombu message as Celery sends a task (protocol 2), around any ``body``."""
    return json.dumps({
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"lang": "py", "task": task, "id": f"bad-{task}", "retries": 0,
                    "root_id": None, "parent_id": None, "group": None, "argsrepr": "()",
                    "kwargsrepr": "{}", "origin": "test"},
        "properties": {"body_encoding": "base64", "delivery_tag": f"tag-{task}",
                       "delivery_mode": 2, "priority": 0,
                       "delivery_info": {"exchange": "", "routing_key": "celery"}},
    })  # fmt: skip


def wait_for(log: Path, pattern: str, proc: subprocess.Popen, within: float = 60) -> str:
    deadline = time.monotonic() + within  # bounds the wait only
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if re.search(pattern, text):
            return text
        if proc.poll() is not None:
            pytest.fail(f"worker exited ({proc.returncode}):\n{text[-4000:]}")
        time.sleep(0.3)
    pytest.fail(f"{pattern!r} not in the worker's output:\n{log.read_text()[-4000:]}")


def test_malformed_messages_go_to_dead_letters_and_a_real_worker_keeps_running(tmp_path):
    """A half-written message (the filesystem transport's failure), a body that is not
    JSON and an unknown task: each goes to ``dead_letters`` with an error line, and the
    worker runs the task queued after them."""
    broker = tmp_path / "broker.sqlite3"
    log = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(TRACKER_BROKER_FILE=str(broker), TRACKER_VAR_DIR=str(tmp_path),
               PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-n", "malformed@%h",
         "-Q", "celery", "--pool", "solo", "-l", "info"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(log, r"ready\.", worker)
        half = envelope(b"[[42], {}, {}]", "celery.accumulate")
        put_raw(broker, "celery", half[: len(half) // 2])  # cut mid-write
        put_raw(broker, "celery", envelope(b"[[42], {", "celery.accumulate"))
        put_raw(broker, "celery", envelope(b"[[42], {}, {}]", "tracker.no_such_task"))
        with Connection(f"sqlite:///{broker}") as connection:
            from config.celery import app  # the project's app (tasks, serializer), sent here

            app.send_task("celery.accumulate", args=(42,), connection=connection)
        ran = r"Task celery\.accumulate\[[0-9a-f-]+\] succeeded.*: \(42,\)"
        text = wait_for(log, ran, worker)
        assert worker.poll() is None, "the worker stopped"
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    dead = queued(broker, DEAD_LETTERS)
    reasons = [m["headers"]["x-dead-letter-reason"] for m in dead]
    assert len(dead) == 3, reasons
    assert reasons[0].startswith("JSONDecodeError")  # the half-written row, taken aside whole
    assert base64.b64decode(dead[0]["body"]).decode() == half[: len(half) // 2]
    assert {m["headers"]["x-original-queue"] for m in dead} == {"celery"}
    assert base64.b64decode(dead[1]["body"]) == b"[[42], {"  # kept as it came
    assert "no_such_task" in reasons[2]
    assert text.count("已移入死信队列 dead_letters") == 3
    assert "Unrecoverable error" not in text
    assert not queued(broker, "celery")


def test_a_worker_without_its_broker_keeps_retrying(tmp_path):
    """Celery's default gives up after 100 attempts (about 47 minutes) and exits; ours
    retries with a growing pause until it is stopped (``broker_connection_max_retries``)."""
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",  # nothing listens
        "TRACKER_VAR_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-n", "nobroker@%h",
         "--pool", "solo", "-l", "info"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        pattern = r"(?s)(Trying again in .*){3}"
        text = wait_for(log, pattern, worker)
        assert worker.poll() is None
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert "Cannot connect to redis://" in text
    pauses = [float(p) for p in re.findall(r"Trying again in ([\d.]+) seconds", text)]
    assert pauses[:3] == sorted(pauses[:3]) and pauses[2] > pauses[0]  # backing off
    assert "(3/None)" in text  # attempt 3 of no limit (Celery's default: of 100)
