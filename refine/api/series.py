"""``refine.sequential``: one fit per scan of an operando or temperature series, each from the last good one."""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from refine.api._inputs import as_list, as_structures, check_files, source_of
from refine.api.options import SEQUENTIAL_PDF_ONLY, SEQUENTIAL_POWDER_ONLY, SequentialOptions
from refine.errors import InputError

_DEFAULT_REFINE = ("cell", "zero", "W", "X", "Y")


def sequential(patterns: Any, phases: Any, *, kind: str = "lebail", output: str | os.PathLike | None = None,
               **options: Any):
    """Fit every scan of a series in order (Le Bail, Pawley, Rietveld, or G(r) fits with ``kind="pdf"``).

    Parameters
    ----------
    patterns
        A glob (``"series/*.xye"``) or a list of files, naturally sorted (G(r) files for ``kind="pdf"``).
    phases
        Structure files or CrystalStructures (``refine.phase(...)``); for ``kind="pdf"`` paths or ``"path,fixed"``.
    kind
        ``lebail`` (default), ``pawley``, ``rietveld`` or ``pdf``.
    output
        Folder for the per-scan result files (a rerun resumes), the summary ``sequential.json`` and the table
        ``sequential.csv``; without it nothing is written.
    **options
        :class:`refine.api.options.SequentialOptions`: ``wavelength`` or ``instrument``, ``range``, ``exclude``,
        ``background``, ``refine``, ``present``, ``restart_each``, ``echem`` ...; where the fits run:
        ``workers`` (N local Dask worker processes) or ``scheduler`` (``tcp://HOST:PORT`` of a Dask scheduler);
        the plan: ``chunk`` (scans per chunk, 0 one chain) and ``guard`` (``"2:0.02"``: Rwp factor and volume
        fraction over the result a fit started from, or ``"off"``); live mode: ``follow`` (keep taking new files
        matching ``patterns`` until ``idle`` seconds passed without one); the G(r) options of
        :func:`refine.pdf_fit` with ``qmax`` for ``kind="pdf"``; files ``json``, ``csv``, ``plot``.

    Returns
    -------
    SeriesResult
        :func:`refine.operando.sequential.run_sequential`'s result (each scan's FitResult in order, ``table()``),
        with the run's ``notes`` and ``written`` files as attributes.
    """
    opts = SequentialOptions.from_options(options)
    with early_workers(opts) as started:
        return sequential_with(patterns, phases, kind, output, opts, started)


@contextlib.contextmanager
def early_workers(opts: SequentialOptions) -> Iterator[Any]:
    """The local workers of ``opts.workers`` > 1, started now (:func:`refine.executor.prepare_local_workers`):
    their imports overlap this process's, and on Linux they are forked while this process has no other thread
    (integration's reader and writer threads come later); for :func:`sequential_with`. Closed when the block
    ends (a no-op when the run's cluster took them over and closed them)."""
    started = None
    if opts.workers > 1 and opts.scheduler is None:
        from refine.executor import SERIES_PRELOAD, prepare_local_workers

        started = prepare_local_workers(opts.workers, SERIES_PRELOAD)
    try:
        yield started
    finally:
        if started is not None:
            started.close()


def sequential_with(patterns: Any, phases: Any, kind: str, output: str | os.PathLike | None,
                    opts: SequentialOptions, started: Any,
                    notes: Sequence[str] | Callable[[], Sequence[str]] = (),
                    provenance: Mapping[str, Any] | None = None):
    """:func:`sequential` with its options parsed and the workers :func:`early_workers` started (or None);
    ``patterns`` may be a :class:`refine.operando.series.Series`; ``notes`` are the caller's (operando's failed
    frames), reported with the run's, or a callable asked for them once the fits have ended, before the summary is
    written (live operando: which frames failed is known only then); ``provenance``: the caller's settings, recorded
    in the summary over the run's own (operando's command and frame times)."""
    from refine.operando.sequential import FIT_KINDS

    if kind not in FIT_KINDS:
        raise InputError("kind", f"unknown fit kind {kind!r}; known: {', '.join(FIT_KINDS.names())}")
    check_files({"json": opts.json, "csv": opts.csv, "plot": opts.plot}, {"output": output})
    series = _series(patterns, opts)
    prepare = _pdf_inputs if kind == "pdf" else _powder_inputs
    fit_phases, instrument, settings, prepared = prepare(series, phases, kind, opts)
    late = notes if callable(notes) else None
    notes = [*(() if late else notes), *prepared, *echem_warnings(series)]
    if output is None:  # run_sequential writes nothing without an output folder
        result = _run(series, fit_phases, instrument, settings, None, opts, phases, kind, patterns, started)
        return _annotate(result, [*notes, *(late() if late else ())], [])
    from refine.gc_scope import frozen
    from refine.io.lock import folder_lock

    out = Path(output)
    # The collector skips the libraries' objects over the summary too (a full collection of them: ~0.1 s).
    with folder_lock(out, command="sequential"), frozen():  # the lock held over the summary, table and figure
        result = _run(series, fit_phases, instrument, settings, out, opts, phases, kind, patterns, started)
        notes += late() if late else ()
        written = _write(result, out, opts, kind, settings, phases, [*notes, *getattr(result, "notes", ())],
                         provenance)
    return _annotate(result, notes, written)


def _annotate(result: Any, notes: list[str], written: list[tuple[str, str]]) -> Any:
    notes = [*notes, *getattr(result, "notes", ())]  # the run's own (where the fits ran)
    for name, value in (("notes", tuple(notes)), ("written", tuple(written))):
        try:
            object.__setattr__(result, name, value)
        except (AttributeError, TypeError):  # a result type without room for them
            pass
    return result


def _paths(patterns: Any) -> list[str]:
    out: list[str] = []
    for item in as_list(patterns):
        text = os.fspath(item)
        if glob.has_magic(text):
            matched = glob.glob(text)
            if not matched:
                raise InputError(text, "no file matches this pattern")
            out.extend(matched)
        else:
            out.append(text)
    return out


#: Options that mean something only with a cycler file (``echem``).
ECHEM_ONLY = ("echem_format", "active_mass", "formula", "x0", "scan_times")


def check_echem_options(opts: Any, *, keep: tuple[str, ...] = ()) -> None:
    """Without ``echem``, an option of :data:`ECHEM_ONLY` (or matching by time) would be ignored: bad input naming
    it (``keep``: those the command uses without a cycler file, e.g. operando's frame times)."""
    if opts.echem:
        return
    given = ["echem_match"] if opts.echem_match != "index" else []
    given += [name for name in ECHEM_ONLY if name not in keep and getattr(opts, name) is not None]
    if given:
        raise InputError(given[0], "applies to a cycler file, and none is given (echem); without one it would be "
                                   "ignored")


def _series(patterns: Any, opts: SequentialOptions):
    from refine.operando.series import Series

    check_echem_options(opts)
    if isinstance(patterns, Series):  # built by the caller (operando: its frames' numbers)
        return attach_echem(patterns, opts) if opts.echem else patterns
    if opts.follow:
        if opts.echem:
            raise InputError("echem", "cannot be attached in follow mode (the scans are not known in advance); "
                                      "attach it with a run over the finished series")
        return _first_arrival(patterns, opts.idle)
    series = Series.from_paths(_paths(patterns))
    if opts.echem:
        series = attach_echem(series, opts)
    return series


def echem_table(opts: Any, *, stamped: bool = False):
    """The cycler table of ``opts.echem`` with the ion content x when ``active_mass``, ``formula`` and ``x0`` are
    given (all three or none); checks what matching needs (``echem_match``; matching by time needs ``scan_times``
    unless the scans are ``stamped`` with their own). Read before any work, so bad cycler input stops a run first."""
    from refine.io.echem import read_cycler
    from refine.operando.echem import IonContent, with_ion_content

    table = read_cycler(opts.echem, format=opts.echem_format)
    content = {"active_mass": opts.active_mass, "formula": opts.formula, "x0": opts.x0}
    given = [k for k, v in content.items() if v is not None]
    if given and len(given) < 3:
        missing = next(k for k, v in content.items() if v is None)
        raise InputError(missing, f"the ion content x needs active_mass (mg), formula and x0; {missing} is missing")
    if given:
        table = with_ion_content(table, IonContent(**content))
    if opts.echem_match == "time":
        table.require("time", "matching scans by time")
        if opts.scan_times is None and not stamped:
            raise InputError("scan_times", "matching by time needs the scans' times on the cycler's clock: "
                                           "--scan-times START:STEP (seconds)")
    return table


def cycler_curve(opts: Any) -> tuple | None:
    """(time in s, voltage in V) of ``opts.echem`` for the operando figure's voltage panel, when the scans are
    matched to it by time (so the figure's time axis is the cycler's clock); else None."""
    if not opts.echem or opts.echem_match != "time":
        return None
    columns = echem_table(opts, stamped=True).columns
    return (columns["time"], columns["voltage"]) if "time" in columns and "voltage" in columns else None


def echem_warnings(series) -> list[str]:
    """What looks wrong in the attached cycler rows, said: a negative ion content x (impossible: a wrong active
    mass, formula or x0); every scan matched to one row by time (scan times not in seconds on the cycler's
    clock, e.g. given in hours); scans outside the cycler log, which have no row."""
    out = []
    xs = [(s.echem["x"], s.index) for s in series if "x" in s.echem]
    if xs and min(xs)[0] < 0:
        x, worst = min(xs)
        out.append(f"warning: the ion content x reaches {x:.3g} (< 0, impossible) at scan {worst}: check "
                   "active_mass, formula and x0")
    matched = [s.echem["time"] for s in series if "scan_time" in s.echem and "time" in s.echem]
    rows = set(matched)
    if len(matched) > 1 and len(rows) == 1:
        out.append(f"warning: every scan matched the cycler row at {rows.pop():g} s: are the scan times "
                   "(--scan-times START:STEP) in seconds on the cycler's clock?")
    from refine.operando.series import outside_log

    outside = [series.scans[i] for i in outside_log(series)]
    if outside:
        names = ", ".join(str(s.index) for s in outside[:5]) + (f" ... ({len(outside)} scans)" if len(outside) > 5
                                                                else "")
        first, last = outside[0].echem["scan_time"], outside[-1].echem["scan_time"]
        when = f"{first:g} s" if len(outside) == 1 else f"{first:g} to {last:g} s"
        out.append(f"warning: scan(s) {names} at {when} lie outside the cycler log (before it started or after it "
                   "stopped): no cycler row is joined to them (their voltage, current and capacity are empty)")
    return out


def attach_echem(series, opts: Any):
    """``series`` with each scan's cycler row (``opts``: ``echem``, ``echem_format``, ``echem_match``,
    ``scan_times``, and ``active_mass``, ``formula``, ``x0`` for the ion content x). Matching by time takes the
    scans' own time stamps when their frames were integrated with ``scan_times`` and none is given here."""
    from refine.operando.echem import scan_times

    stamped = series.own_times()
    own = stamped if opts.scan_times is None else None
    table = echem_table(opts, stamped=own is not None)
    times = None
    if opts.echem_match == "time":
        times = own if own is not None else scan_times(len(series), opts.scan_times)
        if stamped is not None and max(abs(a - b) for a, b in zip(stamped, times, strict=True)) > 1e-6:
            worst = max(range(len(times)), key=lambda i: abs(stamped[i] - times[i]))
            raise InputError("scan_times", f"the patterns record their own times on the cycler's clock (from "
                                           f"--scan-times when they were integrated; scan {worst}: {stamped[worst]:g} "
                                           f"s, here {times[worst]:g} s): leave --scan-times out to use them")
    return series.with_echem(table, match=opts.echem_match, times=times)


def _folder_source(patterns: Any, known: Sequence[Any] = ()):
    """Follow mode: the source of new files, from globs or a :class:`refine.operando.schedule.NumberedFolder`."""
    from refine.operando.schedule import FolderSource, NumberedFolder

    if isinstance(patterns, NumberedFolder):
        return patterns.source(known)
    return FolderSource([os.fspath(p) for p in as_list(patterns)], known=known)


def _first_arrival(patterns: Any, idle: float):
    """Follow mode: the series of the files present now, or of the first to arrive within ``idle`` seconds (with
    their frame numbers when the source has them)."""
    import time

    from refine.operando.schedule import poll_interval
    from refine.operando.series import Series

    source = _folder_source(patterns)
    deadline = time.monotonic() + idle
    while True:
        scans = source.poll()
        if scans:
            series = Series.from_paths([str(s.path) for s in scans], sort=False)
            numbers = [s.number for s in scans]
            return series if None in numbers else series.numbered(numbers)
        if time.monotonic() > deadline:
            raise InputError(", ".join(source.patterns), f"no file arrived within {idle:g} s (--idle)")
        time.sleep(poll_interval(idle))


def _powder_inputs(series, phases: Any, kind: str, opts: SequentialOptions) -> tuple:
    """Structures, instrument, settings and notes of a powder kind (refusing G(r) files and PDF options)."""
    from refine.io import read_powder_pattern
    from refine.operando.sequential import SequentialSettings
    from refine.powder.setup import instrument_for, powder_options

    gr = next((scan.path for scan in series if scan.path.suffix.lower() == ".gr"), None)
    if gr is not None:
        raise InputError(str(gr), f"is a G(r) file: kind {kind} fits powder patterns; use kind pdf")
    defaults = SequentialOptions()
    given = [name for name in SEQUENTIAL_PDF_ONLY if getattr(opts, name) != getattr(defaults, name)]
    if given:
        raise InputError(given[0], f"is a PDF option (kind pdf); it has no meaning for kind {kind}")
    structures = as_structures(phases)
    first = read_powder_pattern(series.scans[0].path, bank=opts.bank)
    instrument, notes = instrument_for(first, wavelength=opts.wavelength, instrument=opts.instrument)
    powder = powder_options(opts, instrument, first)
    settings = SequentialSettings(kind=kind, refine=opts.refine or _DEFAULT_REFINE, powder=powder,
                                  restart_each=opts.restart_each, presence=tuple(opts.present), bank=opts.bank,
                                  **_plan(opts))
    return structures, instrument, settings, notes


def _pdf_inputs(series, phases: Any, kind: str, opts: SequentialOptions) -> tuple:
    """PhaseInputs, no instrument, settings and notes of ``kind="pdf"`` (refusing powder options)."""
    from refine.api.pdf import pdf_fit_settings, pdf_phase_inputs, restricted_phases_note
    from refine.operando.pdf_kind import read_gr
    from refine.operando.sequential import SequentialSettings

    if opts.qmax is None:
        raise InputError("qmax", "kind pdf needs qmax (Qmax of the G(r) Fourier transform, 1/A)")
    given = [name for name in SEQUENTIAL_POWDER_ONLY if getattr(opts, name) not in (None, ())]
    if given:
        raise InputError(given[0], "is a powder option; it has no meaning for kind pdf")
    if not as_list(phases):
        raise InputError("phases", "kind pdf needs at least one phase STRUCT[,fixed] (CIF or .stru)")
    read_gr(series.scans[0].path)  # a powder pattern given by mistake is bad input, not a flagged scan
    inputs = pdf_phase_inputs(phases, refine_structure=opts.refine_structure)
    pdf = pdf_fit_settings(opts, opts.qmax)
    settings = SequentialSettings(kind="pdf", refine=(), pdf=pdf, restart_each=opts.restart_each, **_plan(opts))
    lo, hi = ("first point" if pdf.rmin is None else pdf.rmin), ("last point" if pdf.rmax is None else pdf.rmax)
    notes = [f"G(r) fits: {pdf.radiation}, Qmax {pdf.qmax} 1/A, r {lo} to {hi} A"
             + (", structures refined" if opts.refine_structure else ""), *restricted_phases_note(inputs)]
    return inputs, None, settings, notes


def _plan(opts: SequentialOptions) -> dict:
    from refine.operando.schedule import Guard

    if opts.chunk < 0:
        raise InputError("chunk", f"must be 0 (one chain) or a positive number of scans, got {opts.chunk}")
    return {"chunk": opts.chunk, "guard": Guard(rwp_factor=opts.guard[0], volume=opts.guard[1])}


def _run(series, fit_phases, instrument, settings, out: Path | None, opts: SequentialOptions, phases: Any,
         kind: str, patterns: Any, started: Any = None):
    from refine.operando.sequential import run_sequential

    given = [source_of(p) for p in as_list(phases)] if kind != "pdf" else []
    files = [p for p in (*given, opts.instrument if isinstance(opts.instrument, str) else None) if p]
    from refine.executor import ExecutorSpec
    from refine.operando.schedule import Follow, poll_interval

    spec = ExecutorSpec(workers=opts.workers, scheduler=opts.scheduler, started=started)
    follow = None
    if opts.follow:
        if opts.idle <= 0:
            raise InputError("idle", f"must be a positive number of seconds, got {opts.idle}")
        source = _folder_source(patterns, known=[s.path for s in series])
        follow = Follow(source, idle=opts.idle, poll=poll_interval(opts.idle))
    return run_sequential(series, fit_phases, instrument, settings, out, executor=spec, inputs=files, follow=follow)


def _write(result, out: Path, opts: SequentialOptions, kind: str, settings, phases: Any,
           notes: list[str], provenance: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    from refine.io.atomic import sha256_of
    from refine.operando.sequential import write_csv, write_summary

    summary_settings = {"command": "sequential", "kind": kind, "refine": list(settings.refine),
                        "phases": [source_of(p) or getattr(p, "name", str(p)) for p in as_list(phases)],
                        "wavelength": opts.wavelength, "instrument": opts.instrument, "range": opts.range,
                        "exclude": [list(e) for e in opts.exclude], "echem": opts.echem,
                        "echem_sha256": None if not opts.echem else sha256_of(opts.echem),
                        "echem_format": opts.echem_format, "echem_match": opts.echem_match,
                        "scan_times": None if opts.scan_times is None else list(opts.scan_times),
                        "active_mass": opts.active_mass, "formula": opts.formula, "x0": opts.x0,
                        "restart_each": opts.restart_each,
                        "pdf": None if settings.pdf is None else asdict(settings.pdf), "notes": notes,
                        **(provenance or {})}
    json_path = write_summary(result, opts.json or out / "sequential.json", summary_settings)
    csv_path = write_csv(result.records, opts.csv or out / "sequential.csv")
    written = [("summary", str(json_path)), ("table", str(csv_path))]
    if opts.plot:
        from refine.plot.operando import plot_operando

        plot_operando(result.records, opts.plot, cycler=cycler_curve(opts))
        written.append(("figure", str(opts.plot)))
    return written
