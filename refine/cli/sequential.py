"""``refine sequential``: one whole-pattern fit per scan of an operando series, each from the last good one.

Writes ``OUT_DIR/scans/<index>_<stem>.json`` as each scan finishes (a rerun resumes where it stopped), the summary
(``kind: sequential``) and the per-scan CSV table; optionally the figure. Exit 0 when every scan converged, 3 when
some did not (all written, flagged), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from refine.cli.main import COMMANDS, EXIT_NOT_CONVERGED, EXIT_OK, Command
from refine.cli.powder import _phases, add_phase_arguments, add_powder_arguments, instrument_for
from refine.errors import InputError


def _presence(text: str):
    from refine.operando.sequential import Presence

    name, _, rest = text.partition(":")
    first, _, last = rest.partition(":")
    try:
        return Presence(name=name, first=int(first) if first else 0, last=int(last) if last else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME:FIRST[:LAST] scan indices, got {text!r}") from None


def _times(text: str) -> tuple[float, float]:
    try:
        t0, dt = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STEP, got {text!r}") from None
    return t0, dt


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine sequential``."""
    from refine.operando.sequential import FIT_KINDS

    parser.add_argument("patterns", nargs="+", metavar="PATTERN", help="pattern files (sorted naturally)")
    add_phase_arguments(parser)
    add_powder_arguments(parser)
    parser.add_argument("--kind", default="lebail", choices=FIT_KINDS.names(), help="fit of each scan")
    parser.add_argument("--refine", default="cell,zero,W,X,Y", help="comma list of groups or parameter names")
    parser.add_argument("--present", type=_presence, action="append", default=[], metavar="NAME:FIRST[:LAST]",
                        help="fit phase NAME only in scans FIRST..LAST (0-based; a phase that appears or vanishes)")
    parser.add_argument("--restart-each", action="store_true",
                        help="start every scan from the given values instead of the previous scan's result")
    parser.add_argument("--echem", metavar="FILE", help="electrochemistry table (time, voltage, current, capacity)")
    parser.add_argument("--echem-match", choices=("index", "time"), default="index",
                        help="attach table rows by scan index (default) or by nearest time stamp")
    parser.add_argument("--scan-times", type=_times, metavar="START:STEP",
                        help="time stamp of scan i = START + i*STEP (same unit as the table's time column)")
    parser.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="folder for per-scan results")
    parser.add_argument("--csv", metavar="OUT.csv", help="per-scan table (default OUT_DIR/sequential.csv)")


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


def run(args: argparse.Namespace) -> int:
    """Run the series and write the results."""
    from refine.io import read_pattern
    from refine.operando.sequential import SequentialSettings, run_sequential, write_csv, write_summary
    from refine.powder.model import PowderOptions

    series = _series(args)
    phases = _phases(args)
    first = read_pattern(series.scans[0].path, **({} if args.bank is None else {"bank": args.bank}))
    first = first if first.unit == "2th_deg" else first.to_unit("2th_deg")
    instrument, notes = instrument_for(argparse.Namespace(**{**vars(args), "pattern": str(series.scans[0].path)}),
                                       first)
    options = PowderOptions(fit_range=args.range, exclusions=tuple(args.exclude),
                            **({"background": args.background} if args.background else {}))
    refine = tuple(r.strip() for r in args.refine.split(",") if r.strip())
    settings = SequentialSettings(kind=args.kind, refine=refine, powder=options, restart_each=args.restart_each,
                                  presence=tuple(args.present), bank=args.bank)
    out = Path(args.out)
    for note in notes:
        print(note)
    result = run_sequential(series, phases, instrument, settings, out)
    summary_settings = {"command": "sequential", "kind": args.kind, "refine": list(refine), "phases": args.phase,
                        "spacegroups": args.spacegroup, "cells": args.cell, "wavelength": args.wavelength,
                        "instrument": args.instrument, "range": args.range, "exclude": args.exclude,
                        "echem": args.echem, "restart_each": args.restart_each, "notes": notes}
    json_path = write_summary(result, args.json or out / "sequential.json", summary_settings)
    csv_path = write_csv(result.records, args.csv or out / "sequential.csv")
    for r in result.records:
        cells = "  ".join(f"{ph['name']}: a={ph['a']:.5f} c={ph['c']:.5f} V={ph['volume']:.3f}"
                          for ph in r.get("phases") or [])
        rwp = (r.get("statistics") or {}).get("Rwp")
        print(f"{r['index']:4d} {Path(r['file']).name:30s} {r['status']:13s} "
              f"{'' if rwp is None else f'Rwp={rwp:.4f}'}  {cells}")
    print(f"scans: {len(result.records)} (fitted {result.fitted}, resumed {result.skipped}); "
          f"summary: {json_path}; table: {csv_path}")
    if args.plot:
        from refine.plot.sequential import plot_sequential

        plot_sequential(result.records, args.plot)
        print(f"figure: {args.plot}")
    if not result.converged:
        flagged = [r["index"] for r in result.records if not r.get("converged")]
        print(f"refine sequential: {len(flagged)} scan(s) did not converge or failed: {flagged}; all written and "
              "flagged", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


COMMANDS.register("sequential", Command(help="sequential whole-pattern fits of an operando series",
                                        configure=configure, run=run))
