"""Search–match: which phases of a library make up a powder pattern.

Each candidate's lines (:mod:`refine.powder.phase_index`) are placed at the pattern's wavelengths (Kα1 and Kα2 of a
lab tube) with the instrument's Lorentz–polarization factor and a Gaussian of the pattern's own peak width, over a
lattice-scale search of ±``strain``. A candidate's score is the fraction of the background-free signal (weighted
sum of squares, w = 1/σ²) that its pattern explains with the best non-negative scale — a whole-pattern figure of
merit on positions and intensities, so a phase predicting strong lines where there are none scores low. Mixtures
are built greedily: each step adds the candidate (and lattice scale) that best explains what the phases found so
far leave, then refits all scales jointly (non-negative least squares) and re-searches each phase's lattice scale;
it stops when a new phase explains less than ``min_gain`` of the signal or at ``max_phases``.

Backgrounds are removed first with SNIP (Ryan et al. 1988, Nucl. Instrum. Meth. B 34, 396; the
log-log-square-root variant of Morháč & Matoušek 2008, Appl. Spectrosc. 62, 91). The pattern is resampled onto a
coordinate in which the fitted peak width is constant (u = ∫ d2θ / FWHM(2θ) with FWHM linear in 2θ), so every
candidate's profile is one Gaussian filter of its line histogram.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import nnls
from scipy.signal import find_peaks, peak_widths

from refine import units
from refine.data import Pattern
from refine.errors import InputError
from refine.instrument import Instrument
from refine.powder.corrections import instrument_lorentz_polarization
from refine.powder.phase_index import IndexEntry, PhaseIndex
from refine.powder.search_exact import BACKGROUND_DEGREE, ExactModel

_FWHM_PER_SIGMA = np.sqrt(8.0 * np.log(2.0))
#: Candidates of each greedy step that get the fine lattice-scale search and a joint fit.
_CLOSE_LOOKS = 5
#: A new phase must lower χ² by this many times χ²/dof (an F-test far beyond chance).
_SIGNIFICANCE = 50.0
#: Memory for the coarse profiles kept between the scans of one search (later scans reuse them).
_COARSE_CACHE_BYTES = 400 * 2**20


@dataclass(frozen=True)
class SearchOptions:
    """Settings of a search.

    Attributes
    ----------
    max_phases
        Largest mixture tried (1–4 typical).
    strain
        Lattice scales 1 ± strain are searched (isotropic strain or thermal expansion; 0.02 = ±2 %).
    strain_step
        Step of the lattice-scale grid.
    min_gain
        A phase joins a mixture when it explains at least this fraction of the signal.
    fwhm
        Peak FWHM in deg 2θ; None: measured on the pattern's strongest peaks (linear in 2θ).
    """

    max_phases: int = 4
    strain: float = 0.02
    strain_step: float = 0.0005
    min_gain: float = 0.001
    fwhm: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_phases <= 8:
            raise InputError("max_phases", f"must be 1 to 8, got {self.max_phases}")
        if not 0 <= self.strain < 0.2:
            raise InputError("strain", f"must be >= 0 and < 0.2 (a fraction), got {self.strain}")
        if not 0 < self.strain_step <= max(self.strain, 1e-3):
            raise InputError("strain_step", f"must be > 0 and at most the strain, got {self.strain_step}")
        if self.fwhm is not None and not self.fwhm > 0:
            raise InputError("fwhm", f"must be > 0 deg, got {self.fwhm}")


@dataclass(frozen=True)
class Match:
    """One candidate of the ranked table.

    Attributes
    ----------
    rank
        1 = best; the mixture's phases come first, in the order they were found.
    name, path, formula, space_group
        The library entry.
    score
        Fraction of the signal the phase explains alone (0–1).
    lattice_scale
        The best cell scale (1.01: cell edges 1 % longer than the file's).
    in_mixture
        Whether the phase is part of the proposed mixture.
    gain
        Fraction of the signal the phase added to the mixture (0 when not in it).
    alternative_to
        The mixture phase this one fits exactly as well as (same structure type, told apart by neither positions
        nor intensities at this noise), or None.
    """

    rank: int
    name: str
    path: str
    formula: str
    space_group: str
    score: float
    lattice_scale: float
    in_mixture: bool
    gain: float
    alternative_to: str | None = None


@dataclass(frozen=True, eq=False)
class SearchResult:
    """A ranked table of candidates and the proposed mixture.

    Attributes
    ----------
    matches
        Ranked candidates (the mixture first).
    explained
        Fraction of the signal the mixture explains.
    fwhm
        The peak width used (deg 2θ at the ends of the pattern).
    candidates
        How many library entries were scored.
    """

    matches: tuple[Match, ...]
    explained: float
    fwhm: tuple[float, float]
    candidates: int
    notes: tuple[str, ...] = field(default=())

    @property
    def mixture(self) -> tuple[Match, ...]:
        """The phases of the proposed mixture, in the order found."""
        return tuple(m for m in self.matches if m.in_mixture)

    def table(self, rows: int = 10) -> str:
        """The ranked table as text."""
        lines = [f"{'rank':>4} {'phase':<28} {'formula':<18} {'space group':<12} {'score':>6} {'scale':>7} mixture"]
        for m in self.matches[:rows]:
            mark = f"+{100 * m.gain:.1f}%" if m.in_mixture else f"(or {m.alternative_to})" if m.alternative_to else ""
            lines.append(f"{m.rank:>4} {m.name[:28]:<28} {m.formula[:18]:<18} {m.space_group[:12]:<12} "
                         f"{m.score:6.3f} {m.lattice_scale:7.4f} {mark}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"explained": self.explained, "fwhm": list(self.fwhm), "candidates": self.candidates,
                "notes": list(self.notes), "matches": [m.__dict__.copy() for m in self.matches]}


@dataclass(frozen=True, eq=False)
class _Grid:
    """The pattern on a grid of constant peak width: u (index units), 2θ at each point, net signal, weights."""

    two_theta: np.ndarray
    net: np.ndarray
    weight: np.ndarray
    sigma_points: float
    u_of: object  # callable 2θ -> fractional index
    fwhm: tuple[float, float]
    x: np.ndarray  # the pattern's own 2θ, net signal and weights (for the exact stage)
    net_x: np.ndarray
    y_x: np.ndarray  # the counts themselves: the exact stage fits its own background
    weight_x: np.ndarray


def search_match(pattern: Pattern, index: PhaseIndex, instrument: Instrument,
                 options: SearchOptions | None = None) -> SearchResult:
    """Rank the library's phases against ``pattern`` and propose a mixture (see the module docstring).

    Raises
    ------
    InputError
        An empty library, a pattern not in 2θ, or a pattern without peaks.
    """
    options = options or SearchOptions()
    if len(index) == 0:
        raise InputError(index.folder, "no library phase to compare with (check --elements)")
    if pattern.unit != units.TTH_DEG:
        raise InputError(pattern.source or "pattern", f"search–match needs a pattern in 2θ, got {pattern.unit}")
    grid = _grid(pattern, instrument, options)
    search = _Search(index, grid, instrument, options)
    scores, scales = search.scan(grid.net)
    search.mixture(scores)
    return search.ranked(scores, scales)


class _Search:
    """The state of one search: fine-strain profiles of the candidates looked at closely, the mixture so far."""

    def __init__(self, index: PhaseIndex, grid: _Grid, instrument: Instrument, options: SearchOptions) -> None:
        self.index, self.grid, self.instrument, self.options = index, grid, instrument, options
        self.strains = np.arange(-options.strain, options.strain + options.strain_step / 2, options.strain_step)
        self.coarse = self.strains[:: max(1, round(0.001 / options.strain_step))]
        self.total = float(np.sum(grid.weight * grid.net**2))
        self.sw = np.sqrt(grid.weight)
        self.fine: dict[int, np.ndarray] = {}
        self.coarse_cache: dict[int, np.ndarray] = {}
        self.chosen: list[int] = []
        self.at: dict[int, int] = {}
        self.gains: dict[int, float] = {}
        self.exact = ExactModel(grid.x, grid.y_x, grid.weight_x, index.entries, instrument, float(np.mean(grid.fwhm)))
        self.exact_total = float(np.sum(grid.weight_x * grid.net_x**2))
        self.exact_fit = self.exact.fit([])
        self.scale_of: dict[int, float] = {}
        self.alternatives: list[tuple[int, int, float]] = []  # (entry, the chosen one it could be, lattice scale)

    def columns(self, i: int) -> np.ndarray:
        if i not in self.fine:
            self.fine[i] = _columns(self.index.entries[i], self.strains, self.grid, self.instrument)
        return self.fine[i]

    def scan(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every entry's best single gain (fraction of the signal) on ``target`` over the coarse strains."""
        scores, scales = np.zeros(len(self.index)), np.ones(len(self.index))
        for i, entry in enumerate(self.index.entries):
            gain = _single_gains(self._coarse_columns(i, entry), target, self.grid.weight)
            best = int(np.argmax(gain))
            scores[i], scales[i] = gain[best] / self.total, 1 + self.coarse[best]
        return scores, scales

    def _coarse_columns(self, i: int, entry: IndexEntry) -> np.ndarray:
        """The coarse-strain profiles of entry ``i``, kept (float32) while they fit in _COARSE_CACHE_BYTES."""
        if i in self.coarse_cache:
            return self.coarse_cache[i]
        columns = _columns(entry, self.coarse, self.grid, self.instrument)
        if (len(self.coarse_cache) + 1) * columns.size * 4 <= _COARSE_CACHE_BYTES:
            self.coarse_cache[i] = columns.astype(np.float32)
        return columns

    def mixture(self, first_scores: np.ndarray) -> None:
        """Greedy: each step scans what the phases found so far leave, looks closely at the best few (fast model)
        and keeps the best when the exact model confirms it; then each phase's look-alikes are compared."""
        scores, residual = first_scores, self.grid.net
        while len(self.chosen) < self.options.max_phases:
            if self.chosen:
                scores, _ = self.scan(residual)
            looks = [int(i) for i in np.argsort(-scores) if scores[i] > 0 and not self._same_as_chosen(int(i))]
            best = None
            for i in looks[:_CLOSE_LOOKS]:
                at = _refine_strains(self.chosen + [i], {**self.at, i: self._best_strain(i, residual)},
                                     self.columns, self.grid.net, self.sw)
                ss, _ = _joint(self.chosen + [i], at, self.columns, self.grid.net, self.sw)
                if best is None or ss < best[0]:
                    best = (ss, i, at)
            if best is None or not self._confirm(best[1], 1 + float(self.strains[best[2][best[1]]])):
                break
            self.at = {i: best[2][i] for i in self.chosen}
            residual = np.interp(self.grid.two_theta, self.grid.x, self.exact_fit.residual)
        self._look_alikes()

    def _confirm(self, new: int, scale: float) -> bool:
        """Add ``new`` when the exact joint fit improves χ² by ``min_gain`` of the signal and significantly."""
        phases = [(i, self.scale_of[i]) for i in self.chosen] + [(new, scale)]
        scale, fit = self.exact.best_scale(phases, len(phases) - 1, 2 * self.options.strain_step)
        drop = self.exact_fit.chi2 - fit.chi2
        dof = max(len(self.grid.x) - len(phases) - BACKGROUND_DEGREE - 1, 1)
        if drop / self.exact_total < self.options.min_gain or drop < _SIGNIFICANCE * fit.chi2 / dof:
            return False
        if fit.amplitudes[-1] <= 0:
            return False
        self.chosen.append(new)
        self.scale_of[new] = scale
        self.gains[new] = drop / self.exact_total
        self.exact_fit = fit
        return True

    def _look_alikes(self) -> None:
        """Swap each phase for the library entry of its structure type that fits best with the exact model; the
        others that fit as well within the noise (Δχ² < 2√(2n)) are kept as its alternatives."""
        tied = 2.0 * np.sqrt(2.0 * len(self.grid.x))
        for k, i in enumerate(list(self.chosen)):
            phases = [(j, self.scale_of[j]) for j in self.chosen]
            best = (self.exact_fit.chi2, i, self.scale_of[i], self.exact_fit)
            tried = [(self.exact_fit.chi2, i, self.scale_of[i])]
            for j, entry in enumerate(self.index.entries):
                if j == i or j in self.chosen or not same_type(entry, self.index.entries[i]):
                    continue
                ratio = float(np.mean(np.divide(self.index.entries[i].cell[:3], entry.cell[:3])))
                start = float(np.clip(self.scale_of[i] * ratio, 1 - self.options.strain, 1 + self.options.strain))
                trial = list(phases)
                trial[k] = (j, start)
                scale, fit = self.exact.best_scale(trial, k, 2 * self.options.strain_step)
                tried.append((fit.chi2, j, scale))
                if fit.chi2 < best[0]:
                    best = (fit.chi2, j, scale, fit)
            if best[1] != i:
                j = best[1]
                self.chosen[k] = j
                self.scale_of[j] = best[2]
                self.gains[j] = self.gains.pop(i)
                self.exact_fit = best[3]
            for chi2, j, scale in sorted(tried):
                if j != best[1] and chi2 - best[0] < tied:
                    self.alternatives.append((j, best[1], scale))

    def _same_as_chosen(self, i: int) -> bool:
        """Already chosen, or the same structure type as a chosen phase (an alternative to it, not a new phase)."""
        return any(i == j or same_type(self.index.entries[i], self.index.entries[j]) for j in self.chosen)

    def _best_strain(self, i: int, residual: np.ndarray) -> int:
        return int(np.argmax(_single_gains(self.columns(i), residual, self.grid.weight)))

    def ranked(self, scores: np.ndarray, scales: np.ndarray) -> SearchResult:
        alike = {j: (chosen, scale) for j, chosen, scale in self.alternatives if chosen in self.chosen}
        first = list(self.chosen) + [j for j in alike if j not in self.chosen]
        order = first + [int(i) for i in np.argsort(-scores) if int(i) not in first]
        matches = []
        for rank, i in enumerate(order, start=1):
            entry, mixed = self.index.entries[i], i in self.chosen
            scale = self.scale_of[i] if mixed else alike[i][1] if i in alike else float(scales[i])
            matches.append(Match(rank=rank, name=entry.name, path=entry.path, formula=entry.formula,
                                 space_group=entry.space_group, score=float(scores[i]), lattice_scale=scale,
                                 in_mixture=mixed, gain=float(self.gains.get(i, 0.0)) if mixed else 0.0,
                                 alternative_to=self.index.entries[alike[i][0]].name if i in alike else None))
        explained = 1 - self.exact_fit.chi2 / self.exact_total
        return SearchResult(matches=tuple(matches), explained=explained, fwhm=self.grid.fwhm,
                            candidates=len(self.index))


def same_type(first: IndexEntry, second: IndexEntry, tolerance: float = 0.03) -> bool:
    """Same space group and cell edges within ``tolerance`` (relative): one structure type, hardly told apart."""
    if first.space_group != second.space_group:
        return False
    return all(abs(p / q - 1) <= tolerance for p, q in zip(first.cell[:3], second.cell[:3], strict=True))


def _joint(chosen, at, columns, net, sw) -> tuple[float, np.ndarray]:
    """Weighted residual sum of squares and non-negative amplitudes of the phases at their lattice scales."""
    matrix = np.stack([columns(i)[at[i]] * sw for i in chosen], axis=1)
    amplitudes, norm = nnls(matrix, net * sw)
    return float(norm**2), amplitudes


def _refine_strains(chosen, at, columns, net, sw, window: int = 4) -> dict[int, int]:
    """Each phase's lattice scale searched again within ``window`` steps, the others' amplitudes refitted (one pass
    of coordinate descent; the exact stage refines the scale continuously afterwards)."""
    at = dict(at)
    for i in chosen:
        others = [j for j in chosen if j != i]
        best_k, best_ss = at[i], np.inf
        for k in range(max(at[i] - window, 0), min(at[i] + window + 1, len(columns(i)))):
            ss, _ = _joint(others + [i], {**at, i: k}, columns, net, sw)
            if ss < best_ss:
                best_k, best_ss = k, ss
        at[i] = best_k
    return at


def _single_gains(columns: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """For each column p: the weighted SS of ``target`` removed by the best scale a >= 0 of p."""
    num = columns @ (weight * target)
    den = (columns**2) @ weight
    return np.where((num > 0) & (den > 0), num**2 / np.where(den > 0, den, 1.0), 0.0)


def _columns(entry: IndexEntry, strains: np.ndarray, grid: _Grid, instrument: Instrument) -> np.ndarray:
    """The candidate's profile at each lattice scale 1 + strain on the grid, shape (len(strains), n_points)."""
    n = len(grid.net)
    hist = np.zeros((len(strains), n))
    lo, hi = grid.two_theta[0], grid.two_theta[-1]
    for wavelength, weight in instrument.lines:
        sin_theta = wavelength / (2.0 * np.outer(1.0 + strains, entry.d))
        ok = sin_theta < 1.0
        tth = np.full(sin_theta.shape, np.nan)
        tth[ok] = 2.0 * np.degrees(np.arcsin(sin_theta[ok]))
        ok &= (tth > lo) & (tth < hi)
        rows, cols = np.nonzero(ok)
        t = tth[rows, cols]
        height = weight * entry.intensity[cols] * instrument_lorentz_polarization(instrument, t)
        f = grid.u_of(t)
        base = np.clip(np.floor(f).astype(int), 0, n - 2)
        frac = f - base
        flat = rows * n + base
        hist += np.bincount(flat, height * (1 - frac), minlength=hist.size).reshape(hist.shape)
        hist += np.bincount(flat + 1, height * frac, minlength=hist.size).reshape(hist.shape)
    return gaussian_filter1d(hist, grid.sigma_points, axis=1, mode="constant", truncate=4.0)


def _grid(pattern: Pattern, instrument: Instrument, options: SearchOptions) -> _Grid:
    """Background removed, peak width measured, and the pattern resampled onto a grid of constant width."""
    x, y = np.asarray(pattern.x, float), np.asarray(pattern.y, float)
    sigma = np.asarray(pattern.sigma, float)
    good = np.isfinite(y) & np.isfinite(sigma) & (sigma > 0)
    x, y, sigma = x[good], y[good], sigma[good]
    if len(x) < 50:
        raise InputError(pattern.source or "pattern", f"too few points for search–match ({len(x)})")
    step = float(np.median(np.diff(x)))
    net = y - snip_background(y, max(10, int(round(2.0 / step * 0.1))))  # refined below with the measured width
    a, b = _width_model(x, net, sigma, step, options.fwhm)
    net = y - snip_background(y, max(10, int(np.ceil(6.0 * (a + b * x.mean()) / step))))
    # u(2θ) = ln(a + b 2θ)/b (or 2θ/a): FWHM is 1 in u, so one Gaussian serves the whole range
    points_per_fwhm = 4.0

    def u_of(t, a=a, b=b):
        raw = np.log((a + b * np.asarray(t)) / (a + b * x[0])) / b if b > 1e-9 else (np.asarray(t) - x[0]) / a
        return raw * points_per_fwhm

    n = int(np.floor(u_of(x[-1]))) + 1
    u_grid = np.arange(n, dtype=float)
    tth = x[0] + ((np.exp(u_grid / points_per_fwhm * b) - 1.0) * (a + b * x[0]) / b if b > 1e-9
                  else u_grid / points_per_fwhm * a)
    net_u = np.interp(tth, x, net)
    # points merged into one grid cell average their noise down: weight by the number of original points per cell
    density = np.gradient(u_of(x))
    var_u = np.interp(tth, x, sigma**2 * np.clip(density, 1e-6, None))
    fwhm = (a + b * x[0], a + b * x[-1])
    return _Grid(two_theta=tth, net=net_u, weight=1.0 / var_u, sigma_points=points_per_fwhm / _FWHM_PER_SIGMA,
                 u_of=u_of, fwhm=fwhm, x=x, net_x=net, y_x=y, weight_x=1.0 / sigma**2)


def _width_model(x, net, sigma, step, fwhm) -> tuple[float, float]:
    """FWHM(2θ) = a + b·2θ (deg) from the pattern's strongest isolated peaks, or the given constant."""
    if fwhm is not None:
        return float(fwhm), 0.0
    smooth = gaussian_filter1d(net, 1.0)
    peaks, props = find_peaks(smooth, prominence=8 * np.median(sigma), distance=3)
    if len(peaks) == 0:
        raise InputError("pattern", "no peaks found above the noise: nothing to identify")
    top = peaks[np.argsort(props["prominences"])[::-1][:20]]
    widths = peak_widths(smooth, top, rel_height=0.5)[0] * step
    keep = widths > 0
    top, widths = top[keep], widths[keep]
    narrow = widths <= np.percentile(widths, 60)  # doublets and overlaps are broader: use the narrower ones
    if narrow.sum() >= 4 and np.ptp(x[top[narrow]]) > 0:
        b, a = np.polyfit(x[top[narrow]], widths[narrow], 1)
        b = max(float(b), 0.0)
        a = float(np.median(widths[narrow] - b * x[top[narrow]]))
        if a + b * x[0] > 0:
            return a, b
    return float(np.median(widths)), 0.0


def snip_background(y: np.ndarray, iterations: int) -> np.ndarray:
    """SNIP background (Ryan et al. 1988) with the LLS operator (Morháč & Matoušek 2008), decreasing window."""
    v = np.log(np.log(np.sqrt(np.clip(y, 0, None) + 1.0) + 1.0) + 1.0)
    n = len(v)
    for p in range(min(iterations, (n - 1) // 2), 0, -1):
        mean = 0.5 * (v[: n - 2 * p] + v[2 * p:])
        v[p: n - p] = np.minimum(v[p: n - p], mean)
    return (np.exp(np.exp(v) - 1.0) - 1.0) ** 2 - 1.0

