"""``refine rietveld``: Rietveld refinement of one or more phases from CIFs (CONVENTIONS.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from refine.cli.format import phase_line
from refine.cli.main import COMMANDS, Command, fit_exit_code, parse_range, split_list
from refine.cli.powder import (
    add_phase_arguments,
    add_powder_arguments,
    add_reflection_arguments,
    check_reflection_arguments,
    instrument_for,
    plot_powder_fit,
    powder_options,
    write_hkl,
)
from refine.errors import InputError
from refine.notation import format_percent

DEFAULT = "scale,cell,zero,W,X,Y,positions,adp"


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine rietveld``."""
    parser.add_argument("pattern", metavar="PATTERN", help="powder pattern in 2theta (.xye, .xy, .gsas, .XRA ...)")
    add_phase_arguments(parser, cif_only=True)
    add_powder_arguments(parser)
    add_reflection_arguments(parser)
    parser.add_argument("--refine", default=DEFAULT,
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


def _hkl(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        values = ()
    if len(values) != 3 or not any(values):
        raise argparse.ArgumentTypeError(f"expected three numbers 'h k l' (not all zero), got {text!r}")
    return values


def _target(text: str, what: str) -> tuple[str, float, float]:
    left, sep, right = text.rpartition("=")
    target, colon, sigma = right.partition(":")
    try:
        values = float(target), float(sigma)
    except ValueError:
        values = ()
    if not sep or not left.strip() or not colon or len(values) != 2 or not values[1] > 0:
        raise argparse.ArgumentTypeError(f"expected {what}=TARGET:SIGMA with SIGMA > 0, got {text!r}")
    return left.strip(), values[0], values[1]


def _restraint(text: str) -> tuple[str, float, float]:
    return _target(text, "EXPR")


def _bond(text: str) -> tuple[tuple[str, str], float, float]:
    pair, target, sigma = _target(text, "SITE1-SITE2")
    first, dash, second = pair.partition("-")
    if not dash or not first.strip() or not second.strip():
        raise argparse.ArgumentTypeError(f"expected SITE1-SITE2=D:SIGMA, got {text!r}")
    return (first.strip(), second.strip()), target, sigma


def restraints_for(args: argparse.Namespace, phases: list) -> tuple:
    """Restraint rows from --restrain and --restrain-bond (bond labels looked up in the phases)."""
    from refine.fit import Restraint
    from refine.fit.parameters import StructureParameters, bond_restraint
    from refine.powder.model import phase_prefix

    try:
        out = [Restraint(expr=expr, target=target, sigma=sigma) for expr, target, sigma in args.restrain]
    except InputError as err:
        raise InputError("--restrain", err.problem) from None
    for (a, b), target, sigma in args.restrain_bond:
        owners = [ph for ph in phases if {a, b} <= {site.label for site in ph.sites}]
        if len(owners) != 1:
            where = "no phase has" if not owners else "several phases have"
            raise InputError("--restrain-bond", f"{where} both sites {a!r} and {b!r}")
        sp = StructureParameters(owners[0], phase_prefix(owners[0].name))
        out.append(bond_restraint(sp, sp.parameters(), (a, b), target, sigma))
    return tuple(out)


def _check_restraints(restraints: tuple, params) -> None:
    """Every restraint expression evaluates with the starting parameters (a typo is bad input, not a crash)."""
    from refine.fit.objective import restraint_rows

    try:
        restraint_rows(restraints, params)
    except InputError as err:
        raise InputError("--restrain", err.problem) from None


def _phases(args: argparse.Namespace) -> list:
    from refine.io.structures import read_structure

    if not args.phase:
        raise InputError("--phase", "give at least one --phase CIF")
    phases = []
    for path in args.phase:
        structure = read_structure(path)
        if not structure.sites:
            raise InputError(path, "the structure has no atoms: Rietveld needs them (use refine lebail)")
        phases.append(structure if structure.name else structure.replace(name=Path(path).stem))
    return phases


def run(args: argparse.Namespace) -> int:
    """Read, fit, report, write; exit 0 (converged) or 3 (not converged)."""
    from refine.crystal.positions import bond_table
    from refine.fit import write_result
    from refine.io import read_powder_pattern
    from refine.io.paths import check_outputs
    from refine.io.structures import write_cif
    from refine.powder.rietveld import fit_rietveld

    check_reflection_arguments(args)
    check_outputs(files={"--json": args.json, "--plot": args.plot, "--cif-out": args.cif_out, "--hkl": args.hkl})
    pattern = read_powder_pattern(args.pattern, bank=args.bank)
    phases = _phases(args)
    instrument, notes = instrument_for(args, pattern)
    options = powder_options(args, instrument, pattern)
    refine = list(split_list(args.refine))
    if args.joint or args.joint_instrument or args.joint_range or args.joint_refine:
        if args.pdf:
            raise InputError("--pdf", "co-refinement with a PDF and --joint patterns cannot be combined yet")
        return _run_joint(args, pattern, phases, instrument, options, refine, notes)
    if args.pdf or args.pdf_qmax is not None:
        return _run_bragg_pdf(args, pattern, phases, instrument, options, refine, notes)
    restraints = restraints_for(args, phases)
    if restraints:
        from refine.powder.model import PowderModel
        from refine.powder.rietveld import RietveldEngine

        _check_restraints(restraints, RietveldEngine(PowderModel(pattern, phases, instrument, options=options))
                          .parameters())
    result = fit_rietveld(pattern, phases, instrument, refine=refine, options=options,
                          rietveld=_rietveld_options(args, restraints))
    for note in notes:
        print(note)
    print(result.report(warnings=False))
    for ph in result.phases:
        print(phase_line(ph))
    structures = result.extra["structures"]
    if args.bonds:
        found = False
        for structure in structures.values():
            if any(site.label == args.bonds for site in structure.sites):
                found = True
                table = bond_table(structure, args.bonds)
                for bond in table["bonds"]:
                    print(f"  {args.bonds}-{bond['to']}  {bond['distance']:.4f} A")
                for angle in table["angles"]:
                    print(f"  {'-'.join(angle['atoms'])}  {angle['angle']:.2f} deg")
        if not found:
            raise InputError("--bonds", f"no site labelled {args.bonds!r} in any phase")
    settings = {"command": "rietveld", "phases": args.phase, "wavelength": args.wavelength,
                "instrument": args.instrument, "range": args.range, "exclude": args.exclude, "refine": refine,
                "background": str(options.background), "dispersion": not args.no_dispersion,
                "po_axis": list(args.po_axis), "texture_order": args.texture, "notes": notes}
    if args.json:
        write_result(result, args.json, data=args.pattern, settings=settings)
        print(f"result: {args.json}")
    if args.cif_out:
        out = Path(args.cif_out)
        for i, structure in enumerate(structures.values()):
            path = out if i == 0 else out.with_name(f"{out.stem}.{i + 1}{out.suffix}")
            write_cif(structure, path)
            print(f"structure: {path}")
    if args.hkl:
        write_hkl(result, args.hkl)
    if args.plot:
        plot_powder_fit(result, args.plot, instrument, hkl_labels=args.plot_hkl)
    return fit_exit_code(result, "rietveld", strict=args.strict)


def _rietveld_options(args: argparse.Namespace, restraints: tuple = ()):
    from refine.powder.rietveld import RietveldOptions

    return RietveldOptions(dispersion=not args.no_dispersion, po_axis=args.po_axis, texture_order=args.texture,
                           restraints=restraints)


def _run_bragg_pdf(args, pattern, phases, instrument, options, refine, notes) -> int:
    """Rietveld of PATTERN and a real-space fit of --pdf, one structure (refine.bragg_pdf)."""
    import os

    from refine.bragg_pdf import fit_bragg_pdf
    from refine.fit import write_result
    from refine.io import read_pattern
    from refine.io.structures import write_cif
    from refine.pdf.fitting import PDFFitSettings

    if not args.pdf:
        raise InputError("--pdf-qmax", "goes with --pdf GR")
    if args.pdf_qmax is None:
        raise InputError("--pdf-qmax", "--pdf needs the Qmax of its G(r)")
    if len(phases) != 1:
        raise InputError("--phase", f"co-refinement with a PDF takes one phase, got {len(phases)}")
    if not args.pdf_qdamp >= 0:
        raise InputError("--pdf-qdamp", f"must be >= 0 (a Q resolution), got {args.pdf_qdamp}")
    if not os.path.isfile(args.pdf):
        raise InputError(args.pdf, "file not found")
    gr = read_pattern(args.pdf)
    if gr.unit != "r_A":
        raise InputError(args.pdf, f"read as {gr.unit}, not G(r): give the file a .gr extension")
    settings = PDFFitSettings(qmax=args.pdf_qmax, radiation=instrument.radiation, qdamp=args.pdf_qdamp,
                              rmin=args.pdf_rmin, rmax=args.pdf_rmax)
    result = fit_bragg_pdf(pattern, gr, phases[0], instrument, pdf=settings, refine=refine, options=options,
                           rietveld=_rietveld_options(args, restraints_for(args, phases)),
                           pdf_weight=args.pdf_weight)
    for note in notes:
        print(note)
    print(result.report(warnings=False))
    stats = result.dataset_statistics
    print(f"  pattern: Rwp {format_percent(stats['pattern'].Rwp)}  GOF {stats['pattern'].GOF:.3f};  "
          f"G(r): Rw {format_percent(stats['gr'].Rw)}")
    ph = result.phases[0]
    print(phase_line(ph))
    if args.json:
        write_result(result, args.json, data=args.pattern,
                     settings={"command": "rietveld", "pdf": args.pdf, "pdf_qmax": args.pdf_qmax,
                               "pdf_qdamp": args.pdf_qdamp, "pdf_weight": args.pdf_weight, "phases": args.phase,
                               "refine": list(refine), "notes": notes})
        print(f"result: {args.json}")
    if args.cif_out:
        write_cif(result.extra["structure"], args.cif_out)
        print(f"structure: {args.cif_out}")
    if args.hkl:
        write_hkl(result, args.hkl)
    if args.plot:
        from refine.plot import plot_fit

        plot_fit(result, args.plot, title=f"Rietveld + PDF: {ph['name']}", hkl_labels=args.plot_hkl)
        print(f"figure: {args.plot}")
    return fit_exit_code(result, "rietveld --pdf", strict=args.strict)


def _prefixes(radiations: list[str]) -> list[str]:
    out = []
    for rad in radiations:
        base = "n" if rad == "neutron" else "x"
        name, k = f"{base}_", 2
        while name in out:
            name, k = f"{base}{k}_", k + 1
        out.append(name)
    return out


def _run_joint(args, pattern, phases, instrument, options, refine, notes) -> int:
    """Joint Rietveld of PATTERN and the --joint patterns (refine.powder.joint)."""
    from dataclasses import replace

    from refine.fit import write_result
    from refine.io import read_powder_pattern
    from refine.io.instprm import read_instrument
    from refine.io.structures import write_cif
    from refine.powder.joint import SHARED_GROUPS, HistogramOptions, fit_rietveld_joint

    n = len(args.joint)
    if n == 0:
        raise InputError("--joint", "the --joint-* options need at least one --joint PATTERN2")
    if len(args.joint_instrument) != n:
        raise InputError("--joint-instrument", f"give one per --joint pattern ({n}), got {len(args.joint_instrument)}")
    for option, given in (("--joint-range", args.joint_range), ("--joint-refine", args.joint_refine)):
        if given and len(given) != n:
            raise InputError(option, f"give none or one per --joint pattern ({n}), got {len(given)}")
    patterns, instruments = [pattern], [instrument]
    for path, prm in zip(args.joint, args.joint_instrument, strict=True):
        patterns.append(read_powder_pattern(path))
        instruments.append(read_instrument(prm))
    prefixes = _prefixes([inst.radiation for inst in instruments])
    shared = [g for g in refine if g in SHARED_GROUPS]
    own = tuple(g for g in refine if g not in SHARED_GROUPS)
    histograms = [HistogramOptions(prefixes[0], options, refine=own)]
    for i in range(n):
        hist_refine = split_list(args.joint_refine[i] if args.joint_refine else "scale,zero,W,X,Y")
        hist_options = replace(options, fit_range=args.joint_range[i] if args.joint_range else None,
                               exclusions=())
        histograms.append(HistogramOptions(prefixes[i + 1], hist_options, refine=hist_refine))
    result = fit_rietveld_joint(patterns, phases, instruments, histograms=histograms, refine=shared,
                                rietveld=_rietveld_options(args))
    for note in notes:
        print(note)
    print(result.report(warnings=False))
    for name, st in result.dataset_statistics.items():
        print(f"  {name}: Rwp {format_percent(st.Rwp)}  GOF {st.GOF:.3f}")
    for ph in result.phases:
        print(phase_line(ph) + "  R_Bragg " + " ".join(f"{h}={format_percent(v['R_Bragg'])}"
                                                       for h, v in ph["histograms"].items()))
    if args.json:
        settings = {"command": "rietveld", "phases": args.phase, "patterns": [args.pattern, *args.joint],
                    "instruments": [args.instrument or args.wavelength, *args.joint_instrument],
                    "prefixes": prefixes, "shared": shared, "refine": [list(h.refine) for h in histograms],
                    "notes": notes}
        write_result(result, args.json, data=args.pattern, settings=settings)
        print(f"result: {args.json}")
    if args.cif_out:
        out = Path(args.cif_out)
        for i, structure in enumerate(result.extra["structures"].values()):
            path = out if i == 0 else out.with_name(f"{out.stem}.{i + 1}{out.suffix}")
            write_cif(structure, path)
            print(f"structure: {path}")
    if args.hkl:
        write_hkl(result, args.hkl)
    if args.plot:
        from refine.plot import plot_fit

        plot_fit(result, args.plot, title="joint Rietveld: " + ", ".join(prefixes), hkl_labels=args.plot_hkl)
        print(f"figure: {args.plot}")
    return fit_exit_code(result, "rietveld --joint", strict=args.strict)


COMMANDS.register("rietveld", Command(help="Rietveld refinement of one or more phases from CIFs",
                                      configure=configure, run=run))
