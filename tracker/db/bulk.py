"""Bulk writes through PostgreSQL's COPY (psycopg ``cursor.copy``), for the lag check.

Django's ``bulk_create`` prepares every value of every row through its field machinery
(about 7 µs a value) and builds a statement with one parameter per value; at tens of
thousands of alerts, their history and flips this was most of a check's time. COPY
streams the rows instead. Values go out as the model instance holds them, with the only
conversions Django would apply on save that change what is stored: decimals rounded to
the field's places (``format_number``, as ``DecimalField.get_db_prep_save``) and JSON
encoded.

``copy_supported()``: PostgreSQL with ``conf.BULK_COPY`` on (the default; env
``TRACKER_BULK_COPY=0`` turns it off); otherwise the callers keep the ORM path.
(It was opt-in for a while: the two-worker spread test hung now and then. The cause was
the test, not COPY: its two in-thread workers shared kombu's one global event loop; the
test now starts two worker processes, see ``tests/spread_worker.py``.)

New rows get their ids first from the table's sequence (one query), so the
caller can link flips to new alerts as ``bulk_create`` would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal, getcontext

from django.db import connection, models
from django.db.backends.utils import format_number
from django.db.models import F, Lookup

from tracker import conf


def copy_supported() -> bool:

    return connection.vendor == "postgresql" and conf.BULK_COPY


def _converter(field: models.Field):
    if isinstance(field, models.DecimalField):
        places, digits = field.decimal_places, field.max_digits
        if places is None:  # pragma: no cover - every decimal field here has places

            def decimal(v):
                return None if v is None else format_number(v, digits, places)

            return decimal
        # ``format_number`` with its context and quantum made once per field instead of
        # per value (a check writes ~200 000 decimals): the same quantize, the same text.
        context = getcontext().copy()
        context.prec = digits
        quantum = Decimal(1).scaleb(-places)

        def quantized(v):
            return None if v is None else f"{v.quantize(quantum, context=context):f}"

        return quantized
    if isinstance(field, models.JSONField):
        from psycopg.types.json import Jsonb  # PostgreSQL only: SQLite runs without psycopg

        encoder = field.encoder

        def as_json(v):
            return None if v is None else Jsonb(v, dumps=lambda o: json.dumps(o, cls=encoder))

        return as_json
    return None


def _plan(model: type[models.Model], names: Sequence[str]):
    """(quoted columns, [(attname, converter)]) of ``names`` (field names or attnames)."""
    fields = [model._meta.get_field(n) for n in names]
    quote = connection.ops.quote_name
    return (
        ", ".join(quote(f.column) for f in fields),
        [(f.attname, _converter(f)) for f in fields],
    )


def _rows(objs: Iterable, getters) -> Iterable[tuple]:
    for obj in objs:
        yield tuple(
            (conv(getattr(obj, name)) if conv else getattr(obj, name)) for name, conv in getters
        )


def _copy(table: str, columns: str, rows: Iterable[tuple]) -> None:
    # Rows are built before COPY starts: reading a value may itself query (a deferred
    # field, a relation not loaded), and no other statement can run on the connection
    # while a COPY is in progress (a worker then hung until its time limit).
    rows = list(rows)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def concrete_names(model: type[models.Model], *, exclude: Sequence[str] = ()) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if f.name not in exclude]


def allocate_ids(model: type[models.Model], n: int) -> list[int]:
    """``n`` new primary keys from the table's sequence (one query)."""
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, pk, n],
        )
        return [r[0] for r in cursor.fetchall()]


def copy_create(model: type[models.Model], objs: list, *, with_ids: bool = True) -> None:
    """Insert ``objs`` (unsaved instances) with COPY; ``with_ids``: give them ids first."""
    if not objs:
        return
    exclude = () if with_ids else (model._meta.pk.name,)
    if with_ids:
        for obj, pk in zip(objs, allocate_ids(model, len(objs)), strict=True):
            obj.pk = pk
    columns, getters = _plan(model, concrete_names(model, exclude=exclude))
    _copy(connection.ops.quote_name(model._meta.db_table), columns, _rows(objs, getters))


def copy_rows(model: type[models.Model], names: Sequence[str], rows: Iterable[tuple]) -> None:
    """Insert plain tuples (values in ``names`` order, as stored) with COPY: for rows made
    by the thousand, such as a digest's links to its alerts, where building a model
    instance per row cost more than writing it."""
    columns, _ = _plan(model, names)
    _copy(connection.ops.quote_name(model._meta.db_table), columns, rows)


def _through_temp(model: type[models.Model], columns: str, rows, statement: str, params=()):
    """COPY ``rows`` into a temporary table shaped like ``model``'s ``columns``, run
    ``statement`` (``{temp}`` names the table), drop the table. A table left by a failed
    run on this connection is dropped first."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    temp = quote(f"_copy_{model._meta.db_table}")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(f"CREATE TEMPORARY TABLE {temp} AS SELECT {columns} FROM {table} LIMIT 0")
    _copy(temp, columns, rows)
    with connection.cursor() as cursor:
        cursor.execute(statement.format(temp=temp), params)
        cursor.execute(f"DROP TABLE {temp}")


def copy_update(model: type[models.Model], objs: list, fields: Sequence[str]) -> None:
    """Set ``fields`` of saved ``objs`` (by primary key): COPY into a temporary table,
    then one ``UPDATE … FROM``."""
    if not objs:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    pk = quote(model._meta.pk.column)
    columns, getters = _plan(model, [model._meta.pk.name, *fields])
    sets = ", ".join(
        f"{quote(c)} = t.{quote(c)}" for c in (model._meta.get_field(n).column for n in fields)
    )
    _through_temp(
        model, columns, _rows(objs, getters),
        f"UPDATE {table} SET {sets} FROM {{temp}} t WHERE {table}.{pk} = t.{pk}",
    )  # fmt: skip


def copy_upsert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    unique: Sequence[str],
    fixed: dict | None = None,
    keep: Sequence[str] = (),
) -> None:
    """``INSERT … ON CONFLICT (unique) DO UPDATE`` of ``rows`` (values in ``columns``
    order, as stored: numbers may be text), through a temporary table filled by COPY;
    ``fixed`` columns take one value for every row; ``keep`` columns are written on
    insert only. Ids of existing rows are kept."""
    quote = connection.ops.quote_name
    fixed = fixed or {}
    quoted = ", ".join(quote(c) for c in columns)
    every = [*columns, *fixed]
    updates = ", ".join(
        f"{quote(c)} = excluded.{quote(c)}" for c in every if c not in unique and c not in keep
    )
    fields = {f.column: f for f in model._meta.concrete_fields}
    params = [fields[c].get_db_prep_save(v, connection) for c, v in fixed.items()]
    _through_temp(
        model, quoted, rows,
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in every)}) "
        f"SELECT {quoted}{''.join(', %s' for _ in fixed)} FROM {{temp}} "
        f"ON CONFLICT ({', '.join(quote(c) for c in unique)}) DO UPDATE SET {updates}",
        params,
    )  # fmt: skip


def copy_history(
    model: type[models.Model], objs: list, *, update: bool, date: datetime, reason: str
) -> None:
    """The ``django-simple-history`` rows of ``objs`` as ``bulk_history_create`` writes
    them (``+`` created, ``~`` changed; the default history user, here one for the batch),
    through COPY."""
    if not objs:
        return
    history = model.history.model
    user = history.get_default_history_user(objs[0])
    user_id = getattr(user, "pk", None)
    tracked = [f.attname for f in history.tracked_fields]
    meta = {
        "history_date": date,
        "history_change_reason": reason,
        "history_type": "~" if update else "+",
        "history_user_id": user_id,
    }
    names = [n for n in meta if _has(history, n)]
    columns, _ = _plan(history, [*tracked, *names])
    src_fields = {f.attname: f for f in model._meta.concrete_fields}
    getters = [(a, _converter(src_fields[a]) if a in src_fields else None) for a in tracked]
    extra = tuple(meta[n] for n in names)

    def rows():
        for obj in objs:
            yield (
                *((conv(getattr(obj, a)) if conv else getattr(obj, a)) for a, conv in getters),
                *extra,
            )

    _copy(connection.ops.quote_name(history._meta.db_table), columns, rows())


def _has(model, attname: str) -> bool:
    return any(f.attname == attname for f in model._meta.concrete_fields)


class _AnyOf(Lookup):
    """``lhs = ANY(%s)`` with the values as one array parameter (PostgreSQL)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*params, list(self.rhs))


def pk_in(queryset, ids):
    """``queryset.filter(pk__in=ids)``; on PostgreSQL ``pk = ANY(%s)`` with one array
    parameter instead: a digest run marks some 60 000 episodes told, and an ``IN`` list
    that long cost Django's lookup and psycopg's placeholder split about 0.6 s a
    statement. Other backends keep ``IN``."""
    ids = list(ids)
    if connection.vendor == "postgresql":
        return queryset.filter(_AnyOf(F("pk"), ids))
    return queryset.filter(pk__in=ids)
