"""Which Rietveld parameters vary and in what order: the refine groups a user names (:func:`mark_refined`) and the
staged minimisation (:func:`staged`, :func:`run_stages`) of :func:`refine.powder.rietveld.fit_rietveld`, the joint
and Bragg+PDF fits. Staged as a user would: scales, then cell/zero/displacement, then profile, then atomic
positions, then ADPs and occupancies, each stage a least-squares run with the peak windows frozen."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import lmfit

from refine.errors import InputError
from refine.fit import FitOptions, FitResult, Objective, run_fit
from refine.powder.wholepattern import REFINE_GROUPS, is_positional, set_vary, with_vary

if TYPE_CHECKING:
    from refine.powder.rietveld import RietveldEngine

#: Groups of atomic / Rietveld parameters a user may ask to refine, besides :data:`REFINE_GROUPS`.
RIETVELD_GROUPS = ("scale", "background", "positions", "adp", "uiso", "occupancy", "po", "texture", "absorption",
                   "roughness")


def staged(varied: set[str], engine: RietveldEngine) -> list[set[str]]:
    """The stages of a staged refinement of ``varied``: each the parameters of its level and every level below."""
    kinds = _atom_kinds(engine)
    stage = {n: _stage_of(n, engine, kinds) for n in varied}
    return [{n for n in varied if stage[n] <= level} for level in sorted(set(stage.values()))]


def _stage_of(name: str, engine: RietveldEngine, kinds: dict[str, set[str]]) -> int:
    """0 scale, 1 cell/zero/displacement, 2 profile and corrections, 3 atomic positions, 4 ADPs/occupancies
    (``kinds``: :func:`_atom_kinds` of the engine)."""
    if name.endswith("_scale"):
        return 0
    if is_positional(name, engine.model):
        return 1
    if name in kinds["positions"]:
        return 3
    if name in kinds["adp"] or name in kinds["occupancy"]:
        return 4
    return 2


def _atom_kinds(engine: RietveldEngine) -> dict[str, set[str]]:
    """The free atomic parameter names of every phase by kind (positions, adp, occupancy)."""
    return {kind: {n for atoms in engine.atoms for n in atoms.free_names(kind)}
            for kind in ("positions", "adp", "occupancy")}


def mark_refined(params: lmfit.Parameters, engine: RietveldEngine, refine: Iterable[str]) -> lmfit.Parameters:
    """Set ``vary`` for the groups of :data:`RIETVELD_GROUPS` / :data:`REFINE_GROUPS` or parameter names."""
    params = params.copy()
    rest = []
    for item in refine:
        names: list[str] = []
        if item == "scale":
            names = [f"{b.prefix}_scale" for b in engine.model.phases]
        elif item == "background":
            continue  # linear, always solved
        elif item in ("positions", "adp", "uiso", "occupancy"):
            kind = "adp" if item == "uiso" else item
            names = [n for a in engine.atoms for n in a.free_names(kind)]
        elif item == "po":
            names = [f"{b.prefix}_po_ratio" for b in engine.model.phases]
        elif item == "texture":
            names = [n for t in engine.textures if t is not None for n in t[0]]
            if not names:
                raise InputError("refine", "'texture' needs a spherical-harmonics order (--texture ORDER)")
        elif item == "absorption":
            names = [f"{engine.model.prefix}absorption"]
        elif item == "roughness":
            if engine.model.instrument.geometry != "bragg_brentano":
                raise InputError("refine", "surface roughness (Suortti) is a Bragg-Brentano correction; the "
                                             f"instrument's geometry is {engine.model.instrument.geometry}")
            names = [f"{engine.model.prefix}surf_p", f"{engine.model.prefix}surf_q"]
        else:
            rest.append(item)
        for name in names:
            params[name].set(vary=True)
    bad = [r for r in rest if r not in REFINE_GROUPS and r not in params]
    if bad:
        raise InputError("refine", f"unknown parameter or group {bad[0]!r}; groups: "
                                     f"{', '.join(RIETVELD_GROUPS + REFINE_GROUPS)}")
    return set_vary(params, engine.model, rest)


def run_stages(objective: Objective, start: lmfit.Parameters, stages: Sequence[set[str]],
               engines: Sequence[RietveldEngine], *, passes: int, kind: str, options: FitOptions | None) -> FitResult:
    """Minimise stage by stage (each stage the set of parameters varied), re-freezing every engine's peak windows
    on the current parameters before each of the ``passes`` minimisations of a stage."""
    current, result = start, None
    for stage in stages or [set()]:
        for _ in range(max(passes, 1)):
            for engine in engines:
                engine.freeze(current)
            result = run_fit(objective, with_vary(current, stage), kind=kind, options=options)
            current = result.params
    assert result is not None
    return result
