"""Synthetic powder patterns for tests: reflection positions and intensities from pymatgen (independent of refine),
peak shapes from refine's TCH profile, Poisson noise with a fixed seed."""

from __future__ import annotations

import numpy as np
import pytest

from refine.data import Pattern
from refine.powder.peaks import WindowOptions, profile_matrix
from refine.powder.peakshape import gaussian_variance, lorentzian_fwhm, tch_fwhm_eta


def drs_structure(a: float = 4.642):
    """Disordered rock-salt Na3V2O5-like: Na/V share 4a (0.6/0.4), O on 4b (pymatgen Structure)."""
    mg = pytest.importorskip("pymatgen.core")
    lattice = mg.Lattice.cubic(a)
    return mg.Structure.from_spacegroup("Fm-3m", lattice, [{"Na": 0.6, "V": 0.4}, "O"],
                                        [[0, 0, 0], [0.5, 0.5, 0.5]])


def navpo4f_structure(a: float = 12.7547, b: float = 6.2716, c: float = 10.6400):
    """A KTiOPO4-type NaVPO4F model in Pna21 with made-up but legal general positions (for positions only)."""
    mg = pytest.importorskip("pymatgen.core")
    lattice = mg.Lattice.orthorhombic(a, b, c)
    species = ["Na", "Na", "V", "V", "P", "P", "O", "O", "O", "O", "O", "O", "O", "O", "F", "F"]
    coords = [[0.378, 0.781, 0.312], [0.105, 0.699, 0.066], [0.373, 0.500, 0.000], [0.247, 0.270, 0.251],
              [0.498, 0.337, 0.261], [0.181, 0.502, 0.513], [0.486, 0.487, 0.149], [0.510, 0.466, 0.387],
              [0.400, 0.198, 0.276], [0.593, 0.193, 0.242], [0.112, 0.311, 0.540], [0.112, 0.691, 0.460],
              [0.254, 0.540, 0.624], [0.253, 0.461, 0.401], [0.224, 0.960, 0.647], [0.225, 0.039, 0.389]]
    return mg.Structure.from_spacegroup("Pna2_1", lattice, species, coords)


def pymatgen_peaks(structure, wavelength: float, tth_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Peak 2θ (deg) and integrated intensities (unscaled) from pymatgen's XRDCalculator."""
    xrd = pytest.importorskip("pymatgen.analysis.diffraction.xrd")
    calc = xrd.XRDCalculator(wavelength=wavelength)
    pat = calc.get_pattern(structure, scaled=False, two_theta_range=tth_range)
    return np.asarray(pat.x), np.asarray(pat.y)


def simulate(positions: np.ndarray, intensities: np.ndarray, x: np.ndarray, *, wavelength: float,
             profile: dict, counts: float, background: float, seed: int) -> Pattern:
    """Pattern with the given peaks (TCH widths from ``profile`` U V W X Y SH_L), a sloped background and
    Poisson noise; the strongest peak gets about ``counts`` counts at its maximum."""
    sig2 = gaussian_variance(positions, U=profile["U"], V=profile["V"], W=profile["W"])
    gam = lorentzian_fwhm(positions, X=profile["X"], Y=profile["Y"])
    fwhm, eta = tch_fwhm_eta(sig2, gam)
    # Untruncated peaks (tails to 1e-6 of the maximum): real data have full tails; the model truncates.
    mat = profile_matrix(x, positions, fwhm, eta, sh_l=profile.get("SH_L", 0.0),
                         options=WindowOptions(cutoff=1e-6, max_fwhm=1000.0))
    peaks = mat.T @ intensities
    peaks *= counts / peaks.max()
    truth = peaks + background * (1.0 + 0.3 * (x - x[0]) / (x[-1] - x[0]))
    y = np.random.default_rng(seed).poisson(truth).astype(float)
    return Pattern.from_arrays(x, y, np.sqrt(np.maximum(y, 1.0)), sigma_source="poisson", wavelength=wavelength,
                               radiation="xray")
