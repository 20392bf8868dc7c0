"""File helpers: atomic writes (a finished result is either entirely on disk or not there at all), checksums."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from refine.io.outputs import check_output

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _temporary(path: Path) -> tuple[int, Path]:
    """A new, empty ``.NAME.XXXXXXXX.part`` beside ``path``, created 0666 minus the umask (as any new file is;
    ``tempfile.mkstemp`` would give 0600 whatever the umask)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            return os.open(tmp, _CREATE, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")  # pragma: no cover - 2^32 names each time


def _keep_mode(fd: int, path: Path) -> None:
    """Give the new file the mode of the regular file it replaces (a 0644 result stays 0644, a 0600 one 0600)."""
    try:
        old = os.stat(path)
    except OSError:
        return
    if stat.S_ISREG(old.st_mode) and hasattr(os, "fchmod"):
        with contextlib.suppress(OSError):
            os.fchmod(fd, stat.S_IMODE(old.st_mode))


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path`` and move it into place only when the block succeeds.

    A new file gets 0666 minus the umask, a replaced one keeps its mode. The output policy in force
    (:func:`refine.io.outputs.check_output`: inside a folder, never over a foreign file) is checked first.
    """
    path = Path(path)
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(path)
    try:
        _keep_mode(fd, path)
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256_of(path: str | os.PathLike) -> str | None:
    """sha256 of a file, None when it does not exist; for ``SERIES.h5::N`` that of the frame's data
    (:func:`refine.io.series_file.frame_digest`)."""
    if "::" in os.fspath(path):
        from refine.io.series_file import frame_digest, split_address

        if split_address(path) is not None:
            return frame_digest(path)
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None
