"""Reflection lists of powder fit results: one :class:`ReflectionTable` per phase (and per pattern of a joint fit).

Each table holds the lines of one phase whose Kα1 position lies in the fitted 2θ range: hkl (one representative of
the line), multiplicity, d (Å, refined cell), 2θ (deg, Kα1, with zero, displacement and transparency as the model
places the peak) and the line's integrated intensity in the pattern (y × deg, the area of its Kα1 peak; a Kα2
peak adds ``ka2_ratio`` × this): partitioned (Le Bail), refined (Pawley, with esd) or calculated (Rietveld:
scale × multiplicity·Fc² × Lorentz–polarization × absorption, roughness, texture).

Rietveld tables add Fc² and Fo² per reflection: Fc² the unscaled |F|² of the cell (occupancies, ADPs, f0 + f′ + if″
as the model uses them; Friedel mates averaged, International Tables C 6.1.1.4), Fo² by the Rietveld partition
(Rietveld 1969; GSAS-II, FullProf): the background-subtracted observed counts shared among the overlapping lines in
the ratio of their calculated contributions, I_obs,k = I_calc,k Σ_i Φ_ik (y_i − b_i)/(y_calc,i − b_i), and put back
into |F|² units with the factors of I_calc,k: Fo² = Fc² I_obs,k / I_calc,k. Lines with less than half of their
profile over fitted points (excluded regions, range edges) have no Fo² (NaN; null in JSON, empty in CSV).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

# The table itself is result data (fit layer); it is built here from a powder model.
from refine.fit.reflection_table import F2_UNITS, ReflectionTable, write_reflections

__all__ = ["F2_UNITS", "ReflectionTable", "intensity_tables", "line_selection", "phase_table", "tables_of",
           "write_reflections"]

if TYPE_CHECKING:  # pragma: no cover
    import lmfit

    from refine.powder.model import PhaseBlock, PowderModel


def line_selection(model: PowderModel, params: lmfit.Parameters, block: PhaseBlock) -> tuple[np.ndarray, np.ndarray]:
    """(lines inside the fitted 2θ range, their Kα1 positions in deg) of one phase at ``params``."""
    tth = model.positions(params, block, model.instrument.wavelength)
    lo, hi = float(model.x_fit.min()), float(model.x_fit.max())
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(tth) & (tth >= lo) & (tth <= hi)
    return keep, tth


def phase_table(model: PowderModel, params: lmfit.Parameters, index: int, intensity: np.ndarray, *,
                intensity_esd: np.ndarray | None = None, fo2: np.ndarray | None = None,
                fc2: np.ndarray | None = None) -> ReflectionTable:
    """The table of phase ``index`` of ``model`` from per-line arrays over all its generated reflections (the rows
    of that phase in the peak matrix); the lines outside the fitted range are dropped."""
    block = model.phases[index]
    keep, tth = line_selection(model, params, block)
    refl = block.reflections
    d = model.lattice(params, block).d_spacing(refl.hkl)
    pick = (lambda a: None if a is None else np.asarray(a)[keep])  # noqa: E731 - local shorthand
    return ReflectionTable(phase=block.structure.name, prefix=block.prefix, radiation=model.instrument.radiation,
                           wavelength=model.instrument.wavelength, hkl=refl.hkl[keep],
                           multiplicity=refl.multiplicity[keep], d=d[keep], two_theta=tth[keep],
                           intensity=np.asarray(intensity)[keep], intensity_esd=pick(intensity_esd), fo2=pick(fo2),
                           fc2=pick(fc2))


def intensity_tables(model: PowderModel, params: lmfit.Parameters, intensities: np.ndarray,
                     esd: np.ndarray | None = None) -> tuple[ReflectionTable, ...]:
    """Le Bail / Pawley tables: ``intensities`` (and ``esd``) over all reflections of all phases (peak-matrix rows)."""
    out = []
    for i in range(len(model.phases)):
        rows = model.phase_rows(i)
        out.append(phase_table(model, params, i, intensities[rows], intensity_esd=None if esd is None else esd[rows]))
    return tuple(out)


def tables_of(result: Any) -> tuple[ReflectionTable, ...]:
    """The reflection tables of a fit result (``result.extra['reflections']``; empty when the fit has none)."""
    return tuple((getattr(result, "extra", None) or {}).get("reflections") or ())

