"""``refine.pdf_diff``: ΔG = G_B − G_A from Patterns or files, files written only when asked, bad options named."""

import numpy as np
import pytest

import refine
from refine.data import Pattern
from refine.errors import InputError

R = np.round(np.arange(1, 2001) * 0.01, 10)
GA = np.sin(3 * R) * np.exp(-0.05 * R)
GB = 1.1 * np.sin(3.05 * R) * np.exp(-0.05 * R)


def _gr(g, dg, source):
    return Pattern(x=R, y=g, sigma=np.full(R.size, dg), unit="r_A", sigma_source="file", radiation="xray",
                   metadata={"source": source})


def test_patterns_in_nothing_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    delta = refine.pdf_diff(_gr(GA, 0.03, "a"), _gr(GB, 0.04, "b"), rmin=2, rmax=15)
    assert delta.unit == "r_A" and delta.x[0] == pytest.approx(2.0) and delta.x[-1] == pytest.approx(15.0)
    keep = (R >= 2 - 1e-9) & (R <= 15 + 1e-9)
    np.testing.assert_allclose(delta.y, (GB - GA)[keep], atol=1e-12)  # same grid: the spline passes the points
    np.testing.assert_allclose(delta.sigma, 0.05, rtol=1e-9)  # sqrt(0.03² + 0.04²)
    assert list(tmp_path.iterdir()) == []


def test_files_in_files_out(tmp_path):
    for name, g in (("a.gr", GA), ("b.gr", GB)):
        np.savetxt(tmp_path / name, np.column_stack([R, g]), header="r G")
    out, fig = tmp_path / "d.gr", tmp_path / "d.png"
    delta = refine.pdf_diff(tmp_path / "a.gr", tmp_path / "b.gr", output=out, plot=fig)
    back = refine.read_pattern(out)
    np.testing.assert_allclose(back.y, delta.y, atol=1e-9)
    np.testing.assert_allclose(back.y, GB - GA, atol=1e-9)
    text = out.read_text()
    assert "G_B - G_A" in text and "sha256=" in text and delta.sigma_source == "unit"
    assert fig.stat().st_size > 10_000


def test_bad_options_are_named(tmp_path):
    a = _gr(GA, 0.03, "a")
    with pytest.raises(InputError, match="rnax"):
        refine.pdf_diff(a, a, rnax=5)
    with pytest.raises(InputError, match="rmin: no points"):
        refine.pdf_diff(a, a, rmin=50)
    with pytest.raises(InputError, match="missing.gr: file not found"):
        refine.pdf_diff(tmp_path / "missing.gr", a)
