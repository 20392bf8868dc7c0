"""Real-space envelopes of G(r): finite particle shapes and the Q-resolution damping.

Each shape is a characteristic function gamma_0(r) multiplying the bulk G(r) (Kodama et al., Acta Cryst. A62
(2006) 444), registered by name in :data:`ENVELOPES` and called as ``f(r, size)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from refine.errors import InputError
from refine.registry import Registry

ENVELOPES: Registry[Callable[[np.ndarray, float], np.ndarray]] = Registry("PDF envelope")


@ENVELOPES.register("sphere")
def sphere_envelope(r: np.ndarray, diameter: float) -> np.ndarray:
    """Solid sphere of diameter d: 1 - 3x/2 + x^3/2 with x = r/d for r < d, else 0 (PDFfit2 spdiameter)."""
    x = np.asarray(r, dtype=float) / diameter
    return np.where(x < 1.0, 1.0 - 1.5 * x + 0.5 * x**3, 0.0)


@ENVELOPES.register("sheet")
def sheet_envelope(r: np.ndarray, thickness: float) -> np.ndarray:
    """Infinite sheet of thickness t: 1 - r/(2t) for r < t, t/(2r) beyond (Kodama et al. 2006)."""
    r = np.asarray(r, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(r < thickness, 1.0 - 0.5 * r / thickness, 0.5 * thickness / np.maximum(r, 1e-300))


@ENVELOPES.register("stepcut")
def step_envelope(r: np.ndarray, cutoff: float) -> np.ndarray:
    """Empirical step: 1 for r <= cutoff, 0 beyond (PDFfit2 stepcut)."""
    return np.where(np.asarray(r, dtype=float) <= cutoff, 1.0, 0.0)


def qdamp_envelope(r: np.ndarray, qdamp: float) -> np.ndarray:
    """Gaussian Q-resolution damping exp(-(qdamp r)^2 / 2) (PDFfit2 DataSet::determine)."""
    return np.exp(-0.5 * (np.asarray(r, dtype=float) * qdamp) ** 2)


def shape_envelope(r: np.ndarray, shapes: tuple[tuple[str, float], ...]) -> np.ndarray:
    """Product of the named envelopes ``((name, size), ...)``; a size <= 0 switches that envelope off."""
    out = np.ones_like(np.asarray(r, dtype=float))
    for name, size in shapes:
        func = ENVELOPES.get(name)
        if not np.isfinite(size):
            raise InputError("envelope", f"{name} size must be finite, got {size}")
        if size > 0:
            out = out * func(r, float(size))
    return out
