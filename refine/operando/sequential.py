"""Sequential refinement of a series: one whole-pattern fit per scan, each started from the last good one.

Scan 0 starts from the user's phases and instrument; every later scan starts from the refined parameters of the
last scan that converged (the usual choice for operando series, where the structure changes little between
scans), or from the user's start every time (``restart_each``). A scan that fails or does not converge is flagged
and does not become a starting point. Each finished scan is written atomically to ``OUT/scans/<index>_<stem>.json``
(a ``refine.result/1`` document carrying a fingerprint of the settings), so a run that stops can be started again
and skips every scan whose file exists with the same settings and the same data (sha256).

Without an output folder nothing is written and every scan is fitted; the run returns a
:class:`~refine.operando.series_result.SeriesResult` either way (each scan's FitResult, in order, and the table).

Fit kinds are entries of :data:`FIT_KINDS` (Le Bail, Pawley, Rietveld on powder patterns; ``pdf``, a real-space
fit of each G(r) file, :mod:`refine.operando.pdf_kind`), so a new method is one registration, not a change to the
loop: a kind says how a scan is read, which options object its fit takes and how its phases enter the fingerprint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lmfit
import numpy as np

from refine.crystal.structure import CrystalStructure
from refine.data import Pattern
from refine.errors import InputError
from refine.fit import FitResult
from refine.fit.result import write_curve_files, write_document
from refine.instrument import Instrument
from refine.io.atomic import sha256_of
from refine.io.patterns import read_powder_pattern
from refine.operando.checks import check_first, check_pdf, check_powder, check_rietveld
from refine.operando.series import Scan, Series
from refine.operando.series_result import (  # noqa: F401 - the summary files' home before 2026-12
    PHASE_COLUMNS,
    STAT_COLUMNS,
    ScanFailure,
    SeriesResult,
    scan_result,
    summary,
    table,
    write_csv,
    write_summary,
)
from refine.powder.lebail import fit_lebail
from refine.powder.model import PowderModel, PowderOptions
from refine.powder.pawley import fit_pawley
from refine.registry import Registry

if TYPE_CHECKING:
    from refine.pdf.fitting import PDFFitSettings


def _read(scan: Scan, bank: int | None = None) -> Pattern:
    """A powder scan in degrees 2θ (a G(r) file is refused: it belongs to kind ``pdf``)."""
    return read_powder_pattern(scan.path, bank=bank)


def _read_powder(scan: Scan, settings: SequentialSettings) -> Pattern:
    return _read(scan, settings.bank)


def _powder_options(settings: SequentialSettings) -> PowderOptions:
    return settings.powder


def _describe_powder(phases: Sequence[CrystalStructure]) -> list:
    """Everything a powder fit takes from a phase: name, space group, cell, every site (position, occupancy,
    displacement), so a changed structure is refitted even when it did not come from a file."""
    return [repr(p) for p in phases]


@dataclass(frozen=True)
class FitKind:
    """A fitting method usable in a series.

    ``fit(pattern, phases, instrument, refine=, options=, params=) -> FitResult`` runs one scan;
    ``parameters(pattern, phases, instrument, options) -> lmfit.Parameters`` gives the full starting set the fit
    accepts as ``params`` (the loop copies the previous scan's refined values into it by name);
    ``read(scan, settings) -> Pattern`` reads one scan; ``options(settings)`` is the options object handed to both
    (powder: :class:`PowderOptions` with an :class:`Instrument`; pdf: ``PDFFitSettings`` with ``PhaseInput``
    phases and no instrument); ``describe(phases)`` is the phases' part of the fingerprint. ``presence``: whether
    phases may come and go (:class:`Presence`). ``check(pattern, phases, instrument, settings)`` builds what a fit
    builds from the settings and raises :class:`InputError` for settings no scan can fit with (an unknown refined
    or constrained parameter, an empty range), so that a run stops before its first fit instead of failing every
    scan.
    """

    fit: Callable[..., FitResult]
    parameters: Callable[[Pattern, list, Any, Any], lmfit.Parameters]
    read: Callable[[Scan, SequentialSettings], Pattern] = _read_powder
    options: Callable[[SequentialSettings], Any] = _powder_options
    describe: Callable[[Sequence[Any]], list] = _describe_powder
    presence: bool = True
    check: Callable[[Pattern, list, Any, SequentialSettings], None] | None = None


#: Whole-pattern methods for sequential fits, by ``--kind`` name.
FIT_KINDS: Registry[FitKind] = Registry("sequential fit kind")


def _powder_parameters(pattern, phases, instrument, options) -> lmfit.Parameters:
    return PowderModel(pattern, phases, instrument, options=options).parameters()


def _fit_lebail(pattern, phases, instrument, *, refine, options, params):
    return fit_lebail(pattern, phases, instrument, refine=refine, options=options, params=params)


def _fit_pawley(pattern, phases, instrument, *, refine, options, params):
    return fit_pawley(pattern, phases, instrument, refine=refine, options=options, params=params)


def _fit_rietveld(pattern, phases, instrument, *, refine, options, params):
    from refine.powder.rietveld import fit_rietveld  # imported by the first Rietveld scan only (~0.1 s)

    return fit_rietveld(pattern, phases, instrument, refine=refine, options=options, params=params)


def _rietveld_parameters(pattern, phases, instrument, options) -> lmfit.Parameters:
    from refine.powder.rietveld import RietveldEngine

    return RietveldEngine(PowderModel(pattern, phases, instrument, options=options)).parameters()


FIT_KINDS.register("lebail", FitKind(fit=_fit_lebail, parameters=_powder_parameters, check=check_powder))
FIT_KINDS.register("pawley", FitKind(fit=_fit_pawley, parameters=_powder_parameters, check=check_powder))
FIT_KINDS.register("rietveld", FitKind(fit=_fit_rietveld, parameters=_rietveld_parameters, check=check_rietveld))


def _fit_pdf(pattern, phases, instrument, *, refine, options, params):
    from refine.operando.pdf_kind import fit_gr

    return fit_gr(pattern, phases, instrument, refine=refine, options=options, params=params)


def _pdf_parameters(pattern, phases, instrument, options) -> lmfit.Parameters:
    from refine.operando.pdf_kind import gr_parameters

    return gr_parameters(pattern, phases, instrument, options)


def _read_gr(scan: Scan, settings: SequentialSettings) -> Pattern:
    from refine.operando.pdf_kind import read_gr

    return read_gr(scan.path)


def _pdf_options(settings: SequentialSettings) -> PDFFitSettings:
    if settings.pdf is None:
        raise InputError("qmax", "kind pdf needs PDF settings (SequentialSettings.pdf; on the command line --qmax)")
    return settings.pdf


def _describe_pdf(phases: Sequence[Any]) -> list:
    from refine.operando.pdf_kind import describe_inputs

    return describe_inputs(phases)


FIT_KINDS.register("pdf", FitKind(fit=_fit_pdf, parameters=_pdf_parameters, read=_read_gr, options=_pdf_options,
                                  describe=_describe_pdf, presence=False, check=check_pdf))


@dataclass(frozen=True)
class Presence:
    """Phase ``name`` is fitted only in scans ``first`` .. ``last`` (inclusive; None = open end)."""

    name: str
    first: int = 0
    last: int | None = None

    def includes(self, index: int) -> bool:
        return index >= self.first and (self.last is None or index <= self.last)


@dataclass(frozen=True)
class SequentialSettings:
    """What every scan's fit does.

    Attributes
    ----------
    kind
        Name in :data:`FIT_KINDS` (``lebail``, ``pawley``, ``rietveld``, ``pdf``).
    refine
        Groups or parameter names refined in every scan (powder kinds; a PDF fit refines what ``pdf`` says).
    powder
        Fit range, exclusions, background.
    pdf
        Settings of every scan's G(r) fit (kind ``pdf`` only): Qmax, radiation, Qdamp/Qbroad, r range, what is
        refined.
    restart_each
        Start every scan from the user's values instead of the previous scan's result.
    presence
        Scan ranges of phases that are not present throughout (a phase that appears or vanishes); phases not
        listed are fitted in every scan.
    bank
        Bank (or Bruker range) to read from multi-bank pattern files; None for the first.
    """

    kind: str = "lebail"
    refine: tuple[str, ...] = ("cell", "zero", "W", "X", "Y")
    powder: PowderOptions = field(default_factory=PowderOptions)
    restart_each: bool = False
    presence: tuple[Presence, ...] = ()
    bank: int | None = None
    pdf: PDFFitSettings | None = None


#: The result of a sequential run (the name before typed results).
SequentialResult = SeriesResult


def scan_result_path(out_dir: str | os.PathLike, scan: Scan) -> Path:
    """``OUT/scans/<index>_<stem>.json`` (index zero-padded to 4 digits so the folder lists in order)."""
    return Path(out_dir) / "scans" / f"{scan.index:04d}_{scan.stem}.json"


def phases_for(index: int, phases: Sequence[CrystalStructure], presence: Sequence[Presence]) -> list:
    """The phases fitted in scan ``index``."""
    rules = {p.name: p for p in presence}
    unknown = set(rules) - {ph.name for ph in phases}
    if unknown:
        raise InputError("present", f"no phase named {sorted(unknown)[0]!r}; phases: {[p.name for p in phases]}")
    out = [ph for ph in phases if ph.name not in rules or rules[ph.name].includes(index)]
    return out


def fingerprint(settings: SequentialSettings, phases: Sequence[Any], instrument: Instrument | None,
                kind: FitKind | None = None, inputs: Sequence[str | os.PathLike] = ()) -> str:
    """sha256 of everything that decides a scan's fit besides its data: every setting, the phases as the kind
    describes them (their whole content; for ``pdf`` their files' sha256), the instrument, and the sha256 of the
    ``inputs`` files (structure and instrument files), so that editing any of them refits every scan."""
    kind = kind or FIT_KINDS.get(settings.kind)
    desc = {
        "settings": repr(settings),
        "phases": kind.describe(phases),
        "instrument": None if instrument is None else repr(instrument.replace(source=None, metadata={})),
        "inputs": [sha256_of(path) for path in inputs],
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()


def _load_finished(path: Path, scan: Scan, fp: str) -> dict | None:
    """The stored result of a scan when it was made with the same settings from the same data."""
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    prov = doc.get("provenance", {})
    inputs = prov.get("inputs") or [{}]
    if prov.get("settings", {}).get("fingerprint") != fp or inputs[0].get("sha256") != sha256_of(scan.path):
        return None
    return doc


def _start(kind: FitKind, pattern: Pattern, phases: list, instrument: Instrument | None,
           settings: SequentialSettings, carry: Mapping[str, float]) -> lmfit.Parameters:
    """The fit's full starting set with the values of ``carry`` copied in by name (expressions left alone)."""
    params = kind.parameters(pattern, phases, instrument, kind.options(settings))
    for name, par in params.items():
        value = carry.get(name)
        if value is not None and np.isfinite(value) and not par.expr:
            par.set(value=float(np.clip(value, par.min, par.max)))
    return params


def _record(doc: Mapping[str, Any], scan: Scan, path: Path | None, status: str) -> dict:
    """A scan's record: where it is (index, file, electrochemistry), its status and result file, then its result
    document (without reflection lists: copied into the summary they would make a long series hundreds of MB)."""
    rec = {"index": scan.index, "file": str(scan.path), **dict(scan.echem), "status": status,
           "result_file": None if path is None else str(path)}
    rec.update({k: v for k, v in doc.items() if k not in rec})
    if rec.get("phases"):
        rec["phases"] = [{k: v for k, v in ph.items() if k not in ("reflections", "reflection_lists")}
                         for ph in rec["phases"]]
    return rec


#: What a scan's FitResult keeps of the engine's ``extra`` (the rest are engine objects, not worth keeping
#: per scan of a long series nor sending between processes).
_KEPT_EXTRA = ("structures", "structure", "fit_range", "reflections")


@dataclass(frozen=True)
class _Job:
    """One scan's fit, as handed to a worker process (everything picklable; the kind by registry name)."""

    scan: Scan
    kind: str
    phases: tuple
    instrument: Any
    settings: SequentialSettings
    carry: Mapping[str, float] | None
    run_settings: Mapping[str, Any]
    path: Path | None
    pattern: Pattern | None = None  # the scan already read (the first one, by the settings check)


def _fit_scan(job: _Job, kind: FitKind | None = None) -> tuple[dict | None, FitResult | None, str | None]:
    """Fit one scan and write its result file when the run has an output folder; (result document, the fit with
    only the picklable part of its ``extra``, None) or (None, None, error text)."""
    kind = kind or FIT_KINDS.get(job.kind)
    settings, scan = job.settings, job.scan
    active = phases_for(scan.index, job.phases, settings.presence) if settings.presence else list(job.phases)
    try:
        pattern = job.pattern if job.pattern is not None else kind.read(scan, settings)
        params = None if settings.restart_each or job.carry is None else _start(
            kind, pattern, active, job.instrument, settings, job.carry)
        result = kind.fit(pattern, active, job.instrument, refine=settings.refine, options=kind.options(settings),
                          params=params)
    except Exception as exc:  # noqa: BLE001 - one bad scan must not stop a thousand-scan run
        return None, None, f"{type(exc).__name__}: {exc}"
    curve_files = [] if job.path is None else write_curve_files(result, job.path)
    doc = result.to_dict(data=str(scan.path), settings={**job.run_settings, "index": scan.index,
                                                        "echem": dict(scan.echem)}, curve_files=curve_files)
    if job.path is not None:
        write_document(doc, job.path)
        doc = json.loads(job.path.read_text(encoding="utf-8"))
    light = dataclasses.replace(result, extra={k: v for k, v in result.extra.items() if k in _KEPT_EXTRA})
    return doc, light, None


def _carry_of(doc: Mapping[str, Any]) -> dict[str, float]:
    return {n: p["value"] for n, p in doc.get("parameters", {}).items() if p.get("value") is not None}


def run_sequential(series: Series, phases: Sequence[Any], instrument: Instrument | None,
                   settings: SequentialSettings, output: str | os.PathLike | None = None, *,
                   kind: FitKind | None = None, workers: int = 1,
                   inputs: Sequence[str | os.PathLike] = ()) -> SeriesResult:
    """Fit every scan of ``series`` in order; with an ``output`` folder, write ``OUTPUT/scans/*.json`` as each one
    finishes (and resume: scans whose result file exists with the same fingerprint and data are not fitted again;
    their refined values still carry over). Without one nothing is written.

    ``phases`` and ``instrument`` are what the kind's fit takes: CrystalStructures and an Instrument for the
    powder kinds, ``refine.pdf.fitting.PhaseInput`` s and None for ``pdf``. ``kind`` overrides the registry entry
    of ``settings.kind`` (for instrumented runs; one process).

    ``workers`` > 1 fits scans in that many processes at once: the scans up to the first that converges run one
    by one as usual; every later scan then starts from *that* scan's refined values (or from the user's start with
    ``restart_each``) instead of its predecessor's, so they do not wait for each other. Results, files and order
    are otherwise those of a serial run.

    ``inputs`` are the files the phases and instrument were read from; their sha256 enter the fingerprint. The
    output folder is locked for the run (:func:`refine.io.lock.folder_lock`): a second run into it is bad input.

    Returns
    -------
    SeriesResult
        Each scan's FitResult (or :class:`ScanFailure`) in order, with the per-scan table (``table()``).
    """
    if output is None:
        return _run_series(series, phases, instrument, settings, None, kind=kind, workers=workers, inputs=inputs)
    from refine.io.lock import folder_lock

    with folder_lock(output, command="sequential"):
        return _run_series(series, phases, instrument, settings, output, kind=kind, workers=workers, inputs=inputs)


def _run_series(series: Series, phases: Sequence[Any], instrument: Instrument | None, settings: SequentialSettings,
                out_dir: str | os.PathLike | None, *, kind: FitKind | None, workers: int,
                inputs: Sequence[str | os.PathLike]) -> SeriesResult:
    custom = kind is not None
    kind = kind or FIT_KINDS.get(settings.kind)
    if settings.presence and not kind.presence:
        raise InputError("present", f"kind {settings.kind} fits every phase in every scan")
    if workers < 1:
        raise InputError("workers", f"must be at least 1, got {workers}")
    kind.options(settings)  # settings the kind cannot use are bad input for the whole run, not a failed scan
    first = None  # the first scan as the check read it: its fit does not read the file again
    if kind.check is not None and len(series):
        first = check_first(kind, series.scans[0], phases, instrument, settings)
    fp = fingerprint(settings, phases, instrument, kind, inputs)
    run_settings = {"fingerprint": fp, "kind": settings.kind, "refine": list(settings.refine),
                    "restart_each": settings.restart_each, "powder": repr(settings.powder),
                    "presence": [repr(p) for p in settings.presence]}
    if settings.pdf is not None:
        run_settings["pdf"] = repr(settings.pdf)
    scans: dict[int, FitResult | ScanFailure] = {}
    carry: dict[str, float] | None = None
    fitted = skipped = 0
    pending: list[_Job] = []
    bar = _progress(len(series))

    def finish(scan: Scan, path: Path | None, doc: dict | None, fit: FitResult | None, error: str | None) -> None:
        if doc is None:
            scans[scan.index] = ScanFailure(index=scan.index, file=str(scan.path), error=str(error),
                                            echem=dict(scan.echem))
        else:
            ok = bool(doc.get("converged"))
            record = _record(doc, scan, path, "converged" if ok else "not converged")
            scans[scan.index] = scan_result(record, fit if fit is not None else FitResult.from_dict(doc))
        bar.update(1)

    try:
        for scan in series:
            path = None if out_dir is None else scan_result_path(out_dir, scan)
            doc = None if path is None else _load_finished(path, scan, fp)
            if doc is not None:
                skipped += 1
                finish(scan, path, doc, None, None)
                if doc.get("converged") and not pending:
                    carry = _carry_of(doc)
                continue
            job = _Job(scan, settings.kind, tuple(phases), instrument, settings, carry, run_settings, path,
                       first if scan is series.scans[0] else None)
            first = None
            seeded = settings.restart_each or carry is not None
            if workers > 1 and not custom and seeded:
                pending.append(job)  # fitted below, all at once, from the same start
                continue
            doc, fit, error = _fit_scan(job, kind)
            fitted += doc is not None
            finish(scan, path, doc, fit, error)
            if doc is not None and doc.get("converged"):
                carry = _carry_of(doc)
        if pending:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                for job, (doc, fit, error) in zip(pending, pool.map(_fit_scan, pending), strict=True):
                    fitted += doc is not None
                    finish(job.scan, job.path, doc, fit, error)
    finally:
        bar.close()
    ordered = tuple(scans[scan.index] for scan in series)
    return SeriesResult(scans=ordered, output=None if out_dir is None else Path(out_dir), fitted=fitted,
                        skipped=skipped)


class _NoBar:
    def update(self, n: int) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


def _progress(total: int):
    if not sys.stderr.isatty():
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency, but a bar is not essential
        return _NoBar()
    return tqdm(total=total, unit="scan", desc="sequential", file=sys.stderr)
