"""Run an lmfit minimisation of an :class:`~refine.fit.objective.Objective` and build the FitResult."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lmfit
import numpy as np
from threadpoolctl import threadpool_limits

from refine.fit.objective import Objective
from refine.fit.result import CORRELATION_WARNING, Curves, FitResult
from refine.fit.statistics import Statistics, pdf_statistics, powder_statistics


@dataclass(frozen=True)
class FitOptions:
    """How to minimise: any lmfit method name; ``max_nfev`` None lets lmfit choose."""

    method: str = "least_squares"
    max_nfev: int | None = None
    blas_threads: int | None = 1  # BLAS threads while minimising (None: leave the library's setting)
    xtol: float = 1e-10
    ftol: float = 1e-10


def _method_kws(options: FitOptions) -> dict[str, Any]:
    if options.method == "least_squares":
        # Jacobian-based scaling: parameters of very different magnitude (cell in Å, zero in deg, U in centideg²).
        return {"xtol": options.xtol, "ftol": options.ftol, "x_scale": "jac"}
    if options.method == "leastsq":
        return {"xtol": options.xtol, "ftol": options.ftol}
    return {}


def _trust_warnings(objective: Objective, out: lmfit.minimizer.MinimizerResult, params: lmfit.Parameters) -> list:
    warnings = []
    for d in objective.datasets:
        if not d.pattern.has_sigma:
            warnings.append(f"dataset {d.name}: no uncertainties in the data (unit weights); esds, chi2 and GOF "
                            "are not meaningful")
    if not out.success:
        warnings.append(f"fit did not converge: {out.message}")
    if out.nvarys and not out.errorbars:
        warnings.append("esds could not be estimated for all refined parameters together (singular or "
                        "ill-conditioned covariance)")
    names = [n for n, p in params.items() if p.vary]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rho = (params[a].correl or {}).get(b)
            if rho is not None and abs(rho) > CORRELATION_WARNING:
                warnings.append(f"correlation {a}|{b} = {rho:+.3f} (|rho| > {CORRELATION_WARNING})")
    return warnings


def _numeric_jacobian(objective: Objective, params: lmfit.Parameters, names: list[str]) -> np.ndarray:
    """∂residual/∂p by central differences at ``params`` (one-sided at a bound)."""
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


def undetermined_parameters(objective: Objective, params: lmfit.Parameters, *, rcond: float = 1e-9,
                            share: float = 0.1) -> tuple[list[str], list[str], np.ndarray | None, int]:
    """Which varied parameters the data leave undetermined, and the covariance of the others.

    The weighted Jacobian J (columns normalised) is decomposed by SVD; a singular value below ``rcond`` of the
    largest is a direction the fit cannot see, and every parameter taking more than ``share`` of such a direction
    (squared component) is undetermined (a parameter with no effect at all is one). The covariance is that of the
    fit with one parameter of each such direction fixed (the combination the data do see keeps its uncertainty,
    which propagates to the others), restricted to the determined parameters. Returns (undetermined, determined,
    unscaled covariance (JᵀJ)⁻¹ of the determined ones or None, number of independent directions the data see).
    """
    names = [n for n, p in params.items() if p.vary]
    if not names:
        return [], [], None, 0
    jac = _numeric_jacobian(objective, params, names)
    norms = np.linalg.norm(jac, axis=0)
    dead = norms <= 1e-300
    scaled = jac[:, ~dead] / norms[~dead]
    bad = set(np.array(names)[dead])
    dropped = set(bad)
    if scaled.size:
        _, sv, vt = np.linalg.svd(scaled, full_matrices=False)
        alive = np.array(names)[~dead]
        for vec in vt[sv < rcond * sv[0]]:
            bad |= {alive[k] for k in np.flatnonzero(vec**2 > share)}
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
        if full is not None:
            idx = [solvable.index(names.index(n)) for n in good]
            cov = full[np.ix_(idx, idx)]
    return [n for n in names if n in bad], good, cov, len(solvable)


def _partial_errorbars(objective: Objective, out: lmfit.minimizer.MinimizerResult) -> tuple[list[str], list[str],
                                                                                            np.ndarray | None]:
    """When the covariance is singular: name the undetermined parameters and give the others esds and
    correlations from the covariance without them (scaled by χ²red as lmfit does, its degrees of freedom counting
    the independent directions)."""
    bad, good, cov, rank = undetermined_parameters(objective, out.params)
    if cov is None or not np.all(np.isfinite(cov)) or np.any(np.diag(cov) < 0):
        return bad, good, None
    cov = cov * float(out.chisqr) / max(int(out.ndata) - rank, 1)  # χ²red with the parameters the data see
    err = np.sqrt(np.diag(cov))
    for i, name in enumerate(good):
        par = out.params[name]
        par.stderr = float(err[i])
        par.correl = {other: float(cov[i, j] / (err[i] * err[j])) for j, other in enumerate(good) if j != i}
    return bad, good, cov


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


def run_fit(objective: Objective, params: lmfit.Parameters, *, kind: str, options: FitOptions | None = None,
            components: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> FitResult:
    """Minimise ``objective.residual`` over ``params`` (not modified) and return a :class:`FitResult`.

    esds are sqrt(diag(covariance)) scaled by sqrt(χ²red), as lmfit does by default (CONVENTIONS.md).
    With method least_squares, datasets that all supply ``jacobian`` and no restraints use analytic derivatives.
    ``components`` (per dataset: name -> curve) may be given by engines that know them (background, phases).
    """
    options = options or FitOptions()
    minimizer = lmfit.Minimizer(objective.residual, params.copy(), scale_covar=True, nan_policy="raise",
                                max_nfev=options.max_nfev)
    kws = _method_kws(options)
    if objective.has_jacobian and options.method == "least_squares":  # analytic derivatives instead of 2-point
        kws["jac"] = lambda p, **_: objective.residual_jacobian(p)
    # The least-squares solver factorises a (points × parameters) Jacobian every iteration: a small dense problem for
    # which threaded BLAS only adds overhead (6–25× slower with two threads on a busy two-core machine).
    with threadpool_limits(limits=options.blas_threads, user_api="blas"):
        out = minimizer.minimize(method=options.method, **kws)
    covariance = None if out.covar is None else np.array(out.covar)
    var_names = tuple(out.var_names)
    extra_warnings = []
    if out.nvarys and not out.errorbars:
        bad, good, cov = _partial_errorbars(objective, out)
        if bad:
            extra_warnings.append(f"not determined by the data (singular direction): {', '.join(bad)}; fix them or "
                                  "constrain them" + ("; esds of the others computed without them" if cov is not None
                                                      else ""))
        if cov is not None:
            covariance, var_names = cov, tuple(good)
    refined = out.params
    ycalc = objective.evaluate(refined)
    nvary = int(out.nvarys)
    stats = _statistics(objective, ycalc, nvary)
    curves = {
        d.name: Curves(x=d.pattern.x, observed=d.pattern.y, calculated=ycalc[d.name], sigma=d.pattern.sigma,
                       mask=d.mask, unit=d.pattern.unit, components=dict((components or {}).get(d.name, {})))
        for d in objective.datasets
    }
    return FitResult(kind=kind, converged=bool(out.success), message=str(out.message), params=refined,
                     statistics=_joint(stats, objective, nvary), dataset_statistics=stats, curves=curves,
                     warnings=tuple(_trust_warnings(objective, out, refined)) + tuple(extra_warnings),
                     nfev=int(out.nfev), covariance=covariance, var_names=var_names)
