"""One HDF5 file for an integrated series: every frame's pattern and sigma, and per-frame metadata.

Layout (NeXus: ``@default`` leads to an NXdata whose ``@signal`` is the patterns)::

    /                    @default=entry  @refine_series=1
    /entry               NXentry, @default=data, @fingerprint, @unit, @wavelength_A, @sigma_source,
                         @corrections, @geometry (JSON), @integration (JSON)
    /entry/data          NXdata, @signal=intensity, @axes=[".", "x"]
        x                (npt,)  radial bin centres in @units
        intensity        (n, npt) float64, one row per frame; NaN where a bin got no pixel in that frame
        intensity_errors (n, npt) float64 (sigma)
    /entry/frames        per frame: source (image file), frame (index in it, -1 for a single-frame file),
                         time (POSIX s from the headers or the file; or START + i*STEP with --scan-times),
                         time_source, bins_dropped, done (1 once the row is complete)

Rows are appended one per frame (chunks of one row), so writing is O(1) per frame and a killed run resumes:
rows marked done with the same fingerprint, source and frame are not integrated again. ``FILE::N`` addresses
frame N of such a file wherever a pattern file is read (:func:`read_series_frame`), and a series of them is
what :func:`series_frames` lists.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from refine.data import Pattern
from refine.errors import InputError

SERIES_SUFFIXES = (".h5", ".hdf5", ".nxs", ".nx", ".hdf")
_FRAME_FIELDS = {"source": None, "frame": np.int64, "time": np.float64, "time_source": None,
                 "bins_dropped": np.int64, "done": np.int8}


def split_address(address: str | os.PathLike) -> tuple[Path, int] | None:
    """``series.h5::12`` -> (series.h5, 12); None for anything else (``image.h5::/entry/data`` included)."""
    text = os.fspath(address)
    if "::" not in text:
        return None
    file, frame = text.rsplit("::", 1)
    if not frame.isdigit() or Path(file).suffix.lower() not in SERIES_SUFFIXES:
        return None
    return Path(file), int(frame)


def is_series_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is an HDF5 file written by :class:`SeriesFileWriter`."""
    path = Path(path)
    if path.suffix.lower() not in SERIES_SUFFIXES or not path.is_file():
        return False
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return bool(fh.attrs.get("refine_series"))
    except OSError:
        return False


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _open(path: Path):
    import h5py

    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(path, f"cannot read as an HDF5 series file ({exc})") from None
    if not fh.attrs.get("refine_series"):
        fh.close()
        raise InputError(path, "is not an HDF5 series file written by refine integrate --series-file")
    return fh


def _done_count(fh) -> int:
    done = fh["entry/frames/done"][()]
    return int(np.count_nonzero(done))


def series_frames(path: str | os.PathLike) -> list[dict[str, Any]]:
    """One record per complete frame of a series file, in order: ``address`` (``FILE::N``), ``source``, ``frame``,
    ``time``, ``time_source``; rows not yet complete (a run still writing, or killed) are left out."""
    path = Path(path)
    with _open(path) as fh:
        frames = fh["entry/frames"]
        done = frames["done"][()]
        cols = {k: frames[k][()] for k in ("source", "frame", "time", "time_source")}
    out = []
    for i in np.flatnonzero(done):
        frame = int(cols["frame"][i])
        out.append({"address": f"{path}::{i}", "source": _text(cols["source"][i]),
                    "frame": None if frame < 0 else frame, "time": float(cols["time"][i]),
                    "time_source": _text(cols["time_source"][i])})
    return out


def read_series_frame(address: str | os.PathLike) -> Pattern:
    """The pattern of ``FILE::N`` (bins without data dropped), with the file's unit, wavelength and corrections."""
    split = split_address(address)
    if split is None:
        raise InputError(address, "is not a frame address FILE.h5::N")
    path, index = split
    if not path.is_file():
        raise InputError(path, "no such file")
    with _open(path) as fh:
        entry, data = fh["entry"], fh["entry/data"]
        n = data["intensity"].shape[0]
        if index >= n or not fh["entry/frames/done"][index]:
            raise InputError(address, f"no frame {index} in the series file ({_done_count(fh)} complete)")
        x = data["x"][()]
        y = data["intensity"][index]
        sigma = data["intensity_errors"][index]
        meta = {k: _text(fh["entry/frames"][k][index]) for k in ("source", "time_source")}
        meta.update(time=float(fh["entry/frames/time"][index]), frame=int(fh["entry/frames/frame"][index]))
        attrs = dict(entry.attrs)
    keep = np.isfinite(y) & np.isfinite(sigma)
    corrections = [c for c in _text(attrs.get("corrections", "")).split(",") if c]
    wavelength = attrs.get("wavelength_A")
    return Pattern(x=x[keep], y=y[keep], sigma=sigma[keep], unit=_text(attrs["unit"]), sigma_source="file",
                   radiation="xray", wavelength=None if wavelength is None else float(wavelength),
                   corrections=frozenset(corrections),
                   metadata={"source": os.fspath(address), "format": "series_hdf5", "series_frame": meta,
                             "fingerprint": _text(attrs.get("fingerprint", ""))})


def frame_digest(address: str | os.PathLike) -> str | None:
    """sha256 of one frame's x, intensity and sigma (what a fit of it depends on); None when it is not there."""
    split = split_address(address)
    if split is None:
        return None
    path, index = split
    try:
        with _open(path) as fh:
            data = fh["entry/data"]
            if index >= data["intensity"].shape[0] or not fh["entry/frames/done"][index]:
                return None
            h = hashlib.sha256()
            for arr in (data["x"][()], data["intensity"][index], data["intensity_errors"][index]):
                h.update(np.ascontiguousarray(arr, dtype="<f8").tobytes())
            h.update(_text(fh["entry"].attrs.get("unit", "")).encode())
            return h.hexdigest()
    except (InputError, OSError, KeyError):
        return None


class SeriesFileWriter:
    """Appends integrated frames to one HDF5 series file (the layout of the module docstring); resumable.

    Rows are written ``BLOCK`` at a time (a killed run loses at most that many integrated frames, redone on
    the rerun); memory is one block.

    Parameters
    ----------
    path
        The file; created, or reopened to resume when it holds the same ``fingerprint`` and ``resume`` is True
        (else started afresh).
    fingerprint
        The integrator's fingerprint (geometry + settings).
    resume
        Keep the complete rows of an earlier run with the same fingerprint.
    """

    BLOCK = 32

    def __init__(self, path: str | os.PathLike, fingerprint: str, *, resume: bool = True) -> None:
        import h5py
        import hdf5plugin  # noqa: F401

        self.path = Path(path)
        self.fingerprint = fingerprint
        self._rows: dict[int, tuple[str, int]] = {}
        same = False
        if resume and self.path.is_file():
            try:
                with h5py.File(self.path, "r") as fh:
                    same = bool(fh.attrs.get("refine_series")) and _text(
                        fh["entry"].attrs.get("fingerprint", "")) == fingerprint
                    if same:
                        frames = fh["entry/frames"]
                        for i in np.flatnonzero(frames["done"][()]):
                            self._rows[int(i)] = (_text(frames["source"][i]), int(frames["frame"][i]))
            except (OSError, KeyError):
                same = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = h5py.File(self.path, "a" if same else "w")
        except OSError as exc:
            raise InputError(self.path, f"cannot write the series file ({exc})") from None
        self._started = same
        self._x: np.ndarray | None = None
        self._pending: list[tuple[int, np.ndarray, np.ndarray, dict[str, Any]]] = []

    def done(self, position: int, source: str, frame: int | None) -> bool:
        """True when row ``position`` is complete and came from this source and frame."""
        return self._rows.get(position) == (source, -1 if frame is None else frame)

    def _create(self, pattern: Pattern, radial: np.ndarray) -> None:
        import h5py

        fh = self._fh
        fh.attrs.update(default="entry", refine_series=1)
        entry = fh.create_group("entry")
        meta = pattern.metadata
        entry.attrs.update(NX_class="NXentry", default="data", fingerprint=self.fingerprint, unit=pattern.unit,
                           sigma_source=pattern.sigma_source, corrections=",".join(sorted(pattern.corrections)),
                           geometry=json.dumps(dict(meta.get("geometry") or {}), sort_keys=True, default=str),
                           integration=json.dumps(dict(meta.get("integration") or {}), sort_keys=True, default=str))
        if pattern.wavelength is not None:
            entry.attrs["wavelength_A"] = float(pattern.wavelength)
        data = entry.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="intensity", axes=[".", "x"])
        data.create_dataset("x", data=np.asarray(radial, dtype=float)).attrs["units"] = pattern.unit
        npt = len(radial)
        for name in ("intensity", "intensity_errors"):
            data.create_dataset(name, shape=(0, npt), maxshape=(None, npt), dtype="f8", chunks=(1, npt),
                                fillvalue=np.nan)
        frames = entry.create_group("frames")
        for name, dtype in _FRAME_FIELDS.items():
            frames.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(1024,),
                                  dtype=h5py.string_dtype() if dtype is None else dtype)
        self._started = True

    def write(self, position: int, pattern: Pattern, radial: np.ndarray, info: Mapping[str, Any]) -> None:
        """Store ``pattern`` (its points on the full grid ``radial``) as row ``position``; ``info`` holds
        source, frame, time, time_source. Rows are buffered and written ``BLOCK`` at a time (one HDF5 write per
        dataset per block); :meth:`flush` and :meth:`close` write the rest."""
        if not self._started:
            self._create(pattern, radial)
        if self._x is None:
            self._x = self._fh["entry/data/x"][()]
        x = self._x
        if len(radial) != len(x) or not np.array_equal(np.asarray(radial, dtype=float), x):
            raise InputError(self.path, "frames of one series file must share the radial grid")
        cols = np.searchsorted(x, pattern.x)
        y = np.full(x.size, np.nan)
        s = np.full(x.size, np.nan)
        y[cols], s[cols] = pattern.y, pattern.sigma
        frame = info.get("frame")
        row = {"source": str(info.get("source")), "frame": -1 if frame is None else int(frame),
               "time": np.nan if info.get("time") is None else float(info["time"]),
               "time_source": str(info.get("time_source") or ""),
               "bins_dropped": int(pattern.metadata.get("bins_dropped") or 0), "done": 1}
        if self._pending and position != self._pending[-1][0] + 1:
            self._write_pending()
        self._pending.append((position, y, s, row))
        if len(self._pending) >= self.BLOCK:
            self._write_pending()

    def _write_pending(self) -> None:
        """Write the buffered (contiguous) rows: intensity and sigma slabs, then the per-frame fields, ``done``
        last, so that a row marked done is complete."""
        if not self._pending:
            return
        data, frames = self._fh["entry/data"], self._fh["entry/frames"]
        lo, hi = self._pending[0][0], self._pending[-1][0] + 1
        if data["intensity"].shape[0] < hi:
            for name in ("intensity", "intensity_errors"):
                data[name].resize(hi, axis=0)
            for name in _FRAME_FIELDS:
                frames[name].resize(hi, axis=0)
        frames["done"][lo:hi] = 0
        data["intensity"][lo:hi] = np.array([p[1] for p in self._pending])
        data["intensity_errors"][lo:hi] = np.array([p[2] for p in self._pending])
        for name, dtype in _FRAME_FIELDS.items():
            if name != "done":
                values = [p[3][name] for p in self._pending]
                frames[name][lo:hi] = values if dtype is None else np.asarray(values, dtype=dtype)
        frames["done"][lo:hi] = 1
        for position, _, _, row in self._pending:
            self._rows[position] = (row["source"], row["frame"])
        self._pending = []

    def truncate(self, n: int) -> None:
        """Drop rows from ``n`` on (those of an earlier run over more frames)."""
        self._write_pending()
        if self._started and self._fh["entry/data/intensity"].shape[0] > n:
            for name in ("intensity", "intensity_errors"):
                self._fh["entry/data"][name].resize(n, axis=0)
            for name in _FRAME_FIELDS:
                self._fh["entry/frames"][name].resize(n, axis=0)

    def flush(self) -> None:
        """Write the buffered rows and push them to the disk (readers of a file being written see complete rows)."""
        self._write_pending()
        self._fh.flush()

    def close(self, *, write: bool = True) -> None:
        """Write the buffered rows (unless ``write`` is False) and close the file."""
        try:
            if write:
                self._write_pending()
        finally:
            self._fh.close()
