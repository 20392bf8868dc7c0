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

from refine.api import parsing
from refine.api.options import SequentialOptions
from refine.cli.format import phase_line
from refine.cli.main import (
    COMMANDS,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    Command,
    LazyChoices,
    argument_type,
    options_of,
    print_notes,
    print_warnings,
)
from refine.cli.pdf_fit import add_pdf_fit_arguments
from refine.cli.powder import add_phase_arguments, add_powder_arguments, cli_phases
from refine.errors import InputError
from refine.notation import format_percent

#: Phase options of the powder kinds, meaningless for ``--kind pdf`` (the facade refuses the others).
_POWDER_PHASE_ONLY = (("spacegroup", "--spacegroup"), ("cell", "--cell"), ("name", "--name"))
_DEFAULT_REFINE = "cell,zero,W,X,Y"
_presence = argument_type(parsing.parse_presence)
_times = argument_type(parsing.parse_scan_times)


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
                        help=f"powder kinds: comma list of groups or parameter names (default {_DEFAULT_REFINE}; "
                             "the rietveld kind always refines the phase scales too)")
    parser.add_argument("--present", type=_presence, action="append", default=[], metavar="NAME:FIRST[:LAST]",
                        help="fit phase NAME only in scans FIRST..LAST (0-based; a phase that appears or vanishes)")
    parser.add_argument("--restart-each", action="store_true",
                        help="start every scan from the given values instead of the previous scan's result")
    parser.add_argument("--workers", type=int, default=1,
                        help="fit scans on a local Dask cluster of this many processes (default 1: in this process; "
                             "capped at the cores available); results do not depend on it")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="fit scans on a running Dask cluster (its scheduler address or scheduler file); the "
                             "workers must see the pattern files at the same paths")
    parser.add_argument("--chunk", type=int, default=16, metavar="N",
                        help="scans per chunk: the first of each chunk starts from the previous chunk's first, the "
                             "others from their predecessor, so chunks run in parallel (default 16; 0: one chain)")
    parser.add_argument("--guard", default="2:0.02", metavar="RWP_FACTOR:VOLUME_FRACTION",
                        help="a fit whose Rwp exceeds RWP_FACTOR times, or whose cell volume differs by more than "
                             "VOLUME_FRACTION from, the result it started from is refitted from its predecessor or "
                             "flagged suspect (default 2:0.02; 'off')")
    parser.add_argument("--follow", action="store_true",
                        help="live mode: keep fitting new files matching PATTERN (quote the glob) as they land")
    parser.add_argument("--idle", type=float, default=60.0, metavar="SECONDS",
                        help="with --follow: stop after this many seconds without a new file (default 60)")
    parser.add_argument("--echem", metavar="FILE",
                        help="table of per-scan values (electrochemistry: time, voltage, current, capacity; or "
                             "temperature), attached to each scan's result and used as the figure's second axis")
    parser.add_argument("--echem-match", choices=("index", "time"), default="index",
                        help="attach table rows by scan index (default) or by nearest time stamp")
    parser.add_argument("--scan-times", type=_times, metavar="START:STEP",
                        help="time stamp of scan i = START + i*STEP, in seconds on the cycler's clock (the table's "
                             "time is read in seconds whatever its unit); for frames integrated with --scan-times, "
                             "their own times are used when this is not given")
    add_echem_arguments(parser)
    parser.add_argument("-o", "--output", "--out", dest="out", required=True, metavar="OUT_DIR",
                        help="folder for per-scan results")
    parser.add_argument("--csv", metavar="OUT.csv", help="per-scan table (default OUT_DIR/sequential.csv)")
    pdf = parser.add_argument_group("PDF (--kind pdf)", "G(r) fit settings as in 'refine pdf fit'; --phase "
                                    "STRUCT[,fixed] (CIF or .stru)")
    add_pdf_fit_arguments(pdf, qmax_required=False, constrain=False)  # --constrain serves both kinds
    parser.set_defaults(**SequentialOptions.cli_defaults())


def add_echem_arguments(parser: argparse.ArgumentParser) -> None:
    """Cycler-file format and the ion content x (shared by sequential and parametric)."""
    parser.add_argument("--echem-format", choices=("mpt", "mpr", "neware", "table"), default=None,
                        help="format of --echem (default: from the extension; .mpt EC-Lab text, .mpr EC-Lab binary "
                             "and .nda/.ndax Neware need the [echem] extra for the binary ones)")
    parser.add_argument("--active-mass", type=float, metavar="MG",
                        help="active mass in mg: with --formula and --x0 each scan gets the Na content x")
    parser.add_argument("--formula", metavar="FORMULA", help="formula of the active material, e.g. 'Na3V2(PO4)3' "
                                                             "(its molar mass is computed)")
    parser.add_argument("--x0", type=float, metavar="X",
                        help="Na content at the start of the cycler log; x = x0 - 3.6*Q*M/(F*m*1e-3)")


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
    """Run the series through :func:`refine.api.sequential` and print the table."""
    from refine.api.series import sequential

    if args.kind == "pdf":
        if args.qmax is None:
            raise InputError("--qmax", "--kind pdf needs --qmax (Qmax of the G(r) Fourier transform, 1/A)")
        given = [opt for dest, opt in _POWDER_PHASE_ONLY if getattr(args, dest)]
        if given:
            raise InputError(given[0], "is a powder option; it has no meaning for --kind pdf")
        if not args.phase:
            raise InputError("--phase", "--kind pdf needs at least one --phase STRUCT[,fixed] (CIF or .stru)")
        phases = list(args.phase)
    else:
        phases = cli_phases(args)
    result = sequential(args.patterns, phases, kind=args.kind, output=args.out,
                        **options_of(SequentialOptions, args))
    return _print(args, result)


def _print(args: argparse.Namespace, result) -> int:
    written = dict(getattr(result, "written", ()))
    nwarn_run = print_notes(getattr(result, "notes", ()), "sequential")
    for r in result.records:
        print(_line(r))
    print(f"scans: {len(result.records)} (fitted {result.fitted}, resumed {result.skipped}); "
          f"summary: {written.get('summary')}; table: {written.get('table')}")
    if "figure" in written:
        print(f"figure: {written['figure']}")
    nwarn = _print_scan_warnings(result.records) + nwarn_run
    failed = [r for r in result.records if r.get("status") == "failed"]
    for r in failed[:20]:  # why, in one line each (the result file of a failed scan is not written)
        print(f"refine sequential: error: scan {r['index']} ({r['file']}): {r.get('error')}", file=sys.stderr)
    if len(failed) > 20:
        print(f"refine sequential: ... and {len(failed) - 20} more failed scan(s); the summary holds each error",
              file=sys.stderr)
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
