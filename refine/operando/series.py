"""A series of operando patterns: files in natural order, each optionally tagged with electrochemistry.

Electrochemistry tables (cycler files: EC-Lab .mpt/.mpr, Neware .nda/.ndax, Arbin and plain CSV) are read by
:mod:`refine.io.echem` (canonical columns ``time`` s, ``voltage`` V, ``current`` mA, ``capacity`` mAh, ``index``;
other columns under their cleaned names). Each scan gets the table row of the nearest time stamp (scan times given
by the user, on the cycler's clock) or the row of the same index.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refine.errors import InputError
from refine.io.echem import EchemTable, read_echem

__all__ = ["EchemTable", "Scan", "Series", "natural_key", "natural_parts", "natural_sort", "nearest_rows",
           "read_echem"]

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
    """One pattern of a series: its position (0-based), file and electrochemistry values (with ``time``: the
    pattern's own time stamp, until a cycler row replaces it). ``time_source`` says where the stamp came from
    (``scan_times``: on the cycler's clock, given when the frames were integrated)."""

    index: int
    path: Path
    echem: Mapping[str, float] = field(default_factory=dict)
    time_source: str | None = None
    #: Its frame's number in the acquisition (operando numbers every scan; after a frame that failed to integrate
    #: it differs from ``index``): what matching a table by index uses, and the records' ``frame``.
    number: int | None = None

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
        seen: dict[Path, Path] = {}
        for p in ordered:
            if p.is_dir():
                raise InputError(str(p), f"is a folder; give its pattern files (e.g. '{p / '*.xye'}')")
            if not p.is_file():
                raise InputError(str(p), "no such file")
            if p.resolve() in seen:
                other = seen[p.resolve()]
                raise InputError(str(p), "is given twice" + ("" if other == p else f" (also as {other})"))
            seen[p.resolve()] = p
        entries: list[tuple[Path, dict[str, float], str | None]] = []
        plain = []
        for p in ordered:
            frames = _series_file_scans(p)
            if frames is None:
                plain.append(len(entries))
                frames = [(p, {}, None)]
            entries.extend(frames)
        _stamp_plain_files(entries, plain)
        return cls(tuple(Scan(index=i, path=p, echem=e, time_source=src) for i, (p, e, src) in enumerate(entries)))

    def __len__(self) -> int:
        return len(self.scans)

    def __iter__(self):
        return iter(self.scans)

    def with_echem(self, table: Mapping[str, np.ndarray] | EchemTable, *, match: str = "index",
                   times: Sequence[float] | None = None, source: str = "echem") -> Series:
        """Attach a table's row to each scan.

        ``match='index'``: the row whose ``index`` column equals the scan index, or row i for scan i when the
        table has no index column (then it needs exactly one row per scan: a cycler log with more rows than scans
        is refused, since taking its first rows would silently join the wrong times). ``match='time'``: the row whose
        ``time`` is nearest to the scan's time stamp in ``times`` (same unit as the table; :func:`nearest_rows`); a
        scan outside the log (before the cycler started or after it stopped) gets no cycler row: its ``scan_time``
        alone (:func:`outside_log` finds them).
        """
        if isinstance(table, EchemTable):
            source, table = table.source, table.columns
        n = len(self.scans)
        nrows = len(next(iter(table.values())))
        if match == "index":
            keys = [s.index if s.number is None else s.number for s in self.scans]
            if "index" in table:
                lookup = {int(round(v)): i for i, v in enumerate(table["index"])}
                missing = [k for k in keys if k not in lookup]
                if missing:
                    raise InputError(source, f"no row for scan index {missing[0]} in the index column")
                rows = [lookup[k] for k in keys]
            else:
                wanted = max(keys) + 1 if keys else 0  # frames that failed leave gaps: one row per frame
                if nrows != wanted:
                    raise InputError(source, f"{nrows} rows for {wanted} scans and no index/scan column: matching "
                                             "by index needs one row per scan; for a cycler log use --echem-match "
                                             "time with --scan-times START:STEP")
                rows = keys
        elif match == "time":
            if "time" not in table:
                raise InputError(source, "matching by time needs a time column")
            if times is None or len(times) != n:
                raise InputError("scan_times", f"need {n} scan time stamps, got {0 if times is None else len(times)}")
            rows = nearest_rows(np.asarray(table["time"], dtype=float), times, source=source)
        else:
            raise InputError("echem_match", f"match must be 'index' or 'time', got {match!r}")
        own = [{"scan_time": float(t)} for t in times] if match == "time" else [{}] * n  # kept to audit the match
        scans = tuple(dataclasses.replace(s, echem=_row(table, r, o)) for s, r, o in zip(self.scans, rows, own,
                                                                                            strict=True))
        return Series(scans)

    def numbered(self, numbers: Sequence[int]) -> Series:
        """The series with each scan's frame number (:attr:`Scan.number`), e.g. its position in an integrated
        stack where some frame failed."""
        if len(numbers) != len(self.scans):
            raise ValueError(f"{len(numbers)} numbers for {len(self.scans)} scans")
        return Series(tuple(dataclasses.replace(s, number=int(k)) for s, k in zip(self.scans, numbers, strict=True)))

    def own_times(self) -> list[float] | None:
        """The scans' own time stamps on the cycler's clock (given as ``scan_times`` when their frames were
        integrated, by frame number, so a frame that failed leaves no gap), or None when some scan has none."""
        if self.scans and all(s.time_source == "scan_times" and "time" in s.echem for s in self.scans):
            return [float(s.echem["time"]) for s in self.scans]
        return None


def _stamp_plain_files(entries: list[tuple[Path, dict[str, float], str | None]], plain: Sequence[int]) -> None:
    """Give the pattern files at ``plain`` (positions in ``entries``) the time stamps of their headers
    (:func:`refine.io.columns.header_time`), when all of them have one: seconds from the first, or as given when
    they came from ``scan_times`` (in place)."""
    from refine.io.columns import header_time

    stamps = [header_time(entries[i][0]) for i in plain]
    if not plain or any(st is None for st in stamps):
        return
    absolute = all(st[1] == "scan_times" for st in stamps)
    t0 = 0.0 if absolute else stamps[0][0]
    for i, (value, source) in zip(plain, stamps, strict=True):
        entries[i] = (entries[i][0], {"time": value - t0}, source)


def _series_file_scans(path: Path) -> list[tuple[Path, dict[str, float], str | None]] | None:
    """The frames of an HDF5 series file as (``FILE::N``, {"time": ...}, time source); None for any other file."""
    from refine.io.series_file import SERIES_SUFFIXES, is_series_file, series_frames

    if path.suffix.lower() not in SERIES_SUFFIXES or not is_series_file(path):
        return None
    frames = series_frames(path)
    if not frames:
        raise InputError(str(path), "series file holds no complete frame")
    times = np.array([f["time"] for f in frames], dtype=float)
    if frames[0]["time_source"] != "scan_times" and np.all(np.isfinite(times)):
        times = times - times[0]
    return [(Path(f["address"]), {} if not np.isfinite(t) else {"time": float(t)},
             f["time_source"] or None if np.isfinite(t) else None) for f, t in zip(frames, times, strict=True)]


def _row(table: Mapping[str, np.ndarray], row: int | None, own: dict[str, float]) -> dict[str, float]:
    """The cycler columns of ``row`` with the scan's own values ``own``; outside the log (None) these alone."""
    if row is None:
        return dict(own)
    return {**{k: float(v[row]) for k, v in table.items() if k != "index"}, **own}


def outside_log(series: Series) -> list[int]:
    """Positions of the scans matched by time that lie outside the cycler log (their time only, no cycler row)."""
    return [i for i, s in enumerate(series.scans) if "scan_time" in s.echem and "time" not in s.echem]


def nearest_rows(log_times: np.ndarray, times: Sequence[float], *, source: str = "echem") -> list[int | None]:
    """For each time stamp of ``times``, the row of ``log_times`` (non-decreasing) nearest to it, or None for a
    time stamp outside the log by more than its largest gap between rows (a scan before the cycler started or after
    it stopped: no row is joined to it, rather than the end row).

    When no time stamp lies within the log (a clock offset, or times in another unit) the match is an
    :class:`InputError`."""
    t = np.asarray(log_times, dtype=float)
    ts = np.asarray(times, dtype=float)
    if not np.all(np.isfinite(ts)):
        raise InputError("scan_times", "scan time stamps must be finite numbers")
    gap = float(np.max(np.diff(t))) if t.size > 1 else 0.0
    outside = (ts < t[0] - gap) | (ts > t[-1] + gap)
    if ts.size and outside.all():
        raise InputError(source, f"no scan lies within the cycler log ({t[0]:g} to {t[-1]:g} s; scan times "
                                 f"{ts.min():g} to {ts.max():g}): check the scan times' offset (--scan-times "
                                 "START:STEP on the cycler's clock)")
    if t.size == 1:
        return [None if out else 0 for out in outside]
    right = np.clip(np.searchsorted(t, ts), 1, t.size - 1)
    left = right - 1
    pick = np.where(np.abs(ts - t[left]) <= np.abs(t[right] - ts), left, right)
    return [None if out else int(r) for r, out in zip(pick, outside, strict=True)]
