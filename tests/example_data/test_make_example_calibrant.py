"""make_example_calibrant.py: the simulated CeO2 image calibrates back to its true geometry with `refine calibrate`."""

from __future__ import annotations

import numpy as np
import pytest

from refine.cli.main import main
from refine.example_data import make_example_calibrant as gen
from refine.io.images import iter_frames
from refine.io.poni import read_poni


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return gen.make(tmp_path_factory.mktemp("calibrant"))


def test_writes_image_poni_and_mask_deterministically(files, tmp_path):
    assert set(files) == {"image", "poni", "mask"}
    (_, image), = list(iter_frames(files["image"]))
    assert image.shape == (512, 512)
    mask = np.load(files["mask"])
    assert mask.shape == image.shape and 0 < mask.sum() < 0.02 * mask.size  # the beam stop and its arm only
    # strongest ring near the documented 20 000 counts (Poisson, solid angle and polarization below 1)
    assert 10_000 < np.percentile(image[~mask], 99.99) < 25_000
    again = gen.make(tmp_path)
    (_, image2), = list(iter_frames(again["image"]))
    assert np.array_equal(image, image2)
    assert again["poni"].read_text() == files["poni"].read_text()


def test_true_poni_is_the_bundled_example_geometry(files):
    ai = read_poni(files["poni"])
    for key, value in gen.base.GEOMETRY.items():
        assert getattr(ai, key) == pytest.approx(value, abs=1e-12), key
    assert ai.wavelength == pytest.approx(0.1173e-10, rel=1e-12)


def test_calibrate_recovers_the_true_geometry(files, tmp_path, capsys):
    truth = read_poni(files["poni"]).getFit2D()
    # What a user types: the distance read off the set-up 5 % long, the beam centre a few pixels off.
    start_x, start_y = round(truth["centerX"]) + 3, round(truth["centerY"]) - 2
    out = tmp_path / "calibrated.poni"
    code = main(["calibrate", str(files["image"]), "--calibrant", "CeO2", "--wavelength", "0.1173",
                 "--distance", f"{truth['directDist'] * 1.05:.1f}", "--center", f"{start_x},{start_y}",
                 "--pixel-size", "200", "--mask", str(files["mask"]), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    got = read_poni(out).getFit2D()
    # measured: distance 1.5e-5 relative, centre 0.01 px; tolerances are the (0.5 %, 1 px)
    assert abs(got["directDist"] / truth["directDist"] - 1) < 0.005
    assert abs(got["centerX"] - truth["centerX"]) < 1.0
    assert abs(got["centerY"] - truth["centerY"]) < 1.0
