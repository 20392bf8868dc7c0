"""``refine.parametric``: a parametric (surface) refinement of a series from files, as ``refine parametric``."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from refine.api._inputs import as_list, as_structures, check_files, source_of
from refine.api.options import WHOLE_PATTERN_REFINE, ParametricOptions
from refine.errors import InputError
from refine.io.atomic import sha256_of


def parametric(patterns: Any, phases: Any, *, kind: str = "pawley", **options: Any):
    """Fit all scans of a series at once: shared instrument, cells per scan, trends and constant-volume phases.

    Parameters
    ----------
    patterns
        A glob or a list of pattern files (naturally sorted).
    phases
        Structure files or CrystalStructures (with atoms for ``kind="rietveld"``).
    kind
        ``pawley`` (free intensities per scan) or ``rietveld`` (structure intensities, one scale per phase and scan,
        so weight fractions per scan).
    **options
        :class:`refine.api.options.ParametricOptions`: ``wavelength`` or ``instrument``, ``range``, ``exclude``,
        ``background``, ``refine`` (default cell,zero,W,X,Y; Rietveld adds the scales), ``present``,
        ``trend=["nvp:a:1:x"]`` (PHASE:PARAM[:ORDER[:VARIABLE]]), ``constant_volume=["nvpf"]`` (PHASE[:a|b|c]),
        ``start`` (a ``refine sequential`` summary JSON: per-scan starting values), ``echem`` ... (as
        ``refine.sequential``; the columns are the trends' variables), files ``json``, ``csv``, ``plot``.

    Returns
    -------
    ParametricResult
        The joint fit, each scan's phases (cells with esds through the constraints, scales and weight fractions
        for Rietveld) and the trend / V0 coefficients; ``written`` lists the files written.
    """
    from refine.api.series import _paths, attach_echem, check_echem_options, echem_warnings
    from refine.io import read_powder_pattern
    from refine.operando.parametric import ParametricSettings, fit_parametric
    from refine.operando.sequential import presence_warnings
    from refine.operando.series import Series
    from refine.powder.setup import instrument_for, powder_options

    opts = ParametricOptions.from_options(options)
    check_echem_options(opts)
    check_files({"json": opts.json, "csv": opts.csv, "plot": opts.plot})  # before the fit, not after it
    settings = ParametricSettings(kind=kind)  # checks the kind first
    series = Series.from_paths(_paths(patterns))
    if opts.echem:
        series = attach_echem(series, opts)
    structures = as_structures(phases, need_atoms="parametric --kind rietveld" if kind == "rietveld" else None)
    patterns_read = [read_powder_pattern(scan.path, bank=opts.bank) for scan in series]
    instrument, notes = instrument_for(patterns_read[0], wavelength=opts.wavelength, instrument=opts.instrument)
    powder = powder_options(opts, instrument, patterns_read[0])
    settings = ParametricSettings(kind=kind, refine=opts.refine or tuple(WHOLE_PATTERN_REFINE.split(",")),
                                  powder=powder, trends=tuple(opts.trend), constant_volume=tuple(opts.constant_volume),
                                  presence=tuple(opts.present))
    names = sorted({k for scan in series for k in scan.echem})
    variables = {k: [scan.echem.get(k, math.nan) for scan in series] for k in names}
    start = read_start(opts.start, len(series), [str(scan.path) for scan in series]) if opts.start else None
    result = fit_parametric(patterns_read, structures, instrument, settings, variables=variables, start=start)
    notes += presence_warnings(settings.presence, len(series)) + echem_warnings(series)
    written = _write(result, series, opts, kind, [source_of(p) or str(p) for p in as_list(phases)], notes)
    for name, value in (("notes", tuple(notes)), ("written", tuple(written))):
        object.__setattr__(result, name, value)
    return result


def read_start(path: str | os.PathLike, nscans: int, files: Sequence[str] = ()) -> list[dict[str, float]]:
    """Per-scan starting values from a ``refine sequential`` summary (``scans[i].parameters``) of the same scans:
    ``nscans`` of them and, when ``files`` are given, the same file names in the same order (folders may differ)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(str(path), f"cannot read the starting values ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not a JSON result file ({exc.msg}, line {exc.lineno})") from None
    scans = doc.get("scans") if isinstance(doc, dict) else None
    if not isinstance(scans, list) or len(scans) != nscans:
        found = len(scans) if isinstance(scans, list) else 0
        raise InputError(str(path), f"a sequential summary with {nscans} scans is needed as start, found {found}")
    for i, (scan, file) in enumerate(zip(scans, files, strict=False)):  # no files given: nothing to compare
        theirs = Path(str((scan or {}).get("file") or "")).name
        if theirs and theirs != Path(file).name:
            raise InputError(str(path), f"holds other scans: scan {i} is {theirs} there, {Path(file).name} here")
    out = []
    for scan in scans:
        params = (scan or {}).get("parameters") or {}
        out.append({k: float(v["value"]) for k, v in params.items()
                    if isinstance(v, dict) and isinstance(v.get("value"), (int, float))})
    return out


def records(result, series) -> list[dict]:
    """One row per scan (the shape of ``refine sequential``'s records): index, file, electrochemistry, phases (as
    result-file entries), each phase's scale as a parameter where it has one (Rietveld), statistics, converged."""
    out = []
    for scan, fitted in zip(series, result.scans, strict=True):
        phases = [ph.to_dict() for ph in fitted["phases"].values()]
        scales = {f"{ph['prefix']}_scale": {"value": ph["scale"], "esd": (ph.get("esd") or {}).get("scale"),
                                            "vary": True} for ph in phases if ph.get("scale") is not None}
        out.append({"index": scan.index, "file": str(scan.path), **dict(scan.echem), "phases": phases,
                    "parameters": scales, "statistics": dict(fitted["statistics"]), "converged": result.converged,
                    "status": "converged" if result.converged else "not converged"})
    return out


def _write(result, series, opts: ParametricOptions, kind: str, phases: Sequence[str], notes: list[str]) -> list:
    written = []
    settings = {"command": "parametric", "kind": kind, **opts.settings(), "phases": list(phases), "notes": notes,
                "echem_sha256": sha256_of(opts.echem) if opts.echem else None}
    if opts.json:
        from refine.fit.result import write_document

        doc = result.to_dict(data=[str(s.path) for s in series], settings=settings)
        for entry, scan in zip(doc["scans"], series, strict=True):
            entry.update({"file": str(scan.path), **dict(scan.echem)})
        write_document(doc, opts.json)
        written.append(("result", str(opts.json)))
    rows = records(result, series)
    if opts.csv:
        write_table(rows, opts.csv)
        written.append(("table", str(opts.csv)))
    if opts.plot:
        from refine.plot.sequential import plot_sequential

        plot_sequential(rows, opts.plot, title=f"parametric {kind}")
        written.append(("figure", str(opts.plot)))
    return written


def write_table(rows: Sequence[dict], path: str | os.PathLike) -> Path:
    """Per-scan CSV, the table of ``refine sequential`` (:func:`refine.operando.series_result.table`): index, file,
    electrochemistry, R-factors, every phase that any scan holds with its cell, volume, ΔV/V₀ (%) and weight
    fraction (with esds), and the phase scales where refined."""
    from refine.operando.series_result import write_csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(rows, path)
