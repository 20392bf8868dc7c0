"""Compiled fill of the sparse peak matrix (the fast path of :func:`refine.powder.peaks.profile_matrix`).

With a frozen :class:`~refine.powder.peaks.PeakLayout` the sparsity pattern of the peak matrix (``indptr``,
``indices``) never changes during a fit; only its values do. :func:`csr_structure` builds that pattern once per
layout and row map: every row's columns are the union of its peaks' windows (e.g. the Kα1 and Kα2 windows of one
reflection), and because each window is one run of consecutive columns, the columns of a window are also
consecutive in the row's part of ``data``: a peak only needs the ``data`` index of its first column (``start``).
:func:`fill_profiles` then writes every value in one compiled pass: for each peak its FCJ convolution nodes
(:func:`refine.powder.peakshape.fcj_kernels`, same formula) and, for each node, the TCH pseudo-Voigt over the
window (:func:`refine.powder.peakshape.pseudo_voigt`, same formula), added in place. No COO→CSR conversion,
sort or duplicate summation is needed. numba compiles the kernel once and caches it on disk (``cache=True``).
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
    """Constant part of a peak matrix: CSR ``indptr`` and ``indices`` (int32), and per peak the ``data`` index of
    its window's first column (``start``)."""

    indptr: np.ndarray
    indices: np.ndarray
    start: np.ndarray
    shape: tuple[int, int]

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
    indptr = np.searchsorted(keys, np.arange(nrows + 1, dtype=np.int64) * ncols).astype(np.int32)
    indices = (keys - np.repeat(np.arange(nrows, dtype=np.int64) * ncols, np.diff(indptr))).astype(np.int32)
    start = np.searchsorted(keys, row * ncols + i0).astype(np.int64)
    start[counts == 0] = 0
    return CsrStructure(indptr=indptr, indices=indices, start=start, shape=(int(nrows), int(ncols)))


@functools.cache
def gauss_legendre_table(max_nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [0, 1] for every count 1..max_nodes, concatenated: (u, w, pointer),
    where count n occupies ``pointer[n]:pointer[n] + n`` (the values of ``peakshape._gauss_legendre01``)."""
    from refine.powder.peakshape import _gauss_legendre01

    pointer = np.zeros(max_nodes + 1, dtype=np.int64)
    us, ws = [], []
    pos = 0
    for n in range(1, max_nodes + 1):
        u, w = _gauss_legendre01(n)
        pointer[n] = pos
        us.append(u)
        ws.append(w)
        pos += n
    out = np.concatenate(us), np.concatenate(ws), pointer
    for a in out:
        a.flags.writeable = False
    return out


@functools.cache
def _compiled() -> Callable:
    """The compiled kernel (numba is imported, and compiles or loads its disk cache, on the first call)."""
    import numba

    @numba.njit(cache=True, fastmath=False, nogil=True)
    def fill(x, pos, fwhm, eta, weight, nodes, i0, i1, start, sh_l, gl_u, gl_w, gl_ptr, data):  # pragma: no cover
        inv_pi = 1.0 / np.pi
        sq2ln2 = np.sqrt(2.0 * np.log(2.0))
        sq2pi = np.sqrt(2.0 * np.pi)
        nmax = 0
        for k in range(nodes.shape[0]):
            nmax = max(nmax, nodes[k])
        off = np.zeros(max(nmax, 1))
        wts = np.zeros(max(nmax, 1))
        for k in range(pos.shape[0]):
            a, b = i0[k], i1[k]
            if b <= a:
                continue
            n = nodes[k]
            tth = pos[k]
            if n <= 1:
                n = 1
                off[0] = 0.0
                wts[0] = 1.0
            else:
                # FCJ kernel exactly as peakshape.fcj_kernels (same operations, same order).
                back = tth > 90.0
                t2 = ((180.0 - tth) if back else tth) * (np.pi / 180.0)
                c = np.cos(t2)
                arg = min(max(c * np.sqrt(sh_l * sh_l + 1.0), -1.0), 1.0)
                span = max(t2 - np.arccos(arg), 0.0) * (180.0 / np.pi) * (np.pi / 180.0)
                p = gl_ptr[n]
                total = 0.0
                for i in range(n):
                    u = gl_u[p + i]
                    phi = t2 - span * u * u
                    cphi = np.cos(phi)
                    d = np.sqrt(max(cphi * cphi / (c * c) - 1.0, 0.0))
                    wi = max(sh_l - d, 0.0) / max(d * abs(cphi), 1e-300) * (2.0 * span * u) * gl_w[p + i]
                    wts[i] = wi
                    off[i] = (phi - t2) * (180.0 / np.pi)
                    total += wi
                if np.isfinite(total) and total > 0:
                    for i in range(n):
                        wts[i] = wts[i] / total
                        if back:
                            off[i] = -off[i]
                else:
                    for i in range(n):
                        wts[i] = 1.0 / n
                        off[i] = 0.0
            hw = fwhm[k] / 2.0
            e = eta[k]
            s = hw / sq2ln2
            gnorm = s * sq2pi
            base = start[k] - a
            for i in range(n):
                centre = tth + off[i]
                wc = wts[i] * weight[k]
                for j in range(a, b):
                    dx = x[j] - centre
                    lor = inv_pi * hw / (dx * dx + hw * hw)
                    t = dx / s
                    gau = np.exp(-0.5 * (t * t)) / gnorm
                    data[base + j] += wc * (e * lor + (1.0 - e) * gau)

    return fill


def fill_profiles(x: np.ndarray, positions: np.ndarray, fwhm: np.ndarray, eta: np.ndarray, weight: np.ndarray,
                  layout: PeakLayout, structure: CsrStructure, sh_l: float) -> np.ndarray:
    """The ``data`` array (length ``structure.nnz``) of the peak matrix: peak k contributes ``weight[k]`` × its
    FCJ-convolved unit-area pseudo-Voigt (``layout.nodes[k]`` Gauss–Legendre nodes) over its window
    ``layout.i0[k]:layout.i1[k]``. All arrays float64 / int64 and contiguous (numba compiles one signature)."""
    data = np.zeros(structure.nnz)
    nodes, i0, i1 = layout.kernel_arrays
    gl_u, gl_w, gl_ptr = gauss_legendre_table(max(int(nodes.max(initial=1)), 1))
    _compiled()(x, positions, fwhm, eta, weight, nodes, i0, i1, structure.start, float(sh_l), gl_u, gl_w, gl_ptr,
                data)
    return data
