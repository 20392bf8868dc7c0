"""Hill & Howard weight fractions: a two-phase mixture of known masses, esds against Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.constants import N_A

from refine.errors import InputError
from refine.io.structures import read_structure
from refine.powder.quantitative import cell_mass, weight_fractions, zmv
from tests.conftest import data_file


def test_cell_mass_nacl_and_nasicon_occupancy() -> None:
    nacl = read_structure(data_file("NaCl.cif"))
    assert cell_mass(nacl) == pytest.approx(4 * (22.98977 + 35.453), rel=1e-4)  # Z = 4 NaCl
    nasicon = read_structure(data_file("Na3V2PO43_NASICON.cif"))
    # Z = 6 formula units; Na2 (18e) at 0.69 plus Na1 (6b) full: 6 + 18*0.69 = 18.42 Na per cell
    expected = 18.42 * 22.98977 + 12 * 50.9415 + 18 * 30.973762 + 72 * 15.9994
    assert cell_mass(nasicon) == pytest.approx(expected, rel=1e-4)


def test_two_phase_mixture_of_known_masses() -> None:
    # 0.30 g NaCl + 0.70 g Si. The diffracted power of a phase per cell |F|² is proportional to its volume
    # fraction over V² (number of cells per volume, squared cell normalisation of |F|²), so the Rietveld
    # scale of phase i is S_i = K v_i / V_i² with v_i from the masses and X-ray densities ρ = ZM/(N_A V).
    nacl = read_structure(data_file("NaCl.cif"))
    si = read_structure(data_file("Si.cif"))
    masses = np.array([0.30, 0.70])
    volumes = np.array([nacl.lattice.volume, si.lattice.volume])  # Å³
    density = np.array([cell_mass(nacl), cell_mass(si)]) / (N_A * volumes * 1e-24)  # g/cm³
    # handbook densities 2.165 and 2.329 g/cm³; the NaCl file has a = 5.62 Å (5.640 at room temperature): 1.1 %
    assert density[0] == pytest.approx(2.165, rel=0.015) and density[1] == pytest.approx(2.329, rel=0.003)
    vol_frac = (masses / density) / np.sum(masses / density)
    scales = 123.4 * vol_frac / volumes**2
    result = weight_fractions(scales, [zmv(nacl), zmv(si)])
    np.testing.assert_allclose(result.fractions, masses / masses.sum(), rtol=1e-12)
    np.testing.assert_array_equal(result.esd, 0.0)


def test_esd_propagation_against_monte_carlo() -> None:
    scales = np.array([2.0e-5, 7.5e-6, 1.1e-5])
    zmvs = np.array([3.1e4, 9.0e4, 5.5e4])
    sd = scales * np.array([0.01, 0.02, 0.015])
    corr = np.array([[1.0, -0.4, 0.2], [-0.4, 1.0, 0.1], [0.2, 0.1, 1.0]])
    cov = corr * np.outer(sd, sd)
    result = weight_fractions(scales, zmvs, cov)
    rng = np.random.default_rng(20260401)
    draws = rng.multivariate_normal(scales, cov, size=40000)
    x = draws * zmvs
    w = x / x.sum(axis=1, keepdims=True)
    # 40000 draws: the sample std is known to ~0.4 %; the propagation is linear, relative errors ~2 %: 3 %.
    np.testing.assert_allclose(result.esd, w.std(axis=0), rtol=0.03)
    np.testing.assert_allclose(result.covariance.sum(axis=0), 0.0, atol=1e-15)  # fractions sum to exactly 1
    assert "WeightFractions(" in repr(result)


def test_bad_inputs() -> None:
    with pytest.raises(InputError):
        weight_fractions([1.0, 2.0], [1.0])
    with pytest.raises(InputError):
        weight_fractions([1.0, 2.0], [1.0, -1.0])
    with pytest.raises(InputError):
        weight_fractions([0.0, 0.0], [1.0, 1.0])
    with pytest.raises(InputError):
        weight_fractions([1.0, 2.0], [1.0, 1.0], np.eye(3))
