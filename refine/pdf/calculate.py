"""Real-space G(r) of periodic structures with the definitions of PDFfit2/PDFgui.

G(r) = 1/(N r) sum_i sum_j' o_i o_j w_i w_j T(r; r_ij, sigma_ij) - 4 pi rho0 r           (Farrow et al.,
J. Phys.: Condens. Matter 19 (2007) 335219, eq. 1; PDFfit2 DataSet::determine)

with N = sum of occupancies, w = b/<b> (x-ray f(0) or neutron b_c), T a normalised Gaussian truncated at 5 sigma,
sigma_ij = sigma'_ij sqrt(1 - delta1/r_ij - delta2/r_ij^2 + Qbroad^2 r_ij^2) (times sratio below rcut), sigma'^2
the ADPs projected on the pair direction, then the envelopes exp(-(Qdamp r)^2/2), particle shapes, the scale,
and the Qmax termination as PDFfit2 does it: the range is extended by 6 ripples 6*2pi/Qmax above rmax and the
Fourier components above Qmax of the zero-padded curve are removed (DataSet::applyQmaxCutoff).

Two paths: :func:`calc_gr` re-broadens a :class:`~refine.pdf.pairs.PairTable` (fast, for fits) and
:func:`direct_gr` sums every atom pair of the structure afresh (exact reference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from refine.crystal.adp import iso_tensor
from refine.data import RADIATIONS
from refine.errors import InputError
from refine.pdf.envelopes import qdamp_envelope, shape_envelope
from refine.pdf.kernels import PEAK_BACKENDS, default_backend, nint, window_points
from refine.pdf.pairs import (
    NeighbourList,
    PairTable,
    default_classes,
    iter_pairs,
    pair_msd,
    scattering_factor,
)
from refine.pdf.structure import PDFStructure

NRIPPLES = 6  # PDFfit2 DataSet::extendCalculationRange


@dataclass(frozen=True)
class PDFSettings:
    """Parameters of one phase's G(r) (PDFfit2 names and meanings).

    Attributes
    ----------
    scale
        Overall scale (PDFfit2 dscale * pscale).
    delta1, delta2
        Correlated-motion sharpening (Å, Å²): sigma *= sqrt(1 - delta1/r - delta2/r²).
    qdamp
        Gaussian Q-resolution damping (Å⁻¹).
    qbroad
        Q-resolution peak broadening (Å⁻¹): sigma *= sqrt(1 + ... + qbroad² r²).
    qmax
        Termination Qmax (Å⁻¹); 0 for no termination.
    sratio, rcut
        Peak widths of pairs closer than rcut (Å) are multiplied by sratio.
    lattice_scale
        Isotropic scale of the lattice relative to the table's structure (a/a0).
    radiation
        "xray" or "neutron".
    uiso
        Isotropic U (Å²) per site-class label, overriding the structure's values.
    spdiameter
        Spherical particle diameter (Å), 0 for bulk.
    envelopes
        More shape envelopes, ``(("sheet", 30.0), ("stepcut", 40.0))``; see :data:`refine.pdf.envelopes.ENVELOPES`.
    """

    scale: float = 1.0
    delta1: float = 0.0
    delta2: float = 0.0
    qdamp: float = 0.0
    qbroad: float = 0.0
    qmax: float = 0.0
    sratio: float = 1.0
    rcut: float = 0.0
    lattice_scale: float = 1.0
    radiation: str = "xray"
    uiso: Mapping[str, float] = field(default_factory=dict)
    spdiameter: float = 0.0
    envelopes: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.radiation not in RADIATIONS:
            raise InputError("radiation", f"must be one of {RADIATIONS}, got {self.radiation!r}")
        for name in ("qdamp", "qbroad", "qmax", "spdiameter", "rcut", "delta1", "delta2"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise InputError(name, f"must be finite and >= 0, got {value}")
        if not self.lattice_scale > 0:
            raise InputError("lattice_scale", f"must be > 0, got {self.lattice_scale}")
        if not self.sratio > 0:
            raise InputError("sratio", f"must be > 0, got {self.sratio}")
        object.__setattr__(self, "uiso", dict(self.uiso))
        object.__setattr__(self, "envelopes", tuple((str(n), float(s)) for n, s in self.envelopes))

    def replace(self, **changes) -> PDFSettings:
        return replace(self, **changes)


# ---------------------------------------------------------------------------------------------------------- grid
@dataclass(frozen=True)
class _Grid:
    r0: float
    dr: float
    nout: int
    ncalc: int

    @property
    def r(self) -> np.ndarray:
        return self.r0 + self.dr * np.arange(self.ncalc)

    @property
    def rcmax(self) -> float:
        return self.r0 + self.dr * (self.ncalc - 1)


def calc_grid(r: np.ndarray, qmax: float) -> _Grid:
    """Calculation grid: the requested equidistant r extended by PDFfit2's 6*2pi/qmax above its end."""
    r = np.asarray(r, dtype=float)
    if r.ndim != 1 or len(r) < 2:
        raise InputError("r", "need a 1-D grid of at least 2 points")
    dr = (r[-1] - r[0]) / (len(r) - 1)
    if not dr > 0 or np.max(np.abs(np.diff(r) - dr)) > 1e-3 * dr:  # float32-written files jitter ~1e-6 Å
        raise InputError("r", "r must be increasing with equal steps")
    if r[0] < 0:
        raise InputError("r", f"r must be >= 0, got rmin {r[0]}")
    ncalc = len(r)
    if qmax > 0:
        rext = NRIPPLES * 2 * np.pi / qmax
        ncalc = int(nint((r[-1] + rext - r[0]) / dr)) + 1
    return _Grid(float(r[0]), float(dr), len(r), ncalc)


def qmax_cutoff(y: np.ndarray, dr: float, qmax: float) -> np.ndarray:
    """Remove Fourier components above qmax as PDFfit2 DataSet::applyQmaxCutoff does.

    The curve is zero-padded to the power of two >= twice its length, and the components with index
    >= ceil(qmax / dQ), dQ = 2 pi / ((npad - 1) dr), are set to zero.  A 2-D ``y`` is filtered row by row.
    """
    n = y.shape[-1]
    npad = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(y, npad)
    dq = 2 * np.pi / ((npad - 1) * dr)
    lo = int(np.ceil(qmax / dq))
    spec[..., lo:] = 0.0
    return np.fft.irfft(spec, npad)[..., :n]


# ---------------------------------------------------------------------------------------------------------- peaks
def _peak_widths(d: np.ndarray, msd: np.ndarray, s: PDFSettings) -> tuple[np.ndarray, np.ndarray]:
    """sigma of each peak and a mask of peaks that contribute (PDFfit2 NEW_SHARP definition)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corfact = 1.0 - s.delta2 / d**2 - s.delta1 / d + s.qbroad**2 * d**2
        ok = (msd > 0) & (corfact > 0)
        sigma = np.sqrt(np.where(ok, msd * corfact, 1.0))
    sigma = np.where(d < s.rcut, sigma * s.sratio, sigma)
    return sigma, ok


def _add_peaks(ppp: np.ndarray, grid: _Grid, d: np.ndarray, sigma: np.ndarray, amp: np.ndarray,
               backend: str | None) -> None:
    """Add amp * N(r; d, sigma) on the grid points within 5 sigma of each peak (in place)."""
    if len(d):
        name = backend or default_backend(len(d), window_points(grid.dr, sigma))
        PEAK_BACKENDS.get(name)(ppp, grid.r0, grid.dr, d, sigma, amp)


def _finish(ppp: np.ndarray, grid: _Grid, s: PDFSettings, natoms: float, rho0: float, dnorm: float) -> np.ndarray:
    """Peaks -> G(r): divide by N r, subtract the baseline, apply envelopes, scale and Qmax termination."""
    r = grid.r
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(r > 0, ppp / (natoms * r), 0.0) - 4 * np.pi * rho0 * dnorm * r
    if s.qdamp > 0:
        g *= qdamp_envelope(r, s.qdamp)
    shapes = ((("sphere", s.spdiameter),) if s.spdiameter > 0 else ()) + s.envelopes
    if shapes:
        g *= shape_envelope(r, shapes)
    g *= s.scale
    if s.qmax > 0:
        g = qmax_cutoff(g, grid.dr, s.qmax)
    return g[: grid.nout]


# ---------------------------------------------------------------------------------------------------------- table
def _table_msd(table: PairTable, s: PDFSettings) -> np.ndarray:
    """Per-entry sigma'^2 with the per-class Uiso overrides of the settings applied."""
    if not s.uiso:
        return table.msd
    shift = np.zeros(len(table.classes))
    for label, value in s.uiso.items():
        if label not in table.classes:
            raise InputError("uiso", f"unknown site class {label!r}; classes are {list(table.classes)}")
        c = table.classes.index(label)
        if np.isnan(table.class_uiso[c]):
            raise InputError("uiso", f"site class {label!r} has anisotropic or unequal ADPs; use direct_gr")
        shift[c] = float(value) - table.class_uiso[c]
    per_pair = shift[table.pair_first] + shift[table.pair_second]
    return table.msd + per_pair[table.pair_index]


def _with_spread(sigma: np.ndarray, spread: np.ndarray, lattice_scale: float) -> np.ndarray:
    """Peak widths of merged table entries: sigma² plus the entries' distance variance (scaled with the lattice)."""
    if not np.any(spread):
        return sigma
    return np.sqrt(sigma * sigma + lattice_scale**2 * spread)


@dataclass(frozen=True, eq=False)
class TablePeaks:
    """The pair-table entries that contribute on a calculation grid, with their widths and amplitudes.

    ``index`` are the entries' rows in the table; ``d``, ``msd`` (pair mean-square displacement), ``spread`` (merged
    distance variance, lattice-scaled), ``sigma`` (peak width, spread included) and ``amp`` are per entry.
    """

    grid: _Grid
    index: np.ndarray
    d: np.ndarray
    msd: np.ndarray
    spread: np.ndarray
    sigma: np.ndarray
    amp: np.ndarray


def table_peaks(table: PairTable, r: np.ndarray, s: PDFSettings, pair_mask: np.ndarray | None = None) -> TablePeaks:
    """Select the table entries PDFfit2 would sum for the grid ``r`` (pairs within [rcmin − 1, rcmax + 1], not
    closer than 0.1 Å, with a peak width) and compute their widths and amplitudes at the settings ``s``."""
    grid = calc_grid(r, s.qmax)
    lo = max(0.1, grid.r0 - 1.0)
    hi = grid.rcmax + 1.0
    if table.dmax * s.lattice_scale < hi:
        raise InputError("PairTable", f"covers distances to {table.dmax * s.lattice_scale:.2f} Å at lattice scale "
                         f"{s.lattice_scale:g}, need {hi:.2f} Å: build it with a larger rmax or qmax")
    d = table.distance * s.lattice_scale
    sel = (d >= lo) & (d <= hi)
    if pair_mask is not None:
        sel &= pair_mask[table.pair_index]
    msd = _table_msd(table, s)[sel]
    d = d[sel]
    w = table.class_weights(s.radiation)
    pidx = table.pair_index[sel]
    amp = table.multiplicity[sel] * w[table.pair_first[pidx]] * w[table.pair_second[pidx]]
    sigma, ok = _peak_widths(d, msd, s)
    sigma = _with_spread(sigma, table.spread[sel], s.lattice_scale)
    spread = s.lattice_scale**2 * table.spread[sel]
    return TablePeaks(grid=grid, index=np.nonzero(sel)[0][ok], d=d[ok], msd=msd[ok], spread=spread[ok],
                      sigma=sigma[ok], amp=amp[ok])


def _table_gr(table: PairTable, r: np.ndarray, s: PDFSettings, pair_mask: np.ndarray | None,
              dnorm: float, backend: str | None) -> np.ndarray:
    peaks = table_peaks(table, r, s, pair_mask)
    grid = peaks.grid
    ppp = np.zeros(grid.ncalc)
    _add_peaks(ppp, grid, peaks.d, peaks.sigma, peaks.amp, backend)
    natoms = float(table.class_occupancy.sum())
    rho0 = natoms / (table.structure.volume * s.lattice_scale**3)
    return _finish(ppp, grid, s, natoms, rho0, dnorm)


def calc_gr(table: PairTable, r: np.ndarray, settings: PDFSettings, backend: str | None = None) -> np.ndarray:
    """G(r) (Å⁻²) on the equidistant grid ``r`` from a pair table (the fast path used in fits).

    Parameters
    ----------
    table
        Pairs of the structure, from :meth:`PairTable.build` with an rmax >= r[-1] (and the same or a smaller qmax).
    r
        Equidistant r values (Å).
    settings
        Peak-shape, envelope and scale parameters.
    backend
        Peak-summation backend of :data:`refine.pdf.kernels.PEAK_BACKENDS` ("numpy", "numba"); default numba
        for large sums when it is installed.
    """
    return _table_gr(table, r, settings, None, 1.0, backend)


def partial_gr(table: PairTable, r: np.ndarray, settings: PDFSettings, first: str | Sequence[str],
               second: str | Sequence[str], backend: str | None = None) -> np.ndarray:
    """Contribution of the pairs between two groups of sites to G(r); the partials of all pairs sum to G(r).

    ``first`` and ``second`` select site classes by class label or species ("V", "O", ("Na", "Li")). Each
    partial carries its share of the baseline, sum over the selected ordered pairs of o_i w_i o_j w_j / N²
    (PDFfit2 dnorm with occupancies).
    """
    a = set(table.class_index(first).tolist())
    b = set(table.class_index(second).tolist())
    pf, ps = table.pair_first, table.pair_second
    mask = np.array([(p in a and q in b) or (p in b and q in a) for p, q in zip(pf, ps, strict=True)])
    w = table.class_weights(settings.radiation) * table.class_occupancy
    natoms = float(table.class_occupancy.sum())
    share = sum(w[p] * w[q] * (1.0 if p == q else 2.0) for p, q in zip(pf[mask], ps[mask], strict=True))
    return _table_gr(table, r, settings, mask, share / natoms**2, backend)


# ---------------------------------------------------------------------------------------------------------- direct
def direct_gr(structure: PDFStructure, r: np.ndarray, settings: PDFSettings,
              classes: Sequence[str] | None = None, *, backend: str = "numpy",
              neighbours: NeighbourList | None = None) -> np.ndarray:
    """G(r) by the direct double sum over every atom pair and lattice image (exact reference path).

    Anisotropic ADPs are projected on each pair direction. ``settings.uiso`` overrides are applied per site
    through the class labels (default :func:`~refine.pdf.pairs.default_classes`); ``lattice_scale`` scales the cell.
    ``backend`` adds the peaks (``"numpy"``, the reference; ``"numba"`` compiled, equal to 1e-12, for fits that
    call this hundreds of times). ``neighbours`` keeps the pair list between calls of a structure that moves a
    little (the same pairs, distances recomputed).
    """
    s = settings
    labels = default_classes(structure) if classes is None else tuple(classes)
    if s.uiso:
        u = structure.u.copy()
        for label, value in s.uiso.items():
            if label not in labels:
                raise InputError("uiso", f"unknown site class {label!r}")
            u[np.array([lab == label for lab in labels])] = float(value) * iso_tensor(structure.cell)
        structure = structure.replace(u=u)
    if s.lattice_scale != 1.0:
        a, b, c, al, be, ga = structure.lattice
        k = s.lattice_scale
        structure = structure.replace(lattice=(a * k, b * k, c * k, al, be, ga))
    grid = calc_grid(r, s.qmax)
    sf = np.array([scattering_factor(el, s.radiation) for el in structure.elements])
    occ = structure.occupancy
    natoms = float(occ.sum())
    w = sf / (np.dot(occ, sf) / natoms)
    ppp = np.zeros(grid.ncalc)
    lo, hi = max(0.1, grid.r0 - 1.0), grid.rcmax + 1.0
    chunks = (neighbours.pairs(structure, hi, dmin=lo) if neighbours is not None
              else iter_pairs(structure, hi, dmin=lo, chunk=500_000))
    for i, j, d, unit, count in chunks:
        msd = pair_msd(structure, i, j, unit)
        sigma, ok = _peak_widths(d, msd, s)
        amp = count * occ[i] * occ[j] * w[i] * w[j]
        _add_peaks(ppp, grid, d[ok], sigma[ok], amp[ok], backend)
    return _finish(ppp, grid, s, natoms, natoms / structure.volume, 1.0)
