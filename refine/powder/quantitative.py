"""Quantitative phase analysis: weight fractions from Rietveld scale factors (Hill & Howard 1987).

For phase i with Rietveld scale S_i, Z_i formula units of mass M_i per cell of volume V_i, the weight fraction is
W_i = S_i Z_i M_i V_i / Σ_j S_j Z_j M_j V_j (Hill & Howard 1987, J. Appl. Cryst. 20, 467, eq. 4; it assumes
the scale multiplies |F|² of one cell and that all phases share the absorption, i.e. no microabsorption).
Z_i M_i is simply the mass of the cell contents, :func:`cell_mass`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refine.crystal.scattering import atomic_mass
from refine.crystal.structure import CrystalStructure
from refine.errors import InputError


def cell_mass(structure: CrystalStructure) -> float:
    """Z·M: mass of the unit-cell contents (g/mol, i.e. Da per cell), Σ occupancy × atomic mass over all atoms."""

    atoms = structure.expand()
    if len(atoms) == 0:
        raise InputError(structure.name, "the phase has no atoms: its cell mass is unknown")
    masses = {el: atomic_mass(el) for el in set(atoms.elements)}
    return float(sum(occ * masses[el] for el, occ in zip(atoms.elements, atoms.occupancy, strict=True)))


def zmv(structure: CrystalStructure) -> float:
    """Z·M·V of a phase (g/mol · Å³), the Hill & Howard weight of its scale factor."""
    return cell_mass(structure) * structure.lattice.volume


@dataclass(frozen=True, eq=False)
class WeightFractions:
    """Weight fractions (sum 1) with their esds and covariance, in the order of the phases given."""

    fractions: np.ndarray = field(repr=False)
    esd: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)

    def __repr__(self) -> str:
        items = ", ".join(f"{w:.4f}({e:.4f})" for w, e in zip(self.fractions, self.esd, strict=True))
        return f"WeightFractions({items})"


def weight_fractions(scales: ArrayLike, zmv: ArrayLike, covariance: ArrayLike | None = None) -> WeightFractions:
    """Hill & Howard weight fractions W_i = S_i (ZMV)_i / Σ_j S_j (ZMV)_j with linearly propagated esds.

    Parameters
    ----------
    scales
        Rietveld scale factor of each phase.
    zmv
        Z·M·V of each phase (:func:`zmv`); only ratios matter.
    covariance
        Covariance matrix of the scales (from the fit), or None for esds of zero.
        σ²(W) = diag(J C Jᵀ) with J_ik = ∂W_i/∂S_k = (ZMV)_k (δ_ik T - x_i)/T², x = S·ZMV, T = Σ x.
    """
    s = np.asarray(scales, dtype=float).reshape(-1)
    w = np.asarray(zmv, dtype=float).reshape(-1)
    if s.shape != w.shape or s.size == 0:
        raise InputError("scales", f"need one ZMV per scale factor, got {s.size} scales and {w.size} ZMV")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise InputError("zmv", "Z·M·V must be positive for every phase")
    x = s * w
    total = x.sum()
    if not np.all(np.isfinite(x)) or total <= 0:
        raise InputError("scales", "scale factors must be finite with a positive weighted sum")
    fractions = x / total
    if covariance is None:
        cov_s = np.zeros((s.size, s.size))
    else:
        cov_s = np.asarray(covariance, dtype=float)
        if cov_s.shape != (s.size, s.size):
            raise InputError("covariance", f"must be {s.size}x{s.size} for {s.size} scales, got {cov_s.shape}")
    jac = (np.eye(s.size) * total - x[:, None]) * w[None, :] / total**2
    cov_w = jac @ cov_s @ jac.T
    return WeightFractions(fractions=fractions, esd=np.sqrt(np.clip(np.diag(cov_w), 0.0, None)), covariance=cov_w)


def fraction_esd(fractions: WeightFractions, index: int, covariance: ArrayLike | None) -> float | None:
    """esd of phase ``index``'s weight fraction as a fit reports it: None when the scales' ``covariance`` is unknown
    (a scale held fixed, or no covariance) and there are several phases (zero esds would claim exact fractions);
    a single phase's fraction is exactly 1."""
    if covariance is None and fractions.fractions.size > 1:
        return None
    return float(fractions.esd[index])


def held_scales(params: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """A warning when the scales ``names`` of ``params`` (lmfit Parameters) were neither refined nor constrained (a
    refine list without 'scale'): the fit and the weight fractions then depend on their starting values."""
    held = [n for n in names if not params[n].vary and not params[n].expr]
    return [f"phase scale {', '.join(held)} not refined (held at its starting value: add 'scale' to refine); the "
            "fit and the weight fractions depend on that value"] if held else []
