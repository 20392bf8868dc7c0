"""PDF reduction I(Q) → S(Q), F(Q), G(r) with PDFgetX3's ad hoc corrections.

Method (Juhás, Davis, Farrow & Billinge, J. Appl. Cryst. 46 (2013) 560, "PDFgetX3"):

1. I(Q) = I_sample(Q) − bgscale · I_background(Q) (the background interpolated onto the sample grid when the
   grids differ; ``bgscale='auto'`` takes the largest scale that keeps I(Q) ≥ 0 over the upper half of
   [qmin, qmaxinst]).
2. F_m(Q) = Q · I(Q) / ⟨f⟩², with ⟨f⟩ = Σ c_i f_i(Q) from Waasmaier–Kirfel form factors.
3. The measured intensity is a(Q)·I_c(Q) + b(Q) with slowly varying a, b; every structure-independent term
   of F_m (self scattering Q⟨f²⟩/⟨f⟩², Compton, residual background) is smooth and is removed by a polynomial
   P(Q) = Σ_{k=1..n} c_k Q^k without constant term, fitted by least squares to F_m over qmin ≤ Q ≤ qmaxinst.
   The degree follows PDFgetX3's rule n = round(rpoly · qmaxinst / π): a polynomial of degree n on
   [0, qmaxinst] holds no Fourier component beyond r ≈ rpoly. F(Q) = (F_m − P) / a.
4. G(r) = (2/π) Σ F(Q) sin(Qr) ΔQ over qmin ≤ Q ≤ qmax on the data grid, optionally with the Lorch
   modification function sin(πQ/Qmax)/(πQ/Qmax) (Lorch, J. Phys. C 2 (1969) 229). dG comes from the
   propagated sigma of I (the fitted polynomial's own uncertainty is neglected).

Scale rule (``scale=None``): the ad hoc assumption applied to the scale itself. With b(Q) ≪ a⟨f²⟩ the smooth
part is P(Q) ≈ a · Q⟨f²⟩/⟨f⟩², so a is the least-squares coefficient of Q⟨f²⟩/⟨f⟩² in P over the fit range.
This is *not* PDFgetX3's scale rule, which neither the paper's public abstract nor the diffpy.pdfgetx 2.x
manual (options: rpoly, qmaxinst "upper boundary for the polynomial fit correction of the S(Q) data")
states. On the Ni reference data (pdfttp ch. 4) PDFgetX3's G is 0.480× ours at bgscale 1 and 0.693× at
bgscale 0.4: implied divisors a = 1435 and 1548 against ours 689 and 1073. Standard rules tried and
rejected (a for bgscale 1 / 0.4): mean (I − bB)/⟨f²⟩ over the top half of Q 710/1049, over the top 10 %
640/1170; ∫Q²(I − bB)/∫Q²⟨f²⟩ 690/977; Krogh-Moe with ρ0(Ni) 689/1073; raw I/⟨f²⟩ over the top 10 %
1516/1492 (ignores bgscale). The low-r check G ≈ −4πρ0 r (−1.149 r for Ni) cannot settle it to 10 %: with
an intercept, the slope of PDFgetX3's own G over 1.0–2.2 / 1.2–2.2 / 1.4–2.2 Å is 0.94/0.78/0.67 (Ni.gr)
and 0.71/0.67/0.61 (Ni-hires.gr) of −4πρ0; ours is 2.00/1.65/1.41 and 1.00/0.95/0.87. Session 2 measurements:
the divisor is one constant (F(Q) back-transformed from PDFgetX3's G(r) is ours × 1/a to 0.3 % from Q 2 to 22
Å⁻¹: test_pdfgetx3_ni_fq_differs_by_one_constant) and it does not depend on qmax (Ni-hires and Ni-lownoise agree to
0.02 %). Rules on the *unsubtracted* sample come closest: its high-Q level I/⟨f²⟩ over the last 0.5 Å⁻¹ below
qmaxinst is 0.986/0.989 of PDFgetX3's a, over the top 10 % 1.056/0.964, the self-scattering rule applied to it
0.943/0.849 — but no window or weighting among ~300 tried (Q^k-weighted means, percentiles, ratios of integrals of
sample, sample − b·background and background over ⟨f²⟩, Z², ⟨f²⟩+Z) reproduces both to 1 %, so none is adopted:
picking one by its agreement would be fitting the answer. Pass ``scale=`` to impose a known factor.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from refine import units
from refine.data import Pattern
from refine.errors import InputError
from refine.pdf.composition import format_composition, parse_composition
from refine.pdf.formfactors import form_factor_averages

#: Output kinds and their file extensions.
OUTPUT_KINDS = ("iq", "sq", "fq", "gr")
_MIN_POINTS = 10


@dataclasses.dataclass(frozen=True)
class ReductionConfig:
    """Every setting of one reduction (PDFgetX3 names).

    Parameters
    ----------
    composition
        Chemical formula, e.g. ``"Ni"`` or ``"Na3V2O5"``.
    qmax, qmin
        Q range of the sine transform (Å⁻¹).
    qmaxinst
        Upper end of the reliable data and of the polynomial fit (Å⁻¹); None: last point with non-zero
        intensity (trailing zero padding is ignored).
    rpoly
        r limit (Å) of the correction polynomial's frequency content; degree round(rpoly·qmaxinst/π).
    bgscale
        Background scale, or ``"auto"``.
    lorch
        Apply the Lorch modification function before the transform.
    rmin, rmax, rstep
        The r grid of G(r) (Å).
    wavelength
        Wavelength (Å) for I(2θ) input; overrides the file's value.
    scale
        Fixed divisor a of F(Q); None uses the self-scattering rule (module docstring).
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

    def __post_init__(self) -> None:
        parse_composition(self.composition, source="composition")
        checks = (
            (self.qmax > 0, "qmax", "must be positive"),
            (self.qmin >= 0 and self.qmin < self.qmax, "qmin", f"must lie in [0, qmax={self.qmax:g})"),
            (self.qmaxinst is None or self.qmaxinst >= self.qmax, "qmaxinst",
             f"must not be below qmax={self.qmax:g}"),
            (self.rpoly >= 0, "rpoly", "must not be negative"),
            (self.rstep > 0, "rstep", "must be positive"),
            (self.rmax > self.rmin >= 0, "rmax", "must exceed rmin >= 0"),
            (self.rstep <= 0 or (self.rmax - self.rmin) / self.rstep <= 1e6, "rstep",
             "gives more than 10^6 r points"),
            (self.wavelength is None or self.wavelength > 0, "wavelength", "must be positive"),
            (self.scale is None or self.scale > 0, "scale", "must be positive"),
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
    """The curves of one reduction and how they were made."""

    iq: Pattern
    sq: Pattern
    fq: Pattern
    gr: Pattern
    degree: int
    coefficients: tuple[float, ...]
    scale: float
    bgscale: float
    notes: tuple[str, ...]
    settings: Mapping[str, Any]
    written: tuple[str, ...] = ()  # files written by refine.pdf_reduce (output=, plot=)

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
def polynomial_degree(rpoly: float, qmaxinst: float) -> int:
    """PDFgetX3's degree of the correction polynomial, round(rpoly·qmaxinst/π) (halves round up)."""
    return int(math.floor(rpoly * qmaxinst / math.pi + 0.5))


def fit_correction_polynomial(q: np.ndarray, fm: np.ndarray, degree: int, *, qmin: float,
                              qmaxinst: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares Σ_{k=1..degree} c_k Q^k (no constant) to ``fm`` over qmin ≤ Q ≤ qmaxinst.

    Returns the coefficients c_k (for Q in Å⁻¹) and the polynomial on the whole ``q`` grid. The fit is done
    in x = Q/qmaxinst: raw powers of Q up to 31⁹ are ill-conditioned enough for SVD truncation to change the
    answer.
    """
    if degree <= 0:
        return np.zeros(0), np.zeros_like(q)
    mask = (q >= qmin) & (q <= qmaxinst)
    if np.count_nonzero(mask) <= degree:
        raise InputError("rpoly", f"polynomial degree {degree} needs more than {np.count_nonzero(mask)} points")
    powers = np.arange(1, degree + 1)
    x = q / qmaxinst
    design = x[:, None] ** powers[None, :]
    coef_x, *_ = np.linalg.lstsq(design[mask], fm[mask], rcond=1e-15)
    return coef_x / qmaxinst**powers, design @ coef_x


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


def _selfscattering_scale(q: np.ndarray, poly: np.ndarray, ratio: np.ndarray, mask: np.ndarray) -> float:
    g = q[mask] * ratio[mask]
    a = float(poly[mask] @ g / (g @ g))
    if not (math.isfinite(a) and a > 0):
        raise InputError("scale", "the smooth part of Q*I/<f>^2 is not positive, so the self-scattering "
                                    "rule cannot fix the scale; check bgscale or pass --scale")
    return a


def _interpolate_background(sample: Pattern, background: Pattern, lo: float, hi: float) -> tuple[Pattern, str]:
    bq = background.to_unit(units.Q_A) if background.unit != units.Q_A else background
    if bq.x.size < 2:
        raise InputError(background.source, "background has fewer than two points")
    same = bq.x.size == sample.x.size and np.allclose(bq.x, sample.x, rtol=0, atol=1e-6)
    if same:
        return bq, ""
    if bq.x[0] > lo + 1e-9 or bq.x[-1] < hi - 1e-9:
        raise InputError(background.source, f"background covers Q {bq.x[0]:g}..{bq.x[-1]:g} 1/A, which does "
                                            f"not span the range used, {lo:g}..{hi:g} 1/A")
    y = np.interp(sample.x, bq.x, bq.y)
    s = np.interp(sample.x, bq.x, bq.sigma)
    note = (f"background interpolated linearly from its own Q grid ({bq.x.size} points, "
            f"{bq.x[0]:g}..{bq.x[-1]:g} 1/A) onto the sample grid ({sample.x.size} points)")
    return bq.replace(x=sample.x, y=y, sigma=s), note


def to_q(pattern: Pattern, wavelength: float | None = None) -> Pattern:
    """The pattern on a Q axis (2θ converted with ``wavelength`` or the pattern's own)."""
    if pattern.unit == units.Q_A:
        return pattern
    if pattern.unit == units.R_A:
        raise InputError(pattern.source or "input", "is a real-space (r) pattern, not I(Q) or I(2theta)")
    if wavelength is not None:
        pattern = pattern.replace(wavelength=wavelength)
    if pattern.unit == units.TTH_DEG and pattern.wavelength is None:
        raise InputError(pattern.source or "input",
                         "is I(2theta) without a wavelength in its header: pass --wavelength")
    return pattern.to_unit(units.Q_A)


# -- the reduction -----------------------------------------------------------------------------------------
def reduce_pattern(sample: Pattern, config: ReductionConfig, background: Pattern | None = None) -> ReductionResult:
    """Reduce one I(Q) (or I(2θ)) pattern to S(Q), F(Q) and G(r); see the module docstring."""
    src = sample.source
    sample = to_q(sample, config.wavelength)
    if background is not None:
        background = to_q(background, config.wavelength if background.unit == units.TTH_DEG else None)
    q = sample.x
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
    used = (q >= config.qmin) & (q <= qmaxinst)
    if np.count_nonzero(used) < _MIN_POINTS:
        raise InputError(src, f"fewer than {_MIN_POINTS} points between qmin {config.qmin:g} and {qmaxinst:g}")
    notes: list[str] = []
    intensity, var = sample.y.astype(float), sample.sigma.astype(float) ** 2
    bgscale = 0.0
    if background is not None:
        bg, note = _interpolate_background(sample, background, config.qmin, qmaxinst)
        if note:
            notes.append(note)
        if isinstance(config.bgscale, str):
            mid = config.qmin + 0.5 * (qmaxinst - config.qmin)
            bgscale = auto_background_scale(q, intensity, bg.y, qlo=mid, qhi=qmaxinst)
            notes.append(f"bgscale auto = {bgscale:.6g} (largest keeping I - b*B >= 0 for {mid:g} <= Q <= "
                         f"{qmaxinst:g})")
        else:
            bgscale = float(config.bgscale)
        intensity = intensity - bgscale * bg.y
        var = var + (bgscale * bg.sigma) ** 2
    favg2, f2avg = form_factor_averages(parse_composition(config.composition), q)
    fm = q * intensity / favg2
    degree = polynomial_degree(config.rpoly, qmaxinst)
    coef, poly = fit_correction_polynomial(q, fm, degree, qmin=config.qmin, qmaxinst=qmaxinst)
    if config.scale is not None:
        a = float(config.scale)
    else:
        a = _selfscattering_scale(q, poly, f2avg / favg2, used)
    fq_all = (fm - poly) / a
    sigma_f = q * np.sqrt(var) / favg2 / a
    has_sigma = sample.has_sigma
    tr = (q >= config.qmin) & (q <= config.qmax)
    qt, ft, st = q[tr], fq_all[tr], sigma_f[tr]
    if config.lorch:
        w = lorch(qt, config.qmax)
        ft, st = ft * w, st * w
    nr = int(math.floor((config.rmax - config.rmin) / config.rstep + 1e-9)) + 1
    r = config.rmin + config.rstep * np.arange(nr)
    g, dg = sine_transform(qt, ft, r, st if has_sigma else None)
    settings = {**config.settings(), "qmaxinst": qmaxinst, "bgscale": bgscale if background is not None else None}
    meta = {"source": src, "header": [], "settings": settings}
    sig_src = "propagated" if has_sigma else "unit"
    ones = np.ones_like

    def pat(x: np.ndarray, y: np.ndarray, s: np.ndarray | None, unit: str) -> Pattern:
        return Pattern(x=x, y=y, sigma=s if has_sigma and s is not None else ones(y), unit=unit,
                       sigma_source=sig_src, radiation="xray", metadata=meta)

    qs = q[used]
    pos = qs > 0
    sq_sigma = (sigma_f[used][pos] / qs[pos])
    iq = pat(q[used], intensity[used], np.sqrt(var[used]), units.Q_A)
    iq = iq.replace(corrections=sample.corrections | ({"background"} if background is not None else set()))
    return ReductionResult(
        iq=iq,
        sq=pat(qs[pos], 1.0 + fq_all[used][pos] / qs[pos], sq_sigma, units.Q_A),
        fq=pat(qs, fq_all[used], sigma_f[used], units.Q_A),
        gr=pat(r, g, dg, units.R_A),
        degree=degree, coefficients=tuple(float(c) for c in coef), scale=a,
        bgscale=bgscale, notes=tuple(notes), settings=MappingProxyType(settings))


# -- files -------------------------------------------------------------------------------------------------
def reduce_file(path: str | Path, config: ReductionConfig, background: str | Path | None = None, *,
                reader: Callable[[str | Path], Pattern] | None = None) -> ReductionResult:
    """Read ``path`` (and ``background``) and reduce it; the header records both files with their sha256.

    ``reader`` turns a file into a pattern: :func:`refine.io.read_pattern` by default, or e.g. an integrator's
    image reader for 2D images.
    """
    from refine.io import read_pattern
    from refine.io.atomic import sha256_of

    reader = reader or read_pattern
    sample = reader(path)
    bg = reader(background) if background is not None else None
    result = reduce_pattern(sample, config, bg)
    inputs = {"input": f"{Path(path)} sha256={sha256_of(path)}"}
    if background is not None:
        inputs["background"] = f"{Path(background)} sha256={sha256_of(background)}"
    return dataclasses.replace(result, settings=MappingProxyType({**result.settings, **inputs}))


def header_lines(result: ReductionResult, kind: str) -> list[str]:
    """Header recording every setting, the input files and the derived quantities."""
    from refine import __version__

    s = dict(result.settings)
    comp = format_composition(parse_composition(s["composition"]))
    lines = [f"refine {__version__} pdf reduce: {kind} (PDFgetX3-style ad hoc corrections, Juhas et al. "
             "J. Appl. Cryst. 46 (2013) 560)"]
    for key in ("input", "background"):
        if key in s:
            lines.append(f"{key}file = {s.pop(key)}")
    s["composition"] = comp
    lines.extend(f"note: {n}" for n in result.notes)
    for key, value in s.items():
        lines.append(f"{key} = {value}")
    lines.append(f"polynomial degree = {result.degree} (round(rpoly*qmaxinst/pi)); coefficients c1..cn (Q in "
                 f"1/A) = {' '.join(f'{c:.8g}' for c in result.coefficients) or 'none'}")
    rule = "fixed by --scale" if s.get("scale") else "self-scattering rule: smooth part ~ a*Q*<f^2>/<f>^2"
    lines.append(f"F(Q) scale divisor a = {result.scale:.8g} ({rule})")
    lines.append("form factors: Waasmaier-Kirfel (xraydb); F(Q) = (Q*I/<f>^2 - P(Q))/a; "
                 "G(r) = (2/pi) sum F(Q) sin(Qr) dQ over qmin..qmax" + ("; Lorch window" if s["lorch"] else ""))
    return lines


def output_paths(out: str | Path, outputs: Sequence[str]) -> dict[str, Path]:
    """``{kind: path}``: ``gr`` goes to ``out``, the others beside it with their own extension."""
    out = Path(out)
    paths = {}
    for kind in outputs:
        if kind not in OUTPUT_KINDS:
            raise InputError("outputs", f"unknown output {kind!r}; choose from {', '.join(OUTPUT_KINDS)}")
        paths[kind] = out if kind == "gr" and out.suffix.lower() == ".gr" else out.with_suffix(f".{kind}")
    return paths


def write_results(result: ReductionResult, out: str | Path, outputs: Sequence[str] = ("gr",)) -> list[Path]:
    """Write the requested curves atomically (column files readable by :func:`refine.io.read_pattern`)."""
    from refine.io.columns import write_columns

    written = []
    for kind, path in output_paths(out, outputs).items():
        write_columns(result.curve(kind), path, header=header_lines(result, kind))
        written.append(path)
    return written


# -- batch -------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Job:
    path: str
    out: str
    config: ReductionConfig
    background: str | None
    outputs: tuple[str, ...]


def _run_job(job: _Job) -> list[str]:
    result = reduce_file(job.path, job.config, job.background)
    return [str(p) for p in write_results(result, job.out, job.outputs)]


def reduce_series(paths: Sequence[str | Path], config: ReductionConfig, out_dir: str | Path, *,
                  background: str | Path | None = None, outputs: Sequence[str] = ("gr",), workers: int = 2,
                  overwrite: bool = False) -> dict[str, list[Path]]:
    """Reduce many patterns with one configuration, in parallel, writing ``out_dir/<stem>.gr`` (etc.).

    Resumable: a file whose outputs all exist is skipped unless ``overwrite`` (writes are atomic, so an
    existing output is complete). Returns ``{input path: [written or existing output paths]}`` in input
    order. The first bad input raises its :class:`InputError` after the running jobs finish. The output folder
    is locked for the run (:func:`refine.io.lock.folder_lock`): a second run into it is bad input.
    """
    from refine.io.lock import folder_lock

    stems = [Path(p).stem for p in paths]
    if len(set(stems)) != len(stems):
        raise InputError(str(out_dir), "two inputs share a file name stem; their outputs would collide")
    with folder_lock(out_dir, command="pdf reduce"):
        return _reduce_all(paths, config, Path(out_dir), background=background, outputs=tuple(outputs),
                           workers=workers, overwrite=overwrite)


def _reduce_all(paths: Sequence[str | Path], config: ReductionConfig, out_dir: Path, *,
                background: str | Path | None, outputs: tuple[str, ...], workers: int,
                overwrite: bool) -> dict[str, list[Path]]:
    from concurrent.futures import ProcessPoolExecutor

    done: dict[str, list[Path]] = {}
    jobs = []
    for p in paths:
        stem = Path(p).stem
        target = out_dir / f"{stem}.gr"
        existing = list(output_paths(target, outputs).values())
        if not overwrite and all(e.exists() for e in existing):
            done[str(p)] = existing
        else:
            jobs.append(_Job(str(p), str(target), config, None if background is None else str(background), outputs))
    if jobs:
        if workers <= 1 or len(jobs) == 1:
            results = [_run_job(j) for j in jobs]
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(_run_job, jobs))
        for job, written in zip(jobs, results, strict=True):
            done[job.path] = [Path(w) for w in written]
    return {str(p): done[str(p)] for p in paths}
