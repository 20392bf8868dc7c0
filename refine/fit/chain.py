"""Chain rule through lmfit's expression constraints, for analytic Jacobians.

A model differentiates its curve with respect to the parameters it reads (``raw`` columns: e.g. ``pbso4_b`` even
when ``pbso4_b`` is the expression ``pbso4_a``); the minimiser needs derivatives with respect to the varying
parameters. :class:`ExpressionChain` gives ∂(expression parameter)/∂(varying parameter) by central differences of
each compiled expression in the names it reads (checked arithmetic, :class:`refine.fit.expressions.Expression`,
no asteval; exact for the linear constraints of cells, sites and mixed occupancies, ~1e-10 relative otherwise),
composed through expressions of expressions. ``least_squares`` passes bounds to scipy natively, so no bound
transform enters the derivatives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import lmfit
import numpy as np

from refine.errors import InputError
from refine.fit.expressions import Expression


class ExpressionChain:
    """The expression parameters of one ``lmfit.Parameters`` layout, compiled once.

    Raises
    ------
    InputError
        When an expression is not plain arithmetic (the caller then falls back to finite differences).
    """

    def __init__(self, params: lmfit.Parameters) -> None:
        self.exprs: dict[str, Expression] = {}
        for name, par in params.items():
            if par.expr:
                self.exprs[name] = Expression.parse(par.expr, source=f"constraint of {name}")

    @classmethod
    def build(cls, params: lmfit.Parameters) -> ExpressionChain | None:
        """The chain of ``params``, or None when an expression cannot be differentiated here."""
        try:
            return cls(params)
        except InputError:
            return None

    def matches(self, params: lmfit.Parameters) -> bool:
        """True when ``params`` carries the same expressions (a chain is reused across fit stages)."""
        return {n: p.expr for n, p in params.items() if p.expr} == {n: e.text for n, e in self.exprs.items()}

    def derivatives(self, values: Mapping[str, float], varying: Sequence[str]) -> dict[str, dict[str, float]]:
        """∂(expression parameter)/∂(varying parameter), non-zero entries only: {derived: {varying: value}}."""
        vary = set(varying)
        memo: dict[str, dict[str, float]] = {}

        def total(name: str, depth: int = 0) -> dict[str, float]:
            if name in vary:
                return {name: 1.0}
            if name not in self.exprs:
                return {}
            if name in memo:
                return memo[name]
            if depth > len(self.exprs):
                raise InputError(f"constraint of {name}", "circular expression constraints")
            expr = self.exprs[name]
            out: dict[str, float] = {}
            for ref in expr.names:
                if ref not in values:
                    continue
                inner = total(ref, depth + 1)
                if not inner:
                    continue
                slope = _partial(expr, values, ref)
                if slope == 0.0:
                    continue
                for var, k in inner.items():
                    out[var] = out.get(var, 0.0) + slope * k
            memo[name] = out
            return out

        return {name: d for name in self.exprs if (d := total(name))}

    def combine(self, raw: Mapping[str, np.ndarray], values: Mapping[str, float], varying: Sequence[str],
                nrows: int) -> np.ndarray:
        """∂y/∂(varying) from ``raw`` ∂y/∂(name) of any parameter names (varying or derived), each a vector of
        ``nrows`` values; returned transposed, shape (len(varying), nrows)."""
        chain = self.derivatives(values, varying)
        index = {n: j for j, n in enumerate(varying)}
        jac_t = np.zeros((len(varying), nrows))
        for name, column in raw.items():
            if name in index:
                jac_t[index[name]] += column
            for var, k in chain.get(name, {}).items():
                jac_t[index[var]] += k * column
        return jac_t


def _partial(expr: Expression, values: Mapping[str, float], name: str) -> float:
    """∂expr/∂name at ``values`` by central differences (step 1e-6 relative)."""
    v0 = float(values[name])
    h = 1e-6 * max(abs(v0), 1e-3)
    scope = dict(values)
    scope[name] = v0 + h
    hi = expr.value(scope)
    scope[name] = v0 - h
    lo = expr.value(scope)
    return (hi - lo) / (2.0 * h)
