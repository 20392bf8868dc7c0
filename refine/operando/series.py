"""A series of operando patterns: files in natural order, each optionally tagged with electrochemistry.

Electrochemistry tables (potentiostat exports: EC-Lab, Neware, BioLogic text) are read as CSV or whitespace
columns with one header line naming them; recognised names (case-insensitive, units in ``(...)``, ``[...]`` or
after ``/`` dropped): ``time``, ``voltage`` (``ewe``, ``potential``, ``e``), ``current`` (``i``), ``capacity``
(``q``, ``cap``), ``index`` (``scan``); other columns are kept under their own cleaned name. Each scan gets the
table row of the nearest time stamp (scan times given by the user) or the row of the same index.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refine.errors import InputError
from refine.io.fields import is_number, shorter_than_rest
from refine.io.paths import check_regular_file

#: Column aliases of electrochemistry tables -> the names used in results.
ECHEM_ALIASES = {
    "time": "time", "t": "time", "time_s": "time", "elapsed": "time", "elapsed_time": "time",
    "voltage": "voltage", "ewe": "voltage", "potential": "voltage", "e": "voltage", "u": "voltage",
    "v": "voltage", "ecell": "voltage",
    "current": "current", "i": "current",
    "capacity": "capacity", "q": "capacity", "cap": "capacity", "qqo": "capacity", "q_qo": "capacity",
    "index": "index", "scan": "index",
}


def natural_parts(text: str) -> list:
    """Sort key of a string with its digit runs compared as numbers (``scan_2`` before ``scan_10``)."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text)]


def natural_key(path: str | os.PathLike) -> list:
    """Sort key of a file name, digit runs as numbers, letters without case (``Scan_2`` before ``scan_10``)."""
    return natural_parts(Path(path).name.lower())


def natural_sort(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Paths in natural order (ties broken by the full path)."""
    return sorted((Path(p) for p in paths), key=lambda p: (natural_key(p), str(p)))


@dataclass(frozen=True)
class Scan:
    """One pattern of a series: its position (0-based), file and electrochemistry values."""

    index: int
    path: Path
    echem: Mapping[str, float] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """File name without extension (used in per-scan result names); ``NAME_00012`` for frame 12 of an HDF5
        series file (path ``NAME.h5::12``)."""
        text = str(self.path)
        if "::" in text:
            file, frame = text.rsplit("::", 1)
            return f"{Path(file).stem}_{int(frame):05d}" if frame.isdigit() else Path(file).stem
        return self.path.stem


@dataclass(frozen=True)
class Series:
    """An ordered series of scans."""

    scans: tuple[Scan, ...]

    @classmethod
    def from_paths(cls, paths: Sequence[str | os.PathLike], *, sort: bool = True) -> Series:
        """A series from pattern files (naturally sorted unless ``sort`` is False); each file must exist. An HDF5
        series file (``refine integrate --series-file``) gives one scan per complete frame, in its order, path
        ``FILE.h5::N``, with the frame's ``time`` attached (seconds from its first frame; the given values with
        ``--scan-times``)."""
        if not paths:
            raise InputError("PATTERN", "no pattern files given")
        ordered = natural_sort(paths) if sort else [Path(p) for p in paths]
        for p in ordered:
            if not p.is_file():
                raise InputError(str(p), "no such file")
        if len({p.resolve() for p in ordered}) != len(ordered):
            raise InputError("PATTERN", "the same file is given twice")
        entries: list[tuple[Path, dict[str, float]]] = []
        for p in ordered:
            entries.extend(_series_file_scans(p) or [(p, {})])
        return cls(tuple(Scan(index=i, path=p, echem=e) for i, (p, e) in enumerate(entries)))

    def __len__(self) -> int:
        return len(self.scans)

    def __iter__(self):
        return iter(self.scans)

    def with_echem(self, table: Mapping[str, np.ndarray], *, match: str = "index",
                   times: Sequence[float] | None = None, source: str = "echem") -> Series:
        """Attach a table's row to each scan.

        ``match='index'``: the row whose ``index`` column equals the scan index, or row i for scan i when the
        table has no index column (then it needs exactly one row per scan: a cycler log with more rows than scans
        is refused, since taking its first rows would silently join the wrong times). ``match='time'``: the row whose
        ``time`` is nearest to the scan's time stamp in ``times`` (same unit as the table).
        """
        n = len(self.scans)
        nrows = len(next(iter(table.values())))
        if match == "index":
            if "index" in table:
                lookup = {int(round(v)): i for i, v in enumerate(table["index"])}
                missing = [s.index for s in self.scans if s.index not in lookup]
                if missing:
                    raise InputError(source, f"no row for scan index {missing[0]} in the index column")
                rows = [lookup[s.index] for s in self.scans]
            else:
                if nrows != n:
                    raise InputError(source, f"{nrows} rows for {n} scans and no index/scan column: matching by "
                                             "index needs one row per scan; for a cycler log use --echem-match "
                                             "time with --scan-times START:STEP")
                rows = list(range(n))
        elif match == "time":
            if "time" not in table:
                raise InputError(source, "matching by time needs a time column")
            if times is None or len(times) != n:
                raise InputError("scan_times", f"need {n} scan time stamps, got {0 if times is None else len(times)}")
            t = np.asarray(table["time"], dtype=float)
            rows = [int(np.argmin(np.abs(t - float(ts)))) for ts in times]
        else:
            raise InputError("echem_match", f"match must be 'index' or 'time', got {match!r}")
        scans = tuple(Scan(index=s.index, path=s.path,
                           echem={k: float(v[r]) for k, v in table.items() if k != "index"})
                      for s, r in zip(self.scans, rows, strict=True))
        return Series(scans)


def _series_file_scans(path: Path) -> list[tuple[Path, dict[str, float]]] | None:
    """The frames of an HDF5 series file as (``FILE::N``, {"time": ...}); None for any other file."""
    from refine.io.series_file import SERIES_SUFFIXES, is_series_file, series_frames

    if path.suffix.lower() not in SERIES_SUFFIXES or not is_series_file(path):
        return None
    frames = series_frames(path)
    if not frames:
        raise InputError(str(path), "series file holds no complete frame")
    times = np.array([f["time"] for f in frames], dtype=float)
    if frames[0]["time_source"] != "scan_times" and np.all(np.isfinite(times)):
        times = times - times[0]
    return [(Path(f["address"]), {} if not np.isfinite(t) else {"time": float(t)}) for f, t in zip(frames, times,
                                                                                                  strict=True)]


def _clean(name: str) -> str:
    name = re.sub(r"[\(\[].*?[\)\]]", "", name.strip().lower())
    name = name.split("/")[0].strip()
    name = re.sub(r"[^0-9a-z]+", "_", name).strip("_")
    return ECHEM_ALIASES.get(name, name)


def read_echem(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an electrochemistry table (CSV, semicolon, tab or whitespace separated, one header line).

    Lines starting with ``#`` and blank lines are skipped. Raises :class:`InputError` naming the file and line for
    a missing header, a non-numeric or non-finite value, a row with the wrong number of columns, a time that goes
    back, a scan index that repeats or is not whole, and a last line cut mid-number (no final line break and a last
    value shorter than every other of its column).
    """
    source = str(path)
    check_regular_file(path, kind="table")
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(source, f"cannot read electrochemistry table ({exc.strerror})") from None
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln and not ln.startswith("#")]
    if len(lines) < 2:
        raise InputError(source, "electrochemistry table needs a header line and at least one row")
    first = lines[0][1]
    sep = next((s for s in (",", ";", "\t") if s in first), None)

    def split(line: str) -> list[str]:
        return [c.strip() for c in line.split(sep)] if sep else line.split()

    names = [_clean(c) for c in split(first)]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise InputError(source, f"header line {lines[0][0]}: column names must be non-empty and distinct, got "
                                 f"{split(first)}")
    if all(is_number(n) for n in split(first)):
        raise InputError(source, f"line {lines[0][0]}: no header line (first line is numeric)")
    rows = []
    for lineno, line in lines[1:]:
        cells = split(line)
        if len(cells) != len(names):
            raise InputError(source, f"line {lineno}: {len(cells)} values, header has {len(names)} columns")
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            raise InputError(source, f"line {lineno}: non-numeric value in {line[:80]!r}") from None
        if not all(np.isfinite(rows[-1])):
            raise InputError(source, f"line {lineno}: non-finite value in {line[:80]!r}")
    last_line_of_file = lines[-1][0] == len(text.splitlines()) and not text.endswith(("\n", "\r"))
    if last_line_of_file and shorter_than_rest([split(line)[-1] for _, line in lines[1:]]):
        raise InputError(source, f"line {lines[-1][0]}: the last value is shorter than every other of its column and "
                                 "the file ends without a line break: file cut mid-number? (end the line with a line "
                                 "break if it is complete)")
    data = np.asarray(rows, dtype=float)
    _check_echem_columns(source, names, data, [n for n, _ in lines[1:]])
    return {n: data[:, i].copy() for i, n in enumerate(names)}


def _check_echem_columns(source: str, names: list[str], data: np.ndarray, linenos: list[int]) -> None:
    """Time never decreases; scan indices are distinct whole numbers (each names one scan)."""
    if "time" in names:
        back = np.flatnonzero(np.diff(data[:, names.index("time")]) < 0)
        if back.size:
            raise InputError(source, f"line {linenos[back[0] + 1]}: time column is not increasing")
    if "index" in names:
        index = data[:, names.index("index")]
        seen: dict[float, int] = {}
        for value, lineno in zip(index, linenos, strict=True):
            if value != round(value):
                raise InputError(source, f"line {lineno}: scan index {value:g} is not a whole number")
            if value in seen:
                raise InputError(source, f"line {lineno}: scan index {value:g} repeats line {seen[value]}")
            seen[value] = lineno

