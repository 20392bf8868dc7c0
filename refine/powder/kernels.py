"""Compiled fill of the sparse peak matrix (the fast path of :func:`refine.powder.peaks.profile_matrix`).

With a frozen :class:`~refine.powder.peaks.PeakLayout` the sparsity pattern of the peak matrix (``indptr``,
``indices``) never changes during a fit; only its values do. :func:`csr_structure` builds that pattern once per
layout and row map: every row's columns are the union of its peaks' windows (e.g. the Kα1 and Kα2 windows of one
reflection), and because each window is one run of consecutive columns, the columns of a window are also
consecutive in the row's part of ``data``: a peak only needs the ``data`` index of its first column (``start``).
:func:`fill_profiles` then writes every value in one compiled pass: for each FCJ node of each peak (centres and
weights from :func:`refine.powder.peakshape.fcj_kernels`, evaluated by numpy: the FCJ span is a small difference of
two angles, so a one-ulp difference between numpy's and libm's cos/arccos would show at 1e-11) the TCH pseudo-Voigt
over the peak's window (:func:`refine.powder.peakshape.pseudo_voigt`, same operations), added in place; exp() is
skipped where the Gaussian term is below 2⁻⁵³ of the Lorentzian one (it cannot change the sum beyond rounding).
No COO→CSR conversion, sort or duplicate summation is needed. The numba code is in
:mod:`refine.powder._peak_jit`, compiled once and cached on disk.
"""

from __future__ import annotations

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


#: Point evaluations (components × window points) from which ``parallel=True`` fills the matrix with threads.
PARALLEL_WORK = 200_000


def _compiled(parallel: bool) -> Callable:
    """The compiled fill, one thread or row blocks on numba's threads. numba is imported (and compiles or loads its
    disk cache) on the first call only: importing :mod:`refine.powder` stays cheap."""
    from refine.powder import _peak_jit

    return _peak_jit.fill_rows_parallel if parallel else _peak_jit.fill_rows


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
