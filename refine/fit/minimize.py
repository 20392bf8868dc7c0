"""Run an lmfit minimisation of an :class:`~refine.fit.objective.Objective` and build the FitResult."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lmfit
import numpy as np

from refine.errors import InputError
from refine.executor import blas_limit
from refine.fit.diagnostics import (
    Diagnostics,
    at_bounds,
    collected_warnings,
    determinacy,
    jacobian,
    poor_fit,
    strong_correlations,
    summarise_warnings,
)
from refine.fit.objective import Objective, check_determined
from refine.fit.result import Curves, FitResult
from refine.fit.statistics import Statistics, pdf_statistics, powder_statistics
from refine.gc_scope import frozen


@dataclass(frozen=True)
class FitOptions:
    """How to minimise: any lmfit method name; ``max_nfev`` None lets lmfit choose."""

    method: str = "least_squares"
    max_nfev: int | None = None
    blas_threads: int | None = 1  # BLAS threads while minimising (None: leave the library's setting)
    xtol: float = 1e-10
    ftol: float = 1e-10
    diagnostics: Diagnostics | None = None  # thresholds of the trust checks (None: the defaults)
    # False: keep lmfit's covariance without the determinacy analysis of the Jacobian at the solution (one more
    # Jacobian): for intermediate minimisations whose esds nobody reads, e.g. Le Bail cycles before the last.
    analyse: bool = True

    def __post_init__(self) -> None:
        if self.max_nfev is not None and not (isinstance(self.max_nfev, (int, np.integer)) and self.max_nfev >= 1):
            raise InputError("max_nfev", f"must be a whole number >= 1 (or not given), got {self.max_nfev!r}")
        for name in ("xtol", "ftol"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise InputError(name, f"must be a positive number, got {value!r}")


#: Stop when χ² or the step changes by less than 1e-8 relative (scipy's own defaults, PDFfit2's criterion): what
#: Rietveld, Le Bail and PDF fits use. The plain FitOptions() keeps 1e-10.
SCIPY_TOLERANCES = FitOptions(xtol=1e-8, ftol=1e-8)


def _method_kws(options: FitOptions) -> dict[str, Any]:
    if options.method == "least_squares":
        # Jacobian-based scaling: parameters of very different magnitude (cell in Å, zero in deg, U in centideg²).
        return {"xtol": options.xtol, "ftol": options.ftol, "x_scale": "jac"}
    if options.method == "leastsq":
        return {"xtol": options.xtol, "ftol": options.ftol}
    return {}


def _trust_warnings(objective: Objective, out: lmfit.minimizer.MinimizerResult) -> list[str]:
    warnings = [note for d in objective.datasets for note in d.notes]
    for d in objective.datasets:
        if not d.pattern.has_sigma:
            warnings.append(f"dataset {d.name}: no uncertainties in the data (unit weights); esds, chi2 and GOF "
                            "are not meaningful")
    if not out.success:
        warnings.append(f"fit did not converge: {out.message}")
    return warnings


def _set_errorbars(params: lmfit.Parameters, names: Sequence[str], cov: np.ndarray | None,
                   undetermined: Sequence[str]) -> None:
    """esds and correlations of the varied ``names`` from ``cov`` (scaled), none for ``undetermined``; parameters
    defined by an expression get theirs by linear propagation (none when they depend on an undetermined one)."""
    for name in undetermined:
        params[name].stderr, params[name].correl = None, None
    if cov is None:
        for name in names:
            params[name].stderr, params[name].correl = None, None
        return
    err = np.sqrt(np.diag(cov))
    for i, name in enumerate(names):
        par = params[name]
        par.stderr = float(err[i])
        par.correl = {other: float(cov[i, j] / (err[i] * err[j])) for j, other in enumerate(names) if j != i}
    for name, par in params.items():
        if par.expr:
            par.stderr = _propagated_esd(params, name, names, cov, undetermined)


def _propagated_esd(params: lmfit.Parameters, name: str, names: Sequence[str], cov: np.ndarray,
                    undetermined: Sequence[str]) -> float | None:
    """esd of the expression parameter ``name``: sqrt(g·C·g) with g its gradient (central differences)."""
    work = params.copy()

    def gradient(var: str) -> float:
        v0 = work[var].value
        h = 1e-7 * max(abs(v0), 1e-3)
        vals = []
        for v in (v0 + h, v0 - h):
            work[var].value = v
            work.update_constraints()
            vals.append(work[name].value)
        work[var].value = v0
        work.update_constraints()
        return (vals[0] - vals[1]) / (2 * h)

    if any(gradient(var) != 0.0 for var in undetermined):
        return None
    g = np.array([gradient(var) for var in names])
    var = float(g @ cov @ g)
    return float(np.sqrt(var)) if np.isfinite(var) and var >= 0 else None


def _errorbars(objective: Objective, out: lmfit.minimizer.MinimizerResult,
               diag: Diagnostics) -> tuple[np.ndarray | None, tuple[str, ...], list[str], bool]:
    """The covariance and its parameter names, messages, and whether lmfit's covariance was replaced.

    The Jacobian at the solution is analysed here whatever lmfit reports (lmfit may invert a singular covariance
    and report ρ = −1 with huge esds). Undetermined parameters are named and lose their esds; the others get theirs
    from the fit with one parameter per blind direction fixed (χ²red over the directions the data see). When
    nothing is undetermined lmfit's covariance is kept, unless lmfit could not form one.
    """
    names = tuple(out.var_names)
    covariance = None if out.covar is None else np.array(out.covar)
    if not names:
        return covariance, names, [], False
    det = determinacy(jacobian(objective, out.params, names), names, diag)
    if not det.undetermined and out.errorbars and covariance is not None:
        return covariance, names, [], False
    messages = []
    if det.undetermined:
        messages.append(f"not determined by the data (singular direction): {', '.join(det.undetermined)}; fix "
                        "them or constrain them" + ("; esds of the others computed without them"
                                                    if det.covariance is not None and det.determined else ""))
    cov = None
    if det.covariance is not None:
        cov = det.covariance * float(out.chisqr) / max(int(out.ndata) - det.rank, 1)  # χ²red, as lmfit scales
    elif not det.undetermined:
        messages.append("esds could not be estimated (the covariance matrix cannot be formed)")
    _set_errorbars(out.params, det.determined, cov, det.undetermined)
    return cov, (det.determined if cov is not None else ()), messages, True


def _statistics(objective: Objective, ycalc: Mapping[str, np.ndarray], nvary: int) -> dict[str, Statistics]:
    stats = {}
    for d in objective.datasets:
        m = d.mask
        sigma = d.pattern.sigma[m]
        fn = powder_statistics if d.kind == "powder" else pdf_statistics
        stats[d.name] = fn(d.pattern.y[m], ycalc[d.name][m], sigma, nvary=nvary)
    return stats


def _joint(stats: Mapping[str, Statistics], objective: Objective, nvary: int) -> Statistics:
    """Agreement over all datasets together (GSAS-II's histogram total), each dataset with its weight."""
    if len(stats) == 1:
        return next(iter(stats.values()))
    chi2 = sum(d.weight**2 * stats[d.name].chi2 for d in objective.datasets)
    swy2 = sum(float(np.sum((d.weight * d.pattern.y[d.mask] / d.pattern.sigma[d.mask]) ** 2))
               for d in objective.datasets)
    n = sum(s.npoints for s in stats.values())
    dof = max(n - nvary, 1)
    rw = float(np.sqrt(chi2 / swy2))
    if all(d.kind == "pdf" for d in objective.datasets):
        return Statistics(npoints=n, nvary=nvary, chi2=chi2, chi2_red=chi2 / dof, Rw=rw)
    rexp = float(np.sqrt(dof / swy2))
    return Statistics(npoints=n, nvary=nvary, chi2=chi2, chi2_red=chi2 / dof, Rwp=rw, Rexp=rexp, GOF=rw / rexp)


def _analytic_jacobian(objective: Objective, params: lmfit.Parameters
                       ) -> tuple[lmfit.Parameters, tuple[str, ...], Callable[..., np.ndarray]]:
    """(parameters to minimise, the varying ones held, the Jacobian function for lmfit).

    The Jacobian at the start is computed here and handed to the minimiser for its first call (at the same values:
    no extra evaluation). A varying parameter whose column is exactly zero there (the model does not depend on it at
    that value: SH/L at ~0, where the FCJ kernel has no width) is held for this minimisation: with such a column
    scipy's trust-region steps, scaled by the column norms, shrink to nothing (a Le Bail cycle from SH/L 1e-10 took
    its 200 evaluations to lower Rwp from 4.725 % to 4.724 %; with SH/L held it reached 4.612 % in 4).
    """
    start = objective.residual_jacobian(params)
    names = [n for n, p in params.items() if p.vary and not p.expr]
    idle = tuple(n for n, column in zip(names, start.T, strict=True) if not np.any(column))
    if idle:
        params = params.copy()
        for name in idle:
            params[name].vary = False
        start = start[:, [i for i, n in enumerate(names) if n not in idle]]
    values = [params[n].value for n in names if n not in idle]
    cached = [start]

    def jac(p: lmfit.Parameters, **_: Any) -> np.ndarray:
        if cached and [p[n].value for n in names if n not in idle] == values:
            return cached.pop()
        cached.clear()
        return objective.residual_jacobian(p)

    return params, idle, jac


def run_fit(objective: Objective, params: lmfit.Parameters, *, kind: str, options: FitOptions | None = None,
            components: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> FitResult:
    """Minimise ``objective.residual`` over ``params`` (not modified) and return a :class:`FitResult`.

    esds are sqrt(diag(covariance)) scaled by sqrt(χ²red), as lmfit does by default (CONVENTIONS.md).
    With method least_squares, datasets that all supply ``jacobian`` and no restraints use analytic derivatives.
    ``components`` (per dataset: name -> curve) may be given by engines that know them (background, phases).
    """
    options = options or FitOptions()
    diag = options.diagnostics or Diagnostics()
    nvary = sum(1 for p in params.values() if p.vary and not p.expr)
    check_determined(sum(d.npoints for d in objective.datasets) + len(objective.restraints), nvary,
                     source=objective.datasets[0].pattern.source or objective.datasets[0].name)
    kws = _method_kws(options)
    idle: tuple[str, ...] = ()
    # The least-squares solver factorises a (points × parameters) Jacobian every iteration: a small dense problem for
    # which threaded BLAS only adds overhead (6–25× slower with two threads on a busy two-core machine).
    with blas_limit(options.blas_threads), collected_warnings() as caught, frozen():
        if objective.has_jacobian and options.method == "least_squares":  # analytic derivatives instead of 2-point
            params, idle, kws["jac"] = _analytic_jacobian(objective, params)
        # lmfit minimises a deep copy of ``params`` (MinimizerResult.params) and leaves them as they are.
        minimizer = lmfit.Minimizer(objective.residual, params, scale_covar=True, nan_policy="raise",
                                    max_nfev=options.max_nfev)
        out = minimizer.minimize(method=options.method, **kws)
        covariance, var_names, messages, replaced = (
            _errorbars(objective, out, diag) if options.analyse
            else (None if out.covar is None else np.array(out.covar), tuple(out.var_names), [], False))
        refined = out.params
        ycalc = objective.evaluate(refined)
    for name in idle:  # still refined for the caller (a next cycle may move it); held in this minimisation
        refined[name].vary = True
        refined[name].stderr = None
    if idle:
        held = ", ".join(f"{n} = {refined[n].value:.4g}" for n in idle)
        messages = [f"{held}: no effect on the model there (zero derivative); kept at that value, no esd", *messages]
    nvary = int(out.nvarys)
    stats = _statistics(objective, ycalc, nvary)
    curves = {
        d.name: Curves(x=d.pattern.x, observed=d.pattern.y, calculated=ycalc[d.name], sigma=d.pattern.sigma,
                       mask=d.mask, unit=d.pattern.unit, components=dict((components or {}).get(d.name, {})))
        for d in objective.datasets
    }
    warnings = (_trust_warnings(objective, out) + messages + at_bounds(refined, diag.bound_tolerance)
                + strong_correlations(refined, diag.correlation) + poor_fit(objective, stats, diag.poor_gof)
                + summarise_warnings(caught, covariance_replaced=replaced))
    return FitResult(kind=kind, converged=bool(out.success), message=str(out.message), params=refined,
                     statistics=_joint(stats, objective, nvary), dataset_statistics=stats, curves=curves,
                     warnings=tuple(warnings), nfev=int(out.nfev), covariance=covariance, var_names=var_names)
