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
import sys
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


def _flat_windows(n: int, r0: float, dr: float, d: np.ndarray, sigma: np.ndarray, amp: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (peak, grid point) of the 5-sigma windows, flattened peak by peak.

    Returns the peaks with a non-empty window, their window starts in the flat arrays (CSC indptr), and the grid
    index, x = (r - d)/sigma and the Gaussian T = amp N(r; d, sigma) of each flat element."""
    ib, ie = windows(n, r0, dr, d, sigma)
    good = np.nonzero(ie >= ib)[0]
    width = (ie - ib + 1)[good]
    indptr = np.zeros(len(good) + 1, dtype=np.int64)
    np.cumsum(width, out=indptr[1:])
    idx = np.arange(indptr[-1])
    idx += np.repeat(ib[good] - indptr[:-1], width)
    x = idx * dr
    x += r0
    x -= np.repeat(d[good], width)
    x *= np.repeat(1.0 / sigma[good], width)
    t = x * x
    t *= -0.5
    np.exp(t, out=t)
    t *= np.repeat(amp[good] / (np.sqrt(2 * np.pi) * sigma[good]), width)
    return good, indptr, idx, x, t


@PEAK_BACKENDS.register("numpy")
def add_peaks_numpy(ppp: np.ndarray, r0: float, dr: float, d: np.ndarray, sigma: np.ndarray,
                    amp: np.ndarray) -> None:
    """Add the peaks to ``ppp`` (in place) with numpy exp() evaluations, in blocks of peaks."""
    n = len(ppp)
    for sl in _blocks(n, dr, sigma):
        _, _, idx, _, t = _flat_windows(n, r0, dr, d[sl], sigma[sl], amp[sl])
        ppp += np.bincount(idx, weights=t, minlength=n)


def _blocks(n: int, dr: float, sigma: np.ndarray) -> list[slice]:
    """Slices of peaks with at most ~_CHUNK window points each (bounds the temporary arrays)."""
    width = np.minimum(2 * PEAK_SIGMAS * sigma / dr + 2, n)
    ends = np.cumsum(width)
    out, start, base = [], 0, 0.0
    while start < len(sigma):
        stop = max(start + 1, int(np.searchsorted(ends, base + _CHUNK, side="right")))
        out.append(slice(start, stop))
        base = float(ends[stop - 1])
        start = stop
    return out


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


@functools.cache
def _numba_geometry():
    """Compiled distances of listed pairs: (f_j − f_i + n)·B, kept when dmin <= d <= dmax."""
    import numba

    @numba.njit(cache=True, fastmath=False)
    def geometry(frac, base, ii, jj, ns, dmin, dmax, keep, d, unit):  # pragma: no cover - compiled
        m = 0
        for p in range(ii.shape[0]):
            i, j = ii[p], jj[p]
            f0 = frac[j, 0] - frac[i, 0] + ns[p, 0]
            f1 = frac[j, 1] - frac[i, 1] + ns[p, 1]
            f2 = frac[j, 2] - frac[i, 2] + ns[p, 2]
            v0 = f0 * base[0, 0] + f1 * base[1, 0] + f2 * base[2, 0]
            v1 = f0 * base[0, 1] + f1 * base[1, 1] + f2 * base[2, 1]
            v2 = f0 * base[0, 2] + f1 * base[1, 2] + f2 * base[2, 2]
            dist = np.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
            if dist >= dmin and dist <= dmax:
                keep[m] = p
                d[m] = dist
                unit[m, 0] = v0 / dist
                unit[m, 1] = v1 / dist
                unit[m, 2] = v2 / dist
                m += 1
        return m

    return geometry


def pair_geometry(frac: np.ndarray, base: np.ndarray, ii: np.ndarray, jj: np.ndarray, ns: np.ndarray, dmin: float,
                  dmax: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices into the list, distances and unit vectors of the listed pairs (i, j, lattice shift n) with
    dmin <= |(f_j − f_i + n)·B| <= dmax (compiled; :class:`refine.pdf.pairs.NeighbourList` keeps the numpy form as
    its reference)."""
    n = ii.shape[0]
    keep = np.empty(n, dtype=np.int64)
    d = np.empty(n)
    unit = np.empty((n, 3))
    m = _numba_geometry()(np.ascontiguousarray(frac, dtype=float), np.ascontiguousarray(base, dtype=float),
                          ii, jj, np.ascontiguousarray(ns, dtype=float), float(dmin), float(dmax), keep, d, unit)
    return keep[:m], d[:m], unit[:m]


@PEAK_BACKENDS.register("numba")
def add_peaks_numba(ppp: np.ndarray, r0: float, dr: float, d: np.ndarray, sigma: np.ndarray,
                    amp: np.ndarray) -> None:
    """Add the peaks to ``ppp`` (in place) with the compiled recurrence kernel."""
    ib, ie = windows(len(ppp), r0, dr, d, sigma)
    _numba_kernel()(ppp, float(r0), float(dr), np.ascontiguousarray(d, dtype=float),
                    np.ascontiguousarray(sigma, dtype=float), np.ascontiguousarray(amp, dtype=float), ib, ie)


#: Work of one call (window points x (1 + derivative columns / 4)) below which numpy is the cheaper backend for a
#: whole fit in a fresh process.  Measured on the two-phase benchmark: numpy ~15 ns per unit of work, numba ~6 times
#: less but a one-off ~0.6 s per process (import ~0.3 s, loading its cached kernels ~0.3 s; ~2 s compiling them
#: with an empty cache), so over a fit of ~17 calls numpy wins below ~0.6 s / (17 x 5/6 x 15 ns) ~ 3e6.
NUMPY_MAX_WORK = 3_000_000


def window_points(dr: float, sigma: np.ndarray) -> float:
    """Number of grid points in the 5-sigma windows of the peaks (the work of one summation)."""
    return float(np.sum(2 * PEAK_SIGMAS * sigma)) / dr + len(sigma)


def default_backend(npeaks: int, work: float | None = None) -> str:
    """The backend with the smaller measured cost: numpy for small sums (``work`` window points x columns below
    :data:`NUMPY_MAX_WORK`, or fewer than 2000 peaks) unless numba is already loaded in this process, else numba
    when importable."""
    if npeaks < 2000:
        return "numpy"
    if "numba" not in sys.modules:
        if work is not None and work < NUMPY_MAX_WORK:
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
    ∂T/∂d = T x/sigma and ∂T/∂sigma² = T (x² - 1)/(2 sigma²).  The per-peak sums are sparse matrix products
    (grid point x peak matrices of T x and T (x² - 1) times the coefficient columns)."""
    from scipy.sparse import csc_matrix

    n = len(ppp)
    for sl in _blocks(n, dr, sigma):
        good, indptr, idx, x, t = _flat_windows(n, r0, dr, d[sl], sigma[sl], amp[sl])
        ppp += np.bincount(idx, weights=t, minlength=n)
        tx = t * x
        txx = tx * x
        txx -= t
        shape = (n, len(good))
        dppp += csc_matrix((tx, idx, indptr), shape=shape) @ a[sl][good]
        dppp += csc_matrix((txx, idx, indptr), shape=shape) @ b[sl][good]


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
