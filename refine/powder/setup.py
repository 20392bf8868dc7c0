"""What a powder fit starts from when the user gives only a pattern and a wavelength: the instrument (from an
instrument file, the pattern file's own wavelengths, or a wavelength with a starting width read off the strongest
peak), the fit options (range, exclusions, background, constraints), restraints and joint-fit prefixes.

These were helpers of the command line; the facade (:mod:`refine.api`) and the command line both use them.
Errors name the option (``range``, ``exclude_phase`` ...): the command line shows its flag instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from refine.data import Pattern
from refine.errors import InputError
from refine.instrument import Instrument, Profile


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


def instrument_for(pattern: Pattern, *, wavelength: float | None = None,
                   instrument: str | os.PathLike | Instrument | None = None) -> tuple[Instrument, list[str]]:
    """The instrument of a fit and a note of the choice: ``instrument`` (an Instrument, or a GSAS .prm / GSAS-II
    .instprm file), else Kα1/Kα2 from the pattern file, else ``wavelength`` (or the file's) with a starting
    Gaussian width from the strongest peak."""
    notes: list[str] = []
    if instrument is not None and wavelength is not None:
        raise InputError("wavelength", "give either a wavelength or an instrument, not both")
    if isinstance(instrument, Instrument):
        return instrument, _differs(pattern, instrument.wavelength, "the instrument's")
    if instrument is not None:
        from refine.io.instprm import read_instrument

        inst = read_instrument(instrument)
        return inst, _differs(pattern, inst.wavelength, f"{Path(instrument).name}'s")
    waves = pattern.metadata.get("wavelengths") if pattern.metadata else None
    if wavelength is None and waves and waves.get("kalpha2"):
        inst = Instrument(radiation="xray", wavelength=waves["kalpha1"], wavelength2=waves["kalpha2"],
                          ka2_ratio=waves.get("ratio") or 0.5, polarization=0.5, geometry="bragg_brentano",
                          profile=starting_profile(pattern), source=pattern.source)
        notes.append(f"instrument: Kα1/Kα2 {inst.wavelength}/{inst.wavelength2} Å from the data file, "
                     "starting Gaussian width from the strongest peak")
        return inst, notes
    lam = wavelength if wavelength is not None else pattern.wavelength
    if lam is None:
        raise InputError(pattern.source, "no wavelength: give a wavelength or an instrument")
    notes.append(f"instrument: monochromatic {lam} Å, starting Gaussian width from the strongest peak")
    notes += _differs(pattern, lam, "the given")
    return Instrument.synchrotron(lam, profile=starting_profile(pattern)), notes


def _differs(pattern: Pattern, wavelength: float, whose: str) -> list[str]:
    """A warning when the pattern file records another wavelength than the fit uses (a cell scales with it: 0.70
    for 0.72 Å gives a cell 3 % too large that still fits); none when it records none or the same."""
    recorded = pattern.wavelength
    if recorded is None or abs(wavelength / recorded - 1.0) <= 1e-4:
        return []
    return [f"warning: {whose} wavelength {wavelength:g} Å is used, but {pattern.source or 'the pattern'} records "
            f"{recorded:g} Å; cells scale with the wavelength"]


def exclude_phase_item(text: str) -> tuple[str, float]:
    """``STRUCT[:HALFWIDTH]`` -> (path, half-width in deg 2θ, default 0.15); a ':' inside a path (C:\\...) stays."""
    from refine.io.fields import is_number

    path, sep, width = text.rpartition(":") if ":" in text and not text.endswith(":") else (text, "", "")
    if sep and not is_number(width):
        path, width = text, ""
    return path, float(width) if width else 0.15


def powder_options(options: Any, instrument: Instrument, pattern: Pattern):
    """``PowderOptions`` from the options ``range``, ``exclude``, ``exclude_phase`` (every reflection of that phase
    at the instrument's wavelength over the pattern's range), ``background`` and ``constrain``."""
    from refine.io.structures import read_structure
    from refine.powder.model import PowderOptions, line_exclusions

    exclusions = list(options.exclude)
    lo, hi = options.range or (float(pattern.x.min()), float(pattern.x.max()))
    for text in options.exclude_phase:
        path, halfwidth = exclude_phase_item(text)
        exclusions += line_exclusions(read_structure(path), instrument, lo, hi, halfwidth=halfwidth)
    return PowderOptions(fit_range=options.range, exclusions=tuple(exclusions), constraints=tuple(options.constrain),
                         **({"background": options.background} if options.background else {}))


def restraints_for(restrain: Sequence[tuple[str, float, float]],
                   restrain_bond: Sequence[tuple[tuple[str, str], float, float]], phases: Sequence) -> tuple:
    """Restraint rows from (expr, target, sigma) and ((site1, site2), distance, sigma) (bond labels looked up in the
    phases)."""
    from refine.fit import Restraint
    from refine.fit.parameters import StructureParameters, bond_restraint
    from refine.powder.model import phase_prefix

    try:
        out = [Restraint(expr=expr, target=target, sigma=sigma) for expr, target, sigma in restrain]
    except InputError as err:
        raise InputError("restrain", err.problem) from None
    for (a, b), target, sigma in restrain_bond:
        owners = [ph for ph in phases if {a, b} <= {site.label for site in ph.sites}]
        if len(owners) != 1:
            where = "no phase has" if not owners else "several phases have"
            raise InputError("restrain_bond", f"{where} both sites {a!r} and {b!r}")
        sp = StructureParameters(owners[0], phase_prefix(owners[0].name))
        out.append(bond_restraint(sp, sp.parameters(), (a, b), target, sigma))
    return tuple(out)


def check_restraints(restraints: tuple, params) -> None:
    """Every restraint expression evaluates with the starting parameters (a typo is bad input, not a crash)."""
    from refine.fit.objective import restraint_rows

    try:
        restraint_rows(restraints, params)
    except InputError as err:
        raise InputError("restrain", err.problem) from None


def radiation_prefixes(radiations: Sequence[str]) -> list[str]:
    """Parameter prefixes of the datasets of a joint fit by radiation: x_, n_, then x2_, n2_ ..."""
    out: list[str] = []
    for rad in radiations:
        base = "n" if rad == "neutron" else "x"
        name, k = f"{base}_", 2
        while name in out:
            name, k = f"{base}{k}_", k + 1
        out.append(name)
    return out
