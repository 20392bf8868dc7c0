"""refine.executor: the in-process executor and a local Dask cluster."""

from __future__ import annotations

import gc
import operator
import sys
from concurrent.futures import Future

import pytest

from refine.errors import InputError
from refine.executor import SERIES_PRELOAD, ExecutorSpec, InProcess, open_executor


def _boom() -> None:
    raise ValueError("boom")


def test_in_process_runs_at_submit_and_hands_errors_through_the_future():
    with open_executor(ExecutorSpec()) as pool:
        assert isinstance(pool, InProcess) and pool.slots == 1
        ok, bad = pool.submit(operator.add, 2, 3), pool.submit(_boom)
        assert pool.wait_any([ok, bad]) == {ok, bad}
        assert ok.result() == 5
        with pytest.raises(ValueError, match="boom"):
            bad.result()


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_in_process_tasks_run_with_one_blas_thread_and_restore_it():
    np = pytest.importorskip("numpy")
    from threadpoolctl import threadpool_limits

    np.linalg.qr(np.ones((4, 2)))  # BLAS loaded
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert before and max(before) == 2  # the test's own setting, so the task's limit shows
        inside = InProcess().submit(_blas_threads).result()
        assert inside and max(inside) == 1
        assert _blas_threads() == before


def test_workers_below_one_are_bad_input():
    with pytest.raises(InputError, match="at least 1"):
        ExecutorSpec(workers=0)


def test_local_cluster_is_capped_at_the_cores(monkeypatch):
    pytest.importorskip("distributed")
    import refine.executor as ex

    monkeypatch.setattr(ex, "available_cores", lambda: 1)
    with open_executor(ExecutorSpec(workers=3)) as pool:
        assert "capped at the 1 cores" in pool.notes[0]
        assert pool.wait_ready(120) and pool.slots == 1
        assert len(pool.client.scheduler_info()["workers"]) == 1
        futures = [pool.submit(operator.mul, i, i) for i in range(4)]
        done = set()
        while len(done) < 4:
            done |= pool.wait_any([f for f in futures if f not in done], timeout=30)
        assert [f.result() for f in futures] == [0, 1, 4, 9]


def test_with_a_fork_server_tasks_run_here_until_the_local_cluster_is_up(monkeypatch):
    pytest.importorskip("distributed")
    import refine.local_workers

    monkeypatch.setattr(refine.local_workers, "fork_available", lambda: False)  # as on macOS, or with threads
    with open_executor(ExecutorSpec(workers=2, preload=SERIES_PRELOAD)) as pool:
        assert pool.forked is None
        if not pool.ready:  # the start takes seconds; a task submitted now runs in this process
            early = pool.submit(operator.add, 1, 1)
            assert early.done() and early.result() == 2 and pool.slots == 1
        assert pool.wait_ready(120) and pool.slots == 2
        late = pool.submit(operator.add, 2, 2)
        assert not isinstance(late, Future)  # a Dask future: it ran on a worker
        assert pool.wait_any([late], timeout=60) == {late} and late.result() == 4
        # the Nanny's workers take the worker configuration too (Dask's profiler off)
        assert set(pool.client.run(_profiler_on).values()) == {False}
        # the series preload froze the workers' libraries once (a fit's own scope is then a no-op): without it a
        # worker froze and unfroze them per fit and grew ~330 kB a scan
        assert min(pool.client.run(gc.get_freeze_count).values()) > 100_000


def _profiler_on() -> bool:
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))


def test_unreachable_scheduler_is_bad_input():
    pytest.importorskip("distributed")
    with pytest.raises(InputError, match="cannot connect to the Dask scheduler tcp://127.0.0.1:9"):
        with open_executor(ExecutorSpec(scheduler="tcp://127.0.0.1:9")):
            pass  # pragma: no cover


def test_the_worker_preload_imports_in_a_fresh_interpreter():
    """Every module the local workers' zygote or fork server imports exists and imports on its own (a wrong name
    would make the start fail and the workers start the slow way), the compiled-kernel warm-up among them."""
    import subprocess

    from refine.executor import SERIES_PRELOAD, WORKER_PRELOAD

    code = ("import importlib, sys\n"
            f"for name in {list(WORKER_PRELOAD + SERIES_PRELOAD)!r}:\n"
            "    importlib.import_module(name)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "refine.powder.jit_warmup" in WORKER_PRELOAD


@pytest.mark.parametrize("fitted", [True, False])
def test_the_command_imports_dask_before_forking_the_workers_only_after_a_fit(fitted):
    """The command imports Dask in its main thread (in the scheduler's start thread it shared the GIL with the fits
    run meanwhile): after a fit (numpy, scipy.optimize and lmfit imported) before it forks the workers' zygote,
    which then does not import it again; in a fresh command after the fork, while the zygote imports the fitting
    stack and Dask in parallel."""
    import subprocess

    code = ("import sys\n"
            + ("import numpy, scipy.optimize, lmfit\n" if fitted else "")
            + "import refine.local_workers as lw\n"
            "seen = []\n"
            "class Fake:\n"
            "    def __init__(self, *args):\n"
            "        seen.append('distributed' in sys.modules)\n"
            "lw.ForkedWorkers, lw.fork_available = Fake, lambda: True\n"
            "from refine.executor import prepare_local_workers\n"
            "prepare_local_workers(2)\n"
            "print(seen, 'distributed' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [f"[{fitted}]", "True"]
