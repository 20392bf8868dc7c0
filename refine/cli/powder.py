"""``refine lebail`` and ``refine pawley``: whole-pattern fits of one or more phases (CONVENTIONS.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from refine.cli.format import phase_line
from refine.cli.main import (
    COMMANDS,
    CONSTRAIN_HELP,
    Command,
    fit_exit_code,
    parse_constraint,
    parse_range,
    split_list,
)
from refine.data import Pattern
from refine.errors import InputError
from refine.instrument import Instrument, Profile
from refine.io.fields import is_number


def _background(text: str):
    from refine.powder.background import BACKGROUNDS, Background

    kind, _, n = text.partition(":")
    if kind not in BACKGROUNDS:
        raise argparse.ArgumentTypeError(f"unknown background {kind!r}; known: {', '.join(BACKGROUNDS.names())}")
    try:
        return Background(kind=kind, nterms=int(n) if n else 6)
    except (ValueError, InputError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_phase_arguments(parser: argparse.ArgumentParser, *, cif_only: bool = False) -> None:
    """--phase (CIF, repeatable) and, unless ``cif_only``, --spacegroup/--cell/--name for phases without a CIF."""
    parser.add_argument("--phase", action="append", default=[], metavar="CIF",
                        help="CIF, .stru, GSAS .EXP, or a supercell (VASP POSCAR/CONTCAR, extended .xyz, AtomEye .cfg)")
    if cif_only:
        return
    parser.add_argument("--spacegroup", action="append", default=[], metavar="SG",
                        help="phase without a CIF: space group (repeat with --cell for several phases)")
    parser.add_argument("--cell", action="append", default=[], metavar='"a b c al be ga"', help="cell of --spacegroup")
    parser.add_argument("--name", action="append", default=[], help="names of the --spacegroup phases, in order")


def add_powder_arguments(parser: argparse.ArgumentParser) -> None:
    """Instrument, range, exclusions, background, --json and --plot: shared by the powder fitting commands."""
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--wavelength", type=float, metavar="A", help="monochromatic wavelength in A")
    src.add_argument("--instrument", metavar="PRM", help="GSAS .prm or GSAS-II .instprm instrument file")
    parser.add_argument("--bank", type=int, default=None, help="bank / range of a multi-bank file")
    parser.add_argument("--range", type=parse_range, default=None, metavar="LO:HI", help="fit range in deg 2theta")
    parser.add_argument("--exclude", type=parse_range, action="append", default=[], metavar="LO:HI",
                        help="excluded region in deg 2theta, e.g. cell hardware or Cu lines (repeatable)")
    parser.add_argument("--background", type=_background, default=None, metavar="KIND[:N]",
                        help="background: chebyshev:6 (default), shifted_chebyshev:N, power:N")
    parser.add_argument("--exclude-phase", action="append", default=[], metavar="STRUCT[:HALFWIDTH]",
                        help="exclude HALFWIDTH deg 2theta (default 0.15) around every reflection of this phase at "
                             "the wavelength used, e.g. the Cu current collector (cu.cif): positions from its cell "
                             "(repeatable)")
    parser.add_argument("--constrain", type=parse_constraint, action="append", default=[], metavar="NAME=EXPR",
                        help=CONSTRAIN_HELP + "; e.g. 'nvpf_c=851.12/(nvpf_a*nvpf_b)' holds a volume")
    parser.add_argument("--json", metavar="OUT.json", help="write the result file")
    parser.add_argument("--plot", metavar="OUT.png", help="write the obs/calc/difference figure")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def add_reflection_arguments(parser: argparse.ArgumentParser) -> None:
    """--hkl (reflection list as CSV) and --plot-hkl (hkl labels on the --plot figure) of the single fits."""
    parser.add_argument("--hkl", metavar="OUT.csv",
                        help="write the reflection list of every phase: phase, h, k, l, mult, d, 2theta (Ka1), "
                             "intensity, and Fo2, Fc2 (Rietveld) or the intensity esd (Pawley)")
    parser.add_argument("--plot-hkl", type=_count, default=0, metavar="N",
                        help="label the N strongest reflections of each phase with hkl on the --plot figure "
                             "(default 0: no labels)")


def check_reflection_arguments(args: argparse.Namespace) -> None:
    """--plot-hkl labels the --plot figure: without one it is bad input (said before the fit runs)."""
    if args.plot_hkl and not args.plot:
        raise InputError("--plot-hkl", "labels go on the --plot figure: give --plot OUT.png too")


def write_hkl(result, path: str) -> None:
    """Write the fit's reflection tables to ``path`` (CSV) and say so."""
    from refine.powder.reflection_table import tables_of, write_reflections

    write_reflections(tables_of(result), path)
    print(f"reflections: {path}")


def powder_options(args: argparse.Namespace, instrument: Instrument, pattern: Pattern):
    """PowderOptions from --range, --exclude, --exclude-phase (at the instrument's wavelength over the pattern's
    range), --background, --constrain."""
    from refine.io.structures import read_structure
    from refine.powder.model import PowderOptions, line_exclusions

    exclusions = list(args.exclude)
    lo, hi = args.range or (float(pattern.x.min()), float(pattern.x.max()))
    for text in args.exclude_phase:
        path, sep, width = text.rpartition(":") if ":" in text and not text.endswith(":") else (text, "", "")
        if sep and not is_number(width):
            path, width = text, ""  # a ':' in the path itself (C:\...), no half-width given
        halfwidth = float(width) if width else 0.15
        exclusions += line_exclusions(read_structure(path), instrument, lo, hi, halfwidth=halfwidth)
    return PowderOptions(fit_range=args.range, exclusions=tuple(exclusions), constraints=tuple(args.constrain),
                         **({"background": args.background} if args.background else {}))



def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``lebail`` and ``pawley``."""
    parser.add_argument("pattern", metavar="PATTERN",
                        help="powder pattern in 2theta (.xye, .xy, .gsas, .fxye, .raw ...)")
    add_phase_arguments(parser)
    add_powder_arguments(parser)
    parser.add_argument("--refine", default="cell,zero,W,X,Y",
                        help="comma list of groups (cell zero U V W X Y Z SH_L profile size strain displacement "
                             "shift transparency displace_x displace_y ka2_ratio) or parameter names; "
                             "default cell,zero,W,X,Y")
    add_reflection_arguments(parser)
    parser.add_argument("--write-instrument", metavar="OUT.instprm",
                        help="write the refined instrument (zero, profile) as a GSAS-II .instprm file")


def _phases(args: argparse.Namespace) -> list:
    from refine.io.structures import read_structure, structure_from_cell

    phases = []
    for path in args.phase:
        structure = read_structure(path)
        phases.append(structure if structure.name else structure.replace(name=Path(path).stem))
    if len(args.spacegroup) != len(args.cell):
        raise InputError("--cell", f"{len(args.spacegroup)} --spacegroup but {len(args.cell)} --cell given")
    for i, (sg, cell) in enumerate(zip(args.spacegroup, args.cell, strict=True)):
        name = args.name[i] if i < len(args.name) else f"phase{i + 1}"
        phases.append(structure_from_cell(sg, cell, name=name))
    if not phases:
        raise InputError("--phase", "give at least one --phase CIF or --spacegroup SG --cell CELL")
    return phases


def starting_profile(pattern: Pattern, *, sh_l: float = 0.0) -> Profile:
    """A Gaussian starting profile from the width of the strongest peak (what a user would read off the plot).

    The background is taken as the 10th percentile; the full width at half maximum of the highest point is found
    by walking down both sides; W = (FWHM/(2 sqrt(2 ln 2)))² in centideg². Falls back to four steps.
    """
    import numpy as np

    x, y = pattern.x, pattern.y
    step = float(np.median(np.diff(x))) if len(pattern) > 1 else 0.01
    fwhm = 4.0 * step
    if len(pattern) > 10:
        net = y - np.percentile(y, 10)
        top = int(np.argmax(net))
        half = net[top] / 2.0
        lo, hi = top, top
        while lo > 0 and net[lo] > half:
            lo -= 1
        while hi < len(y) - 1 and net[hi] > half:
            hi += 1
        if 0 < lo < hi < len(y) - 1:
            fwhm = max(float(x[hi] - x[lo]), 2.0 * step)
    sigma_centideg = fwhm * 100.0 / np.sqrt(8.0 * np.log(2.0))
    return Profile(W=sigma_centideg**2, sh_l=sh_l)


def plot_powder_fit(result, path: str, instrument: Instrument, *, title: str | None = None,
                    hkl_labels: int = 0) -> None:
    """The obs/calc/difference figure of a whole-pattern fit with each phase's reflection ticks (Kα1), the
    wavelength on the 2θ axis and, with ``hkl_labels`` > 0, that many of each phase's strongest lines labelled."""
    from refine.plot import plot_fit

    plot_fit(result, path, title=title, hkl_labels=hkl_labels, wavelength=instrument.wavelength)
    print(f"figure: {path}")


def instrument_for(args: argparse.Namespace, pattern: Pattern) -> tuple[Instrument, list[str]]:
    """The instrument from --instrument, --wavelength, or the pattern file itself (with a note of the choice)."""
    notes = []
    if args.instrument:
        from refine.io.instprm import read_instrument

        return read_instrument(args.instrument), notes
    waves = pattern.metadata.get("wavelengths") if pattern.metadata else None
    if args.wavelength is None and waves and waves.get("kalpha2"):
        inst = Instrument(radiation="xray", wavelength=waves["kalpha1"], wavelength2=waves["kalpha2"],
                          ka2_ratio=waves.get("ratio") or 0.5, polarization=0.5, geometry="bragg_brentano",
                          profile=starting_profile(pattern), source=pattern.source)
        notes.append(f"instrument: Kα1/Kα2 {inst.wavelength}/{inst.wavelength2} Å from the data file, "
                     "starting Gaussian width from the strongest peak")
        return inst, notes
    lam = args.wavelength if args.wavelength is not None else pattern.wavelength
    if lam is None:
        raise InputError(args.pattern, "no wavelength: give --wavelength or --instrument")
    notes.append(f"instrument: monochromatic {lam} Å, starting Gaussian width from the strongest peak")
    return Instrument.synchrotron(lam, profile=starting_profile(pattern)), notes


def _run(args: argparse.Namespace, kind: str) -> int:
    from refine.fit import write_result
    from refine.io import read_powder_pattern
    from refine.io.paths import check_outputs
    from refine.powder.lebail import fit_lebail
    from refine.powder.pawley import fit_pawley
    from refine.powder.wholepattern import instrument_from

    check_reflection_arguments(args)
    check_outputs(files={"--json": args.json, "--plot": args.plot, "--write-instrument": args.write_instrument,
                         "--hkl": args.hkl})
    pattern = read_powder_pattern(args.pattern, bank=args.bank)
    phases = _phases(args)
    instrument, notes = instrument_for(args, pattern)
    options = powder_options(args, instrument, pattern)
    refine = list(split_list(args.refine))
    fitter = fit_lebail if kind == "lebail" else fit_pawley
    result = fitter(pattern, phases, instrument, refine=refine, options=options)
    for note in notes:
        print(note)
    print(result.report(warnings=False))
    for ph in result.phases:
        print(phase_line(ph))
    settings = {"command": kind, "phases": args.phase, "spacegroups": args.spacegroup, "cells": args.cell,
                "wavelength": args.wavelength, "instrument": args.instrument, "range": args.range,
                "exclude": args.exclude, "refine": refine, "background": str(options.background),
                "notes": notes}
    if args.json:
        write_result(result, args.json, data=args.pattern, settings=settings)
        print(f"result: {args.json}")
    if args.hkl:
        write_hkl(result, args.hkl)
    if args.plot:
        plot_powder_fit(result, args.plot, instrument, hkl_labels=args.plot_hkl)
    if args.write_instrument:
        from refine.io.instprm import write_instrument

        write_instrument(instrument_from(result.params, model=result.extra["model"]), args.write_instrument)
        print(f"instrument: {args.write_instrument}")
    return fit_exit_code(result, kind, strict=args.strict)


COMMANDS.register("lebail", Command(help="Le Bail fit of one or more phases", configure=configure,
                                    run=lambda args: _run(args, "lebail")))
COMMANDS.register("pawley", Command(help="Pawley fit of one or more phases", configure=configure,
                                    run=lambda args: _run(args, "pawley")))
