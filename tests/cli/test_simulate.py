"""``refine simulate``: the command line twin of refine.simulate (writes the pattern, exit 2 on bad input)."""

import numpy as np
import pytest

import refine
from refine.cli.main import main
from refine.examples import example_path


def test_the_command_writes_a_pattern_that_reads_back(tmp_path, capsys):
    out = tmp_path / "sim.xye"
    assert main(["simulate", str(example_path("cu.cif")), "--wavelength", "0.7", "--range", "10:40", "--step",
                 "0.01", "--noise", "1000", "--seed", "3", "-o", str(out)]) == 0
    assert "-> " + str(out) in capsys.readouterr().out
    back = refine.read_pattern(out)
    direct = refine.simulate(example_path("cu.cif"), wavelength=0.7, range="10:40", step=0.01, noise=1000, seed=3)
    assert np.allclose(back.x, direct.x, atol=1e-6) and np.allclose(back.y, direct.y, atol=1e-6)
    assert back.wavelength == pytest.approx(0.7)
    assert main(["simulate", str(example_path("cu.cif")), "--wavelength", "0.7", "--range", "10:40", "--step", "-1",
                 "-o", str(tmp_path / "bad.xye")]) == 2
    assert capsys.readouterr().err.strip() == ("refine simulate: error: --step: must be > 0 and at most half the "
                                               "range, got -1.0")
    assert not (tmp_path / "bad.xye").exists()
