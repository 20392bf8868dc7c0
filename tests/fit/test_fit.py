"""Fit layer: agreement factors, esds against the scatter of repeated noisy fits, joint datasets, restraints."""

import json

import lmfit
import numpy as np
import pandas as pd
import pytest

from refine.data import Pattern
from refine.errors import InputError
from refine.fit import Dataset, Objective, Restraint, pdf_statistics, powder_statistics, run_fit, write_result
from refine.fit.result import Curves, read_curves, write_curves


def gaussian_model(x):
    def model(params):
        v = params.valuesdict()
        peak = np.exp(-0.5 * ((x - v["pos"]) / v["width"]) ** 2) / (v["width"] * np.sqrt(2 * np.pi))
        return v["bkg"] + v["area"] * peak
    return model


def make_params(pos=10.02, width=0.11, area=900.0, bkg=45.0):
    params = lmfit.Parameters()
    params.add("pos", value=pos)
    params.add("width", value=width, min=0.01)
    params.add("area", value=area, min=0)
    params.add("bkg", value=bkg)
    return params


def poisson_pattern(rng, x, truth):
    ycalc = gaussian_model(x)(truth)
    y = rng.poisson(ycalc).astype(float)
    return Pattern.from_arrays(x, y, np.sqrt(np.maximum(y, 1)), sigma_source="poisson")


def test_statistics_definitions():
    yo = np.array([10.0, 20.0, 30.0, 40.0])
    yc = np.array([11.0, 19.0, 30.0, 42.0])
    sig = np.array([1.0, 2.0, 3.0, 4.0])
    s = powder_statistics(yo, yc, sig, nvary=1)
    w = 1 / sig**2
    assert s.Rwp == pytest.approx(np.sqrt(np.sum(w * (yo - yc) ** 2) / np.sum(w * yo**2)), rel=1e-12)
    assert s.Rp == pytest.approx(4 / 100, rel=1e-12)
    assert s.Rexp == pytest.approx(np.sqrt(3 / np.sum(w * yo**2)), rel=1e-12)
    assert s.GOF == pytest.approx(np.sqrt(s.chi2_red), rel=1e-12)
    p = pdf_statistics(yo, yc, None, nvary=0)
    assert p.Rw == pytest.approx(np.sqrt(6 / np.sum(yo**2)), rel=1e-12)


def test_esd_matches_scatter_of_noisy_fits():
    """Refined values scatter like their esds over independent Poisson draws (truth known)."""
    rng = np.random.default_rng(1234)
    x = np.linspace(9, 11, 201)
    truth = make_params(pos=10.0, width=0.1, area=1000.0, bkg=50.0)
    values, esds = [], []
    for _ in range(20):
        obj = Objective.single(Dataset("d", poisson_pattern(rng, x, truth), gaussian_model(x)))
        res = run_fit(obj, make_params(), kind="test")
        assert res.converged
        values.append(res.value("pos"))
        esds.append(res.esd("pos"))
    scatter = np.std(values, ddof=1)
    # 20 draws: the sample std is within ~±35 % of the true one at 2 sigma; a factor 1.6 bound cannot pass by luck.
    assert 1 / 1.6 < np.mean(esds) / scatter < 1.6
    assert abs(np.mean(values) - 10.0) < 3 * scatter / np.sqrt(20)


def test_joint_fit_shares_parameters_and_weights_both():
    rng = np.random.default_rng(7)
    x1, x2 = np.linspace(9, 11, 151), np.linspace(9.5, 10.5, 101)
    truth = make_params(pos=10.0, width=0.1, area=1000.0, bkg=50.0)
    d1 = Dataset("a", poisson_pattern(rng, x1, truth), gaussian_model(x1))
    d2 = Dataset("b", poisson_pattern(rng, x2, truth), gaussian_model(x2))
    joint = run_fit(Objective(datasets=(d1, d2)), make_params(), kind="test")
    single = run_fit(Objective.single(d1), make_params(), kind="test")
    assert joint.statistics.npoints == 252
    assert set(joint.dataset_statistics) == {"a", "b"}
    assert joint.esd("pos") < single.esd("pos")  # more data, smaller esd
    assert joint.value("pos") == pytest.approx(10.0, abs=4 * joint.esd("pos"))


def test_restraint_pulls_and_unit_weights_warn():
    x = np.linspace(9, 11, 101)
    truth = make_params(pos=10.0, width=0.1, area=1000.0, bkg=50.0)
    pat = Pattern.from_arrays(x, gaussian_model(x)(truth))  # no sigma: unit weights
    obj = Objective(datasets=(Dataset("d", pat, gaussian_model(x)),), restraints=(Restraint("pos", 10.5, 1e-6),))
    res = run_fit(obj, make_params(), kind="test")
    assert res.value("pos") == pytest.approx(10.5, abs=1e-4)
    assert any("unit weights" in w for w in res.warnings)


def test_masked_points_do_not_count():
    x = np.linspace(9, 11, 101)
    truth = make_params(pos=10.0, width=0.1, area=1000.0, bkg=50.0)
    y = gaussian_model(x)(truth)
    y[:10] += 1e4  # a spike that is excluded
    pat = Pattern.from_arrays(x, y, np.ones_like(y), sigma_source="file")
    mask = np.ones(x.size, bool)
    mask[:10] = False
    res = run_fit(Objective.single(Dataset("d", pat, gaussian_model(x), mask=mask)), make_params(), kind="test")
    assert res.value("area") == pytest.approx(1000.0, rel=1e-6)
    assert res.statistics.npoints == 91


def test_bad_datasets():
    pat = Pattern.from_arrays([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(InputError, match="no points"):
        Dataset("d", pat, lambda p: np.zeros(2), mask=[False, False])
    with pytest.raises(InputError, match="unique"):
        d = Dataset("d", pat, lambda p: np.zeros(2))
        Objective(datasets=(d, d))


def test_result_file_schema(tmp_path):
    rng = np.random.default_rng(3)
    x = np.linspace(9, 11, 101)
    truth = make_params(pos=10.0, width=0.1, area=1000.0, bkg=50.0)
    res = run_fit(Objective.single(Dataset("d", poisson_pattern(rng, x, truth), gaussian_model(x))),
                  make_params(), kind="lebail")
    data = tmp_path / "in.xye"
    data.write_text("1 2 3\n")
    out = write_result(res, tmp_path / "out.json", data=str(data), settings={"range": None})
    doc = json.loads(out.read_text())
    assert doc["schema"] == "refine.result/1" and doc["kind"] == "lebail" and doc["converged"] is True
    for key in ("Rwp", "Rp", "Rexp", "GOF", "chi2_red", "Rw", "npoints", "nvary"):
        assert key in doc["statistics"]
    assert doc["parameters"]["pos"]["esd"] > 0
    assert doc["provenance"]["inputs"][0]["sha256"]
    side = tmp_path / doc["provenance"]["curves"][0]
    # The README's one-liner: pandas reads the sidecar into named columns.
    frame = pd.read_csv(side, sep=r"\s+", comment="#")
    assert list(frame.columns) == ["x", "observed", "sigma", "calculated", "fitted"]
    np.testing.assert_allclose(frame["calculated"], res.curves["d"].calculated, rtol=1e-9)
    np.testing.assert_allclose(frame["x"], x, rtol=1e-9)
    back = read_curves(side)
    assert back.unit == res.curves["d"].unit and back.mask.all()
    np.testing.assert_allclose(back.observed, res.curves["d"].observed, rtol=1e-9)


def test_curves_file_names_components_one_token_each(tmp_path):
    """Components (background, phases) become named columns; a name with a space is written with '_'."""
    x = np.linspace(0.0, 1.0, 5)
    curves = Curves(x=x, observed=x, calculated=x, sigma=np.ones(5), mask=np.array([1, 1, 0, 1, 1], bool),
                    unit="2th_deg", components={"background": 0.5 * x, "phase one": 2 * x})
    write_curves(curves, tmp_path / "c.curves.dat")
    frame = pd.read_csv(tmp_path / "c.curves.dat", sep=r"\s+", comment="#")
    assert list(frame.columns) == ["x", "observed", "sigma", "calculated", "fitted", "background", "phase_one"]
    np.testing.assert_allclose(frame["phase_one"], 2 * x)
    assert list(frame["fitted"]) == [1, 1, 0, 1, 1]
    with pytest.raises(InputError, match="not a refine curves file"):
        (tmp_path / "junk.dat").write_text("1 2 3\n4 5 6\n")
        read_curves(tmp_path / "junk.dat")


def test_undetermined_parameters_are_named_and_the_others_keep_esds():
    """y = (a + b)·x + c: a and b are one direction the data cannot split. The fit names them, and c gets the esd
    of the well-posed fit with b fixed (same minimum, same covariance for c)."""
    x = np.linspace(0.0, 10.0, 200)
    rng = np.random.default_rng(2)
    y = 3.0 * x + 5.0 + rng.normal(0.0, 0.5, x.size)
    pat = Pattern.from_arrays(x, y, np.full(x.size, 0.5), sigma_source="file", unit="2th_deg")

    def model(p):
        return (p["a"].value + p["b"].value) * x + p["c"].value

    params = lmfit.Parameters()
    params.add("a", value=1.0)
    params.add("b", value=1.0)
    params.add("c", value=0.0)
    res = run_fit(Objective.single(Dataset("d", pat, model)), params, kind="test")
    assert any("not determined by the data" in w and "a, b" in w for w in res.warnings), res.warnings
    assert res.esd("a") is None and res.esd("b") is None
    fixed = params.copy()
    fixed["b"].set(vary=False)
    ref = run_fit(Objective.single(Dataset("d", pat, model)), fixed, kind="test")
    assert res.value("c") == pytest.approx(ref.value("c"), abs=1e-6 * ref.esd("c"))
    assert res.esd("c") == pytest.approx(ref.esd("c"), rel=1e-3)
    assert res.var_names == ("c",) and res.covariance.shape == (1, 1)


def test_points_with_unusable_sigma_are_dropped_with_a_note_and_all_unusable_is_bad_input():
    from refine.fit.objective import usable_points

    x = np.linspace(1.0, 2.0, 11)
    sigma = np.ones(11)
    sigma[[3, 5]] = (0.0, np.nan)
    pat = Pattern.from_arrays(x, np.ones(11), sigma, sigma_source="file", metadata={"source": "s.xye"})
    mask, notes = usable_points(pat, np.ones(11, dtype=bool), "2θ")
    assert mask.sum() == 9 and not mask[3] and not mask[5]
    assert notes == ("2 point(s) with σ ≤ 0 or a value not a number between 2θ 1.3 and 1.5 dropped from the fit",)
    assert usable_points(pat, x > 1.55, "2θ") == (pytest.approx(x > 1.55), ())  # none in the range: no note
    negative = pat.replace(sigma=-np.ones(11))
    with pytest.raises(InputError, match="s.xye: no usable uncertainty in the fit range 1-2: all 11 points"):
        usable_points(negative, np.ones(11, dtype=bool), "2θ")


def test_fewer_points_than_parameters_is_bad_input_before_fitting():
    x = np.linspace(9, 11, 3)
    pat = Pattern.from_arrays(x, [50.0, 60.0, 50.0], [7.0, 8.0, 7.0], sigma_source="poisson",
                              metadata={"source": "three.xye"})
    with pytest.raises(InputError, match="three.xye: 3 fitted point.s. for 4 refined parameters"):
        run_fit(Objective.single(Dataset("d", pat, gaussian_model(x))), make_params(), kind="test")


def test_result_files_never_hold_nan_or_infinity(tmp_path):
    """JSON has no NaN: every non-finite number (statistics, phases, parameters, esds) is written as null."""
    from dataclasses import replace

    from refine.fit.phase_result import PhaseResult, Value
    from refine.fit.result import json_safe, result_to_dict

    rng = np.random.default_rng(3)
    x = np.linspace(9, 11, 101)
    res = run_fit(Objective.single(Dataset("d", poisson_pattern(rng, x, make_params()), gaussian_model(x))),
                  make_params(), kind="rietveld")
    params = res.params.copy()
    params["bkg"].stderr = float("nan")
    one = Value(1.0)
    phase = PhaseResult(name="empty", structure=None, space_group=None, a=Value(np.float64("nan"), float("-inf")),
                        b=one, c=one, alpha=one, beta=one, gamma=one, volume=Value(float("inf")),
                        extra={"hkl": np.array([1.0, np.nan]), "n": np.int64(3), "ok": np.bool_(True)})
    res = replace(res, params=params, statistics=replace(res.statistics, GOF=float("inf")), phases=[phase])
    doc = result_to_dict(res, data="in.xye")
    json.dumps(doc, allow_nan=False)  # would raise on NaN/inf
    assert doc["statistics"]["GOF"] is None and doc["parameters"]["bkg"]["esd"] is None
    entry = doc["phases"][0]
    assert entry["name"] == "empty" and entry["a"] is None and entry["esd"]["a"] is None and entry["volume"] is None
    assert (entry["hkl"], entry["n"], entry["ok"]) == ([1.0, None], 3, True)
    out = write_result(res, tmp_path / "r.json", data="in.xye")
    json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the result file"))
    assert json_safe({"x": (np.float32(1.5), float("nan"))}) == {"x": [1.5, None]}
    # A document to_dict() made is JSON-safe already: written without that pass, the text is the same; a NaN
    # added afterwards is refused rather than written.
    from refine.fit.result import document_json

    assert document_json(doc, safe=True) == document_json(doc)
    with pytest.raises(ValueError, match="not JSON compliant"):
        document_json({**doc, "nfev": float("nan")}, safe=True)


def test_run_fit_leaves_the_given_parameters_as_they_were():
    """lmfit minimises a copy: the caller's Parameters keep their values, esds and vary flags."""
    rng = np.random.default_rng(7)
    x = np.linspace(9, 11, 201)
    obj = Objective.single(Dataset("d", poisson_pattern(rng, x, make_params(pos=10.0)), gaussian_model(x)))
    start = make_params()
    before = {n: (p.value, p.stderr, p.vary, p.min, p.max) for n, p in start.items()}
    res = run_fit(obj, start, kind="test")
    assert res.converged and abs(res.value("pos") - 10.0) < 0.01  # the fit moved pos by ~0.02 ...
    assert {n: (p.value, p.stderr, p.vary, p.min, p.max) for n, p in start.items()} == before  # ... not the start
    assert res.params is not start


def test_parameter_without_effect_at_its_start_is_held_named_and_left_refined():
    """Analytic derivatives: a varying parameter whose column is exactly zero at the start (here ``curl``, entering as
    curl², like SH/L at 0) is held for the minimisation, keeps vary=True and no esd, and is named in a warning;
    the others are fitted as without it."""
    rng = np.random.default_rng(11)
    x = np.linspace(9, 11, 201)
    truth = make_params(pos=10.0, width=0.1, area=1000.0, bkg=50.0)
    pattern = poisson_pattern(rng, x, truth)
    gauss = gaussian_model(x)

    def model(params):
        return gauss(params) + params["curl"].value ** 2 * (x - 10.0)

    def jacobian(params):
        v = params.valuesdict()
        g = np.exp(-0.5 * ((x - v["pos"]) / v["width"]) ** 2) / (v["width"] * np.sqrt(2 * np.pi))
        cols = {"pos": v["area"] * g * (x - v["pos"]) / v["width"] ** 2,
                "width": v["area"] * g * ((x - v["pos"]) ** 2 / v["width"] ** 3 - 1 / v["width"]),
                "area": g, "bkg": np.ones_like(x), "curl": 2 * v["curl"] * (x - 10.0)}
        return np.column_stack([cols[n] for n, p in params.items() if p.vary])

    start = make_params()
    start.add("curl", value=0.0)
    held = run_fit(Objective.single(Dataset("d", pattern, model, jacobian=jacobian)), start, kind="test")
    plain = run_fit(Objective.single(Dataset("d", pattern, gauss)), make_params(), kind="test")
    assert held.converged
    assert held.params["curl"].vary and held.value("curl") == 0.0 and held.esd("curl") is None
    assert any(w.startswith("curl = 0: no effect on the model") for w in held.warnings)
    assert start["curl"].vary and start["curl"].stderr is None  # the caller's set untouched
    for name in ("pos", "width", "area", "bkg"):
        assert held.value(name) == pytest.approx(plain.value(name), abs=0.05 * plain.esd(name))
        assert held.esd(name) == pytest.approx(plain.esd(name), rel=0.01)


def test_warnings_of_the_analytic_jacobian_are_collected_in_the_result_every_time():
    """Numerical warnings raised by the Jacobian, including the first call that looks for zero columns, are counted in
    the result's warnings and do not reach the caller."""
    import warnings

    rng = np.random.default_rng(5)
    x = np.linspace(9, 11, 201)
    pattern = poisson_pattern(rng, x, make_params(pos=10.0, width=0.1, area=1000.0, bkg=50.0))
    gauss = gaussian_model(x)
    calls = []

    def jacobian(params):
        calls.append(1)
        warnings.warn("from the jacobian", RuntimeWarning, stacklevel=1)
        v = params.valuesdict()
        g = np.exp(-0.5 * ((x - v["pos"]) / v["width"]) ** 2) / (v["width"] * np.sqrt(2 * np.pi))
        cols = {"pos": v["area"] * g * (x - v["pos"]) / v["width"] ** 2,
                "width": v["area"] * g * ((x - v["pos"]) ** 2 / v["width"] ** 3 - 1 / v["width"]),
                "area": g, "bkg": np.ones_like(x)}
        return np.column_stack([cols[n] for n, p in params.items() if p.vary])

    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        res = run_fit(Objective.single(Dataset("d", pattern, gauss, jacobian=jacobian)), make_params(), kind="test")
    assert res.converged
    assert not [w for w in escaped if "from the jacobian" in str(w.message)]
    assert f"numerical warning during the fit ({len(calls)}x): RuntimeWarning: from the jacobian" in res.warnings


def test_garbage_made_before_a_fit_is_freed_by_it_not_frozen_into_the_oldest_generation():
    """run_fit freezes the objects that exist when it starts (the libraries' ~10⁶) so that its collections skip them;
    unreachable cycles among them would be unfrozen into the oldest generation, which only a rare full collection
    frees: a 300-scan sequential run grew by 1.5 MB a scan. They are collected before the freeze."""
    import gc
    import weakref

    class Node:
        pass

    rng = np.random.default_rng(3)
    x = np.linspace(9.0, 11.0, 400)
    objective = Objective.single(Dataset("d", poisson_pattern(rng, x, make_params()), gaussian_model(x)))
    enabled = gc.isenabled()
    gc.disable()  # only run_fit's own collections below
    try:
        assert gc.get_freeze_count() == 0
        node = Node()
        node.cycle = node  # garbage only the cycle collector frees
        ref = weakref.ref(node)
        del node
        run_fit(objective, make_params(), kind="test")
        assert ref() is None
    finally:
        if enabled:
            gc.enable()


def test_a_pickled_result_keeps_its_parameters_without_lmfits_scipy_functions():
    """Results cross processes pickled: parameters, esds, correlations, expressions and the user's symbols come
    back; the scipy.special ufuncs every Parameters gets are not pickled (each pickles by a scan of all loaded
    modules: ~4 ms a result)."""
    import pickle

    rng = np.random.default_rng(3)
    x = np.linspace(9, 11, 101)
    params = make_params()
    params._asteval.symtable["offset"] = 0.5  # a user's symbol
    params.add("half_area", expr="area / 2 + offset")
    res = run_fit(Objective.single(Dataset("d", poisson_pattern(rng, x, make_params(10.0, 0.1, 1000.0, 50.0)),
                                           gaussian_model(x))), params, kind="lebail")
    blob = pickle.dumps(res)
    assert b"scipy.special" not in blob and b"wofz" not in blob
    back = pickle.loads(blob)
    state = [(p.name, p.value, p.stderr, p.vary, p.expr, p.min, p.max, p.correl) for p in res.params.values()]
    assert [(p.name, p.value, p.stderr, p.vary, p.expr, p.min, p.max, p.correl) for p in back.params.values()] == state
    assert back.params["half_area"].value == res.params["area"].value / 2 + 0.5
    assert back.report() == res.report() and back.statistics == res.statistics
    back.params["area"].value = 100.0  # the expression still follows the parameters it names
    assert back.params["half_area"].value == 50.5
    assert back.params._asteval.symtable["erf"] is res.params._asteval.symtable["erf"]  # lmfit's own, as ever
