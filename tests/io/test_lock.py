"""The output-folder lock: one writer per folder, the second named by the holder's pid; released on errors and
Ctrl-C; a lock left by a dead process on this host taken over with a note; never one from another host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from refine.errors import InputError
from refine.io.lock import LOCK_NAME, _host, folder_lock

_HOLDER = """
import sys, time
from pathlib import Path
from refine.io.lock import folder_lock
folder, ready, go = map(Path, sys.argv[1:])
with folder_lock(folder, command="holder"):
    ready.write_text("ready")
    while not go.exists():
        time.sleep(0.02)
"""


def _wait_for(path: Path, process: subprocess.Popen) -> None:
    for _ in range(1500):  # up to 30 s for the interpreter to start and import refine
        if path.exists():
            return
        if process.poll() is not None:
            raise AssertionError(f"holder exited with {process.returncode}: {process.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError("holder did not take the lock")


def test_two_processes_one_folder(tmp_path):
    """A live process holds the folder: this one is refused naming its pid; once it ends, the lock is gone."""
    folder, ready, go = tmp_path / "out", tmp_path / "ready", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder), str(ready), str(go)], env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(ready, holder)
        with pytest.raises(InputError) as err, folder_lock(folder, command="second"):
            pass
        message = str(err.value)
        assert f"pid {holder.pid}" in message and "holder" in message and "\n" not in message
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] == holder.pid  # the holder's lock untouched
    finally:
        go.write_text("go")
        assert holder.wait(timeout=60) == 0
    assert not (folder / LOCK_NAME).exists()
    with folder_lock(folder, command="second") as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not (folder / LOCK_NAME).exists()


def test_released_on_error_and_ctrl_c_and_reentrant_in_one_process(tmp_path):
    for exc in (RuntimeError("bug"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), folder_lock(tmp_path, command="x"):
            raise exc
        assert not (tmp_path / LOCK_NAME).exists()
    with folder_lock(tmp_path, command="run"):
        with folder_lock(tmp_path, command="sequential"):  # a step of `refine run` writing into the run's folder
            pass
        assert (tmp_path / LOCK_NAME).exists()  # the inner block does not release the outer one's lock
    assert not (tmp_path / LOCK_NAME).exists()


def test_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": _host(), "command": "sequential"}))
    with folder_lock(tmp_path, command="integrate") as lock:
        assert json.loads(lock.read_text())["command"] == "integrate"
    assert f"took over the lock of pid {dead.pid} (sequential)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_lock_of_another_host_is_never_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "beamline-node-7", "command": "run"}))
    with pytest.raises(InputError, match="pid 1 on beamline-node-7"), folder_lock(tmp_path, command="run"):
        pass
    assert (tmp_path / LOCK_NAME).exists()


def test_a_file_where_the_folder_should_be_is_bad_input(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(InputError, match="is a file"), folder_lock(tmp_path / "out", command="run"):
        pass
