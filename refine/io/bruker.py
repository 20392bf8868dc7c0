"""Bruker / Siemens DIFFRAC binary ``.raw`` files, versions 1 (``RAW ``), 2, 3 (``RAW1.01``) and 4 (``RAW4.00``).

Layouts (little-endian) follow the DIFFRAC^plus XCH 5.0 manual, appendix A, as documented in xylib
(``brucker_raw.cpp``) for versions 1-3, and GSAS-II's ``G2pwd_BrukerRAW.py`` for version 4:

* RAW1.01: 712-byte file header (range count at 12; anode at 608; Kα mean, Kα1, Kα2, Kβ, Kα2/Kα1 as float64 at
  616-648), then per range a 304-byte header (steps at 4, start 2θ at 16, step at 176, supplementary header size
  at 256), the supplementary headers, and ``steps`` float32 counts.
* RAW4.00: from byte 61 a chain of tagged segments (type, length); type 30 holds the tube (Kα mean/1/2, Kβ and
  ratio as float64 at +72..+104, anode at +116); a segment of type 160 (or 0) starts a range: scan type at +32,
  start at +72, step at +80, steps at +88, datum size at +136, extra-header size at +140, data after +160+extra.
* RAW2: range count (uint16) at 4; anode at 188, Kα1, Kα2, ratio float32 at 190-198; ranges from 256 with
  header length and steps (uint16), step and start (float32) at +12 and +16.
* RAW (v1): chained 152-byte range headers (steps, step at +8, start at +20, Kα1/Kα2 at +68/+72, "next range"
  flag at +148) each followed by its float32 counts.

The counts get Poisson sigma, sqrt(max(counts, 1)): a zero-count step keeps the variance of one count, as
GSAS-II does for this format. Negative or non-finite counts, truncated files and impossible headers raise
:class:`~refine.errors.InputError` naming the file.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path
from typing import Any

import numpy as np

from refine import units
from refine.data import Pattern
from refine.errors import InputError
from refine.io.gsas import bank_option
from refine.io.registries import PATTERN_READERS

#: DIFFRAC scan types whose x axis is the detector 2θ (GSAS-II reads the same three).
TWO_THETA_SCANS = ("Locked Coupled", "Unlocked Coupled", "Detector Scan")
_MAX_RANGES = 10_000


@dataclasses.dataclass(frozen=True)
class RawRange:
    """One measured range of a RAW file: 2θ start and step in degrees, counts, and range metadata."""

    start: float
    step: float
    counts: np.ndarray
    meta: dict[str, Any]


class _Bytes:
    """Bounds-checked little-endian reads from the file contents; a short read raises InputError."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path = path
        self.data = data

    def need(self, offset: int, size: int, what: str) -> None:
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise InputError(self.path, f"truncated Bruker RAW file: {what} needs bytes {offset}-{offset + size}, "
                                        f"the file has {len(self.data)}")

    def unpack(self, fmt: str, offset: int, what: str) -> Any:
        self.need(offset, struct.calcsize("<" + fmt), what)
        return struct.unpack_from("<" + fmt, self.data, offset)[0]

    def text(self, offset: int, size: int, what: str) -> str:
        self.need(offset, size, what)
        return self.data[offset:offset + size].split(b"\x00", 1)[0].decode("latin-1").strip()

    def counts(self, offset: int, n: int, what: str) -> np.ndarray:
        self.need(offset, 4 * n, what)
        return np.frombuffer(self.data, dtype="<f4", count=n, offset=offset).astype(float)


def _range(buf: _Bytes, start: float, step: float, nsteps: int, offset: int, meta: dict[str, Any]) -> RawRange:
    index = meta["range"]
    if not (np.isfinite(start) and np.isfinite(step) and step > 0):
        raise InputError(buf.path, f"range {index}: impossible start {start!r} / step {step!r} (garbled file?)")
    if not 0 < nsteps <= len(buf.data):
        raise InputError(buf.path, f"range {index}: impossible number of steps {nsteps} (garbled file?)")
    counts = buf.counts(offset, nsteps, f"range {index} data")
    return RawRange(start=float(start), step=float(step), counts=counts, meta=meta)


def _wavelengths(anode: str, mean: float | None, ka1: float, ka2: float, ratio: float | None,
                 kb: float | None) -> dict[str, Any]:
    return {"anode": anode, "kalpha_mean": mean, "kalpha1": ka1, "kalpha2": ka2, "ratio": ratio, "kbeta": kb}


def _read_v101(buf: _Bytes) -> tuple[dict[str, Any], list[RawRange]]:
    nranges = buf.unpack("i", 12, "range count")
    if not 0 < nranges <= _MAX_RANGES:
        raise InputError(buf.path, f"impossible range count {nranges} (garbled file?)")
    info = {"date": buf.text(16, 10, "date"), "time": buf.text(26, 10, "time"),
            "sample": buf.text(326, 60, "sample id"), "goniometer_radius_mm": buf.unpack("f", 564, "radius")}
    mean, ka1, ka2, kb, ratio = (buf.unpack("d", 616 + 8 * i, "wavelengths") for i in range(5))
    waves = _wavelengths(buf.text(608, 4, "anode"), mean, ka1, ka2, ratio, kb)
    ranges = []
    pos = 712
    for index in range(1, nranges + 1):
        head_len = buf.unpack("i", pos, f"range {index} header length")
        if head_len != 304:
            raise InputError(buf.path, f"range {index}: header length {head_len}, RAW1.01 has 304 (garbled file?)")
        nsteps = buf.unpack("i", pos + 4, "steps")
        supplementary = buf.unpack("i", pos + 256, "supplementary header size")
        if supplementary < 0:
            raise InputError(buf.path, f"range {index}: negative supplementary header size (garbled file?)")
        meta = {"range": index, "start_theta": buf.unpack("d", pos + 8, "start theta"),
                "time_per_step_s": buf.unpack("f", pos + 192, "time per step"),
                "used_wavelength": buf.unpack("d", pos + 240, "used lambda")}
        data_at = pos + head_len + supplementary
        ranges.append(_range(buf, buf.unpack("d", pos + 16, "start 2theta"), buf.unpack("d", pos + 176, "step"),
                             nsteps, data_at, meta))
        pos = data_at + 4 * nsteps
    return {"version": "RAW1.01", **info, "wavelengths": waves}, ranges


def _read_v4(buf: _Bytes) -> tuple[dict[str, Any], list[RawRange]]:
    info: dict[str, Any] = {"date": buf.text(12, 12, "date"), "time": buf.text(24, 10, "time")}
    waves: dict[str, Any] | None = None
    fields: dict[str, str] = {}
    ranges: list[RawRange] = []
    pos = 61
    while pos + 8 <= len(buf.data) and len(ranges) < _MAX_RANGES:
        segtype = buf.unpack("I", pos, "segment type")
        if segtype not in (0, 160):
            seglen = buf.unpack("I", pos + 4, "segment length")
            if seglen < 8:
                raise InputError(buf.path, f"segment at byte {pos} has length {seglen} (garbled file?)")
            buf.need(pos, seglen, f"segment type {segtype}")
            if segtype == 10 and seglen >= 36:  # name/value pair
                fields[buf.text(pos + 12, 24, "field name")] = buf.text(pos + 36, seglen - 36, "field value")
            elif segtype == 30 and seglen >= 120:  # x-ray tube
                mean, ka1, ka2, kb, ratio = (buf.unpack("d", pos + 72 + 8 * i, "wavelengths") for i in range(5))
                waves = _wavelengths(buf.text(pos + 116, 4, "anode"), mean, ka1, ka2, ratio, kb)
            pos += seglen
            continue
        index = len(ranges) + 1
        scan = buf.text(pos + 32, 24, "scan type")
        nsteps = buf.unpack("I", pos + 88, "steps")
        datum = buf.unpack("I", pos + 136, "datum size")
        extra = buf.unpack("I", pos + 140, "extra header size")
        meta = {"range": index, "scan_type": scan, "time_per_step_s": buf.unpack("f", pos + 92, "time") / 1000.0,
                "used_wavelength": buf.unpack("d", pos + 112, "used lambda")}
        if datum != 4:
            raise InputError(buf.path, f"range {index}: datum size {datum}, only float32 counts (4) are read")
        data_at = pos + 160 + extra
        ranges.append(_range(buf, buf.unpack("d", pos + 72, "start"), buf.unpack("d", pos + 80, "step"),
                             nsteps, data_at, meta))
        pos = data_at + 4 * nsteps
    if waves is None:
        raise InputError(buf.path, "RAW4.00 file without an x-ray tube segment (no wavelength)")
    return {"version": "RAW4.00", **info, "fields": fields, "wavelengths": waves}, ranges


def _read_v2(buf: _Bytes) -> tuple[dict[str, Any], list[RawRange]]:
    nranges = buf.unpack("H", 4, "range count")
    if not 0 < nranges <= _MAX_RANGES:
        raise InputError(buf.path, f"impossible range count {nranges} (garbled file?)")
    waves = _wavelengths(buf.text(188, 2, "anode"), None, buf.unpack("f", 190, "Ka1"), buf.unpack("f", 194, "Ka2"),
                         buf.unpack("f", 198, "ratio"), None)
    ranges = []
    pos = 256
    for index in range(1, nranges + 1):
        head_len = buf.unpack("H", pos, "range header length")
        if head_len <= 48:
            raise InputError(buf.path, f"range {index}: header length {head_len} (garbled file?)")
        nsteps = buf.unpack("H", pos + 2, "steps")
        meta = {"range": index, "time_per_step_s": buf.unpack("f", pos + 8, "time per step")}
        ranges.append(_range(buf, buf.unpack("f", pos + 16, "start"), buf.unpack("f", pos + 12, "step"), nsteps,
                             pos + head_len, meta))
        pos += head_len + 4 * nsteps
    return {"version": "RAW2", "date": buf.text(168, 20, "date"), "wavelengths": waves}, ranges


def _read_v1(buf: _Bytes) -> tuple[dict[str, Any], list[RawRange]]:
    ranges: list[RawRange] = []
    pos = 4
    waves = None
    more = 1
    while more and len(ranges) < _MAX_RANGES:
        if ranges and buf.data[pos:pos + 4] == b"RAW ":  # later ranges may repeat the magic
            pos += 4
        index = len(ranges) + 1
        nsteps = buf.unpack("I", pos, "steps")
        meta = {"range": index, "time_per_step_s": buf.unpack("f", pos + 4, "time per step"),
                "sample": buf.text(pos + 36, 32, "sample name")}
        if waves is None:
            waves = _wavelengths("", None, buf.unpack("f", pos + 68, "Ka1"), buf.unpack("f", pos + 72, "Ka2"), None,
                                 None)
        more = buf.unpack("I", pos + 148, "next-range flag")
        ranges.append(_range(buf, buf.unpack("f", pos + 20, "start"), buf.unpack("f", pos + 8, "step"), nsteps,
                             pos + 152, meta))
        pos += 152 + 4 * nsteps
    return {"version": "RAW", "wavelengths": waves}, ranges


_VERSIONS = ((b"RAW1.01", _read_v101), (b"RAW4.00", _read_v4), (b"RAW2", _read_v2), (b"RAW ", _read_v1))


def read_raw_ranges(path: str | Path) -> tuple[dict[str, Any], list[RawRange]]:
    """All ranges of a Bruker RAW file and the file-level metadata (version, wavelengths, ...)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    buf = _Bytes(path, data)
    for magic, reader in _VERSIONS:
        if data.startswith(magic):
            info, ranges = reader(buf)
            break
    else:
        raise InputError(path, f"not a Bruker RAW file (starts with {data[:7]!r})")
    if not ranges:
        raise InputError(path, "Bruker RAW file without any measured range")
    return info, ranges


def _clean(value: Any) -> Any:
    """Wavelength values as plain floats, None when absent or not positive."""
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) and value > 0 else None
    return value


@PATTERN_READERS.register("bruker_raw")
def read_bruker_raw(path: Path, *, bank: int | str | None = None, wavelength: float | None = None) -> Pattern:
    """Read one range of a Bruker RAW file as an x-ray 2θ pattern with Poisson sigma.

    Parameters
    ----------
    path
        The ``.raw`` file.
    bank
        Range number, 1-based (``bank=2`` is the second range); default the first.
    wavelength
        Override for the wavelength in Å; default the file's Kα1.

    Returns
    -------
    Pattern
        ``wavelength`` = Kα1 and ``metadata['wavelengths']`` = anode, Kα1, Kα2, Kα2/Kα1 ratio (and Kα mean, Kβ
        where the file has them); ``metadata['raw_version']``, ``range``, ``nranges``.
    """
    path = Path(path)
    info, ranges = read_raw_ranges(path)
    index = 1 if bank is None else bank_option(path, bank)
    if not 1 <= index <= len(ranges):
        raise InputError("bank", f"{path}: no range {index}; the file has ranges 1-{len(ranges)}")
    chosen = ranges[index - 1]
    scan = chosen.meta.get("scan_type")
    if scan is not None and scan not in TWO_THETA_SCANS:
        raise InputError(path, f"range {index} is a {scan!r} scan, not a 2θ scan ({', '.join(TWO_THETA_SCANS)})")
    y = chosen.counts
    if not np.all(np.isfinite(y)):
        raise InputError(path, f"range {index}: non-finite counts (garbled file?)")
    if np.any(y < 0):
        raise InputError(path, f"range {index}: negative counts ({y.min():g}); not raw counts")
    x = chosen.start + chosen.step * np.arange(y.size)
    if np.abs(x).max() > 180.0:
        raise InputError(path, f"range {index}: 2θ from {x[0]:g} to {x[-1]:g} is impossible (garbled file?)")
    if not np.all(np.diff(x) > 0):  # a step below the float resolution of the start angle (garbled header)
        raise InputError(path, f"range {index}: step {chosen.step:g}° does not separate the 2θ values from "
                               f"{x[0]:g}° (garbled file?)")
    waves = {key: _clean(value) for key, value in info["wavelengths"].items()}
    if wavelength is None:
        wavelength = waves.get("kalpha1")
    sigma = np.sqrt(np.maximum(y, 1.0))  # Poisson; a zero count keeps the variance of one count (as GSAS-II)
    metadata = {"source": str(path), "format": "bruker_raw", "raw_version": info["version"],
                "header": [f"{key}: {value}" for key, value in info.items() if key not in ("wavelengths", "fields")],
                "wavelengths": waves, "range": index, "nranges": len(ranges),
                "range_metadata": {k: _clean(v) for k, v in chosen.meta.items()}}
    if info.get("fields"):
        metadata["fields"] = dict(info["fields"])
    return Pattern(x=x, y=y, sigma=sigma, unit=units.TTH_DEG, sigma_source="poisson", radiation="xray",
                   wavelength=wavelength, metadata=metadata)
