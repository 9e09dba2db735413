"""How bulk work treats the process's memory."""

import gc
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused():
    """CPython's cycle collector paused during bulk work, then restored.

    Bulk work makes containers by the hundred thousand: a month's ``Cell`` and
    ``Forecast`` objects (360 000 at 3000 × 60), a plan file's dicts and the rows it is
    compared with. Each allocation counts towards a collection, and in a large process a
    full one scans the whole heap, for nothing: none of them is part of a cycle, and
    reference counting frees them as ever. At 3000 × 60 the collections were 0.3–0.6 s of a
    2–2.7 s evaluation. Cycles made meanwhile (elsewhere) are collected once it is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
