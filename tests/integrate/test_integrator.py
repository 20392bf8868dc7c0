"""Integrator: corrections against images with known truth, sigma, caching, metadata, errors."""

from __future__ import annotations

import numpy as np
import pytest
from fabio.edfimage import EdfImage

from refine import units
from refine.errors import InputError
from refine.integrate import IntegrationSettings, Integrator
from tests.integrate import synthetic as sy

GEOMETRY = sy.Geometry()
# Points within the detector's full circle (the outer corner bins hold a handful of pixels).
INNER = 17.0


@pytest.fixture(scope="module")
def poni(tmp_path_factory):
    path = tmp_path_factory.mktemp("geo") / "synthetic.poni"
    path.write_text(GEOMETRY.poni_text())
    return path


def _integrate(poni, data, **settings):
    defaults = {"npt": 300, "polarization_factor": 0.95, "error_model": None}
    return Integrator(poni, IntegrationSettings(**{**defaults, **settings})).integrate(data)


def _max_rel_to_truth(pattern):
    inner = pattern.x < INNER
    return np.max(np.abs(pattern.y[inner] / sy.truth(pattern.x[inner]) - 1))


def test_polarization_and_solid_angle_are_removed_exactly(poni):
    # The image carries P and solid angle from our own formulas; pyFAI's corrections must undo them, so the
    # corrected integration equals the integration of the same truth drawn without them (same sampling).
    img = sy.image(GEOMETRY, polarization=0.95)
    plain = sy.image(GEOMETRY, polarization=None, solid_angle=False)
    for method in ("bbox,csr,cython", "full_csr", "no,csr,cython"):
        bare = _integrate(poni, plain, polarization_factor=None, solid_angle=False, method=method)
        corrected = _integrate(poni, img, method=method)
        # 2e-4: float32 sums in pyFAI and the slow variation of P and the solid angle within one bin.
        np.testing.assert_allclose(corrected.y, bare.y, rtol=2e-4)
        # The same comparison fails when a correction is left out: the corrections are really applied.
        assert np.max(np.abs(_integrate(poni, img, polarization_factor=None, method=method).y / bare.y - 1)) > 0.02
        assert np.max(np.abs(_integrate(poni, img, solid_angle=False, method=method).y / bare.y - 1)) > 0.02
        # Against the truth itself: 1.5 %, the discretisation of rings of sigma >= 1.2 deg by 0.14 deg pixels.
        assert _max_rel_to_truth(corrected) < 1.5e-2


def test_dark_flat_mask_and_flip(poni, tmp_path):
    img = sy.image(GEOMETRY, polarization=0.95)
    reference = _integrate(poni, img)
    rng = np.random.default_rng(11)
    dark = rng.uniform(5.0, 15.0, GEOMETRY.shape)
    flat = rng.uniform(0.8, 1.2, GEOMETRY.shape)
    flat[40:44, :] = 0.0  # dead rows: masked automatically (no division by zero)
    EdfImage(data=dark.astype(np.float32)).write(str(tmp_path / "dark.edf"))
    EdfImage(data=flat.astype(np.float32)).write(str(tmp_path / "flat.edf"))
    raw = img * flat.astype(np.float32) + dark.astype(np.float32)
    corrected = _integrate(poni, raw, dark=str(tmp_path / "dark.edf"), flat=str(tmp_path / "flat.edf"))
    # pyFAI averages sum(I - dark) / sum(flat * corrections) over a bin, not the mean of (I - dark) / flat:
    # with a flat varying +-20 % from pixel to pixel the two differ at the 1e-3 level (a few % of the pixels are
    # lost to the dead rows).
    np.testing.assert_allclose(corrected.y, reference.y, rtol=3e-3)
    assert corrected.corrections == {"dark", "flat", "polarization", "solid_angle"}

    # Masked pixels are excluded: garbage under the mask changes nothing beyond the loss of pixels.
    mask = np.zeros(GEOMETRY.shape, dtype=bool)
    mask[:, 150:170] = True
    np.save(tmp_path / "mask.npy", mask)
    spoiled = np.where(mask, 1e9, img)
    masked = _integrate(poni, spoiled, mask=str(tmp_path / "mask.npy"))
    np.testing.assert_allclose(masked.y, reference.y, rtol=3e-3)  # a tenth of the pixels fewer per bin
    assert masked.corrections == {"polarization", "solid_angle"}  # a mask is not an intensity correction

    # flip='ud' undoes an up-down flipped file (mask given in file orientation is flipped too).
    flipped = _integrate(poni, np.flipud(spoiled), mask=str(_save(tmp_path / "mask_ud.npy", np.flipud(mask))),
                         flip="ud")
    np.testing.assert_allclose(flipped.y, masked.y, rtol=1e-6)
    lr = _integrate(poni, np.fliplr(img), flip="lr")
    np.testing.assert_allclose(lr.y, reference.y, rtol=1e-6)


def _save(path, array):
    np.save(path, array)
    return path


def test_q_unit_puts_rings_at_bragg_positions(poni):
    img = sy.image(GEOMETRY, polarization=0.95)
    pattern = _integrate(poni, img, unit="q_A^-1", npt=500)
    assert pattern.unit == units.Q_A
    ring = sy.RINGS[1][0]
    q_ring = 4 * np.pi * np.sin(np.radians(ring / 2)) / sy.WAVELENGTH_A
    window = np.abs(pattern.x - q_ring) < 0.2
    # Peak of a Gaussian in 2theta maps to q_ring; the background slope shifts it far less than a bin.
    q_peak = pattern.x[window][np.argmax(pattern.y[window])]
    assert abs(q_peak - q_ring) <= 1.5 * np.diff(pattern.x).mean()
    assert _max_rel_to_truth(pattern.to_unit("2th_deg")) < 1.5e-2  # as in 2theta: pixel discretisation


def test_poisson_sigma_is_the_scatter_of_noisy_frames(poni):
    img = sy.image(GEOMETRY, polarization=0.95) * 20.0
    integrator = Integrator(poni, IntegrationSettings(npt=300, polarization_factor=0.95, error_model="poisson"))
    clean = integrator.integrate(img)
    rng = np.random.default_rng(5)
    chi2 = []
    for _ in range(4):
        noisy = integrator.integrate(rng.poisson(img).astype(np.float32))
        assert noisy.sigma_source == "propagated"
        chi2.append(np.mean(((noisy.y - clean.y) / noisy.sigma) ** 2))
    # 4 x 300 bins: the mean of chi2 has a spread of ~ sqrt(2/1200) = 0.04 (more with bin correlations
    # from pixel splitting); a sigma off by 20 % would move it by ~0.4.
    assert np.mean(chi2) == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("with_files", [False, True])
def test_engine_is_built_once_and_reused(poni, tmp_path, with_files):
    rng = np.random.default_rng(0)
    extra = {}
    if with_files:  # mask, dark and flat are passed on every call: their checksums must keep the engine valid
        mask = np.zeros(GEOMETRY.shape, dtype=bool)
        mask[:20, :30] = True
        extra = {"mask": str(_save(tmp_path / "m.npy", mask)), "dark": str(_save(tmp_path / "d.npy", mask * 0.0)),
                 "flat": str(_save(tmp_path / "f.npy", np.ones(GEOMETRY.shape)))}
    integrator = Integrator(poni, IntegrationSettings(npt=300, polarization_factor=0.99, radial_range=(1.0, 15.0),
                                                      **extra))
    assert integrator.engine is None
    integrator.integrate(rng.poisson(100, GEOMETRY.shape))
    engine = integrator.engine
    assert engine is not None
    for _ in range(3):
        integrator.integrate(rng.poisson(100, GEOMETRY.shape))
        assert integrator.engine is engine


def test_pattern_fields_and_metadata(poni, tmp_path):
    pattern = Integrator(poni, IntegrationSettings(npt=200)).integrate(sy.image(GEOMETRY), source="x.tif",
                                                                       frame=3)
    assert pattern.radiation == "xray"
    assert pattern.wavelength == pytest.approx(sy.WAVELENGTH_A, rel=1e-12)
    assert pattern.unit == units.TTH_DEG
    assert pattern.corrections == {"solid_angle"}  # default: solid angle only, no polarization
    assert pattern.sigma_source == "propagated"
    meta = pattern.metadata
    assert meta["source"] == "x.tif" and meta["frame"] == 3
    assert meta["geometry"]["dist_m"] == pytest.approx(GEOMETRY.dist)
    assert meta["integration"]["npt"] == 200
    assert meta["integration"]["method_resolved"] == ["bbox", "csr", "cython"]
    unit_sigma = Integrator(poni, IntegrationSettings(npt=200, error_model=None)).integrate(sy.image(GEOMETRY))
    assert unit_sigma.sigma_source == "unit" and np.all(unit_sigma.sigma == 1.0)


def test_bad_frames(poni, tmp_path):
    integrator = Integrator(poni, IntegrationSettings(npt=100))
    with pytest.raises(InputError, match=r"a.tif: image frame 2 holds only NaN"):
        integrator.integrate(np.full(GEOMETRY.shape, np.nan), source="a.tif", frame=2)
    integrator.integrate(np.ones(GEOMETRY.shape), source="first.tif")  # fixes the detector shape
    with pytest.raises(InputError, match=r"b.tif: image shape \(10, 10\) does not match the detector shape "
                                         r"\(160, 200\)"):
        integrator.integrate(np.ones((10, 10)), source="b.tif")
    np.save(tmp_path / "m.npy", np.zeros((10, 12), dtype=bool))
    masked = Integrator(poni, IntegrationSettings(npt=100, mask=str(tmp_path / "m.npy")))
    with pytest.raises(InputError, match=r"image shape \(160, 200\) does not match .*\(10, 12\)"):
        masked.integrate(np.ones(GEOMETRY.shape), source="c.tif")
    with pytest.raises(InputError, match="radial range"):
        _integrate(poni, np.ones(GEOMETRY.shape), radial_range=(40.0, 50.0))
