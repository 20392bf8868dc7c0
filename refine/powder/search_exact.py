"""The exact stage of search–match: candidates compared with the full powder model of the instrument.

The fast scan of :mod:`refine.powder.search_match` uses a Gaussian of the pattern's width and tells structure types
apart; phases of one type with nearly the same cell (bcc Nb and Ta, W and Mo) differ only in their intensities,
which need the real profile (the instrument's, with Kα2), form factors and Debye–Waller factors. Here each phase's
pattern is calculated once with :func:`refine.powder.calculated.calculated_peaks` at its lattice scale; small
changes of the scale remap it (sin θ ∝ 1/scale for every line, Kα2 included) instead of recalculating it. The
background left by SNIP is absorbed by a free Chebyshev polynomial in each joint fit (non-negative phase scales,
bounded linear least squares).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from refine.crystal.lattice import Lattice
from refine.errors import InputError
from refine.instrument import Instrument, Profile
from refine.powder.calculated import calculated_peaks
from refine.powder.phase_index import IndexEntry

#: Degree of the Chebyshev background of the joint fits.
BACKGROUND_DEGREE = 8


@dataclass(frozen=True, eq=False)
class ExactFit:
    """A joint fit: χ², the phases' amplitudes (same order as given) and the weighted residual target − model."""

    chi2: float
    amplitudes: np.ndarray
    residual: np.ndarray


class ExactModel:
    """Exact patterns of library entries on the pattern's own 2θ grid, and joint fits of them.

    Parameters
    ----------
    x, net, weight
        2θ (deg), the background-free signal and its weights 1/σ².
    entries
        The library entries (indexed by position).
    instrument
        The instrument; when it has no profile, a Gaussian of the measured width ``fwhm`` (deg) stands in.
    """

    def __init__(self, x: np.ndarray, net: np.ndarray, weight: np.ndarray, entries: tuple[IndexEntry, ...],
                 instrument: Instrument, fwhm: float) -> None:
        self.x, self.net, self.weight, self.entries = x, net, weight, entries
        self.sw = np.sqrt(weight)
        self.instrument = _with_profile(instrument, fwhm)
        t = 2.0 * (x - x[0]) / (x[-1] - x[0]) - 1.0
        self.background = np.polynomial.chebyshev.chebvander(t, BACKGROUND_DEGREE)
        self._cache: dict[int, tuple[float, np.ndarray]] = {}

    def column(self, i: int, scale: float) -> np.ndarray:
        """Entry ``i``'s pattern with its cell edges × ``scale`` (remapped from the one calculated pattern)."""
        if i not in self._cache:
            self._cache[i] = (scale, self._calculate(i, scale))
        scale0, pattern = self._cache[i]
        # a line at sin θ0 for scale0 moves to sin θ = sin θ0 · scale0/scale: read the pattern at θ0(θ)
        s = np.sin(np.radians(self.x / 2.0)) * scale / scale0
        inside = s < 1.0
        x0 = np.where(inside, 2.0 * np.degrees(np.arcsin(np.clip(s, 0.0, 1.0))), np.inf)
        return np.interp(x0, self.x, pattern, left=0.0, right=0.0)

    def _calculate(self, i: int, scale: float) -> np.ndarray:
        structure = self.entries[i].structure()
        lat = structure.lattice
        scaled = structure.replace(lattice=Lattice(lat.a * scale, lat.b * scale, lat.c * scale, lat.alpha, lat.beta,
                                                   lat.gamma))
        try:
            return calculated_peaks(self.x, [scaled], self.instrument)
        except InputError:  # no f'/f'' for the element (Chantler ends at U): without dispersion
            return calculated_peaks(self.x, [scaled], self.instrument, dispersion=False)

    def fit(self, phases: list[tuple[int, float]]) -> ExactFit:
        """Joint fit of the phases (entry, lattice scale) with scales >= 0 and a free background polynomial."""
        columns = [self.column(i, s) for i, s in phases]
        # a free background term is the difference of two non-negative ones: one NNLS solves the bounded problem
        design = np.column_stack([*columns, self.background, -self.background])
        matrix = design * self.sw[:, None]
        norms = np.linalg.norm(matrix, axis=0)
        norms[norms == 0] = 1.0
        solution, _ = nnls(matrix / norms, self.net * self.sw, maxiter=50 * design.shape[1])
        coefficients = solution / norms
        residual = self.net - design @ coefficients
        return ExactFit(chi2=float(np.sum(self.weight * residual**2)), amplitudes=coefficients[: len(columns)],
                        residual=residual)

    def best_scale(self, phases: list[tuple[int, float]], which: int, span: float) -> tuple[float, ExactFit]:
        """Lattice scale of ``phases[which]`` minimising χ² within ±``span`` of its start (golden section)."""
        i, start = phases[which]

        def chi2(scale: float) -> float:
            trial = list(phases)
            trial[which] = (i, scale)
            return self.fit(trial).chi2

        lo, hi = start - span, start + span
        ratio = (np.sqrt(5.0) - 1.0) / 2.0
        c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        fc, fd = chi2(c), chi2(d)
        for _ in range(10):
            if fc < fd:
                hi, d, fd = d, c, fc
                c = hi - ratio * (hi - lo)
                fc = chi2(c)
            else:
                lo, c, fc = c, d, fd
                d = lo + ratio * (hi - lo)
                fd = chi2(d)
        best = c if fc < fd else d
        trial = list(phases)
        trial[which] = (i, best)
        return best, self.fit(trial)


def _with_profile(instrument: Instrument, fwhm: float) -> Instrument:
    """The instrument, or with a Gaussian of FWHM ``fwhm`` deg when it has no profile widths at all."""
    profile = instrument.profile
    if any(getattr(profile, name) for name in ("U", "V", "W", "X", "Y")):
        return instrument
    sigma_centideg = fwhm * 100.0 / np.sqrt(8.0 * np.log(2.0))
    return instrument.replace(profile=Profile(W=sigma_centideg**2, sh_l=profile.sh_l))
