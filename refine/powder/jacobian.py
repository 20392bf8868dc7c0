"""Analytic Jacobian of a whole-pattern powder fit: ∂y_calc/∂(varying parameters) on the pattern's grid.

y_calc = Σ_k I_r(k) w_k φ_k(x) + b, φ_k the unit-area profile of peak k (Kα1 or Kα2 of reflection r(k), w_k its
line weight), b the background solved inside the objective by weighted linear least squares. So
∂y = (1 − B (√w B)⁺ √w) ∂(Σ I w φ) (the background follows the peaks), and
∂(Σ I w φ) = Σ_k w_k ∂I_r φ_k + I_r w_k (∂2θ_k ∂φ/∂2θ + ∂σ²_k ∂φ/∂σ² + ∂γ_k ∂φ/∂γ + ∂SH/L ∂φ/∂SH/L) + I_r ∂w_k φ_k.
The peak parts come from :mod:`refine.powder.derivatives`, the intensities' from an ``intensities`` callable
(Rietveld: :func:`refine.powder.intensity_derivatives.intensity_derivatives`; Le Bail: held intensities, no
derivative). Columns are computed for the parameters that vary or are expressions and chained onto the varying
ones (:class:`refine.fit.chain.ExpressionChain`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import lmfit
import numpy as np

from refine.fit.chain import ExpressionChain
from refine.powder.derivatives import peak_derivatives, profile_columns, profile_derivatives

#: intensities(params, free, Kα1 positions and derivatives per phase, params.valuesdict()) -> (I per reflection row
#: (all phases), {name: ∂I per row})
Intensities = Callable[[lmfit.Parameters, Collection[str], list, dict], tuple[np.ndarray, dict[str, np.ndarray]]]


class PowderJacobian:
    """``jacobian(params) -> (len(pattern), nvary)`` for a :class:`~refine.powder.model.PowderModel`.

    Parameters
    ----------
    model
        The powder model.
    layout
        Callable returning the frozen peak layout the model is evaluated with (it changes between passes).
    intensities
        See :data:`Intensities`.
    background
        (solve, sw, mask) of the weighted background solve (coefficients = solve @ (sw · (y − peaks)[mask])), or
        None when no background is solved.
    chain
        Expression chain of the parameters.
    """

    def __init__(self, model, layout: Callable, intensities: Intensities, background: tuple | None,
                 chain: ExpressionChain) -> None:
        self.model = model
        self.layout = layout
        self.intensities = intensities
        self.background = background
        self.chain = chain

    def raw_columns(self, params: lmfit.Parameters, free: Collection[str], values: dict | None = None
                    ) -> dict[str, np.ndarray]:
        """∂y/∂(name) on the fit range for every name in ``free`` the model depends on."""
        model = self.model
        p = model.prefix
        values = params.valuesdict() if values is None else values
        pk = peak_derivatives(model, params, values)
        inten, dint = self.intensities(params, free, self._kalpha1_derivatives(pk), values)
        names = sorted(n for n in free if n in dint or n in pk.dpos or n in pk.dsig or n in pk.dgam
                       or n in (f"{p}SH_L", f"{p}ka2_ratio"))
        col = {n: j for j, n in enumerate(names)}
        i_peak = inten[pk.row] * pk.weight * pk.ok
        terms = []
        val_names = [n for n in names if n in dint]
        coef = np.column_stack([dint[n][pk.row] * pk.weight for n in val_names]) if val_names else None
        ka2 = f"{p}ka2_ratio"
        if ka2 in col:
            extra = (inten[pk.row] * ((pk.line == 1) & pk.ok))[:, None]
            coef = extra if coef is None else np.column_stack([coef, extra])
            val_names = [*val_names, ka2]
        if coef is not None:
            terms.append((0, coef, np.array([col[n] for n in val_names])))
        for row, source in ((1, pk.dpos), (2, pk.dsig), (3, pk.dgam)):
            used = [n for n in names if n in source and np.any(source[n])]
            if used:
                coef_rows = np.column_stack([source[n] * i_peak for n in used])
                terms.append((row, coef_rows, np.array([col[n] for n in used])))
        shl = f"{p}SH_L"
        if shl in col:
            terms.append((4, i_peak[:, None], np.array([col[shl]])))
        layout = self.layout()
        prof = profile_derivatives(model.x_fit, pk, layout, values[shl])
        jac_t = profile_columns(prof, layout, terms, len(names), model.x_fit.size)
        if self.background is not None:
            solve, sw, mask = self.background
            coef_b = solve @ (jac_t[:, mask] * sw).T
            jac_t -= coef_b.T @ model.background_basis.T
        return {n: jac_t[j] for j, n in enumerate(names)}

    def _kalpha1_derivatives(self, pk) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Per phase, the Kα1 positions of its reflections and ∂2θ/∂(name) (what the intensity corrections use)."""
        out = []
        for i in range(len(self.model.phases)):
            start, stop = int(self.model.offsets[i]), int(self.model.offsets[i + 1])
            sel = (pk.line == 0) & (pk.row >= start) & (pk.row < stop)
            out.append((np.where(pk.ok[sel], pk.pos[sel], np.nan), {n: c[sel] for n, c in pk.dpos.items()}))
        return out

    def __call__(self, params: lmfit.Parameters) -> np.ndarray:
        varying = [n for n, par in params.items() if par.vary]
        free = set(varying) | set(self.chain.exprs)
        values = params.valuesdict()
        raw = self.raw_columns(params, free, values)
        jac_t = self.chain.combine(raw, values, varying, self.model.x_fit.size)
        out = np.zeros((self.model.pattern.x.size, len(varying)))
        out[self.model.inside] = jac_t.T
        return out
