"""``refine identify PATTERN --library FOLDER [--elements Na,Sn] (--instrument PRM | --wavelength A)``: which
library phases make up a powder pattern (search–match), then a Rietveld fit of the best mixture with weight
fractions (:func:`refine.api.phase_search.identify`)."""

from __future__ import annotations

import argparse

from refine.api.options import IdentifyOptions
from refine.cli.main import COMMANDS, EXIT_OK, Command, options_of, parse_range


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine identify`` (defaults from IdentifyOptions)."""
    parser.add_argument("pattern", metavar="PATTERN", help="powder pattern in 2theta (.xye, .xy, GSAS, Bruker .raw)")
    parser.add_argument("--library", required=True, metavar="FOLDER",
                        help="folder of structure files (CIF, .stru, .EXP), searched recursively; indexed once and "
                             "cached")
    parser.add_argument("--elements", metavar="A,B,...", help="only phases made of these elements")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--wavelength", type=float, metavar="A", help="monochromatic wavelength in A")
    src.add_argument("--instrument", metavar="PRM",
                     help="GSAS .prm or GSAS-II .instprm instrument file (lab Kalpha1/Kalpha2 and profile)")
    parser.add_argument("--index", metavar="FILE.npz", help="cache file of the library index (default: in "
                                                            "$REFINE_CACHE or ~/.cache/refine/phase-index)")
    parser.add_argument("--max-phases", metavar="N", help="largest mixture tried (default 4)")
    parser.add_argument("--strain", type=float, help="lattice scales 1 +- STRAIN are searched (default 0.02)")
    parser.add_argument("--range", type=parse_range, metavar="LO:HI", help="2theta range used, in deg")
    parser.add_argument("--fit", choices=("rietveld", "lebail", "none"),
                        help="fit of the best mixture (default rietveld: weight fractions)")
    parser.add_argument("--top", metavar="N", help="rows of the ranked table printed (default 10)")
    parser.add_argument("--json", metavar="OUT.json", help="write the ranked table and the fit")
    parser.set_defaults(**IdentifyOptions.cli_defaults())


def run(args: argparse.Namespace) -> int:
    """Search, fit, print the ranked table and the weight fractions."""
    from refine.api.phase_search import identify

    result = identify(args.pattern, wavelength=args.wavelength, instrument=args.instrument,
                      **options_of(IdentifyOptions, args))
    search = result.search
    print(f"refine identify: {result.library['entries']} library phases compared; the mixture of "
          f"{len(search.mixture)} explains {100 * search.explained:.1f}% of the signal")
    for path, reason in result.library["skipped"]:
        print(f"  skipped {path}: {reason}")
    print(search.table(rows=args.top))
    if result.fit is not None:
        print()
        print(result.fit.report())
    return EXIT_OK


COMMANDS.register("identify", Command(help="search-match a powder pattern against a library of CIFs, then fit the "
                                            "best mixture", configure=configure, run=run))
