"""``refine lebail`` and ``refine pawley``: whole-pattern fits of one or more phases (CONVENTIONS.md).

Parse, call :func:`refine.api.lebail` / :func:`refine.api.pawley`, print; the options and their defaults are those
of :class:`refine.api.options.LebailOptions`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from refine.api import parsing
from refine.api.options import LebailOptions, PawleyOptions
from refine.cli.format import phase_line
from refine.cli.main import (
    COMMANDS,
    CONSTRAIN_HELP,
    Command,
    argument_type,
    fit_exit_code,
    options_of,
    parse_constraint,
    parse_range,
)
from refine.errors import InputError
from refine.notation import WARNING_NOTE

_background = argument_type(parsing.parse_background)
_count = argument_type(parsing.parse_count)


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


def add_reflection_arguments(parser: argparse.ArgumentParser) -> None:
    """--hkl (reflection list as CSV) and --plot-hkl (hkl labels on the --plot figure) of the single fits."""
    parser.add_argument("--hkl", metavar="OUT.csv",
                        help="write the reflection list of every phase: phase, h, k, l, mult, d, 2theta (Ka1), "
                             "intensity, and Fo2, Fc2 (Rietveld) or the intensity esd (Pawley)")
    parser.add_argument("--plot-hkl", type=_count, default=0, metavar="N",
                        help="label the N strongest reflections of each phase with hkl on the --plot figure "
                             "(default 0: no labels)")


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``lebail`` and ``pawley`` (defaults from LebailOptions)."""
    parser.add_argument("pattern", metavar="PATTERN",
                        help="powder pattern in 2theta (.xye, .xy, .gsas, .fxye, .raw ...)")
    add_phase_arguments(parser)
    add_powder_arguments(parser)
    parser.add_argument("--refine",
                        help="comma list of groups (cell zero U V W X Y Z SH_L profile size strain displacement "
                             "shift transparency displace_x displace_y ka2_ratio) or parameter names; "
                             "default cell,zero,W,X,Y")
    add_reflection_arguments(parser)
    parser.add_argument("--write-instrument", metavar="OUT.instprm",
                        help="write the refined instrument (zero, profile) as a GSAS-II .instprm file")
    parser.set_defaults(**LebailOptions.cli_defaults())


def cli_phases(args: argparse.Namespace) -> list:
    """The phases of --phase (paths, read by the facade) and --spacegroup/--cell/--name (refine.phase)."""
    from refine.api.io import phase

    phases: list = list(args.phase)
    if len(args.spacegroup) != len(args.cell):
        raise InputError("--cell", f"{len(args.spacegroup)} --spacegroup but {len(args.cell)} --cell given")
    for i, (sg, cell) in enumerate(zip(args.spacegroup, args.cell, strict=True)):
        name = args.name[i] if i < len(args.name) else f"phase{i + 1}"
        phases.append(phase(sg, cell, name=name))
    if not phases:
        raise InputError("--phase", "give at least one --phase CIF or --spacegroup SG --cell CELL")
    return phases


def print_fit(result, *, lines: Sequence[str] = (), phase_suffix=None) -> None:
    """Notes, the report (warnings go to stderr), any extra lines, one line per phase (``phase_suffix(phase)``
    appended when given)."""
    for note in result.extra.get("notes", ()):
        if not note.startswith(WARNING_NOTE):  # those are among the fit's warnings, printed on stderr
            print(note)
    print(result.report(warnings=False, phases=False))
    for line in lines:
        print(line)
    for ph in result.phases.values():
        print(phase_line(ph) + (phase_suffix(ph) if phase_suffix else ""))


def print_written(result, *, verb: str | None = None) -> None:
    """One line per file the facade wrote: ``KIND: PATH`` (or ``VERB PATH``)."""
    for kind, path in result.extra.get("written", ()):
        print(f"{verb} {path}" if verb else f"{kind}: {path}")


def _run(args: argparse.Namespace, kind: str) -> int:
    from refine.api.powder import lebail, pawley

    cls, fit = (LebailOptions, lebail) if kind == "lebail" else (PawleyOptions, pawley)
    options = options_of(cls, args)
    LebailOptions.from_options(options)  # option errors (--plot-hkl without --plot) before reading any file
    result = fit(args.pattern, cli_phases(args), wavelength=args.wavelength, instrument=args.instrument, **options)
    print_fit(result)
    print_written(result)
    return fit_exit_code(result, kind, strict=args.strict)


COMMANDS.register("lebail", Command(help="Le Bail fit of one or more phases", configure=configure,
                                    run=lambda args: _run(args, "lebail")))
COMMANDS.register("pawley", Command(help="Pawley fit of one or more phases", configure=configure,
                                    run=lambda args: _run(args, "pawley")))
