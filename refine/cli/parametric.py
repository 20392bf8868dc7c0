"""``refine parametric``: a parametric (surface) refinement of a series, every scan fitted at once.

The instrument (zero, profile) is shared by all scans; each phase's cell is free per scan unless a ``--trend``
ties a cell parameter to a polynomial in the scan index or an electrochemistry column (``--echem``: ``x``,
``capacity``, ``voltage`` ...), or ``--constant-volume`` holds a phase at one refined volume V0 (NaVPO4F-like: phase
1 free per scan, phase 2 at constant volume). ``--kind pawley`` (default) solves free intensities per scan;
``--kind rietveld`` uses the structures with one scale per phase and scan, so weight fractions per scan.
``--start`` takes a ``refine sequential`` summary as per-scan starting values (a surface refinement is best started
from the sequential one). Exit 0 when the joint fit converged, 3 when not (results written), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

from refine.api.options import ParametricOptions
from refine.cli.format import phase_line
from refine.cli.main import (
    COMMANDS,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    Command,
    argument_type,
    float_pair,
    options_of,
    print_notes,
    print_warnings,
)
from refine.cli.powder import add_phase_arguments, add_powder_arguments, cli_phases
from refine.cli.sequential import add_echem_arguments
from refine.notation import format_percent


def _parse(name: str):
    from refine.api import parsing

    return argument_type(getattr(parsing, name))


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine parametric``."""
    parser.add_argument("patterns", nargs="+", metavar="PATTERN", help="pattern files (sorted naturally)")
    add_phase_arguments(parser)
    add_powder_arguments(parser)
    parser.add_argument("--kind", choices=("pawley", "rietveld"), default="pawley",
                        help="intensities: free per scan (pawley, default) or from the structures with a scale per "
                             "phase and scan (rietveld: weight fractions per scan)")
    parser.add_argument("--refine", default=None,
                        help="comma list of groups or parameter names (default cell,zero,W,X,Y; rietveld adds the "
                             "scales)")
    parser.add_argument("--trend", type=_parse("parse_trend"), action="append", default=[],
                        metavar="PHASE:PARAM[:ORDER[:VARIABLE]]",
                        help="cell parameter as a polynomial (default order 1) in the scan index or an --echem column "
                             "such as x or capacity, e.g. nvp:a:1:x (repeatable)")
    parser.add_argument("--constant-volume", type=_parse("parse_constant_volume"), action="append", default=[],
                        metavar="PHASE[:a|b|c]",
                        help="hold PHASE at one refined volume V0 in every scan; the given length (default c) "
                             "follows from V0 (repeatable)")
    parser.add_argument("--present", type=_parse("parse_presence"), action="append", default=[],
                        metavar="NAME:FIRST[:LAST]", help="phase NAME only in scans FIRST..LAST (0-based)")
    parser.add_argument("--start", metavar="SEQUENTIAL.json",
                        help="per-scan starting values from a 'refine sequential' summary of the same scans")
    parser.add_argument("--echem", metavar="FILE", help="cycler file or table attached to the scans (trend variables)")
    parser.add_argument("--echem-match", choices=("index", "time"), default="index",
                        help="attach table rows by scan index (default) or by nearest time stamp")
    parser.add_argument("--scan-times", type=float_pair(":", "START:STEP"), metavar="START:STEP",
                        help="time stamp of scan i = START + i*STEP on the cycler's clock")
    add_echem_arguments(parser)
    parser.add_argument("--csv", metavar="OUT.csv", help="per-scan table: cells, volumes, weight fractions, Rwp")
    parser.set_defaults(**ParametricOptions.cli_defaults())


def run(args: argparse.Namespace) -> int:
    """Run :func:`refine.api.parametric_fit.parametric` and print one line per scan."""
    from refine.api.parametric_fit import parametric

    result = parametric(args.patterns, cli_phases(args), kind=args.kind, **options_of(ParametricOptions, args))
    nwarn = print_notes(getattr(result, "notes", ()), "parametric")
    stats = result.fit.statistics
    print(f"parametric {args.kind}: {len(result.scans)} scans, {result.fit.nvary} refined parameters, "
          f"Rwp {format_percent(stats.Rwp)}, {'converged' if result.converged else 'NOT converged'}")
    for name, (value, esd) in result.coefficients.items():
        print(f"  {name} = {value:.6g}" + ("" if esd is None else f" ({esd:.2g})"))
    for scan in result.scans:
        rwp = scan["statistics"].get("Rwp")
        cells = "  ".join(phase_line(ph).removeprefix("phase ") for ph in scan["phases"].values())
        print(f"{scan['index']:4d} Rwp={format_percent(rwp) if rwp is not None else '-'}  {cells}")
    for name, path in getattr(result, "written", ()):
        print(f"{name}: {path}")
    print_warnings(list(result.fit.warnings), "parametric")
    if not result.converged:
        print("refine parametric: the joint fit did not converge; results written and flagged", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    if getattr(args, "strict", False) and (result.fit.warnings or nwarn):
        print(f"refine parametric: {len(result.fit.warnings) + nwarn} warning(s) under --strict; results written "
              "and flagged", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


COMMANDS.register("parametric", Command(help="parametric (surface) refinement of a series: trends, constant volume, "
                                             "Pawley or Rietveld", configure=configure, run=run))
