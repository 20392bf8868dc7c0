"""Rietveld refinement (Rietveld, J. Appl. Cryst. 2 (1969) 65) on the whole-pattern powder model.

y_calc(2θ_i) = b_i + Σ_phases S Σ_k I_k L_k P_k A_k O_k Φ_k(2θ_i): I_k = multiplicity·<|F|²> from the atomic
structure (:class:`~refine.crystal.structure_factors.StructureFactorModel`), L_k·P_k the Lorentz–polarization
factor at the Kα1 position (polarization skipped when the pattern already had it removed), A_k absorption of the
instrument's geometry (``{p}absorption`` = μR or μt), O_k March–Dollase preferred orientation (``{ph}_po_ratio``
along ``RietveldOptions.po_axis``), Φ_k the unit-area profile (Kα2 included) of :class:`PowderModel`. The
background b is linear and solved inside the objective by weighted least squares, as in the Le Bail and Pawley
drivers. The refinement is staged as a user would: scales, then cell/zero/displacement, then profile, then
atomic positions, then ADPs and occupancies, each stage a least-squares run with the peak windows frozen.

Agreement per phase (Rietveld 1969; Young, The Rietveld Method, 1993, ch. 1): observed intensities by the
Rietveld partition I_obs,k = I_calc,k Σ_i Φ_ik (y_i − b_i)/(y_calc,i − b_i), R_Bragg = Σ|I_obs − I_calc|/Σ I_obs,
R_F = Σ|√I_obs − √I_calc|/Σ √I_obs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import lmfit
import numpy as np

from refine.crystal.lattice import PARAMETER_NAMES
from refine.crystal.structure import CrystalStructure
from refine.crystal.structure_factors import StructureFactorModel, scattering_table
from refine.data import Pattern
from refine.errors import InputError
from refine.fit import Dataset, FitOptions, FitResult, Objective, Restraint
from refine.fit.minimize import SCIPY_TOLERANCES
from refine.fit.parameters import StructureParameters
from refine.fit.phase_result import Value
from refine.instrument import Instrument
from refine.powder.corrections import (
    HarmonicTexture,
    lorentz_polarization,
    march_dollase,
    sample_absorption,
    surface_roughness,
)
from refine.powder.model import PowderModel, PowderOptions
from refine.powder.quantitative import fraction_esd, held_scales, weight_fractions, zmv
from refine.powder.reflection_table import ReflectionTable, phase_table
from refine.powder.rietveld_stages import mark_refined, run_stages, staged
from refine.powder.wholepattern import check_enough_points, finish

DEFAULT_REFINE = ("scale", "cell", "zero", "W", "X", "Y", "positions", "adp")
#: A line counts as observed (R_Bragg, Fo²) when more than this part of its profile lies over fitted points.
OBSERVED_FRACTION = 0.5


@dataclass(frozen=True)
class RietveldOptions:
    """Rietveld settings.

    Attributes
    ----------
    fit
        lmfit options of every stage.
    passes
        Minimisations per stage (the peak windows are re-centred between passes).
    dispersion
        Include anomalous dispersion f′ + i f″ in the X-ray form factors.
    po_axis
        March–Dollase preferred-orientation axis (hkl of the reciprocal-lattice direction).
    restraints
        Soft restraints (e.g. bond distances from :func:`refine.fit.parameters.bond_restraint`).
    staged
        Refine in stages (scale; cell; profile; positions; ADPs/occupancies); False = all at once.
    analytic
        Analytic derivatives (:mod:`refine.powder.jacobian`); False: finite differences (the test oracle).
    texture_order
        Highest even order of the symmetrised spherical-harmonics texture of every phase (0: none; parameters
        ``{ph}_sh{l}_{i}``, group ``texture``; :class:`~refine.powder.corrections.HarmonicTexture`).
    """

    # 1e-8 tolerances: on PbSO4 (26 parameters, analytic derivatives) 1e-10 takes 265 evaluations to 199 here for
    # the same refinement (Rwp equal to 3e-15, cell to 3e-9 Å).
    fit: FitOptions = field(default_factory=lambda: SCIPY_TOLERANCES)
    passes: int = 2
    dispersion: bool = True
    po_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    restraints: tuple[Restraint, ...] = ()
    staged: bool = True
    texture_order: int = 0
    analytic: bool = True

    def __post_init__(self) -> None:
        order = self.texture_order
        if not isinstance(order, (int, np.integer)) or order < 0 or order % 2 or order > 20:
            raise InputError("texture", f"spherical-harmonics order must be 0 (none) or even, 2 to 20 (odd orders "
                                          f"vanish for a powder's centrosymmetric Laue class), got {order!r}")


@dataclass(frozen=True, eq=False)
class IntensityFactors:
    """Factors of the line intensities of one phase: Fc², Kα1 positions ``tth`` (``ok`` where reachable), the angular
    correction LP·A·SR (0 where not reachable), the texture and March–Dollase factors (None when off) and the scale;
    the intensity is multiplicity · fc2 · :attr:`correction` · scale."""

    fc2: np.ndarray
    tth: np.ndarray
    ok: np.ndarray
    angular: np.ndarray
    texture: np.ndarray | None
    po: np.ndarray | None
    scale: float

    def _product(self, *, texture: bool = True, po: bool = True) -> np.ndarray:
        out = self.angular.copy()
        if texture and self.texture is not None:
            out *= self.texture
        if po and self.po is not None:
            out *= self.po
        return out

    @property
    def correction(self) -> np.ndarray:
        """LP·A·SR·texture·PO of every line."""
        return self._product()

    @property
    def other(self) -> np.ndarray:
        """texture·PO (the factors that do not depend on 2θ)."""
        one = np.ones_like(self.angular)
        return one * (1.0 if self.texture is None else self.texture) * (1.0 if self.po is None else self.po)

    @property
    def without_texture(self) -> np.ndarray:
        """The correction without its texture factor."""
        return self._product(texture=False)

    @property
    def without_po(self) -> np.ndarray:
        """The correction without its March–Dollase factor."""
        return self._product(po=False)


class RietveldEngine:
    """Calculated pattern of one powder dataset from the phases' structures (form factors prepared once)."""

    def __init__(self, model: PowderModel, options: RietveldOptions | None = None) -> None:
        self.model = model
        self.options = options or RietveldOptions()
        inst = model.instrument
        self.atoms = []
        self.sf = []
        for block in model.phases:
            if not block.structure.sites:
                raise InputError(block.structure.name, "Rietveld needs atoms: the phase has none")
            if not sum(max(site.occupancy, 0.0) for site in block.structure.sites) > 0:
                raise InputError(block.structure.name, "every atom has occupancy 0: the phase scatters nothing "
                                                       "(Rietveld needs atoms with occupancy > 0)")
            table = scattering_table(block.structure, radiation=inst.radiation, wavelength=inst.wavelength,
                                     dispersion=self.options.dispersion and inst.radiation == "xray")
            self.sf.append(StructureFactorModel.prepare(block.reflections, table))
            self.atoms.append(StructureParameters(block.structure, block.prefix))
        self.textures = [self._texture(block) for block in model.phases]
        self.polarization_applied = "polarization" in model.pattern.corrections
        self.layout = None
        self._expanded: dict[int, tuple] = {}  # phase -> (parameter values, expanded atoms): the last one
        self.fit_mask = model.mask[model.inside]
        self.y = model.pattern.y[model.inside]
        self.w = model.weights
        self.step = np.gradient(model.x_fit) if model.x_fit.size > 1 else np.ones(1)
        sw = np.sqrt(self.w[self.fit_mask])
        self._sw = sw
        self._q, self._r = np.linalg.qr(model.background_basis[self.fit_mask] * sw[:, None])

    def _texture(self, block) -> tuple[list[str], np.ndarray] | None:
        """Names of the texture coefficients of a phase and their basis at its lines (starting cell)."""
        order = self.options.texture_order
        if not order:
            return None
        tex = HarmonicTexture.build(block.structure.lattice, block.structure.space_group, order)
        counts: dict[int, int] = {}
        names = []
        for lvl in tex.orders:
            counts[lvl] = counts.get(lvl, 0) + 1
            names.append(f"{block.prefix}_sh{lvl}_{counts[lvl]}")
        return names, tex.basis(block.reflections.hkl)

    # -- parameters ------------------------------------------------------------------------------------------
    def parameters(self) -> lmfit.Parameters:
        """Powder-model parameters plus ``{ph}_scale``, ``{ph}_po_ratio``, texture ``{ph}_sh{l}_{i}``,
        ``{p}absorption``, surface roughness ``{p}surf_p``/``{p}surf_q`` and the atoms'."""
        params = self.model.parameters()
        p = self.model.prefix
        params.add(f"{p}absorption", value=0.0, vary=False, min=0.0, max=30.0)
        # Suortti roughness starts at SR = 1 (q = 0); p = 0.5 so that q has a derivative there
        params.add(f"{p}surf_p", value=0.5, vary=False, min=0.0, max=1.0)
        params.add(f"{p}surf_q", value=0.0, vary=False, min=0.0, max=10.0)
        for block, atoms, texture in zip(self.model.phases, self.atoms, self.textures, strict=True):
            params.add(f"{block.prefix}_scale", value=1.0, vary=False, min=0.0)
            params.add(f"{block.prefix}_po_ratio", value=1.0, vary=False, min=0.2, max=5.0)
            for name in texture[0] if texture else ():
                params.add(name, value=0.0, vary=False, min=-5.0, max=5.0)
            params.update(atoms.parameters())
        return params

    def jacobian(self, params: lmfit.Parameters):
        """The analytic Jacobian of :meth:`calculate` on the full grid (a callable of the parameters), or None when
        an expression constraint of ``params`` is not plain arithmetic (the fit then differentiates numerically)."""
        from refine.fit.chain import ExpressionChain
        from refine.powder.intensity_derivatives import rietveld_intensities
        from refine.powder.jacobian import PowderJacobian

        chain = ExpressionChain.build(params)
        if chain is None:
            return None
        solve = np.linalg.lstsq(self._r, self._q.T, rcond=None)[0]  # the background's solution operator
        return PowderJacobian(self.model, lambda: self.layout, rietveld_intensities(self),
                              (solve, self._sw, self.fit_mask), chain)

    def freeze(self, params: lmfit.Parameters) -> None:
        """Fix the peak windows for the next minimisation (smooth finite-difference Jacobians)."""
        self.layout = self.model.layout(params)

    # -- model -----------------------------------------------------------------------------------------------
    def angular_correction(self, params: lmfit.Parameters, tth: np.ndarray) -> np.ndarray:
        """Lorentz–polarization × absorption × surface roughness at Kα1 positions ``tth`` (deg, reachable)."""
        model, inst = self.model, self.model.instrument
        p = model.prefix
        corr = lorentz_polarization(tth, polarization=inst.polarization, azimuth=inst.azimuth,
                                    radiation=inst.radiation, polarization_applied=self.polarization_applied)
        mu = params[f"{p}absorption"]
        if mu.value > 0.0 or mu.vary:
            corr *= sample_absorption(inst.geometry, tth, mu.value)
        sq = params[f"{p}surf_q"]
        if sq.value != 0.0 or sq.vary:
            corr *= surface_roughness(tth, params[f"{p}surf_p"].value, sq.value)
        return corr

    def intensity_factors(self, params: lmfit.Parameters, index: int, *, tth: np.ndarray | None = None,
                          fc2: np.ndarray | None = None) -> IntensityFactors:
        """The factors of the line intensities of one phase (see :class:`IntensityFactors`); ``tth`` (Kα1 positions)
        and ``fc2`` may be given when already computed at ``params``."""
        model = self.model
        block = model.phases[index]
        if tth is None:
            tth = model.positions(params, block, model.instrument.wavelength)
        ok = np.isfinite(tth) & (tth > 0.0) & (tth < 180.0)
        angular = np.zeros(len(block.reflections))
        angular[ok] = self.angular_correction(params, tth[ok])
        texture = self.textures[index]
        tex = None
        if texture is not None:
            tex = 1.0 + texture[1] @ np.array([params[n].value for n in texture[0]])
        ratio = params[f"{block.prefix}_po_ratio"]
        po = None
        if ratio.value != 1.0 or ratio.vary:
            po = march_dollase(block.reflections, model.lattice(params, block), block.structure.space_group,
                               self.options.po_axis, ratio.value)
        fc2 = self.fc_squared(params, index) if fc2 is None else fc2
        return IntensityFactors(fc2=fc2, tth=tth, ok=ok, angular=angular, texture=tex,
                                po=po, scale=params[f"{block.prefix}_scale"].value)

    def phase_intensities(self, params: lmfit.Parameters, index: int, *, scaled: bool = True) -> np.ndarray:
        """I_k·LP·A·PO (× scale when ``scaled``) of the lines of one phase."""
        fac = self.intensity_factors(params, index)
        out = self.model.phases[index].reflections.multiplicity * fac.fc2 * fac.correction  # multiplicity·<|F|²>
        return out * fac.scale if scaled else out

    def intensities(self, params: lmfit.Parameters) -> np.ndarray:
        """Scaled, corrected line intensities of all phases (the rows of the peak matrix)."""
        return np.concatenate([self.phase_intensities(params, i) for i in range(len(self.model.phases))])

    def background(self, peaks: np.ndarray) -> np.ndarray:
        """Background coefficients for the peak curve ``peaks`` (weighted linear least squares)."""
        m = self.fit_mask
        return np.linalg.lstsq(self._r, self._q.T @ (self._sw * (self.y[m] - peaks[m])), rcond=None)[0]

    def calculate(self, params: lmfit.Parameters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(total, peaks, background) on the fit range."""
        if self.layout is None:
            peaks = self.model.peak_matrix(params).T @ self.intensities(params)
        else:  # the fit's frozen layout: the curve without forming the peak matrix
            peaks = self.model.peak_curve(params, self.intensities(params), self.layout)
        bkg = self.model.background_basis @ self.background(peaks)
        return peaks + bkg, peaks, bkg

    def initial_scales(self, params: lmfit.Parameters) -> lmfit.Parameters:
        """Scales from a linear least-squares fit of each phase's curve plus the background."""
        params = params.copy()
        mat = self.model.peak_matrix(params, self.layout)
        cols = [mat[self.model.phase_rows(i)].T @ self.phase_intensities(params, i, scaled=False)
                for i in range(len(self.model.phases))]
        design = np.column_stack([self.model.background_basis, *cols])[self.fit_mask]
        sw = self._sw[:, None]
        coef = np.linalg.lstsq(design * sw, self._sw * self.y[self.fit_mask], rcond=None)[0]
        nb = self.model.background_basis.shape[1]
        for i, block in enumerate(self.model.phases):
            scale = coef[nb + i]
            if not scale > 0:  # a phase the linear fit rejects starts at a tenth of the others' mean
                positive = coef[nb:][coef[nb:] > 0]
                scale = 0.1 * float(positive.mean()) if positive.size else 1.0
            params[f"{block.prefix}_scale"].set(value=float(scale))
        return params

    # -- agreement per phase ---------------------------------------------------------------------------------
    def _partition(self, params: lmfit.Parameters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(I_calc, share, captured) per line: the scaled calculated intensities, Σ_i Φ_ik Δ_i (y_i − b_i)/(y_calc,i −
        b_i) (so I_obs = I_calc·share, the Rietveld partition) and Σ_i Φ_ik Δ_i over fitted points (the part of each
        unit-area profile that was observed, so the comparable I_calc is I_calc·captured)."""
        mat = self.model.peak_matrix(params, self.layout)
        inten = self.intensities(params)
        peaks = mat.T @ inten
        bkg = self.model.background_basis @ self.background(peaks)
        m = self.fit_mask.astype(float)
        ratio = np.divide((self.y - bkg) * m * self.step, peaks, out=np.zeros_like(peaks),
                          where=peaks > 1e-12 * max(float(peaks.max()), 1e-300))
        return inten, mat @ ratio, mat @ (m * self.step)

    def bragg_r(self, params: lmfit.Parameters) -> list[dict]:
        """R_Bragg, R_F and the observed/calculated line intensities of each phase (Rietveld partition)."""
        inten, share, captured = self._partition(params)
        obs = inten * share
        calc = inten * captured
        out = []
        for i, block in enumerate(self.model.phases):
            rows = self.model.phase_rows(i)
            keep = captured[rows] > OBSERVED_FRACTION  # lines mostly inside the fitted range
            o, c = obs[rows][keep], calc[rows][keep]
            r_bragg = float(np.sum(np.abs(o - c)) / np.sum(np.abs(o))) if o.size else None
            so, sc = np.sqrt(np.maximum(o, 0.0)), np.sqrt(np.maximum(c, 0.0))
            r_f = float(np.sum(np.abs(so - sc)) / np.sum(so)) if o.size else None
            out.append({"R_Bragg": r_bragg, "R_F": r_f, "hkl": block.reflections.hkl[keep],
                        "observed": o, "calculated": c})
        return out

    def fc_squared(self, params: lmfit.Parameters, index: int) -> np.ndarray:
        """Unscaled Fc² = <|F|²> (Friedel mates averaged) of every line of phase ``index`` at ``params``: the
        structure factors the model's intensities use (occupancies, ADPs, f0 + f′ + if″ or b_c)."""
        block = self.model.phases[index]
        lattice = self.model.lattice(params, block)
        atoms = self.expanded_atoms(params, index, lattice)
        return self.sf[index].squared(block.structure.replace(lattice=lattice), atoms)

    def expanded_atoms(self, params: lmfit.Parameters, index: int, lattice, values: dict | None = None):
        """All atoms of phase ``index`` at ``params`` (:meth:`StructureParameters.expanded`); the last result per
        phase is kept for the same parameter values (a Jacobian follows the evaluation at the same point)."""
        values = params.valuesdict() if values is None else values
        key = tuple(values.items())
        cached = self._expanded.get(index)
        if cached is not None and cached[0] == key:
            return cached[1]
        atoms = self.atoms[index].expanded(params, lattice)
        self._expanded[index] = (key, atoms)
        return atoms

    def reflection_tables(self, params: lmfit.Parameters) -> tuple[ReflectionTable, ...]:
        """One :class:`~refine.powder.reflection_table.ReflectionTable` per phase with I_calc, Fc² and Fo² (Rietveld
        partition, in |F|² units: Fo² = Fc²·I_obs/I_calc; NaN for lines with less than half their profile observed)."""
        inten, share, captured = self._partition(params)
        out = []
        for i in range(len(self.model.phases)):
            rows = self.model.phase_rows(i)
            fc2 = self.fc_squared(params, i)
            seen = captured[rows] > OBSERVED_FRACTION
            ratio = np.divide(share[rows], captured[rows], out=np.full(fc2.size, np.nan), where=seen)
            out.append(phase_table(self.model, params, i, inten[rows], fo2=fc2 * ratio, fc2=fc2))
        return tuple(out)


def fit_rietveld(pattern: Pattern, phases: Sequence[CrystalStructure], instrument: Instrument, *,
                 refine: Iterable[str] = DEFAULT_REFINE, options: PowderOptions | None = None,
                 rietveld: RietveldOptions | None = None, params: lmfit.Parameters | None = None) -> FitResult:
    """Rietveld refinement of one or more phases (with atoms) against a pattern in 2θ.

    Parameters
    ----------
    pattern
        Observed pattern (x in deg 2θ, sigma weights the fit).
    phases
        Crystal structures; their names give the parameter prefixes.
    instrument
        Wavelength(s), polarization, geometry, zero and starting profile.
    refine
        Groups (:data:`refine.powder.rietveld_stages.RIETVELD_GROUPS`,
        :data:`refine.powder.wholepattern.REFINE_GROUPS`) or parameter names.
    options, rietveld
        Fit range, exclusions, background; Rietveld settings.
    params
        Starting parameters (e.g. a previous fit, or with user constraints); by default from the inputs with
        scales from a linear fit.
    """
    rietveld = rietveld or RietveldOptions()
    model = PowderModel(pattern, list(phases), instrument, options=options)
    engine = RietveldEngine(model, rietveld)
    start = params.copy() if params is not None else engine.parameters()
    start = mark_refined(start, engine, refine)
    check_enough_points([model], start)
    varied = {n for n, p in start.items() if p.vary}
    engine.freeze(start)
    if params is None:
        start = engine.initial_scales(start)
    dataset = Dataset("pattern", pattern, lambda p: model.full(engine.calculate(p)[0]), mask=model.mask,
                      kind="powder", notes=model.notes, jacobian=engine.jacobian(start) if rietveld.analytic else None)
    objective = Objective.single(dataset, rietveld.restraints)
    stages = staged(varied, engine) if rietveld.staged else [varied]
    result = run_stages(objective, start, stages, [engine], passes=rietveld.passes, kind="rietveld",
                        options=rietveld.fit)
    return _assemble(result, engine)


def _assemble(result: FitResult, engine: RietveldEngine) -> FitResult:
    model = engine.model
    params = result.params
    total, peaks, bkg = engine.calculate(params)
    mat = model.peak_matrix(params, engine.layout)
    inten = engine.intensities(params)
    components = {"background": bkg}
    for i, block in enumerate(model.phases):
        rows = model.phase_rows(i)
        components[block.prefix] = mat[rows].T @ inten[rows]
    bragg = engine.bragg_r(params)
    structures = {}
    for block, atoms in zip(model.phases, engine.atoms, strict=True):
        lattice = model.lattice(params, block)
        esd = tuple(result.esd(f"{block.prefix}_{n}") or 0.0 for n in PARAMETER_NAMES)
        structures[block.prefix] = atoms.structure_at(params, lattice).replace(lattice_esd=esd)
    scale_names = [f"{b.prefix}_scale" for b in model.phases]
    warnings = held_scales(params, scale_names)
    wf, covariance = None, result.covariance_of(scale_names)
    try:
        wf = weight_fractions([params[n].value for n in scale_names], [zmv(s) for s in structures.values()],
                              covariance)
    except InputError as exc:
        warnings.append(f"weight fractions not available: {exc}")
    extra = {"model": model, "engine": engine, "structures": structures, "bragg": bragg,
             "reflections": engine.reflection_tables(params)}
    result = finish(result, model, components=components, extra=extra, warnings=warnings)
    fractions = [None] * len(scale_names) if wf is None else [
        Value(wf.fractions[i], fraction_esd(wf, i, covariance)) for i in range(len(scale_names))]
    phases = [ph.replace(scale=Value(params[scale_names[i]].value, result.esd(scale_names[i])),
                         R_Bragg=Value.of(bragg[i]["R_Bragg"]), R_F=Value.of(bragg[i]["R_F"]),
                         weight_fraction=fractions[i])
              for i, ph in enumerate(result.phases.values())]
    return dataclasses.replace(result, phases=phases)
