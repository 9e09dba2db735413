"""How bulk work treats the process's memory."""

import gc
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused():
    """CPython's cycle collector paused while a month's cells are built, then restored.

    Every ``Cell`` and ``Forecast`` is a new container object the collector tracks; a
    month at 3000 × 60 makes 360 000 of them, which sets off several full collections
    scanning the whole heap, for nothing: none of them is part of a cycle, and reference
    counting frees them as ever. At that size the collections were 0.3–0.6 s of a 2–2.7 s
    evaluation. Cycles made meanwhile (elsewhere) are collected once it is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
