"""PONI files: real calibration values, validation of incomplete or malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from refine.errors import InputError
from refine.io.poni import geometry_metadata, read_poni
from tests.conftest import shared_path

GOOD = """# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis
PixelSize1: 0.0001
PixelSize2: 0.0002
Distance: 0.5
Poni1: 0.02
Poni2: 0.03
Rot1: 0.01
Rot2: -0.02
Rot3: 0.0
Wavelength: 1.173e-11
"""


def test_values_from_a_written_poni(tmp_path):
    path = tmp_path / "g.poni"
    path.write_text(GOOD)
    geo = geometry_metadata(read_poni(path))
    expected = {"dist_m": 0.5, "poni1_m": 0.02, "poni2_m": 0.03, "rot1_rad": 0.01, "rot2_rad": -0.02,
                "pixel1_m": 1e-4, "pixel2_m": 2e-4, "wavelength_A": 0.1173}
    for key, value in expected.items():
        assert geo[key] == pytest.approx(value, rel=1e-12), key


def test_dioptas_ceo2_poni_matches_its_fit2d_description():
    # README/.xy header: Fit2D distance 208.689 mm, centre x=487.259 y=512.548 px, tilt 1.083 deg,
    # tilt-plane rotation 12.646 deg (pyFAI's own conversion, printed by Dioptas).
    ai = read_poni(shared_path("images_2d", "dioptas_CeO2_Pilatus1M", "CeO2_Pilatus1M.poni"))
    fit2d = ai.getFit2D()
    assert fit2d["directDist"] == pytest.approx(208.689, abs=1e-3)
    assert fit2d["centerX"] == pytest.approx(487.259, abs=1e-3)
    assert fit2d["centerY"] == pytest.approx(512.548, abs=1e-3)
    assert fit2d["tilt"] == pytest.approx(1.083, abs=1e-3)
    assert fit2d["tiltPlanRotation"] == pytest.approx(12.646, abs=1e-3)
    assert geometry_metadata(ai)["wavelength_A"] == pytest.approx(0.4066, rel=1e-12)


@pytest.mark.parametrize(("text", "problem"), [
    ("garbage that pyFAI would accept silently\n", "missing distance"),
    (GOOD.replace("Wavelength: 1.173e-11\n", ""), "no Wavelength"),
    (GOOD.replace("Distance: 0.5", "Distance: abc"), "does not parse"),
    (GOOD.replace("Distance: 0.5", "Distance: -0.5"), "Distance must be a positive"),
    (GOOD.replace("PixelSize1: 0.0001\nPixelSize2: 0.0002\n", ""), "PixelSize1 must be a positive"),
    ("", "missing distance"),
    # found by fuzzing: pyFAI lists every known detector on several lines; the message stays one line
    ("Detector: NoSuchDetector\n" + GOOD, r"RuntimeError: Detector nosuchdetector is unknown ! .* predefined:\)$"),
])
def test_bad_poni_files_raise_input_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "bad.poni"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as info:
        read_poni(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_binary_and_missing_poni(tmp_path):
    with pytest.raises(InputError, match="no such PONI file"):
        read_poni(tmp_path / "missing.poni")
    path = tmp_path / "bin.poni"
    path.write_bytes(np.arange(256, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="bin.poni"):
        read_poni(path)


@pytest.mark.parametrize("special", ["/dev/zero", "folder"])
def test_device_or_folder_as_poni_is_refused_naming_it(tmp_path, special):
    """/dev/zero would be read without limit; a folder is not a PONI file."""
    path = tmp_path if special == "folder" else Path(special)
    if not path.exists():
        pytest.skip(f"{special} does not exist on this system")
    with pytest.raises(InputError, match="is a folder, not a|is not a regular file") as info:
        read_poni(path)
    assert str(path) in str(info.value)
