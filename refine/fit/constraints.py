"""User constraints as lmfit expressions, the same for every fit (powder and PDF)."""

from __future__ import annotations

from collections.abc import Iterable

import lmfit
import numpy as np

from refine.errors import InputError
from refine.fit.expressions import check_expression


def set_expression(params: lmfit.Parameters, name: str, expr: str, *, source: str = "constrain") -> None:
    """``params[name].set(expr=expr)`` after :func:`~refine.fit.expressions.check_expression` accepted ``expr``
    as arithmetic over the names in ``params`` (lmfit's interpreter never sees anything else)."""
    check_expression(expr, params.keys(), source=source)
    params[name].set(expr=expr)


def apply_constraints(params: lmfit.Parameters, constraints: Iterable[tuple[str, str]], *,
                      source: str = "constrain") -> lmfit.Parameters:
    """Set each (name, lmfit expression) constraint on a copy of ``params`` (the name stops varying); a name or
    expression that does not work raises :class:`InputError` naming it (``source``: the option or field)."""
    constraints = tuple(constraints)
    if not constraints:
        return params
    params = params.copy()
    for name, expr in constraints:
        if name not in params:
            raise InputError(source, f"no parameter {name!r} to constrain (see the names in a fit report)")
        check_expression(expr, params.keys(), source=source)
        try:
            params[name].set(expr=expr)
            params.update_constraints()
        except RecursionError:
            raise InputError(source, f"{name} = {expr}: circular (the expression depends on {name} itself)") from None
        except (NameError, SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError) as err:
            raise InputError(source, f"{name} = {expr}: {err}") from None
        value = params[name].value
        if value is None or not np.isfinite(value):
            raise InputError(source, f"{name} = {expr} does not give a finite number")
    return params
