"""Analytic derivatives of the whole-pattern powder model's peaks: positions, widths and profiles.

Positions 2θ = 2 asin(λ √Q/2) + zero + the Bragg–Brentano and Debye–Scherrer offsets of :class:`PowderModel`,
Q = 1/d² = h G* h with ∂G*/∂p = −G* (∂G/∂p) G* for the six cell parameters; widths σ² = U tan²θ + V tanθ + W,
γ = (X + LX)/cosθ + (Y + LY) tanθ + Z, and the TCH FWHM and η from them, each differentiated in closed form.
The profile derivatives (∂/∂2θ including the FCJ kernel moving with the peak, ∂/∂σ², ∂/∂γ, ∂/∂SH/L) are filled by
:func:`refine.powder._peak_jit.fill_derivatives` over each peak's window of the fit's frozen layout, and columns of
the Jacobian are scattered from them with per-peak coefficients (:func:`profile_columns`).

Raw derivative columns are keyed by parameter name (including expression parameters such as ``{ph}_b`` of a
tetragonal cell); :class:`refine.fit.chain.ExpressionChain` maps them onto the varying parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import lmfit
import numpy as np

from refine import units
from refine.crystal.lattice import PARAMETER_NAMES, Lattice
from refine.powder.peaks import PeakLayout
from refine.powder.peakshape import _LN2, _TCH, _gauss_legendre01

_RAD = np.pi / 180.0


def metric_derivatives(lattice: Lattice, gstar: np.ndarray | None = None) -> np.ndarray:
    """∂G*/∂(a, b, c, α, β, γ), shape (6, 3, 3), angles in degrees (``gstar``: G* when already known)."""
    a, b, c = lattice.a, lattice.b, lattice.c
    al, be, ga = np.radians([lattice.alpha, lattice.beta, lattice.gamma])
    ca, cb, cg = np.cos([al, be, ga])
    sa, sb, sg = np.sin([al, be, ga])
    dg = np.zeros((6, 3, 3))
    dg[0] = [[2 * a, b * cg, c * cb], [b * cg, 0, 0], [c * cb, 0, 0]]
    dg[1] = [[0, a * cg, 0], [a * cg, 2 * b, c * ca], [0, c * ca, 0]]
    dg[2] = [[0, 0, a * cb], [0, 0, b * ca], [a * cb, b * ca, 2 * c]]
    dg[3][1, 2] = dg[3][2, 1] = -b * c * sa * _RAD
    dg[4][0, 2] = dg[4][2, 0] = -a * c * sb * _RAD
    dg[5][0, 1] = dg[5][1, 0] = -a * b * sg * _RAD
    gs = lattice.reciprocal_metric if gstar is None else gstar
    return -np.einsum("ij,pjk,kl->pil", gs, dg, gs)


@dataclass(frozen=True, eq=False)
class CellTerms:
    """Q = 1/d² of a phase's reflections and ∂Q/∂(a, b, c, α, β, γ) (6, n), for the cell at the parameters."""

    q: np.ndarray
    dq: np.ndarray

    @classmethod
    def of(cls, lattice: Lattice, hkl: np.ndarray) -> CellTerms:
        h = np.asarray(hkl, dtype=float)
        gs = lattice.reciprocal_metric
        return cls(q=np.einsum("ni,ij,nj->n", h, gs, h),
                   dq=np.einsum("ni,pij,nj->pn", h, metric_derivatives(lattice, gs), h))


def position_derivatives(model, params: lmfit.Parameters, block, wavelength: float, cell: CellTerms | None = None,
                         values: dict | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Positions as :meth:`PowderModel.positions` computes them (to rounding) and ∂2θ/∂(name) for the cell parameters
    of the phase, zero, shift, transparency and displace_x/y (zero where a reflection is unreachable)."""
    p = model.prefix
    v = params.valuesdict() if values is None else values
    if cell is None:
        cell = CellTerms.of(model.lattice(params, block), block.reflections.hkl)
    q = cell.q
    with np.errstate(invalid="ignore", divide="ignore"):
        dtth0_dq = np.degrees(wavelength / (2.0 * np.sqrt(q) * np.sqrt(1.0 - wavelength**2 * q / 4.0)))
        tth1 = units.d_to_tth(d=1.0 / np.sqrt(q), wavelength=wavelength) + v[f"{p}zero"]
    r = model.options.goniometer_radius
    shift, transp = v[f"{p}shift"], v[f"{p}transparency"]
    th = np.radians(tth1 / 2.0)
    k_s, k_t, k_d = 0.36 / np.pi / r, 9.0 / np.pi / r, 0.09 / np.pi / r
    tth2 = tth1 - k_s * shift * np.cos(th) - k_t * transp * np.sin(2.0 * th) if (shift or transp) else tth1
    d2_d1 = 1.0 + k_s * shift * np.sin(th) * _RAD / 2.0 - k_t * transp * np.cos(2.0 * th) * _RAD
    t2 = np.radians(tth2)
    dx, dy = v[f"{p}displace_x"], v[f"{p}displace_y"]
    tth = tth2 - k_d * (dx * np.cos(t2) + dy * np.sin(t2)) if (dx or dy) else tth2
    ok = np.isfinite(tth)
    d3_d2 = 1.0 - k_d * (-dx * np.sin(t2) + dy * np.cos(t2)) * _RAD
    d3_d1 = d3_d2 * d2_d1
    out = {f"{p}zero": d3_d1, f"{p}shift": -k_s * np.cos(th) * d3_d2, f"{p}transparency": -k_t * np.sin(
        2.0 * th) * d3_d2, f"{p}displace_x": -k_d * np.cos(t2), f"{p}displace_y": -k_d * np.sin(t2)}
    for i, name in enumerate(PARAMETER_NAMES):
        out[f"{block.prefix}_{name}"] = d3_d1 * dtth0_dq * cell.dq[i]
    with np.errstate(invalid="ignore"):
        return tth, {k: np.where(ok, col, 0.0) for k, col in out.items()}


def width_derivatives(model, params: lmfit.Parameters, block, tth: np.ndarray, values: dict | None = None
                      ) -> tuple[np.ndarray, ...]:
    """(FWHM, η, ∂σ²/∂2θ, ∂γ/∂2θ, {name: ∂σ²/∂name}, {name: ∂γ/∂name}, chain) at positions ``tth`` (deg) with chain =
    (∂FWHM/∂σ², ∂FWHM/∂γ, ∂η/∂σ², ∂η/∂γ) per peak, as :meth:`PowderModel.widths` computes FWHM and η."""
    p, ph = model.prefix, block.prefix
    v = params.valuesdict() if values is None else values
    th = np.radians(tth / 2.0)
    t, cth = np.tan(th), np.cos(th)
    dt = _RAD / 2.0 / cth**2  # ∂tanθ/∂2θ(deg)
    U, V, W = v[f"{p}U"], v[f"{p}V"], v[f"{p}W"]
    X, Y, Z = v[f"{p}X"] + v[f"{ph}_LX"], v[f"{p}Y"] + v[f"{ph}_LY"], v[f"{p}Z"]
    sig_raw = U * t * t + V * t + W
    sig2 = np.maximum(sig_raw, 1e-8)
    s_on = (sig_raw > 1e-8).astype(float)
    gam_raw = X / cth + Y * t + Z
    gam = np.maximum(gam_raw, 0.0)
    g_on = (gam_raw >= 0.0).astype(float)  # the right derivative at γ = 0 (X, Y, Z are bounded below by 0)
    ds_dt = s_on * (2.0 * U * t + V) * dt
    dg_dt = g_on * (X * np.sin(th) / cth**2 * _RAD / 2.0 + Y * dt)
    dsig = {f"{p}U": s_on * t * t, f"{p}V": s_on * t, f"{p}W": s_on}
    dgam = {f"{p}X": g_on / cth, f"{p}Y": g_on * t, f"{p}Z": g_on}
    dgam[f"{ph}_LX"], dgam[f"{ph}_LY"] = dgam[f"{p}X"], dgam[f"{p}Y"]
    # TCH: FWHM⁵ = Σ a_k g^(5−k) l^k with g = √(8 ln2 σ²)/100, l = γ/100; η = 1.36603 q − 0.47719 q² + 0.11116 q³.
    g = np.sqrt(8.0 * _LN2 * sig2) / 100.0
    lo = gam / 100.0
    a1, a2, a3, a4 = _TCH
    poly = g**5 + a1 * g**4 * lo + a2 * g**3 * lo**2 + a3 * g**2 * lo**3 + a4 * g * lo**4 + lo**5
    fwhm = poly**0.2
    dpoly_g = 5 * g**4 + 4 * a1 * g**3 * lo + 3 * a2 * g**2 * lo**2 + 2 * a3 * g * lo**3 + a4 * lo**4
    dpoly_l = a1 * g**4 + 2 * a2 * g**3 * lo + 3 * a3 * g**2 * lo**2 + 4 * a4 * g * lo**3 + 5 * lo**4
    df_g = 0.2 * dpoly_g / fwhm**4
    df_l = 0.2 * dpoly_l / fwhm**4
    df_s = df_g * g / (2.0 * sig2)
    df_gam = df_l / 100.0
    q = lo / fwhm
    eta_raw = 1.36603 * q - 0.47719 * q**2 + 0.11116 * q**3
    e_on = ((eta_raw >= 0.0) & (eta_raw < 1.0)).astype(float)
    de_q = e_on * (1.36603 - 2 * 0.47719 * q + 3 * 0.11116 * q**2)
    de_s = de_q * (-lo / fwhm**2 * df_s)
    de_gam = de_q * (0.01 / fwhm - lo / fwhm**2 * df_gam)
    eta = np.clip(eta_raw, 0.0, 1.0)
    return fwhm, eta, ds_dt, dg_dt, dsig, dgam, np.stack([df_s, df_gam, de_s, de_gam], axis=1)


@dataclass(frozen=True, eq=False)
class PeakDerivatives:
    """Every peak of :meth:`PowderModel._peaks` (same order and values) with its derivatives.

    ``dpos``/``dsig``/``dgam``: {name: (npeaks,)} ∂2θ, ∂σ², ∂γ of each peak; ``chain`` (npeaks, 6) as
    :func:`refine.powder._peak_jit.fill_derivatives` takes it; ``line`` 0 for Kα1, 1 for Kα2 peaks; ``ok`` False
    for unreachable reflections (no derivative).
    """

    pos: np.ndarray
    fwhm: np.ndarray
    eta: np.ndarray
    row: np.ndarray
    weight: np.ndarray
    line: np.ndarray
    ok: np.ndarray
    dpos: dict
    dsig: dict
    dgam: dict
    chain: np.ndarray


def _stack(parts: list[dict], sizes: list[int]) -> dict:
    """Concatenate per-group {name: column} dicts into columns over all peaks (zeros where a group lacks a name)."""
    names = {n for d in parts for n in d}
    return {n: np.concatenate([d.get(n, np.zeros(s)) for d, s in zip(parts, sizes, strict=True)]) for n in names}


def peak_derivatives(model, params: lmfit.Parameters, values: dict | None = None) -> PeakDerivatives:
    """:class:`PeakDerivatives` of ``model`` at ``params`` (positions, FWHM and η as :meth:`PowderModel._peaks`
    computes them, to rounding); ``values``: ``params.valuesdict()`` when already made."""
    values = params.valuesdict() if values is None else values
    lines = [(model.instrument.wavelength, 1.0)]
    if model.instrument.wavelength2 is not None:
        lines.append((model.instrument.wavelength2, values[f"{model.prefix}ka2_ratio"]))
    pos, fwhm, eta, rows, weights = [], [], [], [], []
    dpos, dsig, dgam, chains, line, oks, sizes = [], [], [], [], [], [], []
    for i, block in enumerate(model.phases):
        cell = CellTerms.of(model.lattice(params, block), block.reflections.hkl)
        for k, (lam, ratio) in enumerate(lines):
            tth, dp = position_derivatives(model, params, block, lam, cell, values)
            ok = np.isfinite(tth)
            f, e, ds_dt, dg_dt, ds, dg, ch = width_derivatives(model, params, block, np.where(ok, tth, 179.0), values)
            pos.append(np.where(ok, tth, 1e9))
            fwhm.append(f)
            eta.append(e)
            rows.append(np.arange(model.offsets[i], model.offsets[i + 1]))
            weights.append(np.where(ok, ratio, 0.0))
            dpos.append(dp)
            dsig.append({n: np.where(ok, c, 0.0) for n, c in ds.items()})
            dgam.append({n: np.where(ok, c, 0.0) for n, c in dg.items()})
            chains.append(np.column_stack([ch, np.where(ok, ds_dt, 0.0), np.where(ok, dg_dt, 0.0)]))
            line.append(np.full(tth.size, k))
            oks.append(ok)
            sizes.append(tth.size)
    return PeakDerivatives(pos=np.concatenate(pos), fwhm=np.concatenate(fwhm), eta=np.concatenate(eta),
                           row=np.concatenate(rows), weight=np.concatenate(weights), line=np.concatenate(line),
                           ok=np.concatenate(oks), dpos=_stack(dpos, sizes), dsig=_stack(dsig, sizes),
                           dgam=_stack(dgam, sizes), chain=np.ascontiguousarray(np.concatenate(chains)))


def _components(pos: np.ndarray, layout: PeakLayout, sh_l: float) -> tuple[np.ndarray, ...]:
    """Centres, weights and their derivatives (rows: ∂/∂2θ, ∂/∂SH/L) of the FCJ components of the layout's plan."""
    from refine.powder import _peak_jit

    plan = layout.plan
    n1 = plan.single.size
    centres, weights = [pos[plan.single]], [np.ones(n1)]
    dcen, dwt = [np.stack([np.ones(n1), np.zeros(n1)])], [np.zeros((2, n1))]
    for count, idx in plan.groups:
        u, w = _gauss_legendre01(count)
        kern = np.empty((6, idx.size, count))
        _peak_jit.fcj_derivatives(np.ascontiguousarray(pos[idx]), float(sh_l), u, w, kern)
        centres.append((pos[idx, None] + kern[0]).ravel())
        weights.append(kern[1].ravel())
        dcen.append(np.stack([(1.0 + kern[2]).ravel(), kern[3].ravel()]))
        dwt.append(np.stack([kern[4].ravel(), kern[5].ravel()]))
    return (np.concatenate(centres), np.concatenate(weights), np.ascontiguousarray(np.concatenate(dcen, axis=1)),
            np.ascontiguousarray(np.concatenate(dwt, axis=1)))


@dataclass(frozen=True, eq=False)
class ProfileDerivatives:
    """Output of :func:`profile_derivatives`: ``values`` (5, total) over the peaks' windows (offsets ``offs``)."""

    values: np.ndarray
    offs: np.ndarray


def profile_derivatives(x: np.ndarray, peaks: PeakDerivatives, layout: PeakLayout, sh_l: float
                        ) -> ProfileDerivatives:
    """Each peak's unit-area profile and its derivatives over its window (rows as in ``fill_derivatives``)."""
    from refine.powder import _peak_jit

    _, i0, i1 = layout.kernel_arrays
    counts = np.maximum(i1 - i0, 0)
    offs = np.cumsum(counts) - counts
    out = np.zeros((5, int(counts.sum())))
    centre, cweight, dcen, dwt = _components(np.ascontiguousarray(peaks.pos, dtype=float), layout, sh_l)
    plan = layout.plan
    _peak_jit.fill_derivatives(np.ascontiguousarray(x, dtype=float), plan.cstart, plan.ncomp, centre, cweight, dcen,
                               dwt, np.ascontiguousarray(peaks.fwhm, dtype=float),
                               np.ascontiguousarray(peaks.eta, dtype=float), peaks.chain, i0, i1, offs, out)
    return ProfileDerivatives(values=out, offs=offs)


def profile_columns(prof: ProfileDerivatives, layout: PeakLayout, terms: list[tuple[int, np.ndarray, np.ndarray]],
                    ncols: int, npoints: int) -> np.ndarray:
    """Transposed Jacobian (ncols, npoints): Σ over ``terms`` (row of the profile derivatives, coefficients
    (npeaks, m), the m column indices) of coefficient × derivative."""
    from refine.powder import _peak_jit

    _, i0, i1 = layout.kernel_arrays
    jac_t = np.zeros((ncols, npoints))
    for row, coef, cols in terms:
        if cols.size:
            _peak_jit.scatter_columns(prof.values, int(row), i0, i1, prof.offs, np.ascontiguousarray(coef, dtype=float),
                                      np.ascontiguousarray(cols, dtype=np.int64), jac_t)
    return jac_t
