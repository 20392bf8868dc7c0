"""Constant-wavelength peak shape: Thompson–Cox–Hastings pseudo-Voigt with Finger–Cox–Jephcoat asymmetry.

Widths follow GSAS-II (Toby & Von Dreele 2013; GSAS manual, profile type 2/3/4) in its units:
Gaussian variance σ² = U tan²θ + V tanθ + W (centideg²), Lorentzian FWHM γ = X/cosθ + Y tanθ + Z (centideg).
The TCH pseudo-Voigt (Thompson, Cox & Hastings, J. Appl. Cryst. 20 (1987) 79) has
FWHM⁵ = Γg⁵ + 2.69269 Γg⁴Γl + 2.42843 Γg³Γl² + 4.47163 Γg²Γl³ + 0.07842 ΓgΓl⁴ + Γl⁵ with Γg = sqrt(8 ln2 σ²), Γl = γ,
and η = 1.36603 q − 0.47719 q² + 0.11116 q³, q = Γl/FWHM. Profiles have unit area in degrees 2θ.
Axial divergence: Finger, Cox & Jephcoat, J. Appl. Cryst. 27 (1994) 892, with GSAS-II's single parameter
SH/L = S/L + H/L and S/L = H/L.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike

_LN2 = np.log(2.0)
_TCH = (2.69269, 2.42843, 4.47163, 0.07842)


def gaussian_variance(tth: ArrayLike, *, U: float, V: float, W: float) -> np.ndarray:
    """σ² (centideg²) = U tan²θ + V tanθ + W; floored at a tiny positive value."""
    t = np.tan(np.radians(np.asarray(tth, dtype=float) / 2.0))
    return np.maximum(U * t * t + V * t + W, 1e-8)


def lorentzian_fwhm(tth: ArrayLike, *, X: float, Y: float, Z: float = 0.0) -> np.ndarray:
    """γ (centideg) = X/cosθ + Y tanθ + Z, not below zero."""
    th = np.radians(np.asarray(tth, dtype=float) / 2.0)
    return np.maximum(X / np.cos(th) + Y * np.tan(th) + Z, 0.0)


def tch_fwhm_eta(sigma2: ArrayLike, gamma: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Total FWHM (degrees) and Lorentzian fraction η from σ² (centideg²) and γ (centideg)."""
    g = np.sqrt(8.0 * _LN2 * np.asarray(sigma2, dtype=float)) / 100.0
    lo = np.asarray(gamma, dtype=float) / 100.0
    a1, a2, a3, a4 = _TCH
    fwhm = (g**5 + a1 * g**4 * lo + a2 * g**3 * lo**2 + a3 * g**2 * lo**3 + a4 * g * lo**4 + lo**5) ** 0.2
    q = lo / fwhm
    eta = np.clip(1.36603 * q - 0.47719 * q**2 + 0.11116 * q**3, 0.0, 1.0)
    return fwhm, eta


def pseudo_voigt(dx: ArrayLike, fwhm: ArrayLike, eta: ArrayLike) -> np.ndarray:
    """Unit-area pseudo-Voigt η L + (1 − η) G at offsets dx (degrees) from the peak centre."""
    dx = np.asarray(dx, dtype=float)
    hw = np.asarray(fwhm, dtype=float) / 2.0
    lor = (1.0 / np.pi) * hw / (dx * dx + hw * hw)
    s = hw / np.sqrt(2.0 * _LN2)
    gau = np.exp(-0.5 * (dx / s) ** 2) / (s * np.sqrt(2.0 * np.pi))
    return eta * lor + (1.0 - eta) * gau


@functools.lru_cache(maxsize=64)
def _gauss_legendre01(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [0, 1] (cached: pure function of n)."""
    x, w = np.polynomial.legendre.leggauss(max(int(n), 1))
    x, w = 0.5 * (x + 1.0), 0.5 * w
    x.flags.writeable = False
    w.flags.writeable = False
    return x, w


def fcj_kernel(tth: float, sh_l: float, *, nodes: int = 24, min_span: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (deg, ≤ 0) and weights (summing to 1) of the FCJ axial-divergence kernel of a peak at ``tth``.

    With H/L = S/L = SH/L / 2 the FCJ inflection point 2φ_infl coincides with 2θ, so between 2φ_min and 2θ the
    weight is (H + S − D)/(2HS D |cos 2φ|) with D/L = sqrt(cos²2φ/cos²2θ − 1) and cos 2φ_min = cos 2θ sqrt(1 +
    (SH/L)²) (FCJ eqs. 7–9). Above 90° 2θ the asymmetry is mirrored. A single zero offset is returned when the
    kernel is narrower than ``min_span`` degrees. ``nodes`` Gauss–Legendre points sample it.
    """
    if sh_l <= 0 or tth <= 0:
        return np.zeros(1), np.ones(1)
    hs = sh_l  # h + s = SH/L
    back = tth > 90.0
    t2 = np.radians(180.0 - tth if back else tth)
    c = np.cos(t2)
    arg = c * np.sqrt(hs * hs + 1.0)
    if arg >= 1.0:  # the whole cone is cut: kernel spans down to 0
        phi_min = 0.0
    else:
        phi_min = np.arccos(arg)
    span = t2 - phi_min
    if span <= max(1e-9, np.radians(min_span)):
        return np.zeros(1), np.ones(1)
    # Substitute 2φ = 2θ − span·u² to absorb the 1/sqrt singularity of 1/D at 2φ → 2θ.
    u, w = _gauss_legendre01(nodes)
    phi = t2 - span * u * u
    cphi = np.cos(phi)
    d = np.sqrt(np.maximum(cphi * cphi / (c * c) - 1.0, 0.0))
    weight = np.maximum(hs - d, 0.0) / np.maximum(d * np.abs(cphi), 1e-300) * (2.0 * span * u) * w
    total = weight.sum()
    if not np.isfinite(total) or total <= 0:
        return np.zeros(1), np.ones(1)
    offsets = np.degrees(phi - t2)
    return (-offsets if back else offsets), weight / total


def fcj_span(tth: np.ndarray, sh_l: float) -> np.ndarray:
    """Width (deg) of the FCJ kernel, 2θ − 2φ_min (mirrored above 90°), for peaks at ``tth``."""
    tth = np.asarray(tth, dtype=float)
    t2 = np.radians(np.where(tth > 90.0, 180.0 - tth, tth))
    arg = np.cos(t2) * np.sqrt(sh_l * sh_l + 1.0)
    phi_min = np.arccos(np.clip(arg, -1.0, 1.0))
    return np.degrees(np.maximum(t2 - phi_min, 0.0))


def fcj_kernels(tth: np.ndarray, sh_l: float, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`fcj_kernel` for many peaks with the same node count: offsets and weights (npeaks, nodes)."""
    tth = np.asarray(tth, dtype=float)
    back = tth > 90.0
    t2 = np.radians(np.where(back, 180.0 - tth, tth))[:, None]
    c = np.cos(t2)
    span = np.radians(fcj_span(tth, sh_l))[:, None]
    u, w = _gauss_legendre01(nodes)
    phi = t2 - span * u * u
    cphi = np.cos(phi)
    d = np.sqrt(np.maximum(cphi * cphi / (c * c) - 1.0, 0.0))
    weight = np.maximum(sh_l - d, 0.0) / np.maximum(d * np.abs(cphi), 1e-300) * (2.0 * span * u) * w
    total = weight.sum(axis=1, keepdims=True)
    ok = np.isfinite(total[:, 0]) & (total[:, 0] > 0)
    weight = np.where(ok[:, None], weight / np.where(ok[:, None], total, 1.0), 1.0 / nodes)
    offsets = np.degrees(phi - t2)
    offsets = np.where(ok[:, None], offsets, 0.0)
    return np.where(back[:, None], -offsets, offsets), weight


def fcj_kernels_derivatives(tth: np.ndarray, sh_l: float, nodes: int) -> tuple[np.ndarray, ...]:
    """:func:`fcj_kernels` (the same offsets and weights) with their analytic derivatives with respect to the peak
    position and SH/L: (offsets, weights, ∂offsets/∂2θ, ∂offsets/∂SH/L, ∂weights/∂2θ, ∂weights/∂SH/L), each
    (npeaks, nodes); offsets in deg, 2θ in deg. Peaks whose kernel degenerates (no valid weight) get zero
    derivatives, as their single-offset fallback does not move."""
    tth = np.asarray(tth, dtype=float)
    offsets, weights = fcj_kernels(tth, sh_l, nodes)
    back = tth > 90.0
    dt2 = np.where(back, -1.0, 1.0)[:, None] * (np.pi / 180.0)  # d(2θ, rad, folded below 90°)/d(2θ, deg)
    t2 = np.radians(np.where(back, 180.0 - tth, tth))[:, None]
    c = np.cos(t2)
    root = np.sqrt(sh_l * sh_l + 1.0)
    arg = c * root
    inside = np.abs(arg) < 1.0
    sq = np.sqrt(np.where(inside, 1.0 - arg * arg, 1.0))
    span = np.radians(fcj_span(tth, sh_l))[:, None]
    live = inside & (span > 0)
    # φ_min = arccos(c·√(h²+1)): ∂/∂t2 = √(h²+1) sin t2 / √(1 − arg²), ∂/∂h = −c h/(√(h²+1) √(1 − arg²)).
    dspan_t = np.where(live, dt2 * (1.0 - root * np.sin(t2) / sq), 0.0)
    dspan_h = np.where(live, c * sh_l / (root * sq), 0.0)
    u, w = _gauss_legendre01(nodes)
    uu = u * u
    phi = t2 - span * uu
    cphi = np.cos(phi)
    sphi = np.sin(phi)
    d = np.sqrt(np.maximum(cphi * cphi / (c * c) - 1.0, 0.0))
    good = (sh_l - d > 0.0) & (d > 0.0)
    dsafe = np.where(good, d, 1.0)
    out = []
    # The derivatives of the operations fcj_kernels performs (so they match its rounding, as central differences of
    # it see them): D = sqrt(cos²2φ/cos²2θ − 1), raw weight (h − D)/(D |cos 2φ|)·2 span u w.
    for dt, dspan, dh in ((dt2, dspan_t, 0.0), (0.0, dspan_h, 1.0)):
        dphi = dt - dspan * uu
        dcphi = -sphi * dphi
        dc = -np.sin(t2) * dt
        dd = (cphi * dcphi / (c * c) - cphi * cphi * dc / (c * c * c)) / dsafe
        dlog = (dh - dd) / np.where(good, sh_l - d, 1.0) - dd / dsafe - dcphi / cphi + dspan / np.where(
            span > 0, span, 1.0)
        dlog = np.where(good, dlog, 0.0)
        dweight = weights * (dlog - np.sum(weights * dlog, axis=1, keepdims=True))
        doff = np.degrees(-dspan * uu) * np.where(back, -1.0, 1.0)[:, None]
        out.append((doff, dweight))
    ok = np.any(good, axis=1)[:, None] & (span > 0)
    (doff_t, dw_t), (doff_h, dw_h) = out
    zero = np.zeros_like(offsets)
    return (offsets, weights, np.where(ok, doff_t, zero), np.where(ok, doff_h, zero), np.where(ok, dw_t, zero),
            np.where(ok, dw_h, zero))


def scherrer_size_nm(X: float, wavelength: float, *, K: float = 0.9) -> float | None:
    """Crystallite size (nm) from the Lorentzian size term X (centideg): p = 18000 K λ/(π X) Å (GSAS manual)."""
    return None if X <= 0 else 18000.0 * K * wavelength / (np.pi * X) / 10.0


def microstrain_percent(Y: float) -> float:
    """Microstrain (%) from the Lorentzian strain term Y (centideg): S = π Y/18000 × 100 % (GSAS manual)."""
    return np.pi * Y / 18000.0 * 100.0
