"""Sparse evaluation of many peaks on a pattern grid.

Each peak is evaluated only inside a window around it (never over the whole pattern); the result is a sparse
(npeaks × npoints) matrix P of unit-area profiles, so that y = Pᵀ I for any intensity vector I. Le Bail, Pawley
and Rietveld all use the same matrix.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from refine.powder.kernels import ComponentPlan, CsrStructure, component_plan, csr_structure, fill_profiles
from refine.powder.peakshape import fcj_kernels, fcj_span, pseudo_voigt


@dataclass(frozen=True)
class WindowOptions:
    """How far a peak is evaluated.

    ``cutoff``: the window ends where the profile falls to this fraction of its maximum (GSAS-II's "peak cutoff");
    ``max_fwhm``: never further than this many FWHM from the centre; ``fcj_nodes``: points sampling the
    asymmetry kernel (fewer are used when the kernel is narrow compared with the peak); ``parallel``: fill large
    peak matrices with numba's threads (see :func:`refine.powder.kernels.fill_profiles`; same values).
    """

    cutoff: float = 1e-3
    max_fwhm: float = 40.0
    fcj_nodes: int = 24
    parallel: bool = False


def half_window(fwhm: np.ndarray, eta: np.ndarray, options: WindowOptions) -> np.ndarray:
    """Half-width (deg) where the pseudo-Voigt drops to ``cutoff`` of its maximum (Gauss and Lorentz bounds)."""
    c = options.cutoff
    hl = eta * 2.0 / (np.pi * fwhm)
    hg = (1.0 - eta) * 2.0 * np.sqrt(np.log(2.0) / np.pi) / fwhm
    r = hl / np.maximum(hl + hg, 1e-300)
    x_lor = 0.5 * fwhm * np.sqrt(np.maximum(r / c - 1.0, 0.0))
    x_gau = 0.5 * fwhm * np.sqrt(np.log(1.0 / c) / np.log(2.0))
    return np.minimum(np.maximum(x_lor, x_gau), options.max_fwhm * fwhm)


@dataclass(frozen=True, eq=False)
class PeakLayout:
    """Frozen evaluation layout of a set of peaks: FCJ node count and the x-index window of each peak.

    A fit keeps one layout while it runs, so that no point enters or leaves a window and no node count changes
    while the parameters move: the model is then smooth in its parameters (finite-difference Jacobians stay
    clean). Windows carry a margin for the peaks to move and broaden within them.
    """

    nodes: np.ndarray
    i0: np.ndarray
    i1: np.ndarray

    @functools.cached_property
    def kernel_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(nodes, i0, i1) as contiguous int64 arrays for the compiled kernel (made once)."""
        return tuple(np.ascontiguousarray(a, dtype=np.int64) for a in (self.nodes, self.i0, self.i1))

    @functools.cached_property
    def plan(self) -> ComponentPlan:
        """How the peaks split into FCJ components (fixed by the node counts; made once)."""
        return component_plan(*self.kernel_arrays)

    @functools.cached_property
    def _structures(self) -> dict:
        # Sparsity patterns of matrices on this layout, one per (row map, shape): computed once, never mutated.
        return {}

    def structure(self, row: np.ndarray, nrows: int, ncols: int) -> CsrStructure:
        """The constant CSR pattern of the peak matrix on this layout with peak k in row ``row[k]`` (cached)."""
        row = np.ascontiguousarray(row, dtype=np.int64)
        key = (int(nrows), int(ncols), row.tobytes())
        found = self._structures.get(key)
        if found is None:
            found = csr_structure(self.i0, self.i1, row, nrows, ncols)
            self._structures[key] = found
        return found


def peak_layout(x: np.ndarray, positions: np.ndarray, fwhm: np.ndarray, eta: np.ndarray, *, sh_l: float = 0.0,
                options: WindowOptions | None = None, margin: float = 0.0, min_nodes: int = 1) -> PeakLayout:
    """Layout for peaks at ``positions``: windows to ``options.cutoff`` (plus the FCJ kernel's extent), widened
    by ``margin`` × FWHM on each side; node counts as described in :func:`fcj_nodes`, at least ``min_nodes``
    (use 2 while SH/L is refined, so that every peak depends on it)."""
    options = options or WindowOptions()
    positions = np.asarray(positions, dtype=float)
    fwhm = np.asarray(fwhm, dtype=float)
    nodes = np.maximum(fcj_nodes(positions, fwhm, sh_l, options), min_nodes if sh_l > 0 else 1)
    hw = half_window(fwhm, np.asarray(eta, dtype=float), options) + margin * fwhm
    span = fcj_span(positions, sh_l) if sh_l > 0 else np.zeros_like(positions)
    back = positions > 90.0
    lo = positions - hw - np.where(back, 0.0, span)
    hi = positions + hw + np.where(back, span, 0.0)
    return PeakLayout(nodes=nodes, i0=np.searchsorted(x, lo, side="left"), i1=np.searchsorted(x, hi, side="right"))


def fcj_nodes(pos: np.ndarray, fwhm: np.ndarray, sh_l: float, options: WindowOptions) -> np.ndarray:
    """Gauss–Legendre nodes per peak for the FCJ convolution.

    Peaks whose kernel is narrower than 2 % of their FWHM stay single (1); the others get 2, 4, 8, ... nodes (up
    to ``options.fcj_nodes``) so that nodes are at most about a quarter FWHM apart.
    """
    if sh_l <= 0:
        return np.ones(pos.size, dtype=int)
    span = fcj_span(pos, sh_l)
    wide = span > 0.02 * fwhm
    need = np.where(wide, 4.0 * span / fwhm + 2.0, 1.0)
    nodes = np.minimum(2 ** np.ceil(np.log2(need)).astype(int), max(options.fcj_nodes, 1))
    nodes[~wide] = 1
    return nodes


def _expand_asymmetry(pos: np.ndarray, nodes: np.ndarray, sh_l: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Components (owner peak, centre, weight) after convolving each peak with its FCJ kernel of ``nodes``
    points; each node-count group is evaluated in one vectorised call."""
    single = nodes <= 1
    owners, centres, weights = [np.flatnonzero(single)], [pos[single]], [np.ones(int(single.sum()))]
    for count in np.unique(nodes[~single]):
        idx = np.flatnonzero(nodes == count)
        off, w = fcj_kernels(pos[idx], sh_l, int(count))
        owners.append(np.repeat(idx, count))
        centres.append((pos[idx, None] + off).ravel())
        weights.append(w.ravel())
    return np.concatenate(owners), np.concatenate(centres), np.concatenate(weights)


def _expand_planned(pos: np.ndarray, plan: ComponentPlan, sh_l: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres and weights of :func:`_expand_asymmetry` (the same operations, so the same bits) from a layout's
    cached grouping of peaks by node count."""
    centres, weights = [pos[plan.single]], [np.ones(plan.single.size)]
    for count, idx in plan.groups:
        off, w = fcj_kernels(pos[idx], sh_l, count)
        centres.append((pos[idx, None] + off).ravel())
        weights.append(w.ravel())
    return np.concatenate(centres), np.concatenate(weights)


@dataclass(frozen=True)
class RowMap:
    """Where each peak goes: peak i adds ``weight[i]`` × its profile to row ``row[i]`` of an ``nrows`` matrix
    (e.g. the Kα1 and Kα2 peaks of one reflection into one row)."""

    row: np.ndarray
    weight: np.ndarray
    nrows: int


def _prepare(x, positions, fwhm, eta, sh_l: float, options: WindowOptions, rows: RowMap | None,
             layout: PeakLayout | None) -> tuple:
    """The arguments of :func:`profile_matrix` (and its reference) as contiguous float arrays, the number of rows,
    and the layout (made for these peaks when none is given, checked against them when one is)."""
    x, positions, fwhm, eta = (np.ascontiguousarray(a, dtype=float) for a in (x, positions, fwhm, eta))
    npk = positions.size
    nrows = npk if rows is None else rows.nrows
    if npk and layout is None:
        layout = peak_layout(x, positions, fwhm, eta, sh_l=sh_l, options=options)
    elif npk and layout.nodes.size != npk:
        raise ValueError(f"layout is for {layout.nodes.size} peaks, got {npk}")
    return x, positions, fwhm, eta, nrows, layout


def profile_matrix(x: np.ndarray, positions: np.ndarray, fwhm: np.ndarray, eta: np.ndarray, *, sh_l: float = 0.0,
                   options: WindowOptions | None = None, rows: RowMap | None = None,
                   layout: PeakLayout | None = None) -> sp.csr_matrix:
    """Sparse (npeaks, npoints) matrix of unit-area TCH/FCJ profiles sampled at x (sorted, degrees 2θ).

    Values are profile heights (1/deg); ``P.T @ I`` gives the pattern of peaks with integrated intensities I.
    With ``rows`` the peaks are summed into ``rows.nrows`` rows instead (one row per reflection). ``layout``
    freezes windows and node counts (see :class:`PeakLayout`); without it one is made for these peaks.

    Compiled fast path (:mod:`refine.powder.kernels`): the matrix's sparsity pattern is cached on the layout and
    its values are written in one pass; :func:`profile_matrix_reference` is the plain numpy definition it equals
    (to rounding).
    """
    options = options or WindowOptions()
    x, positions, fwhm, eta, nrows, layout = _prepare(x, positions, fwhm, eta, sh_l, options, rows, layout)
    npk = positions.size
    if npk == 0:
        return sp.csr_matrix((nrows, x.size))
    if layout.i1.size and (layout.i1.max() > x.size or layout.i0.min() < 0):
        raise ValueError(f"layout windows reach beyond the {x.size} points of x")
    if rows is None:
        row, weight = np.arange(npk), np.ones(npk)
    else:
        row, weight = rows.row, np.ascontiguousarray(rows.weight, dtype=float)
    structure = layout.structure(row, nrows, x.size)
    components = _expand_planned(positions, layout.plan, sh_l)
    data = fill_profiles(x, components, fwhm, eta, weight, layout, structure, parallel=options.parallel)
    # The pattern arrays are copied (cheap): a caller may modify the matrix in place (e.g. eliminate_zeros).
    mat = sp.csr_matrix((data, structure.indices.copy(), structure.indptr.copy()), shape=structure.shape,
                        copy=False)
    mat.has_canonical_format = True  # sorted, no duplicates: by construction of the pattern
    return mat


def profile_matrix_reference(x: np.ndarray, positions: np.ndarray, fwhm: np.ndarray, eta: np.ndarray, *,
                             sh_l: float = 0.0, options: WindowOptions | None = None, rows: RowMap | None = None,
                             layout: PeakLayout | None = None) -> sp.csr_matrix:
    """The numpy definition of :func:`profile_matrix` (same arguments and result; slower): the test oracle."""
    x, positions, fwhm, eta, nrows, layout = _prepare(x, positions, fwhm, eta, sh_l, options or WindowOptions(),
                                                      rows, layout)
    if positions.size == 0:
        return sp.csr_matrix((nrows, x.size))
    owner, centre, weight = _expand_asymmetry(positions, layout.nodes, sh_l)
    i0, i1 = layout.i0[owner], layout.i1[owner]
    counts = i1 - i0
    total = int(counts.sum())
    comp = np.repeat(np.arange(owner.size), counts)
    starts = np.cumsum(counts) - counts
    cols = np.arange(total) - np.repeat(starts - i0, counts)
    f = fwhm[owner]
    e = eta[owner]
    if rows is not None:
        weight = weight * rows.weight[owner]
        owner = rows.row[owner]
    vals = weight[comp] * pseudo_voigt(x[cols] - centre[comp], f[comp], e[comp])
    return sp.csr_matrix((vals, (owner[comp], cols)), shape=(nrows, x.size))
