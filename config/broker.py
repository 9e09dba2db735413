"""The embedded default's broker: kombu's SQLAlchemy transport on a SQLite file, tightened.

kombu's filesystem transport handed out messages still being written (kombu issue 1551): the
worker died on a ``JSONDecodeError`` and the message was lost. Here every message is a row
in ``var/broker.sqlite3``, written and taken in a transaction, so a reader sees a whole
message or none. On top of kombu's own transport:

- SQLite runs in WAL mode with a 20 s busy timeout (like the tracker's own database), so
  web, beat and the workers queue for the write lock instead of failing with
  ``database is locked``;
- a message is deleted in the transaction that takes it (kombu keeps it forever as
  ``visible = 0``), and an empty queue is seen without taking the write lock;
- a row that is not a message (unreadable JSON, missing fields) moves to the
  ``dead_letters`` queue in the same transaction, with an error line in the log, and the
  worker goes on. ``Consumer`` does the same for a message whose body Celery cannot
  decode or whose task it does not know (any broker, Redis included).

Nothing consumes ``dead_letters``; docs/operations.md says how to look at it.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from queue import Empty

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu import Queue as KombuQueue
from kombu.transport.sqlalchemy import Channel as SQLAChannel
from kombu.transport.sqlalchemy import Transport as SQLATransport
from kombu.utils import cached_property
from kombu.utils.encoding import bytes_to_str
from sqlalchemy import create_engine, event, text

logger = logging.getLogger("tracker.broker")

DEAD_LETTERS = "dead_letters"
BUSY_TIMEOUT_SECONDS = 20


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def dead_letter_envelope(raw: str | bytes, queue: str, reason: str) -> dict:
    """A kombu message carrying ``raw`` unchanged (base64), with why and where from."""
    data = raw.encode() if isinstance(raw, str) else raw
    return {
        "body": base64.b64encode(data).decode(),
        "content-encoding": "binary",
        "content-type": "application/octet-stream",
        "headers": {"x-dead-letter-reason": reason[:500], "x-original-queue": queue},
        "properties": {
            "body_encoding": "base64",
            "delivery_info": {"exchange": "", "routing_key": DEAD_LETTERS},
            "delivery_mode": 2,
            "delivery_tag": str(uuid.uuid4()),
            "priority": 0,
        },
    }


class Channel(SQLAChannel):
    """kombu's SQLAlchemy channel with the hot path (put, take) in plain SQL."""

    def _engine_from_config(self):
        options = self.connection.client.transport_options.copy()
        for kombu_only in (
            "queue_tablename", "message_tablename", "callback", "errback", "max_retries",
            "interval_start", "interval_step", "interval_max", "retry_errors",
            "polling_interval",
        ):  # fmt: skip
            options.pop(kombu_only, None)
        url = self.connection.client.hostname
        if url.startswith("sqlite"):
            options.setdefault("connect_args", {}).setdefault("timeout", BUSY_TIMEOUT_SECONDS)
        engine = create_engine(url, **options)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    def _queue_id(self, queue: str) -> int:
        """The queue's row id (created once, then remembered by this channel)."""
        ids = self.__dict__.setdefault("_queue_ids", {})
        if queue not in ids:
            ids[queue] = self._get_or_create(queue).id
            self.session.commit()
        return ids[queue]

    @cached_property
    def _sql(self) -> dict:
        """The three statements of the hot path, built once (plain SQL: SQLite, PostgreSQL,
        MySQL 8)."""
        m = self.message_tablename
        return {
            "put": text(
                f"INSERT INTO {m} (queue_id, visible, payload, version)"
                " VALUES (:queue, TRUE, :payload, 1)"
            ),
            "any": text(f"SELECT 1 FROM {m} WHERE queue_id = :queue AND visible LIMIT 1"),
            # One statement finds and deletes the oldest row: two consumers never get the
            # same row, and a row is whole before anyone can see it (its INSERT committed).
            "take": text(
                f"DELETE FROM {m} WHERE id = (SELECT id FROM {m} WHERE queue_id = :queue"
                " AND visible ORDER BY id LIMIT 1) RETURNING id, payload"
            ),
        }

    def _put(self, queue, payload, **kwargs):
        """One INSERT in its own transaction (kombu's ORM path, minus its overhead)."""
        params = {"queue": self._queue_id(queue), "payload": json.dumps(payload)}
        with self.session.bind.begin() as connection:
            connection.execute(self._sql["put"], params)

    def _get(self, queue):
        """Take the oldest message, deleting it in the transaction that reads it."""
        params = {"queue": self._queue_id(queue)}
        engine = self.session.bind
        with engine.connect() as connection:  # an empty queue takes no write lock
            if connection.execute(self._sql["any"], params).first() is None:
                raise Empty()
        dead_letters = self._queue_id(DEAD_LETTERS)  # before the write lock is taken
        with engine.begin() as connection:
            row = connection.execute(self._sql["take"], params).first()
            if row is None:
                raise Empty()  # another consumer took it
            try:
                payload = json.loads(bytes_to_str(row.payload))
                self.Message(payload, channel=self)  # what the consumer will build from it
                return payload
            except Exception as exc:  # any way it is not a message: keep it aside
                reason = f"{type(exc).__name__}: {exc}"
                envelope = dead_letter_envelope(row.payload, queue, reason)
                connection.execute(
                    self._sql["put"], {"queue": dead_letters, "payload": json.dumps(envelope)}
                )
        logger.error(
            "无法读取的消息已移入死信队列 %s（原队列 %s，消息 %s）：%s",
            DEAD_LETTERS, queue, row.id, reason,
        )  # fmt: skip
        return self._get(queue)


class Transport(SQLATransport):
    """The transport of ``sqlite:///…`` broker URLs (registered in ``config/celery.py``)."""

    Channel = Channel


class Consumer(CeleryConsumer):
    """Celery's consumer (``worker_consumer``), keeping what it cannot run in
    ``dead_letters`` before Celery logs and drops it."""

    def dead_letter(self, message, exc) -> None:
        queue = (message.delivery_info or {}).get("routing_key", "")
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown message"
        try:
            with self.app.producer_or_acquire() as producer:
                producer.publish(
                    message.body,
                    exchange="",
                    routing_key=DEAD_LETTERS,
                    declare=[KombuQueue(DEAD_LETTERS)],
                    content_type=message.content_type or "application/octet-stream",
                    content_encoding=message.content_encoding or "binary",
                    headers={"x-dead-letter-reason": reason[:500], "x-original-queue": queue},
                    retry=True,
                )
        except Exception:  # the broker is down: Celery's own log line still says what
            logger.exception("死信队列 %s 写入失败（原队列 %s）", DEAD_LETTERS, queue)
            return
        logger.error(
            "无法执行的消息已移入死信队列 %s（原队列 %s）：%s", DEAD_LETTERS, queue, reason
        )

    def on_decode_error(self, message, exc):
        self.dead_letter(message, exc)
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body, message):
        self.dead_letter(message, None)
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body, message, exc):
        self.dead_letter(message, exc)
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body, message, exc):
        self.dead_letter(message, exc)
        super().on_invalid_task(body, message, exc)
