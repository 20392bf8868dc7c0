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


def _fit_result():
    x = np.linspace(10, 20, 400)
    y = 5 + 100 * np.exp(-((x - 15) ** 2) / 0.01)
    pat = Pattern.from_arrays(x, y, np.full_like(y, 1.0), sigma_source="file", wavelength=0.72)
    params = lmfit.Parameters()
    params.add("c", value=4.0)
    return run_fit(Objective.single(Dataset("pattern", pat, lambda p: p["c"].value + y - 5)), params, kind="test")


def _table(dataset=None):
    from refine.powder.reflection_table import ReflectionTable

    return ReflectionTable(phase="nacl", prefix="nacl", radiation="xray", wavelength=0.72,
                           hkl=[[1, 1, 1], [2, 0, 0], [2, 2, 0], [1, 10, 2]], multiplicity=[8, 6, 12, 48],
                           d=[3.26, 2.82, 1.99, 0.55], two_theta=[12.7, 15.0, 17.0, 19.0],
                           intensity=[1.0, 50.0, 20.0, 5.0], dataset=dataset)


def test_plot_fit_names_the_wavelength_and_labels_the_strongest_lines(tmp_path, monkeypatch):
    from refine.plot import figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: drawn.append(fig) or path)
    res = _fit_result()
    figures.plot_fit(res, tmp_path / "a.png", reflections=[_table()], hkl_labels=2)
    (ax,) = drawn[-1].axes
    assert ax.get_xlabel() == "2θ (deg),  λ = 0.72 Å"
    assert sorted(t.get_text() for t in ax.texts) == ["200", "220"]  # the two of largest intensity
    figures.plot_fit(res, tmp_path / "all.png", reflections=[_table()], hkl_labels=10)
    assert sorted(t.get_text() for t in drawn[-1].axes[0].texts) == ["1 10 2", "111", "200", "220"]
    assert any(line.get_label() == "nacl reflections" for line in ax.get_lines())
    figures.plot_fit(res, tmp_path / "b.png", wavelength=1.5406)  # no tables: the given wavelength, no labels
    (ax,) = drawn[-1].axes
    assert "λ = 1.5406 Å" in ax.get_xlabel() and not ax.texts
    figures.plot_fit(res, tmp_path / "c.png")
    assert "λ unknown" in drawn[-1].axes[0].get_xlabel()


def test_figures_do_not_switch_the_matplotlib_backend(tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    try:
        matplotlib.use("svg")
        plot_fit(_fit_result(), tmp_path / "fit.png", reflections=[_table()], hkl_labels=3)
        plot_pattern([Pattern.from_arrays(np.arange(5.0), np.ones(5), np.ones(5), sigma_source="file")],
                     tmp_path / "p.png")
        assert matplotlib.get_backend() == "svg"
        assert (tmp_path / "fit.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        matplotlib.use(before)
