"""Detector calibration (refine.integrate.calibrate) against the Dioptas CeO2 Pilatus 1M calibration and a
synthetic LaB6 image of known geometry.

Real data: ../shared/data/images_2d/dioptas_CeO2_Pilatus1M (README: rows flipped up-down to match the PONI).
The start is what a user has before calibrating: the reference's direct-beam distance +3 % and its beam centre
shifted by (+3, -4) px (5 px), detector untilted. Recovery criteria: distance within 0.1 %, PONI within 1 px
(172 µm), tilts within 0.002 rad, and the pattern integrated with the recovered geometry matching the Dioptas
.xy (median relative difference < 3e-3, peak positions within 0.005 deg; the reference geometry itself
reproduces it to 1e-3 point by point, tests/integrate/test_ceo2_reference.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.signal import find_peaks

from refine.errors import InputError
from refine.integrate import Integrator
from refine.integrate.calibrate import CalibrationOptions, StartGeometry, calibrate, load_calibrant
from refine.io.images import iter_frames
from refine.io.poni import read_poni, write_poni
from tests.conftest import shared_path
from tests.integrate.test_ceo2_reference import FOLDER, SETTINGS, reference

PIXEL = 172e-6
TILT_TOL = 0.002  # rad


def perturbed_start(ai) -> StartGeometry:
    """Direct-beam distance +3 %, beam centre moved by 5 px, no tilt (Fit2D view of a reference geometry)."""
    f2d = ai.getFit2D()
    return StartGeometry(distance_mm=f2d["directDist"] * 1.03, center_px=(f2d["centerX"] + 3, f2d["centerY"] - 4),
                         detector="Pilatus1M")


@pytest.fixture(scope="module")
def ceo2(tmp_path_factory):
    ref = read_poni(shared_path(*FOLDER, "CeO2_Pilatus1M.poni"))
    (_, image), = list(iter_frames(shared_path(*FOLDER, "CeO2_Pilatus1M.tif")))
    # the start as a PONI file (PONI = shifted beam centre, tilts zero), written with our PONI writer
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    guess = perturbed_start(ref)
    start_ai = AzimuthalIntegrator(detector="Pilatus1M", wavelength=ref.wavelength)
    start_ai.setFit2D(guess.distance_mm, *guess.center_px)
    start = write_poni(tmp_path_factory.mktemp("calib") / "start.poni", start_ai)
    result = calibrate(image, calibrant="CeO2", wavelength=0.4066, start=start,
                       options=CalibrationOptions(flip="ud"), source="CeO2_Pilatus1M.tif")
    return ref, image, start_ai, result


def test_ceo2_recovers_the_reference_geometry(ceo2):
    ref, _, start_ai, result = ceo2
    g = result.geometry
    assert abs(start_ai.dist / ref.dist - 1) > 0.029  # the start really was off
    # measured: +1.2e-4 relative, 0.2 px, 0.6 px, 3.9e-4 rad, 0.9e-4 rad
    assert abs(g["dist"] / ref.dist - 1) < 1e-3
    assert abs(g["poni1"] - ref.poni1) < PIXEL
    assert abs(g["poni2"] - ref.poni2) < PIXEL
    assert abs(g["rot1"] - ref.rot1) < TILT_TOL
    assert abs(g["rot2"] - ref.rot2) < TILT_TOL
    assert g["rot3"] == 0.0 and g["wavelength"] == pytest.approx(0.4066e-10, rel=1e-12)  # fixed by default
    assert set(result.esd) == {"dist", "poni1", "poni2", "rot1", "rot2"}
    # measured esds: 2 µm, 14 µm, 14 µm, 6e-5 rad, 6e-5 rad
    assert all(0 < result.esd[k] < 0.2 * PIXEL for k in ("dist", "poni1", "poni2"))
    assert all(0 < result.esd[k] < 5e-4 for k in ("rot1", "rot2"))
    # 17 CeO2 rings on the detector, thousands of points; sub-pixel residual
    assert len(result.points_per_ring) >= 15 and len(result.control_points) > 3000
    assert result.rms_px < 0.5 and result.rms_tth_deg < 0.02


def test_ceo2_recovered_geometry_reproduces_the_dioptas_pattern(ceo2):
    _, image, _, result = ceo2
    ref = reference()
    # the default radial range follows the geometry: integrate on the reference's own bins instead
    step = (ref[-1, 0] - ref[0, 0]) / (len(ref) - 1)
    settings = dataclasses.replace(SETTINGS, radial_range=(ref[0, 0] - step / 2, ref[-1, 0] + step / 2))
    # Dioptas integrated the gap pixels too (plain detector, no mask): same detector, recovered geometry
    ai = read_poni(shared_path(*FOLDER, "CeO2_Pilatus1M.poni"))
    ai.set_param([result.geometry[k] for k in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3")])
    pattern = Integrator(ai, settings).integrate(image)
    np.testing.assert_allclose(pattern.x, ref[:, 0], rtol=1e-6)
    x, y, yref = ref[:, 0], pattern.y, ref[:, 1]
    strong = yref > 5
    # Point by point: median 6e-4, but up to 18 % on the steep flanks of the sharp CeO2 peaks, where a
    # 0.002 deg shift (the recovered distance is 1.2e-4 longer) moves intensity by a tenth of a 0.02 deg bin.
    assert np.median(np.abs(y[strong] / yref[strong] - 1)) < 3e-3
    # Peak positions (centroids over +-4 bins of the 17 strongest Dioptas peaks): measured |shift| <= 0.0021 deg
    peaks, _ = find_peaks(yref, prominence=50)
    assert len(peaks) >= 15
    for i in peaks:
        w = slice(i - 4, i + 5)
        shift = np.sum(x[w] * y[w]) / np.sum(y[w]) - np.sum(x[w] * yref[w]) / np.sum(yref[w])
        assert abs(shift) < 0.005, (x[i], shift)


def _synthetic(shape=(300, 320), pixel=150e-6):
    """LaB6 rings (Gaussian in 2θ, 0.04 deg) on a background, Poisson noise, tilted 150 µm-pixel detector."""
    from pyFAI.detectors import Detector
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    detector = Detector(pixel1=pixel, pixel2=pixel, max_shape=shape)
    truth = AzimuthalIntegrator(dist=0.1, poni1=0.0231, poni2=0.0245, rot1=0.012, rot2=-0.015, rot3=0.0,
                                detector=detector, wavelength=0.4e-10)
    tth = np.degrees(truth.center_array(shape, unit="2th_rad", scale=False))
    rings = np.degrees([t for t in load_calibrant("LaB6", 0.4e-10).get_2th() if t is not None])
    image = np.full(shape, 50.0)
    for t in rings[rings < tth.max() + 1]:
        image += 1000.0 * np.exp(-0.5 * ((tth - t) / 0.04) ** 2)
    return truth, np.random.default_rng(1).poisson(image).astype(np.float32)


def synthetic_start(truth) -> StartGeometry:
    f2d = truth.getFit2D()
    return StartGeometry(distance_mm=f2d["directDist"] * 1.03, center_px=(f2d["centerX"] + 3, f2d["centerY"] - 2),
                         pixel_size_um=150)


def test_synthetic_lab6_geometry_is_recovered():
    truth, image = _synthetic()
    result = calibrate(image, calibrant="LaB6", wavelength=0.4, start=synthetic_start(truth))
    g = result.geometry
    # measured: 2e-7 relative, 0.02 px, 0.28 px, 4e-4 rad, 4e-5 rad (rot1/poni2 correlated on a small detector)
    assert g["dist"] == pytest.approx(truth.dist, rel=2e-4)
    assert abs(g["poni1"] - truth.poni1) < 0.5 * 150e-6
    assert abs(g["poni2"] - truth.poni2) < 0.5 * 150e-6
    assert abs(g["rot1"] - truth.rot1) < 1e-3
    assert abs(g["rot2"] - truth.rot2) < 1e-3
    assert result.rms_px < 0.1
    assert min(result.points_per_ring) == 0 and len(result.points_per_ring) >= 8


def test_synthetic_flip_is_applied_to_the_image():
    truth, image = _synthetic()
    result = calibrate(np.flipud(image), calibrant="LaB6", wavelength=0.4, start=synthetic_start(truth),
                       options=CalibrationOptions(flip="ud", rings=2, max_rings=4))
    assert abs(result.geometry["poni1"] - truth.poni1) < 0.5 * 150e-6
    assert max(result.points_per_ring) == 3


def test_synthetic_wavelength_refinement():
    truth, image = _synthetic()
    options = CalibrationOptions(refine=("dist", "poni1", "poni2", "rot1", "rot2", "wavelength"))
    result = calibrate(image, calibrant="LaB6", wavelength=0.4, start=synthetic_start(truth), options=options)
    # wavelength and distance are strongly correlated up to 2θ = 19 deg: measured -0.21 % and +0.21 %, 3 esd each
    assert result.geometry["wavelength"] == pytest.approx(0.4e-10, rel=5e-3)
    assert result.geometry["dist"] == pytest.approx(truth.dist, rel=5e-3)
    assert 0 < result.esd["wavelength"] < 1e-3 * 0.4e-10
    assert result.rms_px < 0.1


def test_unknown_calibrant_lists_known_ones():
    with pytest.raises(InputError, match=r"unknown calibrant 'Unobtainium'.*CeO2, LaB6, Si"):
        load_calibrant("Unobtainium", 1e-10)


def test_dspacing_file_calibrant(tmp_path):
    path = tmp_path / "lab6.D"
    path.write_text("# LaB6 a = 4.1569 A\n4.1569\n2.9394\n2.4000\n")
    cal = load_calibrant(path, 0.4e-10)
    # Bragg: 2θ = 2 asin(λ / 2d)
    np.testing.assert_allclose(cal.get_2th()[:3], 2 * np.arcsin(0.4 / (2 * np.array([4.1569, 2.9394, 2.4]))))
    bad = tmp_path / "bad.D"
    bad.write_text("not a number\n")
    with pytest.raises(InputError, match="bad.D"):
        load_calibrant(bad, 0.4e-10)


def test_blank_image_has_too_few_control_points():
    truth, image = _synthetic()
    with pytest.raises(InputError, match=r"found 0 control points on 0 rings; check the start geometry"):
        calibrate(np.full_like(image, 10.0), calibrant="LaB6", wavelength=0.4, start=synthetic_start(truth),
                  source="blank.tif")


def test_bad_options_and_detector():
    truth, image = _synthetic()
    with pytest.raises(InputError, match="unknown parameter"):
        CalibrationOptions(refine=("dist", "tilt"))
    with pytest.raises(InputError, match="unknown pyFAI detector"):
        calibrate(image, calibrant="LaB6", wavelength=0.4,
                  start=StartGeometry(distance_mm=100, center_px=(150, 150), detector="NoSuchDetector"))
    with pytest.raises(InputError, match="does not match the image shape"):
        calibrate(image, calibrant="LaB6", wavelength=0.4,
                  start=StartGeometry(distance_mm=100, center_px=(150, 150), detector="Pilatus1M"))
