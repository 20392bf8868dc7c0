"""Powder backgrounds as linear bases: y_bkg = B @ c.

Every background is linear in its coefficients, so a fit may solve them by linear least squares inside the
objective or refine them as lmfit parameters (``<prefix>bkg_0``, ``<prefix>bkg_1``, ...). The basis of each kind is
built once per x grid.

Kinds (registry :data:`BACKGROUNDS`):
* ``chebyshev`` — Chebyshev polynomials of the first kind T_k(x'), x' = 2(x − x0)/(x1 − x0) − 1 mapping the domain
  [x0, x1] (by default the fitted range) onto [−1, 1]; GSAS "shifted Chebyschev" (type 1) and GSAS-II
  ``chebyschev-1`` are this function.
* ``shifted_chebyshev`` — shifted Chebyshev polynomials T*_k(u) = T_k(2u − 1) of u = (x − x0)/(x1 − x0) ∈ [0, 1];
  the same space of functions as ``chebyshev`` with coefficients in the [0, 1] convention of TOPAS users.
* ``power`` — GSAS-II's ``chebyschev``: a power series Σ c_k x'^k in the same scaled x'.
* ``spline`` — fixed points: a natural cubic spline through the values at user-given x positions (``knots``);
  the coefficients are the background heights at the knots.
* ``linear_interpolation`` — straight segments between fixed points (GSAS-II ``lin interpolate``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import chebyshev as npcheb

from refine.errors import InputError
from refine.registry import Registry

Basis = Callable[[np.ndarray, "Background"], np.ndarray]
BACKGROUNDS: Registry[Basis] = Registry("background function")


@dataclass(frozen=True)
class Background:
    """A background function.

    Parameters
    ----------
    kind
        A name in :data:`BACKGROUNDS`.
    nterms
        Number of coefficients for polynomial kinds (order + 1).
    knots
        x positions of the fixed points for ``spline`` / ``linear_interpolation``.
    domain
        (x0, x1) for the scaled polynomial variable; None = the x range the basis is built on.
    """

    kind: str = "chebyshev"
    nterms: int = 6
    knots: tuple[float, ...] = ()
    domain: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        BACKGROUNDS.get(self.kind)  # unknown kinds raise here
        object.__setattr__(self, "knots", tuple(float(k) for k in self.knots))
        if self.kind in ("spline", "linear_interpolation"):
            if len(self.knots) < 2 or np.any(np.diff(self.knots) <= 0):
                raise InputError("background", f"{self.kind} needs at least two increasing knot positions")
        elif self.nterms < 1:
            raise InputError("background", "a polynomial background needs at least one term")

    @property
    def size(self) -> int:
        """Number of coefficients."""
        return len(self.knots) if self.kind in ("spline", "linear_interpolation") else self.nterms

    def basis(self, x: Sequence[float] | np.ndarray) -> np.ndarray:
        """The (len(x), size) design matrix."""
        return BACKGROUNDS.get(self.kind)(np.asarray(x, dtype=float), self)

    def evaluate(self, x: Sequence[float] | np.ndarray, coefficients: Sequence[float]) -> np.ndarray:
        """Background at x for the given coefficients."""
        coefficients = np.asarray(coefficients, dtype=float)
        if coefficients.shape != (self.size,):
            raise InputError("background", f"expected {self.size} coefficients, got {coefficients.shape}")
        return self.basis(x) @ coefficients

    def names(self, prefix: str = "") -> list[str]:
        """lmfit parameter names of the coefficients."""
        return [f"{prefix}bkg_{i}" for i in range(self.size)]


def _scaled(x: np.ndarray, bg: Background) -> np.ndarray:
    x0, x1 = bg.domain if bg.domain is not None else (float(np.min(x)), float(np.max(x)))
    if not x1 > x0:
        raise InputError("background", f"empty background domain ({x0}, {x1})")
    return 2.0 * (x - x0) / (x1 - x0) - 1.0


@BACKGROUNDS.register("chebyshev")
def _chebyshev(x: np.ndarray, bg: Background) -> np.ndarray:
    return npcheb.chebvander(_scaled(x, bg), bg.nterms - 1)


@BACKGROUNDS.register("shifted_chebyshev")
def _shifted_chebyshev(x: np.ndarray, bg: Background) -> np.ndarray:
    u = (_scaled(x, bg) + 1.0) / 2.0
    return npcheb.chebvander(2.0 * u - 1.0, bg.nterms - 1)


@BACKGROUNDS.register("power")
def _power(x: np.ndarray, bg: Background) -> np.ndarray:
    return np.vander(_scaled(x, bg), bg.nterms, increasing=True)


@BACKGROUNDS.register("spline")
def _spline(x: np.ndarray, bg: Background) -> np.ndarray:
    from scipy.interpolate import CubicSpline  # here: scipy.interpolate costs 0.45 s, before the fits' workers fork

    knots = np.asarray(bg.knots)
    # Column k is the natural cubic spline through the unit vector e_k at the knots (linear in the heights).
    spline = CubicSpline(knots, np.eye(knots.size), bc_type="natural", extrapolate=True)
    return spline(x)


@BACKGROUNDS.register("linear_interpolation")
def _linear(x: np.ndarray, bg: Background) -> np.ndarray:
    knots = np.asarray(bg.knots)
    return np.column_stack([np.interp(x, knots, e) for e in np.eye(knots.size)])
