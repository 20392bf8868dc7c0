"""Analytic derivatives of a phase's G(r) (:func:`refine.pdf.calculate.calc_gr`) with respect to its parameters.

Every peak is T = A/(sqrt(2 pi) sigma) exp(-x²/2), x = (r - d)/sigma, with d = s d0 (s the lattice scale) and
sigma² = sratio² sigma'² (1 - delta1/d - delta2/d² + qbroad² d²) (PDFfit2 NEW_SHARP), sigma'² = U_i + U_j for
isotropic classes.  So

    ∂T/∂d = T x / sigma,   ∂T/∂sigma² = T (x² - 1) / (2 sigma²),

and one pass over the peaks (:data:`refine.pdf.kernels.DERIV_BACKENDS`) accumulates every parameter's column with
per-peak coefficients.  The baseline -4 pi rho0 r (rho0 ∝ s⁻³), the envelopes (qdamp, sphere) and the scale are
differentiated in closed form; the Qmax termination is linear and is applied to each column.  The 5-sigma
windows are held fixed (PDFfit2's truncation is not differentiable; its jumps are below 4e-6 of a peak).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from refine.errors import InputError
from refine.pdf.calculate import PDFSettings, qmax_cutoff, table_peaks
from refine.pdf.envelopes import qdamp_envelope, shape_envelope
from refine.pdf.kernels import DERIV_BACKENDS, default_backend, window_points
from refine.pdf.pairs import PairTable

#: parameters of :class:`PDFSettings` that have a derivative; per-class Uiso as ``"uiso:<class label>"``
DERIVABLE = ("scale", "lattice_scale", "delta1", "delta2", "qbroad", "qdamp", "spdiameter", "sratio")


def _peak_coefficients(table: PairTable, sel: np.ndarray, d: np.ndarray, variances: tuple[np.ndarray, np.ndarray],
                       sigma: np.ndarray, s: PDFSettings, peak_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per peak and parameter: a = (∂d/∂p)/sigma and b = (∂sigma²/∂p)/(2 sigma²).

    ``variances`` = (sigma'², merged-distance spread at the current lattice): sigma² = sratio² sigma'² corfact
    + spread, the spread scaling as the lattice scale squared."""
    msd, spread = variances
    n, m = len(d), len(peak_names)
    a, b = np.zeros((n, m)), np.zeros((n, m))
    sr2 = np.where(d < s.rcut, s.sratio**2, 1.0)
    corfact = 1.0 - s.delta2 / d**2 - s.delta1 / d + s.qbroad**2 * d**2
    sig2 = sigma**2
    pidx = table.pair_index[sel]
    for j, name in enumerate(peak_names):
        if name == "lattice_scale":
            d0 = d / s.lattice_scale
            dcorr = 2 * s.delta2 / d**3 + s.delta1 / d**2 + 2 * s.qbroad**2 * d
            a[:, j] = d0 / sigma
            dsig2 = sr2 * msd * dcorr * d0 + 2 * spread / s.lattice_scale
        elif name == "delta1":
            dsig2 = -sr2 * msd / d
        elif name == "delta2":
            dsig2 = -sr2 * msd / d**2
        elif name == "qbroad":
            dsig2 = sr2 * msd * 2 * s.qbroad * d**2
        elif name == "sratio":  # sigma *= sratio below rcut (PDFfit2 DataSet::determine)
            dsig2 = np.where(d < s.rcut, 2 * s.sratio * msd * corfact, 0.0)
        else:  # uiso:<class>: sigma'² = U_first + U_second
            c = table.classes.index(name.split(":", 1)[1])
            count = (table.pair_first[pidx] == c).astype(float) + (table.pair_second[pidx] == c)
            dsig2 = sr2 * corfact * count
        b[:, j] = dsig2 / (2 * sig2)
    return a, b


def gr_derivatives(table: PairTable, r: np.ndarray, settings: PDFSettings, wrt: Sequence[str],
                   backend: str | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """G(r) of :func:`~refine.pdf.calculate.calc_gr` and its derivatives in one pass over the peaks.

    Parameters
    ----------
    table, r, settings
        As for :func:`~refine.pdf.calculate.calc_gr`.
    wrt
        Names from :data:`DERIVABLE` and ``"uiso:<class>"`` for the classes with a Uiso in ``settings.uiso``.
    backend
        :data:`refine.pdf.kernels.DERIV_BACKENDS` name; default numba for large tables when installed.

    Returns
    -------
    (G, {name: ∂G/∂name}) on the grid ``r``.
    """
    s = settings
    for name in wrt:
        if name not in DERIVABLE and not (name.startswith("uiso:") and name[5:] in s.uiso):
            raise InputError("derivative", f"no derivative of G(r) with respect to {name!r}")
    if "spdiameter" in wrt and not s.spdiameter > 0:
        raise InputError("derivative", "spdiameter derivative needs spdiameter > 0")
    peaks = table_peaks(table, r, s)  # the same entries, widths and amplitudes as calc_gr
    grid = peaks.grid
    keep = np.zeros(len(table.distance), dtype=bool)
    keep[peaks.index] = True
    d, msd, sigma, amp, spread = peaks.d, peaks.msd, peaks.sigma, peaks.amp, peaks.spread
    peak_names = [n for n in wrt if n in ("lattice_scale", "delta1", "delta2", "qbroad", "sratio")
                  or n.startswith("uiso:")]
    a, b = _peak_coefficients(table, keep, d, (msd, spread), sigma, s, peak_names)
    ppp = np.zeros(grid.ncalc)
    dppp = np.zeros((grid.ncalc, len(peak_names)))
    if len(d):
        name = backend or default_backend(len(d), window_points(grid.dr, sigma) * (1 + len(peak_names) / 4))
        DERIV_BACKENDS.get(name)(ppp, dppp, grid.r0, grid.dr, d, sigma, amp, a, b)
    natoms = float(table.class_occupancy.sum())
    rho0 = natoms / (table.structure.volume * s.lattice_scale**3)
    density = {"lattice_scale": -3.0 / s.lattice_scale}  # rho0 ∝ s⁻³
    return finish_columns(ppp, dppp, peak_names, grid, s, (natoms, rho0, density), wrt)


def finish_columns(ppp: np.ndarray, dppp: np.ndarray, peak_names: Sequence[str], grid, s: PDFSettings,
                   density: tuple[float, float, Mapping[str, float]], wrt: Collection[str]
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """G(r) and its derivative columns from the summed peaks ``ppp`` and their derivatives ``dppp`` (one column per
    name of ``peak_names``): divided by N r, the baseline -4 pi rho0 r (``density`` = (N, rho0, {name: ∂ln rho0/∂name})
    for the names that change the number density), envelopes, scale, Qmax termination; plus the closed-form
    ``scale``, ``qdamp`` and ``spdiameter`` columns when they are in ``wrt``."""
    natoms, rho0, dlnrho = density
    rr = grid.r
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_nr = np.where(rr > 0, 1.0 / (natoms * np.where(rr > 0, rr, 1.0)), 0.0)
    base = ppp * inv_nr - 4 * np.pi * rho0 * rr  # before envelopes and scale
    qenv = qdamp_envelope(rr, s.qdamp) if s.qdamp > 0 else np.ones_like(rr)
    shapes = ((("sphere", s.spdiameter),) if s.spdiameter > 0 else ()) + s.envelopes
    senv = shape_envelope(rr, shapes) if shapes else np.ones_like(rr)
    env = qenv * senv
    cols: dict[str, np.ndarray] = {}
    for j, name in enumerate(peak_names):
        col = dppp[:, j] * inv_nr
        if name in dlnrho:
            col = col - 4 * np.pi * rho0 * dlnrho[name] * rr
        cols[name] = s.scale * env * col
    if "qdamp" in wrt:
        cols["qdamp"] = s.scale * base * env * (-s.qdamp * rr**2)
    if "spdiameter" in wrt:
        x = rr / s.spdiameter
        dsphere = np.where(  # ∂/∂D of sphere_envelope: 1 - 3x/2 + x³/2, x = r/D
            x < 1.0, 1.5 * rr / s.spdiameter**2 * (1.0 - x**2), 0.0)
        others = shape_envelope(rr, s.envelopes) if s.envelopes else 1.0
        cols["spdiameter"] = s.scale * base * qenv * others * dsphere
    g = base * env
    if "scale" in wrt:
        cols["scale"] = g.copy()
    g = s.scale * g
    names = list(cols)
    stack = np.array([g] + [cols[n] for n in names])
    if s.qmax > 0:
        stack = qmax_cutoff(stack, grid.dr, s.qmax)
    stack = stack[:, : grid.nout]
    return stack[0], {n: stack[k + 1] for k, n in enumerate(names)}
