"""User constraints as lmfit expressions, the same for every fit (powder and PDF)."""

from __future__ import annotations

from collections.abc import Iterable

import lmfit
import numpy as np

from refine.errors import InputError


def apply_constraints(params: lmfit.Parameters, constraints: Iterable[tuple[str, str]]) -> lmfit.Parameters:
    """Set each (name, lmfit expression) constraint on a copy of ``params`` (the name stops varying); a name or
    expression that does not work raises :class:`InputError` naming it."""
    constraints = tuple(constraints)
    if not constraints:
        return params
    params = params.copy()
    for name, expr in constraints:
        if name not in params:
            raise InputError("--constrain", f"no parameter {name!r} to constrain (see the names in a fit report)")
        try:
            params[name].set(expr=expr)
            params.update_constraints()
        except (NameError, SyntaxError, ValueError, TypeError, ZeroDivisionError) as err:
            raise InputError("--constrain", f"{name} = {expr}: {err}") from None
        value = params[name].value
        if value is None or not np.isfinite(value):
            raise InputError("--constrain", f"{name} = {expr} does not give a finite number")
    return params
