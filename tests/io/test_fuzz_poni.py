"""Fuzzing the PONI reader: a complete, finite geometry or a one-line InputError naming the file."""

from __future__ import annotations

import math

import pytest
from hypothesis import given

from refine.io.poni import read_poni
from tests.fuzzing import fuzz_inputs, fuzz_settings, read_or_refuse

SEEDS = (
    b"# Simulated example geometry\nponi_version: 2.1\nDetector: Detector\n"
    b'Detector_config: {"pixel1": 0.0002, "pixel2": 0.0002, "max_shape": [512, 512], "orientation": 3}\n'
    b"Distance: 0.35\nPoni1: 0.0502\nPoni2: 0.0518\nRot1: 0.004\nRot2: -0.003\nRot3: 0.0\n"
    b"Wavelength: 1.1730000000000001e-11\n",
    b"# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis\n# Calibration done at Thu Jan  1 2024\n"
    b"poni_version: 2\nDetector: Pilatus1M\nDetector_config: {}\nDistance: 0.1998\nPoni1: 0.0835\nPoni2: 0.0847\n"
    b"Rot1: -0.0051\nRot2: 0.0023\nRot3: 0.0\nWavelength: 4.066e-11\n",
    b"PixelSize1: 0.000172\nPixelSize2: 0.000172\nDistance: 0.2\nPoni1: 0.03\nPoni2: 0.04\nRot1: 0\nRot2: 0\n"
    b"Rot3: 0\nWavelength: 1e-10\n",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_poni")


@fuzz_settings()
@given(data=fuzz_inputs(SEEDS))
def test_fuzz_poni(folder, data):
    path = folder / "geometry.poni"
    ai = read_or_refuse(read_poni, path, data)
    if ai is not None:
        for value in (ai.dist, ai.detector.pixel1, ai.detector.pixel2, ai.wavelength):
            assert math.isfinite(value) and value > 0
        assert all(math.isfinite(getattr(ai, k)) for k in ("poni1", "poni2", "rot1", "rot2", "rot3"))
