"""Analytic derivatives of a crystalline phase's G(r) (the exact pair sum of :func:`refine.pdf.calculate.direct_gr`)
with respect to its cell, free coordinates and ADPs, and to delta1, delta2, qbroad, qdamp, spdiameter and scale.

Every pair (i, j, lattice image) is a peak T = A/(sqrt(2 pi) sigma) exp(-x²/2), x = (r - d)/sigma, at the distance
d = |v|, v = (f_j - f_i + n) B (fractional coordinates f, rows of B the cell vectors), with
sigma² = sratio² msd (1 - delta1/d - delta2/d² + qbroad² d²) and msd = u·(U_i + U_j)·u the Cartesian ADPs projected
on the pair direction u = v/d (PDFfit2). For a structure parameter p

    ∂v/∂p = (∂f_j/∂p - ∂f_i/∂p + ... ) B + (f_j - f_i + n) ∂B/∂p,     ∂d/∂p = u·∂v/∂p,
    ∂u/∂p = (∂v/∂p - u ∂d/∂p)/d,   ∂msd/∂p = u·(∂U_i/∂p + ∂U_j/∂p)·u + 2 ∂u/∂p·(U_i + U_j)·u,

and ∂T/∂p = T x ∂d/∂p / sigma + T (x² - 1) ∂sigma²/∂p / (2 sigma²), summed over the pairs in one pass
(:data:`refine.pdf.kernels.DERIV_BACKENDS`). The baseline -4 pi rho0 r changes with the volume (rho0 = N/V).

The *structure tangents* ∂B/∂p, ∂f/∂p and ∂U_cart/∂p come from central differences of the (cheap) expansion of the
asymmetric unit to the cell, :func:`structure_tangents`: coordinates and ADPs are linear in the parameters and the
cell vectors are linear in a, b, c, so these are exact up to rounding (angles: O(h²), h = 1e-6 rad). The pair sum
itself, where a finite difference costs a G(r) per parameter, is differentiated analytically. The 5-sigma windows
are held fixed, as in :mod:`refine.pdf.derivatives`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import numpy as np

from refine.pdf.calculate import PDFSettings, _peak_widths, calc_grid
from refine.pdf.derivatives import finish_columns
from refine.pdf.kernels import DERIV_BACKENDS, default_backend, window_points
from refine.pdf.pairs import NeighbourList, iter_pairs, pair_msd, scattering_factor
from refine.pdf.structure import PDFStructure

#: closed-form derivatives besides the structure's (names of :class:`PDFSettings` fields)
SETTING_NAMES = ("scale", "delta1", "delta2", "qbroad", "qdamp", "spdiameter")
#: relative step of the structure tangents (absolute for values below 0.1)
TANGENT_STEP = 1e-6


@dataclass(frozen=True)
class StructureTangent:
    """∂(structure)/∂p of one parameter: cell vectors (rows, 3x3), fractional coordinates (n x 3), Cartesian ADP
    tensors (n x 3 x 3) and the cell volume."""

    base: np.ndarray
    xyz: np.ndarray
    u: np.ndarray
    volume: float


def structure_tangents(build: Callable[[Mapping[str, float]], PDFStructure], values: Mapping[str, float],
                       names: Collection[str]) -> dict[str, StructureTangent]:
    """Tangents of the structure ``build(values)`` with respect to each of ``names`` (central differences of the
    expansion; a coordinate that wraps through 0/1 is unwrapped)."""
    out = {}
    for name in names:
        v = float(values[name])
        h = TANGENT_STEP * max(abs(v), 0.1)
        plus = build({**values, name: v + h})
        minus = build({**values, name: v - h})
        dxyz = plus.xyz - minus.xyz
        dxyz -= np.rint(dxyz)
        out[name] = StructureTangent(base=(plus.base - minus.base) / (2 * h), xyz=dxyz / (2 * h),
                                     u=(plus.u_cartesian - minus.u_cartesian) / (2 * h),
                                     volume=(plus.volume - minus.volume) / (2 * h))
    return out


def _pair_coefficients(structure: PDFStructure, pairs: tuple, tangents: Mapping[str, StructureTangent],
                       setting_names: list[str], s: PDFSettings) -> tuple[np.ndarray, ...]:
    """Per peak: d, sigma, amplitude and the derivative coefficients a = (∂d/∂p)/sigma, b = (∂sigma²/∂p)/(2 sigma²)
    for the tangent names, then the peak-width settings (delta1, delta2, qbroad) in ``setting_names``."""
    i, j, d, unit, count = pairs
    msd = pair_msd(structure, i, j, unit)
    sigma, ok = _peak_widths(d, msd, s)
    i, j, d, unit, count, msd, sigma = (x[ok] for x in (i, j, d, unit, count, msd, sigma))
    occ = structure.occupancy
    sf = np.array([scattering_factor(el, s.radiation) for el in structure.elements])
    natoms = float(occ.sum())
    w = sf / (np.dot(occ, sf) / natoms)
    amp = count * occ[i] * occ[j] * w[i] * w[j]
    sr2 = np.where(d < s.rcut, s.sratio**2, 1.0)
    corfact = 1.0 - s.delta2 / d**2 - s.delta1 / d + s.qbroad**2 * d**2
    dcorr = 2 * s.delta2 / d**3 + s.delta1 / d**2 + 2 * s.qbroad**2 * d  # ∂corfact/∂d
    sig2 = sigma**2
    m = len(tangents)
    a, b = np.zeros((len(d), m + len(setting_names))), np.zeros((len(d), m + len(setting_names)))
    if m:
        dd, dmsd = _distance_and_msd_derivatives(structure, (i, j, d, unit), list(tangents.values()))
        a[:, :m] = dd / sigma[:, None]
        b[:, :m] = (sr2 / (2 * sig2))[:, None] * (dmsd * corfact[:, None] + (msd * dcorr)[:, None] * dd)
    for k, name in enumerate(setting_names, start=m):
        dcf = {"delta1": -1.0 / d, "delta2": -1.0 / d**2, "qbroad": 2 * s.qbroad * d**2}[name]
        b[:, k] = sr2 * msd * dcf / (2 * sig2)
    return d, sigma, amp, a, b


def _distance_and_msd_derivatives(structure: PDFStructure, pairs: tuple, tangents: list[StructureTangent]
                                  ) -> tuple[np.ndarray, np.ndarray]:
    """∂d/∂p and ∂msd/∂p of every pair (rows) and tangent (columns); each term only for the tangents that have it
    (a coordinate moves atoms, a cell parameter the cell, an ADP the tensors)."""
    i, j, d, unit = pairs
    base = structure.base
    npairs, m = len(d), len(tangents)
    dd, dmsd = np.zeros((npairs, m)), np.zeros((npairs, m))
    moving = [k for k, t in enumerate(tangents) if np.any(t.xyz)]
    straining = [k for k, t in enumerate(tangents) if np.any(t.base)]
    tensors = [k for k, t in enumerate(tangents) if np.any(t.u)]
    frac = (unit * d[:, None]) @ np.linalg.inv(base) if straining or not structure.isotropic.all() else None
    # ∂v = (∂f_j - ∂f_i) B + frac ∂B, projected on u: the atoms' Cartesian shifts, then the cell's strain
    shifts = np.stack([t.xyz @ base for t in tangents], axis=0)  # tangent, atom, xyz
    if moving:  # rows of (axis, moving tangent) per atom, gathered per pair at once
        mm = len(moving)
        per_atom = np.ascontiguousarray(shifts[moving].transpose(1, 2, 0)).reshape(len(structure.xyz), 3 * mm)
        g = np.take(per_atom, j, axis=0)
        g -= np.take(per_atom, i, axis=0)
        dd[:, moving] = (g[:, :mm] * unit[:, 0:1] + g[:, mm:2 * mm] * unit[:, 1:2] + g[:, 2 * mm:] * unit[:, 2:3])
    if straining:
        strain = np.stack([tangents[k].base.ravel() for k in straining], axis=-1)  # 9, tangent
        outer = (frac[:, :, None] * unit[:, None, :]).reshape(npairs, 9)
        dd[:, straining] += np.einsum("pq,qk->pk", outer, strain)  # thin: einsum's loop beats BLAS threads
    if structure.isotropic.all():  # msd = Uiso_i + Uiso_j (pair_msd's isotropic branch): no direction dependence
        if tensors:
            duiso = np.stack([np.trace(tangents[k].u, axis1=1, axis2=2) / 3.0 for k in tensors], axis=-1)
            dmsd[:, tensors] = np.take(duiso, i, axis=0) + np.take(duiso, j, axis=0)
        return dd, dmsd
    # msd = u·(U_i + U_j)·u: the tensors' change, then the direction's, 2 ∂u·(U_i + U_j)·u
    q = (unit[:, :, None] * unit[:, None, :]).reshape(npairs, 9)
    for k in tensors:
        du9 = tangents[k].u.reshape(-1, 9)
        dmsd[:, k] = np.einsum("pk,pk->p", du9[i] + du9[j], q)
    uc = structure.u_cartesian
    usum_u = np.einsum("pkl,pl->pk", uc[i] + uc[j], unit)
    for k in sorted(set(moving) | set(straining)):
        dv = (shifts[k][j] - shifts[k][i]) + frac @ tangents[k].base
        du = (dv - unit * dd[:, k:k + 1]) / d[:, None]
        dmsd[:, k] += 2 * np.einsum("pk,pk->p", du, usum_u)
    return dd, dmsd


def direct_derivatives(structure: PDFStructure, r: np.ndarray, settings: PDFSettings,
                       tangents: Mapping[str, StructureTangent], wrt: Collection[str], *,
                       neighbours: NeighbourList | None = None, backend: str | None = None
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """G(r) of :func:`~refine.pdf.calculate.direct_gr` and its derivatives in one pass over the pairs.

    Parameters
    ----------
    structure, r, settings
        As for ``direct_gr`` (no ``uiso`` overrides, lattice scale 1: a crystalline phase moves its structure).
    tangents
        ∂structure/∂p of the structure parameters (:func:`structure_tangents`); one column each.
    wrt
        Further columns, names of :data:`SETTING_NAMES` (spdiameter only while the sphere is on).
    neighbours
        Keeps the pair list between calls, as in ``direct_gr``.
    backend
        :data:`refine.pdf.kernels.DERIV_BACKENDS` name; default numba for large sums when installed.

    Returns
    -------
    (G, {name: ∂G/∂name}) on the grid ``r``.
    """
    s = settings
    grid = calc_grid(r, s.qmax)
    lo, hi = max(0.1, grid.r0 - 1.0), grid.rcmax + 1.0
    chunks = (neighbours.pairs(structure, hi, dmin=lo) if neighbours is not None
              else iter_pairs(structure, hi, dmin=lo, chunk=500_000))
    setting_names = [n for n in ("delta1", "delta2", "qbroad") if n in wrt]
    peak_names = list(tangents) + setting_names
    ppp = np.zeros(grid.ncalc)
    dppp = np.zeros((grid.ncalc, len(peak_names)))
    for pairs in chunks:
        d, sigma, amp, a, b = _pair_coefficients(structure, pairs, tangents, setting_names, s)
        if len(d):
            name = backend or default_backend(len(d), window_points(grid.dr, sigma) * (1 + len(peak_names) / 4))
            DERIV_BACKENDS.get(name)(ppp, dppp, grid.r0, grid.dr, d, sigma, amp, a, b)
    natoms = float(structure.occupancy.sum())
    volume = structure.volume
    dlnrho = {name: -tan.volume / volume for name, tan in tangents.items()}
    extra = {n for n in wrt if n in ("scale", "qdamp") or (n == "spdiameter" and s.spdiameter > 0)}
    return finish_columns(ppp, dppp, peak_names, grid, s, (natoms, natoms / volume, dlnrho), extra)
