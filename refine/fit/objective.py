"""The objective every fit minimises: weighted residuals of one or more datasets plus restraint rows.

A model is a plain function of ``lmfit.Parameters`` returning the calculated curve on its dataset's full x grid;
several datasets share one ``Parameters`` object (joint X-ray + neutron, Bragg + PDF, all scans of a parametric
series), so ``residual(params) -> ndarray`` works with any lmfit minimizer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import lmfit
import numpy as np

from refine.data import Pattern
from refine.errors import InputError
from refine.fit.expressions import Expression

Model = Callable[[lmfit.Parameters], np.ndarray]


@dataclass(frozen=True)
class Dataset:
    """One observed curve, its model and the points that enter the fit.

    Parameters
    ----------
    name
        Unique name (used for statistics and curve files).
    pattern
        The observed data; ``pattern.sigma`` weights the residual.
    model
        ``model(params) -> ycalc`` on ``pattern.x`` (all points, masked or not).
    mask
        Boolean array, True where a point is fitted (fit range, exclusions removed); None = all points.
    kind
        ``powder`` or ``pdf``: which agreement factors to report.
    weight
        Relative weight of the whole dataset in a joint fit (multiplies its residual rows).
    jacobian
        Optional analytic derivatives ``jacobian(params) -> (len(pattern), nvary)`` of ycalc with respect to the
        varying parameters in the order of ``params`` (expression-constrained parameters chained in); used by
        :func:`~refine.fit.minimize.run_fit` when every dataset has one and there are no restraints.
    notes
        What the fit should say about the data (e.g. points dropped for an unusable σ); added to the warnings of
        every result fitted to this dataset.
    """

    name: str
    pattern: Pattern
    model: Model
    mask: np.ndarray | None = None
    kind: str = "powder"
    weight: float = 1.0
    jacobian: Callable[[lmfit.Parameters], np.ndarray] | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.pattern)
        mask = np.ones(n, dtype=bool) if self.mask is None else np.asarray(self.mask, dtype=bool)
        if mask.shape != (n,):
            raise InputError(self.pattern.source, f"mask has shape {mask.shape}, pattern has {n} points")
        if not mask.any():
            raise InputError(self.pattern.source, "no points left to fit (check the fit range and exclusions)")
        if np.any(self.pattern.sigma[mask] <= 0) or not np.all(np.isfinite(self.pattern.sigma[mask])):
            raise InputError(self.pattern.source, "sigma must be positive and finite at every fitted point")
        if self.kind not in ("powder", "pdf"):
            raise InputError(self.name, f"dataset kind must be 'powder' or 'pdf', got {self.kind!r}")
        mask = mask.copy()
        mask.flags.writeable = False
        object.__setattr__(self, "mask", mask)

    @property
    def npoints(self) -> int:
        """Number of fitted points."""
        return int(np.count_nonzero(self.mask))


def usable_points(pattern: Pattern, mask: np.ndarray, xname: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """``mask`` without the points whose intensity or σ cannot weight a fit (σ ≤ 0 or not finite, y not finite),
    and a note saying how many were dropped and where (``xname``: "2θ", "r"). :class:`InputError` naming the
    pattern when no fitted point is usable (a σ column of zeros or negative numbers), instead of unit weights."""
    sigma, y = pattern.sigma, pattern.y
    usable = np.isfinite(sigma) & (sigma > 0) & np.isfinite(y)
    bad = mask & ~usable
    if not bad.any():
        return mask, ()
    x = pattern.x[mask]
    if not (mask & usable).any():
        raise InputError(pattern.source, f"no usable uncertainty in the fit range {x.min():g}-{x.max():g}: all "
                                         f"{int(mask.sum())} points have σ ≤ 0 or not a number")
    xb = pattern.x[bad]
    note = (f"{int(bad.sum())} point(s) with σ ≤ 0 or a value not a number between {xname} {xb.min():g} and "
            f"{xb.max():g} dropped from the fit")
    return mask & usable, (note,)


def check_determined(npoints: int, nunknowns: int, *, source: str | None, what: str = "refined parameters",
                     hint: str = "widen the fit range or refine fewer parameters") -> None:
    """:class:`InputError` naming ``source`` when fewer points are fitted than there are unknowns: such a fit
    cannot determine them (it would be reported converged with meaningless values)."""
    if npoints < nunknowns:
        raise InputError(source, f"{npoints} fitted point(s) for {nunknowns} {what}: {hint}")


@dataclass(frozen=True)
class Restraint:
    """A soft restraint: the row ``(value(expr) − target) / sigma`` is appended to the residual.

    ``expr`` is an lmfit expression in the parameter names (e.g. a bond length written with parameters,
    or ``nvp_occ_na1 + nvp_occ_na2``).
    """

    expr: str
    target: float
    sigma: float

    def __post_init__(self) -> None:
        # checked and compiled once; the names are checked against the parameters when evaluated
        object.__setattr__(self, "_compiled", Expression.parse(self.expr, source="restraint"))
        if not self.sigma > 0:
            raise InputError("restraint", f"sigma of restraint {self.expr!r} must be positive")


def restraint_rows(restraints: Sequence[Restraint], params: lmfit.Parameters) -> np.ndarray:
    """(value(expr) − target)/σ of each restraint at ``params``; an expression that does not evaluate raises
    :class:`InputError` naming it."""
    if not restraints:
        return np.empty(0)
    values = params.valuesdict()
    return np.asarray([(r._compiled.value(values) - r.target) / r.sigma for r in restraints])


@dataclass(frozen=True)
class Objective:
    """Weighted residuals of all datasets followed by restraint rows."""

    datasets: tuple[Dataset, ...]
    restraints: tuple[Restraint, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        datasets = tuple(self.datasets)
        names = [d.name for d in datasets]
        if not datasets:
            raise InputError("fit", "no dataset to fit")
        if len(set(names)) != len(names):
            raise InputError("fit", f"dataset names must be unique, got {names}")
        object.__setattr__(self, "datasets", datasets)
        object.__setattr__(self, "restraints", tuple(self.restraints))

    @classmethod
    def single(cls, dataset: Dataset, restraints: Sequence[Restraint] = ()) -> Objective:
        """An objective with one dataset."""
        return cls(datasets=(dataset,), restraints=tuple(restraints))

    def evaluate(self, params: lmfit.Parameters) -> dict[str, np.ndarray]:
        """Calculated curve of every dataset on its full grid."""
        return {d.name: np.asarray(d.model(params), dtype=float) for d in self.datasets}

    def restraint_rows(self, params: lmfit.Parameters) -> np.ndarray:
        """One residual row per restraint."""
        return restraint_rows(self.restraints, params)

    @property
    def has_jacobian(self) -> bool:
        """True when every dataset supplies analytic derivatives and there are no restraint rows."""
        return not self.restraints and all(d.jacobian is not None for d in self.datasets)

    def residual_jacobian(self, params: lmfit.Parameters) -> np.ndarray:
        """∂residual/∂(varying parameters), rows as :meth:`residual` (needs :attr:`has_jacobian`)."""
        parts = []
        for d in self.datasets:
            jac = np.asarray(d.jacobian(params), dtype=float)
            m = d.mask
            parts.append(-d.weight * jac[m] / d.pattern.sigma[m][:, None])
        return np.concatenate(parts)

    def residual(self, params: lmfit.Parameters) -> np.ndarray:
        """(yobs − ycalc)/σ over the fitted points of every dataset, then the restraint rows."""
        parts = []
        for d in self.datasets:
            ycalc = np.asarray(d.model(params), dtype=float)
            m = d.mask
            parts.append(d.weight * (d.pattern.y[m] - ycalc[m]) / d.pattern.sigma[m])
        parts.append(self.restraint_rows(params))
        return np.concatenate(parts)
