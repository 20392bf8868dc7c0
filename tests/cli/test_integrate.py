"""``refine integrate`` through refine.cli.main.main: outputs, the CeO2 reference, exit 2 on bad input."""

from __future__ import annotations

import numpy as np
import pytest
from fabio.edfimage import EdfFrame, EdfImage
from fabio.tifimage import TifImage

from refine.cli.main import main
from refine.io.patterns import read_pattern
from tests.conftest import shared_path
from tests.integrate import synthetic as sy
from tests.integrate.test_ceo2_reference import FOLDER, check_against_reference

GEOMETRY = sy.Geometry()


@pytest.fixture()
def files(tmp_path):
    poni = tmp_path / "g.poni"
    poni.write_text(GEOMETRY.poni_text())
    image = (sy.image(GEOMETRY, polarization=0.99) * 10).astype(np.int32)
    TifImage(data=image).write(str(tmp_path / "img.tif"))
    return tmp_path, poni


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # exactly one line, no traceback
    return err[0]


def test_cli_writes_xye_with_sigma(files, capsys):
    tmp_path, poni = files
    out = tmp_path / "out"
    code = main(["integrate", str(tmp_path / "img.tif"), "--poni", str(poni), "--npt", "300", "--unit", "q_A^-1",
                 "--polarization", "0.99", "--no-progress", "-o", str(out)])
    assert code == 0
    pattern = read_pattern(out / "img.xye")
    assert len(pattern) == 300 and pattern.unit == "q_A^-1" and pattern.sigma_source == "file"
    assert np.all(pattern.sigma > 0)
    tth = pattern.to_unit("2th_deg")
    inner = tth.x < 17
    # 10x the truth, pixel-discretisation tolerance as in tests/integrate/test_integrator.py
    np.testing.assert_allclose(tth.y[inner] / 10, sy.truth(tth.x[inner]), rtol=1.5e-2)
    assert "1 integrated" in capsys.readouterr().out
    assert main(["integrate", str(tmp_path / "img.tif"), "--poni", str(poni), "--npt", "300", "--unit", "q_A^-1",
                 "--polarization", "0.99", "--no-progress", "-o", str(out)]) == 0
    assert "1 already done" in capsys.readouterr().out


def test_cli_reproduces_the_dioptas_ceo2_pattern(tmp_path):
    folder = shared_path(*FOLDER)
    code = main(["integrate", str(folder / "CeO2_Pilatus1M.tif"), "--poni", str(folder / "CeO2_Pilatus1M.poni"),
                 "--npt", "1512", "--unit", "2th_deg", "--method", "bbox", "--polarization", "0.99",
                 "--flip", "ud", "--no-progress", "-o", str(tmp_path)])
    assert code == 0
    pattern = read_pattern(tmp_path / "CeO2_Pilatus1M.xye")
    check_against_reference(pattern.x, pattern.y)


def _run_bad(args, capsys):
    code = main(["integrate", *args, "--no-progress"])
    assert code == 2
    return _error_line(capsys)


def test_missing_and_unreadable_images(files, capsys):
    tmp_path, poni = files
    line = _run_bad([str(tmp_path / "nope.tif"), "--poni", str(poni), "-o", str(tmp_path / "o")], capsys)
    assert "nope.tif: no such image file" in line
    (tmp_path / "junk.cbf").write_bytes(b"\x00garbage" * 50)
    line = _run_bad([str(tmp_path / "junk.cbf"), "--poni", str(poni), "-o", str(tmp_path / "o")], capsys)
    assert "junk.cbf: cannot read as an image" in line


def test_shape_mismatch_with_mask_and_detector(files, capsys):
    tmp_path, poni = files
    np.save(tmp_path / "m.npy", np.zeros((10, 12), dtype=bool))
    line = _run_bad([str(tmp_path / "img.tif"), "--poni", str(poni), "--mask", str(tmp_path / "m.npy"),
                     "-o", str(tmp_path / "o")], capsys)
    assert "img.tif: image shape (160, 200) does not match the detector shape (10, 12)" in line
    TifImage(data=np.ones((20, 20), dtype=np.int32)).write(str(tmp_path / "small.tif"))
    line = _run_bad([str(tmp_path / "img.tif"), str(tmp_path / "small.tif"), "--poni", str(poni),
                     "-o", str(tmp_path / "o")], capsys)
    assert "small.tif: image shape (20, 20) does not match the detector shape (160, 200)" in line


def test_bad_poni(files, capsys):
    tmp_path, _ = files
    (tmp_path / "bad.poni").write_text("Distance: 0.1\nthis is not a calibration\n")
    line = _run_bad([str(tmp_path / "img.tif"), "--poni", str(tmp_path / "bad.poni"), "-o", str(tmp_path / "o")],
                    capsys)
    assert "bad.poni: not a PONI file: missing poni1" in line


def test_nan_only_and_empty_frames(files, capsys):
    tmp_path, poni = files
    good = sy.image(GEOMETRY).astype(np.float32)
    edf = EdfImage(data=good)
    edf.append_frame(EdfFrame(data=np.full_like(good, np.nan)))
    edf.write(str(tmp_path / "nan.edf"))
    line = _run_bad([str(tmp_path / "nan.edf"), "--poni", str(poni), "-o", str(tmp_path / "o")], capsys)
    assert "nan.edf: image frame 1 holds only NaN" in line
    import h5py

    with h5py.File(tmp_path / "empty.h5", "w") as fh:
        fh.create_dataset("entry/data/data", data=np.zeros((1, 0, 5), dtype=np.int32))
    line = _run_bad([str(tmp_path / "empty.h5"), "--poni", str(poni), "-o", str(tmp_path / "o")], capsys)
    assert "empty.h5" in line


def test_bad_options(files, capsys):
    tmp_path, poni = files
    line = _run_bad([str(tmp_path / "img.tif"), "--poni", str(poni), "--method", "magic", "-o", str(tmp_path)],
                    capsys)
    assert "unknown pyFAI method 'magic'" in line
    line = _run_bad([str(tmp_path / "img.tif"), "--poni", str(poni), "--polarization", "3", "-o", str(tmp_path)],
                    capsys)
    assert "polarization" in line
