"""Pawley fit (Pawley, J. Appl. Cryst. 14 (1981) 357): reflection intensities as least-squares unknowns.

Intensities and background coefficients enter the model linearly, so for every trial of the non-linear parameters
(cell, zero, profile) they are solved exactly by weighted linear least squares inside the objective (variable
projection); lmfit refines the non-linear parameters. Reflections of one phase with the same d (accidental
overlaps such as cubic 333/511) cannot be told apart and share one unknown, split by multiplicity. A tiny ridge
keeps near-coincident peaks solvable. Intensity esds come from the linear normal matrix scaled by χ²red.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import lmfit
import numpy as np
import scipy.sparse as sp

from refine.crystal.structure import CrystalStructure
from refine.data import Pattern
from refine.fit import Dataset, FitOptions, FitResult, Objective, run_fit
from refine.instrument import Instrument
from refine.powder.lebail import LeBailOptions, fit_lebail
from refine.powder.model import PowderModel, PowderOptions
from refine.powder.reflection_table import intensity_tables
from refine.powder.wholepattern import (
    check_enough_points,
    finish,
    linear_esds,
    set_vary,
    weighted_lstsq,
    with_vary,
)

#: Relative d difference below which two reflections of one phase share a Pawley intensity.
OVERLAP_RTOL = 1e-7


def _grouping(model: PowderModel) -> sp.csr_matrix:
    """(n groups, n reflections) matrix: each group's intensity split over its reflections by multiplicity."""
    rows, cols, vals = [], [], []
    group = 0
    for i, block in enumerate(model.phases):
        refl = block.reflections
        start = int(model.offsets[i])
        order = np.argsort(refl.d, kind="stable")
        d = refl.d[order]
        new = np.ones(d.size, dtype=bool)
        new[1:] = np.diff(d) > OVERLAP_RTOL * d[1:]
        ids = np.cumsum(new) - 1 + group
        mult = refl.multiplicity[order].astype(float)
        totals = np.bincount(ids - group, weights=mult)
        rows.append(ids)
        cols.append(start + order)
        vals.append(mult / totals[ids - group])
        group = int(ids.max()) + 1 if ids.size else group
    r, c, v = (np.concatenate(a) for a in (rows, cols, vals))
    return sp.csr_matrix((v, (r, c)), shape=(group, int(model.offsets[-1])))


class _PawleySolver:
    """Solves background + intensities for given non-linear parameters (caches the last solve)."""

    def __init__(self, model: PowderModel) -> None:
        self.model = model
        self.group = _grouping(model)
        self.fit_mask = model.mask[model.inside]
        self.y = model.pattern.y[model.inside]
        self.w = model.weights
        self.nbkg = model.background_basis.shape[1]
        self.layout = None

    def freeze(self, params: lmfit.Parameters) -> None:
        """Fix peak windows and FCJ nodes while one minimisation runs (smooth model)."""
        self.layout = self.model.layout(params)

    def design(self, params: lmfit.Parameters) -> sp.csr_matrix:
        peaks = (self.group @ self.model.peak_matrix(params, self.layout)).T  # (npoints, ngroups)
        return sp.hstack([sp.csr_matrix(self.model.background_basis), peaks], format="csr")

    def solve(self, params: lmfit.Parameters) -> tuple[np.ndarray, sp.csr_matrix, sp.csc_matrix]:
        a = self.design(params)
        m = self.fit_mask
        coef, normal = weighted_lstsq(a[m], self.y[m], self.w[m])
        return coef, a, normal

    def calculate(self, params: lmfit.Parameters) -> np.ndarray:
        coef, a, _ = self.solve(params)
        return a @ coef


def fit_pawley(pattern: Pattern, phases: list[CrystalStructure], instrument: Instrument, *,
               refine: Iterable[str] = ("cell", "zero", "W", "X", "Y"), options: PowderOptions | None = None,
               fit: FitOptions | None = None, params: lmfit.Parameters | None = None,
               lebail: LeBailOptions | None = None) -> FitResult:
    """Pawley fit of one or more phases; arguments as :func:`refine.powder.lebail.fit_lebail` (``lebail``: the
    options of the Le Bail fit it starts with).

    Free intensities can fit peaks with the wrong reflections while the cell is still off, and a profile refined
    together with ~100 free intensities from a rough start can run away (NASICON with U, V, SH/L freed: Rwp 47 %,
    SH/L at its bound, reported converged), so everything asked for is first refined by Le Bail partitioning
    (positions with the starting profile, then the rest); the Pawley least squares then refines it all from there.
    """
    model = PowderModel(pattern, phases, instrument, options=options)
    start = params.copy() if params is not None else model.parameters()
    start = set_vary(start, model, refine)
    check_enough_points([model], start)
    solver = _PawleySolver(model)
    dataset = Dataset("pattern", pattern, lambda p: model.full(solver.calculate(p)), mask=model.mask, kind="powder",
                      notes=model.notes)
    objective = Objective.single(dataset)
    varied = {n for n in start if start[n].vary}
    current = start
    if varied:
        pre = fit_lebail(pattern, phases, instrument, refine=sorted(varied), options=options,
                         lebail=lebail, params=with_vary(start, set()))
        current = pre.params
    # Two passes: the second re-centres the frozen peak windows on the refined positions and widths.
    for _ in range(2):
        solver.freeze(current)
        result = run_fit(objective, with_vary(current, varied), kind="pawley", options=fit)
        current = result.params
    coef, a, normal = solver.solve(current)
    esd = linear_esds(normal, result.statistics.chi2_red)
    nb = solver.nbkg
    intensities = solver.group.T @ coef[nb:]
    intensity_esd = solver.group.T @ esd[nb:]
    bkg = model.background_basis @ coef[:nb]
    mat = model.peak_matrix(current, solver.layout)
    components = {"background": bkg}
    for i, block in enumerate(model.phases):
        rows = model.phase_rows(i)
        components[block.prefix] = mat[rows].T @ intensities[rows]
    warnings = []
    if np.any(intensities < -3 * np.maximum(intensity_esd, 1e-300)):
        warnings.append("some Pawley intensities are negative by more than 3 esd (overlaps or a wrong cell)")
    # The refined intensities (with esds) live in each phase's reflection table, as Le Bail's partitioned ones do.
    extra = {"background": {"coefficients": coef[:nb], "esd": esd[:nb]}, "model": model,
             "reflections": intensity_tables(model, current, intensities, intensity_esd)}
    result = finish(result, model, components=components, extra=extra, warnings=warnings)
    return dataclasses.replace(result, kind="pawley")
