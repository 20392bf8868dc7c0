"""Figures are written and are real images (PNG signature and a non-trivial size)."""

import lmfit
import numpy as np

from refine.data import Pattern
from refine.fit import Dataset, Objective, run_fit
from refine.plot import plot_fit, plot_pattern


def test_plot_fit_and_pattern(tmp_path):
    x = np.linspace(0, 10, 200)
    y = 5 + np.exp(-((x - 5) ** 2))
    pat = Pattern.from_arrays(x, y, np.full_like(y, 0.1), sigma_source="file")
    params = lmfit.Parameters()
    params.add("c", value=4.0)
    mask = x > 1
    res = run_fit(Objective.single(Dataset("d", pat, lambda p: p["c"].value + np.exp(-((x - 5) ** 2)), mask=mask)),
                  params, kind="test")
    out = plot_fit(res, tmp_path / "fit.png", ticks={"phase": [3.0, 5.0]})
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    out2 = plot_pattern([pat], tmp_path / "p.png", title="t")
    assert out2.stat().st_size > 5000
