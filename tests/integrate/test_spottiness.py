"""Spottiness per ring and the series texture flag (refine.integrate.spottiness).

Acceptance (issue 16): a synthetic image (pyFAI ``calcfrom1d``, 4 smooth rings at 6, 9, 12, 15 deg, Poisson noise)
with 20 bright spots at random azimuths on the 9-deg ring flags that ring and no other.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fabio.tifimage import TifImage

from refine.cli.main import main
from refine.integrate import IntegrationSettings, Integrator
from refine.integrate.spottiness import frame_spottiness, series_report

SHAPE = (400, 400)
RINGS = (6.0, 9.0, 12.0, 15.0)


@pytest.fixture(scope="module")
def images():
    from pyFAI.detectors import Detector
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    ai = AzimuthalIntegrator(detector=Detector(172e-6, 172e-6, max_shape=SHAPE), dist=0.1, poni1=0.0344,
                             poni2=0.0344, wavelength=0.5e-10)
    tth = np.linspace(0, 40, 8000)
    profile = 50 + sum(400 * np.exp(-0.5 * ((tth - t) / 0.08) ** 2) for t in RINGS)
    expected = ai.calcfrom1d(tth, profile, dim1_unit="2th_deg", correctSolidAngle=True)
    rng = np.random.default_rng(0)
    tth_px = np.degrees(ai.center_array(SHAPE, unit="2th_rad", scale=False))
    on_ring = np.argwhere(np.abs(tth_px - 9.0) < 0.03)
    rows, cols = np.indices(SHAPE)
    spots = np.zeros(SHAPE)
    for r, c in on_ring[rng.choice(len(on_ring), 20, replace=False)]:  # 20 crystallites, ~2 px across
        spots += 3000 * np.exp(-0.5 * ((rows - r) ** 2 + (cols - c) ** 2))
    spotty = rng.poisson(expected + spots).astype(np.int32)
    smooth = rng.poisson(expected).astype(np.int32)
    return ai, spotty, smooth


def test_twenty_spots_on_one_ring_flag_that_ring_only(images):
    ai, spotty, smooth = images
    integrator = Integrator(ai, IntegrationSettings(npt=500, radial_range=(3, 18)))
    rings = frame_spottiness(integrator, spotty)
    assert [round(r.position) for r in rings] == [6, 9, 12, 15]
    flagged = [round(r.position) for r in rings if r.spotty]
    assert flagged == [9]
    # measured: excess 0.71 on the spotty ring, 0.010-0.014 on the others (threshold 0.15)
    assert min(r.excess for r in rings if r.spotty) > 0.5
    assert max(r.excess for r in rings if not r.spotty) < 0.05
    assert all(r.rms_over_mean >= r.excess for r in rings)
    # the same image without the spots: nothing flagged
    assert not any(r.spotty for r in frame_spottiness(integrator, smooth))
    report = series_report([{"source": "a", "frame": None, "rings": rings},
                            {"source": "b", "frame": None, "rings": frame_spottiness(integrator, smooth)},
                            {"source": "c", "frame": None, "rings": rings}])
    assert report["textured"] and report["frames_with_spotty_rings"] == 2


def test_cli_reports_the_texture_flag(images, tmp_path, capsys):
    ai, spotty, smooth = images
    poni = tmp_path / "g.poni"
    poni.write_text("PixelSize1: 0.000172\nPixelSize2: 0.000172\nDistance: 0.1\nPoni1: 0.0344\nPoni2: 0.0344\n"
                    "Rot1: 0\nRot2: 0\nRot3: 0\nWavelength: 5e-11\n")
    for name, data in (("s1", spotty), ("s2", smooth), ("s3", smooth)):
        TifImage(data=data).write(str(tmp_path / f"{name}.tif"))
    files = [str(tmp_path / f"s{k}.tif") for k in (1, 2, 3)]
    code = main(["integrate", *files, "--poni", str(poni), "--npt", "500", "--range", "3:18", "--no-progress",
                 "--spottiness", "-o", str(tmp_path / "out")])
    assert code == 0
    out = capsys.readouterr().out
    assert "texture not flagged: 1 of 3 frame(s) with spotty rings (spotty rings at 9.0" in out
    report = json.loads((tmp_path / "out" / "spottiness.json").read_text())
    assert report["threshold"] == 0.15 and report["textured"] is False
    assert [r["spotty"] for r in report["per_frame"][0]["rings"]] == [False, True, False, False]
