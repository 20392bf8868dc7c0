"""``refine rietveld``: Rietveld refinement of one or more phases from CIFs (CONVENTIONS.md)."""

from __future__ import annotations

import argparse

from refine.api import parsing
from refine.api.options import RIETVELD_REFINE as DEFAULT
from refine.api.options import RietveldCommandOptions
from refine.cli.main import COMMANDS, Command, argument_type, fit_exit_code, options_of, parse_range
from refine.cli.powder import (
    add_phase_arguments,
    add_powder_arguments,
    add_reflection_arguments,
    print_fit,
    print_written,
)
from refine.errors import InputError
from refine.notation import format_percent

_hkl = argument_type(parsing.parse_hkl)
_restraint = argument_type(parsing.parse_restraint)
_bond = argument_type(parsing.parse_bond)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine rietveld``."""
    parser.add_argument("pattern", metavar="PATTERN", help="powder pattern in 2theta (.xye, .xy, .gsas, .XRA ...)")
    add_phase_arguments(parser, cif_only=True)
    add_powder_arguments(parser)
    add_reflection_arguments(parser)
    parser.add_argument("--refine",
                        help="comma list of groups (scale cell zero shift U V W X Y size strain profile positions "
                             "adp occupancy po texture absorption roughness SH_L ...) or parameter names; "
                             f"default {DEFAULT}")
    parser.add_argument("--no-dispersion", action="store_true", help="X-ray form factors without f', f''")
    parser.add_argument("--po-axis", type=_hkl, default=(0.0, 0.0, 1.0), metavar='"h k l"',
                        help="March-Dollase axis (refine group 'po'; default 0 0 1)")
    parser.add_argument("--texture", type=int, default=0, metavar="ORDER",
                        help="spherical-harmonics texture up to this even order (refine group 'texture')")
    parser.add_argument("--bonds", metavar="SITE", help="print bond lengths and angles around this site label")
    parser.add_argument("--restrain", type=_restraint, action="append", default=[], metavar="EXPR=TARGET:SIGMA",
                        help="soft restraint on an lmfit expression of the parameters, e.g. "
                             "'nvp_Na1_occ+nvp_Na2_occ=3.2:0.01' (repeatable)")
    parser.add_argument("--restrain-bond", type=_bond, action="append", default=[], metavar="SITE1-SITE2=D:SIGMA",
                        help="bond-distance restraint between two site labels of one phase (A), weight 1/SIGMA^2 "
                             "(repeatable)")
    pdf = parser.add_argument_group(
        "co-refinement with a PDF", "refine the (single) phase against PATTERN and a G(r) at once: one cell, one set "
        "of coordinates and ADPs; the PDF has its own scale and delta2 (refine.bragg_pdf)")
    pdf.add_argument("--pdf", metavar="GR", help="observed G(r) of the same sample")
    pdf.add_argument("--pdf-qmax", type=float, help="Qmax of that G(r) (1/A; required with --pdf)")
    pdf.add_argument("--pdf-qdamp", type=float, default=0.0, help="its instrument Qdamp (1/A, fixed; default 0)")
    pdf.add_argument("--pdf-rmin", type=float, default=None, help="G(r) fit range start (A)")
    pdf.add_argument("--pdf-rmax", type=float, default=None, help="G(r) fit range end (A)")
    pdf.add_argument("--pdf-weight", type=float, default=1.0, help="weight of the G(r) residuals (default 1)")
    joint = parser.add_argument_group(
        "joint refinement", "more patterns (e.g. neutron with X-ray) refined together against the same structures; "
        "the structure groups of --refine (cell positions adp uiso occupancy) are shared, the others (scale, zero, "
        "profile ...) belong to PATTERN; parameters of the patterns are prefixed x_, n_ (x2_ ...) by radiation")
    joint.add_argument("--joint", action="append", default=[], metavar="PATTERN2", help="another pattern (repeatable)")
    joint.add_argument("--joint-instrument", action="append", default=[], metavar="PRM",
                       help="instrument file of each --joint pattern, in order (required)")
    joint.add_argument("--joint-range", type=parse_range, action="append", default=[], metavar="LO:HI",
                       help="fit range of each --joint pattern, in order (default: whole pattern)")
    joint.add_argument("--joint-refine", action="append", default=[], metavar="LIST",
                       help="per-pattern groups of each --joint pattern (default scale,zero,W,X,Y; 'hstrain' adds "
                            "hydrostatic strain for a wavelength mismatch)")
    parser.add_argument("--cif-out", metavar="OUT.cif",
                        help="write the refined structure(s) with esds (one file per phase: OUT.cif, OUT.2.cif ...)")
    parser.set_defaults(**RietveldCommandOptions.cli_defaults())


def run(args: argparse.Namespace) -> int:
    """Parse, fit through :func:`refine.api.rietveld`, print; exit 0 (converged) or 3 (not converged)."""
    from refine.api.rietveld_fit import rietveld

    if not args.phase:
        raise InputError("--phase", "give at least one --phase CIF")
    options = options_of(RietveldCommandOptions, args)
    RietveldCommandOptions.from_options(options)  # option errors before reading any file
    if args.bonds:
        from refine.api.io import read_structure

        _check_site([read_structure(path) for path in args.phase], args.bonds)
    result = rietveld(args.pattern, list(args.phase), wavelength=args.wavelength, instrument=args.instrument,
                      **options)
    if args.joint or args.joint_instrument or args.joint_range or args.joint_refine:
        lines = [f"  {name}: Rwp {format_percent(st.Rwp)}  GOF {st.GOF:.3f}"
                 for name, st in result.dataset_statistics.items()]
        print_fit(result, lines=lines, phase_suffix=lambda ph: "  R_Bragg " + " ".join(
            f"{h}={format_percent(v['R_Bragg'])}" for h, v in ph.extra["histograms"].items()))
        print_written(result)
        return fit_exit_code(result, "rietveld --joint", strict=args.strict)
    if args.pdf or args.pdf_qmax is not None:
        stats = result.dataset_statistics
        print_fit(result, lines=[f"  pattern: Rwp {format_percent(stats['pattern'].Rwp)}  GOF "
                                 f"{stats['pattern'].GOF:.3f};  G(r): Rw {format_percent(stats['gr'].Rw)}"])
        print_written(result)
        return fit_exit_code(result, "rietveld --pdf", strict=args.strict)
    print_fit(result)
    if args.bonds:
        _print_bonds(result.extra["structures"].values(), args.bonds)
    print_written(result)
    return fit_exit_code(result, "rietveld", strict=args.strict)


def _check_site(structures, label: str) -> None:
    if not any(site.label == label for structure in structures for site in structure.sites):
        raise InputError("--bonds", f"no site labelled {label!r} in any phase")


def _print_bonds(structures, label: str) -> None:
    """Bond lengths and angles around the site ``label`` in every phase that has it."""
    from refine.crystal.positions import bond_table

    structures = list(structures)
    _check_site(structures, label)
    for structure in structures:
        if any(site.label == label for site in structure.sites):
            table = bond_table(structure, label)
            for bond in table["bonds"]:
                print(f"  {label}-{bond['to']}  {bond['distance']:.4f} A")
            for angle in table["angles"]:
                print(f"  {'-'.join(angle['atoms'])}  {angle['angle']:.2f} deg")


COMMANDS.register("rietveld", Command(help="Rietveld refinement of one or more phases from CIFs",
                                      configure=configure, run=run))
