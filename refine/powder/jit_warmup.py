"""Importing this module initialises the compiled peak kernels' runtime: numba's CPU target and the modules of the
kernels a powder fit calls.

The local Dask workers' fork server imports it (:data:`refine.executor.WORKER_PRELOAD`), so that every worker
forked from it starts with numba's compiler context set up; otherwise each worker's first fit spends ~0.3 CPU-s on
it (the kernels themselves then load from numba's disk cache in ~5 ms each). Nothing else imports it.
"""

from refine.powder import _peak_jit, derivatives, jacobian  # noqa: F401 - the modules a fit imports on first use

_peak_jit.gauss_cut(1.0, 1.0, 1.0, 1.0)  # the first call of any compiled function initialises numba's CPU target
