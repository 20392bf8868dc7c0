"""Where independent tasks run: in this process, on a local Dask cluster, or on a Dask scheduler elsewhere.

A core-level module (no refine imports beyond :mod:`refine.errors`; Dask is imported only when asked for) so that
the sequential fits of :mod:`refine.operando` and, later, the frame chunks of :mod:`refine.integrate` share it.

Interface
---------
:func:`open_executor` (a context manager) takes an :class:`ExecutorSpec` and yields an :class:`Executor`:

``slots``
    How many tasks run at once (the caller keeps at most that many submitted, so memory stays flat and the
    caller decides the order: a Dask scheduler given a thousand tasks at once would run them in its own order).
``submit(fn, *args, priority=0) -> future``
    Run ``fn(*args)`` (``fn`` a module-level function, arguments picklable). The future has ``result()``, which
    raises the task's exception (or, on Dask, ``KilledWorker`` when the task killed its workers too often). On Dask
    a task of higher ``priority`` starts before waiting tasks of lower priority (others in submission order). On
    Dask the task's result comes back pickled in one piece (:func:`call_packed`), unpickled by ``result()``.
``wait_any(futures, timeout) -> set``
    The futures of ``futures`` that are done, waiting up to ``timeout`` seconds (None: until one is).
``notes``
    Lines for the user (the cluster's size, a worker count capped at the cores).

Kinds: ``workers == 1`` and no scheduler runs each task in this process when it is submitted (no Dask import).
``workers > 1`` starts a ``distributed.LocalCluster`` with that many single-threaded worker processes (capped at
the cores this process may use, BLAS limited to one thread each) in the background. On Linux the workers are forks
of this process (:mod:`refine.local_workers`, connected to the cluster's scheduler), elsewhere Dask's Nannies start
them from a fork server; until they are up, tasks run in this process. Either way the workers exit with this
process, also on ``kill -9`` (forked ones by Linux's parent-death signal, the Nannies' by a pipe from their
parent).
``scheduler`` connects to a running Dask scheduler (``tcp://HOST:PORT``, or a scheduler file) and uses all its
workers; ``cluster`` uses a cluster object as-is (``dask_jobqueue.SLURMCluster`` from
:func:`refine.batch_cluster.make_cluster`).
With a remote scheduler the tasks must find their input files at the same paths (a shared file system); the
caller writes the results, so only this process writes into its output folder.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from refine.errors import InputError

#: Environment of local worker processes: one BLAS thread each (one task per core; a multi-threaded SVD of a tall
#: Jacobian on a busy machine is several times slower than a single-threaded one).
BLAS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: Dask configuration of local workers and their scheduler (set where the Nanny's workers take it from, or in forked
#: workers).
WORKER_CONFIG = {
    # Dask's statistical profiler samples every thread's stack every 10 ms, holding the GIL (a Python-heavy fit
    # runs several times slower). Workers read Dask's configuration from where they start, not their environment.
    "distributed.worker.profile.enabled": False,
    # Fewer wake-ups of idle event loops (the scheduler's too): loop health checks every 20 ms, memory every
    # 100 ms and system counters every 0.5 s took ~3 % of a core per worker (0.03 CPU-s/s, now 0.007).
    "distributed.admin.tick.interval": "500ms",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}
#: Modules a local worker has imported before its first task (what a sequential run's tasks use): imported once by
#: the process the workers fork from (:mod:`refine.local_workers`' zygote, or the fork server).
WORKER_PRELOAD = ("distributed", "numpy", "scipy.optimize", "lmfit", "refine.operando.scan_loop",
                  "refine.powder.jit_warmup")
#: The heavy part of :data:`WORKER_PRELOAD`: a process that imported it has little left for the workers to import.
_FITTING_STACK = ("numpy", "scipy.optimize", "lmfit")
#: The Dask preload of workers that fit a series' scans (imports the fit kinds; freezes the libraries).
SERIES_PRELOAD = ("refine.operando.worker_setup",)


@dataclass(frozen=True)
class ExecutorSpec:
    """What the user asked for: ``workers`` local processes, or a ``scheduler`` address, or a ``cluster`` object.

    Attributes
    ----------
    workers
        1 (default): in this process; N > 1: a local Dask cluster of N processes (capped at the cores available).
    scheduler
        ``tcp://HOST:PORT`` of a running Dask scheduler, or the path of its scheduler file.
    cluster
        A Dask cluster object (e.g. from :func:`refine.batch_cluster.make_cluster`); its scheduler is used and it
        is not closed here.
    preload
        Modules each local worker imports when it starts (so the first task does not pay for them).
    started
        Local workers started beforehand by :func:`prepare_local_workers` (their imports overlap the caller's);
        the local cluster takes them over when their number matches and closes them with its scheduler; the
        caller closes ``started`` afterwards (which waits for their processes to end).
    """

    workers: int = 1
    scheduler: str | None = None
    cluster: Any = field(default=None, compare=False)
    preload: tuple[str, ...] = ()
    started: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise InputError("workers", f"must be at least 1, got {self.workers}")

    @property
    def distributed(self) -> bool:
        """True when tasks leave this process."""
        return self.workers > 1 or self.scheduler is not None or self.cluster is not None


class Executor(Protocol):
    """What :func:`open_executor` yields (see the module's docstring)."""

    slots: int
    notes: tuple[str, ...]

    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = 0) -> Any: ...

    def wait_any(self, futures: Collection[Any], timeout: float | None = None) -> set: ...


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@functools.cache
def _blas_controller() -> Any:
    """The process's thread pools, inspected once: listing the loaded libraries costs ~20 ms, and a sequential run
    makes several fits per scan."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_limit(threads: int | None) -> contextlib.AbstractContextManager:
    """Context that limits BLAS to ``threads`` threads (None: leave the library's setting)."""
    return contextlib.nullcontext() if threads is None else _blas_controller().limit(limits=threads, user_api="blas")


class InProcess:
    """Runs each task when it is submitted, in this process, with BLAS limited to one thread as on a local worker
    (:data:`BLAS_ENV`): the tasks are small dense problems, and an idle OpenBLAS thread spins. A 100-scan Le Bail
    series took 19 CPU-s for 11–12 s wall with two BLAS threads, 10 CPU-s for the same or less with one."""

    slots = 1
    notes: tuple[str, ...] = ()

    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = 0) -> Future:
        future: Future = Future()
        try:
            with blas_limit(1):
                result = fn(*args)
            future.set_result(result)
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future, as a pool would
            future.set_exception(exc)
        return future

    def wait_any(self, futures: Collection[Any], timeout: float | None = None) -> set:
        return {f for f in futures if f.done()}


def call_packed(fn: Callable[..., Any], *args: Any) -> bytes:
    """``fn(*args)`` pickled: what a Dask task returns (:class:`PackedFuture` unpickles it). Dask serializes a list,
    tuple or dict element by element and walks it to size it; a sequential run's results (four scans' nested result
    documents a task) cost the cluster 11–14 CPU-ms a task that way, 6 as one pickled frame (as a task returning
    nothing)."""
    return pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL)


class PackedFuture:
    """A Dask future of :func:`call_packed`: ``result()`` is the task's own result (or raises its exception)."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def done(self) -> bool:
        return bool(self.inner.done())

    def result(self, timeout: float | None = None) -> Any:
        return pickle.loads(self.inner.result(timeout))


class DaskExecutor:
    """Tasks on the workers of a ``distributed.Client``."""

    def __init__(self, client: Any, slots: int, notes: tuple[str, ...]) -> None:
        self.client = client
        self.slots = max(int(slots), 1)
        self.notes = notes

    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = 0) -> PackedFuture:
        key = f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex}"  # the task's name as Dask would show it
        return PackedFuture(self.client.submit(call_packed, fn, *args, key=key, pure=False, priority=priority))

    def wait_any(self, futures: Collection[Any], timeout: float | None = None) -> set:
        from distributed import wait
        from distributed.utils import TimeoutError as DaskTimeout

        by_inner = {f.inner: f for f in futures}
        try:
            done, _ = wait(list(by_inner), timeout=timeout, return_when="FIRST_COMPLETED")
        except (DaskTimeout, TimeoutError):
            return set()
        return {by_inner[f] for f in done}


@contextlib.contextmanager
def open_executor(spec: ExecutorSpec) -> Iterator[Executor]:
    """The executor of ``spec`` for the block; a local cluster is shut down when the block ends."""
    if not spec.distributed:
        yield InProcess()
        return

    if spec.cluster is not None or spec.scheduler is not None:
        client = _connect(spec)
        try:
            slots = sum(client.nthreads().values()) or 1
            where = spec.scheduler or getattr(spec.cluster, "scheduler_address", "a cluster")
            yield DaskExecutor(client, slots, (f"Dask scheduler {where}: {slots} worker thread(s)",))
        finally:
            client.close()
        return
    cores = available_cores()
    n = min(spec.workers, cores)
    notes = (f"local Dask cluster: {n} worker process(es)"
             + (f" (--workers {spec.workers} capped at the {cores} cores available)" if n < spec.workers else ""),)
    local = LocalDask(n, spec.preload, notes, spec.started)
    try:
        yield local
    finally:
        local.close()


class LocalDask:
    """A local Dask cluster whose workers start in the background: until they are up, tasks run in this process one
    at a time, so the start costs little wall time.

    On Linux its workers are forks of this process (:mod:`refine.local_workers`; ``started`` when
    :func:`prepare_local_workers` forked them earlier): the scheduler and the client start here at once (~0.03 s)
    and the workers connect ~0.1 s after what they need is imported; whether they are up is looked up when asked
    (no thread of this process competes for the interpreter with the fits run here meanwhile: a start thread
    polling for the workers slowed the first fit from 0.10 to ~0.2 s). Elsewhere (or when this process runs other
    threads) Dask's Nannies start them from a fork server, and a thread waits for them."""

    #: Seconds the forked workers have to connect before the tasks stay in this process for good.
    START_TIMEOUT = 120.0

    def __init__(self, n: int, preload: tuple[str, ...], notes: tuple[str, ...], started: Any = None) -> None:
        import threading

        self.n, self.preload, self.notes = n, preload, notes
        self.client: Any = None
        self.cluster: Any = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._local = InProcess()
        self._thread: Any = None
        self.forked: Any = started if started is not None and started.n == n and started.alive() else None
        # The caller who started the workers reaps them (their zygote ends ~0.04 s after the scheduler closed them:
        # time the caller spends writing its summary instead of waiting here).
        self._reaps = self.forked is None
        if self.forked is None:  # before the start thread: a fork copies only the calling thread
            self.forked = prepare_local_workers(n, preload)
        if self.forked is not None:
            self._deadline = time.monotonic() + self.START_TIMEOUT
            try:
                self._start_forked()
            except BaseException:  # interrupted: nothing else will close the workers
                self.close()
                raise
            return
        self._thread = threading.Thread(target=self._start, name="refine-dask-start", daemon=True)
        self._thread.start()

    def _start_forked(self) -> None:
        """The scheduler and the client, here; the forked workers are handed the scheduler's address."""
        from distributed import Client

        try:
            self.cluster = _local_cluster(0)  # the scheduler; the forked workers connect to it
            self.forked.start(self.cluster.scheduler_address)
            self.client = Client(self.cluster)
        except Exception as exc:  # noqa: BLE001 - reported by the first submit: the tasks then stay here
            self.error = exc
            self._ready.set()

    def _start(self) -> None:
        """In the start thread: a cluster whose Nannies start the workers, and the client; wait for the workers."""
        from distributed import Client

        try:
            self.cluster = _local_cluster(self.n, self.preload)
            self.client = Client(self.cluster)
            self.client.wait_for_workers(self.n)
        except BaseException as exc:  # noqa: BLE001 - reported by the first submit after the start failed
            self.error = exc
        finally:
            self._ready.set()

    def _check_forked(self) -> None:
        """Mark the cluster ready once the forked workers are connected (the scheduler runs in this process: its
        worker table is read), or failed when their zygote ended first or the start took too long."""
        from distributed.core import Status

        if self._ready.is_set() or self.cluster is None:
            return
        if sum(ws.status == Status.running for ws in list(self.cluster.scheduler.workers.values())) >= self.n:
            self._ready.set()
        elif not self.forked.alive():
            self.error = RuntimeError("the forked worker processes ended before they connected")
            self._ready.set()
        elif time.monotonic() > self._deadline:
            self.error = TimeoutError(f"the forked workers did not connect within {self.START_TIMEOUT:g} s")
            self._ready.set()

    @property
    def ready(self) -> bool:
        """True once the workers are up (never, when the cluster failed to start: then tasks stay here)."""
        if self._thread is None:
            self._check_forked()
        if self._ready.is_set() and self.error is not None:
            if not any("did not start" in n for n in self.notes):
                self.notes = (*self.notes, f"the local Dask cluster did not start ({type(self.error).__name__}: "
                                           f"{self.error}); the tasks ran in this process")
            return False
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for the start to end; True when the workers are up."""
        if self._thread is not None:
            self._ready.wait(timeout)
            return self.ready
        end = None if timeout is None else time.monotonic() + timeout
        while not self.ready and not self._ready.is_set() and (end is None or time.monotonic() < end):
            time.sleep(0.005)
        return self.ready

    @functools.cached_property
    def _dask(self) -> DaskExecutor:
        """Submitting to and waiting on the cluster once it is up (the tasks' pickled transport included)."""
        return DaskExecutor(self.client, self.n, self.notes)

    @property
    def slots(self) -> int:  # type: ignore[override]
        return self.n if self.ready else 1

    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = 0) -> Any:
        if self.ready:
            return self._dask.submit(fn, *args, priority=priority)
        return self._local.submit(fn, *args)

    def wait_any(self, futures: Collection[Any], timeout: float | None = None) -> set:
        done = {f for f in futures if isinstance(f, Future) and f.done()}
        remote = [f for f in futures if not isinstance(f, Future)]
        if done or not remote:
            return done
        return self._dask.wait_any(remote, timeout)

    def close(self) -> None:
        """Stop the workers (waiting for a start under way)."""
        if self._thread is not None:
            self._thread.join()
        for thing in (self.client, self.cluster):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.close()
        if self.forked is not None and self._reaps:  # the scheduler closed its workers; the zygote ends with them
            self.forked.close()


def prepare_local_workers(workers: int, preload: tuple[str, ...] = ()) -> Any:
    """Start local workers now, so that their imports overlap the caller's: on Linux a
    :class:`refine.local_workers.ForkedWorkers` of ``workers`` processes (capped at the cores; returned, for
    :class:`ExecutorSpec` ``started``; the caller closes it if no cluster took it over), elsewhere the fork
    server (:func:`start_forkserver`; None returned)."""
    import sys

    from refine.local_workers import ForkedWorkers, fork_available

    if fork_available():
        n = min(workers, available_cores())
        modules = (*WORKER_PRELOAD, *preload)
        # This process imports Dask for its scheduler either way. Imported in the scheduler's start thread, it
        # shared the GIL with the fits run here meanwhile, and the workers came up late; so it is imported here,
        # in the main thread:
        # * after a fit (the fitting stack imported: a session's second run), before the fork, once: the zygote
        #   does not import it again, and the workers are up ~0.3 s into the call (0.75 s before);
        # * in a fresh command, after the fork, while the zygote imports the fitting stack (the cluster is up when
        #   the zygote is, ~2.4 s after the start, as before; the fits run here until then run at full speed).
        # The rest of the preload (the compiled kernels' warm-up: ~0.3 s unless this process has fitted) stays the
        # zygote's, in parallel with this process.
        # Both under a frozen heap: the zygote inherits it (its own freeze then collects only what it imported),
        # and the import triggers no full collection over the fitting stack's objects (0.19 s instead of 0.25).
        from refine.gc_scope import frozen

        try:
            with frozen():
                if all(m in sys.modules for m in _FITTING_STACK):
                    import distributed  # noqa: F401
                forked = ForkedWorkers(n, modules, BLAS_ENV, WORKER_CONFIG)
        except OSError:  # the fork failed: Dask's own start below
            forked = None
        if forked is not None:
            import distributed  # noqa: F401, F811 - after the fork in a fresh command (else imported already)

            return forked
    start_forkserver()
    return None


def start_forkserver() -> None:
    """Start the fork server of the local workers now (a process that imports :data:`WORKER_PRELOAD` once,
    with the BLAS limits of :data:`BLAS_ENV`); the workers fork from it when the cluster starts them. Nothing when
    it runs already or cannot start (the workers then start as Dask starts them)."""
    import multiprocessing
    from multiprocessing import forkserver

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    try:
        multiprocessing.get_context("forkserver").set_forkserver_preload(list(WORKER_PRELOAD))
        saved = {k: os.environ.get(k) for k in BLAS_ENV}
        os.environ.update(BLAS_ENV)  # inherited by the server (read when it imports numpy); restored at once
        try:
            forkserver.ensure_running()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    except (OSError, ValueError):  # pragma: no cover - a platform without fork
        pass


def _local_cluster(n: int, preload: tuple[str, ...] = ()) -> Any:
    """A LocalCluster of ``n`` single-threaded worker processes (no dashboard; quiet logs)."""
    import logging
    import multiprocessing

    import dask
    from distributed import LocalCluster
    from distributed.utils import get_mp_context

    # Workers fork from one server process that imported distributed and the fitting modules once (with the
    # BLAS limits in its environment), instead of each starting an interpreter and importing them again: that
    # costs ~2 CPU-s per worker, on the cores the fits need. Forking this process itself is not safe (its
    # threads hold locks); a worker restarted later spawns as usual.
    spawn_env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **BLAS_ENV}
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with dask.config.set({"distributed.worker.multiprocessing-method": method,
                          "distributed.nanny.pre-spawn-environ": spawn_env, **WORKER_CONFIG}):
        if method == "forkserver":
            get_mp_context().set_forkserver_preload(list(WORKER_PRELOAD))
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=logging.ERROR, env=dict(BLAS_ENV), preload=list(preload))


def _connect(spec: ExecutorSpec) -> Any:
    from distributed import Client

    if spec.cluster is not None:
        return Client(spec.cluster)
    address = str(spec.scheduler)
    try:
        if "://" not in address and os.path.isfile(address):
            return Client(scheduler_file=address, timeout="20s")
        return Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise InputError("scheduler", f"cannot connect to the Dask scheduler {address}: {exc}") from None
