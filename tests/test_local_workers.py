"""refine.local_workers: Dask workers forked from this process (Linux). Each cluster test runs in a fresh
interpreter, as a command would: forking needs a process with one thread, and a test process that ran other Dask
clusters may keep Dask's threads."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")

_HELPERS = """
import json, os, signal, time, operator
import psutil
from refine.executor import ExecutorSpec, open_executor

def info():
    import gc
    import dask
    from threadpoolctl import threadpool_info
    return (os.getpid(), os.getppid(), dask.config.get("distributed.worker.profile.enabled"),
            max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"), gc.get_freeze_count())

def worker_pids(pool):
    return sorted(pool.client.run(os.getpid, on_error="ignore").values())
"""


def _run(body: str, timeout: float = 300) -> dict:
    code = _HELPERS + "\nif __name__ == '__main__':\n" + textwrap.indent(textwrap.dedent(body), "    ")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_forked_workers_run_tasks_with_one_blas_thread_no_profiler_and_leave_nothing_behind():
    pytest.importorskip("distributed")
    got = _run("""
        import distributed  # Dask's configuration read here, before the fork (the workers' environment is too late)
        with open_executor(ExecutorSpec(workers=2)) as pool:
            assert pool.forked is not None and pool.wait_ready(120) and pool.slots == 2
            task = pool.submit(operator.add, 2, 3)
            assert type(task.inner).__module__.startswith("distributed")  # a Dask future: it ran on a worker
            result = task.result()
            doc = {"scans": [{"rwp": 0.1, "values": (1.5, None)}], "raw": bytes(3)}  # nested, as a run's results
            nested, failed = pool.submit(dict, list(doc.items())), pool.submit(operator.truediv, 1, 0)
            assert pool.wait_any([nested, failed]) and nested.result() == doc
            try:
                failed.result()
                error = None
            except ZeroDivisionError as exc:  # the task's own exception, as from a plain Dask future
                error = str(exc)
            infos = list(pool.client.run(info).values())
            zygote = pool.forked.pid
            zygote_parent = psutil.Process(zygote).ppid()
            forked = pool.forked
        code = forked.returncode
        left = [p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
        print(json.dumps({"result": result, "error": error, "infos": infos, "zygote": zygote,
                          "zygote_parent": zygote_parent,
                          "me": os.getpid(), "left": left, "code": code}))
    """)
    assert got["result"] == 5
    assert got["error"] == "division by zero"
    assert got["zygote_parent"] == got["me"]
    assert len(got["infos"]) == 2
    for _pid, parent, profiler, blas, frozen in got["infos"]:
        assert parent == got["zygote"]  # forked by the zygote, not started as new interpreters
        assert profiler is False  # Dask's statistical profiler (GIL-holding stack samples every 10 ms) is off
        assert blas == 1
        assert frozen > 100_000  # the libraries, frozen before the fork: the workers' full collections skip them
    assert got["left"] == []  # the workers and the zygote ended with the cluster
    assert got["code"] == 0  # by themselves once the scheduler closed them, not killed


def test_a_killed_forked_worker_is_forked_again():
    pytest.importorskip("distributed")
    got = _run("""
        with open_executor(ExecutorSpec(workers=2)) as pool:
            pool.wait_ready(120)
            before = worker_pids(pool)
            os.kill(before[0], signal.SIGKILL)
            end = time.monotonic() + 120
            after = worker_pids(pool)
            while (len(after) < 2 or before[0] in after) and time.monotonic() < end:
                time.sleep(0.2)
                after = worker_pids(pool)
            result = pool.submit(operator.mul, 6, 7).result()
            parents = {psutil.Process(p).ppid() for p in after}
            zygote = pool.forked.pid
        print(json.dumps({"before": before, "after": after, "result": result, "parents": sorted(parents),
                          "zygote": zygote}))
    """)
    assert len(got["after"]) == 2 and got["before"][0] not in got["after"]
    assert got["before"][1] in got["after"]  # the other one went on
    assert got["parents"] == [got["zygote"]]
    assert got["result"] == 42


def test_workers_closed_before_the_scheduler_started_end_at_once():
    got = _run("""
        from refine.local_workers import ForkedWorkers
        workers = ForkedWorkers(2, ("distributed", "lmfit", "refine.powder.jit_warmup"))  # seconds of imports
        alive = workers.alive()
        workers.close(timeout=30)
        print(json.dumps({"alive": alive, "code": workers.returncode, "after": workers.alive(),
                          "left": [p.pid for p in psutil.Process().children(recursive=True)]}))
    """)
    assert got["alive"] and not got["after"] and got["left"] == []
    # killed at once, not waited for until its imports end (a run that stops on bad input exits at once)
    assert got["code"] == -signal.SIGKILL


def test_workers_that_die_before_connecting_leave_the_tasks_here_with_a_note():
    """The zygote killed while it imports (before any worker connected): the cluster is never ready, every task runs
    in this process, and the run's notes say so (the start is looked up when asked, no thread waits for it)."""
    pytest.importorskip("distributed")
    got = _run("""
        with open_executor(ExecutorSpec(workers=2)) as pool:
            os.kill(pool.forked.pid, signal.SIGKILL)  # still importing the fitting stack: seconds
            ready = pool.wait_ready(60)
            task = pool.submit(operator.add, 2, 3)
            print(json.dumps({"ready": ready, "slots": pool.slots, "result": task.result(),
                              "module": type(task).__module__, "notes": list(pool.notes)}))
    """)
    assert got["ready"] is False and got["slots"] == 1 and got["result"] == 5
    assert got["module"] == "concurrent.futures._base"  # ran here, not on a Dask worker
    assert any("did not start (RuntimeError: the forked worker processes ended before they connected); the tasks "
               "ran in this process" in note for note in got["notes"])


def test_no_fork_while_another_thread_runs():
    from refine.local_workers import ForkedWorkers, fork_available

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not fork_available()
        with pytest.raises(RuntimeError, match="one thread"):
            ForkedWorkers(1)
    finally:
        stop.set()
        thread.join()


def test_a_failed_fork_leaves_no_descriptor_open_and_falls_back_to_the_fork_server(monkeypatch):
    import os

    import refine.executor as ex
    import refine.local_workers as lw

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    started = []
    monkeypatch.setattr(lw, "fork_available", lambda: True)
    monkeypatch.setattr(lw.os, "fork", no_fork)
    monkeypatch.setattr(ex, "start_forkserver", lambda: started.append(True))
    before = len(os.listdir("/proc/self/fd"))
    assert ex.prepare_local_workers(2) is None
    assert started == [True]
    assert len(os.listdir("/proc/self/fd")) == before
