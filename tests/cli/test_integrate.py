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
    folder = shared_path(*FOLDER, "CeO2_Pilatus1M.tif").parent
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
    code = main(["integrate", str(tmp_path / "img.tif"), str(tmp_path / "small.tif"), "--poni", str(poni),
                 "-o", str(tmp_path / "o"), "--no-progress"])
    assert code == 3  # the good image is still integrated; the bad one is flagged
    line = _error_line(capsys)
    assert "small.tif: image shape (20, 20) does not match the detector shape (160, 200)" in line
    assert (tmp_path / "o" / "img.xye").is_file() and not (tmp_path / "o" / "small.xye").exists()


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
    assert main(["integrate", str(tmp_path / "nan.edf"), "--poni", str(poni), "-o", str(tmp_path / "o"),
                 "--no-progress"]) == 3  # frame 0 written, frame 1 flagged
    assert "nan.edf: image frame 1 holds only NaN" in _error_line(capsys)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["nan_00000.xye"]
    edf = EdfImage(data=np.full_like(good, np.nan))
    edf.write(str(tmp_path / "nan_only.edf"))
    line = _run_bad([str(tmp_path / "nan_only.edf"), "--poni", str(poni), "-o", str(tmp_path / "o2")], capsys)
    assert "nan_only.edf: image holds only NaN" in line
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


def test_bad_frame_in_a_series_is_flagged_and_the_others_are_written(files, capsys):
    """One unreadable file among good ones: every good frame is written (identical to a run without the bad file),
    one stderr line names the bad one, exit 3; a re-run integrates nothing again and still flags it."""
    tmp_path, poni = files
    for name in ("a.tif", "c.tif"):
        (tmp_path / name).write_bytes((tmp_path / "img.tif").read_bytes())
    (tmp_path / "b.tif").write_bytes((tmp_path / "img.tif").read_bytes()[:300])  # truncated mid-header
    images = [str(tmp_path / n) for n in ("a.tif", "b.tif", "c.tif")]
    assert main(["integrate", *images, "--poni", str(poni), "-o", str(tmp_path / "o"), "--no-progress"]) == 3
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "b.tif" in err[0] and "Traceback" not in captured.err
    assert "3 frame(s)" in captured.out and "2 integrated, 0 already done, 1 failed" in captured.out
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.xye", "c.xye"]  # no lock or .part left
    assert main(["integrate", images[0], images[2], "--poni", str(poni), "-o", str(tmp_path / "ref"),
                 "--no-progress"]) == 0
    for name in ("a.xye", "c.xye"):
        assert (tmp_path / "o" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    capsys.readouterr()
    assert main(["integrate", *images, "--poni", str(poni), "-o", str(tmp_path / "o"), "--no-progress"]) == 3
    assert "0 integrated, 2 already done, 1 failed" in capsys.readouterr().out


def test_second_run_into_a_held_folder_exits_2_naming_the_holder(files, capsys):
    import json
    import subprocess
    import sys

    tmp_path, poni = files
    out = tmp_path / "o"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from refine.io.lock import LOCK_NAME, _host

        (out / LOCK_NAME).write_text(json.dumps({"pid": holder.pid, "host": _host(), "command": "integrate"}))
        code = main(["integrate", str(tmp_path / "img.tif"), "--poni", str(poni), "-o", str(out), "--no-progress"])
        assert code == 2
        line = _error_line(capsys)
        assert f"pid {holder.pid}" in line and "is writing into this folder" in line
        assert not (out / "img.xye").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and taken over with a note
    assert main(["integrate", str(tmp_path / "img.tif"), "--poni", str(poni), "-o", str(out), "--no-progress"]) == 0
    assert f"took over the lock of pid {holder.pid}" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["img.xye"]


def test_cli_cake_and_sectors(files, capsys):
    import h5py

    tmp_path, poni = files
    out = tmp_path / "out"
    code = main(["integrate", str(tmp_path / "img.tif"), "--poni", str(poni), "--npt", "200", "--no-progress",
                 "--cake", "200,90", "--sectors=-90:0,0:90", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    with h5py.File(out / "img_cake.h5") as f:
        assert f["intensity"].shape == (90, 200) and f["chi"].shape == (90,) and f["radial"].shape == (200,)
        assert "+columns" in f.attrs["chi_origin"] and f.attrs["fingerprint"]
    assert (out / "img_cake.png").stat().st_size > 5_000
    lower, upper = read_pattern(out / "chi-90_0" / "img.xye"), read_pattern(out / "chi0_90" / "img.xye")
    full = read_pattern(out / "img.xye")
    assert len(lower) > 50 and len(upper) > 50 and len(full) > len(lower) - 5
    # polarization 0.99 in the image, none corrected: the two sectors (±90 vs 0) see the same cos 2χ average
    np.testing.assert_allclose(np.interp(full.x, upper.x, upper.y)[50:150], np.interp(full.x, lower.x, lower.y)[50:150],
                               rtol=0.02)
    # a second run skips the cakes and sector patterns already written
    assert main(["integrate", str(tmp_path / "img.tif"), "--poni", str(poni), "--npt", "200", "--no-progress",
                 "--cake", "200,90", "--sectors=-90:0,0:90", "-o", str(out)]) == 0
    assert "4 already done" in capsys.readouterr().out


def test_cli_bad_cake_and_sectors(files, capsys):
    tmp_path, poni = files
    base = ["integrate", str(tmp_path / "img.tif"), "--poni", str(poni), "-o", str(tmp_path / "o")]
    assert main([*base, "--cake", "200"]) == 2
    assert "--cake" in _error_line(capsys)
    assert main([*base, "--sectors", "90:10"]) == 2
    assert "--sectors" in _error_line(capsys)
