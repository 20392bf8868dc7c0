"""The whole-pattern powder model shared by Le Bail, Pawley and Rietveld.

Parameters (lmfit names; ``p`` is an optional dataset prefix for joint fits, ``ph`` a phase prefix):
* instrument: ``{p}zero`` (deg, GSAS-II Zero: peaks seen at 2θ + zero), ``{p}U {p}V {p}W`` (centideg²),
  ``{p}X {p}Y {p}Z`` (centideg), ``{p}SH_L``, ``{p}ka2_ratio``; Bragg–Brentano ``{p}shift`` (sample
  displacement, μm) and ``{p}transparency`` as GSAS-II defines them (Δ2θ = −(0.36/π)·s·cosθ/R − (9/π)·T·sin2θ/R,
  deg, R the goniometer radius in mm; Toby & Von Dreele 2013, G2pwd); Debye–Scherrer ``{p}displace_x`` /
  ``{p}displace_y`` (μm; Δ2θ = −(0.09/π)(Dx cos2θ + Dy sin2θ)/R, GSAS-II DisplaceX/Y);
* phase: ``{ph}_a`` … ``{ph}_gamma`` constrained by the crystal system, ``{ph}_LX``/``{ph}_LY`` extra
  Lorentzian size/strain broadening of that phase (centideg, added to X and Y).
Peaks are evaluated sparsely (:mod:`refine.powder.peaks`); the background is linear (:mod:`.background`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import lmfit
import numpy as np
import scipy.sparse as sp

from refine import units
from refine.crystal.lattice import Lattice
from refine.crystal.reflections import ReflectionList, check_reflection_count, generate_reflections
from refine.crystal.structure import CrystalStructure
from refine.data import Pattern
from refine.errors import InputError
from refine.fit.objective import usable_points
from refine.fit.parameters import lattice_from_parameters, lattice_parameters
from refine.instrument import Instrument
from refine.powder.background import Background
from refine.powder.peaks import PeakLayout, RowMap, WindowOptions, _expand_planned, peak_layout, profile_matrix
from refine.powder.peakshape import gaussian_variance, lorentzian_fwhm, tch_fwhm_eta

PROFILE_NAMES = ("U", "V", "W", "X", "Y", "Z")
_FAR = 1e9  # position given to reflections a wavelength cannot reach: their window is empty


def phase_prefix(name: str) -> str:
    """A parameter-safe prefix from a phase name ('Na3V2(PO4)3' -> 'na3v2po43')."""
    text = re.sub(r"[^0-9a-zA-Z_]", "", name).lower() or "phase"
    return f"p{text}" if text[0].isdigit() else text


@dataclass(frozen=True)
class PowderOptions:
    """Settings of a whole-pattern fit.

    Attributes
    ----------
    background
        The background function; its domain defaults to the fit range.
    fit_range
        (lo, hi) in deg 2θ, None = whole pattern.
    exclusions
        Excluded (lo, hi) regions in deg 2θ (cell hardware, Cu reflections, ...).
    window
        How far each peak is evaluated.
    goniometer_radius
        mm, for Bragg–Brentano displacement/transparency.
    d_margin
        Reflections are generated to d_min·(1 − d_margin) so that cell changes during a fit keep them all.
    constraints
        (name, lmfit expression) pairs applied to the starting parameters of every fit, e.g.
        ``("nvpf_c", "851.12/(nvpf_a*nvpf_b)")`` for an orthorhombic phase held at constant volume.
    """

    background: Background = field(default_factory=Background)
    fit_range: tuple[float, float] | None = None
    exclusions: tuple[tuple[float, float], ...] = ()
    window: WindowOptions = field(default_factory=WindowOptions)
    goniometer_radius: float = 200.0
    d_margin: float = 0.02
    constraints: tuple[tuple[str, str], ...] = ()


def line_exclusions(structure: CrystalStructure, instrument: Instrument, lo: float, hi: float, *,
                    halfwidth: float) -> tuple[tuple[float, float], ...]:
    """Excluded regions (deg 2θ) around every reflection of ``structure`` (e.g. the Cu current collector) at the
    instrument's wavelength(s) within [lo, hi]: 2θ = 2 asin(λ / 2d) ± ``halfwidth``, overlapping regions merged.
    The positions come from the phase's cell, never from a table of angles."""
    if not halfwidth > 0:
        raise InputError("exclude_phase", f"half-width must be positive, got {halfwidth}")
    lams = [instrument.wavelength] + ([instrument.wavelength2] if instrument.wavelength2 else [])
    d_min = float(units.tth_to_d(tth=min(hi + halfwidth, 179.0), wavelength=min(lams)))
    check_reflection_count(structure.lattice, d_min, source=f"--exclude-phase {structure.name}",
                           hint=f"2θ up to {hi:g}° at λ = {min(lams):g} Å; check the wavelength and the cell")
    refl = generate_reflections(structure.lattice, structure.space_group, d_min)
    centres = np.concatenate([units.d_to_tth(d=refl.d, wavelength=lam) for lam in lams])
    centres = np.sort(centres[np.isfinite(centres) & (centres >= lo - halfwidth) & (centres <= hi + halfwidth)])
    merged: list[list[float]] = []
    for c in centres:
        if merged and c - halfwidth <= merged[-1][1]:
            merged[-1][1] = c + halfwidth
        else:
            merged.append([c - halfwidth, c + halfwidth])
    return tuple((float(a), float(b)) for a, b in merged)


@dataclass(frozen=True, eq=False)
class PhaseBlock:
    """One phase in the model: its prefix, structure and fixed list of reflections."""

    prefix: str
    structure: CrystalStructure
    reflections: ReflectionList


class PowderModel:
    """Peak positions, widths and the sparse peak matrix of several phases on one pattern.

    Built once per fit: the reflection lists, the fitted-point mask and the background basis are fixed; every
    evaluation recomputes only positions and widths from the parameters.
    """

    def __init__(self, pattern: Pattern, phases: list[CrystalStructure], instrument: Instrument, *,
                 options: PowderOptions | None = None, prefix: str = "") -> None:
        if pattern.unit != "2th_deg":
            raise InputError(pattern.source, f"powder fits need x in 2th_deg, got {pattern.unit}")
        if not phases:
            raise InputError("phases", "at least one phase is needed")
        self.pattern = pattern
        self.instrument = instrument
        self.options = options or PowderOptions()
        self.prefix = prefix
        x = pattern.x
        lo, hi = self.options.fit_range or (float(x.min()), float(x.max()))
        if not hi > lo:
            raise InputError("range", f"empty fit range {lo}:{hi}")
        mask = (x >= lo) & (x <= hi)
        for a, b in self.options.exclusions:
            mask &= ~((x >= min(a, b)) & (x <= max(a, b)))
        if not mask.any():
            raise InputError(pattern.source, f"no points inside the fit range {lo}:{hi} after exclusions")
        self.mask, self.notes = usable_points(pattern, mask, "2θ")
        # Peaks are evaluated on the fit range only (exclusions stay: they are masked in the residual).
        self.inside = (x >= lo) & (x <= hi)
        self.x_fit = x[self.inside]
        bg = self.options.background
        if bg.domain is None:
            bg = Background(kind=bg.kind, nterms=bg.nterms, knots=bg.knots, domain=(lo, hi))
        self.background = bg
        self.background_basis = bg.basis(self.x_fit)
        lam_max = max(w for w, _ in instrument.lines)
        d_min = float(units.tth_to_d(tth=min(hi + 1.0, 179.0), wavelength=lam_max)) * (1.0 - self.options.d_margin)
        names = [phase_prefix(p.name) for p in phases]
        if len(set(names)) != len(names):
            raise InputError("phases", f"phase names must differ, got {names}")
        self.phases = tuple(PhaseBlock(prefix=n, structure=p, reflections=self._reflections(p, d_min, lo, hi))
                            for n, p in zip(names, phases, strict=True))
        self.offsets = np.cumsum([0] + [len(b.reflections) for b in self.phases])

    def _reflections(self, phase: CrystalStructure, d_min: float, lo: float, hi: float) -> ReflectionList:
        """The phase's reflections to ``d_min``: refused when there would be astronomically many (a wrong cell or
        wavelength) or when none falls inside the fit range lo..hi (deg 2θ)."""
        lams = [w for w, _ in self.instrument.lines]
        where = f"2θ {lo:g}-{hi:g}° at λ = {', '.join(f'{w:g}' for w in lams)} Å"
        check_reflection_count(phase.lattice, d_min, source=f"phase {phase.name}",
                               hint=f"{where}; check the wavelength and the cell, or narrow --range")
        refl = phase.reflections(d_min)  # kept by the phase: every scan of a series asks again
        tth = np.concatenate([refl.two_theta(w) for w in lams]) + self.instrument.zero
        if not np.any((tth >= lo) & (tth <= hi)):
            longest = (f"its longest d, {refl.d.max():.4g} Å, is at 2θ = {np.nanmin(tth):.4g}°" if len(refl) else
                       f"it has no reflection with d ≥ {d_min:.3g} Å")
            raise InputError(f"phase {phase.name}", f"no reflection in the fit range {where} ({longest}); check the "
                                                    "wavelength, the cell and --range")
        return refl

    @property
    def weights(self) -> np.ndarray:
        """1/σ² on the fit range (``inside``), 0 at points that are not fitted (exclusions, unusable σ)."""
        sigma = self.pattern.sigma[self.inside]
        fitted = self.mask[self.inside]
        return np.divide(1.0, sigma**2, out=np.zeros_like(sigma), where=fitted)

    # -- parameters ------------------------------------------------------------------------------------------
    def parameters(self) -> lmfit.Parameters:
        """All parameters with starting values from the instrument and phases, none varying yet."""
        p = self.prefix
        inst = self.instrument
        params = lmfit.Parameters()
        # Bounds keep a runaway fit physical: the zero within ±1° of its start, SH/L within [0, 0.2].
        params.add(f"{p}zero", value=inst.zero, vary=False, min=inst.zero - 1.0, max=inst.zero + 1.0)
        for name in PROFILE_NAMES:
            # Widths must stay widths: W and the Lorentzian terms are not allowed below zero (U, V may be).
            low = 0.0 if name in ("W", "X", "Y", "Z") else -np.inf
            params.add(f"{p}{name}", value=getattr(inst.profile, name), vary=False, min=low)
        params.add(f"{p}SH_L", value=inst.profile.sh_l, vary=False, min=0.0, max=0.2)
        params.add(f"{p}ka2_ratio", value=inst.ka2_ratio, vary=False, min=0.0)
        params.add(f"{p}shift", value=0.0, vary=False)
        params.add(f"{p}transparency", value=0.0, vary=False)
        params.add(f"{p}displace_x", value=0.0, vary=False)
        params.add(f"{p}displace_y", value=0.0, vary=False)
        for block in self.phases:
            params.update(lattice_parameters(block.prefix, block.structure.space_group, block.structure.lattice,
                                             vary=False))
            params.add(f"{block.prefix}_LX", value=0.0, vary=False)
            params.add(f"{block.prefix}_LY", value=0.0, vary=False)
        return params

    def lattice(self, params: lmfit.Parameters, block: PhaseBlock) -> Lattice:
        """The cell of a phase at the current parameters."""
        return lattice_from_parameters(params, block.prefix)

    # -- peaks -----------------------------------------------------------------------------------------------
    def positions(self, params: lmfit.Parameters, block: PhaseBlock, wavelength: float) -> np.ndarray:
        """Observed peak positions (deg 2θ) of a phase's reflections at ``wavelength`` (NaN when unreachable)."""
        d = self.lattice(params, block).d_spacing(block.reflections.hkl)
        return self._positions(d, params.valuesdict(), wavelength)

    def _positions(self, d: np.ndarray, v: dict, wavelength: float) -> np.ndarray:
        """:meth:`positions` from the d-spacings and the parameter values ``v``."""
        p = self.prefix
        tth = units.d_to_tth(d=d, wavelength=wavelength) + v[f"{p}zero"]
        r = self.options.goniometer_radius
        if v[f"{p}shift"] or v[f"{p}transparency"]:
            th = np.radians(tth / 2.0)
            tth = tth - (0.36 / np.pi) * v[f"{p}shift"] * np.cos(th) / r - (9.0 / np.pi) * v[
                f"{p}transparency"] * np.sin(2.0 * th) / r
        if v[f"{p}displace_x"] or v[f"{p}displace_y"]:
            # Debye–Scherrer / transmission sample offsets along and across the beam (μm), GSAS-II's DisplaceX/Y.
            t2 = np.radians(tth)
            tth = tth - (0.09 / np.pi) * (v[f"{p}displace_x"] * np.cos(t2) + v[f"{p}displace_y"] * np.sin(t2)) / r
        return tth

    def widths(self, params: lmfit.Parameters, block: PhaseBlock, tth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TCH FWHM (deg) and η of a phase's peaks at positions ``tth``."""
        return self._widths(params.valuesdict(), block, tth)

    def _widths(self, v: dict, block: PhaseBlock, tth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`widths` from the parameter values ``v``."""
        p = self.prefix
        sig2 = gaussian_variance(tth, U=v[f"{p}U"], V=v[f"{p}V"], W=v[f"{p}W"])
        gam = lorentzian_fwhm(tth, X=v[f"{p}X"] + v[f"{block.prefix}_LX"], Y=v[f"{p}Y"] + v[f"{block.prefix}_LY"],
                              Z=v[f"{p}Z"])
        return tch_fwhm_eta(sig2, gam)

    def _peaks(self, params: lmfit.Parameters) -> tuple[np.ndarray, np.ndarray, np.ndarray, RowMap]:
        """Positions, FWHM, η of every peak (each reflection × each wavelength line) and where each one goes.

        The set of peaks never changes with the parameters (unreachable reflections get an empty window), so a
        frozen :class:`~refine.powder.peaks.PeakLayout` stays valid.
        """
        v = params.valuesdict()
        lines = [(self.instrument.wavelength, 1.0)]
        if self.instrument.wavelength2 is not None:
            lines.append((self.instrument.wavelength2, v[f"{self.prefix}ka2_ratio"]))
        pos_all, fw_all, eta_all, wt_all, row_all = [], [], [], [], []
        for i, block in enumerate(self.phases):
            rows = np.arange(self.offsets[i], self.offsets[i + 1])
            d = self.lattice(params, block).d_spacing(block.reflections.hkl)
            for lam, weight in lines:
                tth = self._positions(d, v, lam)
                ok = np.isfinite(tth)
                fwhm, eta = self._widths(v, block, np.where(ok, tth, 179.0))
                pos_all.append(np.where(ok, tth, _FAR))
                fw_all.append(fwhm)
                eta_all.append(eta)
                wt_all.append(np.where(ok, weight, 0.0))
                row_all.append(rows)
        rows = RowMap(row=np.concatenate(row_all), weight=np.concatenate(wt_all), nrows=int(self.offsets[-1]))
        return np.concatenate(pos_all), np.concatenate(fw_all), np.concatenate(eta_all), rows

    def layout(self, params: lmfit.Parameters, *, margin: float = 2.0) -> PeakLayout:
        """A frozen evaluation layout at ``params`` with windows ``margin`` FWHM wider on each side."""
        pos, fwhm, eta, _ = self._peaks(params)
        sh_l = params[f"{self.prefix}SH_L"]
        return peak_layout(self.x_fit, pos, fwhm, eta, sh_l=sh_l.value, options=self.options.window, margin=margin,
                           min_nodes=2 if sh_l.vary else 1)

    def peak_matrix(self, params: lmfit.Parameters, layout: PeakLayout | None = None) -> sp.csr_matrix:
        """Sparse (n reflections of all phases, n fit points) matrix of unit-area profiles.

        Each row holds the Kα1 peak plus ``ka2_ratio`` × the Kα2 peak of the same reflection, so one intensity
        per reflection describes the doublet. Pass the fit's ``layout`` to keep the model smooth while it runs.
        """
        pos, fwhm, eta, rows = self._peaks(params)
        return profile_matrix(self.x_fit, pos, fwhm, eta, sh_l=params[f"{self.prefix}SH_L"].value,
                              options=self.options.window, rows=rows, layout=layout)

    def peak_curve(self, params: lmfit.Parameters, intensities: np.ndarray, layout: PeakLayout) -> np.ndarray:
        """Σ_reflections I × profile on the fit range: ``peak_matrix(params, layout).T @ intensities`` (to rounding)
        without forming the matrix (one compiled pass over the peaks' windows)."""
        from refine.powder import _peak_jit

        pos, fwhm, eta, rows = self._peaks(params)
        _, i0, i1 = layout.kernel_arrays
        if layout.nodes.size != pos.size:
            raise ValueError(f"layout is for {layout.nodes.size} peaks, got {pos.size}")
        centre, cweight = _expand_planned(pos, layout.plan, params[f"{self.prefix}SH_L"].value)
        amp = np.ascontiguousarray(np.asarray(intensities, dtype=float)[rows.row] * rows.weight)
        y = np.zeros(self.x_fit.size)
        _peak_jit.accumulate_peaks(np.ascontiguousarray(self.x_fit, dtype=float), layout.plan.cstart,
                                   layout.plan.ncomp, centre, cweight, np.ascontiguousarray(fwhm, dtype=float),
                                   np.ascontiguousarray(eta, dtype=float), amp, i0, i1, y)
        return y

    def phase_rows(self, block_index: int) -> slice:
        """Rows of the peak matrix (and entries of the intensity vector) that belong to one phase."""
        return slice(int(self.offsets[block_index]), int(self.offsets[block_index + 1]))

    def full(self, y_fit: np.ndarray) -> np.ndarray:
        """Place values computed on the fit range onto the full pattern grid (zero outside)."""
        out = np.zeros(self.pattern.x.size)
        out[self.inside] = y_fit
        return out
