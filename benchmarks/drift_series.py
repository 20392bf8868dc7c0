"""A seeded synthetic operando series of NASICON Na3V2(PO4)3 (R-3c) whose a and c drift along a known path.

``make_drift_series(out, n_scans, drift, seed)`` writes ``out/scan_<i>.xye`` (i = 0 .. n_scans-1, unpadded, so
natural sorting matters) and returns a :class:`DriftSeries` with the paths and the true cell of every scan. The
path: a shrinks and c grows smoothly (a cosine ramp, steepest in the middle of the series) so that at the last scan
a = A0·(1 − drift) and c = C0·(1 + drift); ``drift = 0.01`` is the issue's 1 % series.

Peak positions are computed from the true cell of each scan (hexagonal d-spacings of pymatgen's reflection list at
scan 0), intensities are pymatgen's (independent of refine) for the scan-0 structure, peak shapes refine's TCH
profile (U V W X Y SH/L = 1, −0.3, 0.5, 0.5, 1, 0.002), 0.72 Å, Poisson noise with seed ``seed + i`` on a sloped
background. ``points`` and ``tth`` make small patterns for tests (the default: 3000 points, 6–24° 2θ).

Used by ``benchmarks/bench_sequential.py`` and the tests of ``refine sequential``; the lean helper's benchmarks may
import it too (``sys.path`` must hold the repository root).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CIF = ROOT / "tests" / "data" / "Na3V2PO43_NASICON.cif"
WAVELENGTH = 0.72
A0, C0 = 8.728, 21.804
PROFILE = {"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.002}


@dataclass(frozen=True)
class DriftSeries:
    """The written files and the true hexagonal cell (a, c) and volume of each scan."""

    paths: tuple[Path, ...]
    a: tuple[float, ...]
    c: tuple[float, ...]

    @property
    def volume(self) -> tuple[float, ...]:
        """True cell volumes (Å³), a² c sin(120°)."""
        return tuple(a * a * c * math.sqrt(3.0) / 2.0 for a, c in zip(self.a, self.c, strict=True))


def true_cell(index: int, n_scans: int, drift: float) -> tuple[float, float]:
    """(a, c) of scan ``index``: a cosine ramp from (A0, C0) to (A0(1−drift), C0(1+drift))."""
    t = 0.0 if n_scans < 2 else index / (n_scans - 1)
    ramp = 0.5 * (1.0 - math.cos(math.pi * t))
    return A0 * (1.0 - drift * ramp), C0 * (1.0 + drift * ramp)


@lru_cache(maxsize=4)
def _reflections(lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """(h, k, l) rows and intensities of scan 0's structure in 2θ ``lo``..``hi`` (pymatgen)."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.core import Lattice, Structure

    structure = Structure.from_file(str(CIF))
    structure.lattice = Lattice.hexagonal(A0, C0)
    pattern = XRDCalculator(wavelength=WAVELENGTH).get_pattern(structure, scaled=False, two_theta_range=(lo, hi))
    hkl = []
    for family in pattern.hkls:
        index = family[0]["hkl"]
        hkl.append((index[0], index[1], index[-1]))  # Miller-Bravais (h k i l) -> (h k l)
    return np.asarray(hkl, dtype=float), np.asarray(pattern.y, dtype=float)


def _positions(hkl: np.ndarray, a: float, c: float) -> np.ndarray:
    h, k, l_ = hkl.T
    inv_d2 = 4.0 / 3.0 * (h * h + h * k + k * k) / (a * a) + l_ * l_ / (c * c)
    return 2.0 * np.degrees(np.arcsin(WAVELENGTH * np.sqrt(inv_d2) / 2.0))


def simulate_scan(a: float, c: float, x: np.ndarray, *, seed: int, counts: float = 20000.0,
                  background: float = 300.0):
    """One pattern (refine :class:`~refine.data.Pattern`) of the NASICON cell (a, c) on the grid ``x``."""
    from refine.data import Pattern
    from refine.powder.peaks import WindowOptions, profile_matrix
    from refine.powder.peakshape import gaussian_variance, lorentzian_fwhm, tch_fwhm_eta

    hkl, intensities = _reflections(float(x[0]) - 1.0, float(x[-1]) + 1.0)
    pos = _positions(hkl, a, c)
    sig2 = gaussian_variance(pos, U=PROFILE["U"], V=PROFILE["V"], W=PROFILE["W"])
    fwhm, eta = tch_fwhm_eta(sig2, lorentzian_fwhm(pos, X=PROFILE["X"], Y=PROFILE["Y"]))
    mat = profile_matrix(x, pos, fwhm, eta, sh_l=PROFILE["SH_L"], options=WindowOptions(cutoff=1e-6, max_fwhm=1000.0))
    peaks = mat.T @ intensities
    peaks *= counts / peaks.max()
    mean = peaks + background * (1.0 + 0.3 * (x - x[0]) / (x[-1] - x[0]))
    y = np.random.default_rng(seed).poisson(mean).astype(float)
    return Pattern.from_arrays(x, y, np.sqrt(np.maximum(y, 1.0)), sigma_source="poisson", wavelength=WAVELENGTH,
                               radiation="xray")


def make_drift_series(out: str | Path, n_scans: int = 100, drift: float = 0.01, seed: int = 0, *,
                      points: int = 3000, tth: tuple[float, float] = (6.0, 24.0)) -> DriftSeries:
    """Write the series into ``out`` (created) and return its files and true cells.

    Parameters
    ----------
    out
        Folder for ``scan_<i>.xye``.
    n_scans
        Number of scans.
    drift
        Relative change of a (down) and c (up) from the first to the last scan (0.01 = 1 %).
    seed
        Seed of scan 0's Poisson noise (scan i uses ``seed + i``).
    points, tth
        Grid of each pattern: ``points`` points from ``tth[0]`` to ``tth[1]`` degrees 2θ.
    """
    from refine.io import write_pattern

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    x = np.linspace(tth[0], tth[1], points)
    paths, a_s, c_s = [], [], []
    for i in range(n_scans):
        a, c = true_cell(i, n_scans, drift)
        path = folder / f"scan_{i}.xye"
        write_pattern(simulate_scan(a, c, x, seed=seed + i), path)
        paths.append(path)
        a_s.append(a)
        c_s.append(c)
    return DriftSeries(paths=tuple(paths), a=tuple(a_s), c=tuple(c_s))
