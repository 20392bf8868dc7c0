"""``refine pdf fit GR --phase STRUCT[,fixed] ... --qmax Q``: real-space fit of one or more phases."""

from __future__ import annotations

import argparse

from refine.api import parsing
from refine.api.options import PdfFitOptions
from refine.cli.main import CONSTRAIN_HELP, Command, argument_type, fit_exit_code, options_of, parse_constraint
from refine.cli.pdf import PDF_COMMANDS
from refine.cli.powder import print_fit, print_written

_phase = argument_type(parsing.parse_pdf_phase_spec)


def add_pdf_fit_arguments(parser: argparse.ArgumentParser, *, qmax_required: bool = True,
                          constrain: bool = True) -> list[argparse.Action]:
    """The G(r) fit settings (Qmax, radiation, Qdamp/Qbroad, r range, what is refined), shared by ``refine pdf fit``
    and ``refine sequential --kind pdf`` (``parser`` may be an argument group);
    ``refine.api.pdf.pdf_fit_settings`` turns them into ``PDFFitSettings``. ``constrain=False`` leaves
    ``--constrain`` to a caller that defines it already. Returns the added actions."""
    add = parser.add_argument
    actions = [
        add("--qmax", type=float, required=qmax_required, default=None, help="Qmax of the Fourier transform (1/A)"),
        add("--radiation", choices=("xray", "neutron"), default="xray", help="default xray"),
        add("--qdamp", type=float, default=0.0, help="instrument Q damping, fixed (1/A, default 0)"),
        add("--qbroad", type=float, default=0.0, help="instrument Q broadening, fixed (1/A, default 0)"),
        add("--refine-qdamp", action="store_true",
            help="refine Qdamp (calibration on a standard such as bulk Ni; starts at --qdamp, or 0.04 if 0)"),
        add("--refine-qbroad", action="store_true", help="refine Qbroad (starts at --qbroad, or 0.01 if 0)"),
        add("--pdfgui-range", action="store_true",
            help="calculate G(r) on the fit range only, as PDFgui does (default: from 6*2pi/Qmax below --rmin, "
                 "as PDFfit2 given the whole file and srreal do; the first ~6*2pi/Qmax A differ)"),
        add("--envelope", choices=("sphere",), default=None,
            help="refine a spherical particle diameter for every phase"),
        add("--spdiameter", type=float, default=50.0, help="start of the particle diameter (A)"),
        add("--sharpening", choices=("delta1", "delta2", "none"), default="delta2",
            help="correlated-motion term refined per phase (default delta2)"),
        add("--sratio", type=float, default=1.0,
            help="PDFfit2 low-r sharpening: peak-width ratio of pairs closer than --rcut (start value; default 1)"),
        add("--rcut", type=float, default=0.0, help="distance below which --sratio applies (A; default 0 = off)"),
        add("--refine-sratio", action="store_true", help="refine sratio of every phase (needs --rcut)"),
        add("--free-scales", action="store_true",
            help="several phases: refine each scale freely (default: scales sum to 1, data scale refined)"),
        add("--rmin", type=float, default=None, help="fit range start (A; default first point)"),
        add("--rmax", type=float, default=None, help="fit range end (A; default last point)"),
        add("--refine-structure", action="store_true",
            help="refine the full cell (crystal system), free atomic coordinates and ADPs of every phase not marked "
                 "',fixed' (exact pair sum each evaluation: for small crystalline cells)"),
    ]
    if constrain:
        actions.append(add("--constrain", type=parse_constraint, action="append", default=[], metavar="NAME=EXPR",
                           help=CONSTRAIN_HELP))
    return actions


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine pdf fit``."""
    parser.add_argument("input", metavar="GR", help="observed G(r) (.gr: r, G[, dG])")
    parser.add_argument("--phase", dest="phases", type=_phase, action="append", required=True,
                        metavar="STRUCT[,fixed]", help="CIF, .stru, GSAS .EXP, or a supercell as VASP POSCAR/CONTCAR, "
                        "extended .xyz or AtomEye .cfg; ',fixed' keeps atomic positions fixed "
                        "(one Uiso per species, isotropic lattice scale); an MD trajectory (extended .xyz, XDATCAR, "
                        "LAMMPS dump) as TRAJ,fixed,frames=START:STOP:STEP is averaged over those frames; "
                        "repeat for more phases")
    add_pdf_fit_arguments(parser)
    parser.add_argument("--max-nfev", type=int, default=None, help="limit on model evaluations")
    parser.add_argument("--cif-out", metavar="OUT.cif",
                        help="with --refine-structure: write the refined structure(s) (OUT.cif, OUT.2.cif ...)")
    parser.add_argument("--json", metavar="OUT.json", help="result file (refine.result/1)")
    parser.add_argument("--plot", metavar="OUT.png", help="obs/calc/difference figure with phases and partials")
    parser.set_defaults(**PdfFitOptions.cli_defaults())


def run(args: argparse.Namespace) -> int:
    """Fit through :func:`refine.api.pdf_fit`, print the report and the files written."""
    from refine.api.pdf import pdf_fit

    options = options_of(PdfFitOptions, args)
    result = pdf_fit(args.input, list(args.phases), qmax=args.qmax, **options)
    print_fit(result)
    print_written(result, verb="wrote")
    return fit_exit_code(result, "pdf fit", strict=args.strict)


PDF_COMMANDS.register("fit", Command(help="real-space fit of G(r) with one or more phases (PDFfit2 model)",
                                     configure=configure, run=run))
