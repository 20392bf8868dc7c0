"""Trust checks on every fit (refine.fit.diagnostics): undetermined parameters named from the Jacobian whatever lmfit
reports, parameters on bounds, strong correlations, poor fits with counting σ, numerical warnings collected."""

import warnings

import lmfit
import numpy as np
import pytest

from refine.data import Pattern
from refine.fit import Dataset, FitOptions, Objective, run_fit
from refine.fit.diagnostics import Diagnostics, at_bounds, determinacy


def _line_pattern(seed: int = 4, sigma_source: str = "file") -> tuple[np.ndarray, Pattern]:
    x = np.linspace(0.0, 10.0, 200)
    y = 3.0 * x + 5.0 + np.random.default_rng(seed).normal(0.0, 0.5, x.size)
    return x, Pattern.from_arrays(x, y, np.full(x.size, 0.5), sigma_source=sigma_source, unit="2th_deg")


def test_determinacy_names_the_columns_of_a_blind_direction():
    """Two equal columns and a third independent one: the pair is undetermined, the third keeps (JᵀJ)⁻¹."""
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=50), rng.normal(size=50)
    jac = np.column_stack([u, 2.0 * u, v])
    det = determinacy(jac, ["a", "b", "c"])
    assert det.undetermined == ("a", "b") and det.determined == ("c",) and det.rank == 2
    # With a fixed, (b, c) is well posed; c's variance is the (c, c) element of that inverse.
    ref = np.linalg.inv(jac[:, 1:].T @ jac[:, 1:])[1, 1]
    assert det.covariance[0, 0] == pytest.approx(ref, rel=1e-12)


def test_a_parameter_with_no_effect_is_undetermined():
    rng = np.random.default_rng(1)
    jac = np.column_stack([rng.normal(size=20), np.zeros(20)])
    det = determinacy(jac, ["a", "dead"])
    assert det.undetermined == ("dead",) and det.determined == ("a",)


def test_nearly_collinear_but_determined_is_not_flagged():
    """Columns with correlation 1 − 1e-6 (singular value ratio ~1e-3) are determined: large esds, not blind."""
    rng = np.random.default_rng(2)
    u, w = rng.normal(size=100), rng.normal(size=100)
    jac = np.column_stack([u, u + 1e-3 * w])
    assert determinacy(jac, ["a", "b"]).undetermined == ()


def test_nonlinear_degeneracy_is_named_whatever_lmfit_reports():
    """A Gaussian at p + q: p and q are one direction. The names come from the Jacobian at the solution, so the
    message does not depend on whether lmfit inverted a (numerically) singular covariance or gave up."""
    x = np.linspace(-3, 3, 121)
    truth = 100.0 * np.exp(-0.5 * (x - 0.3) ** 2 / 0.25) + 10.0
    y = np.random.default_rng(5).poisson(truth).astype(float)
    pat = Pattern.from_arrays(x, y, np.sqrt(np.maximum(y, 1.0)), sigma_source="poisson", unit="2th_deg")

    def model(p):
        return p["h"].value * np.exp(-0.5 * (x - p["p"].value - p["q"].value) ** 2 / 0.25) + p["bkg"].value

    params = lmfit.Parameters()
    for name, value in (("h", 90.0), ("p", 0.1), ("q", 0.1), ("bkg", 8.0)):
        params.add(name, value=value)
    res = run_fit(Objective.single(Dataset("d", pat, model)), params, kind="test")
    assert any("not determined by the data" in w and "p, q" in w for w in res.warnings), res.warnings
    assert res.esd("p") is None and res.esd("q") is None
    assert res.esd("h") is not None and res.esd("bkg") is not None
    assert set(res.var_names) == {"h", "bkg"}


def test_parameter_on_a_bound_is_named():
    """y = 3x + 5 fitted with the intercept bounded above by 0: it ends on the bound and says so."""
    x, pat = _line_pattern()
    params = lmfit.Parameters()
    params.add("slope", value=1.0)
    params.add("intercept", value=-1.0, max=0.0)
    res = run_fit(Objective.single(Dataset("d", pat, lambda p: p["slope"].value * x + p["intercept"].value)),
                  params, kind="test")
    hits = [w for w in res.warnings if "sits on its upper bound" in w]
    assert len(hits) == 1 and hits[0].startswith("intercept ="), res.warnings


def test_bound_tolerance_is_relative_to_the_bound_and_absolute_at_zero():
    """Relative to the bound; at a bound of 0 relative to the starting value (absolute when it started at 0)."""
    params = lmfit.Parameters()
    params.add("at_zero", value=1e-21, min=0.0)  # Y started at 0
    params.add("near_zero", value=2e-6, min=0.0)  # started at 0, now 2e-6 from it: not on it (absolute 1e-6)
    for name in ("at_zero", "near_zero"):
        params[name].init_value = 0.0
    params.add("small_scale", value=7.5e-7, min=0.0)  # a scale factor started at 1e-5: far from 0 in its terms
    params["small_scale"].init_value = 1e-5
    params.add("went_to_zero", value=1e-15, min=0.0)  # delta2 started at 1: on its bound
    params["went_to_zero"].init_value = 1.0
    params.add("at_big", value=1000.0005, max=1000.001)  # 5e-4 from 1000.001: within 1e-6 × 1000
    params.add("off_big", value=999.99, max=1000.0)
    params.add("fixed", value=0.0, min=0.0, vary=False)
    named = [m.split(" ")[0] for m in at_bounds(params, 1e-6)]
    assert named == ["at_zero", "went_to_zero", "at_big"]


def test_poor_fit_is_flagged_only_with_counting_sigma():
    """A straight line through a Gaussian peak on counting statistics: GOF ≫ 5 → 'poor fit'; the same data with unit
    weights say their esds are meaningless instead (GOF has no meaning there)."""
    x = np.linspace(-3, 3, 121)
    y = np.random.default_rng(6).poisson(1000.0 * np.exp(-0.5 * x**2) + 50.0).astype(float)
    params = lmfit.Parameters()
    params.add("k", value=0.0)
    params.add("c", value=100.0)

    def model(p):
        return p["k"].value * x + p["c"].value

    counted = Pattern.from_arrays(x, y, np.sqrt(y), sigma_source="poisson", unit="2th_deg")
    res = run_fit(Objective.single(Dataset("d", counted, model)), params, kind="test")
    assert res.statistics.GOF > 5
    assert any(w.startswith("poor fit: GOF") for w in res.warnings), res.warnings
    unit = Pattern.from_arrays(x, y, unit="2th_deg")
    res_unit = run_fit(Objective.single(Dataset("d", unit, model)), params, kind="test")
    assert not any("poor fit" in w for w in res_unit.warnings)
    assert any("no uncertainties" in w for w in res_unit.warnings)
    # The threshold is a setting.
    lenient = FitOptions(diagnostics=Diagnostics(poor_gof=1e6))
    assert not any("poor fit" in w for w in run_fit(Objective.single(Dataset("d", counted, model)), params,
                                                    kind="test", options=lenient).warnings)


def test_strong_correlation_is_listed():
    """y = a·x + b on x in [1, 2]: a and b correlate at ρ = −x̄/sqrt(mean x²) = −1.5/sqrt(2.25 + 1/12) ≈ −0.982."""
    x = np.linspace(1.0, 2.0, 50)
    y = 2.0 * x + 1.0 + np.random.default_rng(7).normal(0.0, 0.1, x.size)
    pat = Pattern.from_arrays(x, y, np.full(x.size, 0.1), sigma_source="file", unit="2th_deg")
    params = lmfit.Parameters()
    params.add("a", value=1.0)
    params.add("b", value=0.0)
    res = run_fit(Objective.single(Dataset("d", pat, lambda p: p["a"].value * x + p["b"].value)), params,
                  kind="test")
    assert any(w.startswith("correlation a|b = -0.98") for w in res.warnings), res.warnings


def test_numerical_warnings_are_collected_not_printed():
    """A model that overflows in an unused branch: the RuntimeWarning becomes one counted message in the result and
    nothing reaches Python's warning machinery."""
    x, pat = _line_pattern()

    def model(p):
        np.exp(np.array([1000.0]))  # overflow warning, result unused
        return p["slope"].value * x + p["intercept"].value

    params = lmfit.Parameters()
    params.add("slope", value=1.0)
    params.add("intercept", value=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # anything escaping would raise here
        res = run_fit(Objective.single(Dataset("d", pat, model)), params, kind="test")
    msgs = [w for w in res.warnings if w.startswith("numerical warning during the fit")]
    assert len(msgs) == 1 and "overflow" in msgs[0], res.warnings


def test_expression_parameter_esd_is_propagated_when_the_covariance_is_rebuilt():
    """c = a + d with a, b undetermined (only a + b is seen) and d free: c depends on an undetermined parameter and
    has no esd; e = 2·d has twice d's esd."""
    x, pat = _line_pattern()
    params = lmfit.Parameters()
    params.add("a", value=1.0)
    params.add("b", value=1.0)
    params.add("d", value=0.0)
    params.add("c", expr="a + d")
    params.add("e", expr="2*d")
    res = run_fit(Objective.single(Dataset("d", pat, lambda p: (p["a"].value + p["b"].value) * x + p["d"].value)),
                  params, kind="test")
    assert res.esd("c") is None
    assert res.esd("e") == pytest.approx(2.0 * res.esd("d"), rel=1e-6)
