"""Site symmetry of atomic parameters: which coordinate and ADP directions a site's symmetry leaves free.

A site x is special when operations of the space group map it onto itself (x = R x + t modulo lattice
translations); those operations form its stabiliser (site-symmetry group). A shift δ keeps the site on the
same Wyckoff position only when R δ = δ for every stabiliser operation, so the free directions are the null
space of the stacked (R − I). Likewise an anisotropic U must satisfy N U N = R (N U N) Rᵀ (N = diag(a*, b*, c*),
Trueblood et al. 1996, Acta Cryst. A52, 770), a linear condition on its six components (International Tables
vol. D, 1.2; Peterse & Palm 1966, Acta Cryst. 20, 147). The null spaces are put in reduced row-echelon form so
that every free parameter is one named coordinate or U component and the others follow as expressions
(e.g. 12c (0, 0, z) of R-3c gives only ``z``; (x, 2x, z) gives ``x``, ``z`` and y = 2x).

The lmfit parameters built from these constraints are :class:`refine.fit.parameters.StructureParameters`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refine.crystal.lattice import Lattice
from refine.crystal.spacegroup import SpaceGroup
from refine.crystal.structure import CrystalStructure
from refine.errors import InputError

AXES = "xyz"
UIJ = ("u11", "u22", "u33", "u12", "u13", "u23")
UIJ_INDEX = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
#: Two images closer than this (Å) are the same atom; two sites closer than this share one position.
SAME_POSITION = 0.01


def stabiliser(sg: SpaceGroup, xyz: np.ndarray, lattice: Lattice, tol: float = SAME_POSITION) -> np.ndarray:
    """Indices of the operations mapping ``xyz`` onto itself modulo lattice translations (within ``tol`` Å)."""
    x = np.asarray(xyz, dtype=float)
    diff = np.einsum("oij,j->oi", sg.rotations.astype(float), x) + sg.translations - x
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ lattice.cartesian.T, axis=1)
    return np.flatnonzero(dist < tol)


def _rref_nullspace(conditions: np.ndarray, n: int, tol: float = 1e-8) -> tuple[np.ndarray, tuple[int, ...]]:
    """Null space of ``conditions`` (m, n) as rows in reduced row-echelon form, and the pivot columns."""
    if conditions.size == 0:
        return np.eye(n), tuple(range(n))
    _, s, vt = np.linalg.svd(conditions)
    rank = int(np.sum(s > tol * max(1.0, s.max(initial=0.0))))
    basis = vt[rank:].copy()  # (k, n)
    pivots: list[int] = []
    row = 0
    for col in range(n):
        if row >= len(basis):
            break
        best = row + int(np.argmax(np.abs(basis[row:, col])))
        if abs(basis[best, col]) < tol:
            continue
        basis[[row, best]] = basis[[best, row]]
        basis[row] /= basis[row, col]
        for other in range(len(basis)):
            if other != row:
                basis[other] -= basis[other, col] * basis[row]
        pivots.append(col)
        row += 1
    basis[np.abs(basis) < tol] = 0.0
    return basis, tuple(pivots)


@dataclass(frozen=True)
class LinearConstraint:
    """v = origin + Σ_k rows[k] (v[pivot_k] − origin[pivot_k]): free components ``pivots`` of a vector."""

    rows: np.ndarray = field(repr=False)  # (k, n)
    pivots: tuple[int, ...]

    def dependent(self, j: int) -> list[tuple[int, float]]:
        """How component ``j`` (not a pivot) follows the pivots: [(pivot, coefficient), ...]."""
        return [(p, float(self.rows[k, j])) for k, p in enumerate(self.pivots) if self.rows[k, j] != 0.0]


def coordinate_constraint(sg: SpaceGroup, xyz: np.ndarray, lattice: Lattice) -> LinearConstraint:
    """Free coordinate directions of a site: null space of (R − I) over its stabiliser."""
    ops = stabiliser(sg, xyz, lattice)
    cond = np.concatenate([sg.rotations[o].astype(float) - np.eye(3) for o in ops]) if len(ops) else np.zeros((0, 3))
    rows, pivots = _rref_nullspace(cond, 3)
    return LinearConstraint(rows=rows, pivots=pivots)


def _u_map(a: np.ndarray) -> np.ndarray:
    """6x6 matrix of U -> A U Aᵀ on (u11, u22, u33, u12, u13, u23)."""
    out = np.zeros((6, 6))
    for col, (k, m) in enumerate(UIJ_INDEX):
        e = np.zeros((3, 3))
        e[k, m] = e[m, k] = 1.0
        img = a @ e @ a.T
        out[:, col] = [img[i, j] for i, j in UIJ_INDEX]
    return out


def adp_constraint(sg: SpaceGroup, xyz: np.ndarray, lattice: Lattice) -> LinearConstraint:
    """Free U^ij components of a site: U = A U Aᵀ with A = N⁻¹ R N for every stabiliser operation."""
    nstar = np.diag(lattice.reciprocal_lengths)
    ninv = np.diag(1.0 / lattice.reciprocal_lengths)
    ops = stabiliser(sg, xyz, lattice)
    cond = [_u_map(ninv @ sg.rotations[o].astype(float) @ nstar) - np.eye(6) for o in ops]
    rows, pivots = _rref_nullspace(np.concatenate(cond) if cond else np.zeros((0, 6)), 6, tol=1e-6)
    return LinearConstraint(rows=rows, pivots=pivots)


def symmetrize_adp(sg: SpaceGroup, xyz: np.ndarray, lattice: Lattice, u: np.ndarray) -> np.ndarray:
    """U averaged over the site's stabiliser (A U Aᵀ with A = N⁻¹ R N): the projection onto the tensors the site
    symmetry allows. A start that breaks the symmetry (e.g. a PDFfit .stru with U12 = 0 for an atom on a 3-fold
    axis of a hexagonal cell, where U12 = U11/2) would otherwise keep its violation as a constant offset."""
    nstar = np.diag(lattice.reciprocal_lengths)
    ninv = np.diag(1.0 / lattice.reciprocal_lengths)
    ops = stabiliser(sg, xyz, lattice)
    u = np.asarray(u, dtype=float)
    if not len(ops):
        return u
    mats = [ninv @ sg.rotations[o].astype(float) @ nstar for o in ops]
    return sum(a @ u @ a.T for a in mats) / len(mats)


def site_images(sg: SpaceGroup, xyz: np.ndarray, lattice: Lattice) -> np.ndarray:
    """Operations giving the distinct atoms of a site in the cell (first of each group of coincident images)."""
    pos = np.mod(np.einsum("oij,j->oi", sg.rotations.astype(float), xyz) + sg.translations, 1.0)
    keep: list[int] = []
    for i in range(len(pos)):
        d = pos[keep] - pos[i]
        d -= np.round(d)
        if not keep or np.all(np.linalg.norm(d @ lattice.cartesian.T, axis=1) >= SAME_POSITION):
            keep.append(i)
    return np.array(keep, dtype=int)


def nearest_image(structure: CrystalStructure, x1: np.ndarray, x2: np.ndarray) -> tuple[int, np.ndarray, float]:
    """(operation, lattice translation, distance Å) of the image R x2 + t + n closest to x1."""
    sg = structure.space_group
    imgs = np.einsum("oij,j->oi", sg.rotations.astype(float), x2) + sg.translations
    shift = np.round(x1 - imgs)
    d = np.linalg.norm((x1 - imgs - shift) @ structure.lattice.cartesian.T, axis=1)
    o = int(np.argmin(d))
    return o, shift[o], float(d[o])


def bond_table(structure: CrystalStructure, label: str, max_distance: float = 3.0) -> dict:
    """Distances (Å) from site ``label`` to every atom within ``max_distance`` and the angles (deg) between them.

    Returns {'site': label, 'bonds': [{'to', 'distance'}...], 'angles': [{'atoms', 'angle'}...]}.
    """
    sites = {site.label: site for site in structure.sites}
    if label not in sites:
        raise InputError("bonds", f"no site {label!r}; sites: {', '.join(sites)}")
    atoms = structure.expand()
    cart = structure.lattice.cartesian
    centre = np.asarray(sites[label].xyz, dtype=float)
    found = []
    for lab, xyz in zip(atoms.labels, atoms.xyz, strict=True):
        base = xyz - centre
        for n in np.ndindex(3, 3, 3):
            v = (base - np.round(base) + np.array(n) - 1) @ cart.T
            d = float(np.linalg.norm(v))
            if 1e-3 < d <= max_distance:
                found.append((lab, d, v))
    found.sort(key=lambda item: item[1])
    bonds = [{"to": lab, "distance": d} for lab, d, _ in found]
    angles = []
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            u, w = found[i][2], found[j][2]
            cos = float(u @ w / (np.linalg.norm(u) * np.linalg.norm(w)))
            angles.append({"atoms": (found[i][0], label, found[j][0]),
                           "angle": float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))})
    return {"site": label, "bonds": bonds, "angles": angles}
