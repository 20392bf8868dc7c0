"""When each frame of an image file was taken: from its headers where present, else the file's modification time.

HDF5/NeXus (Eiger master files included): a 1D dataset of one time per frame (``epoch``, ``timestamp``,
``time_of_frame``, ``frame_time_stamp``...; in seconds, or ISO 8601 strings), else the collection start
(``data_collection_date``, ``start_time``) plus ``i * frame_time`` (``frame_time`` or ``count_time`` +
``detector_readout_time``). Single-frame files: fabio's header (Pilatus CBF ``# 2021-03-04T12:34:56.789``,
EDF ``time_of_day``/``date``, TIFF ``DateTime``). Otherwise the file's modification time, the same for every
frame of a multi-frame file (then frames are ``frame_time``-less: each gets the file time).

Times are POSIX seconds (UTC for strings without a zone, as detectors write local time without one: a constant
offset, which the elapsed times of a series do not see).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Names (last path component, lower case) of per-frame time datasets in HDF5 files.
PER_FRAME_NAMES = ("epoch", "timestamp", "timestamps", "time_of_frame", "frame_time_stamp", "frame_timestamps",
                   "elapsed_time", "time")
START_NAMES = ("data_collection_date", "start_time", "collection_date")
FRAME_TIME_NAMES = ("frame_time",)
_ISO = re.compile(r"(\d{4})[-:/](\d{2})[-:/](\d{2})[T ](\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)")


@dataclass(frozen=True)
class FrameTimes:
    """POSIX seconds of each frame and where they came from (``header`` or ``file``)."""

    epoch: tuple[float, ...]
    source: str


def parse_time(text: str | bytes) -> float | None:
    """POSIX seconds of an ISO-8601-like date and time (``2021-03-04T12:34:56.789+01:00``, ``2021:03:04
    12:34:56``), or of a ``ctime`` string (``Thu Mar  4 12:34:56 2021``); None when there is none."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    text = str(text).strip()
    with contextlib.suppress(ValueError):
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return _posix(stamp)
    match = _ISO.search(text)
    if match:
        y, mo, d, h, mi = (int(g) for g in match.groups()[:5])
        sec = float(match.group(6))
        with contextlib.suppress(ValueError):
            stamp = dt.datetime(y, mo, d, h, mi, int(sec)) + dt.timedelta(seconds=sec - int(sec))
            return _posix(stamp)
    with contextlib.suppress(ValueError):
        return _posix(dt.datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y"))
    return None


def _posix(stamp: dt.datetime) -> float:
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def _as_times(values: np.ndarray) -> np.ndarray | None:
    """Seconds from a 1D dataset of numbers or date strings; None when they are not times."""
    if values.dtype.kind in "iuf":
        out = values.astype(float)
        return out if np.all(np.isfinite(out)) else None
    if values.dtype.kind in "SOU":
        parsed = [parse_time(v) for v in values]
        return None if any(p is None for p in parsed) else np.asarray(parsed, dtype=float)
    return None


def _scalar(node) -> object | None:
    with contextlib.suppress(Exception):
        value = node[()]
        if isinstance(value, np.ndarray):
            value = value.reshape(-1)[0] if value.size else None
        return value
    return None


def _hdf5_times(path: Path, nframes: int) -> np.ndarray | None:
    import h5py
    import hdf5plugin  # noqa: F401

    per_frame: list[np.ndarray] = []
    start: list[float] = []
    frame_time: list[float] = []
    count_readout: dict[str, float] = {}

    def visit(name: str, obj: object) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        leaf = name.rsplit("/", 1)[-1].lower()
        if leaf in PER_FRAME_NAMES and obj.ndim == 1 and obj.shape[0] == nframes > 1 and not per_frame:
            times = _as_times(obj[()])
            if times is not None:
                per_frame.append(times)
        elif leaf in START_NAMES and obj.size == 1 and not start:
            stamp = parse_time(_scalar(obj) or "")
            if stamp is not None:
                start.append(stamp)
        elif leaf in FRAME_TIME_NAMES and obj.size == 1 and obj.dtype.kind in "iuf" and not frame_time:
            frame_time.append(float(_scalar(obj)))
        elif leaf in ("count_time", "detector_readout_time") and obj.size == 1 and obj.dtype.kind in "iuf":
            count_readout.setdefault(leaf, float(_scalar(obj)))

    with h5py.File(path, "r") as fh:
        fh.visititems(visit)  # not through external links: the master file holds the metadata
    if per_frame:
        return per_frame[0]
    if start:
        step = frame_time[0] if frame_time else sum(count_readout.values()) if "count_time" in count_readout else 0.0
        return start[0] + step * np.arange(nframes, dtype=float)
    return None


_HEADER_KEYS = ("_array_data.header_contents", "time_of_day", "date", "datetime", "time", "acquisition time",
                "datestring")


def _header_time(path: str) -> float | None:
    """The acquisition time in a single-frame file's header (fabio), or None."""
    import fabio

    try:
        with fabio.open(path) as image:
            header = {str(k).lower(): v for k, v in dict(image.header).items()}
    except Exception:  # noqa: BLE001 - no readable header: the file time applies
        return None
    for key in _HEADER_KEYS:
        value = header.get(key)
        if value is None:
            continue
        text = str(value)
        if key == "_array_data.header_contents":  # Pilatus: a line '# 2021-03-04T12:34:56.789'
            text = next((ln.lstrip("# ").strip() for ln in text.splitlines() if _ISO.search(ln)), "")
        stamp = parse_time(text)
        if stamp is None and key == "time_of_day":
            with contextlib.suppress(ValueError):
                return float(text)
        if stamp is not None:
            return stamp
    return None


def frame_times(path: str | os.PathLike, nframes: int) -> FrameTimes:
    """The time of every frame of ``path`` (``file.h5::/dataset`` allowed): from its headers where present, else
    the file's modification time for each frame."""
    text = os.fspath(path)
    file = Path(text.split("::", 1)[0])
    suffix = file.suffix.lower()
    times: np.ndarray | None = None
    with contextlib.suppress(Exception):  # a header that cannot be read means no header time, not bad input
        if suffix in (".h5", ".hdf5", ".nxs", ".nx", ".hdf"):
            times = _hdf5_times(file, nframes)
        elif nframes == 1:
            stamp = _header_time(str(file))
            times = None if stamp is None else np.array([stamp])
    if times is not None and len(times) == nframes:
        return FrameTimes(tuple(float(t) for t in times), "header")
    mtime = file.stat().st_mtime
    return FrameTimes((float(mtime),) * nframes, "file")
