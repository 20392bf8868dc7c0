"""make_example_iq.py: the simulated I(Q) reduces with `refine pdf reduce` to a G(r) with the rock salt's
distances; the composition sets the cation site; deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import find_peaks

from refine.cli.main import main
from refine.errors import InputError
from refine.example_data import make_example_iq as gen
from refine.io import read_pattern


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return gen.make(tmp_path_factory.mktemp("iq"))


def _peak_positions(r: np.ndarray, g: np.ndarray, count: int) -> list[float]:
    """The first ``count`` peaks of G above 1.5 Å with a prominence of at least 20 % of the largest value,
    each refined by a parabola through its top three points."""
    sel = r > 1.5
    r, g = r[sel], g[sel]
    peaks, _ = find_peaks(g, prominence=0.2 * g.max())
    out = []
    for i in peaks[:count]:
        y0, y1, y2 = g[i - 1:i + 2]
        out.append(r[i] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) * (r[1] - r[0]))
    return out


def test_reduces_to_the_rock_salt_distances(files, tmp_path, capsys):
    out = tmp_path / "drs.gr"
    code = main(["pdf", "reduce", str(files["iq"]), "--composition", gen.DEFAULT_COMPOSITION, "--qmax", "24",
                 "--background", str(files["background"]), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    gr = read_pattern(out)
    first, second = _peak_positions(gr.x, gr.y, 2)
    # cation-O at a/2 and cation-cation / O-O at a/sqrt(2). Measured 0.008 and 0.010 Å low: the maximum of a
    # G(r) peak, a Gaussian over r, sits sigma^2/d below the distance (~0.01 Å for sigma ~0.15 Å); the model's
    # own G(r) peaks at 2.3075 and 3.2737 Å, so the reduction adds less than 0.006 Å.
    assert abs(first - gen.A / 2) < 0.02
    assert abs(second - gen.A / np.sqrt(2)) < 0.02


def test_files_cover_the_q_range_with_poisson_sigma(files):
    iq, bg = read_pattern(files["iq"]), read_pattern(files["background"])
    for pattern in (iq, bg):
        assert pattern.unit == "q_A^-1"
        assert pattern.x[0] == pytest.approx(0.5) and pattern.x[-1] == pytest.approx(25.0)
        np.testing.assert_allclose(pattern.sigma, np.sqrt(pattern.y), rtol=1e-6)
    # the sample file holds sample + container: above the empty container everywhere by many sigma
    assert np.all(iq.y - bg.y > 5 * np.hypot(iq.sigma, bg.sigma))


def test_deterministic(files, tmp_path):
    again = gen.make(tmp_path)
    for key in ("iq", "background", "structure"):
        assert again[key].read_bytes() == files[key].read_bytes(), key


def test_composition_sets_the_cation_site(tmp_path):
    sites = dict(gen.cation_sites("Li1.2Mn0.4Ti0.4O2"))
    assert sites == pytest.approx({"Li": 0.6, "Mn": 0.2, "Ti": 0.2}, abs=1e-12)
    paths = gen.make(tmp_path, "LiMnO2")
    cif = paths["structure"].read_text()
    assert "Li1 Li 0 0 0 0.5 " in cif and "Mn1 Mn 0 0 0 0.5 " in cif
    assert "composition LiMnO2" in paths["iq"].read_text(encoding="utf-8")[:2000]


@pytest.mark.parametrize("composition", ["NaCl", "Na2V2O5", "O2"])
def test_not_a_rock_salt_is_refused(composition):
    with pytest.raises(InputError, match="composition"):
        gen.cation_sites(composition)
