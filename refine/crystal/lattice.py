"""Unit-cell geometry and the crystal-system constraints on the cell parameters.

Conventions: lengths in Å, angles in degrees; the metric tensor G_ij = a_i . a_j, the reciprocal metric
G* = G^-1 (no 2 pi), 1/d^2 = h G* h^T, V = sqrt(det G) (International Tables for Crystallography vol. B, 1.1).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from refine.crystal.spacegroup import SpaceGroup
from refine.errors import InputError

PARAMETER_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")


@dataclass(frozen=True)
class Lattice:
    """Cell parameters a, b, c (Å) and alpha, beta, gamma (degrees)."""

    a: float
    b: float
    c: float
    alpha: float = 90.0
    beta: float = 90.0
    gamma: float = 90.0

    def __post_init__(self) -> None:
        for name in PARAMETER_NAMES:
            object.__setattr__(self, name, float(getattr(self, name)))
        check_cell(self.as_tuple())

    @classmethod
    def from_sequence(cls, values: tuple[float, ...] | list[float] | np.ndarray, *,
                      source: str | os.PathLike = "cell") -> Lattice:
        """From (a, b, c, alpha, beta, gamma); a cell that is not a cell raises :class:`InputError` naming
        ``source`` (the file or option it came from)."""
        if len(values) != 6:
            raise InputError(source, f"a cell needs 6 values a b c alpha beta gamma, got {len(values)}")
        return cls(*check_cell(values, source=source))

    def as_tuple(self) -> tuple[float, float, float, float, float, float]:
        """(a, b, c, alpha, beta, gamma)."""
        return (self.a, self.b, self.c, self.alpha, self.beta, self.gamma)

    @property
    def metric(self) -> np.ndarray:
        """Real-space metric tensor G (Å^2)."""
        a, b, c = self.a, self.b, self.c
        ca, cb, cg = np.cos(np.radians([self.alpha, self.beta, self.gamma]))
        return np.array(
            [[a * a, a * b * cg, a * c * cb], [a * b * cg, b * b, b * c * ca], [a * c * cb, b * c * ca, c * c]]
        )

    @property
    def reciprocal_metric(self) -> np.ndarray:
        """Reciprocal metric G* = G^-1 (Å^-2), so that 1/d^2 = h G* h."""
        return np.linalg.inv(self.metric)

    @property
    def volume(self) -> float:
        """Cell volume (Å^3): abc sqrt(1 - cos^2 a - cos^2 b - cos^2 g + 2 cos a cos b cos g)."""
        return float(self.a * self.b * self.c * np.sqrt(_angle_factor(self.alpha, self.beta, self.gamma)))

    @property
    def reciprocal_lengths(self) -> np.ndarray:
        """a*, b*, c* (Å^-1, no 2 pi)."""
        return np.sqrt(np.diag(self.reciprocal_metric))

    @property
    def cartesian(self) -> np.ndarray:
        """Matrix whose columns are a, b, c in Cartesian axes (a along x, b in the xy plane), Å."""
        ca, cb, cg = np.cos(np.radians([self.alpha, self.beta, self.gamma]))
        sg = np.sin(np.radians(self.gamma))
        cx = self.c * cb
        cy = self.c * (ca - cb * cg) / sg
        cz = self.volume / (self.a * self.b * sg)
        return np.array([[self.a, self.b * cg, cx], [0.0, self.b * sg, cy], [0.0, 0.0, cz]])

    def d_spacing(self, hkl: np.ndarray) -> np.ndarray:
        """d (Å) of reflections hkl, array (..., 3)."""
        h = np.asarray(hkl, dtype=float)
        inv_d2 = np.einsum("...i,ij,...j->...", h, self.reciprocal_metric, h)
        with np.errstate(divide="ignore"):
            return 1.0 / np.sqrt(inv_d2)


def check_cell(values: tuple[float, ...] | list[float] | np.ndarray, *, source: str | os.PathLike = "cell"
               ) -> tuple[float, float, float, float, float, float]:
    """(a, b, c, alpha, beta, gamma) as floats when they describe a cell, else :class:`InputError` naming
    ``source``: finite values, lengths > 0, angles in (0, 180) degrees obeying the triangle inequalities
    (alpha < beta + gamma, ..., alpha + beta + gamma < 360), so that the metric tensor is positive definite."""
    try:
        cell = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(source, f"a cell needs 6 numbers a b c alpha beta gamma, got {values!r}") from None
    if len(cell) != 6:
        raise InputError(source, f"a cell needs 6 values a b c alpha beta gamma, got {len(cell)}")
    if all(map(math.isfinite, cell)) and min(cell[:3]) > 0 and 0 < min(cell[3:]) and max(cell[3:]) < 180 and (
            2 * max(cell[3:]) < sum(cell[3:]) < 360) and _angle_factor(*cell[3:]) > 1e-12:
        return cell  # type: ignore[return-value]  # the usual case, checked without formatting the message
    text = " ".join(f"{v:g}" for v in cell)
    if not all(np.isfinite(cell)):
        raise InputError(source, f"cell {text}: values must be finite")
    if min(cell[:3]) <= 0:
        raise InputError(source, f"cell {text}: lengths a, b, c must be positive")
    angles = cell[3:]
    if min(angles) <= 0 or max(angles) >= 180:
        raise InputError(source, f"cell {text}: angles must lie between 0 and 180 degrees")
    if 2 * max(angles) >= sum(angles) or sum(angles) >= 360:
        raise InputError(source, f"cell {text}: the angles make no cell (each must be less than the sum of the "
                                 "other two, and all three less than 360 degrees together)")
    if not _angle_factor(*angles) > 1e-12:  # the metric tensor is positive definite
        raise InputError(source, f"cell {text}: the angles make a flat cell (zero volume)")
    return cell  # type: ignore[return-value]


def volume_factor(alpha: float, beta: float, gamma: float) -> float:
    """V/(abc) = sqrt(1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ) of angles in degrees."""
    return float(np.sqrt(_angle_factor(alpha, beta, gamma)))


def _angle_factor(alpha: float, beta: float, gamma: float) -> float:
    ca, cb, cg = np.cos(np.radians([alpha, beta, gamma]))
    return float(1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg)


@dataclass(frozen=True)
class CellConstraints:
    """Which cell parameters are free and how the others follow.

    Attributes
    ----------
    rules
        For each of a, b, c, alpha, beta, gamma: ``"free"``, the name of the free parameter it equals (``"a"``),
        or a fixed value in degrees (``90.0``).
    """

    rules: tuple[str | float, str | float, str | float, str | float, str | float, str | float]

    @property
    def free(self) -> tuple[str, ...]:
        """Names of the free parameters, in a, b, c, alpha, beta, gamma order."""
        return tuple(n for n, r in zip(PARAMETER_NAMES, self.rules, strict=True) if r == "free")

    def apply(self, values: dict[str, float]) -> Lattice:
        """The cell with the given free values (a mapping name -> value) and the rest following from them."""
        out = {}
        for name, rule in zip(PARAMETER_NAMES, self.rules, strict=True):
            out[name] = values[name] if rule == "free" else values[rule] if isinstance(rule, str) else rule
        return Lattice(**out)

    def jacobian(self) -> np.ndarray:
        """d(a, b, c, alpha, beta, gamma) / d(free parameters), shape (6, n_free)."""
        free = self.free
        jac = np.zeros((6, len(free)))
        for i, (name, rule) in enumerate(zip(PARAMETER_NAMES, self.rules, strict=True)):
            if rule == "free":
                jac[i, free.index(name)] = 1.0
            elif isinstance(rule, str):
                jac[i, free.index(rule)] = 1.0
        return jac


def cell_constraints(sg: SpaceGroup) -> CellConstraints:
    """The cell constraints of a space group's crystal system and setting.

    Triclinic: all free. Monoclinic: a, b, c and the angle of the unique axis. Orthorhombic: a, b, c.
    Tetragonal: a, c. Trigonal/hexagonal on hexagonal axes: a, c (gamma = 120). Rhombohedral axes: a, alpha.
    Cubic: a.
    """
    system = sg.crystal_system
    if system == "triclinic":
        return CellConstraints(("free",) * 6)
    if system == "monoclinic":
        angles: list[str | float] = [90.0, 90.0, 90.0]
        angles["abc".index(sg.unique_axis)] = "free"
        return CellConstraints(("free", "free", "free", *angles))
    if system == "orthorhombic":
        return CellConstraints(("free", "free", "free", 90.0, 90.0, 90.0))
    if system == "tetragonal":
        return CellConstraints(("free", "a", "free", 90.0, 90.0, 90.0))
    if system in ("trigonal", "hexagonal") and sg.setting == "rhombohedral":
        return CellConstraints(("free", "a", "a", "free", "alpha", "alpha"))
    if system in ("trigonal", "hexagonal"):
        return CellConstraints(("free", "a", "free", 90.0, 90.0, 120.0))
    return CellConstraints(("free", "a", "a", 90.0, 90.0, 90.0))


def symmetrize(lattice: Lattice, sg: SpaceGroup, *, source: str = "cell", tol: float = 1e-3) -> Lattice:
    """The cell obeying the space group's constraints; raises when the given cell breaks them by more than tol.

    ``tol`` is relative for lengths and in degrees for angles.
    """
    rules = cell_constraints(sg)
    values = dict(zip(PARAMETER_NAMES, lattice.as_tuple(), strict=True))
    fixed = rules.apply(values)
    for name, given, wanted in zip(PARAMETER_NAMES, lattice.as_tuple(), fixed.as_tuple(), strict=True):
        scale = wanted if name in ("a", "b", "c") else 1.0
        if abs(given - wanted) > tol * scale:
            raise InputError(source, f"{name} = {given:g} does not fit the {sg.crystal_system} space group "
                                     f"{sg.symbol} (expected {wanted:g})")
    return fixed


def volume_gradient(lattice: Lattice) -> np.ndarray:
    """dV/d(a, b, c, alpha, beta, gamma), angles per degree (analytic)."""
    a, b, c = lattice.a, lattice.b, lattice.c
    v = lattice.volume
    rad = np.radians([lattice.alpha, lattice.beta, lattice.gamma])
    ca, cb, cg = np.cos(rad)
    sa, sb, sg = np.sin(rad)
    f = _angle_factor(lattice.alpha, lattice.beta, lattice.gamma)
    # dV/dalpha = abc sin(alpha) (cos alpha - cos beta cos gamma) / sqrt(f), and cyclically.
    k = a * b * c / np.sqrt(f) * np.pi / 180.0
    return np.array([v / a, v / b, v / c, k * sa * (ca - cb * cg), k * sb * (cb - ca * cg), k * sg * (cg - ca * cb)])


def volume_esd(lattice: Lattice, sg: SpaceGroup, covariance: np.ndarray) -> float:
    """esd of the volume from the covariance of the free cell parameters (order of ``cell_constraints(sg).free``).

    Linear propagation sigma_V^2 = g C g^T with g = dV/d(free) through the constraints (analytic gradient).
    """
    rules = cell_constraints(sg)
    cov = np.atleast_2d(np.asarray(covariance, dtype=float))
    if cov.shape != (len(rules.free), len(rules.free)):
        raise ValueError(f"covariance must be {len(rules.free)}x{len(rules.free)} for free {rules.free}")
    g = volume_gradient(lattice) @ rules.jacobian()
    return float(np.sqrt(max(g @ cov @ g, 0.0)))
