"""Atomic displacement parameters: the one place where U^ij, Uiso/Ueq, Cartesian U and B are converted.

U^ij are the CIF components (dimensionless-axes convention of Trueblood et al. 1996, Acta Cryst. A52, 770, also
diffpy.structure's and PDFfit2's): the fractional covariance is N U N with N = diag(a*, b*, c*), and an operation
x -> R x + t maps it to R (N U N) R^T. An isotropic U gives U^ij = Uiso G*_ij / (a*_i a*_j). B = 8 pi^2 U.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from refine.crystal.lattice import Lattice

#: U (Å²) per unit B (Å²): U = B / (8 pi²).
B_TO_U = 1.0 / (8.0 * math.pi**2)


def u_from_b(b: ArrayLike) -> np.ndarray | float:
    """U = B / (8 pi²) (Å²), for a value or an array."""
    out = np.asarray(b, dtype=float) * B_TO_U
    return float(out) if out.ndim == 0 else out


def b_from_u(u: ArrayLike) -> np.ndarray | float:
    """B = 8 pi² U (Å²), for a value or an array."""
    out = np.asarray(u, dtype=float) / B_TO_U
    return float(out) if out.ndim == 0 else out


def iso_tensor(lattice: Lattice) -> np.ndarray:
    """U^ij of a unit isotropic displacement: G*_ij / (a*_i a*_j)."""
    astar = lattice.reciprocal_lengths
    return lattice.reciprocal_metric / np.outer(astar, astar)


def u_cartesian(u: ArrayLike, lattice: Lattice) -> np.ndarray:
    """Cartesian ADP tensors of U^ij (shape (..., 3, 3)): U_cart = M U M^T with M = A diag(a*), A the matrix of
    :attr:`Lattice.cartesian` (Grosse-Kunstleve & Adams 2002, J. Appl. Cryst. 35, 477)."""
    m = lattice.cartesian * lattice.reciprocal_lengths[None, :]
    return np.einsum("ik,...kl,jl->...ij", m, np.asarray(u, dtype=float), m)


def u_equivalent(u: ArrayLike, lattice: Lattice) -> np.ndarray | float:
    """Ueq = trace(U_cart) / 3 = (1/3) sum_ij U^ij a*_i a*_j a_i.a_j (Fischer & Tillmanns 1988, Acta Cryst. C44,
    775), of one tensor (a float) or of an array of shape (..., 3, 3)."""
    astar = lattice.reciprocal_lengths
    out = np.sum(np.asarray(u, dtype=float) * (np.outer(astar, astar) * lattice.metric), axis=(-2, -1)) / 3.0
    return float(out) if np.ndim(out) == 0 else out
