"""X-ray atomic form factors and the composition averages the PDF normalisation needs.

Form factors are Waasmaier & Kirfel, Acta Cryst. A51 (1995) 416, through the one lookup of refine,
:func:`refine.crystal.scattering.form_factor`, which takes s = sin(θ)/λ = Q/(4π), not Q.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from refine.crystal.scattering import form_factor
from refine.pdf.composition import atomic_fractions


def xray_form_factor(element: str, q: ArrayLike) -> np.ndarray:
    """f0(Q) of a neutral atom or ion (electrons), Q in Å⁻¹."""
    q = np.asarray(q, dtype=float)
    return np.asarray(form_factor(element, q / (4.0 * np.pi), source="composition"), dtype=float).reshape(q.shape)


def form_factor_averages(composition: Mapping[str, float] | str, q: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Composition averages ``(⟨f⟩², ⟨f²⟩)`` at each Q.

    ⟨f⟩ = Σ c_i f_i(Q) and ⟨f²⟩ = Σ c_i f_i(Q)² with mole fractions c_i (Egami & Billinge, ch. 3;
    S(Q) = 1 + [I_c(Q) − ⟨f²⟩]/⟨f⟩² for I_c in electron units per atom).
    """
    q = np.asarray(q, dtype=float)
    fractions = atomic_fractions(composition)
    favg = np.zeros_like(q)
    f2avg = np.zeros_like(q)
    for element, c in fractions.items():
        fi = xray_form_factor(element, q)
        favg += c * fi
        f2avg += c * fi * fi
    return favg * favg, f2avg
