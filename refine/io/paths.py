"""Checks on the files a command reads and writes, made before any work is done.

Inputs: :func:`check_regular_file` refuses what is not a regular file (a folder, ``/dev/zero``, a pipe) and files
larger than a limit, before a reader opens them (a reader would otherwise read without end). Outputs:
:func:`check_output_file` and :func:`check_output_folder` refuse a path that cannot be written as asked (a folder
where a file goes, a file where a folder goes, a parent that is a file), so that a finished fit is never lost at
the last step. Both raise :class:`~refine.errors.InputError` naming the option or file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from refine.errors import InputError

MiB = 1 << 20
#: Size limits (bytes) of what refine reads, by kind: generous for any real file, small enough for one read.
MAX_BYTES = {"config": 16 * MiB, "instrument": 16 * MiB, "table": 256 * MiB, "structure": 2048 * MiB,
             "pattern": 1024 * MiB, "PONI": 16 * MiB, "file": 1024 * MiB}


def _size(n: int) -> str:
    return f"{n / MiB:.0f} MiB" if n >= MiB else f"{n} bytes"


def check_regular_file(path: str | os.PathLike, *, kind: str = "file", max_bytes: int | None = None) -> Path:
    """``path`` as a Path when it is an existing regular file of at most ``max_bytes`` (default: the limit of
    ``kind`` in :data:`MAX_BYTES`); else :class:`InputError` naming it (no such file, a folder, not a regular file
    such as a device or pipe, too large)."""
    path = Path(path)
    limit = MAX_BYTES.get(kind, MAX_BYTES["file"]) if max_bytes is None else max_bytes
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(path, f"is a folder, not a {kind} file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, f"is not a regular file (a device, pipe or socket); give a {kind} file")
    if info.st_size > limit:
        raise InputError(path, f"is {_size(info.st_size)}, more than a {kind} file may be ({_size(limit)})")
    return path


def _first_existing(path: Path) -> Path | None:
    for parent in path.parents:
        if parent.exists():
            return parent
    return None


def _check_parent(path: Path, option: str) -> None:
    parent = _first_existing(path.absolute())
    if parent is not None and not parent.is_dir():
        raise InputError(option, f"cannot write {path}: {parent} is a file, not a folder")
    if parent is not None:  # a probe, not os.access: root passes access() where a read-only or virtual file system
        try:                # (/proc, a read-only mount) still refuses the write
            with tempfile.TemporaryFile(dir=parent):
                pass
        except OSError as exc:
            raise InputError(option, f"cannot write {path}: {parent} is not writable ({exc.strerror or exc})") from None


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a Path when a file can be written there: not an existing folder, no ancestor that is a file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(option, f"{path} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise InputError(option, f"{path} exists and is not a regular file")
    _check_parent(path, option)
    return path


def check_output_folder(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a Path when it is a folder or can be created as one: not an existing file, no ancestor that is a
    file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(option, f"{path} is an existing file, not a folder")
    _check_parent(path, option)
    return path


def check_outputs(files: Mapping[str, str | os.PathLike | None] | None = None,
                  folders: Mapping[str, str | os.PathLike | None] | None = None) -> None:
    """Check every given output (option -> path; None = not given) before a command does its work: the kinds
    above, and the output policy in force (:func:`refine.io.outputs.check_output`: inside the allowed folder, no
    foreign file replaced), which the writers would otherwise apply only when the work is done."""
    from refine.io.outputs import check_output

    for option, path in (folders or {}).items():
        if path is not None:
            check_output_folder(path, option)
            check_output(path, source=option, folder=True)
    for option, path in (files or {}).items():
        if path is not None:
            check_output_file(path, option)
            check_output(path, source=option)
