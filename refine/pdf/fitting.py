"""Real-space PDF fits through :mod:`refine.fit`: phases from structure files, PDFgui-style phase fractions,
differential PDFs.

A fit of G(r) with one or more phases returns the project's :class:`~refine.fit.result.FitResult` (statistics with
PDF Rw, esds, correlations, warnings) with one ``phases`` entry per phase (cell, volume, esds, scale,
spdiameter, atom and mass fractions).  Several phases have their scales constrained to sum to 1 and a refined data
scale ``dscale`` (PDFgui's recommended two-phase set-up); the phase fractions follow PDFfit2
(DataSet::getAtomPhaseFractions / getMassPhaseFractions): x_i ∝ pscale_i / <b>_i² for atoms and
pscale_i · <m>_i / <b>_i² for mass, <b> and <m> the occupancy-weighted mean scattering power and atomic mass of
phase i.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmfit
import numpy as np

from refine.crystal.scattering import atomic_mass, scattering_power
from refine.crystal.structure import CrystalStructure
from refine.data import Pattern
from refine.errors import InputError
from refine.fit import Dataset, FitOptions, FitResult, Objective, run_fit
from refine.fit.constraints import apply_constraints
from refine.fit.minimize import SCIPY_TOLERANCES
from refine.fit.objective import usable_points
from refine.fit.phase_result import PhaseResult, Value
from refine.pdf.calculate import NRIPPLES, PDFSettings
from refine.pdf.crystal import CrystalPhase
from refine.pdf.difference import difference_dataset, difference_pattern  # noqa: F401 - their home before 2026-11
from refine.pdf.model import Experiment, PDFPhase, Phase, PhaseCache, make_parameters
from refine.pdf.pairs import PairTable
from refine.pdf.structure import PDFStructure

SHARPENING = ("delta1", "delta2", "none")
#: Minimiser settings of PDF fits: stop when χ² or the step changes by less than 1e-8 relative, PDFfit2's own
#: criterion (refine()'s toler). 1e-10 (the powder default) costs ~2.7x the evaluations for no change in Rw (1e-6).
PDF_FIT_OPTIONS = SCIPY_TOLERANCES


@dataclass(frozen=True)
class PDFFitSettings:
    """What is refined and the experiment's fixed settings.

    Attributes
    ----------
    qmax, radiation, qdamp, qbroad
        Termination Qmax (Å⁻¹), "xray" or "neutron", and the instrument's Qdamp / Qbroad (fixed, Å⁻¹).
    rmin, rmax
        Fit range (Å); None for the data's ends.
    sharpening
        Correlated-motion term refined for every phase: "delta1", "delta2" or "none".
    spdiameter
        Start value (Å) of a refined spherical particle diameter (``--envelope sphere``); None for bulk.
    constrain_scales
        With several phases: phase scales sum to 1 and the data scale ``dscale`` is refined (PDFgui "way 2").
    extend_below
        Calculate G(r) from 6·2π/Qmax below the fit range (through the data's points) before the Qmax termination,
        as PDFfit2 does with a whole data file and a ``pdfrange`` (and srreal always does). False reproduces
        PDFgui, which hands PDFfit2 only the fit-range points, so its first ~6·2π/Qmax Å are calculated from a
        truncated curve (ni.gr of PDF to the People ch. 5: Rw 0.07032 instead of 0.06997, cell equal to 1e-6 Å).
    constraints
        (name, lmfit expression) pairs set on the parameters, e.g. ``("sc_uiso_Na", "rs_uiso_Na")``.
    sratio, rcut, refine_sratio
        PDFfit2's low-r sharpening: the peak widths of pairs closer than ``rcut`` (Å) are multiplied by each phase's
        ``{p}_sratio`` (start ``sratio``; refined with ``refine_sratio``). The parameter exists only when rcut > 0.
    refine_qdamp, refine_qbroad
        Refine the instrument's Qdamp / Qbroad (calibration on a standard such as bulk Ni, as in PDFgui). A zero
        start is moved to a typical synchrotron value (0.04 / 0.01 Å⁻¹): their derivatives vanish at zero.
    """

    qmax: float
    radiation: str = "xray"
    qdamp: float = 0.0
    qbroad: float = 0.0
    rmin: float | None = None
    rmax: float | None = None
    sharpening: str = "delta2"
    spdiameter: float | None = None
    constrain_scales: bool = True
    extend_below: bool = True
    refine_qdamp: bool = False
    refine_qbroad: bool = False
    constraints: tuple[tuple[str, str], ...] = ()
    sratio: float = 1.0
    rcut: float = 0.0
    refine_sratio: bool = False

    def __post_init__(self) -> None:
        if not (np.isfinite(self.sratio) and self.sratio > 0):
            raise InputError("sratio", f"must be > 0, got {self.sratio}")
        if not (np.isfinite(self.rcut) and self.rcut >= 0):
            raise InputError("rcut", f"must be >= 0 Å, got {self.rcut}")
        if (self.refine_sratio or self.sratio != 1.0) and not self.rcut > 0:
            raise InputError("sratio", "applies below rcut: give rcut > 0 (Å) too")
        if self.sharpening not in SHARPENING:
            raise InputError("sharpening", f"must be one of {SHARPENING}, got {self.sharpening!r}")
        positive = {"qmax": self.qmax, "spdiameter": self.spdiameter}
        others = {"qdamp": self.qdamp, "qbroad": self.qbroad, "rmin": self.rmin, "rmax": self.rmax}  # may be 0
        for name, value in {**positive, **others}.items():
            if value is not None and not (np.isfinite(value) and (value > 0 if name in positive else value >= 0)):
                raise InputError(name, f"must be {'> 0' if name in positive else '>= 0'}, got {value}")
        if self.rmin is not None and self.rmax is not None and not self.rmin < self.rmax:
            raise InputError("rmin", f"must be below rmax, got {self.rmin} and {self.rmax}")

    @property
    def experiment(self) -> Experiment:
        return Experiment(self.radiation, self.qmax, self.rcut)


@dataclass(frozen=True)
class PhaseInput:
    """A structure to fit, its source file (for the space group and messages) and whether positions are fixed."""

    structure: PDFStructure
    source: str = ""
    fixed: bool = False
    prefix: str | None = None
    refine_structure: bool = False  # cell per crystal system, free coordinates and ADPs (refine.pdf.crystal)
    crystal: CrystalStructure | None = None  # with refine_structure: the structure itself instead of ``source``
    frames: str | None = None  # START:STOP:STEP of an MD trajectory ``source`` averaged into one fixed phase

    @classmethod
    def load(cls, path: str | os.PathLike, fixed: bool = False, prefix: str | None = None, *,
             refine_structure: bool = False, frames: str | None = None) -> PhaseInput:
        if fixed and refine_structure:
            raise InputError(path, "a fixed phase cannot also refine its structure")
        if frames is not None:
            from refine.pdf.trajectory import first_frame_structure

            if not fixed:
                raise InputError(path, "a trajectory phase keeps its positions: mark it fixed")
            return cls(first_frame_structure(path, frames), os.fspath(path), True, prefix, frames=frames)
        return cls(PDFStructure.load(path), os.fspath(path), fixed, prefix, refine_structure)


def phase_prefixes(inputs: Sequence[PhaseInput]) -> list[str]:
    """Readable unique parameter prefixes: the given ones, else the file stem's first word ("Ni_Fm-3m.cif" -> "ni")."""
    out: list[str] = []
    for k, ph in enumerate(inputs):
        base = ph.prefix or re.split(r"[\W_]+", Path(ph.source or ph.structure.name or f"p{k}").stem)[0].lower()
        base = base if re.fullmatch(r"[a-z]\w*", base or "") else f"p{base}"
        name, n = base, 2
        while name in out:
            name, n = f"{base}{n}", n + 1
        out.append(name)
    return out


def prepare_pattern(pattern: Pattern, settings: PDFFitSettings) -> Pattern:
    """The observed G(r) cropped to the fit range (r in Å, equidistant)."""
    src = pattern.source or "G(r)"
    if pattern.unit != "r_A":
        raise InputError(src, f"expected G(r) with r in Å, got unit {pattern.unit!r}")
    lo = pattern.x[0] if settings.rmin is None else settings.rmin
    hi = pattern.x[-1] if settings.rmax is None else settings.rmax
    eps = 1e-6 + 1e-3 * float(np.min(np.diff(pattern.x))) if len(pattern) > 1 else 1e-6
    out = pattern.crop(lo - eps, hi + eps)
    if len(out) and out.x[0] <= 0.0 and len(out) > 1:
        # G(0) = 0 in every model and a reduced G(r) carries dG = 0 there: the point says nothing
        out = out.crop(float(out.x[1]) - eps, hi + eps)
    if len(out) < 10:
        raise InputError(src, f"fewer than 10 points in the fit range {lo:g}-{hi:g} Å")
    return out


def calculation_points(pattern: Pattern, fitted: Pattern, qmax: float) -> np.ndarray:
    """r points on which a fit's G(r) is calculated: the fit range extended *down* by PDFfit2's six Qmax ripples
    (6·2π/Qmax) through the data's own points (never below its first point), as PDFfit2's
    DataSet::extendCalculationRange sets rcmin = max(rmin, rfmin − rext). The Qmax termination then sees the
    baseline and peaks just below the fit range; without this the first ~6·2π/Qmax of the fit range is distorted
    (the −4πρ0r baseline at the first point comes out halved). The upper extension is done by the calculator."""
    if not qmax > 0:
        return fitted.x
    below = pattern.x[(pattern.x >= fitted.x[0] - NRIPPLES * 2 * np.pi / qmax - 1e-9)
                      & (pattern.x < fitted.x[0] - 1e-9)]
    return np.concatenate([below, fitted.x])


@dataclass(frozen=True)
class PDFFitModel:
    """Phases, parameters and objective of one G(r) fit (built once; pair tables are reused by every call).

    G(r) is calculated on ``calc_x`` (the fit range plus the points below it that PDFfit2's calculation range
    includes, :func:`calculation_points`) and reported on ``pattern.x``.
    """

    pattern: Pattern
    phases: tuple[PDFPhase, ...]
    inputs: tuple[PhaseInput, ...]
    settings: PDFFitSettings
    params: lmfit.Parameters
    calc_x: np.ndarray | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)  # phase prefix -> PhaseCache
    mask: np.ndarray | None = field(default=None, repr=False)  # fitted points of ``pattern`` (None: all)
    notes: tuple[str, ...] = ()  # e.g. points dropped for an unusable dG

    def _phase_cache(self, phase: PDFPhase) -> PhaseCache:
        return self._cache.setdefault(phase.prefix, PhaseCache())

    def table(self, phase: Phase, settings: PDFSettings) -> PairTable:
        """A pair-table phase's table at ``settings`` (rebuilt once when the cell contracted beyond it)."""
        return phase.table_for(settings, self.grid, self._phase_cache(phase))

    @property
    def grid(self) -> np.ndarray:
        """The calculation points (``calc_x``, or the fit range when none were given)."""
        return self.pattern.x if self.calc_x is None else self.calc_x

    @property
    def lead(self) -> int:
        """Number of calculation points below the fit range."""
        return len(self.grid) - len(self.pattern.x)

    def _phase_gr(self, phase: PDFPhase, params: lmfit.Parameters) -> np.ndarray:
        """One phase's G(r) on the fit range (each phase caches what it can, see :meth:`PDFPhase.gr`)."""
        return phase.gr(params, self.grid, self.settings.experiment, self._phase_cache(phase))[self.lead:]

    def model(self, params: lmfit.Parameters) -> np.ndarray:
        return sum(self._phase_gr(ph, params) for ph in self.phases)

    def components(self, params: lmfit.Parameters) -> dict[str, np.ndarray]:
        return {ph.prefix: self._phase_gr(ph, params) for ph in self.phases}

    def dataset(self, name: str = "gr") -> Dataset:
        # Analytic derivatives when every phase has them; otherwise finite differences.
        analytic = all(ph.analytic for ph in self.phases)
        return Dataset(name=name, pattern=self.pattern, model=self.model, kind="pdf", mask=self.mask,
                       jacobian=self.jacobian if analytic else None, notes=self.notes)

    def jacobian(self, params: lmfit.Parameters) -> np.ndarray:
        """∂G/∂(varying parameters), shape (len(r), nvary) in the order of ``params``: analytic derivatives of
        every phase (:meth:`PDFPhase.derivatives`) chained through the expression constraints."""
        varying = [n for n, p in params.items() if p.vary]
        free = {n for n, p in params.items() if p.vary or p.expr is not None}
        raw: dict[str, np.ndarray] = {}
        for ph in self.phases:
            der = ph.derivatives(params, self.grid, self.settings.experiment, self._phase_cache(ph), free)
            for name, column in der.items():
                column = column[self.lead:]
                raw[name] = raw[name] + column if name in raw else column
        jac = np.zeros((len(self.pattern.x), len(varying)))
        chain = _constraint_derivatives(params, varying, [n for n in raw if n not in varying])
        for name, column in raw.items():
            for j, var in enumerate(varying):
                k = 1.0 if name == var else chain.get((name, var), 0.0)
                if k:
                    jac[:, j] += k * column
        return jac


def _constraint_derivatives(params: lmfit.Parameters, varying: Sequence[str], derived: Sequence[str]
                            ) -> dict[tuple[str, str], float]:
    """∂(derived parameter)/∂(varying parameter) by central differences of the constraint expressions alone
    (exact for the linear constraints of PDF fits); ``params`` is restored before returning."""
    out: dict[tuple[str, str], float] = {}
    if not derived:
        return out
    try:
        for var in varying:
            par = params[var]
            v0 = par.value
            h = 1e-6 * max(abs(v0), 1e-3)
            vals = []
            for v in (v0 + h, v0 - h):
                par.value = v
                params.update_constraints()
                vals.append((par.value, [params[n].value for n in derived]))
            par.value = v0
            step = vals[0][0] - vals[1][0]
            if step == 0:
                continue
            for n, hi, lo in zip(derived, vals[0][1], vals[1][1], strict=True):
                if hi != lo:
                    out[(n, var)] = (hi - lo) / step
    finally:
        params.update_constraints()
    return out


def build_model(pattern: Pattern, inputs: Sequence[PhaseInput], settings: PDFFitSettings) -> PDFFitModel:
    """Pair tables (once), parameters with start values, for the observed G(r) cropped to the fit range."""
    if not inputs:
        raise InputError("phases", "at least one phase is needed")
    pat = prepare_pattern(pattern, settings)
    prefixes = phase_prefixes(inputs)
    phases = tuple(_make_phase(p, ph, float(pat.x[-1]), settings) for p, ph in zip(prefixes, inputs, strict=True))
    params = make_parameters(phases, qdamp=settings.qdamp, qbroad=settings.qbroad)
    for name, refine, start in (("qdamp", settings.refine_qdamp, 0.04), ("qbroad", settings.refine_qbroad, 0.01)):
        if refine:
            params[name].set(value=params[name].value or start, vary=True, max=0.5)
    for ph in phases:
        p = ph.prefix
        for name in ph.uiso_names().values():
            if params[name].value <= 1e-4:  # no ADPs in the file: a typical room-temperature start
                params[name].set(value=0.005)
        if settings.sharpening != "none":
            params[f"{p}_{settings.sharpening}"].set(value=1.0 if settings.sharpening == "delta1" else 2.0, vary=True)
        if settings.spdiameter is not None:
            params[f"{p}_spdiameter"].set(value=settings.spdiameter, vary=True, min=1.0)
        if settings.rcut > 0:
            params.add(f"{p}_sratio", value=settings.sratio, min=0.05, max=5.0, vary=settings.refine_sratio)
    n = len(phases)
    if n > 1 and settings.constrain_scales:
        for ph in phases[:-1]:
            params[f"{ph.prefix}_scale"].set(value=1.0 / n, min=0.0, max=1.0)
        others = " - ".join(f"{ph.prefix}_scale" for ph in phases[:-1])
        params[f"{phases[-1].prefix}_scale"].set(expr=f"1 - {others}")
        params["dscale"].set(vary=True)
        scale_names = ["dscale"]
    else:
        for ph in phases:
            params[f"{ph.prefix}_scale"].set(value=1.0 / n)
        scale_names = [f"{ph.prefix}_scale" for ph in phases]
    params = apply_constraints(params, settings.constraints)
    mask, notes = usable_points(pat, np.ones(len(pat), dtype=bool), "r")
    fm = PDFFitModel(pat, phases, tuple(inputs), settings, params,
                     calc_x=calculation_points(pattern, pat, settings.qmax) if settings.extend_below else None,
                     mask=mask, notes=notes)
    _linear_start(fm, scale_names)
    return fm


def _make_phase(prefix: str, ph: PhaseInput, rmax: float, settings: PDFFitSettings) -> PDFPhase:
    """The phase of one input: crystalline (refined structure), a frame-averaged trajectory, or a pair table."""
    if ph.refine_structure:
        return CrystalPhase(prefix, ph.crystal) if ph.crystal is not None else CrystalPhase.load(ph.source, prefix)
    if ph.frames is not None:
        from refine.pdf.trajectory import TrajectoryPhase

        return TrajectoryPhase.from_trajectory(prefix, ph.source, ph.frames, rmax, qmax=settings.qmax)
    return Phase.from_structure(prefix, ph.structure, rmax, qmax=settings.qmax, fixed=ph.fixed,
                                space_group=_space_group(ph))


def _linear_start(fm: PDFFitModel, names: Sequence[str]) -> None:
    """Start the overall scale(s) at the least-squares multiplier of the starting model (in place)."""
    m = np.ones(len(fm.pattern), dtype=bool) if fm.mask is None else fm.mask
    gc = fm.model(fm.params)[m]
    den = float(np.dot(gc, gc))
    if den > 0:
        k = float(np.dot(gc, fm.pattern.y[m])) / den
        if k > 0:
            for name in names:
                fm.params[name].set(value=fm.params[name].value * k)


def fit_pdf(pattern: Pattern, inputs: Sequence[PhaseInput], settings: PDFFitSettings,
            options: FitOptions | None = None, *, params: lmfit.Parameters | None = None) -> FitResult:
    """Fit G(r) with the given phases; returns a FitResult of kind 'pdf' with phase entries and phase curves.

    Without ``params`` the fit starts from the structures, each refined lattice parameter moved to the start found
    by :func:`refine.pdf.start.search_lattice`. With ``params`` (e.g. the previous scan's result in a sequential
    run, or :func:`build_model`'s ``params`` edited) the fit starts from their values instead, and no start scan
    is made; only values are taken: which parameters vary and the constraints stay those ``settings`` make.
    """
    from refine.pdf.start import search_lattice

    fm = build_model(pattern, inputs, settings)
    if params is None:
        fm = search_lattice(fm)
    else:
        for name, par in fm.params.items():
            if name in params and not par.expr:
                par.set(value=params[name].value)
    return finish_result(run_fit(Objective.single(fm.dataset()), fm.params, kind="pdf",
                                 options=options or PDF_FIT_OPTIONS), fm)


def finish_result(result: FitResult, fm: PDFFitModel) -> FitResult:
    """Add the phase entries, each phase's curve and the fit range to a FitResult of ``fm``'s dataset."""
    comps = fm.components(result.params)
    curves = {name: _with_components(c, comps) for name, c in result.curves.items()}
    extra = dict(result.extra)
    extra["fit_range"] = [float(fm.pattern.x[0]), float(fm.pattern.x[-1])]
    structures = {ph.prefix: s for ph in fm.phases if (s := ph.refined_structure(result)) is not None}
    if structures:  # refined structures with esds, for CIF output
        extra["structures"] = structures
    return _replace(result, phases=phase_results(result, fm), curves=curves, extra=extra)


def _with_components(curves, comps):
    from dataclasses import replace

    return replace(curves, components={**dict(curves.components), **comps})


def _replace(result: FitResult, **changes: Any) -> FitResult:
    from dataclasses import replace

    return replace(result, **changes)


# ---------------------------------------------------------------------------------------------- phase results
def propagate(result: FitResult, func: Callable[[lmfit.Parameters], np.ndarray]) -> np.ndarray | None:
    """esds of ``func(params)`` by linear propagation of the full covariance (numerical gradient through the
    parameter constraints); None without a covariance."""
    cov, names = result.covariance, result.var_names
    if cov is None or not names:
        return None
    p0 = result.params.copy()
    f0 = np.atleast_1d(np.asarray(func(p0), dtype=float))
    jac = np.zeros((len(f0), len(names)))
    for k, name in enumerate(names):
        p = p0.copy()
        h = 1e-6 * max(abs(p[name].value), 1e-3)
        p[name].set(value=p[name].value + h)  # bounds are not enforced by set(value=) beyond clipping
        h = p[name].value - p0[name].value
        if h == 0:
            continue
        p.update_constraints()
        jac[:, k] = (np.atleast_1d(func(p)) - f0) / h
    var = np.einsum("ik,kl,il->i", jac, cov, jac)
    return np.sqrt(np.maximum(var, 0.0))


def _phase_weights(phase: PDFPhase, radiation: str) -> tuple[float, float]:
    """<b>² and <m> of a phase: occupancy-weighted mean scattering power and atomic mass (PDFfit2)."""
    s = phase.reference_structure()
    occ = s.occupancy
    b = np.array([scattering_power(e, radiation) for e in s.elements])
    m = np.array([atomic_mass(e) for e in s.elements])
    return float(np.dot(occ, b) / occ.sum()) ** 2, float(np.dot(occ, m) / occ.sum())


def phase_fractions(params: lmfit.Parameters, phases: Sequence[PDFPhase], radiation: str) -> dict[str, np.ndarray]:
    """PDFfit2's relative phase content in atoms and in mass from the phase scales (sums to 1)."""
    weights = [_phase_weights(ph, radiation) for ph in phases]
    scales = np.array([params[f"{ph.prefix}_scale"].value for ph in phases])
    atoms = np.array([s / b2 for s, (b2, _) in zip(scales, weights, strict=True)])
    mass = np.array([s * m / b2 for s, (b2, m) in zip(scales, weights, strict=True)])
    return {"atom": atoms / atoms.sum(), "mass": mass / mass.sum()}


def _space_group(inp: PhaseInput):
    if inp.crystal is not None:
        return inp.crystal.space_group
    if not inp.source or inp.frames is not None:
        return None
    from refine.io.structures import read_structure

    try:
        return read_structure(inp.source).space_group
    except Exception:  # a structure diffpy reads but refine's CIF reader does not: no space group, no harm
        return None


def phase_results(result: FitResult, fm: PDFFitModel) -> list[PhaseResult]:
    """One :class:`PhaseResult` per phase (named by its prefix, :meth:`PDFPhase.entry`): cell, volume and esds,
    scale, spdiameter; with several phases the weight (mass) fraction and, in ``extra``, the atom fraction, each with
    its esd."""
    radiation = fm.settings.radiation
    frac = phase_fractions(result.params, fm.phases, radiation)
    frac_esd = propagate(result, lambda p: np.concatenate(list(phase_fractions(p, fm.phases, radiation).values())))
    n = len(fm.phases)
    out = []
    for k, (ph, inp) in enumerate(zip(fm.phases, fm.inputs, strict=True)):
        mass = atom = None
        if n > 1:
            mass = Value(frac["mass"][k], None if frac_esd is None else frac_esd[n + k])
            atom = Value(frac["atom"][k], None if frac_esd is None else frac_esd[k])
        entry = ph.entry(result)
        source = inp.source or entry.extra.get("source") or entry.structure
        out.append(entry.replace(structure=source, weight_fraction=mass,
                                 extra={**entry.extra, "source": source, "atom_fraction": atom}))
    return out

