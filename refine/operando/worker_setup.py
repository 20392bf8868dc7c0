"""What a Dask worker that fits scans imports, and its collector set-up: a Dask preload module.

Local workers forked by :mod:`refine.local_workers` import this module in their zygote (which freezes what it
imported before forking them); workers that Dask starts itself (its Nanny, a fork server: on a caller with other
threads, such as a notebook kernel) run :func:`dask_setup` once, after this import.
"""

from __future__ import annotations

from typing import Any

import refine.operando.sequential  # noqa: F401 - the fit kinds' registry and what a scan's fit needs


def dask_setup(worker: Any) -> None:
    """Freeze the worker's libraries for good (:func:`refine.gc_scope.freeze_for_good`): without it every fit
    froze and unfroze them, the objects alive across a fit were promoted among them into the oldest generation,
    and a worker grew ~330 kB a scan until a rare full collection."""
    from refine.gc_scope import freeze_for_good

    freeze_for_good()
