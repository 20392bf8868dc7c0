"""Pattern format registry and dispatch by extension."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path

from refine import units
from refine.data import Pattern
from refine.errors import InputError
from refine.io.paths import check_regular_file
from refine.io.registries import PATTERN_READERS, PATTERN_WRITERS, load_formats

Reader = Callable[..., Pattern]
Writer = Callable[..., None]

# extension -> format name; several extensions are ambiguous and are resolved by sniffing (see _sniff).
_EXTENSIONS = {
    ".xy": "columns", ".xye": "columns", ".chi": "columns", ".dat": "columns", ".txt": "columns",
    ".gr": "columns", ".iq": "columns", ".sq": "columns", ".fq": "columns", ".csv": "columns",
    ".gsas": "gsas", ".gsa": "gsas", ".fxye": "gsas", ".xra": "gsas", ".cwn": "gsas",
    ".raw": "raw",
}


def _sniff(path: Path, fmt: str) -> str:
    """Resolve ``raw`` (GSAS text or Bruker binary) by content."""
    if fmt != "raw":
        return fmt
    with open(path, "rb") as fh:
        head = fh.read(1024)
    # Bruker files are binary (NUL bytes in the header); a GSAS text file may have a title starting "RAW"
    return "bruker_raw" if head.startswith(b"RAW") and b"\x00" in head else "gsas"


def _ensure_loaded() -> None:
    # Import the modules that register formats (kept lazy so that importing refine stays cheap).
    load_formats("pattern")


def format_of(path: str | os.PathLike, format: str | None = None) -> str:
    """The registered format name for ``path`` (explicit ``format`` wins)."""
    if format is not None:
        return format.lower()
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _EXTENSIONS:
        raise InputError(path, f"unknown pattern extension {ext!r}: a pattern is one of {', '.join(_EXTENSIONS)} "
                               f"(from Python, format= names the reader: {', '.join(PATTERN_READERS.names())})")
    return _sniff(path, _EXTENSIONS[ext])


def read_pattern(path: str | os.PathLike, *, format: str | None = None, **options) -> Pattern:
    """Read a 1D pattern (or PDF) from ``path``.

    Parameters
    ----------
    path
        The file, or ``SERIES.h5::N``: frame N of an HDF5 series file (:mod:`refine.io.series_file`).
    format
        A name from :data:`PATTERN_READERS`; by default chosen from the extension (and content for ``.raw``).
    **options
        Passed to the reader (e.g. ``unit=``, ``wavelength=``, ``bank=``).
    """
    _ensure_loaded()
    from refine.io.series_file import read_series_frame, split_address

    if format is None and split_address(path) is not None:  # FILE.h5::N, frame N of an integrated series file
        if options.get("bank") is not None:
            raise InputError("bank", f"{path} is a frame of a series file; banks are read from multi-bank files")
        return read_series_frame(path)
    path = check_regular_file(path, kind="pattern")
    fmt = format_of(path, format)
    reader = PATTERN_READERS.get(fmt)
    if options.get("bank") is not None and "bank" not in inspect.signature(reader).parameters:
        raise InputError("bank", f"{path} is a {fmt} file with one pattern; banks are read from multi-bank GSAS "
                                   "and Bruker RAW files")
    return reader(path, **options)


def read_powder_pattern(path: str | os.PathLike, *, bank: int | None = None) -> Pattern:
    """A powder pattern in degrees 2θ (Q or d converted with its wavelength); ``bank`` picks the bank or range of a
    multi-bank file. A G(r) file is refused with a one-line error naming it."""
    pattern = read_pattern(path, **({} if bank is None else {"bank": bank}))
    if pattern.unit == units.R_A:
        raise InputError(path, "is a G(r) file (r in Å), not a powder pattern: fit it with refine pdf fit (in refine "
                               "sequential, use --kind pdf)")
    return pattern if pattern.unit == units.TTH_DEG else pattern.to_unit(units.TTH_DEG)


def write_pattern(pattern: Pattern, path: str | os.PathLike, *, format: str | None = None, **options) -> None:
    """Write ``pattern`` to ``path`` atomically, format from ``format`` or the extension."""
    _ensure_loaded()
    path = Path(path)
    name = format.lower() if format else _EXTENSIONS.get(path.suffix.lower(), "columns")
    PATTERN_WRITERS.get(name)(pattern, path, **options)
