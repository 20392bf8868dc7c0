"""Keeping the cycle collector to the objects a fit or a series makes.

Importing the fitting stack (scipy, numba, lmfit, distributed) leaves ~10⁶ objects in the collector's oldest
generation. A full collection walks them all (~5 % of a Rietveld fit), and CPython runs one only when the objects
promoted since the last one exceed a quarter of that generation, so the cyclic garbage of hundreds of scans (each
scan's objective, phases and patterns outlive a collection or two) waited in it: a 1 000-scan sequential run grew
by 330 kB a scan. Inside :func:`frozen` the objects that existed on entry are frozen (``gc.freeze``), so full
collections see only what was made since and run as often as the scan's own garbage asks.

``gc.get_freeze_count`` walks the frozen objects (16 ms for 2·10⁵), so whether this process froze them is kept
here: the freeze is process-wide, as this record is; a forked child inherits both.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_state = {"frozen": False}  # whether refine froze this process's objects (mirrors the interpreter's own state)


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """Freeze the objects that exist now for the duration of the block; nested or already-frozen use is a no-op.

    Garbage made since the last collection is collected first (~1 ms): frozen, it would be unfrozen into the
    oldest generation and kept until a rare full collection (a 300-scan run grew to 725 MB instead of 351 MB).
    """
    if _state["frozen"] or gc.get_freeze_count():  # the count is cheap when nothing is frozen
        yield
        return
    gc.collect(1)
    _freeze()
    try:
        yield
    finally:
        _state["frozen"] = False
        gc.unfreeze()


def freeze_for_good() -> None:
    """Freeze every object for good: in a worker process once its libraries are imported, and before forking
    workers (as the ``gc`` documentation advises: the children share those pages instead of copying them when a
    collection touches them, and their collections skip them). Later :func:`frozen` scopes are no-ops."""
    gc.collect()
    _freeze()


def _freeze() -> None:
    gc.freeze()
    # CPython runs a full collection when the objects promoted since the last one exceed a quarter of those that
    # survived it; that count still held the frozen ones (10^6 in a worker: no full collection for 250 000 new
    # objects). A full collection now, over nothing, resets it.
    gc.collect()
    _state["frozen"] = True
