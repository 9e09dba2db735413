"""The embedded broker (``config/broker.py``: kombu's SQLAlchemy transport on a SQLite
file) loses nothing, hands out nothing twice or half-written, and a malformed message
does not stop a real worker.

kombu's filesystem transport, the former default, handed out about 1 message in 8,400
half-written under two producers and one consumer; each killed the worker (issue 31).
"""

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kombu import Connection

from config.broker import DEAD_LETTERS

ROOT = Path(__file__).resolve().parents[2]
PER_PRODUCER = 10_000

pytestmark = pytest.mark.slow


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
