"""``refine sequential``: one fit per scan of an operando or temperature series, each from the last good one.

Powder kinds (``lebail``, ``pawley``, ``rietveld``) fit patterns in 2θ; ``--kind pdf`` fits G(r) files with the
settings of ``refine pdf fit`` (``--qmax`` ...).

Writes ``OUT_DIR/scans/<index>_<stem>.json`` as each scan finishes (a rerun resumes where it stopped), the summary
(``kind: sequential``) and the per-scan CSV table; optionally the figure. Exit 0 when every scan converged, 3 when
some did not (all written, flagged), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from refine.cli.format import phase_line
from refine.cli.main import (
    COMMANDS,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    Command,
    LazyChoices,
    float_pair,
    print_warnings,
    split_list,
)
from refine.cli.pdf_fit import _phase, add_pdf_fit_arguments, pdf_fit_settings
from refine.cli.powder import _phases, add_phase_arguments, add_powder_arguments, instrument_for, powder_options
from refine.errors import InputError
from refine.notation import format_percent

#: Options of the powder kinds, meaningless for ``--kind pdf`` (dest, option).
_POWDER_ONLY = (("wavelength", "--wavelength"), ("instrument", "--instrument"), ("bank", "--bank"),
                ("range", "--range"), ("exclude", "--exclude"), ("background", "--background"),
                ("spacegroup", "--spacegroup"), ("cell", "--cell"), ("name", "--name"), ("present", "--present"),
                ("refine", "--refine"), ("exclude_phase", "--exclude-phase"))
_DEFAULT_REFINE = "cell,zero,W,X,Y"


def _presence(text: str):
    from refine.operando.sequential import Presence

    name, _, rest = text.partition(":")
    first, _, last = rest.partition(":")
    try:
        return Presence(name=name, first=int(first) if first else 0, last=int(last) if last else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME:FIRST[:LAST] scan indices, got {text!r}") from None


_times = float_pair(":", "START:STEP")


def _kind_names() -> list[str]:
    from refine.operando.sequential import FIT_KINDS  # imports lmfit: only when --kind is checked or shown

    return FIT_KINDS.names()


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine sequential``."""
    parser.add_argument("patterns", nargs="+", metavar="PATTERN",
                        help="pattern files, or G(r) files with --kind pdf (sorted naturally)")
    add_phase_arguments(parser)
    add_powder_arguments(parser)
    parser.add_argument("--kind", default="lebail", choices=LazyChoices(_kind_names), metavar="KIND",
                        help="fit of each scan: %(choices)s (default lebail)")
    parser.add_argument("--refine", default=None,
                        help=f"powder kinds: comma list of groups or parameter names (default {_DEFAULT_REFINE})")
    parser.add_argument("--present", type=_presence, action="append", default=[], metavar="NAME:FIRST[:LAST]",
                        help="fit phase NAME only in scans FIRST..LAST (0-based; a phase that appears or vanishes)")
    parser.add_argument("--restart-each", action="store_true",
                        help="start every scan from the given values instead of the previous scan's result")
    parser.add_argument("--workers", type=int, default=1,
                        help="fit scans in this many processes at once (default 1); scans after the first converged "
                             "one then start from its values instead of their predecessor's")
    parser.add_argument("--echem", metavar="FILE",
                        help="table of per-scan values (electrochemistry: time, voltage, current, capacity; or "
                             "temperature), attached to each scan's result and used as the figure's second axis")
    parser.add_argument("--echem-match", choices=("index", "time"), default="index",
                        help="attach table rows by scan index (default) or by nearest time stamp")
    parser.add_argument("--scan-times", type=_times, metavar="START:STEP",
                        help="time stamp of scan i = START + i*STEP (same unit as the table's time column)")
    parser.add_argument("-o", "--output", "--out", dest="out", required=True, metavar="OUT_DIR",
                        help="folder for per-scan results")
    parser.add_argument("--csv", metavar="OUT.csv", help="per-scan table (default OUT_DIR/sequential.csv)")
    pdf = parser.add_argument_group("PDF (--kind pdf)", "G(r) fit settings as in 'refine pdf fit'; --phase "
                                    "STRUCT[,fixed] (CIF or .stru)")
    actions = add_pdf_fit_arguments(pdf, qmax_required=False, constrain=False)  # --constrain serves both kinds
    parser.set_defaults(pdf_options=tuple((a.dest, a.option_strings[0], a.default) for a in actions))


def _series(args: argparse.Namespace):
    from refine.operando.series import Series, read_echem

    series = Series.from_paths(args.patterns)
    if args.echem:
        table = read_echem(args.echem)
        times = None
        if args.echem_match == "time":
            if args.scan_times is None:
                raise InputError("--scan-times", "matching by time needs --scan-times START:STEP")
            t0, dt = args.scan_times
            times = [t0 + i * dt for i in range(len(series))]
        series = series.with_echem(table, match=args.echem_match, times=times, source=args.echem)
    return series


def _powder_inputs(args: argparse.Namespace, series) -> tuple[list, object, object, list[str]]:
    """Phases, instrument, settings and notes of a powder kind (refusing G(r) files and PDF options)."""
    from refine.io import read_powder_pattern
    from refine.operando.sequential import SequentialSettings

    gr = next((scan.path for scan in series if scan.path.suffix.lower() == ".gr"), None)
    if gr is not None:
        raise InputError(str(gr), f"is a G(r) file: --kind {args.kind} fits powder patterns; use --kind pdf")
    given = [opt for dest, opt, default in args.pdf_options if getattr(args, dest) != default]
    if given:
        raise InputError(given[0], f"is a PDF option (--kind pdf); it has no meaning for --kind {args.kind}")
    phases = _phases(args)
    first = read_powder_pattern(series.scans[0].path, bank=args.bank)
    instrument, notes = instrument_for(argparse.Namespace(**{**vars(args), "pattern": str(series.scans[0].path)}),
                                       first)
    options = powder_options(args, instrument, first)
    refine = split_list(args.refine or _DEFAULT_REFINE)
    settings = SequentialSettings(kind=args.kind, refine=refine, powder=options, restart_each=args.restart_each,
                                  presence=tuple(args.present), bank=args.bank)
    return phases, instrument, settings, notes


def _pdf_inputs(args: argparse.Namespace, series) -> tuple[list, None, object, list[str]]:
    """PhaseInputs, no instrument, settings and notes of ``--kind pdf`` (refusing powder options)."""
    from refine.operando.pdf_kind import read_gr
    from refine.operando.sequential import SequentialSettings
    from refine.pdf.fitting import PhaseInput

    if args.qmax is None:
        raise InputError("--qmax", "--kind pdf needs --qmax (Qmax of the G(r) Fourier transform, 1/A)")
    given = [opt for dest, opt in _POWDER_ONLY if getattr(args, dest) not in (None, [])]
    if given:
        raise InputError(given[0], "is a powder option; it has no meaning for --kind pdf")
    if not args.phase:
        raise InputError("--phase", "--kind pdf needs at least one --phase STRUCT[,fixed] (CIF or .stru)")
    read_gr(series.scans[0].path)  # a powder pattern given by mistake is bad input, not a flagged scan
    inputs = []
    for text in args.phase:
        try:
            path, fixed = _phase(text)
        except argparse.ArgumentTypeError as exc:
            raise InputError("--phase", str(exc)) from None
        inputs.append(PhaseInput.load(path, fixed=fixed, refine_structure=args.refine_structure and not fixed))
    pdf = pdf_fit_settings(args)
    settings = SequentialSettings(kind="pdf", refine=(), pdf=pdf, restart_each=args.restart_each)
    lo, hi = ("first point" if pdf.rmin is None else pdf.rmin), ("last point" if pdf.rmax is None else pdf.rmax)
    notes = [f"G(r) fits: {pdf.radiation}, Qmax {pdf.qmax} 1/A, r {lo} to {hi} A"
             + (", structures refined" if args.refine_structure else "")]
    return inputs, None, settings, notes


def _line(r: dict) -> str:
    """One scan's line of the printed table: status (with its warning count), R-factor in percent, each phase's
    cell and volume as value(esd)."""
    stats = r.get("statistics") or {}
    rname = next((k for k in ("Rwp", "Rw") if stats.get(k) is not None), None)
    nwarn = len(r.get("warnings") or [])
    status = r["status"] + (f", {nwarn} warning{'s' if nwarn > 1 else ''}" if nwarn else "")
    cells = "  ".join(phase_line(ph).removeprefix("phase ") for ph in r.get("phases") or [])
    return (f"{r['index']:4d} {Path(r['file']).name:30s} {status:25s} "
            f"{'' if rname is None else f'{rname}={format_percent(stats[rname])}'}  {cells}")


def _print_scan_warnings(records: list[dict], limit: int = 20) -> int:
    """One stderr line per warning of the scans (those of the first ``limit`` scans with warnings; a count of the
    rest); returns the number of warnings."""
    shown, total, scans = 0, 0, 0
    for r in records:
        warns = r.get("warnings") or []
        total += len(warns)
        if not warns:
            continue
        scans += 1
        if scans <= limit:
            print_warnings([f"scan {r['index']} ({Path(r['file']).name}): {w}" for w in warns], "sequential")
            shown += len(warns)
    if total > shown:
        print(f"refine sequential: ... and {total - shown} more warning(s) in {scans - limit} scan(s); each scan's "
              "warnings are in its result file", file=sys.stderr)
    return total


def run(args: argparse.Namespace) -> int:
    """Run the series and write the results."""
    from refine.io.lock import folder_lock
    from refine.io.paths import check_outputs

    check_outputs(files={"--json": args.json, "--csv": args.csv, "--plot": args.plot}, folders={"-o": args.out})
    series = _series(args)
    inputs = _pdf_inputs if args.kind == "pdf" else _powder_inputs
    phases, instrument, settings, notes = inputs(args, series)
    out = Path(args.out)
    for note in notes:
        print(note)
    with folder_lock(out, command="sequential"):  # held over the summary, table and figure too
        return _fit_and_write(args, series, (phases, instrument, settings, notes), out)


def _fit_and_write(args: argparse.Namespace, series, prepared: tuple, out: Path) -> int:
    from dataclasses import asdict

    from refine.operando.sequential import run_sequential, write_csv, write_summary

    phases, instrument, settings, notes = prepared
    files = [p for p in (*(args.phase if args.kind != "pdf" else ()), args.instrument) if p]
    result = run_sequential(series, phases, instrument, settings, out, workers=args.workers, inputs=files)
    summary_settings = {"command": "sequential", "kind": args.kind, "refine": list(settings.refine),
                        "phases": args.phase, "spacegroups": args.spacegroup, "cells": args.cell,
                        "wavelength": args.wavelength, "instrument": args.instrument, "range": args.range,
                        "exclude": args.exclude, "echem": args.echem, "restart_each": args.restart_each,
                        "pdf": None if settings.pdf is None else asdict(settings.pdf), "notes": notes}
    json_path = write_summary(result, args.json or out / "sequential.json", summary_settings)
    csv_path = write_csv(result.records, args.csv or out / "sequential.csv")
    for r in result.records:
        print(_line(r))
    print(f"scans: {len(result.records)} (fitted {result.fitted}, resumed {result.skipped}); "
          f"summary: {json_path}; table: {csv_path}")
    if args.plot:
        from refine.plot.sequential import plot_sequential

        plot_sequential(result.records, args.plot)
        print(f"figure: {args.plot}")
    nwarn = _print_scan_warnings(result.records)
    if not result.converged:
        flagged = [r["index"] for r in result.records if not r.get("converged")]
        print(f"refine sequential: {len(flagged)} scan(s) did not converge or failed: {flagged}; all written and "
              "flagged", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    if args.strict and nwarn:
        print(f"refine sequential: {nwarn} warning(s) under --strict; results written and flagged", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


COMMANDS.register("sequential", Command(help="sequential fits of an operando or temperature series (powder or "
                                             "G(r))",
                                        configure=configure, run=run))
