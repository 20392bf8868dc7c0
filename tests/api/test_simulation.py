"""``refine.simulate`` / ``refine simulate``: a pattern the Rietveld model refines back to its cell, with peaks where
an independent calculator (pymatgen's XRDCalculator) puts them."""

import numpy as np
import pytest

import refine
from refine.crystal.lattice import Lattice
from refine.errors import InputError
from refine.examples import example_path

LAM = 0.1173


@pytest.fixture(scope="module")
def rocksalt():
    return refine.read_structure(example_path("drs_rocksalt.cif"))


def test_a_simulated_pattern_refines_back_to_its_cell(rocksalt):
    """Poisson noise (20 000 counts at the strongest peak, seeded) on the rock salt; a Rietveld fit started 0.3 %
    off finds a within 3 esd of the simulated 4.642 Å and a GOF near 1 (the model is the simulation's)."""
    pattern = refine.simulate(rocksalt, wavelength=LAM, range="2:14", step=0.004, noise=20000, seed=7,
                              background=200)
    a0 = rocksalt.lattice.a
    start = rocksalt.replace(lattice=Lattice.from_sequence([a0 * 1.003] * 3 + [90.0] * 3))
    fit = refine.rietveld(pattern, start, wavelength=LAM, refine="scale,cell,W")
    (phase,) = fit.phases.values()
    a, esd = phase.a.value, phase.a.esd
    assert fit.converged and abs(a - a0) < 3 * esd, (a, esd)
    assert 0.9 < fit.statistics.GOF < 1.2  # noise only: the fit explains the pattern to its Poisson sigma


@pytest.mark.parametrize("cif", ["cu.cif", "drs_rocksalt.cif"])
def test_peak_positions_agree_with_pymatgen(cif):
    """The local maxima of a narrow-peak simulation at 0.7 Å are pymatgen's reflection angles (±0.004°, a step)
    for every reflection pymatgen puts above 2 % of the strongest."""
    xrd = pytest.importorskip("pymatgen.analysis.diffraction.xrd")
    from pymatgen.core import Structure

    pattern = refine.simulate(example_path(cif), wavelength=0.7, range="10:50", step=0.002, fwhm=0.02)
    ref = xrd.XRDCalculator(wavelength=0.7).get_pattern(Structure.from_file(str(example_path(cif))),
                                                        two_theta_range=(10.2, 49.8))
    strong = ref.x[ref.y > 2.0]
    y = pattern.y
    peaks = pattern.x[1:-1][(y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > 5.0)]
    assert len(strong) >= 4
    for tth in strong:
        assert np.min(np.abs(peaks - tth)) < 0.004, tth


def test_noise_is_seeded_and_the_noiseless_pattern_has_a_fixed_height(rocksalt):
    kwargs = {"wavelength": LAM, "range": (2, 8), "step": 0.01}
    one, two = (refine.simulate(rocksalt, noise=500, seed=1, **kwargs) for _ in range(2))
    other = refine.simulate(rocksalt, noise=500, seed=2, **kwargs)
    assert np.array_equal(one.y, two.y) and not np.array_equal(one.y, other.y)
    assert one.sigma_source == "poisson" and np.all(one.y == np.round(one.y))
    clean = refine.simulate(rocksalt, background=50, **kwargs)
    assert clean.y.max() == pytest.approx(1050.0, rel=1e-12) and clean.y.min() == pytest.approx(50.0, abs=1e-6)
    assert clean.sigma_source == "unit" and clean.wavelength == LAM and clean.unit == "2th_deg"


@pytest.mark.parametrize("kwargs, match", [
    ({"wavelength": LAM}, "^range: give"),
    ({"wavelength": LAM, "range": "2:8", "step": 0}, "^step: "),
    ({"wavelength": LAM, "range": "2:8", "noise": -5}, "^noise: "),
    ({"range": "2:8"}, "^wavelength: give either"),
    ({"wavelength": LAM, "range": "2:8", "fwhm": 0}, "^fwhm: "),
])
def test_bad_settings_name_the_option(rocksalt, kwargs, match):
    with pytest.raises(InputError, match=match):
        refine.simulate(rocksalt, **kwargs)


def test_a_phase_without_atoms_is_refused():
    with pytest.raises(InputError, match="simulate needs atoms|no atoms|Rietveld needs atoms"):
        refine.simulate(refine.phase("Fm-3m", "4.6 4.6 4.6 90 90 90", name="x"), wavelength=LAM, range="2:8")
