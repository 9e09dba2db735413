"""Read statements one after another with the server already working on the next.

``pipelined(statements)`` yields each statement's rows in order. On PostgreSQL the
statements go through psycopg's pipeline mode on the request's own connection (so in
its transaction, seeing what it sees): statement k+1 is sent before the caller gets the
rows of statement k, so the server computes it while Python works on those rows — on two
cores the reading and the Python rules of a check overlap instead of adding up. Elsewhere
(SQLite) the statements simply run in turn. The rows are the same either way.

While the generator is suspended the connection is in pipeline mode: the caller may run
ordinary queries (psycopg queues them in the pipeline, and fetching their rows syncs it),
but not COPY or server-side cursors; the lag evaluation only computes between rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from django.db import connection

from tracker import conf


def pipeline_supported() -> bool:
    if connection.vendor != "postgresql" or not conf.READ_PIPELINE:
        return False
    import psycopg  # PostgreSQL only: SQLite runs without psycopg

    return psycopg.Pipeline.is_supported()


def pipelined(statements: Sequence[tuple[str, list]]) -> Iterator[list]:
    """The rows (a list) of each ``(sql, params)`` of ``statements``, in order; on
    PostgreSQL, with two or more, the next statement is sent before the rows of one are
    handed over.

    (psycopg's fetch waits for every result queued in the pipeline, so the next
    statement is sent only once the rows of the current one are in, not earlier.)"""
    if len(statements) < 2 or not pipeline_supported():
        for sql, params in statements:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                yield cursor.fetchall()
        return
    connection.ensure_connection()
    with connection.connection.pipeline():
        cursor = _send(*statements[0])
        try:
            for sql, params in statements[1:]:
                rows = cursor.fetchall()
                cursor.close()
                cursor = _send(sql, params)  # the server starts on it …
                yield rows  # … while the caller works on these
            yield cursor.fetchall()
        finally:
            cursor.close()


def _send(sql: str, params: list):
    cursor = connection.cursor()
    cursor.execute(sql, params)  # in pipeline mode: sent, not waited for
    return cursor
