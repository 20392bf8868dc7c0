"""Cake (2θ × χ) and sector integration (refine.integrate.cake).

Acceptance (issue 16): on the Dioptas CeO2 image, Σ_χ signal / Σ_χ normalisation of the cake equals the 1D
integration of the same bins within 1e-3 relative wherever I > 5; the χ origin and direction are pyFAI's on the
flipped image (checked with a single bright pixel); sector patterns of a synthetic isotropic, unpolarised image
agree with each other within counting statistics (χ² of their differences, p > 0.01).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from scipy import stats

from refine.errors import InputError
from refine.integrate import IntegrationSettings, Integrator
from refine.integrate.cake import (
    CHI_DIRECTION,
    CHI_ORIGIN,
    SectorIntegrators,
    cake_to_1d,
    integrate_cake,
    parse_cake,
    parse_sectors,
    read_cake,
    write_cake,
)
from refine.io.images import iter_frames
from tests.conftest import shared_path
from tests.integrate import synthetic as sy
from tests.integrate.test_ceo2_reference import FOLDER


def test_ceo2_cake_sums_to_the_1d_pattern(tmp_path):
    (_, image), = list(iter_frames(shared_path(*FOLDER, "CeO2_Pilatus1M.tif")))
    settings = IntegrationSettings(npt=1512, flip="ud", polarization_factor=0.99)  # default bbox,csr,cython
    integrator = Integrator(shared_path(*FOLDER, "CeO2_Pilatus1M.poni"), settings)
    pattern = integrator.integrate(image)
    cake = integrate_cake(integrator, image, 1512, 360)
    assert cake.intensity.shape == (360, 1512) and cake.chi.shape == (360,)
    one = cake_to_1d(cake)
    keep = np.isfinite(one)
    np.testing.assert_allclose(cake.radial[keep], pattern.x, rtol=1e-9)  # the same radial bins
    strong = pattern.y > 5
    rel = np.abs(one[keep][strong] / pattern.y[strong] - 1)
    assert rel.max() < 1e-3  # measured 6e-8 (histogram engine), float32 sums
    # written and read back with its axes and the χ convention
    path = write_cake(tmp_path / "c.h5", cake, {"source": "CeO2"})
    back = read_cake(path)
    np.testing.assert_array_equal(back.intensity, cake.intensity)
    import h5py

    with h5py.File(path) as f:
        assert f.attrs["chi_origin"] == CHI_ORIGIN and f.attrs["chi_direction"] == CHI_DIRECTION
        assert f["radial"].attrs["unit"] == "2th_deg" and f["intensity"].attrs["axes"] == "chi,radial"


def _spot_chi(row: int, col: int, flip: str | None) -> float:
    """χ (deg) of the cake bin that receives a single bright pixel at (row, col) of the file."""
    geometry = sy.Geometry()
    image = np.ones(geometry.shape)
    image[row, col] = 1e6
    poni = geometry.poni_text()
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    ai = AzimuthalIntegrator(dist=geometry.dist, poni1=geometry.poni1, poni2=geometry.poni2,
                             pixel1=geometry.pixel, pixel2=geometry.pixel, wavelength=sy.WAVELENGTH_A * 1e-10)
    assert "Poni1" in poni
    integ = Integrator(ai, IntegrationSettings(npt=100, flip=flip, error_model=None, method="no,histogram,cython"))
    cake = integrate_cake(integ, image, 100, 72)
    return float(cake.chi[np.unravel_index(np.nanargmax(cake.intensity), cake.intensity.shape)[0]])


def test_chi_origin_and_direction():
    g = sy.Geometry()  # PONI at row 75, column 110
    r0, c0 = int(g.poni1 / g.pixel), int(g.poni2 / g.pixel)
    assert abs(_spot_chi(r0, c0 + 40, None)) < 5  # +columns: χ = 0
    assert abs(_spot_chi(r0 + 40, c0, None) - 90) < 5  # +rows: χ = +90
    assert abs(_spot_chi(r0, c0 - 40, None)) > 175  # -columns: ±180
    # after --flip ud the file's row r is row (rows-1-r): a spot 40 rows *below* the PONI row in the file
    # ends up 40 rows above it (the flipped PONI row is 159-75 = 84 -> the spot at file row 159-124 = 35)
    assert abs(_spot_chi(g.shape[0] - 1 - (r0 + 40), c0, "ud") - 90) < 5


def test_sectors_of_an_isotropic_image_agree_within_counting_statistics():
    geometry = sy.Geometry(shape=(240, 240), poni1=0.024, poni2=0.024)
    image = np.random.default_rng(1).poisson(5 * sy.image(geometry, polarization=None)).astype(np.float32)
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    ai = AzimuthalIntegrator(dist=geometry.dist, poni1=geometry.poni1, poni2=geometry.poni2,
                             pixel1=geometry.pixel, pixel2=geometry.pixel, wavelength=sy.WAVELENGTH_A * 1e-10)
    # no pixel splitting: each pixel feeds one bin, so bins are independent and the χ² test is exact; bins of
    # 0.07 deg keep the bias of sampling a curved profile at different pixel centres per sector far below the noise.
    # Smallest p of the 6 pairs over seeds 0-7: 0.026-0.47 (this seed: 0.23), as for independent noise.
    base = Integrator(ai, IntegrationSettings(npt=200, radial_range=(1.0, 15.0), method="no,csr,cython"))
    sectors = SectorIntegrators(base, ((-180, -90), (-90, 0), (0, 90), (90, 180)))
    patterns = sectors.integrate(image)
    pvalues = []
    for a, b in itertools.combinations(patterns, 2):
        assert np.allclose(a.x, b.x)
        chi2 = float(np.sum((a.y - b.y) ** 2 / (a.sigma**2 + b.sigma**2)))
        pvalues.append(stats.chi2.sf(chi2, len(a.x)))
    assert min(pvalues) > 0.01, pvalues
    # the test can fail: a sector of a polarised image differs far beyond counting statistics
    polarised = np.random.default_rng(5).poisson(5 * sy.image(geometry, polarization=0.95)).astype(np.float32)
    a, b = sectors.integrate(polarised)[1:3]
    c = SectorIntegrators(base, ((45, 135),)).integrate(polarised)[0]
    assert stats.chi2.sf(float(np.sum((a.y - c.y) ** 2 / (a.sigma**2 + c.sigma**2))), len(a.x)) < 1e-6
    # the engines are built once per sector and reused for the next frame
    engines = [id(s.engine) for s in sectors.integrators]
    sectors.integrate(image)
    assert engines == [id(s.engine) for s in sectors.integrators]
    assert base.settings.azimuth_range is None


def test_parsers():
    assert parse_cake("500,360") == (500, 360)
    assert parse_sectors("-45:45, 45:135") == ((-45.0, 45.0), (45.0, 135.0))
    with pytest.raises(InputError, match="cake.*NPT_RAD,NPT_AZIM"):
        parse_cake("500")
    with pytest.raises(InputError, match="sectors.*CHI0:CHI1"):
        parse_sectors("0-90")
    with pytest.raises(InputError, match="sectors.*CHI0 < CHI1"):
        parse_sectors("90:0")
    with pytest.raises(InputError, match="azimuth_range"):
        dataclasses.replace(IntegrationSettings(), azimuth_range=(10, 5))
