"""Every kind of result refine writes — lebail, pawley, rietveld, joint rietveld, pdf, bragg_pdf, sequential,
parametric, calibration — goes through to_dict -> JSON -> from_dict and back to the same document, and its JSON is
valid against the shipped JSON Schema of refine.result/1 (refine/schemas/result-1.schema.json). The fits are small
and synthetic (a NaCl pattern from a CIF written in tests/powder/test_reflection_table.py, its G(r) from refine's
exact pair sum); none needs ../shared/data."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from refine.bragg_pdf import fit_bragg_pdf
from refine.data import Pattern
from refine.fit import FitResult
from refine.fit.phase_result import CELL_FIELDS, VALUE_FIELDS
from refine.fit.result import RESULT_SCHEMA
from refine.integrate.calibration_result import CalibrationResult
from refine.io.patterns import write_pattern
from refine.io.structures import read_structure
from refine.operando import ParametricResult, ParametricSettings, SequentialSettings, Series, fit_parametric
from refine.operando.sequential import run_sequential
from refine.operando.series_result import SeriesResult
from refine.pdf.calculate import PDFSettings, direct_gr
from refine.pdf.fitting import PDFFitSettings, PhaseInput, fit_pdf
from refine.pdf.structure import PDFStructure
from refine.powder.joint import HistogramOptions, fit_rietveld_joint
from refine.powder.lebail import fit_lebail
from refine.powder.pawley import fit_pawley
from refine.powder.rietveld import fit_rietveld
from refine.schemas import result_schema
from tests.powder.synthetic import simulate
from tests.powder.test_reflection_table import (
    LAM,
    NACL_CIF,
    NO_DISPERSION,
    OPTIONS,
    PROFILE,
    X,
    _f2_by_hand,
    _instrument,
    _lp,
)

jsonschema = pytest.importorskip("jsonschema")
REFINE = ("cell", "zero", "W", "X", "Y")


def _pattern(seed: int, a: float = 5.6402) -> Pattern:
    lines = _f2_by_hand(a, LAM, 45.0)
    tth = np.array([v[1] for v in lines.values()])
    inten = np.array([v[0] * v[2] for v in lines.values()]) * _lp(tth)
    return simulate(tth, inten, X, wavelength=LAM, profile=PROFILE, counts=20000, background=300, seed=seed)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The NaCl CIF, three noisy patterns (the third with a 0.1 % larger cell) and the cell's G(r), as files."""
    folder = tmp_path_factory.mktemp("kinds")
    (folder / "NaCl.cif").write_text(NACL_CIF)
    paths = {"cif": folder / "NaCl.cif"}
    for i, a in enumerate((5.6402, 5.6402, 5.6458)):
        paths[f"scan{i}"] = folder / f"scan_{i}.xye"
        write_pattern(_pattern(3 + i, a), paths[f"scan{i}"])
    nacl = read_structure(paths["cif"])
    r = np.round(np.arange(150, 1501) * 0.01, 10)
    g = direct_gr(PDFStructure.from_crystal(nacl), r, PDFSettings(qmax=25.0, qdamp=0.03, delta2=1.5))
    sigma = np.full(r.size, 0.02)
    gr = Pattern(x=r, y=g + np.random.default_rng(3).normal(0.0, 0.02, r.size), sigma=sigma, unit="r_A",
                 sigma_source="file")
    paths["gr"] = folder / "nacl.gr"
    write_pattern(gr, paths["gr"])
    return paths


def _nacl(files):
    return read_structure(files["cif"]).replace(name="nacl")


def _read(path):
    from refine.io import read_pattern

    return read_pattern(path)


def _fit(kind: str, files) -> tuple[object, str | list[str]]:
    """(result, its input files) of one kind."""
    pattern, nacl = _read(files["scan0"]), _nacl(files)
    if kind in ("lebail", "pawley"):
        fitter = fit_lebail if kind == "lebail" else fit_pawley
        return fitter(pattern, [nacl.replace(sites=())], _instrument(), refine=REFINE, options=OPTIONS), files["scan0"]
    if kind == "rietveld":
        return fit_rietveld(pattern, [nacl], _instrument(), refine=("scale", *REFINE), options=OPTIONS,
                            rietveld=NO_DISPERSION), files["scan0"]
    if kind == "joint":
        hist = [HistogramOptions(prefix=p, options=OPTIONS) for p in ("x_", "y_")]
        return fit_rietveld_joint([pattern, _read(files["scan1"])], [nacl], [_instrument()] * 2, histograms=hist,
                                  rietveld=NO_DISPERSION), [files["scan0"], files["scan1"]]
    pdf = PDFFitSettings(qmax=25.0, qdamp=0.03, sharpening="delta2")
    if kind == "pdf":
        return fit_pdf(_read(files["gr"]), [PhaseInput.load(files["cif"])], pdf), files["gr"]
    if kind == "bragg_pdf":
        return fit_bragg_pdf(pattern, _read(files["gr"]), nacl, _instrument(), pdf=pdf, refine=("scale", *REFINE),
                             options=OPTIONS, rietveld=NO_DISPERSION), [files["scan0"], files["gr"]]
    raise AssertionError(kind)


def _validate(doc: dict) -> dict:
    """``doc`` through JSON text (no NaN allowed) and checked against the schema; returns the parsed JSON."""
    parsed = json.loads(json.dumps(doc, allow_nan=False))
    jsonschema.validate(parsed, result_schema(), cls=jsonschema.Draft202012Validator)
    return parsed


def _same_phases(a: FitResult, b: FitResult) -> None:
    assert list(a.phases) == list(b.phases) and a.phases
    for name, pa in a.phases.items():
        pb = b.phases[name]
        assert (pa.structure, pa.space_group) == (pb.structure, pb.space_group)
        for key in (*CELL_FIELDS, *VALUE_FIELDS):
            assert getattr(pa, key) == getattr(pb, key), (name, key)
        tables_a = pa.reflections if isinstance(pa.reflections, tuple) else (pa.reflections,)
        tables_b = pb.reflections if isinstance(pb.reflections, tuple) else (pb.reflections,)
        for ta, tb in zip(tables_a, tables_b, strict=True):
            if ta is None:
                assert tb is None
                continue
            np.testing.assert_array_equal(ta.hkl, tb.hkl)
            np.testing.assert_array_equal(ta.intensity, tb.intensity)
            assert (ta.phase, ta.dataset, ta.radiation, ta.wavelength) == (tb.phase, tb.dataset, tb.radiation,
                                                                           tb.wavelength)


@pytest.mark.parametrize("kind", ["lebail", "pawley", "rietveld", "joint", "pdf", "bragg_pdf"])
def test_fit_results_round_trip_and_validate(kind, files):
    result, data = _fit(kind, files)
    paths = [str(p) for p in data] if isinstance(data, list) else str(data)
    doc = _validate(result.to_dict(data=paths, settings={"kind": kind}))
    assert doc["schema"] == RESULT_SCHEMA and doc["kind"] == ("rietveld" if kind == "joint" else kind)
    back = FitResult.from_dict(doc)
    assert _validate(back.to_dict()) == doc  # nothing lost, nothing added
    _same_phases(result, back)
    assert back.converged == result.converged and back.warnings == result.warnings
    for name, p in result.params.items():
        assert back.params[name].value == pytest.approx(p.value, rel=1e-15, abs=1e-300), name
        assert back.esd(name) == result.esd(name) or not (p.vary or p.expr), name
    assert back.correlations(0.5).keys() == result.correlations(0.5).keys()
    assert back.statistics == result.statistics or math.isnan(result.statistics.chi2)


def test_every_engine_fills_the_same_phase_fields(files):
    """Same PhaseResult fields for every engine: the cell (each with an esd where refined) and the volume."""
    for kind in ("lebail", "pdf"):
        result, _ = _fit(kind, files)
        (phase,) = result.phases.values()
        assert phase.name == "nacl" and phase.a.esd > 0 and phase.volume.esd > 0
        assert phase.volume.value == pytest.approx(phase.a.value ** 3, rel=1e-12)


def test_sequential_round_trip_and_validate(files, tmp_path):
    series = Series.from_paths([files["scan0"], files["scan2"]])
    settings = SequentialSettings(kind="lebail", refine=REFINE, powder=OPTIONS)
    series_result = run_sequential(series, [_nacl(files).replace(sites=())], _instrument(), settings, tmp_path / "out")
    doc = _validate(series_result.to_dict({"command": "test"}))
    back = SeriesResult.from_dict(doc)
    assert _validate(back.to_dict({"command": "test"})) == doc
    assert [s.phases["nacl"].a for s in back.scans] == [s.phases["nacl"].a for s in series_result.scans]
    # A failed scan's record validates too (the second branch of the schema's scan).
    failed = {"index": 2, "file": "x.xye", "status": "failed", "result_file": None, "converged": False, "error": "E"}
    _validate({**doc, "scans": [*doc["scans"], failed]})


def test_parametric_round_trip_and_validate(files):
    patterns = [_read(files["scan0"]), _read(files["scan2"])]
    result = fit_parametric(patterns, [_nacl(files).replace(sites=())], _instrument(),
                            ParametricSettings(refine=REFINE, powder=OPTIONS))
    doc = _validate(result.to_dict(data=[str(files["scan0"]), str(files["scan2"])]))
    assert doc["kind"] == "parametric" and len(doc["scans"]) == 2
    back = ParametricResult.from_dict(doc)
    assert _validate(back.to_dict()) == doc
    assert back.scans[1]["phases"]["nacl"].a == result.scans[1]["phases"]["nacl"].a
    assert back.scans[1]["phases"]["nacl"].a.value > back.scans[0]["phases"]["nacl"].a.value  # the larger cell


def test_calibration_round_trip_and_validate(files):
    cal = CalibrationResult(geometry={"dist": 0.2, "poni1": 0.1, "poni2": 0.11, "rot1": 0.01, "rot2": 0.0,
                                      "rot3": 0.0, "wavelength": 1e-10},
                            esd={"dist": 1e-5, "poni1": 2e-6, "poni2": 2e-6}, refined=("dist", "poni1", "poni2"),
                            points_per_ring={0: 120, 1: 80}, rms_tth_deg=0.002, rms_px=0.3,
                            control_points=np.zeros((200, 3)), ai=None, calibrant="CeO2",
                            stored_fit2d={"directDist": 200.0, "centerX": 1000.0, "centerY": 1100.0})
    doc = _validate(cal.to_dict(data=str(files["scan0"]), inputs=[files["scan0"]], poni="out.poni"))
    back = CalibrationResult.from_dict(doc)
    assert _validate(back.to_dict(data=str(files["scan0"]), inputs=[files["scan0"]], poni="out.poni")) == doc
    assert back.geometry == cal.geometry and back.points_per_ring == cal.points_per_ring


def test_the_schema_refuses_what_conventions_forbid(files):
    """NaN written as a string, a missing schema name, R-factors as text, a phase without its cell: invalid."""
    result, data = _fit("lebail", files)
    doc = _validate(result.to_dict(data=str(data)))
    bad = [{**doc, "schema": "refine.result/2"},
           {k: v for k, v in doc.items() if k != "converged"},
           {**doc, "statistics": {**doc["statistics"], "Rwp": "9.8 %"}},
           {**doc, "phases": [{k: v for k, v in doc["phases"][0].items() if k != "a"}]},
           {**doc, "kind": "sequential"}]  # a series needs its scans
    for wrong in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, result_schema(), cls=jsonschema.Draft202012Validator)


def test_from_dict_refuses_another_schema():
    from refine.errors import InputError

    with pytest.raises(InputError, match="refine.result/1"):
        FitResult.from_dict({"schema": "other/1"})


def test_result_files_keep_provenance_and_curves(files, tmp_path):
    """write_result = to_dict + JSON dump: the curves sidecar is named in the provenance and the data hashed."""
    from refine.fit.result import read_curves, write_result

    result, data = _fit("lebail", files)
    path = write_result(result, tmp_path / "r.json", data=str(data), settings={"x": 1})
    doc = _validate(json.loads(path.read_text()))
    assert doc["provenance"]["curves"] == ["r.pattern.curves.dat"] and doc["provenance"]["inputs"][0]["sha256"]
    curves = {"pattern": read_curves(tmp_path / "r.pattern.curves.dat")}
    back = FitResult.from_dict(doc, curves=curves)
    fig = back.plot()
    assert type(fig).__name__ == "Figure" and len(fig.axes) == 1
    assert dataclasses.asdict(back.statistics) == dataclasses.asdict(result.statistics)
