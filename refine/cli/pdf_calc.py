"""``refine pdf calc STRUCT|TRAJ [--frames A:B:C] [--radiation] [--qmax] ... -o OUT.gr``: G(r) without fitting."""

from __future__ import annotations

import argparse

from refine.api.options import PdfCalcOptions
from refine.cli.main import EXIT_OK, Command, options_of
from refine.cli.pdf import PDF_COMMANDS


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine pdf calc``."""
    add = parser.add_argument
    add("structure", metavar="STRUCT", help="CIF, .stru, .EXP, POSCAR, or a trajectory: extended .xyz, XDATCAR, "
                                            "LAMMPS dump (.dump/.lammpstrj, with an element column)")
    add("--frames", metavar="START:STOP:STEP", help="trajectory frames to average (0-based; default all)")
    add("--radiation", choices=("xray", "neutron"), default="xray", help="default xray")
    add("--qmax", type=float, default=0.0, help="Qmax termination (1/A; default 0 = none)")
    add("--qdamp", type=float, default=0.0, help="instrument Q damping (1/A)")
    add("--qbroad", type=float, default=0.0, help="instrument Q broadening (1/A)")
    add("--delta1", type=float, default=0.0, help="correlated-motion sharpening delta1 (A)")
    add("--delta2", type=float, default=0.0, help="correlated-motion sharpening delta2 (A^2)")
    add("--sratio", type=float, default=1.0, help="peak-width ratio of pairs closer than --rcut (PDFfit2)")
    add("--rcut", type=float, default=0.0, help="distance below which --sratio applies (A)")
    add("--envelope", choices=("sphere",), default=None, help="particle-shape envelope (with --spdiameter)")
    add("--spdiameter", type=float, default=None, help="sphere diameter (A)")
    add("--uiso", type=float, default=None, help="Uiso of every atom (A^2; trajectories carry no ADPs)")
    add("--rmin", type=float, default=0.0, help="first r (A, default 0)")
    add("--rmax", type=float, default=30.0, help="last r (A, default 30)")
    add("--rstep", type=float, default=0.01, help="r step (A, default 0.01)")
    add("-o", dest="output", metavar="OUT.gr", help="write r, G to OUT.gr and the partials to OUT.partials.csv")
    add("--plot", metavar="OUT.png", help="figure of the total and partial G(r)")
    add("--descriptors", action="store_true",
        help="also bond lengths, coordination numbers, bond angles and distortion indices over the same frames "
             "(table printed; OUT.descriptors.csv with -o)")
    add("--bond-cutoff", type=float, metavar="A", help="bond cut-off for every species pair (A, default 3.0)")
    add("--bonds", action="append", metavar="A-B:D", help="bond cut-off of one species pair, e.g. V-O:2.4 "
                                                          "(repeatable)")
    parser.set_defaults(**PdfCalcOptions.cli_defaults())


def run(args: argparse.Namespace) -> int:
    """Calculate through :func:`refine.api.calculation.pdf_calc` and say what was written."""
    from refine.api.calculation import pdf_calc

    result = pdf_calc(args.structure, **options_of(PdfCalcOptions, args))
    frames = f", {result.frames} frame(s) {result.frame_range}" if result.frame_range else ""
    print(f"G(r) of {result.source}: {result.natoms} atoms{frames}, r {result.r[0]:g}-{result.r[-1]:g} A, "
          f"max|G| {abs(result.G).max():.4g}; partials: {', '.join(result.partials)}")
    if result.descriptors is not None:
        print(f"local structure over {result.descriptors.frames} frame(s):")
        for row in result.descriptors.table():
            if row["quantity"] in ("bond length (A)", "coordination", "Baur distortion"):
                print(f"  {row['quantity']:<16} {row['name']:<8} mean {row['mean']:.4f}  std {row['std']:.4f}  "
                      f"min {row['min']:.4f}  max {row['max']:.4f}  (n {row['count']})")
    for note in result.notes:
        print(f"note: {note}")
    for path in result.written:
        print(f"wrote {path}")
    return EXIT_OK


PDF_COMMANDS.register("calc", Command(help="G(r) of a structure or an MD trajectory (frame average) without fitting",
                                      configure=configure, run=run))
