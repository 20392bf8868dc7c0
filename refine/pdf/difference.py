"""Differential PDFs: ΔG = G_B − G_A of two states on A's grid, and a dataset fitting ΔG with a model difference."""

from __future__ import annotations

from collections.abc import Callable

import lmfit
import numpy as np

from refine.data import Pattern
from refine.errors import InputError
from refine.fit import Dataset


def difference_pattern(a: Pattern, b: Pattern) -> Pattern:
    """ΔG = G_B − G_A on A's grid, dG propagated: dG² = dG_A² + dG_B(interp)².

    G_B is band-limited (by its Qmax) and sampled finer than pi/Qmax, so a cubic spline interpolates it to O(h⁴);
    linear interpolation would bias sharp peaks by ~h² G''/8.
    Only A's points inside B's r range are kept.  With unit weights on both the result has unit weights.
    """
    src = f"{a.source or 'A'} - {b.source or 'B'}"
    if a.unit != "r_A" or b.unit != "r_A":
        raise InputError(src, "both curves must be G(r) with r in Å")
    keep = (a.x >= b.x[0] - 1e-9) & (a.x <= b.x[-1] + 1e-9)
    if keep.sum() < 2:
        raise InputError(src, "the two r ranges do not overlap")
    x = a.x[keep]
    from scipy.interpolate import CubicSpline

    gb = CubicSpline(b.x, b.y)(x)
    sb = np.interp(x, b.x, b.sigma)  # linear interpolation of sigma: conservative for correlated neighbours
    has = a.has_sigma or b.has_sigma
    sigma = np.sqrt(a.sigma[keep] ** 2 + sb**2) if has else None
    return Pattern.from_arrays(x, gb - a.y[keep], sigma, unit="r_A", radiation=a.radiation,
                               sigma_source="propagated" if has else "unit",
                               metadata={"source": src, "header": "difference G_B - G_A"})


def difference_dataset(name: str, delta: Pattern, model_a: Callable[[lmfit.Parameters], np.ndarray],
                       model_b: Callable[[lmfit.Parameters], np.ndarray]) -> Dataset:
    """A dataset fitting ΔG = G_B − G_A with the model difference model_b(params) − model_a(params).

    Both models must evaluate on ``delta.x``; they usually share parameters (A fixed at a previous fit's values,
    the changed ones of B refined).
    """
    def model(params: lmfit.Parameters) -> np.ndarray:
        return np.asarray(model_b(params)) - np.asarray(model_a(params))

    return Dataset(name=name, pattern=delta, model=model, kind="pdf")
