"""``db.pipeline.pipelined``: each statement's rows, in order, the next statement
already sent on PostgreSQL (pipeline mode, on the request's own connection, so in its
transaction); one after another elsewhere, with ``READ_PIPELINE`` off or for one
statement. And the evaluation's pause of the cycle collector."""

import pytest
from django.db import connection

from tests.factories import DistrictFactory
from tracker.db.pipeline import pipeline_supported, pipelined
from tracker.plans.reference import District


def statements(names):
    table = connection.ops.quote_name(District._meta.db_table)
    return [(f"SELECT name FROM {table} WHERE name = %s", [name]) for name in names]


@pytest.mark.django_db
@pytest.mark.parametrize("pipeline", [True, False])
def test_rows_of_each_statement_in_order_seeing_the_transaction(settings, pipeline):
    settings.TRACKER = {**settings.TRACKER, "READ_PIPELINE": pipeline}
    names = [f"管线区{i}" for i in range(5)]
    for name in names:  # not committed: the test's transaction
        DistrictFactory(name=name)
    modes = []
    got = []
    for rows in pipelined(statements([*names, "没有的区"])):
        got.append(rows)
        if connection.vendor == "postgresql":
            modes.append(bool(connection.connection.pgconn.pipeline_status))
        # an ordinary query meanwhile: queued behind the statement in flight, answered
        assert District.objects.filter(name__in=names).count() == 5
    assert got == [[(name,)] for name in names] + [[]]
    if connection.vendor == "postgresql":
        assert pipeline_supported() is pipeline
        # suspended between statements: the next one already sent, in pipeline mode
        assert modes == [pipeline] * 6
        # one statement alone: nothing to overlap, no pipeline
        for rows in pipelined(statements(names[:1])):
            assert rows == [(names[0],)]
            assert not connection.connection.pgconn.pipeline_status
        assert not connection.connection.pgconn.pipeline_status  # left when done
        assert District.objects.filter(name__in=names).count() == 5  # usable again
    else:
        assert not pipeline_supported()


@pytest.mark.django_db
def test_no_statements_no_rows():
    assert list(pipelined([])) == []


@pytest.mark.django_db
def test_a_failing_statement_raises_and_leaves_the_connection_usable():
    from django.db import DatabaseError, transaction

    bad = [("SELECT no_such_column FROM tracker_district", [])]
    with pytest.raises(DatabaseError), transaction.atomic():
        list(pipelined(statements(["甲"]) + bad))
    assert District.objects.filter(name="甲").count() == 0


def test_cycle_collector_paused_while_cells_are_built_and_restored():
    """``memory.cyclic_gc_paused``: off inside, back as it was after, even on an error."""
    import gc

    from tracker.memory import cyclic_gc_paused

    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), cyclic_gc_paused():
        1 / 0  # noqa: B018
    assert gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()  # left off by whoever turned it off
    finally:
        gc.enable()
