"""``refine calibrate`` through refine.cli.main.main: PONI/JSON/figure outputs, the CeO2 calibration, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fabio.tifimage import TifImage

from refine.cli.main import main
from refine.io.poni import read_poni, write_poni
from tests.conftest import shared_path
from tests.integrate.test_calibrate import _synthetic, synthetic_start
from tests.integrate.test_ceo2_reference import FOLDER


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The LaB6 image of tests/integrate/test_calibrate.py as a TIFF, and a start PONI (dist +3 %, centre 3.6 px)."""
    from pyFAI.detectors import Detector
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    folder = tmp_path_factory.mktemp("calib_cli")
    truth, image = _synthetic()
    TifImage(data=image.astype(np.int32)).write(str(folder / "lab6.tif"))
    guess = synthetic_start(truth)
    start = AzimuthalIntegrator(detector=Detector(150e-6, 150e-6, max_shape=image.shape), wavelength=0.4e-10)
    start.setFit2D(guess.distance_mm, *guess.center_px)
    write_poni(folder / "start.poni", start)
    return folder, truth


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # exactly one line, no traceback
    return err[0]


def test_cli_writes_poni_json_and_figure(synthetic, capsys):
    folder, truth = synthetic
    out = folder / "out.poni"
    code = main(["calibrate", str(folder / "lab6.tif"), "--calibrant", "LaB6", "--wavelength", "0.4",
                 "--poni", str(folder / "start.poni"), "-o", str(out), "--json", str(folder / "out.json"),
                 "--plot", str(folder / "out.png")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "RMS residual" in printed and "dist" in printed and "(fixed)" in printed
    ai = read_poni(out)  # a complete PONI, wavelength in metres
    assert ai.wavelength == pytest.approx(0.4e-10, rel=1e-12)
    assert ai.dist == pytest.approx(truth.dist, rel=2e-4)
    assert abs(ai.poni1 - truth.poni1) < 75e-6 and abs(ai.poni2 - truth.poni2) < 75e-6
    doc = json.loads((folder / "out.json").read_text())
    assert doc["kind"] == "calibration" and doc["parameters"]["dist"]["vary"] is True
    assert doc["parameters"]["rot3"]["esd"] is None and doc["parameters"]["poni1"]["esd"] > 0
    assert doc["statistics"]["rms_px"] < 0.1
    assert doc["provenance"]["inputs"][0]["sha256"]
    assert (folder / "out.png").stat().st_size > 10_000


def test_cli_calibrates_the_ceo2_image_from_distance_and_centre(tmp_path, capsys):
    # the first 8 rings only, to keep the test short (all 17: tests/integrate/test_calibrate.py)
    folder = shared_path(*FOLDER, "CeO2_Pilatus1M.tif").parent
    ref = read_poni(folder / "CeO2_Pilatus1M.poni")
    f2d = ref.getFit2D()
    out = tmp_path / "ceo2.poni"
    code = main(["calibrate", str(folder / "CeO2_Pilatus1M.tif"), "--calibrant", "CeO2", "--wavelength", "0.4066",
                 "--distance", f"{f2d['directDist'] * 1.03:.2f}", "--detector", "Pilatus1M",
                 "--center", f"{f2d['centerX'] - 4:.1f},{f2d['centerY'] + 3:.1f}", "--flip", "ud",
                 "--max-rings", "8", "-o", str(out)])
    assert code == 0
    ai = read_poni(out)
    assert ai.dist == pytest.approx(ref.dist, rel=1e-3)
    assert abs(ai.poni1 - ref.poni1) < 172e-6 and abs(ai.poni2 - ref.poni2) < 172e-6
    assert abs(ai.rot1 - ref.rot1) < 0.002 and abs(ai.rot2 - ref.rot2) < 0.002
    assert "on 8 rings" in capsys.readouterr().out


def test_cli_bad_input_exits_2(synthetic, tmp_path, capsys):
    folder, _ = synthetic
    base = ["calibrate", str(folder / "lab6.tif"), "--wavelength", "0.4", "-o", str(tmp_path / "o.poni")]
    start = ["--poni", str(folder / "start.poni")]
    assert main([*base, "--calibrant", "Kryptonite", *start]) == 2
    assert "unknown calibrant 'Kryptonite'" in _error_line(capsys)
    assert main(["calibrate", str(tmp_path / "missing.tif"), "--calibrant", "LaB6", "--wavelength", "0.4",
                 *start, "-o", str(tmp_path / "o.poni")]) == 2
    assert "missing.tif" in _error_line(capsys)
    assert main([*base, "--calibrant", "LaB6", *start, "--distance", "100"]) == 2
    assert "not both" in _error_line(capsys)
    assert main([*base, "--calibrant", "LaB6", "--distance", "0", "--pixel-size", "150"]) == 2
    assert "--distance: distance must be positive" in _error_line(capsys)
    assert main([*base, "--calibrant", "LaB6", "--poni", str(tmp_path / "nope.poni")]) == 2
    assert "nope.poni: no such PONI file" in _error_line(capsys)
    blank = tmp_path / "blank.tif"
    TifImage(data=np.full((300, 320), 7, dtype=np.int32)).write(str(blank))
    assert main(["calibrate", str(blank), "--calibrant", "LaB6", "--wavelength", "0.4", *start,
                 "-o", str(tmp_path / "o.poni")]) == 2
    line = _error_line(capsys)
    assert "blank.tif: found 0 control points on 0 rings; check the start geometry or wavelength" in line
    assert not (tmp_path / "o.poni").exists()


def test_cli_calibrates_from_detector_alone_and_reports_rings(synthetic, tmp_path, capsys):
    folder, truth = synthetic
    out = tmp_path / "free.poni"
    code = main(["calibrate", str(folder / "lab6.tif"), "--calibrant", "LaB6", "--wavelength", "0.4",
                 "--pixel-size", "150", "-o", str(out), "--plot", str(tmp_path / "free.png")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "rings used" in printed and "starts refined: 1 (coarse" in printed
    ai = read_poni(out)
    assert ai.dist == pytest.approx(truth.dist, rel=1e-3)
    assert abs(ai.poni1 - truth.poni1) < 150e-6 and abs(ai.poni2 - truth.poni2) < 150e-6
    assert (tmp_path / "free.png").stat().st_size > 10_000


def test_cli_poor_calibration_warns_and_exits_3_under_strict(synthetic, tmp_path, capsys):
    folder, _ = synthetic
    args = ["calibrate", str(folder / "lab6.tif"), "--calibrant", "CeO2", "--wavelength", "0.4",
            "--poni", str(folder / "start.poni"), "-o", str(tmp_path / "bad.poni"), "--json", str(tmp_path / "b.json")]
    assert main(args) == 0  # written, with a warning
    assert "warning: poor calibration" in capsys.readouterr().err
    assert json.loads((tmp_path / "b.json").read_text())["converged"] is False
    assert main(["--strict", *args]) == 3
    err = capsys.readouterr().err
    assert "warning: poor calibration" in err and "under --strict" in err


@pytest.mark.parametrize("start", ["nothing", "219.1mm_10px"])
def test_cli_calibrates_the_ceo2_image_from_a_rough_start_or_none(tmp_path, capsys, start):
    folder = shared_path(*FOLDER, "CeO2_Pilatus1M.tif").parent
    ref = read_poni(folder / "CeO2_Pilatus1M.poni")
    f2d = ref.getFit2D()
    guess = [] if start == "nothing" else ["--distance", "219.1", "--center",
                                           f"{f2d['centerX'] + 10:.1f},{f2d['centerY'] - 10:.1f}"]
    out = tmp_path / "ceo2.poni"
    code = main(["--strict", "calibrate", str(folder / "CeO2_Pilatus1M.tif"), "--calibrant", "CeO2", "--wavelength",
                 "0.4066", "--detector", "Pilatus1M", *guess, "--flip", "ud", "--max-rings", "8", "-o", str(out),
                 "--plot", str(tmp_path / "ceo2.png")])
    assert code == 0  # no warning even under --strict
    ai = read_poni(out)
    assert ai.dist == pytest.approx(ref.dist, rel=1e-3)
    assert abs(ai.poni1 - ref.poni1) < 172e-6 and abs(ai.poni2 - ref.poni2) < 172e-6
    assert abs(ai.rot1 - ref.rot1) < 1e-3 and abs(ai.rot2 - ref.rot2) < 1e-3
    assert "8 rings used" in capsys.readouterr().out
