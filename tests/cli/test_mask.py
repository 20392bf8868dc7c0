"""``refine mask`` and ``refine integrate --detector/--mask-invalid/--sigma-clip`` through refine.cli.main.main."""

from __future__ import annotations

import numpy as np
import pytest
from fabio.tifimage import TifImage

from refine.cli.main import main
from refine.io.masks import read_mask


def test_cli_mask_builds_saves_and_combines(tmp_path, capsys):
    image = np.random.default_rng(0).poisson(50, size=(1043, 981)).astype(np.int32)
    image[100, 100] = 100000  # hot
    image[300, 300] = -2
    TifImage(data=image).write(str(tmp_path / "img.tif"))
    code = main(["mask", str(tmp_path / "img.tif"), "--detector", "Pilatus1M", "--invalid", "--hot-dead", "8",
                 "--polygon", "0,0 10,0 10,10 0,10", "-o", str(tmp_path / "m.mask")])
    assert code == 0
    out = capsys.readouterr().out
    assert "detector: 73533" in out and "invalid: 1" in out and "hot/dead: 1" in out and "polygon 1: 100" in out
    first = read_mask(tmp_path / "m.mask")
    assert first[100, 100] and first[300, 300] and first[5, 5] and first[200, 0]
    assert main(["mask", "--combine", str(tmp_path / "m.mask"), "--polygon", "500,500 510,500 510,510",
                 "-o", str(tmp_path / "m.edf")]) == 0
    both = read_mask(tmp_path / "m.edf")
    assert both.sum() > first.sum() and (both | first).sum() == both.sum()


def test_cli_mask_bad_input(tmp_path, capsys):
    assert main(["mask", "--polygon", "1,2 3,4 5,6", "-o", str(tmp_path / "m.mask")]) == 2
    assert "shape" in capsys.readouterr().err
    assert main(["mask", "--detector", "Pilatus1M", "-o", str(tmp_path / "m.png")]) == 2
    assert "unknown mask format" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse's usage error: exit 2, one line
        main(["mask", "--detector", "Pilatus1M", "--polygon", "1,2", "-o", str(tmp_path / "m.npy")])
    assert exc.value.code == 2
    assert "argument --polygon: need at least 3 vertices" in capsys.readouterr().err


def test_cli_integrate_with_detector_gaps_and_sigma_clip(tmp_path, capsys):
    from pyFAI.detectors import detector_factory

    det = detector_factory("Pilatus1M")
    image = np.random.default_rng(1).poisson(100, size=det.shape).astype(np.int32)
    image[det.mask.astype(bool)] = -1
    TifImage(data=image).write(str(tmp_path / "img.tif"))
    poni = tmp_path / "g.poni"
    poni.write_text("PixelSize1: 0.000172\nPixelSize2: 0.000172\nDistance: 0.2\nPoni1: 0.09\nPoni2: 0.08\n"
                    "Rot1: 0\nRot2: 0\nRot3: 0\nWavelength: 5e-11\n")
    for extra, folder in ((["--detector", "Pilatus1M"], "det"), (["--mask-invalid", "--sigma-clip", "4"], "clip")):
        assert main(["integrate", str(tmp_path / "img.tif"), "--poni", str(poni), "--npt", "300", "--no-progress",
                     "--no-solid-angle", *extra, "-o", str(tmp_path / folder)]) == 0, capsys.readouterr().err
        y = np.loadtxt(tmp_path / folder / "img.xye")[:, 1]
        assert abs(np.median(y) / 100 - 1) < 0.01  # gap pixels (-1) left out: flat 100 counts
    assert main(["integrate", str(tmp_path / "img.tif"), "--poni", str(poni), "--detector", "Eiger2_4M",
                 "-o", str(tmp_path / "x")]) == 2
    assert "--detector" in capsys.readouterr().err
