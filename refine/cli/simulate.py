"""``refine simulate PHASES... (--wavelength Å | --instrument PRM) --range LO:HI [--step S] [--noise COUNTS --seed N]
-o OUT.xye``: a powder pattern from structures and an instrument (:func:`refine.api.simulate`)."""

from __future__ import annotations

import argparse

from refine.api.options import SimulateOptions
from refine.cli.main import COMMANDS, EXIT_OK, Command, options_of, parse_range


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine simulate`` (defaults from SimulateOptions)."""
    parser.add_argument("phases", nargs="+", metavar="PHASE",
                        help="structures with atoms: CIF, .stru, GSAS .EXP, or a supercell (POSCAR, .xyz, .cfg)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--wavelength", type=float, metavar="A", help="monochromatic synchrotron wavelength in A")
    src.add_argument("--instrument", metavar="PRM", help="GSAS .prm or GSAS-II .instprm instrument file")
    parser.add_argument("--range", type=parse_range, required=True, metavar="LO:HI", help="2theta range in deg")
    parser.add_argument("--step", type=float, help="2theta step in deg (default 0.01)")
    parser.add_argument("--fwhm", type=float, help="Gaussian peak width in deg with --wavelength (default 0.05)")
    parser.add_argument("--background", type=float, help="flat background in counts (default 0)")
    parser.add_argument("--noise", type=float, metavar="COUNTS",
                        help="counts at the strongest peak, with Poisson noise on every point (default: no noise, "
                             "strongest peak 1000)")
    parser.add_argument("--seed", type=int, help="random seed of the noise (reproducible patterns)")
    parser.add_argument("--no-dispersion", action="store_true", help="X-ray form factors without f', f''")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.xye", help="pattern file to write")
    parser.set_defaults(**SimulateOptions.cli_defaults())


def run(args: argparse.Namespace) -> int:
    """Simulate through :func:`refine.api.simulate` and say what was written."""
    from refine.api.simulation import simulate

    pattern = simulate(args.phases, wavelength=args.wavelength, instrument=args.instrument,
                       **options_of(SimulateOptions, args))
    print(f"refine simulate: {len(pattern)} points, 2theta {pattern.x[0]:g} to {pattern.x[-1]:g} deg, "
          f"wavelength {pattern.wavelength} A -> {args.output}")
    return EXIT_OK


COMMANDS.register("simulate", Command(help="simulate a powder pattern from structures and an instrument",
                                      configure=configure, run=run))
