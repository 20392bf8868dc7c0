"""``refine.lebail`` / ``refine.pawley`` / ``refine.rietveld`` from Python: objects or paths in, files written only
when their keyword is given."""

import json

import pytest

import refine
from refine.examples import example_path

LAM = 0.1173
A_DRS = 4.642


@pytest.fixture(scope="module")
def pattern():
    return refine.simulate(example_path("drs_rocksalt.cif"), wavelength=LAM, range="2:10", step=0.005, noise=5000,
                           seed=11, background=100)


def test_objects_in_no_file_out(pattern, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fit = refine.lebail(pattern, refine.phase("Fm-3m", "4.65 4.65 4.65 90 90 90", name="drs"), wavelength=LAM)
    assert fit.converged and abs(fit.value("drs_a") - A_DRS) < 3 * fit.esd("drs_a")
    assert list(tmp_path.iterdir()) == [] and fit.extra["written"] == []
    assert fit.extra["notes"][0].startswith("instrument: monochromatic 0.1173")


def test_paths_in_files_out(pattern, tmp_path):
    from refine.io import write_pattern

    write_pattern(pattern, tmp_path / "p.xye")
    out = {"json": tmp_path / "fit.json", "hkl": tmp_path / "hkl.csv", "plot": tmp_path / "fit.png"}
    fit = refine.pawley(tmp_path / "p.xye", [refine.phase("Fm-3m", "4.65 4.65 4.65 90 90 90", name="drs")],
                        wavelength=LAM, range="2.5:9.5", **out)
    assert [kind for kind, _ in fit.extra["written"]] == ["result", "reflections", "figure"]
    assert all(path.is_file() for path in out.values())
    doc = json.loads(out["json"].read_text())
    assert doc["kind"] == "pawley" and doc["data"] == str(tmp_path / "p.xye")
    assert doc["provenance"]["settings"]["range"] == [2.5, 9.5]


def test_rietveld_writes_the_refined_structure_when_asked(pattern, tmp_path):
    fit = refine.rietveld(pattern, example_path("drs_rocksalt.cif"), wavelength=LAM, refine="scale,cell,W",
                          cif_out=tmp_path / "out.cif")
    assert ("structure", str(tmp_path / "out.cif")) in fit.extra["written"]
    back = refine.read_structure(tmp_path / "out.cif")
    assert back.lattice.a == pytest.approx(fit.value("drs_rocksalt_a"), abs=1e-5)


def test_a_bad_output_is_refused_before_the_fit(pattern, tmp_path):
    with pytest.raises(refine.InputError, match="^json: .* is a folder"):
        refine.lebail(pattern, refine.phase("Fm-3m", "4.65 4.65 4.65 90 90 90"), wavelength=LAM, json=tmp_path)
