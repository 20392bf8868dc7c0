"""``refine calibrate IMAGE --calibrant C --wavelength Å (--poni P | [--distance MM] [--center X,Y] --detector D)``.

Refines the detector geometry on a calibrant image with pyFAI (refine.integrate.calibrate) and writes a PONI
file, optionally a figure (``--plot``) and a JSON summary (``--json``). Without a start (or with part of one) the
beam centre and distance come from the image. A poor result (RMS residual above ``--max-rms`` px from every start
tried) is written with a warning; under ``--strict`` the exit code is then 3.
"""

from __future__ import annotations

import argparse
import sys

from refine.api.options import CalibrateOptions
from refine.cli.main import COMMANDS, EXIT_NOT_CONVERGED, EXIT_OK, Command, float_pair, options_of, print_warnings

parse_center = float_pair(",", "X,Y in pixels")


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine calibrate``."""
    parser.add_argument("image", metavar="IMAGE", help="calibrant image (tif, cbf, edf, HDF5; first frame used)")
    parser.add_argument("--calibrant", required=True,
                        help="pyFAI calibrant name (CeO2, LaB6, Si, alpha_Al2O3 ...) or a d-spacing file (Å)")
    parser.add_argument("--wavelength", type=float, required=True, help="wavelength (Å)")
    start = parser.add_argument_group("start geometry (a PONI file, or the detector with optional distance and "
                                      "centre; what is missing is found from the rings)")
    start.add_argument("--poni", help="starting PONI file")
    start.add_argument("--distance", type=float, metavar="MM", help="sample-detector distance (mm)")
    start.add_argument("--center", type=parse_center, metavar="X,Y", help="beam centre, column,row (pixels)")
    start.add_argument("--detector", help="pyFAI detector name (e.g. Pilatus1M)")
    start.add_argument("--pixel-size", type=float, metavar="UM", help="pixel size (µm) instead of --detector")
    parser.add_argument("--mask", help="mask (image, .npy or Dioptas .mask; nonzero = excluded)")
    parser.add_argument("--rings", type=int, default=3, help="rings of the first passes (default 3)")
    parser.add_argument("--max-rings", type=int, default=None, help="rings in the end (default: all on the image)")
    parser.add_argument("--refine", default="dist,poni1,poni2,rot1,rot2",
                        help="parameters refined (default dist,poni1,poni2,rot1,rot2; add rot3, wavelength)")
    parser.add_argument("--flip", choices=("ud", "lr"), default=None, help="flip the image (and mask) first")
    parser.add_argument("--max-rms", type=float, default=1.0, metavar="PX",
                        help="RMS residual (px) above which more starts are tried and the result is flagged "
                             "(default 1)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.poni", help="refined PONI file")
    parser.add_argument("--plot", metavar="OUT.png", help="image with control points and refined rings")
    parser.add_argument("--json", metavar="OUT.json", help="refined geometry, esds and residuals as JSON")
    parser.set_defaults(**CalibrateOptions.cli_defaults())


def run(args: argparse.Namespace) -> int:
    """Calibrate; returns the exit code."""
    from refine.cli.integrate import _quiet_libraries

    with _quiet_libraries(not getattr(args, "debug", False)):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from refine.api.images import calibrate, calibration_report

    result = calibrate(args.image, calibrant=args.calibrant, wavelength=args.wavelength, output=args.output,
                       **options_of(CalibrateOptions, args))
    print(calibration_report(result), file=sys.stdout)
    print(f"refine calibrate: wrote {args.output}", file=sys.stdout)
    print_warnings(result.warnings, "calibrate")
    if result.warnings and getattr(args, "strict", False):
        print(f"refine calibrate: {len(result.warnings)} warning(s) under --strict; result written and flagged",
              file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


COMMANDS.register("calibrate", Command(help="refine the detector geometry on a calibrant image (pyFAI)",
                                       configure=configure, run=run))
