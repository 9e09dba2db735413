"""The lag check's database machinery, in one place: PostgreSQL COPY writers and pipelined
reads, both off the plain path elsewhere.

What it buys: ``bulk`` streams the check's rows (new and changed alert episodes with their
history, flips, digests, stored statuses) through COPY instead of ``bulk_create``'s ~7 µs of
field preparation per value, and picks rows by ``pk = ANY(array)`` (``pk_in``) instead of a
60 000-item ``IN`` list; ``pipeline`` sends the evaluation's next statement while Python
computes the rows of this one, so on two cores reading and the rules overlap. With the
passes that came with them, the whole check at 1000 × 60 went from 11–12 s to 7.5–7.8 s and
the evaluation at 3000 × 60 from 2.3× its bare-SQL floor to 1.2–1.3× (docs/performance.md).
``TRACKER_BULK_COPY=0`` / ``TRACKER_READ_PIPELINE=0`` switch them off; the rows are the same
either way (tests/monitoring/test_bulk_copy.py, test_pipeline.py, test_evaluate_sets.py).
"""
