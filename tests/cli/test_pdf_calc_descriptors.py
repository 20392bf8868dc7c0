"""``refine pdf calc --descriptors``: local-structure descriptors over the frames of the G(r) calculation."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

import refine
from refine.cli.main import main
from tests.conftest import data_file


def test_api_structure_file_gives_rock_salt_coordination():
    result = refine.pdf_calc(data_file("NaCl.cif"), descriptors=True, uiso=0.005, rmax=10, bonds=["Na-Cl:3.2"],
                             bond_cutoff=0.5)
    local = result.descriptors
    assert local.frames == 1
    assert np.all(local.coordination["Na-Cl"] == 6) and np.all(local.coordination["Cl-Na"] == 6)
    assert np.ptp(local.bond_lengths["Cl-Na"]) < 1e-9
    assert result.to_dict()["descriptors"][0]["quantity"] == "bond length (A)"


def test_cli_trajectory_frames_and_csv(tmp_path, capsys):
    rng = np.random.default_rng(2)
    frames = []
    for _ in range(4):
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        frames.append(atoms)
    traj = tmp_path / "md.xyz"
    write(traj, frames, format="extxyz")
    out = tmp_path / "md.gr"
    assert main(["pdf", "calc", str(traj), "--frames", "0:4:2", "--uiso", "0.005", "--rmax", "8", "--descriptors",
                 "--bonds", "Na-Cl:3.3", "--bond-cutoff", "0.5", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "local structure over 2 frame(s)" in text
    csv = tmp_path / "md.descriptors.csv"
    rows = [line.split(",") for line in csv.read_text().splitlines()[1:]]
    cn = next(r for r in rows if r[0] == "coordination" and r[1] == "Na-Cl")
    assert int(cn[2]) == 2 * 32 and 5.5 < float(cn[3]) <= 6.0  # 32 Na per frame, two frames


@pytest.mark.parametrize("args, message", [(["--bonds", "NaCl:3"], "--bonds"), (["--bond-cutoff", "-1"],
                                                                                 "--bond-cutoff")])
def test_bad_bond_options_exit_2(tmp_path, capsys, args, message):
    assert main(["pdf", "calc", str(data_file("NaCl.cif")), "--uiso", "0.005", "--descriptors", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err, err
