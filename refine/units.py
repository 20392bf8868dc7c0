"""Units and pure conversions between 2θ, Q and d.

Internal units are fixed: Å for lengths and wavelengths, degrees for 2θ, Å⁻¹ for Q. Unit strings follow
pyFAI (``2th_deg``, ``q_A^-1``, ``d_A``); ``r_A`` is the real-space distance of a PDF (not pyFAI's
``r_mm``, which is a detector radius). Every conversion is keyword-only and pure.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refine.errors import InputError

TTH_DEG = "2th_deg"
Q_A = "q_A^-1"
D_A = "d_A"
R_A = "r_A"

#: Units a :class:`~refine.data.Pattern` may carry.
INTERNAL_UNITS = (TTH_DEG, Q_A, D_A, R_A)
#: Reciprocal-space units that convert into each other given a wavelength.
RECIPROCAL_UNITS = (TTH_DEG, Q_A, D_A)

# Other spellings found in files, mapped to (internal unit, factor to multiply by).
_ALIASES: dict[str, tuple[str, float]] = {
    "2th_deg": (TTH_DEG, 1.0),
    "2theta": (TTH_DEG, 1.0),
    "tth": (TTH_DEG, 1.0),
    "2th_rad": (TTH_DEG, float(np.degrees(1.0))),
    "q_a^-1": (Q_A, 1.0),
    "q": (Q_A, 1.0),
    "q_nm^-1": (Q_A, 0.1),
    "d_a": (D_A, 1.0),
    "d_nm": (D_A, 10.0),
    "r_a": (R_A, 1.0),
    "r": (R_A, 1.0),
}


def normalize_unit(unit: str) -> tuple[str, float]:
    """Map a unit string to ``(internal unit, factor)`` such that ``x_internal = factor * x``.

    Raises
    ------
    InputError
        For a unit refine does not know.
    """
    try:
        return _ALIASES[unit.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(_ALIASES))
        raise InputError("unit", f"unknown unit {unit!r}; known: {known}") from None


def _check_wavelength(wavelength: float | None) -> float:
    if wavelength is None or not np.isfinite(wavelength) or wavelength <= 0:
        raise InputError("wavelength", f"a positive wavelength in Å is needed, got {wavelength!r}")
    return float(wavelength)


def tth_to_q(*, tth: ArrayLike, wavelength: float) -> np.ndarray:
    """Q = 4π sin(θ)/λ, with 2θ in degrees and λ in Å."""
    lam = _check_wavelength(wavelength)
    return 4.0 * np.pi * np.sin(np.radians(np.asarray(tth, dtype=float)) / 2.0) / lam


def _bragg_angle(sin_theta: np.ndarray) -> np.ndarray:
    """Bragg's law solved for the angle: 2θ (degrees) of sin θ = λ/2d = Qλ/4π; NaN where |sin θ| > 1.

    The one place refine turns a spacing into an angle (every 2θ of a d or Q comes through here).
    """
    with np.errstate(invalid="ignore"):
        return np.degrees(2.0 * np.arcsin(np.where(np.abs(sin_theta) <= 1.0, sin_theta, np.nan)))


def q_to_tth(*, q: ArrayLike, wavelength: float) -> np.ndarray:
    """2θ in degrees from Q in Å⁻¹; NaN where Qλ/4π > 1 (not reachable at that wavelength)."""
    lam = _check_wavelength(wavelength)
    return _bragg_angle(np.asarray(q, dtype=float) * lam / (4.0 * np.pi))


def q_to_d(*, q: ArrayLike) -> np.ndarray:
    """d = 2π/Q (Å); infinite at Q = 0."""
    q = np.asarray(q, dtype=float)
    with np.errstate(divide="ignore"):
        return 2.0 * np.pi / q


def d_to_q(*, d: ArrayLike) -> np.ndarray:
    """Q = 2π/d (Å⁻¹)."""
    d = np.asarray(d, dtype=float)
    with np.errstate(divide="ignore"):
        return 2.0 * np.pi / d


def tth_to_d(*, tth: ArrayLike, wavelength: float) -> np.ndarray:
    """Bragg's law d = λ / (2 sin θ) (Å), with 2θ in degrees; infinite at 2θ = 0."""
    lam = _check_wavelength(wavelength)
    with np.errstate(divide="ignore"):
        return lam / (2.0 * np.sin(np.radians(np.asarray(tth, dtype=float)) / 2.0))


def d_to_tth(*, d: ArrayLike, wavelength: float) -> np.ndarray:
    """2θ (degrees) of spacing d by Bragg's law λ = 2d sin θ; NaN where λ/2d > 1."""
    lam = _check_wavelength(wavelength)
    with np.errstate(divide="ignore"):
        return _bragg_angle(lam / (2.0 * np.asarray(d, dtype=float)))


def convert(x: ArrayLike, *, from_unit: str, to_unit: str, wavelength: float | None = None) -> np.ndarray:
    """Convert values between any two reciprocal-space units (2θ needs the wavelength).

    ``r_A`` converts only to itself.
    """
    src, f_src = normalize_unit(from_unit)
    dst, f_dst = normalize_unit(to_unit)
    x = np.asarray(x, dtype=float) * f_src
    if src == dst:
        return x / f_dst
    if R_A in (src, dst):
        raise InputError("unit", f"cannot convert {from_unit} to {to_unit}")
    if src == TTH_DEG:
        q = tth_to_q(tth=x, wavelength=wavelength)
    elif src == D_A:
        q = d_to_q(d=x)
    else:
        q = x
    if dst == TTH_DEG:
        out = q_to_tth(q=q, wavelength=wavelength)
    elif dst == D_A:
        out = q_to_d(q=q)
    else:
        out = q
    return out / f_dst
