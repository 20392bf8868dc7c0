"""Can the result be trusted? Checks run on every fit, independent of lmfit's own covariance.

* Singular directions: the SVD of the weighted Jacobian at the solution (columns normalised to unit length); a
  singular value below ``singular_rcond`` × the largest is a combination of parameters the data do not determine,
  and each parameter taking more than ``singular_share`` of it (squared component) is named. lmfit may still invert
  such a covariance (ρ = −1, esds of 10⁵) or give up; either way the named parameters get no esd and the others get
  theirs from the fit with one parameter per blind direction fixed.
* Bounds: a varied parameter within ``bound_tolerance`` of a bound sits on it; its esd means nothing. The
  tolerance is relative to the bound's magnitude; at a bound of 0, relative to the parameter's starting value
  (absolute when that is 0 too), so that a small scale factor (1e-7, far from 0 in its own terms) is not
  taken for one on its bound while Y = 1e-21 or delta2 = 7.5e-15 started at 0 or 1 are.
* Correlations with |ρ| above ``correlation``.
* Poor fit: GOF = sqrt(χ²red) above ``poor_gof`` for a powder dataset whose σ are counting statistics (a GOF far
  above 1 with honest σ means the model misses features of the data; Toby, Powder Diffr. 21 (2006) 67).
* Numerical warnings raised by numpy or lmfit while fitting are collected and reported as messages.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import lmfit
import numpy as np

from refine.fit.objective import Objective
from refine.fit.statistics import Statistics


@dataclass(frozen=True)
class Diagnostics:
    """Thresholds of the trust checks (see the module docstring)."""

    singular_rcond: float = 1e-7
    singular_share: float = 0.1
    bound_tolerance: float = 1e-6
    correlation: float = 0.9
    poor_gof: float = 5.0


@dataclass(frozen=True)
class Determinacy:
    """Outcome of the singular-direction analysis: the undetermined parameters, the determined ones, the unscaled
    covariance (JᵀJ)⁻¹ of the determined ones (None when it cannot be formed) and the number of independent
    directions the data see."""

    undetermined: tuple[str, ...]
    determined: tuple[str, ...]
    covariance: np.ndarray | None
    rank: int


def jacobian(objective: Objective, params: lmfit.Parameters, names: Sequence[str]) -> np.ndarray:
    """∂residual/∂p of the varied parameters ``names`` at ``params``: analytic where the objective supplies it,
    else central differences (one-sided at a bound)."""
    if objective.has_jacobian:
        return np.asarray(objective.residual_jacobian(params), dtype=float)
    work = params.copy()
    cols = []
    for name in names:
        par = work[name]
        v0 = par.value
        h = 1e-6 * max(abs(v0), 1e-3)
        hi, lo = min(v0 + h, par.max), max(v0 - h, par.min)
        vals = []
        for v in (hi, lo):
            par.value = v
            work.update_constraints()
            vals.append(objective.residual(work))
        par.value = v0
        work.update_constraints()
        cols.append((vals[0] - vals[1]) / (hi - lo) if hi > lo else np.zeros_like(vals[0]))
    return np.column_stack(cols)


def determinacy(jac: np.ndarray, names: Sequence[str], settings: Diagnostics = Diagnostics()) -> Determinacy:
    """Which parameters (columns of ``jac``) the data leave undetermined, and the covariance of the others.

    A column of zeros (a parameter with no effect) is undetermined. Otherwise the columns are normalised and
    decomposed; each right-singular vector whose singular value is below ``settings.singular_rcond`` of the largest
    names every parameter with a squared component above ``settings.singular_share``, and its largest component is
    fixed for the covariance of the rest.
    """
    names = list(names)
    norms = np.linalg.norm(jac, axis=0)
    dead = ~(norms > 1e-300)
    bad = {n for n, d in zip(names, dead, strict=True) if d}
    dropped = set(bad)
    alive = [n for n, d in zip(names, dead, strict=True) if not d]
    if alive:
        scaled = jac[:, ~dead] / norms[~dead]
        _, sv, vt = np.linalg.svd(scaled, full_matrices=False)
        for vec in vt[sv < settings.singular_rcond * sv[0]]:
            bad |= {alive[k] for k in np.flatnonzero(vec**2 > settings.singular_share)}
            dropped.add(alive[int(np.argmax(np.abs(vec)))])
    solvable = [i for i, n in enumerate(names) if n not in dropped]
    good = [n for n in names if n not in bad]
    cov = None
    if good:
        jk = jac[:, solvable]
        try:
            full = np.linalg.inv(jk.T @ jk)
        except np.linalg.LinAlgError:
            full = None
        if full is not None and np.all(np.isfinite(full)) and np.all(np.diag(full) > 0):
            idx = [solvable.index(names.index(n)) for n in good]
            cov = full[np.ix_(idx, idx)]
    return Determinacy(undetermined=tuple(n for n in names if n in bad), determined=tuple(good), covariance=cov,
                       rank=len(solvable))


def at_bounds(params: lmfit.Parameters, tolerance: float = 1e-6) -> list[str]:
    """One message per varied parameter sitting on a bound (within ``tolerance`` relative to the bound's magnitude;
    at a bound of 0 relative to the starting value, absolute when that is 0 too)."""
    messages = []
    for name, par in params.items():
        if not par.vary:
            continue
        for side, bound in (("lower", par.min), ("upper", par.max)):
            if bound is None or not np.isfinite(bound):
                continue
            start = abs(par.init_value) if par.init_value is not None and np.isfinite(par.init_value) else 0.0
            tol = tolerance * (abs(bound) if bound != 0 else (start or 1.0))
            if abs(par.value - bound) <= tol:
                messages.append(f"{name} = {par.value:.6g} sits on its {side} bound {bound:g}; its esd is not "
                                "meaningful (fix it, or start it elsewhere if the bound is not physical)")
    return messages


def strong_correlations(params: lmfit.Parameters, threshold: float) -> list[str]:
    """One message per pair of varied parameters with |ρ| > ``threshold`` (each pair once)."""
    names = [n for n, p in params.items() if p.vary]
    messages = []
    for i, a in enumerate(names):
        correl = params[a].correl or {}
        for b in names[i + 1:]:
            rho = correl.get(b)
            if rho is not None and np.isfinite(rho) and abs(rho) > threshold:
                messages.append(f"correlation {a}|{b} = {rho:+.3f} (|rho| > {threshold}); their esds are not "
                                "independent")
    return messages


def poor_fit(objective: Objective, stats: dict[str, Statistics], threshold: float) -> list[str]:
    """'poor fit' for each powder dataset with counting-statistics σ whose GOF exceeds ``threshold``."""
    messages = []
    for d in objective.datasets:
        gof = stats[d.name].GOF
        if d.kind != "powder" or not d.pattern.has_sigma or gof is None or not gof > threshold:
            continue
        where = "" if len(objective.datasets) == 1 else f"dataset {d.name}: "
        messages.append(f"poor fit: {where}GOF {gof:.2f} > {threshold:g} (the model misses features of the data: "
                        "check phases, profile, background and excluded regions)")
    return messages


@contextmanager
def collected_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Collect the Python warnings (numpy RuntimeWarnings, lmfit's) raised inside the block instead of printing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def summarise_warnings(caught: Sequence[warnings.WarningMessage], *, covariance_replaced: bool) -> list[str]:
    """One message per distinct numerical warning, with its count. lmfit's complaints while forming the covariance
    are dropped when the covariance was rebuilt here (the singular-direction message says what they meant)."""
    counts: Counter[str] = Counter()
    for w in caught:
        if covariance_replaced and "lmfit" in str(w.filename):
            continue
        counts[f"{w.category.__name__}: {str(w.message).splitlines()[0]}"] += 1
    return [f"numerical warning during the fit ({n}x): {text}" for text, n in counts.items()]
