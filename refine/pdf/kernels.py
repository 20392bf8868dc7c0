"""Peak-summation kernels: add truncated normalised Gaussians amp * N(r; d, sigma) onto an equidistant grid.

PDFfit2 evaluates each pair Gaussian on the grid points within 5 sigma of its centre (DataSet::determine);
the kernels reproduce that window exactly.  Backends are registered in :data:`PEAK_BACKENDS`:

* ``numpy``: vectorised blocks of exp() evaluations (the reference);
* ``numba``: a compiled loop that walks each window with the exact recurrence
  g(x + h) = g(x) exp(-x h - h²/2), so one exp() per peak instead of one per grid point.  Its one-off
  compilation is cached on disk (numba ``cache=True``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from refine.registry import Registry

PEAK_SIGMAS = 5.0  # PDFfit2 evaluates each Gaussian out to 5 sigma
_CHUNK = 2_000_000  # grid-point evaluations per vectorised numpy block

PeakKernel = Callable[[np.ndarray, float, float, np.ndarray, np.ndarray, np.ndarray], None]
PEAK_BACKENDS: Registry[PeakKernel] = Registry("peak-summation backend")


def nint(x):
    """Nearest integer, halves away from zero (the nint of PDFfit2)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def windows(n: int, r0: float, dr: float, d: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last grid index of each peak's 5-sigma window, clipped to the grid (PDFfit2 ib, ie)."""
    rb = np.maximum(r0, d - PEAK_SIGMAS * sigma)
    re = np.minimum(r0 + dr * (n - 1), d + PEAK_SIGMAS * sigma)
    return nint((rb - r0) / dr).astype(np.int64), nint((re - r0) / dr).astype(np.int64)


@PEAK_BACKENDS.register("numpy")
def add_peaks_numpy(ppp: np.ndarray, r0: float, dr: float, d: np.ndarray, sigma: np.ndarray,
                    amp: np.ndarray) -> None:
    """Add the peaks to ``ppp`` (in place) with blocks of numpy exp() evaluations."""
    ib, ie = windows(len(ppp), r0, dr, d, sigma)
    good = ie >= ib
    d, sigma, amp, ib, ie = d[good], sigma[good], amp[good], ib[good], ie[good]
    if len(d) == 0:
        return
    width = ie - ib + 1
    order = np.argsort(width, kind="stable")  # blocks of similar width waste little padding
    d, sigma, amp, ib, width = d[order], sigma[order], amp[order], ib[order], width[order]
    gnorm = amp / (np.sqrt(2 * np.pi) * sigma)
    start = 0
    while start < len(d):
        stop = min(len(d), start + max(1, _CHUNK // int(width[start])))
        while stop > start + 1 and int(width[stop - 1]) * (stop - start) > 2 * _CHUNK:
            stop = start + (stop - start) // 2
        wmax = int(width[stop - 1])
        offs = np.arange(wmax)
        idx = ib[start:stop, None] + offs[None, :]
        valid = offs[None, :] < width[start:stop, None]
        x = (r0 + idx * dr - d[start:stop, None]) / sigma[start:stop, None]
        val = np.where(valid, gnorm[start:stop, None] * np.exp(-0.5 * x * x), 0.0)
        ppp += np.bincount(np.where(valid, idx, 0).ravel(), weights=val.ravel(), minlength=len(ppp))
        start = stop


@functools.cache
def _numba_kernel():
    """The compiled kernel (numba imports and compiles, or loads its disk cache, on first call)."""
    import numba

    @numba.njit(cache=True, fastmath=False)
    def kernel(ppp, r0, dr, d, sigma, amp, ib, ie):  # pragma: no cover - compiled
        norm = 1.0 / np.sqrt(2.0 * np.pi)
        for k in range(d.shape[0]):
            if ie[k] < ib[k]:
                continue
            s = sigma[k]
            h = dr / s
            x = (r0 + ib[k] * dr - d[k]) / s
            g = np.exp(-0.5 * x * x)
            ratio = np.exp(-x * h - 0.5 * h * h)
            step = np.exp(-h * h)
            gnorm = amp[k] * norm / s
            for i in range(ib[k], ie[k] + 1):
                ppp[i] += gnorm * g
                g *= ratio
                ratio *= step

    return kernel


@PEAK_BACKENDS.register("numba")
def add_peaks_numba(ppp: np.ndarray, r0: float, dr: float, d: np.ndarray, sigma: np.ndarray,
                    amp: np.ndarray) -> None:
    """Add the peaks to ``ppp`` (in place) with the compiled recurrence kernel."""
    ib, ie = windows(len(ppp), r0, dr, d, sigma)
    _numba_kernel()(ppp, float(r0), float(dr), np.ascontiguousarray(d, dtype=float),
                    np.ascontiguousarray(sigma, dtype=float), np.ascontiguousarray(amp, dtype=float), ib, ie)


def default_backend(npeaks: int) -> str:
    """numba when importable and the sum is large enough to gain from it, else numpy."""
    if npeaks < 2000:
        return "numpy"
    try:
        import numba  # noqa: F401
    except ImportError:
        return "numpy"
    return "numba"


# ------------------------------------------------------------------------------------------- derivatives
#: ``f(ppp, dppp, r0, dr, d, sigma, amp, a, b)``: peaks into ppp, dppp[:, j] += sum_k a[k, j] T x + b[k, j] T (x² - 1)
DerivKernel = Callable[..., None]
DERIV_BACKENDS: Registry[DerivKernel] = Registry("peak-derivative backend")


@DERIV_BACKENDS.register("numpy")
def add_peak_derivatives_numpy(ppp: np.ndarray, dppp: np.ndarray, r0: float, dr: float, d: np.ndarray,
                               sigma: np.ndarray, amp: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Peaks T_k = amp N(r; d, sigma) into ``ppp`` and, with x = (r - d)/sigma, the derivative combinations
    ``dppp[:, j] += sum_k a[k, j] T_k x + b[k, j] T_k (x² - 1)`` (in place, one peak block at a time).

    With a = (∂d/∂p)/sigma and b = (∂sigma²/∂p)/(2 sigma²) column j is ∂(sum T)/∂p_j, since
    ∂T/∂d = T x/sigma and ∂T/∂sigma² = T (x² - 1)/(2 sigma²)."""
    n = len(ppp)
    ib, ie = windows(n, r0, dr, d, sigma)
    good = ie >= ib
    d, sigma, amp, ib, ie, a, b = d[good], sigma[good], amp[good], ib[good], ie[good], a[good], b[good]
    width = ie - ib + 1
    gnorm = amp / (np.sqrt(2 * np.pi) * sigma)
    block = max(1, _CHUNK // (4 * max(1, int(width.max(initial=1)))))
    for start in range(0, len(d), block):
        sl = slice(start, start + block)
        wmax = int(width[sl].max())
        offs = np.arange(wmax)
        idx = ib[sl, None] + offs[None, :]
        valid = offs[None, :] < width[sl, None]
        x = (r0 + idx * dr - d[sl, None]) / sigma[sl, None]
        t = np.where(valid, gnorm[sl, None] * np.exp(-0.5 * x * x), 0.0)
        flat = np.where(valid, idx, 0).ravel()
        ppp += np.bincount(flat, weights=t.ravel(), minlength=n)
        tx, txx = t * x, t * (x * x - 1.0)
        for j in range(dppp.shape[1]):
            w = a[sl, j, None] * tx + b[sl, j, None] * txx
            dppp[:, j] += np.bincount(flat, weights=w.ravel(), minlength=n)


@functools.cache
def _numba_deriv_kernel():
    """Compiled value-and-derivative kernel (same recurrence as :func:`_numba_kernel`; x advances by h)."""
    import numba

    @numba.njit(cache=True, fastmath=False)
    def kernel(ppp, dppp, r0, dr, d, sigma, amp, a, b, ib, ie):  # pragma: no cover - compiled
        norm = 1.0 / np.sqrt(2.0 * np.pi)
        m = dppp.shape[1]
        for k in range(d.shape[0]):
            if ie[k] < ib[k]:
                continue
            s = sigma[k]
            h = dr / s
            x = (r0 + ib[k] * dr - d[k]) / s
            g = np.exp(-0.5 * x * x)
            ratio = np.exp(-x * h - 0.5 * h * h)
            step = np.exp(-h * h)
            gnorm = amp[k] * norm / s
            for i in range(ib[k], ie[k] + 1):
                t = gnorm * g
                ppp[i] += t
                tx = t * x
                txx = tx * x - t
                for j in range(m):
                    dppp[i, j] += a[k, j] * tx + b[k, j] * txx
                g *= ratio
                ratio *= step
                x += h

    return kernel


@DERIV_BACKENDS.register("numba")
def add_peak_derivatives_numba(ppp: np.ndarray, dppp: np.ndarray, r0: float, dr: float, d: np.ndarray,
                               sigma: np.ndarray, amp: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """As :func:`add_peak_derivatives_numpy` with the compiled kernel (``dppp`` C-contiguous (n, m))."""
    ib, ie = windows(len(ppp), r0, dr, d, sigma)
    f64 = dict(dtype=float)
    _numba_deriv_kernel()(ppp, dppp, float(r0), float(dr), np.ascontiguousarray(d, **f64),
                          np.ascontiguousarray(sigma, **f64), np.ascontiguousarray(amp, **f64),
                          np.ascontiguousarray(a, **f64), np.ascontiguousarray(b, **f64), ib, ie)
