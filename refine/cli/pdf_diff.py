"""``refine pdf diff A.gr B.gr -o DIFF.gr``: the differential PDF ΔG = G_B − G_A (e.g. two charge states).

B is interpolated onto A's r grid (cubic spline; G is band-limited), dG propagated where the files carry it
(:func:`refine.pdf.difference.difference_pattern`). Fitting ΔG with a model difference (state B's parameters refined
against state A's fixed fit) is :func:`refine.pdf.difference.difference_dataset` in the Python API.
"""

from __future__ import annotations

import argparse

from refine.cli.main import EXIT_OK, Command
from refine.cli.pdf import PDF_COMMANDS


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine pdf diff``."""
    parser.add_argument("first", metavar="A.gr", help="reference G(r) (state A)")
    parser.add_argument("second", metavar="B.gr", help="G(r) of state B")
    parser.add_argument("-o", "--output", required=True, metavar="DIFF.gr", help="ΔG = G_B − G_A on A's r grid")
    parser.add_argument("--rmin", type=float, default=None, help="keep r >= RMIN (A)")
    parser.add_argument("--rmax", type=float, default=None, help="keep r <= RMAX (A)")
    parser.add_argument("--plot", metavar="OUT.png", help="G_A, G_B and ΔG in one figure")


def run(args: argparse.Namespace) -> int:
    """Compute, write and optionally plot ΔG through :func:`refine.api.pdf.pdf_diff`."""
    from refine.api.pdf import pdf_diff

    delta = pdf_diff(args.first, args.second, output=args.output, rmin=args.rmin, rmax=args.rmax, plot=args.plot)
    print(f"wrote {args.output} ({len(delta)} points, r {delta.x[0]:g}-{delta.x[-1]:g} A)")
    if args.plot:
        print(f"wrote {args.plot}")
    return EXIT_OK


PDF_COMMANDS.register("diff", Command(help="differential PDF G_B - G_A of two G(r) files", configure=configure,
                                      run=run))
