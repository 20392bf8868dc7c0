"""``refine operando IMAGES --poni P --phase CIF -o OUT``: integrate every frame and fit every scan in one command.

The same as ``refine integrate IMAGES --poni P -o OUT/patterns`` then ``refine sequential OUT/patterns/*.xye
--phase CIF -o OUT`` (or the series file with ``--series-file``), with the operando figure under ``--plot``.
Exit 0 when every scan converged, 3 when some frame failed or some scan did not converge (all written, flagged),
2 on bad input.
"""

from __future__ import annotations

import argparse

from refine.api.stack import OperandoOptions
from refine.cli.integrate import _quiet_libraries, add_series_arguments
from refine.cli.main import (
    COMMANDS,
    EXIT_NOT_CONVERGED,
    Command,
    LazyChoices,
    argument_type,
    options_of,
    parse_range,
)
from refine.cli.powder import add_phase_arguments, add_powder_arguments, cli_phases
from refine.cli.sequential import add_echem_arguments


def _powder_kinds() -> list[str]:
    from refine.operando.sequential import FIT_KINDS

    return [name for name in FIT_KINDS.names() if name != "pdf"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine operando``."""
    from refine.api import parsing

    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="image files or a quoted glob (tif, cbf, edf, Eiger/NeXus HDF5 stacks: one scan per "
                             "frame)")
    parser.add_argument("--poni", required=True, help="pyFAI PONI geometry file")
    integ = parser.add_argument_group("integration", "as in 'refine integrate'")
    integ.add_argument("--mask", help="mask (image, .npy or Dioptas .mask; nonzero = excluded)")
    integ.add_argument("--dark", help="dark image, subtracted")
    integ.add_argument("--flat", help="flat-field image, divided")
    integ.add_argument("--npt", type=int, default=2000, help="number of radial bins (default 2000)")
    integ.add_argument("--polarization", type=float, default=None, metavar="P",
                       help="polarization factor, pyFAI convention (-1..1); default: no correction")
    integ.add_argument("--method", default="bbox,csr,cython", help="pyFAI method (default bbox,csr,cython)")
    integ.add_argument("--flip", choices=("ud", "lr"), default=None, help="flip images before integration")
    integ.add_argument("--error-model", choices=("poisson", "azimuthal", "none"), default="poisson",
                       help="how sigma is obtained (default poisson)")
    integ.add_argument("--no-solid-angle", action="store_true", help="no solid-angle correction")
    integ.add_argument("--radial-range", type=parse_range, default=None, metavar="LO:HI",
                       help="integration range in deg 2theta (default: whole detector)")
    integ.add_argument("--overwrite", action="store_true", help="integrate every frame again")
    integ.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_series_arguments(integ)
    add_phase_arguments(parser)
    add_powder_arguments(parser)  # --wavelength (default: the PONI's), --range (fit range), --json, --plot ...
    fits = parser.add_argument_group("fits", "as in 'refine sequential'")
    fits.add_argument("--kind", default="lebail", choices=LazyChoices(_powder_kinds), metavar="KIND",
                      help="fit of each scan: %(choices)s (default lebail)")
    fits.add_argument("--refine", default=None, help="comma list of groups or parameters (default cell,zero,W,X,Y; "
                      "the rietveld kind always refines the phase scales too)")
    fits.add_argument("--present", type=argument_type(parsing.parse_presence), action="append", default=[],
                      metavar="NAME:FIRST[:LAST]", help="fit phase NAME only in scans FIRST..LAST")
    fits.add_argument("--restart-each", action="store_true", help="start every scan from the given values")
    fits.add_argument("--workers", type=int, default=1,
                      help="fit scans on a local Dask cluster of this many processes (default 1: in this process)")
    fits.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                      help="integrate frames and fit scans on a running Dask cluster (its scheduler address or "
                           "scheduler file); the workers must see the files at the same paths")
    fits.add_argument("--chunk", type=int, default=16, metavar="N",
                      help="scans per chunk, as in 'refine sequential' (default 16; 0: one chain)")
    fits.add_argument("--guard", default="2:0.02", metavar="RWP_FACTOR:VOLUME_FRACTION",
                      help="refit or flag a fit that lost its way, as in 'refine sequential' (default 2:0.02; 'off')")
    fits.add_argument("--follow", action="store_true",
                      help="live mode: integrate and fit frames as they land (new files matching a quoted glob, "
                           "frames appended to an HDF5 stack); one .xye per frame")
    fits.add_argument("--idle", type=float, default=60.0, metavar="SECONDS",
                      help="with --follow: stop after this many seconds without a new frame, and wait as long for "
                           "the first one (default 60)")
    fits.add_argument("--echem", metavar="FILE", help="table of per-scan electrochemistry (time, voltage, ...)")
    fits.add_argument("--echem-match", choices=("index", "time"), default="index",
                      help="attach table rows by scan index (default) or nearest time (needs --scan-times)")
    add_echem_arguments(fits)
    fits.add_argument("--csv", metavar="OUT.csv", help="per-scan table (default OUT_DIR/sequential.csv)")
    fits.add_argument("--window", "--windows", dest="windows", type=parse_range, action="append", default=[],
                      metavar="LO:HI",
                      help="a 2theta window of the figure's heat map (repeatable; default the whole pattern)")
    parser.add_argument("-o", "--output", "--out", dest="out", required=True, metavar="OUT_DIR",
                        help="folder for patterns/, scans/, sequential.json and sequential.csv")
    parser.set_defaults(**OperandoOptions.cli_defaults())


def run(args: argparse.Namespace) -> int:
    """Integrate, fit, print the per-scan table; returns the exit code."""
    from refine.api.stack import operando
    from refine.cli.sequential import _print

    with _quiet_libraries(not getattr(args, "debug", False)):
        result = operando(args.images, cli_phases(args), poni=args.poni, output=args.out, kind=args.kind,
                          **options_of(OperandoOptions, args))
    failed = [f for f in result.frames if f.failed]  # each is among the run's warnings, printed by _print
    skipped = sum(f.skipped for f in result.frames)
    print(f"frames: {len(result.frames)} ({len(result.frames) - skipped - len(failed)} integrated, {skipped} already "
          f"done, {len(failed)} failed)")
    code = _print(args, result)
    return EXIT_NOT_CONVERGED if failed else code


COMMANDS.register("operando", Command(help="integrate a stack of frames and fit every scan (integrate + sequential)",
                                      configure=configure, run=run))
