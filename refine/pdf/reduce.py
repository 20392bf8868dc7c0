"""PDF reduction I(Q) → S(Q), F(Q), G(r) as PDFgetX3 / PDFgetN3 do it (scale and shape).

Method: Juhás, Davis, Farrow & Billinge, J. Appl. Cryst. 46 (2013) 560, §1 eq. 4 and the sentence after it
("the raw sample intensities are rescaled by a least-squares procedure to approach the normal scattering factor
curve"), eqs. 5–10. Steps (checked against nine PDFgetX3/PDFgetN3 outputs, tests/pdf/test_reduce.py):

1. Grid. Q of the measured points (2θ converted with the wavelength after subtracting ``twothetazero``); the
   points with qmin < Q ≤ qmaxinst set the step ΔQ = (Q_last − Q_first)/(n − 1). The grid is the multiples of
   ΔQ from the first one ≥ qmin to Q_last, and the intensity is interpolated linearly onto it; below the first
   measured point it holds that point's value (PDFgetN3's sapphire F(Q) from Q = 0 shows exactly this).
2. I(Q) = I_sample − bgscale·I_background (the background interpolated onto the same grid; ``bgscale='auto'``
   takes the largest scale that keeps I ≥ 0 over the upper half of the grid).
3. Scale. One number k minimising Σ (k·I/⟨f⟩² − ⟨f²⟩/⟨f⟩²)² over the grid: with y = I/⟨f⟩², t = ⟨f²⟩/⟨f⟩²,
   k = Σ y·t / Σ y². F_m(Q) = Q·(k·I − ⟨f²⟩)/⟨f⟩². ⟨f⟩ = Σ c_i f_i(Q) (Waasmaier–Kirfel) for X-rays; for
   neutrons the coherent scattering lengths b_i of periodictable, constant in Q.
4. Polynomial. n_r = rpoly·(Q_hi − Q_lo)/π over the grid (a real number). Polynomials Σ_{j=1..m} c_j Q^j (no
   constant term, unweighted least squares over the grid) for m = ⌊n_r⌋ and ⌊n_r⌋ + 1 are blended with weight
   n_r − ⌊n_r⌋ on the higher one; F = F_m − P. Nothing is rescaled afterwards.
5. G(r) = (2/π) Σ_{qmin ≤ Q ≤ qmax} F(Q) sin(Qr) ΔQ, optionally with the Lorch modification function
   sin(πQ/Qmax)/(πQ/Qmax) (Lorch, J. Phys. C 2 (1969) 229).

Outputs on the grid: I(Q) (after the background, before k), F(Q), S(Q) = 1 + F/Q (Q > 0). σ(F) = Q·k·σ(I)/⟨f⟩²
with the same k (σ(I) interpolated like I, the background's σ added in quadrature; k and the polynomial are taken
as exact), and dG propagated from σ(F) through the transform.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from refine import units
from refine.data import Pattern
from refine.errors import InputError
from refine.pdf.composition import atomic_fractions, parse_composition
from refine.pdf.formfactors import form_factor_averages

#: Output kinds and their file extensions.
OUTPUT_KINDS = ("iq", "sq", "fq", "gr")
#: Radiation modes (PDFgetX3 / PDFgetN3 ``mode``).
MODES = ("xray", "neutron")
_MIN_POINTS = 10


@dataclasses.dataclass(frozen=True)
class ReductionConfig:
    """Every setting of one reduction (PDFgetX3 names).

    Parameters
    ----------
    composition
        Chemical formula, e.g. ``"Ni"``, ``"Si 0.95 Ni 0.05"`` or ``"Al2O3"``.
    qmax, qmin
        Q range of the sine transform (Å⁻¹); qmin also starts the grid.
    qmaxinst
        Upper end of the data used (grid, scale and polynomial), Å⁻¹; None: the last point with non-zero intensity
        (trailing zero padding is ignored).
    rpoly
        r limit (Å) of the correction polynomial; its fractional degree is rpoly·(Q_hi − Q_lo)/π.
    bgscale
        Background scale, or ``"auto"``.
    lorch
        Apply the Lorch modification function before the transform.
    rmin, rmax, rstep
        The r grid of G(r) (Å).
    wavelength
        Wavelength (Å) for I(2θ) input; overrides the file's value.
    scale
        Fixed intensity scale k; None: the least-squares k (module docstring, step 3).
    mode
        ``"xray"`` (form factors) or ``"neutron"`` (scattering lengths).
    twothetazero
        Position of zero scattering angle in diffractometer degrees (subtracted from 2θ input).
    """

    composition: str
    qmax: float
    qmin: float = 0.0
    qmaxinst: float | None = None
    rpoly: float = 0.9
    bgscale: float | str = 1.0
    lorch: bool = False
    rmin: float = 0.0
    rmax: float = 30.0
    rstep: float = 0.01
    wavelength: float | None = None
    scale: float | None = None
    mode: str = "xray"
    twothetazero: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError("mode", f"must be one of {', '.join(MODES)}, got {self.mode!r}")
        scattering_averages(self.composition, np.zeros(1), self.mode)  # unknown elements/lengths fail here
        checks = (
            (self.qmax > 0, "qmax", "must be positive"),
            (self.qmin >= 0 and self.qmin < self.qmax, "qmin", f"must lie in [0, qmax={self.qmax:g})"),
            (self.qmaxinst is None or self.qmaxinst >= self.qmax, "qmaxinst",
             f"must not be below qmax={self.qmax:g}"),
            (math.isfinite(self.rpoly) and self.rpoly >= 0, "rpoly", "must not be negative"),
            (self.rstep > 0, "rstep", "must be positive"),
            (self.rmax > self.rmin >= 0, "rmax", "must exceed rmin >= 0"),
            (self.rstep <= 0 or (self.rmax - self.rmin) / self.rstep <= 1e6, "rstep",
             "gives more than 10^6 r points"),
            (self.wavelength is None or self.wavelength > 0, "wavelength", "must be positive"),
            (self.scale is None or (math.isfinite(self.scale) and self.scale > 0), "scale", "must be positive"),
            (math.isfinite(self.twothetazero) and abs(self.twothetazero) < 90, "twothetazero",
             "must be a finite angle below 90 degrees"),
        )
        for ok, option, problem in checks:
            if not ok:
                raise InputError(option, problem)
        if isinstance(self.bgscale, str):
            if self.bgscale.lower() != "auto":
                raise InputError("bgscale", f"must be a number or 'auto', got {self.bgscale!r}")
        elif not (math.isfinite(self.bgscale) and self.bgscale >= 0):
            raise InputError("bgscale", "must be a non-negative number or 'auto'")

    def settings(self) -> dict[str, Any]:
        """The settings as a plain dict (header and provenance)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ReductionResult:
    """The curves of one reduction and how they were made.

    ``degree`` is the fractional polynomial degree n_r, ``coefficients`` the blended c_1..c_m (Q in Å⁻¹),
    ``scale`` the intensity scale k, ``qstep`` the grid step ΔQ.
    """

    iq: Pattern
    sq: Pattern
    fq: Pattern
    gr: Pattern
    degree: float
    coefficients: tuple[float, ...]
    scale: float
    bgscale: float
    notes: tuple[str, ...]
    settings: Mapping[str, Any]
    written: tuple[str, ...] = ()  # files written by refine.pdf_reduce (output=, plot=)
    qstep: float = 0.0

    def curve(self, kind: str) -> Pattern:
        """The pattern for ``iq``, ``sq``, ``fq`` or ``gr``."""
        if kind not in OUTPUT_KINDS:
            raise InputError("outputs", f"unknown output {kind!r}; choose from {', '.join(OUTPUT_KINDS)}")
        return getattr(self, kind)

    def plot(self):
        """I(Q), S(Q), F(Q) and G(r) as a :class:`matplotlib.figure.Figure`, made without pyplot (the caller's
        backend is not touched)."""
        from refine.plot.pdf import reduction_figure

        return reduction_figure(self)


# -- building blocks ---------------------------------------------------------------------------------------
def scattering_averages(composition: Mapping[str, float] | str, q: np.ndarray,
                        mode: str = "xray") -> tuple[np.ndarray, np.ndarray]:
    """``(⟨f⟩², ⟨f²⟩)`` at each Q: X-ray form factors, or neutron coherent lengths b_c (fm) from periodictable.

    Raises
    ------
    InputError
        An element without a tabulated neutron scattering length (``mode="neutron"``), named with the
        composition.
    """
    q = np.asarray(q, dtype=float)
    if mode == "xray":
        return form_factor_averages(composition, q)
    from refine.crystal.scattering import neutron_length

    fractions = atomic_fractions(parse_composition(composition) if isinstance(composition, str) else composition)
    lengths = {}
    for element in fractions:
        try:
            lengths[element] = neutron_length(element).real
        except InputError:
            raise InputError("composition", f"periodictable has no neutron scattering length for {element!r}; "
                                            "mode = neutron needs one for every element") from None
    bavg = sum(c * lengths[e] for e, c in fractions.items())
    b2avg = sum(c * lengths[e] ** 2 for e, c in fractions.items())
    if bavg == 0:
        raise InputError("composition", "the mean neutron scattering length <b> is zero: F(Q) is undefined")
    return np.full_like(q, bavg * bavg), np.full_like(q, b2avg)


def polynomial_degree(rpoly: float, qlo: float, qhi: float) -> float:
    """PDFgetX3's fractional degree of the correction polynomial, n_r = rpoly·(qhi − qlo)/π."""
    return rpoly * (qhi - qlo) / math.pi


def regular_grid(q: np.ndarray, qmin: float, qmaxinst: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Step 1: ``(grid, mask of the measured points used, step)``; see the module docstring."""
    used = (q > qmin) & (q <= qmaxinst * (1 + 1e-12))
    n = int(np.count_nonzero(used))
    if n < _MIN_POINTS:
        raise InputError("qmin", f"fewer than {_MIN_POINTS} data points with {qmin:g} < Q <= {qmaxinst:g} 1/A")
    qs = q[used]
    step = float(qs[-1] - qs[0]) / (n - 1)
    first = math.ceil(qmin / step - 1e-9)
    last = math.floor(qs[-1] / step + 1e-9)
    return step * np.arange(first, last + 1), used, step


def fit_correction_polynomial(q: np.ndarray, fm: np.ndarray, degree: float) -> tuple[np.ndarray, np.ndarray]:
    """Step 4: the blend of the least-squares Σ_{j=1..m} c_j Q^j (no constant) fits to ``fm`` for m = ⌊degree⌋ and
    ⌊degree⌋ + 1, weight degree − ⌊degree⌋ on the higher one.

    Returns the blended coefficients c_j (Q in Å⁻¹) and the polynomial on ``q``. The fits are done in x = Q/Q_hi:
    raw powers of Q up to 31⁹ are ill-conditioned enough for SVD truncation to change the answer.
    """
    low = int(math.floor(degree))
    weight = degree - low
    top = low + (1 if weight > 0 else 0)
    if top == 0:
        return np.zeros(0), np.zeros_like(q)
    if q.size <= top:
        raise InputError("rpoly", f"polynomial degree {top} needs more than {q.size} points")
    qhi = float(q[-1])
    x = q / qhi
    powers = np.arange(1, top + 1)
    design = x[:, None] ** powers[None, :]
    coef = np.zeros(top)
    for m, w in ((low, 1.0 - weight), (top, weight)):
        if m > 0 and w > 0:
            c, *_ = np.linalg.lstsq(design[:, :m], fm, rcond=1e-15)
            coef[:m] += w * c
    return coef / qhi**powers, design @ coef


def intensity_scale(intensity: np.ndarray, favg2: np.ndarray, f2avg: np.ndarray) -> float:
    """Step 3: k = Σ y·t / Σ y² with y = I/⟨f⟩², t = ⟨f²⟩/⟨f⟩² (least squares of k·y onto t)."""
    y, t = intensity / favg2, f2avg / favg2
    k = float(y @ t / (y @ y)) if np.any(y) else float("nan")
    if not (math.isfinite(k) and k > 0):
        raise InputError("scale", "the least-squares scale of I/<f>^2 onto <f^2>/<f>^2 is not positive (is the "
                                  "background larger than the sample? check bgscale), or pass a fixed --scale")
    return k


def sine_transform(q: np.ndarray, fq: np.ndarray, r: np.ndarray,
                   sigma: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """G(r) = (2/π) Σ F(Q) sin(Qr) ΔQ on any r grid, and dG from independent sigma(F) when given.

    ΔQ is the midpoint width of each point, so a uniform grid gives the plain sum.
    """
    q = np.asarray(q, float)
    if q.size < 2:
        raise InputError("qmin", "fewer than two Q points in the transform range")
    dq = np.empty_like(q)
    dq[1:-1] = 0.5 * (q[2:] - q[:-2])
    dq[0], dq[-1] = q[1] - q[0], q[-1] - q[-2]
    g = np.empty(r.size)
    dg = None if sigma is None else np.empty(r.size)
    weights = fq * dq
    chunk = max(1, 2_000_000 // q.size)  # keep the sin matrix small
    for start in range(0, r.size, chunk):
        s = np.sin(np.outer(r[start:start + chunk], q))
        g[start:start + chunk] = (2.0 / np.pi) * (s @ weights)
        if dg is not None:
            dg[start:start + chunk] = (2.0 / np.pi) * np.sqrt((s * s) @ (sigma * dq) ** 2)
    return g, dg


def lorch(q: np.ndarray, qmax: float) -> np.ndarray:
    """Lorch modification function sin(πQ/Qmax)/(πQ/Qmax)."""
    return np.sinc(np.asarray(q) / qmax)  # numpy sinc(x) = sin(πx)/(πx)


def auto_background_scale(q: np.ndarray, sample: np.ndarray, background: np.ndarray, *, qlo: float,
                          qhi: float) -> float:
    """The largest b ≥ 0 with sample − b·background ≥ 0 for qlo ≤ Q ≤ qhi (where background > 0)."""
    mask = (q >= qlo) & (q <= qhi) & (background > 0) & np.isfinite(sample)
    if not np.any(mask):
        raise InputError("bgscale", f"auto: background is not positive anywhere in {qlo:g}..{qhi:g} 1/A")
    return float(max(0.0, np.min(sample[mask] / background[mask])))


def to_q(pattern: Pattern, wavelength: float | None = None, twothetazero: float = 0.0) -> Pattern:
    """The pattern on a Q axis (2θ − twothetazero converted with ``wavelength`` or the pattern's own)."""
    if pattern.unit == units.Q_A:
        return pattern
    if pattern.unit == units.R_A:
        raise InputError(pattern.source or "input", "is a real-space (r) pattern, not I(Q) or I(2theta)")
    if wavelength is not None:
        pattern = pattern.replace(wavelength=wavelength)
    if pattern.unit == units.TTH_DEG:
        if pattern.wavelength is None:
            raise InputError(pattern.source or "input",
                             "is I(2theta) without a wavelength in its header: pass --wavelength")
        if twothetazero:
            pattern = pattern.replace(x=pattern.x - twothetazero)
    return pattern.to_unit(units.Q_A)


# -- the reduction -----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Gridded:
    """Sample (minus background) on the regular grid: Q, I, var(I) and what was done to get there."""

    q: np.ndarray
    intensity: np.ndarray
    var: np.ndarray
    step: float
    qmaxinst: float
    bgscale: float
    notes: tuple[str, ...]


def _data_range(sample: Pattern, config: ReductionConfig) -> float:
    src, q = sample.source, sample.x
    if q.size < _MIN_POINTS:
        raise InputError(src, f"only {q.size} data points")
    if not np.all(np.diff(q) > 0):
        raise InputError(src, "Q values are not strictly increasing")
    nonzero = np.flatnonzero(sample.y != 0)
    if nonzero.size == 0:
        raise InputError(src, "all intensities are zero")
    qlast = float(q[nonzero[-1]])  # trailing zero padding (beyond the detector edge) is not data
    qmaxinst = qlast if config.qmaxinst is None else float(config.qmaxinst)
    if qmaxinst > qlast + 1e-9:
        raise InputError("qmaxinst", f"{qmaxinst:g} is above the data (last measured Q {qlast:g} 1/A in {src})")
    if config.qmax > qlast + 1e-9:
        raise InputError("qmax", f"{config.qmax:g} is above the data (last measured Q {qlast:g} 1/A in {src})")
    if config.qmax > qmaxinst + 1e-9:
        raise InputError("qmax", f"{config.qmax:g} is above qmaxinst {qmaxinst:g}")
    return qmaxinst


def _on_grid(sample: Pattern, config: ReductionConfig, background: Pattern | None) -> _Gridded:
    """Steps 1 and 2."""
    qmaxinst = _data_range(sample, config)
    q, used, step = regular_grid(sample.x, config.qmin, qmaxinst)
    qs = sample.x[used]
    notes = []
    if np.max(np.abs(qs / step - np.round(qs / step))) > 1e-6:
        notes.append(f"sample interpolated onto the regular grid Q = n*{step:.8g} 1/A, {q[0]:.6g}..{q[-1]:.6g} 1/A "
                     f"({q.size} points from {qs.size} measured)")
    below = int(np.count_nonzero(q < qs[0] - 1e-6 * step))
    if below:
        notes.append(f"{below} grid points from {q[0]:.6g} 1/A below the first measured Q {qs[0]:.6g} 1/A hold its "
                     "intensity (as PDFgetX3 does)")
    intensity = np.interp(q, qs, sample.y[used].astype(float))
    var = np.interp(q, qs, sample.sigma[used].astype(float)) ** 2
    bgscale = 0.0
    if background is not None:
        bg_y, bg_s, note = _background_on_grid(background, qs, q)
        if note:
            notes.append(note)
        if isinstance(config.bgscale, str):
            mid = q[0] + 0.5 * (q[-1] - q[0])
            bgscale = auto_background_scale(q, intensity, bg_y, qlo=mid, qhi=q[-1])
            notes.append(f"bgscale auto = {bgscale:.6g} (largest keeping I - b*B >= 0 for {mid:g} <= Q <= "
                         f"{q[-1]:g})")
        else:
            bgscale = float(config.bgscale)
        intensity = intensity - bgscale * bg_y
        var = var + (bgscale * bg_s) ** 2
    return _Gridded(q, intensity, var, step, qmaxinst, bgscale, tuple(notes))


def _background_on_grid(background: Pattern, qs: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    bq = background.x
    if bq.size < 2:
        raise InputError(background.source, "background has fewer than two points")
    tol = 1e-6 * max(1.0, float(qs[-1]))
    if bq[0] > qs[0] + tol or bq[-1] < qs[-1] - tol:
        raise InputError(background.source, f"background covers Q {bq[0]:g}..{bq[-1]:g} 1/A, which does not span "
                                            f"the sample data used, {qs[0]:g}..{qs[-1]:g} 1/A")
    note = ""
    inside = bq[(bq >= qs[0] - tol) & (bq <= qs[-1] + tol)]
    if inside.size != qs.size or not np.allclose(inside, qs, rtol=0, atol=1e-6):
        note = (f"background interpolated linearly from its own Q grid ({bq.size} points, {bq[0]:g}..{bq[-1]:g} "
                f"1/A) onto the sample's")
    return np.interp(q, bq, background.y), np.interp(q, bq, background.sigma), note


def reduce_pattern(sample: Pattern, config: ReductionConfig, background: Pattern | None = None) -> ReductionResult:
    """Reduce one I(Q) (or I(2θ)) pattern to S(Q), F(Q) and G(r); see the module docstring."""
    src = sample.source
    sample = to_q(sample, config.wavelength, config.twothetazero)
    if background is not None:
        tth = background.unit == units.TTH_DEG
        background = to_q(background, config.wavelength if tth else None, config.twothetazero)
    grid = _on_grid(sample, config, background)
    q, intensity = grid.q, grid.intensity
    favg2, f2avg = scattering_averages(config.composition, q, config.mode)
    k = float(config.scale) if config.scale is not None else intensity_scale(intensity, favg2, f2avg)
    fm = q * (k * intensity - f2avg) / favg2
    degree = polynomial_degree(config.rpoly, float(q[0]), float(q[-1]))
    coef, poly = fit_correction_polynomial(q, fm, degree)
    fq = fm - poly
    sigma_f = q * k * np.sqrt(grid.var) / favg2
    has_sigma = sample.has_sigma
    tr = q <= config.qmax * (1 + 1e-12)
    qt, ft, st = q[tr], fq[tr], sigma_f[tr]
    if config.lorch:
        w = lorch(qt, config.qmax)
        ft, st = ft * w, st * w
    nr = int(math.floor((config.rmax - config.rmin) / config.rstep + 1e-9)) + 1
    r = config.rmin + config.rstep * np.arange(nr)
    g, dg = sine_transform(qt, ft, r, st if has_sigma else None)
    settings = {**config.settings(), "qmaxinst": grid.qmaxinst,
                "bgscale": grid.bgscale if background is not None else None}
    meta = {"source": src, "header": [], "settings": settings}
    radiation = "neutron" if config.mode == "neutron" else "xray"

    def pat(x: np.ndarray, y: np.ndarray, s: np.ndarray, unit: str) -> Pattern:
        return Pattern(x=x, y=y, sigma=s if has_sigma else np.ones_like(y), unit=unit,
                       sigma_source="propagated" if has_sigma else "unit", radiation=radiation,
                       wavelength=sample.wavelength, metadata=meta)

    pos = q > 0
    iq = pat(q, intensity, np.sqrt(grid.var), units.Q_A)
    iq = iq.replace(corrections=sample.corrections | ({"background"} if background is not None else set()))
    return ReductionResult(
        iq=iq, sq=pat(q[pos], 1.0 + fq[pos] / q[pos], sigma_f[pos] / q[pos], units.Q_A),
        fq=pat(q, fq, sigma_f, units.Q_A), gr=pat(r, g, dg, units.R_A),
        degree=degree, coefficients=tuple(float(c) for c in coef), scale=k, bgscale=grid.bgscale,
        notes=grid.notes, settings=MappingProxyType(settings), qstep=grid.step)
