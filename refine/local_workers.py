"""Dask worker processes forked from this process: how the local cluster of :mod:`refine.executor` starts its
workers on Linux.

A worker that starts as a new interpreter (Dask's Nanny, or a fork server) imports numpy, scipy, lmfit,
distributed and the fitting modules again (~2.7 CPU-s) and warms up the compiled kernels (~1 CPU-s), although this
process has done most of that already; on two cores those seconds are a large part of a 100-scan run. Here the
workers are forks of this process instead:

* :class:`ForkedWorkers` forks a *zygote* at once (before this process starts any thread: the scheduler's thread
  comes after). The zygote imports what the workers need and this process has not imported yet (usually
  distributed and the compiled kernels) while this process goes on, limits BLAS to one thread, and waits for the
  scheduler's address.
* :meth:`ForkedWorkers.start` hands it the address; the zygote forks the N workers, each a
  ``distributed.Worker`` with one thread that connects to the scheduler and runs until the scheduler closes it.
* The zygote is their nanny: a worker killed by a signal is forked again (at most :data:`MAX_RESTARTS` times in
  all), so a run that loses a worker goes on at full width; a worker that ends normally is not.
* Every process of the tree dies with its parent (Linux ``PR_SET_PDEATHSIG``): ``kill -9`` of this process takes
  the zygote and its workers with it.

:func:`fork_available` says when this can be used: Linux, and no other Python thread in this process (a fork copies
only the calling thread; a lock another thread holds would stay held in the child). Elsewhere the caller starts
workers the usual way.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Mapping, Sequence

#: Workers the zygote forks again after they were killed, in all (Dask's Nanny restarts without limit; a worker
#: that keeps dying is better left dead: its tasks go to the others, and Dask gives up on a task after 3 deaths).
MAX_RESTARTS = 4
#: Seconds a worker waits for the scheduler before it gives up.
DEATH_TIMEOUT = 60
_PR_SET_PDEATHSIG = 1


def fork_available() -> bool:
    """True when workers may be forked from this process: Linux, and this is its only Python thread."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1
            and threading.current_thread() is threading.main_thread())


class ForkedWorkers:
    """A zygote forked from this process that imports ``modules`` (with ``env`` in its environment) and, once
    :meth:`start` gives it the scheduler's address, forks ``n`` single-threaded Dask workers with the Dask
    configuration ``config`` on top of this process's.

    Parameters
    ----------
    n
        Number of worker processes.
    modules
        Modules imported in the zygote before it forks the workers (already imported ones cost nothing).
    env
        Environment variables of the zygote and its workers (e.g. one BLAS thread).
    config
        Dask configuration of the workers (e.g. ``{"distributed.worker.profile.enabled": False}``).
    """

    def __init__(self, n: int, modules: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 config: Mapping[str, object] | None = None) -> None:
        if not fork_available():
            raise RuntimeError("workers can be forked only on Linux from a process with one thread")
        read, write = os.pipe()
        parent = os.getpid()
        try:
            with warnings.catch_warnings():  # Python >= 3.12 warns of BLAS's own threads; they survive a fork
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:  # no process left to fork (ulimit): the caller starts workers another way
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # the zygote: never returns into the caller's code
            code = 1
            try:
                os.close(write)
                code = _zygote(parent, read, n, tuple(modules), dict(env or {}), dict(config or {}))
            except BaseException:  # noqa: BLE001 - reported, then the process ends
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(read)
        self.n, self.pid = n, pid
        self._write: int | None = write
        self._ended = False
        #: The zygote's exit status once it ended, as ``subprocess`` gives it (-N: killed by signal N).
        self.returncode: int | None = None

    def alive(self) -> bool:
        """True while the zygote runs (it ends when its workers have ended); reaps it once it ended."""
        if self._ended:  # never wait for the pid again: it may belong to another process by now
            return False
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere
            self._ended = True
            return False
        if pid:
            self._ended, self.returncode = True, os.waitstatus_to_exitcode(status)
        return not self._ended

    def start(self, address: str) -> None:
        """Give the zygote the scheduler's address: it forks the workers, which connect to it."""
        if self._write is None:
            raise RuntimeError("the workers were started already")
        with contextlib.suppress(OSError):  # a zygote that died: alive() says so
            os.write(self._write, address.encode() + b"\n")
        self._close_pipe()

    def close(self, timeout: float = 10.0) -> None:
        """Wait up to ``timeout`` seconds for the zygote to end (its workers end when the scheduler closes them),
        then kill it (its workers die with it). Never started: killed at once (it has no workers; it may still be
        importing, and a run that stopped on bad input should not wait for that)."""
        if self._write is not None:
            self._close_pipe()
            timeout = 0.0
        end = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > end:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
                self._ended = True
                return
            time.sleep(0.005)

    def _close_pipe(self) -> None:
        if self._write is not None:
            os.close(self._write)
            self._write = None


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent ends; end now if the parent ended already. Ctrl-C (SIGINT
    to the terminal's whole process group) is the parent's to handle: it closes the cluster, or dies and takes
    this process with it."""
    import ctypes

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _read_line(fd: int) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 256)
        if not chunk:
            return ""
        data += chunk
    return data.decode().strip()


def _zygote(parent: int, read: int, n: int, modules: tuple[str, ...], env: dict[str, str],
            config: dict[str, object]) -> int:
    """The zygote's life: imports, one BLAS thread, wait for the address, fork and watch the workers."""
    _die_with_parent(parent)
    os.environ.update(env)
    for name in modules:
        importlib.import_module(name)
    if "distributed" in sys.modules:  # package versions, which every worker reports when it connects: looked up once
        from distributed.versions import get_versions

        get_versions()
    from threadpoolctl import threadpool_limits

    from refine.gc_scope import freeze_for_good

    threadpool_limits(limits=1)  # BLAS loaded before the fork read its thread count then; kept for good
    freeze_for_good()  # the workers' collections skip the libraries: their full collections stay cheap and frequent
    address = _read_line(read)
    os.close(read)
    if not address:  # closed before the scheduler started
        return 0
    me = os.getpid()
    workers = {_fork_worker(me, address, config) for _ in range(n)}
    restarts = 0
    while workers:
        pid, status = os.wait()
        if pid not in workers:
            continue
        workers.discard(pid)
        if os.WIFSIGNALED(status) and restarts < MAX_RESTARTS:
            restarts += 1
            workers.add(_fork_worker(me, address, config))
    return 0


def _fork_worker(zygote: int, address: str, config: dict[str, object]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _die_with_parent(zygote)
        code = _serve(address, config)
    except BaseException:  # noqa: BLE001 - reported, then the process ends
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _serve(address: str, config: dict[str, object]) -> int:
    """Run one Dask worker until the scheduler closes it. Its event loop runs in a new thread: the thread that
    forked may have been inside an event loop of this process's caller."""
    import asyncio
    import logging

    import dask
    from distributed import Worker

    logging.getLogger("distributed").setLevel(logging.ERROR)
    dask.config.set(config)

    async def run() -> None:
        async with Worker(address, nthreads=1, death_timeout=DEATH_TIMEOUT) as worker:
            await worker.finished()

    failed: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # noqa: BLE001 - handed to the process
            failed.append(exc)

    thread = threading.Thread(target=main, name="refine-dask-worker")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return 0
