"""``refine pdf calc``: writes OUT.gr and OUT.partials.csv from a structure or trajectory; bad input is exit 2 with
one line naming the file or option."""

from __future__ import annotations

import numpy as np
import pytest

from refine.cli.main import main
from refine.examples import EXAMPLE_DATA

ase_io = pytest.importorskip("ase.io")
from ase import Atoms  # noqa: E402


def _trajectory(path, counts=(4, 4, 4), cell=True):
    rng = np.random.default_rng(2)
    frames = [Atoms(["Na", "O"] * (n // 2), positions=rng.random((n, 3)) * 4,
                    cell=np.eye(3) * 4.6 if cell else None, pbc=cell) for n in counts]
    ase_io.write(path, frames, format="extxyz")


def test_trajectory_frames_to_files(tmp_path, capsys):
    _trajectory(tmp_path / "md.xyz", counts=(8,) * 5)
    out = tmp_path / "md.gr"
    assert main(["pdf", "calc", str(tmp_path / "md.xyz"), "--frames", "1:5:2", "--uiso", "0.005", "--qmax", "20",
                 "--radiation", "neutron", "--rmax", "10", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 frame(s) 1:5:2" in printed and "wrote" in printed
    data = np.loadtxt(out)
    assert data.shape == (1001, 2)
    assert (tmp_path / "md.partials.csv").read_text().splitlines()[0] == "r,Na-Na,Na-O,O-O"


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err
    return err


@pytest.mark.parametrize(("counts", "cell", "frames", "needles"), [
    ((4, 4, 6), True, None, ("md.xyz", "atom count")),
    ((4, 4), False, None, ("md.xyz", "no periodic cell")),
    ((4, 4, 4), True, "2:8", ("md.xyz", "run past the end")),
    ((4, 4, 4), True, "5:9", ("md.xyz", "select no frame")),
    ((4, 4, 4), True, "a:b", ("--frames",)),
])
def test_bad_trajectories_exit_2(tmp_path, capsys, counts, cell, frames, needles):
    _trajectory(tmp_path / "md.xyz", counts, cell)
    argv = ["pdf", "calc", str(tmp_path / "md.xyz"), "--uiso", "0.005", "--rmax", "5"]
    assert main(argv + (["--frames", frames] if frames else [])) == 2
    _one_line_error(capsys, *needles)


def test_bad_options_exit_2(tmp_path, capsys):
    sc = str(EXAMPLE_DATA / "drs_supercell.cif")
    assert main(["pdf", "calc", sc, "--envelope", "sphere"]) == 2
    _one_line_error(capsys, "--spdiameter")
    _trajectory(tmp_path / "md.xyz")
    assert main(["pdf", "calc", str(tmp_path / "md.xyz")]) == 2  # trajectories carry no ADPs
    _one_line_error(capsys, "--uiso")
    assert main(["pdf", "calc", sc, "--frames", "0:2"]) == 2
    _one_line_error(capsys, "--frames")
