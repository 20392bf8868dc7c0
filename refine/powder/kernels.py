"""Compiled fill of the sparse peak matrix (the fast path of :func:`refine.powder.peaks.profile_matrix`).

With a frozen :class:`~refine.powder.peaks.PeakLayout` the sparsity pattern of the peak matrix (``indptr``,
``indices``) never changes during a fit; only its values do. :func:`csr_structure` builds that pattern once per
layout and row map: every row's columns are the union of its peaks' windows (e.g. the Kα1 and Kα2 windows of one
reflection), and because each window is one run of consecutive columns, the columns of a window are also
consecutive in the row's part of ``data``: a peak only needs the ``data`` index of its first column (``start``).
:func:`fill_profiles` then writes every value in one compiled pass: for each FCJ node of each peak (centres and
weights from :func:`refine.powder.peakshape.fcj_kernels`, evaluated by numpy: the FCJ span is a small difference of
two angles, so a one-ulp difference between numpy's and libm's cos/arccos would show at 1e-11) the TCH pseudo-Voigt
over the peak's window (:func:`refine.powder.peakshape.pseudo_voigt`, same operations), added in place. No COO→CSR
conversion, sort or duplicate summation is needed. numba compiles the kernel once and caches it on disk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from refine.powder.peaks import PeakLayout


@dataclass(frozen=True, eq=False)
class CsrStructure:
    """Constant part of a peak matrix: CSR ``indptr`` and ``indices`` (int32 unless too many values), per peak
    the ``data`` index of its window's first column (``start``), and the peaks of each row (``peaks[row_ptr[r]:
    row_ptr[r + 1]]``, in peak order)."""

    indptr: np.ndarray
    indices: np.ndarray
    start: np.ndarray
    shape: tuple[int, int]
    row_ptr: np.ndarray
    peaks: np.ndarray

    @property
    def nnz(self) -> int:
        """Number of stored values."""
        return int(self.indices.size)


def csr_structure(i0: np.ndarray, i1: np.ndarray, row: np.ndarray, nrows: int, ncols: int) -> CsrStructure:
    """Sparsity pattern of an (nrows, ncols) matrix where peak k covers columns ``i0[k]:i1[k]`` of row ``row[k]``."""
    i0 = np.asarray(i0, dtype=np.int64)
    counts = np.maximum(np.asarray(i1, dtype=np.int64) - i0, 0)
    row = np.asarray(row, dtype=np.int64)
    if row.size and (row.min() < 0 or row.max() >= nrows):
        raise ValueError(f"peak rows must lie in 0..{nrows - 1}")
    total = int(counts.sum())
    # Linear key row·ncols + column of every covered cell; unique keys are the CSR entries in row-major order.
    first = np.repeat(row * ncols + i0 - (np.cumsum(counts) - counts), counts)
    keys = np.unique(first + np.arange(total, dtype=np.int64))
    index = np.int32 if max(keys.size, ncols) < np.iinfo(np.int32).max else np.int64  # as scipy would choose
    indptr = np.searchsorted(keys, np.arange(nrows + 1, dtype=np.int64) * ncols)
    indices = (keys - np.repeat(np.arange(nrows, dtype=np.int64) * ncols, np.diff(indptr))).astype(index)
    indptr = indptr.astype(index)
    start = np.searchsorted(keys, row * ncols + i0).astype(np.int64)
    start[counts == 0] = 0
    peaks = np.argsort(row, kind="stable").astype(np.int64)
    row_ptr = np.searchsorted(row[peaks], np.arange(nrows + 1, dtype=np.int64)).astype(np.int64)
    return CsrStructure(indptr=indptr, indices=indices, start=start, shape=(int(nrows), int(ncols)), row_ptr=row_ptr,
                        peaks=peaks)


# The pseudo-Voigt constants exactly as refine.powder.peakshape.pseudo_voigt computes them (numpy, not libm).
_LN2 = np.log(2.0)
_SQ2LN2 = float(np.sqrt(2.0 * _LN2))
_SQ2PI = float(np.sqrt(2.0 * np.pi))
_INV_PI = 1.0 / np.pi

#: Relative size below which the Gaussian term of a pseudo-Voigt is not evaluated: in the Lorentzian tails of
#: a peak exp() is most of the cost, and a term this small (half an ulp) cannot change the sum by more than rounding.
NEGLIGIBLE = 2.0**-53

#: Point evaluations (components × window points) from which ``parallel=True`` fills the matrix with threads.
PARALLEL_WORK = 200_000


@functools.cache
def _compiled(parallel: bool) -> Callable:
    """The compiled kernel, one thread or one row block per thread (numba is imported, and compiles or loads its
    disk cache, on the first call of each). numpy's error model: a zero width gives inf/NaN as in numpy."""
    import numba

    @numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
    def gauss_cut(lor, gau, k, hw2):  # pragma: no cover - compiled
        """d² beyond which gau·exp(−k d²) < NEGLIGIBLE × lor/(d² + hw²) (both > 0): the Gaussian term is skipped
        there (−1: everywhere; inf: nowhere)."""
        if gau == 0.0:
            return -1.0  # no Gaussian term at all
        if not (lor > 0.0 and gau > 0.0):
            return np.inf  # no Lorentzian term, or η outside [0, 1]: the Gaussian term everywhere
        # f(u) = ln(gau) − k(u − hw²) + ln(u) − ln(ε·lor), u = d² + hw², is concave with its maximum at u = 1/k;
        # every Newton iterate after the first lies at or beyond its root, so any of them is a safe cut.
        c = np.log(gau) + k * hw2 - np.log(NEGLIGIBLE * lor)
        u = 1.0 / k
        if c - k * u + np.log(u) <= 0.0:
            return -1.0  # the Gaussian term is negligible everywhere
        u = 2.0 / k
        for _ in range(8):
            u = u - (c - k * u + np.log(u)) / (1.0 / u - k)
        return u - hw2

    @numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
    def add_peak(k, x, cstart, ncomp, centre, cweight, fwhm, eta, weight, i0, i1, start, data):  # pragma: no cover
        a, b = i0[k], i1[k]
        hw = fwhm[k] / 2.0
        e = eta[k]
        s = hw / _SQ2LN2
        hw2 = hw * hw
        half_inv_s2 = 0.5 / (s * s)
        base = start[k] - a
        # The cut depends on the ratio of the two terms only, the same for every component of the peak.
        cut = gauss_cut(e * _INV_PI * hw, (1.0 - e) / (s * _SQ2PI), half_inv_s2, hw2)
        for c in range(cstart[k], cstart[k] + ncomp[k]):
            wc = cweight[c] * weight[k]
            # pseudo_voigt's η·(hw/π)/(dx² + hw²) + (1 − η)·exp(−dx²/2s²)/(s√(2π)), its constants folded.
            lor = wc * e * _INV_PI * hw
            gau = wc * (1.0 - e) / (s * _SQ2PI)
            cen = centre[c]
            if lor != 0.0:
                for j in range(a, b):
                    dx = x[j] - cen
                    data[base + j] += lor / (dx * dx + hw2)
            if cut < 0.0:
                continue
            ga, gb = a, b
            if cut < np.inf:  # the Gaussian term only where it is not negligible: one run of points
                r = np.sqrt(cut)
                ga = a + np.searchsorted(x[a:b], cen - r)
                gb = a + np.searchsorted(x[a:b], cen + r, side="right")
            for j in range(ga, gb):
                dx = x[j] - cen
                data[base + j] += gau * np.exp(-(dx * dx * half_inv_s2))

    if parallel:
        @numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy", parallel=True)
        def fill_rows(x, row_ptr, peaks, cstart, ncomp, centre, cweight, fwhm, eta, weight, i0, i1, start,
                      data):  # pragma: no cover - compiled
            # Rows own disjoint parts of data: one thread per row block, no write races.
            for r in numba.prange(row_ptr.shape[0] - 1):
                for q in range(row_ptr[r], row_ptr[r + 1]):
                    add_peak(peaks[q], x, cstart, ncomp, centre, cweight, fwhm, eta, weight, i0, i1, start, data)

        return fill_rows

    @numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
    def fill_rows_serial(x, row_ptr, peaks, cstart, ncomp, centre, cweight, fwhm, eta, weight, i0, i1, start,
                         data):  # pragma: no cover - compiled
        for r in range(row_ptr.shape[0] - 1):
            for q in range(row_ptr[r], row_ptr[r + 1]):
                add_peak(peaks[q], x, cstart, ncomp, centre, cweight, fwhm, eta, weight, i0, i1, start, data)

    return fill_rows_serial


@dataclass(frozen=True, eq=False)
class ComponentPlan:
    """How the peaks of a layout split into pseudo-Voigt components (fixed by the FCJ node counts).

    ``single``: peaks with one component; ``groups``: (node count, peaks) for the others, in the order of
    ``peaks._expand_asymmetry``; component ``cstart[k]`` .. ``cstart[k] + ncomp[k]`` belong to peak k; ``work``:
    point evaluations per matrix.
    """

    single: np.ndarray
    groups: tuple[tuple[int, np.ndarray], ...]
    cstart: np.ndarray
    ncomp: np.ndarray
    work: int


def component_plan(nodes: np.ndarray, i0: np.ndarray, i1: np.ndarray) -> ComponentPlan:
    """The :class:`ComponentPlan` of peaks with ``nodes`` FCJ nodes and windows ``i0:i1``."""
    nodes = np.asarray(nodes, dtype=np.int64)
    single = np.flatnonzero(nodes <= 1)
    groups = tuple((int(n), np.flatnonzero(nodes == n)) for n in np.unique(nodes[nodes > 1]))
    owner = np.concatenate([single] + [np.repeat(idx, n) for n, idx in groups]).astype(np.int64)
    ncomp = np.bincount(owner, minlength=nodes.size).astype(np.int64)
    cstart = np.zeros(nodes.size, dtype=np.int64)
    first = np.ones(owner.size, dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    cstart[owner[first]] = np.flatnonzero(first)
    work = int(np.dot(ncomp, np.maximum(np.asarray(i1) - np.asarray(i0), 0)))
    return ComponentPlan(single=single, groups=groups, cstart=cstart, ncomp=ncomp, work=work)


def fill_profiles(x: np.ndarray, components: tuple[np.ndarray, np.ndarray], fwhm: np.ndarray, eta: np.ndarray,
                  weight: np.ndarray, layout: PeakLayout, structure: CsrStructure, *,
                  parallel: bool = False) -> np.ndarray:
    """The ``data`` array (length ``structure.nnz``) of the peak matrix.

    ``components`` = (centre, FCJ weight) of every pseudo-Voigt after the asymmetry convolution, in the order of
    ``layout.plan`` (:class:`ComponentPlan`); they are computed by numpy, so that centres and weights are bitwise
    those of the reference. Component c of peak k adds ``cweight[c]`` × ``weight[k]`` × the unit-area
    pseudo-Voigt of the peak's FWHM and η, centred on ``centre[c]``, over the peak's window of ``layout``. Each
    row's peaks are added in order, so the result does not depend on the number of threads; with ``parallel``
    numba's thread pool (``NUMBA_NUM_THREADS``) fills blocks of rows when there are at least
    :data:`PARALLEL_WORK` point evaluations. That is about 1.5× faster on two idle cores, but up to 2× slower when
    another process keeps a core busy (the parallel region waits for its slowest thread), so it is off by default.
    """
    data = np.zeros(structure.nnz)
    _, i0, i1 = layout.kernel_arrays
    plan = layout.plan
    centre, cweight = components
    kernel = _compiled(parallel and plan.work >= PARALLEL_WORK)
    kernel(x, structure.row_ptr, structure.peaks, plan.cstart, plan.ncomp, centre, cweight, fwhm, eta, weight, i0,
           i1, structure.start, data)
    return data
