"""``refine pdf fit GR --phase STRUCT[,fixed] ... --qmax Q``: real-space fit of one or more phases."""

from __future__ import annotations

import argparse
import itertools
import math
import os
from typing import TYPE_CHECKING

from refine.cli.format import phase_line
from refine.cli.main import CONSTRAIN_HELP, Command, fit_exit_code, parse_constraint
from refine.cli.pdf import PDF_COMMANDS
from refine.errors import InputError

if TYPE_CHECKING:
    from refine.pdf.fitting import PDFFitSettings


def _phase(text: str) -> tuple[str, bool]:
    path, _, flag = text.partition(",")
    flag = flag.strip().lower()
    if flag not in ("", "fixed") or not path:
        raise argparse.ArgumentTypeError(f"expected STRUCT or STRUCT,fixed, got {text!r}")
    return path, flag == "fixed"


def add_pdf_fit_arguments(parser: argparse.ArgumentParser, *, qmax_required: bool = True,
                          constrain: bool = True) -> list[argparse.Action]:
    """The G(r) fit settings (Qmax, radiation, Qdamp/Qbroad, r range, what is refined), shared by ``refine pdf fit``
    and ``refine sequential --kind pdf`` (``parser`` may be an argument group); :func:`pdf_fit_settings` turns them
    into ``PDFFitSettings``. ``constrain=False`` leaves ``--constrain`` to a caller that defines it already.
    Returns the added actions (their dests and defaults tell which were given)."""
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


def pdf_fit_settings(args: argparse.Namespace) -> PDFFitSettings:
    """``PDFFitSettings`` from the options of :func:`add_pdf_fit_arguments`."""
    from refine.pdf.fitting import PDFFitSettings

    if not (args.spdiameter > 0 and math.isfinite(args.spdiameter)):
        raise InputError("--spdiameter", f"a particle diameter must be > 0 A, got {args.spdiameter}")
    return PDFFitSettings(qmax=args.qmax, radiation=args.radiation, qdamp=args.qdamp, qbroad=args.qbroad,
                          rmin=args.rmin, rmax=args.rmax, sharpening=args.sharpening,
                          spdiameter=args.spdiameter if args.envelope == "sphere" else None,
                          constrain_scales=not args.free_scales, refine_qdamp=args.refine_qdamp,
                          refine_qbroad=args.refine_qbroad, extend_below=not args.pdfgui_range,
                          constraints=tuple(args.constrain))


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine pdf fit``."""
    parser.add_argument("input", metavar="GR", help="observed G(r) (.gr: r, G[, dG])")
    parser.add_argument("--phase", dest="phases", type=_phase, action="append", required=True,
                        metavar="STRUCT[,fixed]", help="CIF, .stru, GSAS .EXP, or a supercell as VASP POSCAR/CONTCAR, "
                        "extended .xyz or AtomEye .cfg; ',fixed' keeps atomic positions fixed "
                        "(one Uiso per species, isotropic lattice scale); repeat for more phases")
    add_pdf_fit_arguments(parser)
    parser.add_argument("--max-nfev", type=int, default=None, help="limit on model evaluations")
    parser.add_argument("--cif-out", metavar="OUT.cif",
                        help="with --refine-structure: write the refined structure(s) (OUT.cif, OUT.2.cif ...)")
    parser.add_argument("--json", metavar="OUT.json", help="result file (refine.result/1)")
    parser.add_argument("--plot", metavar="OUT.png", help="obs/calc/difference figure with phases and partials")


def _partials(fm, params) -> dict:
    """Element-pair partial PDFs of every pair-table phase (skipped beyond 12 curves: unreadable)."""
    from refine.pdf.calculate import partial_gr
    from refine.pdf.crystal import CrystalPhase
    from refine.pdf.pairs import element_of

    out = {}
    for ph in fm.phases:
        if isinstance(ph, CrystalPhase):  # partials come from pair tables; crystalline phases have none
            continue
        elements = sorted({element_of(e) for e in ph.table.class_element})
        settings = ph.settings(params, fm.settings.experiment)
        for e1, e2 in itertools.combinations_with_replacement(elements, 2):
            out[f"{ph.prefix} {e1}-{e2}"] = (ph, e1, e2, settings)
    if len(out) > 12:
        return {}
    return {k: partial_gr(fm.table(ph, s), fm.grid, s, e1, e2)[fm.lead:] for k, (ph, e1, e2, s) in out.items()}


def run(args: argparse.Namespace) -> int:
    """Fit, print the report, write the result file and figure."""
    from dataclasses import replace

    from refine.fit import run_fit, write_result
    from refine.fit.objective import Objective
    from refine.io.paths import check_outputs
    from refine.io.patterns import read_pattern
    from refine.pdf.fitting import PDF_FIT_OPTIONS, PhaseInput, build_model, finish_result
    from refine.pdf.start import search_lattice

    check_outputs(files={"--json": args.json, "--plot": args.plot, "--cif-out": args.cif_out})
    fit_options = replace(PDF_FIT_OPTIONS, max_nfev=args.max_nfev)
    if not os.path.isfile(args.input):
        raise InputError(args.input, "file not found")
    pattern = read_pattern(args.input)
    if pattern.unit != "r_A":
        raise InputError(args.input, f"read as {pattern.unit}, not G(r): give the file a .gr extension")
    settings = pdf_fit_settings(args)
    inputs = [PhaseInput.load(path, fixed=fixed, refine_structure=args.refine_structure and not fixed)
              for path, fixed in args.phases]
    fm = search_lattice(build_model(pattern, inputs, settings))
    raw = run_fit(Objective.single(fm.dataset()), fm.params, kind="pdf", options=fit_options)
    result = finish_result(raw, fm)
    print(result.report(warnings=False))
    for ph in result.phases:
        print(phase_line(ph))
    if args.json:
        run_settings = {k: v for k, v in vars(args).items() if not k.startswith("_") and not callable(v)}
        write_result(result, args.json, data=args.input, settings=run_settings)
        print(f"wrote {args.json}")
    if args.plot:
        from refine.plot.pdf import plot_pdf_fit

        plot_pdf_fit(result, args.plot, partials=_partials(fm, result.params), title=os.path.basename(args.input))
        print(f"wrote {args.plot}")
    if args.cif_out:
        from pathlib import Path

        from refine.io.structures import write_cif

        out = Path(args.cif_out)
        for k, structure in enumerate(result.extra.get("structures", {}).values()):
            path = out if k == 0 else out.with_name(f"{out.stem}.{k + 1}{out.suffix}")
            write_cif(structure, path)
            print(f"wrote {path}")
    return fit_exit_code(result, "pdf fit", strict=args.strict)


PDF_COMMANDS.register("fit", Command(help="real-space fit of G(r) with one or more phases (PDFfit2 model)",
                                     configure=configure, run=run))
