"""Le Bail fit (Le Bail, Duroy & Fourquet, Mater. Res. Bull. 23 (1988) 447).

Cycle: (1) with the current cell and profile, partition the observed intensity among the reflections,
I_k ← I_k Σ_i P_k(x_i) Δ2θ_i (y_i − b_i)/y_calc,i / Σ_i P_k(x_i) Δ2θ_i, the sums running over the core of each
peak (profile ≥ ``CORE_FRACTION`` of its maximum), a few times (background b solved by linear least squares in
between); (2) refine cell, zero, profile with lmfit with those intensities held, the background solved inside the
objective as a linear unknown. Repeat until Rwp changes by less than ``tol`` (relative). Refinement is staged as a
user would: positions (cell, zero, displacement) first with the starting profile, then everything asked for; while
positions are found each partition starts afresh, in the last stage intensities carry over between cycles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

import lmfit
import numpy as np
import scipy.sparse as sp

from refine.crystal.structure import CrystalStructure
from refine.data import Pattern
from refine.fit import Dataset, FitOptions, FitResult, Objective, run_fit
from refine.fit.minimize import SCIPY_TOLERANCES
from refine.instrument import Instrument
from refine.powder.model import PowderModel, PowderOptions
from refine.powder.reflection_table import intensity_tables
from refine.powder.wholepattern import (
    check_enough_points,
    finish,
    is_positional,
    restart_asymmetry,
    set_vary,
    vary_only,
)


@dataclass(frozen=True)
class LeBailOptions:
    """Le Bail cycle settings: ``cycles`` at most, ``partitions`` intensity passes per cycle, stop when Rwp
    changes by less than ``tol`` (relative); ``fit`` are the lmfit options of each cycle.

    ``cycle_evaluations`` × (varied parameters + 1) bounds the model evaluations of one cycle's minimisation (None:
    no bound). With intensities partitioned at a wrong cell the minimiser can crawl for hundreds of evaluations
    towards a minimum that the next partition moves anyway; re-partitioning sooner is what Le Bail extraction does
    (GSAS-II re-extracts at every least-squares cycle). A cycle stopped by the bound never counts as settled, so the
    final cycle is always a converged minimisation. ``analytic``: derivatives from :mod:`refine.powder.jacobian`
    (the intensities held); an iteration then costs one evaluation instead of nvary + 1, so the bound becomes
    ``cycle_evaluations`` × 2 evaluations (about as many iterations); False: finite differences (the test oracle).
    ``partitions``: Le Bail partition passes of a cycle that starts from equal intensities; ``carried_partitions``:
    of a cycle of the last stage, whose intensities carry over from the cycle before. Passes settle the intensities
    of overlapping reflections at the cycle's profile: from equal intensities at a cell still off, many passes lock
    in a wrong partition (demo two-phase pattern: Rwp 1.9 % with 100, 0.93 % with 10); once the cell is found,
    100 carried passes settle in a few cycles what 10 took three times as many for (NASICON operando scan: 7
    cycles against 17, Rwp 0.3099 % against 0.3111 %).
    ``neighbour``: the start is the converged fit of a neighbouring pattern (the scan before, in a series), so the
    positions are already found: one stage, the intensities carried over from the first cycle (at that start the
    first 100 passes settle as the staged fit's do; NASICON operando series, 60 scans: volumes within 2.4e-6
    relative of the staged fits', Rwp within 0.13 % relative, 0.080 s/scan against 0.153; the same capture range:
    a cell 0.4 or 0.6 % from the start gives the staged fit's cell to 1e-5 Å, 1 % defeats both).
    """

    cycles: int = 20
    partitions: int = 10
    carried_partitions: int = 100
    tol: float = 1e-3
    fit: FitOptions = field(default_factory=lambda: SCIPY_TOLERANCES)
    cycle_evaluations: int | None = 10
    analytic: bool = True
    neighbour: bool = False


#: Partition passes stop once no intensity changes by more than this part of the largest.
PARTITION_SETTLED = 1e-12
#: Part of a profile (relative to its maximum) over which its intensity is apportioned.
CORE_FRACTION = 0.02


def _core(mat: sp.csr_matrix, fraction: float) -> sp.csr_matrix:
    """``mat`` with every entry below ``fraction`` of its row's maximum removed."""
    core = mat.copy()
    row_max = np.asarray(core.max(axis=1).todense()).ravel()
    thresholds = np.repeat(fraction * row_max, np.diff(core.indptr))
    core.data = np.where(core.data >= thresholds, core.data, 0.0)
    core.eliminate_zeros()
    return core


def partition_passes_numpy(state: _LeBailState, mat_t: sp.csr_matrix, core: sp.csr_matrix, captured: np.ndarray,
                           passes: int) -> np.ndarray:
    """The partition passes in numpy (the reference of the compiled ``_peak_jit.partition_passes``): each pass
    apportions the net observed counts (observed - background, times the step) over the reflections in proportion
    to their profiles (Le Bail et al. 1988), over each profile's core only; returns the new intensities."""
    intensities = state.intensities
    for _ in range(passes):
        peaks = mat_t @ intensities
        bkg = state.model.background_basis @ state.background(peaks)
        net = (state.y - bkg) * state._mstep  # no clipping: it would bias weak peaks upward
        ratio = np.divide(net, peaks, out=np.zeros_like(net), where=peaks > 1e-12 * max(peaks.max(), 1e-300))
        share = np.divide(core @ ratio, captured, out=np.zeros_like(captured), where=captured > 1e-6)
        new = intensities * share
        # A tiny positive floor, never zero: a multiplicative update cannot revive an intensity once it is 0
        # (early passes can drive one negative while the background is still wrong).
        floor = 1e-6 * max(float(np.mean(np.abs(new))), 1e-300)
        new = np.maximum(new, floor)
        settled = np.max(np.abs(new - intensities)) <= PARTITION_SETTLED * np.max(np.abs(new))
        intensities = new
        if settled:  # the partition's fixed point at this profile, to rounding: more passes change nothing
            break
    return intensities


class _LeBailState:
    """Intensities held between cycles (the only mutable state, local to one fit)."""

    def __init__(self, model: PowderModel) -> None:
        self.model = model
        self.intensities = np.ones(int(model.offsets[-1]))
        self.layout = None
        m = model.mask[model.inside]
        self.fit_mask = m
        self.y = model.pattern.y[model.inside]
        self.w = model.weights
        # Step widths: profiles have unit area in degrees, so the partition sums y·Δ2θ.
        self.step = np.gradient(model.x_fit) if model.x_fit.size > 1 else np.ones(1)
        self._mstep = m * self.step  # excluded points carry no information: they count as no step
        self._fit_rows = np.flatnonzero(m)
        # The background is a small dense linear problem: factor its weighted design once (QR).
        sw = np.sqrt(self.w[m])
        self._sw = sw
        self._swy = sw * self.y[m]
        q, r = np.linalg.qr(model.background_basis[m] * sw[:, None])
        # Least-squares solution operator R⁺Qᵀ, formed once: the same (minimum-norm) solution lstsq gives per call.
        self._solve = np.linalg.lstsq(r, q.T, rcond=None)[0]

    def freeze(self, params: lmfit.Parameters) -> None:
        """Fix the peak windows and FCJ nodes for the next cycle (keeps the model smooth while lmfit runs)."""
        self.layout = self.model.layout(params)

    def reset(self) -> None:
        """Forget the intensities (the next partition starts from equal ones)."""
        self.intensities[:] = 1.0

    def background(self, peaks: np.ndarray) -> np.ndarray:
        return self._solve @ (self._swy - self._sw * peaks[self.fit_mask])

    def partition(self, params: lmfit.Parameters, passes: int, *, compiled: bool = True) -> None:
        """``passes`` Le Bail partition passes at ``params`` (fewer once settled); ``compiled`` False: in numpy
        (:func:`partition_passes_numpy`, the reference of the compiled loop)."""
        mat_t, core, captured = self._partition_inputs(params)
        if not compiled:
            self.intensities = partition_passes_numpy(self, mat_t, core, captured, passes)
            return
        from refine.powder import _peak_jit

        # the passes of partition_passes_numpy compiled: ~0.14 ms of Python each, ~120 per scan of a series
        self.intensities = _peak_jit.partition_passes(
            mat_t.indptr, mat_t.indices, mat_t.data, core.indptr, core.indices, core.data, captured,
            self.model.background_basis, self._solve, self._sw, self._swy, self._fit_rows, self.y, self._mstep,
            self.intensities, passes, PARTITION_SETTLED)

    def _partition_inputs(self, params: lmfit.Parameters) -> tuple:
        """(profiles as points x reflections, their cores, the cores' captured areas); sets the
        starting intensities when they are the equal ones of a reset."""
        mat = self.model.peak_matrix(params, self.layout)
        scale = self._initial_scale(mat)
        if scale is not None:
            self.intensities[:] = scale
        # Intensity is apportioned over each peak's core only (profile above CORE_FRACTION of its maximum): far in
        # the tails a weak peak is the only contributor, and there background noise or a slightly wrong background
        # would be assigned to it in full, driving weak peaks negative.
        core = _core(mat, CORE_FRACTION)
        # Captured area of each core over the fitted points: dividing by it keeps I fixed when the model already
        # matches the data (excluded points carry no information).
        captured = core @ self._mstep
        # the transpose formed once: each pass sums the profiles with it
        return mat.T.tocsr(), core, captured

    def _initial_scale(self, mat) -> float | None:
        if np.any(self.intensities != 1.0):
            return None
        area = np.asarray(mat.sum(axis=1)).ravel()
        net = np.maximum(self.y - np.percentile(self.y[self.fit_mask], 10), 0.0) * self.step
        total = float(np.sum(net[self.fit_mask]))
        return total / max(float(np.sum(area)), 1e-300)

    def jacobian(self, params: lmfit.Parameters):
        """Analytic ∂(total)/∂(varying parameters) with the intensities held (a callable of the parameters), or None
        when an expression constraint is not plain arithmetic."""
        from refine.fit.chain import ExpressionChain
        from refine.powder.jacobian import PowderJacobian

        chain = ExpressionChain.build(params)
        if chain is None:
            return None
        return PowderJacobian(self.model, lambda: self.layout, lambda *_: (self.intensities, {}),
                              (self._solve, self._sw, self.fit_mask), chain)

    def calculate(self, params: lmfit.Parameters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(total, peaks, background) on the fit range with the held intensities."""
        if self.layout is None:
            peaks = self.model.peak_matrix(params).T @ self.intensities
        else:  # the cycle's frozen layout: the curve without forming the peak matrix
            peaks = self.model.peak_curve(params, self.intensities, self.layout)
        bkg = self.model.background_basis @ self.background(peaks)
        return peaks + bkg, peaks, bkg


def fit_lebail(pattern: Pattern, phases: list[CrystalStructure], instrument: Instrument, *,
               refine: Iterable[str] = ("cell", "zero", "W", "X", "Y"), options: PowderOptions | None = None,
               lebail: LeBailOptions | None = None, params: lmfit.Parameters | None = None) -> FitResult:
    """Le Bail fit of one or more phases to a pattern in 2θ.

    Parameters
    ----------
    pattern
        Observed pattern (x in deg 2θ).
    phases
        Structures (atoms ignored) or atom-free phases from a space group and cell.
    instrument
        Wavelength(s), zero and starting profile.
    refine
        Groups or parameter names to refine (see :data:`refine.powder.wholepattern.REFINE_GROUPS`).
    options, lebail
        Fit range, exclusions, background; Le Bail cycle settings.
    params
        Starting parameters (e.g. from a previous fit); by default from the instrument and phases.
    """
    lebail = lebail or LeBailOptions()
    model = PowderModel(pattern, phases, instrument, options=options)
    start = set_vary(params if params is not None else model.parameters(), model, refine)  # a copy
    check_enough_points([model], start)
    state = _LeBailState(model)

    def model_full(p: lmfit.Parameters) -> np.ndarray:
        return model.full(state.calculate(p)[0])

    jacobian = state.jacobian(start) if lebail.analytic else None
    dataset = Dataset("pattern", pattern, model_full, mask=model.mask, kind="powder", notes=model.notes,
                      jacobian=jacobian)
    objective = Objective.single(dataset)
    # Stage 1 refines only positions (cell, zero, displacement) with the starting profile: a profile refined
    # while peaks still sit in the wrong place runs away. Stage 2 refines everything asked for. A start from a
    # neighbouring pattern's converged fit has its positions already: one stage (LeBailOptions.neighbour).
    positional = {n for n in start if start[n].vary and is_positional(n, model)}
    varied = {n for n in start if start[n].vary}
    stages = [positional, varied] if positional and not lebail.neighbour else [varied]
    current = start
    result = None
    history: list[float] = []
    warnings: list[str] = []
    for stage in stages:
        vary_only(current, stage)  # in place: this fit's own copy (set_vary's, then a stage's result, not returned)
        previous = np.inf
        for _cycle in range(lebail.cycles):
            # While positions are still being found (and at the first cycle of each stage) the partition starts
            # afresh from equal intensities, so that intensity assigned to the wrong reflections while the cell was
            # off does not lock in; in the last stage the intensities carry over between cycles, as in Le Bail's
            # method, so that the partition of overlapping reflections converges.
            carried = stage is stages[-1] and (_cycle > 0 or lebail.neighbour)
            if not carried:
                state.reset()
            restart_asymmetry(current, model)
            state.freeze(current)
            state.partition(current, lebail.carried_partitions if carried else lebail.partitions)
            fit_options, bounded = _cycle_options(lebail, current, analytic=jacobian is not None)
            result = run_fit(objective, current, kind="lebail", options=dataclasses.replace(fit_options, analyse=False))
            current = result.params
            rwp = result.statistics.Rwp
            history.append(rwp)
            stopped = bounded and not result.converged  # cut short by the cycle bound
            settled = not stopped and abs(previous - rwp) <= lebail.tol * rwp
            previous = rwp
            if settled:
                break
        else:
            if stage is stages[-1]:
                warnings.append(f"Le Bail cycles did not settle within {lebail.cycles}: Rwp {history[-2]:.5f} -> "
                                f"{history[-1]:.5f}")
    assert result is not None
    # The last cycle once more with the esds analysed (singular directions named): from its own minimum, with the
    # same intensities, a few evaluations; the cycles before it skip that analysis (one Jacobian each).
    result = run_fit(objective, current, kind="lebail", options=lebail.fit)
    current = result.params
    if warnings:
        result = _not_converged(result)
    total, peaks, bkg = state.calculate(current)
    components = {"background": bkg}
    mat = model.peak_matrix(current, state.layout)
    for i, block in enumerate(model.phases):
        rows = model.phase_rows(i)
        components[block.prefix] = mat[rows].T @ state.intensities[rows]
    # The partitioned intensities live in each phase's reflection table, as Pawley's refined ones do.
    extra = {"rwp_history": history, "model": model, "reflections": intensity_tables(model, current, state.intensities)}
    return finish(result, model, components=components, extra=extra, warnings=warnings)


def _cycle_options(lebail: LeBailOptions, params: lmfit.Parameters, *, analytic: bool = False
                   ) -> tuple[FitOptions, bool]:
    """The lmfit options of one cycle and whether the cycle bound (not the user's max_nfev) applies."""
    if lebail.cycle_evaluations is None:
        return lebail.fit, False
    nvary = sum(1 for p in params.values() if p.vary and not p.expr)
    bound = lebail.cycle_evaluations * (2 if analytic else nvary + 1)
    if lebail.fit.max_nfev is not None and lebail.fit.max_nfev <= bound:
        return lebail.fit, False
    return dataclasses.replace(lebail.fit, max_nfev=bound), True


def _not_converged(result: FitResult) -> FitResult:
    return dataclasses.replace(result, converged=False, message=result.message + "; Le Bail cycles not settled")
