"""The result of a sequential run: :class:`SeriesResult` (each scan's FitResult, or a :class:`ScanFailure`, in
order), its per-scan table (``table()``, the ``--csv`` columns) and the ``kind: sequential`` summary document."""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from refine import __version__
from refine.fit import FitResult
from refine.fit.result import DOCUMENT_KEYS, RESULT_SCHEMA, write_document
from refine.io.atomic import atomic_open
from refine.notation import note_warnings

#: Keys of a scan record that say where the scan is and how it went (before its result document).
_WHERE = ("index", "frame", "file", "status", "result_file")


@dataclass(frozen=True)
class ScanFailure:
    """A scan whose fit raised: its position, file, electrochemistry, the error and (operando) its frame's number."""

    index: int
    file: str
    error: str
    echem: Mapping[str, float] = field(default_factory=dict)
    frame: int | None = None

    converged = False
    status = "failed"

    def to_dict(self) -> dict[str, Any]:
        """The scan's record in the summary (as a failed scan always had)."""
        return {"index": self.index, **frame_key(self.frame), "file": self.file, **dict(self.echem),
                "status": "failed", "result_file": None, "converged": False, "error": self.error}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> ScanFailure:
        """Read :meth:`to_dict` back."""
        echem = {k: v for k, v in record.items() if k not in (*_WHERE, "converged", "error")}
        frame = record.get("frame")
        return cls(index=int(record["index"]), file=str(record["file"]), error=str(record.get("error")),
                   echem=echem, frame=None if frame is None else int(frame))


def frame_key(frame: int | None) -> dict[str, int]:
    """A record's ``frame`` entry: the scan's frame number in the acquisition when the series has one (operando:
    a frame that failed to integrate leaves a gap, so it can differ from ``index``), else nothing."""
    return {} if frame is None else {"frame": int(frame)}


def scan_result(record: Mapping[str, Any], fit: FitResult | None = None) -> FitResult:
    """A scan's FitResult: ``fit`` (or the one ``record`` holds) with the record's index, file, electrochemistry,
    status, result file and provenance kept in ``extra['document']`` (so ``to_dict()`` gives the record back)."""
    base = fit if fit is not None else FitResult.from_dict(record)
    document = {k: v for k, v in record.items() if k not in DOCUMENT_KEYS}
    return dataclasses.replace(base, extra={**base.extra, "document": document})


def scan_record(scan: FitResult | ScanFailure) -> dict[str, Any]:
    """The summary's record of one scan: index, file, electrochemistry, status, result file, then its result
    document without reflection lists."""
    if isinstance(scan, ScanFailure):
        return scan.to_dict()
    document = dict(scan.extra.get("document") or {})
    keys = list(document)
    head = keys[:keys.index("result_file") + 1] if "result_file" in keys else [k for k in keys if k in _WHERE]
    rec = {k: document[k] for k in head}
    rec.update({k: v for k, v in scan.to_dict(reflections=False).items() if k not in rec})
    return rec


class StoredScans(Sequence):
    """A series' scans kept pickled, each unpickled afresh when read: a live FitResult holds lmfit Parameters with
    their own asteval interpreter (~35 kB of the ~60 kB a Le Bail scan's result takes in memory; pickled: ~7 kB),
    so a long series held whole would grow its process by that much per scan.

    An item is :func:`store`'s pickle of a scan, or a :class:`FittedScan` (a fit pickled where it ran, and the
    scan's record): those give their records without unpickling the fits (lmfit's Parameters cost ~2 ms a scan to
    rebuild)."""

    def __init__(self, scans: Iterable[FitResult | ScanFailure] = ()) -> None:
        self._items: list[bytes | FittedScan] = [store(s) for s in scans]

    @classmethod
    def from_stored(cls, items: Iterable[bytes | FittedScan]) -> StoredScans:
        """From :func:`store`'s pickles and :class:`FittedScan` s."""
        out = cls()
        out._items = list(items)
        return out

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return tuple(_unstore(item) for item in self._items[index])
        return _unstore(self._items[index])

    def record_pickles(self) -> tuple[bytes, ...]:
        """Each scan's record (:func:`scan_record`) pickled, in order."""
        return tuple(item.record if isinstance(item, FittedScan)
                     else pickle.dumps(scan_record(pickle.loads(item)), protocol=pickle.HIGHEST_PROTOCOL)
                     for item in self._items)

    def __repr__(self) -> str:
        return f"StoredScans({len(self)} scans)"


@dataclass(frozen=True)
class FittedScan:
    """A fitted scan as a sequential run keeps it: ``fit`` its FitResult pickled (by :func:`store`, in the worker
    that fitted it), ``record`` its record (:func:`scan_record` of the scan's FitResult) pickled."""

    fit: bytes
    record: bytes

    @classmethod
    def make(cls, fit: bytes, record: Mapping[str, Any]) -> FittedScan:
        """From the pickled fit and the record (pickled here)."""
        return cls(fit=fit, record=pickle.dumps(dict(record), protocol=pickle.HIGHEST_PROTOCOL))

    def scan(self) -> FitResult:
        """The scan's FitResult (:func:`scan_result`)."""
        return scan_result(pickle.loads(self.record), pickle.loads(self.fit))


def _unstore(item: bytes | FittedScan) -> FitResult | ScanFailure:
    return item.scan() if isinstance(item, FittedScan) else pickle.loads(item)


def store(scan: FitResult | ScanFailure) -> bytes:
    """A scan's result as :class:`StoredScans` keeps it."""
    return pickle.dumps(scan, protocol=pickle.HIGHEST_PROTOCOL)


@dataclass(frozen=True)
class SeriesResult:
    """The fits of a series, in scan order.

    Attributes
    ----------
    scans
        One :class:`~refine.fit.result.FitResult` per scan (its ``extra['document']`` holds index, file,
        electrochemistry, status, result file), or a :class:`ScanFailure` where the fit raised; a
        :class:`StoredScans` sequence (each item read is a fresh copy).
    output
        The folder the run wrote into (None when nothing was written).
    fitted, skipped
        Scans fitted in this run, and scans resumed from their result files.
    """

    scans: Sequence[FitResult | ScanFailure]
    output: Path | None = None
    fitted: int = 0
    skipped: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.scans, StoredScans):
            object.__setattr__(self, "scans", StoredScans(self.scans))

    def __len__(self) -> int:
        return len(self.scans)

    @property
    def out_dir(self) -> Path | None:
        """The output folder (the name before typed results)."""
        return self.output

    @property
    def converged(self) -> bool:
        """True when every scan converged."""
        return all(bool(r.get("converged")) for r in self.records)

    @property
    def records(self) -> tuple[dict[str, Any], ...]:
        """One plain record per scan (the ``scans`` of the summary document), in order; a fresh copy on each access
        (editing it changes nothing of the result, its table or its summary)."""
        return tuple(pickle.loads(item) for item in self._record_pickles)

    @cached_property
    def _record_pickles(self) -> tuple[bytes, ...]:
        return self.scans.record_pickles()

    def table(self):
        """The per-scan table as a pandas DataFrame, one row per scan, with the columns of ``--csv``: index, file,
        electrochemistry, converged, status, R-factors, each phase's lattice and volume with esd and weight
        fraction, every other refined parameter with its esd."""
        import pandas as pd

        cols, rows = table(self.records)
        return pd.DataFrame(rows, columns=cols)

    def to_dict(self, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``kind: sequential`` result document (CONVENTIONS.md)."""
        return summary(self, settings)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SeriesResult:
        """A series read back from its summary document (scans without reflection lists or curves)."""
        scans = tuple(ScanFailure.from_dict(r) if r.get("status") == "failed" or "schema" not in r else scan_result(r)
                      for r in doc.get("scans") or ())
        prov = doc.get("provenance") or {}
        return cls(scans=scans, fitted=int(prov.get("fitted") or 0), skipped=int(prov.get("skipped") or 0))

    def plot(self, *, windows: Sequence[Any] | None = None, unit: str = "2th_deg", title: str | None = None):
        """The operando figure (:func:`refine.plot.operando.operando_figure`): the patterns as a heat map against
        time beside the voltage, each phase's lattice parameters and ΔV/V₀ (%) with esd bars, weight fractions and
        Rwp on the same time axis; a :class:`matplotlib.figure.Figure`, made without pyplot. ``windows``: heat-map
        ranges, [(lo, hi), ...] or ["LO:HI", ...]; ``unit``: ``2th_deg`` or ``q_A^-1``; ``title``."""
        from refine.plot.operando import operando_figure

        return operando_figure(self.records, windows=windows, unit=unit, title=title)


# -- summary files ---------------------------------------------------------------------------------------------
def summary(result: SeriesResult, settings: Mapping[str, Any] | None = None) -> dict:
    """The ``kind: sequential`` result document: ``scans`` holds one result object per scan, in order."""
    records = result.records
    flagged = [r["index"] for r in records if not r.get("converged")]
    run_warnings = note_warnings((settings or {}).get("notes"))  # the run's own (wavelength, cycler rows)
    return {
        "schema": RESULT_SCHEMA, "kind": "sequential", "data": [r["file"] for r in records],
        "converged": not flagged,
        "message": "all scans converged" if not flagged else f"{len(flagged)} scan(s) flagged: {flagged}",
        "statistics": None, "phases": [], "parameters": {}, "correlations": {},
        "warnings": run_warnings + [f"scan {r['index']} ({Path(r['file']).name}): {r['status']}"
                                    + (f" - {r['error']}" if r.get("error") else "")
                                    for r in records if not r.get("converged")],
        "scans": list(records),
        "provenance": {"package": "refine", "version": __version__, "settings": dict(settings or {}),
                       "fitted": result.fitted, "skipped": result.skipped},
    }


def write_summary(result: SeriesResult, path: str | os.PathLike, settings: Mapping[str, Any] | None = None) -> Path:
    """Write :func:`summary` atomically as JSON."""
    return write_document(summary(result, settings), path, indent=1)


STAT_COLUMNS = ("Rwp", "Rp", "Rexp", "GOF", "chi2_red", "Rw")
PHASE_COLUMNS = ("a", "b", "c", "alpha", "beta", "gamma", "volume")
#: Record keys that are not electrochemistry columns.
_RESERVED = (*_WHERE, "converged", "error", *DOCUMENT_KEYS, "data", "provenance")


def volume_change(records: Sequence[Mapping[str, Any]], prefix: str) -> dict[int, tuple[float, float | None]]:
    """ΔV/V₀ (%) of one phase per scan index, with its esd: V₀ is the phase's volume in the first converged scan
    that holds it (the first such scan when none converged). The scans are independent fits, so
    σ = 100·(V/V₀)·sqrt((σV/V)² + (σV₀/V₀)²); the reference scan's own ΔV/V₀ is 0 exactly (esd 0). The esd is None
    where a volume has none."""
    rows = []
    for r in records:
        for ph in r.get("phases") or []:
            if ph.get("prefix") == prefix and ph.get("volume") is not None:
                rows.append((int(r["index"]), float(ph["volume"]), (ph.get("esd") or {}).get("volume"),
                             bool(r.get("converged"))))
    if not rows:
        return {}
    ref = next((row for row in rows if row[3]), rows[0])
    _, v0, s0, _ = ref
    out: dict[int, tuple[float, float | None]] = {}
    for index, v, s, _ in rows:
        if index == ref[0]:
            out[index] = (0.0, 0.0)
            continue
        esd = None if s is None or s0 is None else 100.0 * (v / v0) * math.hypot(s / v, s0 / v0)
        out[index] = (100.0 * (v / v0 - 1.0), esd)
    return out


def table(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the per-scan table: index, file, electrochemistry, converged, status, R-factors, each
    phase's lattice and volume with esd, its ΔV/V₀ (%) with esd (:func:`volume_change`) and weight fraction, then
    every other refined parameter with its esd."""
    echem: list[str] = []
    prefixes: list[str] = []
    refined: list[str] = []
    for r in records:
        for k in r:
            if k not in _RESERVED and k not in echem:
                echem.append(k)
        for ph in r.get("phases") or []:
            if ph["prefix"] not in prefixes:
                prefixes.append(ph["prefix"])
        for name, p in (r.get("parameters") or {}).items():
            if p.get("vary") and name not in refined:
                refined.append(name)
    framed = any(r.get("frame") is not None for r in records)
    cols = ["index", *(["frame"] if framed else []), "file", *echem, "converged", "status", *STAT_COLUMNS]
    for pre in prefixes:
        for n in PHASE_COLUMNS:
            cols += [f"{pre}_{n}", f"{pre}_{n}_esd"]
        cols += [f"{pre}_dV_V0_percent", f"{pre}_dV_V0_percent_esd", f"{pre}_weight_fraction",
                 f"{pre}_weight_fraction_esd"]
    changes = {pre: volume_change(records, pre) for pre in prefixes}
    cols += [c for name in refined if f"{name}" not in cols for c in (name, f"{name}_esd")]
    rows = []
    for r in records:
        row: dict[str, Any] = {"index": r["index"], "frame": r.get("frame"), "file": r["file"],
                               "converged": bool(r.get("converged")), "status": r.get("status")}
        row.update({k: r.get(k) for k in echem})
        row.update({k: (r.get("statistics") or {}).get(k) for k in STAT_COLUMNS})
        for ph in r.get("phases") or []:
            esd = ph.get("esd") or {}
            for n in PHASE_COLUMNS:
                row[f"{ph['prefix']}_{n}"] = ph.get(n)
                row[f"{ph['prefix']}_{n}_esd"] = esd.get(n)
            row[f"{ph['prefix']}_dV_V0_percent"], row[f"{ph['prefix']}_dV_V0_percent_esd"] = (
                changes[ph["prefix"]].get(int(r["index"]), (None, None)))
            row[f"{ph['prefix']}_weight_fraction"] = ph.get("weight_fraction")
            row[f"{ph['prefix']}_weight_fraction_esd"] = esd.get("weight_fraction")
        for name, p in (r.get("parameters") or {}).items():
            if name in refined and name not in row:
                row[name] = p.get("value")
                row[f"{name}_esd"] = p.get("esd")
        rows.append([row.get(c) for c in cols])
    return cols, rows


def write_csv(records: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """The per-scan table as CSV (empty cells for values that do not apply), written atomically."""
    import csv

    cols, rows = table(records)
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        for row in rows:
            writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return Path(path)
