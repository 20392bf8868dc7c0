"""``refine pdf diff A.gr B.gr -o DIFF.gr``: the differential PDF ΔG = G_B − G_A (e.g. two charge states).

B is interpolated onto A's r grid (cubic spline; G is band-limited), dG propagated where the files carry it
(:func:`refine.pdf.difference.difference_pattern`). Fitting ΔG with a model difference (state B's parameters refined
against state A's fixed fit) is :func:`refine.pdf.difference.difference_dataset` in the Python API.
"""

from __future__ import annotations

import argparse
import os

from refine.cli.main import EXIT_OK, Command
from refine.cli.pdf import PDF_COMMANDS
from refine.errors import InputError


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine pdf diff``."""
    parser.add_argument("first", metavar="A.gr", help="reference G(r) (state A)")
    parser.add_argument("second", metavar="B.gr", help="G(r) of state B")
    parser.add_argument("-o", "--output", required=True, metavar="DIFF.gr", help="ΔG = G_B − G_A on A's r grid")
    parser.add_argument("--rmin", type=float, default=None, help="keep r >= RMIN (A)")
    parser.add_argument("--rmax", type=float, default=None, help="keep r <= RMAX (A)")
    parser.add_argument("--plot", metavar="OUT.png", help="G_A, G_B and ΔG in one figure")


def _read_gr(path: str):
    from refine.io.patterns import read_pattern

    if not os.path.isfile(path):
        raise InputError(path, "file not found")
    pattern = read_pattern(path)
    if pattern.unit != "r_A":
        raise InputError(path, f"read as {pattern.unit}, not G(r): give the file a .gr extension")
    return pattern


def run(args: argparse.Namespace) -> int:
    """Compute, write and optionally plot ΔG."""
    from pathlib import Path

    from refine.io.atomic import sha256_of
    from refine.io.columns import write_columns
    from refine.io.paths import check_outputs
    from refine.pdf.difference import difference_pattern

    check_outputs(files={"-o": args.output, "--plot": args.plot})
    a, b = _read_gr(args.first), _read_gr(args.second)
    delta = difference_pattern(a, b)
    lo = delta.x[0] if args.rmin is None else args.rmin
    hi = delta.x[-1] if args.rmax is None else args.rmax
    delta = delta.crop(lo - 1e-9, hi + 1e-9)
    if len(delta) < 2:
        raise InputError("--rmin/--rmax", f"no points of the difference between {lo:g} and {hi:g} A")
    header = [f"differential PDF: G_B - G_A; A = {args.first} sha256={sha256_of(args.first)}",
              f"B = {args.second} sha256={sha256_of(args.second)} (cubic spline onto A's r grid)",
              f"dG: {'propagated from both files' if delta.has_sigma else 'none (no dG in the inputs)'}"]
    write_columns(delta, Path(args.output), header=header)
    print(f"wrote {args.output} ({len(delta)} points, r {delta.x[0]:g}-{delta.x[-1]:g} A)")
    if args.plot:
        from refine.plot.pdf import plot_difference

        plot_difference(a, b, delta, args.plot)
        print(f"wrote {args.plot}")
    return EXIT_OK


PDF_COMMANDS.register("diff", Command(help="differential PDF G_B - G_A of two G(r) files", configure=configure,
                                      run=run))
