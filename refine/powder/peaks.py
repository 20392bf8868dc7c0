"""Sparse evaluation of many peaks on a pattern grid.

Each peak is evaluated only inside a window around it (never over the whole pattern); the result is a sparse
(npeaks × npoints) matrix P of unit-area profiles, so that y = Pᵀ I for any intensity vector I. Le Bail, Pawley
and Rietveld all use the same matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from refine.powder.peakshape import fcj_kernel, pseudo_voigt


@dataclass(frozen=True)
class WindowOptions:
    """How far a peak is evaluated.

    ``cutoff``: the window ends where the profile falls to this fraction of its maximum (GSAS-II's "peak cutoff");
    ``max_fwhm``: never further than this many FWHM from the centre; ``fcj_nodes``: points sampling the
    asymmetry kernel (fewer are used when the kernel is narrow compared with the peak).
    """

    cutoff: float = 1e-3
    max_fwhm: float = 40.0
    fcj_nodes: int = 24


def half_window(fwhm: np.ndarray, eta: np.ndarray, options: WindowOptions) -> np.ndarray:
    """Half-width (deg) where the pseudo-Voigt drops to ``cutoff`` of its maximum (Gauss and Lorentz bounds)."""
    c = options.cutoff
    hl = eta * 2.0 / (np.pi * fwhm)
    hg = (1.0 - eta) * 2.0 * np.sqrt(np.log(2.0) / np.pi) / fwhm
    r = hl / np.maximum(hl + hg, 1e-300)
    x_lor = 0.5 * fwhm * np.sqrt(np.maximum(r / c - 1.0, 0.0))
    x_gau = 0.5 * fwhm * np.sqrt(np.log(1.0 / c) / np.log(2.0))
    return np.minimum(np.maximum(x_lor, x_gau), options.max_fwhm * fwhm)


def _expand_asymmetry(pos: np.ndarray, fwhm: np.ndarray, sh_l: float,
                      options: WindowOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Components (owner peak, centre, weight) after convolving each peak with its FCJ kernel."""
    if sh_l <= 0:
        n = pos.size
        return np.arange(n), pos.copy(), np.ones(n)
    owners, centres, weights = [], [], []
    for k, (p, f) in enumerate(zip(pos, fwhm, strict=True)):
        # Sample the kernel more densely when it is wide compared with the peak itself.
        off0, _ = fcj_kernel(p, sh_l, nodes=2)
        span = float(-off0.min()) / 0.9 if off0.size > 1 else 0.0
        nodes = int(np.clip(np.ceil(4.0 * span / f) + 2, 2, options.fcj_nodes))
        off, w = fcj_kernel(p, sh_l, nodes=nodes, min_span=0.02 * f)
        owners.append(np.full(off.size, k))
        centres.append(p + off)
        weights.append(w)
    return np.concatenate(owners), np.concatenate(centres), np.concatenate(weights)


def profile_matrix(x: np.ndarray, positions: np.ndarray, fwhm: np.ndarray, eta: np.ndarray, *, sh_l: float = 0.0,
                   options: WindowOptions | None = None) -> sp.csr_matrix:
    """Sparse (npeaks, npoints) matrix of unit-area TCH/FCJ profiles sampled at x (sorted, degrees 2θ).

    Values are profile heights (1/deg); ``P.T @ I`` gives the pattern of peaks with integrated intensities I.
    """
    options = options or WindowOptions()
    x = np.asarray(x, dtype=float)
    positions = np.asarray(positions, dtype=float)
    fwhm = np.asarray(fwhm, dtype=float)
    eta = np.asarray(eta, dtype=float)
    npk = positions.size
    if npk == 0:
        return sp.csr_matrix((0, x.size))
    owner, centre, weight = _expand_asymmetry(positions, fwhm, sh_l, options)
    f = fwhm[owner]
    e = eta[owner]
    hw = half_window(f, e, options)
    i0 = np.searchsorted(x, centre - hw, side="left")
    i1 = np.searchsorted(x, centre + hw, side="right")
    counts = i1 - i0
    total = int(counts.sum())
    comp = np.repeat(np.arange(owner.size), counts)
    starts = np.cumsum(counts) - counts
    cols = np.arange(total) - np.repeat(starts - i0, counts)
    vals = weight[comp] * pseudo_voigt(x[cols] - centre[comp], f[comp], e[comp])
    mat = sp.coo_matrix((vals, (owner[comp], cols)), shape=(npk, x.size))
    return mat.tocsr()
