"""Sequential G(r) fits (kind ``pdf``) over a synthetic NaCl temperature series (cell +0.55 % from 300 to 1000 K,
computed with refine's exact pair sum plus seeded noise of known dG): every cell within 3 esd of the truth, scan i
starting from scan i-1's refined values, resume, the table with Rw and the figure."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from refine.errors import InputError
from refine.operando.sequential import (
    FIT_KINDS,
    Presence,
    SequentialSettings,
    fingerprint,
    run_sequential,
    write_csv,
)
from refine.operando.series import Series
from refine.pdf.fitting import PDFFitSettings, PhaseInput
from refine.plot.sequential import plot_sequential
from tests.operando import pdf_series_data as pd


def _settings(**changes) -> SequentialSettings:
    pdf = PDFFitSettings(qmax=pd.QMAX, radiation="xray")
    return dataclasses.replace(SequentialSettings(kind="pdf", refine=(), pdf=pdf), **changes)


def _inputs(**kw) -> list[PhaseInput]:
    return [PhaseInput.load(pd.cif_path(), **kw)]


def _logging_kind(log: list):
    """The registered pdf kind, logging (file name, starting params) of each fit."""
    real = FIT_KINDS.get("pdf")

    def fit(pattern, phases, instrument, **kw):
        log.append((pattern.source, kw["params"]))
        return real.fit(pattern, phases, instrument, **kw)

    return dataclasses.replace(real, fit=fit)


@pytest.fixture(scope="module")
def gr_paths(tmp_path_factory):
    return pd.write_series(tmp_path_factory.mktemp("pdfseries"))


@pytest.fixture(scope="module")
def pdf_run(gr_paths, tmp_path_factory):
    """(result, out dir, log of the fits); the files are given in reverse order (natural sorting restores it)."""
    out = tmp_path_factory.mktemp("pdfseq")
    log: list = []
    result = run_sequential(Series.from_paths(list(reversed(gr_paths))), _inputs(), None, _settings(), out,
                            kind=_logging_kind(log))
    return result, out, log


def test_every_cell_within_3_esd_of_the_truth(pdf_run, gr_paths):
    result, out, _ = pdf_run
    assert result.converged and (result.fitted, result.skipped) == (3, 0)
    assert [r["file"] for r in result.records] == [str(p) for p in gr_paths]  # 300, 550, 1000 K
    for r, t in zip(result.records, pd.TEMPERATURES, strict=True):
        (ph,) = r["phases"]
        assert ph["prefix"] == "nacl" and r["kind"] == "pdf"
        for key in ("a", "b", "c"):
            assert abs(ph[key] - pd.A_TRUE[t]) < 3 * ph["esd"][key], (t, key, ph[key], ph["esd"][key])
        # dG is the true noise level: chi2_red ~ 1 (its spread for ~525 points is 0.06; 0.7-1.3 is 5 sigma).
        assert 0.7 < r["statistics"]["chi2_red"] < 1.3 and r["statistics"]["Rw"] < 0.05
        path = Path(r["result_file"])
        assert path == out / "scans" / f"{r['index']:04d}_nacl_{t}K.json"
        doc = json.loads(path.read_text())
        assert doc["schema"] == "refine.result/1" and doc["provenance"]["settings"]["kind"] == "pdf"
        assert "PDFFitSettings(qmax=25.0" in doc["provenance"]["settings"]["pdf"]


def test_each_scan_starts_from_the_previous_refined_values(pdf_run):
    result, _, log = pdf_run
    assert [src.rsplit("/", 1)[-1] for src, _ in log] == ["nacl_300K.gr", "nacl_550K.gr", "nacl_1000K.gr"]
    assert log[0][1] is None  # scan 0: the structure file's values (a = 5.62)
    for k in (1, 2):
        start, before = log[k][1], result.records[k - 1]["parameters"]
        for name in ("nacl_a", "nacl_scale", "nacl_delta2", "nacl_uiso_Na1p", "nacl_uiso_Cl1m"):
            assert start[name].value == pytest.approx(before[name]["value"], rel=1e-12), (k, name)


def test_restart_each_starts_every_scan_from_the_file(gr_paths, tmp_path):
    log: list = []
    result = run_sequential(Series.from_paths(gr_paths[:2]), _inputs(), None, _settings(restart_each=True),
                            tmp_path, kind=_logging_kind(log))
    assert result.converged and [p for _, p in log] == [None, None]


def test_resume_fits_nothing_and_new_pdf_settings_refit(pdf_run, gr_paths):
    result, out, _ = pdf_run
    log: list = []
    again = run_sequential(Series.from_paths(gr_paths), _inputs(), None, _settings(), out, kind=_logging_kind(log))
    assert log == [] and (again.fitted, again.skipped) == (0, 3)
    assert [r["phases"] for r in again.records] == [r["phases"] for r in result.records]
    other = _settings(pdf=PDFFitSettings(qmax=pd.QMAX, radiation="xray", rmax=10.0))
    assert fingerprint(other, _inputs(), None) != fingerprint(_settings(), _inputs(), None)
    assert fingerprint(_settings(), _inputs(fixed=True), None) != fingerprint(_settings(), _inputs(), None)


def test_table_has_cells_refined_parameters_and_rw(pdf_run, tmp_path):
    result = pdf_run[0]
    with open(write_csv(result.records, tmp_path / "t.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["index"]) for r in rows] == [0, 1, 2]
    for name in ("Rw", "converged", "nacl_a", "nacl_a_esd", "nacl_b", "nacl_c", "nacl_alpha", "nacl_volume",
                 "nacl_volume_esd", "nacl_scale", "nacl_scale_esd", "nacl_delta2_esd", "nacl_uiso_Na1p_esd"):
        assert name in rows[0], name
    assert [float(r["Rw"]) for r in rows] == [r["statistics"]["Rw"] for r in result.records]
    assert all(r["Rwp"] == "" for r in rows)
    path = plot_sequential(result.records, tmp_path / "f.png")
    assert path.stat().st_size > 10_000


def test_pdf_needs_its_settings_and_refuses_presence(gr_paths, tmp_path):
    series = Series.from_paths(gr_paths[:1])
    with pytest.raises(InputError, match="^qmax: "):
        run_sequential(series, _inputs(), None, SequentialSettings(kind="pdf"), tmp_path)
    with pytest.raises(InputError, match="^present: "):
        run_sequential(series, _inputs(), None, _settings(presence=(Presence("nacl", 1),)), tmp_path)


def test_powder_kind_flags_a_gr_scan(gr_paths, tmp_path):
    from refine.operando.sequential import _read

    with pytest.raises(InputError, match="use --kind pdf"):
        _read(Series.from_paths(gr_paths[:1]).scans[0])
