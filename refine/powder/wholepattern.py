"""Pieces shared by the Le Bail and Pawley drivers: what to refine, linear solves, result assembly."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import lmfit
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from refine.crystal.lattice import PARAMETER_NAMES, cell_constraints
from refine.errors import InputError
from refine.fit.constraints import apply_constraints
from refine.fit.objective import check_determined
from refine.fit.phase_result import PhaseResult, Value, refined_cell
from refine.fit.result import FitResult
from refine.powder.model import PROFILE_NAMES, PowderModel
from refine.powder.peakshape import microstrain_percent, scherrer_size_nm
from refine.powder.reflection_table import ReflectionTable

#: Names a user may ask to refine (besides explicit parameter names).
REFINE_GROUPS = ("cell", "zero", "U", "V", "W", "X", "Y", "Z", "SH_L", "ka2_ratio", "shift", "transparency",
                 "displace_x", "displace_y", "displacement", "size", "strain", "profile")


#: Where a refined SH/L that starts at 0 (its lower bound) starts instead.
SH_L_START = 1e-4
#: A refined SH/L at or below this has no measurable asymmetry (and no analytic derivative): see restart_asymmetry.
SH_L_NONE = 1e-6


def set_vary(params: lmfit.Parameters, model: PowderModel, refine: Iterable[str]) -> lmfit.Parameters:
    """Mark parameters to refine: groups of :data:`REFINE_GROUPS` or explicit parameter names.

    ``cell`` = the free cell parameters of every phase; ``profile`` = U V W X Y; ``size``/``strain`` = each phase's
    extra Lorentzian LX/LY.
    """
    params = params.copy()
    p = model.prefix
    for item in refine:
        names: list[str]
        if item == "cell":
            names = [f"{b.prefix}_{n}" for b in model.phases for n in cell_constraints(b.structure.space_group).free]
        elif item == "profile":
            names = [f"{p}{n}" for n in ("U", "V", "W", "X", "Y")]
        elif item == "displacement":  # the sample offset of the instrument's geometry
            names = [f"{p}shift"] if model.instrument.geometry == "bragg_brentano" else [f"{p}displace_x"]
        elif item == "size":
            names = [f"{b.prefix}_LX" for b in model.phases]
        elif item == "strain":
            names = [f"{b.prefix}_LY" for b in model.phases]
        elif item in REFINE_GROUPS:
            names = [f"{p}{item}"]
        elif item in params:
            names = [item]
        else:
            raise InputError("refine", f"unknown parameter or group {item!r}; groups: {', '.join(REFINE_GROUPS)}")
        for name in names:
            if params[name].expr:
                continue
            params[name].set(vary=True)
    restart_asymmetry(params, model)
    return apply_constraints(params, model.options.constraints)


def restart_asymmetry(params: lmfit.Parameters, model: PowderModel) -> None:
    """A refined SH/L at or below :data:`SH_L_NONE` starts at :data:`SH_L_START` instead (in place).

    At SH/L ~0 the FCJ kernel's width (~SH/L² rad) is below rounding, and with it the analytic ∂y/∂SH/L: a
    minimiser with analytic derivatives would never move it (LaB6, Cu Kα: Rwp 0.156 stuck at SH/L 0 or 1e-10,
    against 0.062 at SH/L 0.068 from here or with finite differences; PbSO4 Rietveld from 1e-10: 0.0965 against
    0.0808). Every fit's start applies it (:func:`set_vary`: a previous scan's SH/L at its bound), and Le Bail at
    each cycle, so that a cycle that drove it to its bound does not hold it there for good.
    """
    shl = params.get(f"{model.prefix}SH_L")
    if shl is not None and shl.vary and not shl.expr and shl.value <= SH_L_NONE:
        shl.set(value=SH_L_START)


def check_enough_points(models: Sequence[PowderModel], params: lmfit.Parameters) -> None:
    """:class:`InputError` before a fit whose fitted points (over all ``models``' patterns) are fewer than its
    unknowns: the refined parameters plus each pattern's linear background terms."""
    nvary = sum(1 for p in params.values() if p.vary and not p.expr)
    nbkg = sum(m.background_basis.shape[1] for m in models)
    npoints = sum(int(m.mask.sum()) for m in models)
    check_determined(npoints, nvary + nbkg, source=models[0].pattern.source,
                     what=f"unknowns ({nvary} refined parameters and {nbkg} background terms)",
                     hint="widen --range, refine fewer parameters or use fewer background terms (--background)")


def weighted_lstsq(columns: sp.csr_matrix | np.ndarray, y: np.ndarray, w: np.ndarray, *,
                   ridge: float = 1e-10) -> tuple[np.ndarray, sp.csc_matrix]:
    """Solve min Σ w (y − A c)² through the sparse normal equations; returns (c, normal matrix).

    A tiny ridge (relative to the largest diagonal element) keeps near-singular systems (overlapping Pawley
    peaks) solvable; columns without any data get c = 0.
    """
    a = sp.csr_matrix(columns)
    sw = np.sqrt(w)
    aw = sp.diags(sw) @ a
    normal = (aw.T @ aw).tocsc()
    rhs = aw.T @ (sw * y)
    diag = normal.diagonal()
    scale = float(diag.max()) if diag.size and diag.max() > 0 else 1.0
    reg = ridge * scale + (diag <= 0) * scale
    normal = (normal + sp.diags(reg)).tocsc()
    sol = spla.spsolve(normal, rhs) if normal.shape[0] > 1 else rhs / normal.toarray()[0]
    return np.atleast_1d(np.asarray(sol, dtype=float)), normal


def linear_esds(normal: sp.csc_matrix, chi2_red: float, *, block: int = 512) -> np.ndarray:
    """esds of linear unknowns from the diagonal of the inverse normal matrix, scaled by sqrt(χ²red) like lmfit."""
    lu = spla.splu(normal.tocsc())
    n = normal.shape[0]
    diag = np.empty(n)
    for start in range(0, n, block):
        stop = min(start + block, n)
        e = np.zeros((n, stop - start))
        e[np.arange(start, stop), np.arange(stop - start)] = 1.0
        diag[start:stop] = lu.solve(e)[np.arange(start, stop), np.arange(stop - start)]
    return np.sqrt(np.maximum(diag, 0.0) * chi2_red)


def powder_phase(result: FitResult, model: PowderModel, index: int, *,
                 reflections: ReflectionTable | None = None) -> PhaseResult:
    """The :class:`PhaseResult` of phase ``index`` of a powder fit (Le Bail, Pawley, Rietveld, Bragg + PDF): cell with
    esds, volume ± esd, size and strain where refined (esds scaled from those of LX and LY), the reflection list.
    Engines add what only they have (scale, R_Bragg ...) with :meth:`PhaseResult.replace`."""
    params = result.params
    block = model.phases[index]
    sg = block.structure.space_group
    lx, ly = params[f"{block.prefix}_LX"], params[f"{block.prefix}_LY"]
    size = scherrer_size_nm(lx.value, model.instrument.wavelength) if (lx.vary or lx.value) else None
    strain = microstrain_percent(ly.value) if (ly.vary or ly.value) else None
    lx_esd, ly_esd = result.esd(lx.name), result.esd(ly.name)
    return PhaseResult(
        name=block.prefix, structure=block.structure.name, space_group=sg.symbol,
        **refined_cell(result, block.prefix, model.lattice(params, block), sg),
        size_nm=Value.of(size, None if size is None or lx_esd is None else size * lx_esd / abs(lx.value)),
        microstrain_percent=Value.of(strain, None if strain is None or ly_esd is None else microstrain_percent(ly_esd)),
        reflections=reflections, extra={"nreflections": len(block.reflections)})


def finish(result: FitResult, model: PowderModel, *, components: Mapping[str, np.ndarray],
           extra: Mapping[str, Any], warnings: Iterable[str] = ()) -> FitResult:
    """Attach components (full grid), phase results, extra data and warnings to a fit result.

    ``extra['reflections']`` (one :class:`~refine.powder.reflection_table.ReflectionTable` per phase, in order), when
    given, also becomes each phase's ``reflections``."""
    name = next(iter(result.curves))
    curves = dataclasses.replace(result.curves[name],
                                 components={k: model.full(v) for k, v in components.items()})
    tables = extra.get("reflections") or [None] * len(model.phases)
    phases = [powder_phase(result, model, i, reflections=t) for i, t in enumerate(tables)]
    return dataclasses.replace(result, curves={name: curves}, phases=phases,
                               extra=dict(extra), warnings=tuple(result.warnings) + tuple(warnings))


def instrument_from(params: lmfit.Parameters, model: PowderModel):
    """The model's Instrument with zero and profile replaced by the refined values (for writing .instprm)."""
    p = model.prefix
    v = params.valuesdict()
    profile = {n: v[f"{p}{n}"] for n in PROFILE_NAMES}
    profile["sh_l"] = v[f"{p}SH_L"]
    changes: dict[str, Any] = {"zero": v[f"{p}zero"], "profile": profile}
    if model.instrument.wavelength2 is not None:
        changes["ka2_ratio"] = v[f"{p}ka2_ratio"]
    return model.instrument.replace(**changes)


def is_positional(name: str, model: PowderModel) -> bool:
    """True for parameters that move peaks: zero, sample displacement/transparency, cell parameters."""
    p = model.prefix
    if name in (f"{p}zero", f"{p}shift", f"{p}transparency", f"{p}displace_x", f"{p}displace_y"):
        return True
    return any(name.startswith(f"{b.prefix}_") and name[len(b.prefix) + 1:] in PARAMETER_NAMES for b in model.phases)


def with_vary(params: lmfit.Parameters, names: set[str]) -> lmfit.Parameters:
    """A copy in which exactly ``names`` vary (expression parameters untouched): one refinement stage."""
    out = params.copy()
    vary_only(out, names)
    return out


def vary_only(params: lmfit.Parameters, names: set[str]) -> None:
    """Make exactly ``names`` vary, in place (expression parameters untouched)."""
    for name, par in params.items():
        if not par.expr:
            par.set(vary=name in names)
