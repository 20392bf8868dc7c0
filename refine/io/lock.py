"""One writer per output folder: a lock file, so that two runs into the same folder do not both write.

:func:`folder_lock` creates ``FOLDER/.refine.lock`` with ``O_CREAT | O_EXCL`` holding the process id, host,
command and start time; a second run finds it and stops with an :class:`~refine.errors.InputError` naming the
holder's pid. The lock is removed when the block ends, also on an exception or Ctrl-C. A lock left behind by a
process that no longer runs on this host (kill -9, a crash) is taken over with a note on stderr; one from another
host is never taken over (its process cannot be checked from here). The same process may enter a folder it holds
again (``refine run`` holds its folder while a step writes into it).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from refine.errors import InputError
from refine.io.outputs import check_output

LOCK_NAME = ".refine.lock"
_TAKEOVER = LOCK_NAME + ".takeover"
_ATTEMPTS = 50
_PAUSE_S = 0.05
_STALE_GUARD_S = 30.0  # a takeover guard older than this was left by a process that died while taking over


def _host() -> str:
    return socket.gethostname()


def _read(path: Path) -> dict | None:
    """The lock's content, None when it is missing, being written or not a lock."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("pid"), int) else None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OSError:  # pragma: no cover - e.g. a platform without signals: assume it runs
        return True
    return True


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _create(path: Path, doc: dict) -> bool:
    """Create the lock file with ``doc``; False when one exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise InputError(path.parent, f"cannot write into this folder ({exc.strerror or exc})") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
        fh.write("\n")
    return True


def _take_over(path: Path, stale: dict | None) -> None:
    """Remove the stale lock ``stale`` unless another process got there first (one takeover at a time)."""
    guard = path.with_name(_TAKEOVER)
    try:
        fd = os.open(guard, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        if _age_s(guard) > _STALE_GUARD_S:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(guard)
        return
    try:
        if _read(path) == stale:  # still the same dead holder (not a lock a faster process just created)
            os.unlink(path)
            if stale is not None:
                print(f"refine: note: {path.parent}: took over the lock of pid {stale['pid']} "
                      f"({stale.get('command', '?')}), which is no longer running", file=sys.stderr)
            else:
                print(f"refine: note: {path.parent}: removed an unreadable lock file", file=sys.stderr)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(guard)


def _acquire(folder: Path, command: str) -> dict | None:
    """Take the lock of ``folder``; returns the lock's content, or None when this process holds it already."""
    path = folder / LOCK_NAME
    doc = {"pid": os.getpid(), "host": _host(), "command": command, "token": secrets.token_hex(8),
           "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    for _ in range(_ATTEMPTS):
        if _create(path, doc):
            return doc
        holder = _read(path)
        if holder is None:  # being written this instant, or garbage left by a crash
            if _age_s(path) > _STALE_GUARD_S:
                _take_over(path, None)
            time.sleep(_PAUSE_S)
            continue
        same_host = holder.get("host") == doc["host"]
        if same_host and holder["pid"] == doc["pid"]:
            return None
        if same_host and not _alive(holder["pid"]):
            _take_over(path, holder)
            continue
        where = "" if same_host else f" on {holder.get('host')}"
        raise InputError(folder, f"another refine run (pid {holder['pid']}{where}, {holder.get('command', '?')}, "
                                 f"since {holder.get('started', '?')}) is writing into this folder; wait for it, or "
                                 f"remove {path} if that run is gone")
    raise InputError(folder, f"cannot take the lock {path}: another run keeps taking it")


def _release(folder: Path, doc: dict) -> None:
    path = folder / LOCK_NAME
    holder = _read(path)
    if holder is not None and holder.get("token") == doc["token"]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, *, command: str) -> Iterator[Path]:
    """Hold the lock of ``folder`` (created if needed) for the block; ``command`` is recorded for messages.

    Raises
    ------
    InputError
        When another live process holds the folder (the message names its pid) or the folder cannot be created.
    """
    folder = Path(folder)
    check_output(folder, folder=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(folder, "is a file; a folder is needed here") from None
    except OSError as exc:
        raise InputError(folder, f"cannot create the output folder ({exc.strerror or exc})") from None
    doc = _acquire(folder, command)
    try:
        yield folder / LOCK_NAME
    finally:
        if doc is not None:
            _release(folder, doc)
