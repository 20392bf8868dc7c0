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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lmfit
import numpy as np

from refine.crystal.structure import CrystalStructure
from refine.data import Pattern
from refine.errors import InputError
from refine.executor import SERIES_PRELOAD, ExecutorSpec, open_executor
from refine.fit import FitResult
from refine.fit.result import write_curve_files
from refine.gc_scope import frozen
from refine.instrument import Instrument
from refine.io.atomic import sha256_of
from refine.io.patterns import read_powder_pattern
from refine.operando.checks import check_first, check_pdf, check_powder, check_rietveld
from refine.operando.schedule import DEFAULT_CHUNK, FixedSource, Follow, Guard, Seed
from refine.operando.series import Scan, Series
from refine.operando.series_result import (  # noqa: F401 - the summary files' home before 2026-12
    PHASE_COLUMNS,
    STAT_COLUMNS,
    ScanFailure,
    SeriesResult,
    StoredScans,
    frame_key,
    scan_result,
    store,
    summary,
    table,
    write_csv,
    write_summary,
)
from refine.powder.lebail import LeBailOptions, fit_lebail
from refine.powder.model import PowderModel, PowderOptions, phase_prefix
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

    ``fit(pattern, phases, instrument, refine=, options=, params=, neighbour=) -> FitResult`` runs one scan
    (``neighbour``: ``params`` are the converged result of the scan before, every parameter of it, so a staged
    method may refine everything at once);
    ``parameters(pattern, phases, instrument, options) -> lmfit.Parameters`` gives the full starting set the fit
    accepts as ``params`` (the loop copies the previous scan's refined values into it by name);
    ``read(scan, settings) -> Pattern`` reads one scan; ``options(settings)`` is the options object handed to both
    (powder: :class:`PowderOptions` with an :class:`Instrument`; pdf: ``PDFFitSettings`` with ``PhaseInput``
    phases and no instrument); ``describe(phases)`` is the phases' part of the fingerprint. ``presence``: whether
    phases may come and go (:class:`Presence`). ``check(pattern, phases, instrument, settings)`` builds what a fit
    builds from the settings and raises :class:`InputError` for settings no scan can fit with (an unknown refined
    or constrained parameter, an empty range), so that a run stops before its first fit instead of failing every
    scan. ``always``: groups every fit of the kind refines whatever ``refine`` says (added to the settings, so
    the results and the fingerprint show them).
    """

    fit: Callable[..., FitResult]
    parameters: Callable[[Pattern, list, Any, Any], lmfit.Parameters]
    read: Callable[[Scan, SequentialSettings], Pattern] = _read_powder
    options: Callable[[SequentialSettings], Any] = _powder_options
    describe: Callable[[Sequence[Any]], list] = _describe_powder
    presence: bool = True
    check: Callable[[Pattern, list, Any, SequentialSettings], None] | None = None
    always: tuple[str, ...] = ()


#: Whole-pattern methods for sequential fits, by ``--kind`` name.
FIT_KINDS: Registry[FitKind] = Registry("sequential fit kind")


def _powder_parameters(pattern, phases, instrument, options) -> lmfit.Parameters:
    return PowderModel(pattern, phases, instrument, options=options).parameters()


def _fit_lebail(pattern, phases, instrument, *, refine, options, params, neighbour=False):
    return fit_lebail(pattern, phases, instrument, refine=refine, options=options, params=params,
                      lebail=LeBailOptions(neighbour=neighbour))


def _fit_pawley(pattern, phases, instrument, *, refine, options, params, neighbour=False):
    return fit_pawley(pattern, phases, instrument, refine=refine, options=options, params=params,
                      lebail=LeBailOptions(neighbour=neighbour))


def _fit_rietveld(pattern, phases, instrument, *, refine, options, params, neighbour=False):
    from refine.powder.rietveld import RietveldOptions, fit_rietveld  # by the first Rietveld scan only (~0.1 s)

    # from the scan before's result, everything at once, as in GSAS-II's sequential refinement with results copied
    # to the next histogram (synthetic NASICON series, 4 scans: the same cells, 0.7 s against 1.0 staged); from
    # another scan, or with a phase the scan before did not have (its scale starts at 1, ~10⁵ times too strong),
    # staged: the scales first
    return fit_rietveld(pattern, phases, instrument, refine=refine, options=options, params=params,
                        rietveld=RietveldOptions(staged=not neighbour))


def _rietveld_parameters(pattern, phases, instrument, options) -> lmfit.Parameters:
    from refine.powder.rietveld import RietveldEngine

    return RietveldEngine(PowderModel(pattern, phases, instrument, options=options)).parameters()


FIT_KINDS.register("lebail", FitKind(fit=_fit_lebail, parameters=_powder_parameters, check=check_powder))
FIT_KINDS.register("pawley", FitKind(fit=_fit_pawley, parameters=_powder_parameters, check=check_powder))
# The phase scales are linear unknowns, refined in every Rietveld fit as the background is: the series' default
# refine list is the whole-pattern one (cell, zero, W, X, Y), and held at their first values they gave Rwp 0.22 for
# 0.046 and frozen weight fractions on a synthetic two-phase NASICON series.
FIT_KINDS.register("rietveld", FitKind(fit=_fit_rietveld, parameters=_rietveld_parameters, check=check_rietveld,
                                       always=("scale",)))


def _fit_pdf(pattern, phases, instrument, *, refine, options, params, neighbour=False):
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

    def __post_init__(self) -> None:
        if self.first < 0 or (self.last is not None and self.last < self.first):
            last = "" if self.last is None else f":{self.last}"
            raise InputError("present", f"{self.name}:{self.first}{last}: scans FIRST..LAST need 0 <= FIRST <= LAST")

    def includes(self, index: int) -> bool:
        return index >= self.first and (self.last is None or index <= self.last)


def check_presence(presence: Sequence[Presence], phases: Sequence[Any], nscans: int | None = None) -> None:
    """Every rule names a phase of the run (else every scan would fail on it), and each of the ``nscans`` scans
    keeps a phase to fit (else it would fail)."""
    if not presence:
        return
    names = [ph.name for ph in phases]
    known = {phase_prefix(n) for n in names}
    for rule in presence:
        if phase_prefix(rule.name) not in known:
            raise InputError("present", f"no phase named {rule.name!r}; phases: {', '.join(names)}")
    empty = next((i for i in range(nscans or 0) if not phases_for(i, phases, presence)), None)
    if empty is not None:
        raise InputError("present", f"scan {empty} would have no phase to fit")


def presence_warnings(presence: Sequence[Presence], nscans: int) -> list[str]:
    """Rules whose first scan is beyond the ``nscans`` scans of this run: their phase is fitted in no scan (right
    for the first scans of a longer series, a typo otherwise), said, not silent."""
    return [f"warning: --present {rule.name}:{rule.first}{'' if rule.last is None else f':{rule.last}'} starts "
            f"after the last scan ({nscans - 1}): phase {rule.name} is fitted in no scan"
            for rule in presence if rule.first >= nscans]


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
    chunk
        Scans per chunk of the plan (:mod:`refine.operando.schedule`): the first scan of each chunk starts from the
        previous chunk's first; the others from their predecessor. 0: one chain, each scan from its predecessor.
    guard
        Limits on Rwp and cell volume relative to the result a fit started from (:class:`Guard`).
    """

    kind: str = "lebail"
    refine: tuple[str, ...] = ("cell", "zero", "W", "X", "Y")
    powder: PowderOptions = field(default_factory=PowderOptions)
    restart_each: bool = False
    presence: tuple[Presence, ...] = ()
    bank: int | None = None
    pdf: PDFFitSettings | None = None
    chunk: int = DEFAULT_CHUNK
    guard: Guard = field(default_factory=Guard)


#: The result of a sequential run (the name before typed results).
SequentialResult = SeriesResult


def scan_result_path(out_dir: str | os.PathLike, scan: Scan) -> Path:
    """``OUT/scans/<index>_<stem>.json`` (index zero-padded to 4 digits so the folder lists in order)."""
    return Path(out_dir) / "scans" / f"{scan.index:04d}_{scan.stem}.json"


def phases_for(index: int, phases: Sequence[CrystalStructure], presence: Sequence[Presence]) -> list:
    """The phases fitted in scan ``index``."""
    rules = {phase_prefix(p.name): p for p in presence}  # a phase by its name or its parameter prefix (CSV columns)
    return [ph for ph in phases
            if phase_prefix(ph.name) not in rules or rules[phase_prefix(ph.name)].includes(index)]


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
    """A scan's record: where it is (index, frame number if any, file, electrochemistry), its status and result file,
    then its result document (without reflection lists: copied into the summary they would make a long series
    hundreds of MB)."""
    rec = {"index": scan.index, **frame_key(scan.number), "file": str(scan.path), **dict(scan.echem),
           "status": status, "result_file": None if path is None else str(path)}
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
    seed: Seed | None  # the result the fit starts from (None: the user's values)
    run_settings: Mapping[str, Any]
    path: Path | None
    pattern: Pattern | None = None  # the scan already read (the first one, by the settings check)


def _fit_scan(job: _Job, kind: FitKind | None = None) -> tuple[dict | None, bytes | None, str | None]:
    """Fit one scan (in a worker): (result document, the fit with only the picklable part of its ``extra``, None)
    or (None, None, error text). The fit comes pickled (:func:`~refine.operando.series_result.store`): the run
    keeps the pickle as it is unless the guard edits the fit (rebuilding lmfit Parameters costs ~2 ms a scan).
    With an output folder the worker writes the curve sidecar files (atomically; rewritten by a refit) and drops
    the curves from the fit it returns; the result document itself is written by the run once the fit passed the
    guard (a scan is finished when its document exists)."""
    kind = kind or FIT_KINDS.get(job.kind)
    settings, scan = job.settings, job.scan
    active = phases_for(scan.index, job.phases, settings.presence) if settings.presence else list(job.phases)
    try:
        pattern = job.pattern if job.pattern is not None else kind.read(scan, settings)
        seed = None if settings.restart_each else job.seed
        params = None if seed is None else _start(kind, pattern, active, job.instrument, settings, seed.values)
        neighbour = params is not None and seed.index == scan.index - 1 and set(params) <= set(seed.values)
        result = kind.fit(pattern, active, job.instrument, refine=settings.refine, options=kind.options(settings),
                          params=params, neighbour=neighbour)
    except Exception as exc:  # noqa: BLE001 - one bad scan must not stop a thousand-scan run
        return None, None, f"{type(exc).__name__}: {exc}"
    curve_files = [] if job.path is None else write_curve_files(result, job.path)
    doc = result.to_dict(data=str(scan.path), settings={**job.run_settings, "index": scan.index,
                                                        "echem": dict(scan.echem)}, curve_files=curve_files)
    light = dataclasses.replace(result, extra={k: v for k, v in result.extra.items() if k in _KEPT_EXTRA},
                                curves=result.curves if job.path is None else {})
    return doc, store(light), None


def _carry_of(doc: Mapping[str, Any]) -> dict[str, float]:
    return {n: p["value"] for n, p in doc.get("parameters", {}).items() if p.get("value") is not None}


def run_sequential(series: Series, phases: Sequence[Any], instrument: Instrument | None,
                   settings: SequentialSettings, output: str | os.PathLike | None = None, *,
                   kind: FitKind | None = None, workers: int = 1,
                   inputs: Sequence[str | os.PathLike] = (), executor: ExecutorSpec | None = None,
                   follow: Follow | None = None) -> SeriesResult:
    """Fit every scan of ``series``; with an ``output`` folder, write ``OUTPUT/scans/*.json`` as each one finishes
    (and resume: scans whose result file exists with the same fingerprint and data are not fitted again; their
    refined values still carry over). Without one nothing is written.

    Which scan starts from which is :mod:`refine.operando.schedule`'s plan (chains in chunks of
    ``settings.chunk`` scans, anchors from anchors), the same for any number of workers, and every fit that started
    from another scan's result passes ``settings.guard`` or is refitted from its predecessor and flagged.

    ``phases`` and ``instrument`` are what the kind's fit takes: CrystalStructures and an Instrument for the
    powder kinds, ``refine.pdf.fitting.PhaseInput`` s and None for ``pdf``. ``kind`` overrides the registry entry
    of ``settings.kind`` (for instrumented runs; then always in this process).

    ``executor`` says where the fits run (:class:`refine.executor.ExecutorSpec`: this process, a local Dask
    cluster of N processes, a Dask scheduler); ``workers`` N is short for ``ExecutorSpec(workers=N)``. Only this
    process writes files, each scan's result atomically, so a killed worker or run loses nothing but the fits in
    progress. ``follow`` keeps taking new scans from its source after ``series`` until it was idle long enough.

    ``inputs`` are the files the phases and instrument were read from; their sha256 enter the fingerprint. The
    output folder is locked for the run (:func:`refine.io.lock.folder_lock`): a second run into it is bad input.

    Returns
    -------
    SeriesResult
        Each scan's FitResult (or :class:`ScanFailure`) in order, with the per-scan table (``table()``). With an
        output folder the FitResults do not keep their curves (they are in the sidecar files), so memory stays
        flat in the number of scans.
    """
    spec = executor or ExecutorSpec(workers=workers)
    if output is None:
        return _run_series(series, phases, instrument, settings, None, kind=kind, spec=spec, inputs=inputs,
                           follow=follow)
    from refine.io.lock import folder_lock

    with folder_lock(output, command="sequential"):
        return _run_series(series, phases, instrument, settings, output, kind=kind, spec=spec, inputs=inputs,
                           follow=follow)


def _run_series(series: Series, phases: Sequence[Any], instrument: Instrument | None, settings: SequentialSettings,
                out_dir: str | os.PathLike | None, *, kind: FitKind | None, spec: ExecutorSpec,
                inputs: Sequence[str | os.PathLike], follow: Follow | None) -> SeriesResult:
    custom = kind is not None
    kind = kind or FIT_KINDS.get(settings.kind)
    missing = tuple(g for g in kind.always if g not in settings.refine)
    if missing:
        settings = dataclasses.replace(settings, refine=(*missing, *settings.refine))
    if settings.presence and not kind.presence:
        raise InputError("present", f"kind {settings.kind} fits every phase in every scan")
    check_presence(settings.presence, phases, None if follow else len(series))
    if settings.chunk < 0:
        raise InputError("chunk", f"must be 0 (one chain) or a positive number of scans, got {settings.chunk}")
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
    from refine.operando.scan_loop import Context, Loop

    context = Context(kind=kind, phases=tuple(phases), instrument=instrument, settings=settings,
                       run_settings=run_settings, fingerprint=fp, out_dir=None if out_dir is None else Path(out_dir),
                       first=first)
    if custom:
        spec = ExecutorSpec()  # an instrumented kind is not in the workers' registry
    elif spec.workers > 1 and not spec.preload:
        spec = dataclasses.replace(spec, preload=SERIES_PRELOAD)

    with open_executor(spec) as pool, frozen():  # collections in this process see the run's objects only
        loop = Loop(context, pool, follow, total=None if follow else len(series))
        loop.run(FixedSource(series.scans))
    ordered = StoredScans.from_stored(loop.results.pop(i) for i in range(len(loop.scans)))
    result = SeriesResult(scans=ordered, output=context.out_dir, fitted=loop.fitted, skipped=loop.skipped)
    warned = [] if follow else presence_warnings(settings.presence, len(series))
    object.__setattr__(result, "notes", (*pool.notes, *warned))
    return result
