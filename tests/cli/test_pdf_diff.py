"""``refine pdf diff``: ΔG = G_B − G_A with propagated dG, on A's grid; bad input exits 2."""

import numpy as np
import pytest

from refine.cli.main import main
from refine.io import read_pattern


def _write(path, r, g, dg=None):
    cols = [r, g] if dg is None else [r, g, dg]
    np.savetxt(path, np.column_stack(cols), header="r G dG" if dg is not None else "r G")


def test_difference_values_sigma_and_range(tmp_path):
    r = np.round(np.arange(1, 2001) * 0.01, 10)
    ga = np.sin(3 * r) * np.exp(-0.05 * r)
    gb = 1.1 * np.sin(3.05 * r) * np.exp(-0.05 * r)
    _write(tmp_path / "a.gr", r, ga, np.full(r.size, 0.03))
    _write(tmp_path / "b.gr", r, gb, np.full(r.size, 0.04))
    out = tmp_path / "d.gr"
    assert main(["pdf", "diff", str(tmp_path / "a.gr"), str(tmp_path / "b.gr"), "-o", str(out), "--rmax", "15",
                 "--plot", str(tmp_path / "d.png")]) == 0
    d = read_pattern(out)
    assert d.x[-1] == pytest.approx(15.0) and d.x[0] == pytest.approx(0.01)
    keep = r <= 15 + 1e-9
    np.testing.assert_allclose(d.y, (gb - ga)[keep], atol=1e-12)  # same grid: the spline passes through the points
    np.testing.assert_allclose(d.sigma, 0.05, rtol=1e-9)  # sqrt(0.03² + 0.04²)
    assert "G_B - G_A" in out.read_text() and (tmp_path / "d.png").stat().st_size > 10_000


def test_bad_input_exit_2(tmp_path, capsys):
    np.savetxt(tmp_path / "a.xy", np.column_stack([np.arange(10.0), np.arange(10.0)]))
    r = np.arange(1, 101) * 0.01
    _write(tmp_path / "b.gr", r, np.sin(r))
    out = str(tmp_path / "d.gr")
    assert main(["pdf", "diff", str(tmp_path / "a.xy"), str(tmp_path / "b.gr"), "-o", out]) == 2
    assert main(["pdf", "diff", str(tmp_path / "missing.gr"), str(tmp_path / "b.gr"), "-o", out]) == 2
    assert main(["pdf", "diff", str(tmp_path / "b.gr"), str(tmp_path / "b.gr"), "-o", str(tmp_path / "d.gr"),
                 "--rmin", "50"]) == 2
    err = capsys.readouterr().err
    assert "a.xy" in err and "missing.gr" in err and "--rmin" in err
