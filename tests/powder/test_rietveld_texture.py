"""Rietveld texture (symmetrised spherical harmonics) and Bragg-Brentano surface roughness, refined back from
synthetic patterns: pymatgen intensities (independent structure factors) times an analytic cubic harmonic or
Suortti's roughness written out here, refine's profile, Poisson noise with fixed seeds."""

import numpy as np
import pytest

from refine.errors import InputError
from refine.instrument import Instrument, Profile
from refine.io.structures import read_structure
from refine.powder.background import Background
from refine.powder.model import PowderOptions
from refine.powder.rietveld import RietveldOptions, fit_rietveld
from tests.powder.synthetic import drs_structure, simulate

LAM = 0.72
PROFILE = {"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.002}
OPTIONS = PowderOptions(background=Background("chebyshev", nterms=4))


def _cubic_k4(hkl) -> np.ndarray:
    """The m-3m invariant of order 4, (x⁴+y⁴+z⁴ − 3/5)/sqrt(16/525): mean 0, mean square 1 on the sphere."""
    u = np.asarray(hkl, float)
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    return (np.sum(u**4, axis=-1) - 0.6) / np.sqrt(16.0 / 525.0)


def _pymatgen_lines(structure, tth_range):
    xrd = pytest.importorskip("pymatgen.analysis.diffraction.xrd")
    pat = xrd.XRDCalculator(wavelength=LAM).get_pattern(structure, scaled=False, two_theta_range=tth_range)
    hkl = np.array([fam[0]["hkl"] for fam in pat.hkls])
    return np.asarray(pat.x), np.asarray(pat.y), hkl


def _start(tmp_path):
    from pymatgen.io.cif import CifWriter

    path = tmp_path / "drs.cif"
    CifWriter(drs_structure(4.642 * 1.0005), symprec=0.01).write_file(str(path))
    start = read_structure(path).replace(name="drs")
    assert start.space_group.number == 225
    return start


def _instrument(geometry="debye_scherrer"):
    inst = Instrument.synchrotron(LAM, polarization=0.5, profile=Profile(U=1.0, V=-0.3, W=0.6, X=0.4, Y=1.2,
                                                                         sh_l=0.002))
    return inst.replace(geometry=geometry)


def test_harmonic_texture_recovered(tmp_path):
    """Lines scaled by 1 + 0.25·K4(ĥ) (up to 1.57 on 200, down to 0.62 on 111): the order-4 texture refines to
    |c| = 0.25 within 3 esd and every line's texture factor to within 2 % of the truth."""
    x = np.arange(5.0, 45.0, 0.004)
    pos, inten, hkl = _pymatgen_lines(drs_structure(), (4.0, 46.0))  # no coincident families below 47 deg
    truth = 1.0 + 0.25 * _cubic_k4(hkl)
    pattern = simulate(pos, inten * truth, x, wavelength=LAM, profile=PROFILE, counts=20000, background=300, seed=3)
    res = fit_rietveld(pattern, [_start(tmp_path)], _instrument(), refine=("scale", "cell", "W", "X", "Y", "texture"),
                       options=OPTIONS, rietveld=RietveldOptions(dispersion=False, texture_order=4))
    assert res.converged, res.message
    assert [n for n in res.params if "_sh" in n] == ["drs_sh4_1"]  # one m-3m invariant of order 4
    c = res.value("drs_sh4_1")
    assert abs(abs(c) - 0.25) < 3 * res.esd("drs_sh4_1"), (c, res.esd("drs_sh4_1"))
    engine = res.extra["engine"]
    names, basis = engine.textures[0]
    fitted = 1.0 + basis @ np.array([res.value(n) for n in names])
    refl = engine.model.phases[0].reflections.hkl
    np.testing.assert_allclose(fitted, 1.0 + 0.25 * _cubic_k4(refl), rtol=0.02)
    assert res.statistics.GOF < 1.3


def _suortti(tth, p, q):
    s = np.sin(np.radians(tth) / 2)
    return (p + (1 - p) * np.exp(-q / s)) / (p + (1 - p) * np.exp(-q))


def test_surface_roughness_recovered(tmp_path):
    """Bragg-Brentano lines scaled by Suortti's roughness (p 0.6, q 0.6: low-angle lines down ~30 % relative to high
    angle): refined roughness gives the truth's low/high-angle intensity ratio within 2 % on every line."""
    x = np.arange(5.0, 45.0, 0.004)
    pos, inten, _ = _pymatgen_lines(drs_structure(), (4.0, 46.0))
    pattern = simulate(pos, inten * _suortti(pos, 0.6, 0.6), x, wavelength=LAM, profile=PROFILE, counts=20000,
                       background=300, seed=5)
    inst = _instrument("bragg_brentano")
    res = fit_rietveld(pattern, [_start(tmp_path)], inst, refine=("scale", "cell", "W", "X", "Y", "roughness"),
                       options=OPTIONS, rietveld=RietveldOptions(dispersion=False))
    assert res.converged, res.message
    fit = _suortti(pos, res.value("surf_p"), res.value("surf_q"))
    truth = _suortti(pos, 0.6, 0.6)
    np.testing.assert_allclose(fit / fit[-1], truth / truth[-1], rtol=0.02)
    assert res.statistics.GOF < 1.3
    with pytest.raises(InputError, match="Bragg-Brentano"):
        fit_rietveld(pattern, [_start(tmp_path)], _instrument(), refine=("scale", "roughness"), options=OPTIONS)
    with pytest.raises(InputError, match="texture"):
        fit_rietveld(pattern, [_start(tmp_path)], inst, refine=("scale", "texture"), options=OPTIONS)
