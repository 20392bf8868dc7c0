"""Sequential Le Bail over a synthetic NASICON series (a −0.3 %, c +0.3 % over 8 scans, a second R-3c phase from
scan 4): every scan's cell within 3 esd of the truth, the table, resume after an interruption, failed scans."""

import csv
import dataclasses
import json

import pytest

from refine.api.options import SequentialOptions
from refine.errors import InputError
from refine.operando.sequential import (
    FIT_KINDS,
    _load_finished,
    fingerprint,
    run_sequential,
    scan_result_path,
    summary,
    table,
    write_csv,
    write_summary,
)
from refine.operando.series import Series
from refine.plot.sequential import _quantities, plot_sequential
from tests.operando import series_data as sd
from tests.operando.conftest import INTERRUPT_AT, counting_kind, instrument, phases, settings


def test_interrupted_run_leaves_earlier_scans_and_resume_fits_only_the_rest(sequential_run):
    result, out, first, present, second = sequential_run
    assert [i for i, _ in first] == list(range(INTERRUPT_AT + 1))  # scan 3 was started, then interrupted
    assert present == [i < INTERRUPT_AT for i in range(sd.NSCANS)]
    assert not list((out / "scans").glob(".*.part"))  # no half-written file left behind
    assert [i for i, _ in second] == list(range(INTERRUPT_AT, sd.NSCANS))
    assert (result.fitted, result.skipped) == (sd.NSCANS - INTERRUPT_AT, INTERRUPT_AT)
    # Scan 3 of the resumed run starts from scan 2's refined values, read back from its file.
    doc = json.loads(scan_result_path(out, Series.from_paths([r["file"] for r in result.records]).scans[2])
                     .read_text())
    start = second[0][1]
    assert start["nvp_a"].value == doc["parameters"]["nvp_a"]["value"]


def test_every_scan_within_3_esd(sequential_run):
    result = sequential_run[0]
    assert result.converged
    assert [r["index"] for r in result.records] == list(range(sd.NSCANS))
    for r in result.records:
        ph = {p["name"]: p for p in r["phases"]}
        a, c = sd.truth(r["index"])
        for key, true in (("a", a), ("c", c)):
            assert abs(ph["nvp"][key] - true) < 3 * ph["nvp"]["esd"][key], (r["index"], key)
        assert ("nvp2" in ph) == (r["index"] >= sd.SECOND_FROM)
        if "nvp2" in ph:
            for key, true in (("a", sd.A2), ("c", sd.C2)):
                assert abs(ph["nvp2"][key] - true) < 3 * ph["nvp2"]["esd"][key], (r["index"], key)


def test_resume_skips_finished_scans_and_new_settings_refit(sequential_run, series_paths):
    result, out, *_ = sequential_run
    log: list = []
    again = run_sequential(Series.from_paths(series_paths), phases(), instrument(), settings(), out,
                           kind=counting_kind(log))
    assert log == [] and (again.fitted, again.skipped) == (0, sd.NSCANS)
    assert [r["phases"] for r in again.records] == [r["phases"] for r in result.records]
    # Other settings -> another fingerprint -> the stored scan is not reused.
    scan0 = Series.from_paths(series_paths).scans[0]
    fp_other = fingerprint(settings(refine=("cell", "zero", "W")), phases(), instrument())
    assert fp_other != fingerprint(settings(), phases(), instrument())
    assert _load_finished(scan_result_path(out, scan0), scan0, fp_other) is None


def test_fingerprint_covers_structure_content_input_files_and_every_setting(tmp_path):
    base = fingerprint(settings(), phases(), instrument())
    assert base == fingerprint(settings(), phases(), instrument())
    moved = phases()
    site = moved[0].sites[0]
    moved[0] = moved[0].replace(sites=(dataclasses.replace(site, occupancy=site.occupancy * 0.9),
                                       *moved[0].sites[1:]))
    assert fingerprint(settings(), moved, instrument()) != base  # same name, group, cell and site count
    assert fingerprint(settings(bank=2), phases(), instrument()) != base
    cif = tmp_path / "p.cif"
    cif.write_text("data_a\n")
    with_file = fingerprint(settings(), phases(), instrument(), inputs=[cif])
    assert with_file != base and with_file == fingerprint(settings(), phases(), instrument(), inputs=[cif])
    cif.write_text("data_b\n")
    assert fingerprint(settings(), phases(), instrument(), inputs=[cif]) != with_file


def test_csv_columns_and_rows(sequential_run, tmp_path):
    result = sequential_run[0]
    path = write_csv(result.records, tmp_path / "seq.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sd.NSCANS
    cols = list(rows[0])
    assert cols[:2] == ["index", "file"]
    for name in ("converged", "Rwp", "Rp", "Rexp", "GOF", "zero", "zero_esd", "W", "W_esd", "X_esd", "Y_esd"):
        assert name in cols
    for pre in ("nvp", "nvp2"):
        for key in ("a", "c", "volume", "weight_fraction"):
            assert f"{pre}_{key}" in cols and f"{pre}_{key}_esd" in cols
    assert len(cols) == len(set(cols))
    for i, row in enumerate(rows):
        assert int(row["index"]) == i and row["converged"] == "True"
        rec = result.records[i]
        assert float(row["nvp_a"]) == rec["phases"][0]["a"]
        assert float(row["nvp_volume_esd"]) == rec["phases"][0]["esd"]["volume"]
        assert (row["nvp2_a"] == "") == (i < sd.SECOND_FROM)


def test_summary_document(sequential_run, tmp_path):
    result = sequential_run[0]
    doc = summary(result)
    assert doc["kind"] == "sequential" and doc["converged"] and len(doc["scans"]) == sd.NSCANS
    assert all(s["index"] == i and s["schema"] == "refine.result/1" for i, s in enumerate(doc["scans"]))
    path = write_summary(result, tmp_path / "seq.json")
    assert json.loads(path.read_text())["scans"][3]["phases"] == doc["scans"][3]["phases"]


def test_failed_scan_is_flagged_and_next_starts_from_last_good(series_paths, tmp_path):
    series = Series.from_paths(series_paths[:3])
    log: list = []
    res = run_sequential(series, phases(), instrument(), settings(), tmp_path, kind=counting_kind(log, fail_at=1))
    assert [r["status"] for r in res.records] == ["converged", "failed", "converged"]
    assert not res.converged and "simulated failure" in res.records[1]["error"]
    assert not scan_result_path(tmp_path, series.scans[1]).exists()
    scan0 = json.loads(scan_result_path(tmp_path, series.scans[0]).read_text())
    start2 = log[2][1]
    assert start2["nvp_a"].value == scan0["parameters"]["nvp_a"]["value"]
    assert "scan 1" in summary(res)["warnings"][0]


def test_unconverged_scan_is_written_flagged_and_not_a_starting_point(series_paths, tmp_path):
    series = Series.from_paths(series_paths[:3])
    log: list = []
    res = run_sequential(series, phases(), instrument(), settings(), tmp_path,
                         kind=counting_kind(log, unconverged_at=1))
    assert [r["status"] for r in res.records] == ["converged", "not converged", "converged"]
    assert scan_result_path(tmp_path, series.scans[1]).is_file()
    rows = table(res.records)[1]
    assert [row[table(res.records)[0].index("converged")] for row in rows] == [True, False, True]
    scan0 = json.loads(scan_result_path(tmp_path, series.scans[0]).read_text())
    assert log[2][1]["nvp_a"].value == scan0["parameters"]["nvp_a"]["value"]


@pytest.mark.parametrize("kind", ["pawley", "rietveld"])
def test_other_fit_kinds_carry_over(series_paths, tmp_path, kind):
    """Pawley and Rietveld are registry entries used by the same loop (scans 0-1, main phase only)."""
    log: list = []
    res = run_sequential(Series.from_paths(series_paths[:2]), phases()[:1], instrument(), settings(
        kind=kind, presence=()), tmp_path, kind=counting_kind(log, name=kind))
    assert res.converged and [r["kind"] for r in res.records] == [kind, kind]
    assert log[1][1]["nvp_c"].value == res.records[0]["parameters"]["nvp_c"]["value"]
    for r in res.records:
        ph = r["phases"][0]
        a, c = sd.truth(r["index"])
        assert abs(ph["a"] - a) < 3 * ph["esd"]["a"] and abs(ph["c"] - c) < 3 * ph["esd"]["c"], (kind, r["index"])
    if kind == "rietveld":
        assert [r["phases"][0]["weight_fraction"] for r in res.records] == [1.0, 1.0]


def test_rietveld_kind_refines_scales_and_follows_an_appearing_phase(series_paths, tmp_path):
    """The Rietveld kind refines the phase scales whatever the refine list says (held at their start, Rwp was
    0.40 for 0.046 and scans where the second phase appears failed): in scans 3-7 the second phase's weight
    fraction follows the simulated intensity share."""
    from refine.operando.sequential import Presence

    res = run_sequential(Series.from_paths(series_paths[3:]), phases(), instrument(),
                         settings(kind="rietveld", presence=(Presence("nvp2", 1),)), tmp_path)
    assert res.converged and [r["status"] for r in res.records] == ["converged"] * 5
    assert res.records[0]["provenance"]["settings"]["refine"][0] == "scale"
    ratio = (sd.A2 / sd.A0) ** 2 * sd.C2 / sd.C0  # V2/V1 of the second phase and the main one's first cell
    for r in res.records:
        scan = r["index"] + 3
        stats = r["statistics"]
        assert stats["Rwp"] < 1.1 * stats["Rexp"], (scan, stats)  # noise level: the scales are right
        fractions = {ph["name"]: ph["weight_fraction"] for ph in r["phases"]}
        # pymatgen's intensities of the second phase are the main one's times the share (both NASICON, so
        # the same Z·M): Hill & Howard W2/W1 = share·V2/V1. The main cell shrinks 0.3 % over the series: 1 wt %.
        w2 = sd.second_share(scan) * ratio / (1.0 + sd.second_share(scan) * ratio)
        assert fractions.get("nvp2", 0.0) == pytest.approx(w2, abs=0.01), (scan, fractions)


def test_restart_each_starts_every_scan_from_the_user_values(series_paths, tmp_path):
    log: list = []
    run_sequential(Series.from_paths(series_paths[:2]), phases(), instrument(), settings(restart_each=True),
                   tmp_path, kind=counting_kind(log))
    assert [p for _, p in log] == [None, None]


def test_figure_panels(sequential_run, tmp_path):
    records = sequential_run[0].records
    # Hexagonal cells: b equals a and is not drawn; angles fixed; volumes always.
    assert _quantities(records) == [("nvp", "nvp", "a"), ("nvp", "nvp", "c"), ("nvp", "nvp", "volume"),
                                    ("nvp2", "nvp2", "a"), ("nvp2", "nvp2", "c"), ("nvp2", "nvp2", "volume")]
    with_echem = [{**r, "capacity": 10.0 * r["index"]} for r in records]
    path = plot_sequential(with_echem, tmp_path / "seq.png")
    assert path.stat().st_size > 10_000


def test_temperature_column_becomes_the_second_axis():
    """A table with a temperature column (a temperature series) is plotted against temperature; capacity and
    voltage still win when present."""
    from refine.plot.sequential import _echem_axis

    assert _echem_axis([{"index": 0, "temperature": 300.0}, {"index": 1, "temperature": 550.0}]) == "temperature"
    assert _echem_axis([{"index": 0, "temperature": 300.0, "voltage": 3.1}]) == "voltage"
    assert _echem_axis([{"index": 0, "temperature": 300.0}, {"index": 1}]) is None


def test_settings_no_scan_can_use_stop_the_run_before_any_fit(series_paths, tmp_path):
    """An unknown refined or constrained parameter would fail every scan: it is bad input for the run, found on
    the first scan before anything is fitted or written."""
    from refine.errors import InputError
    from refine.powder.model import PowderOptions

    series = Series.from_paths(series_paths)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="unknown parameter or group 'bogus'"):
        run_sequential(series, phases(), instrument(), settings(refine=("cell", "bogus")), out)
    with pytest.raises(InputError, match="^constrain: no parameter 'nope_a'"):
        run_sequential(series, phases(), instrument(),
                       settings(powder=PowderOptions(constraints=(("nope_a", "1.0"),))), out)
    assert not (out / "scans").exists()  # no scan fitted or written


def test_a_series_freezes_the_existing_objects_once_not_per_fit(series_paths, tmp_path, monkeypatch):
    # Per fit, the objects alive when it began (objective, phases, pattern) were promoted to the oldest generation,
    # whose full collections are rare beside the libraries' ~10^6 objects: a 1 000-scan run grew by 330 kB a scan.
    # One freeze for the whole series keeps the collector to the run's own objects (300 scans: +18 MB, was +98 MB).
    import gc

    freezes: list = []
    real = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: (freezes.append(1), real())[1])
    series = Series.from_paths(series_paths[:3])
    log: list = []
    res = run_sequential(series, phases(), instrument(), settings(), tmp_path, kind=counting_kind(log))
    assert len(log) == 3 and res.converged
    assert len(freezes) == 1
    assert gc.get_freeze_count() == 0


def test_only_a_scan_started_from_the_scan_before_skips_the_positions_stage(series_paths, tmp_path):
    """``neighbour`` (one Le Bail stage) only for a scan whose start is the converged result of the scan just
    before with every parameter: not the first scan, a chunk's first (from the chunk before), the scan where a
    phase appears, nor the scan after a failure (it starts from an earlier scan)."""
    real, seen = FIT_KINDS.get("lebail"), {}

    def fit(pattern, phases, instrument, **kw):
        index = int(pattern.source.rsplit("_", 1)[1].split(".")[0])
        seen[index] = kw["neighbour"]
        if index == 6:
            raise RuntimeError("simulated failure")
        return real.fit(pattern, phases, instrument, **kw)

    run_sequential(Series.from_paths(series_paths), phases(), instrument(), settings(chunk=5), tmp_path,
                   kind=dataclasses.replace(real, fit=fit))
    assert sd.SECOND_FROM == 4 and sd.NSCANS == 8
    assert seen == {0: False, 1: True, 2: True, 3: True, 4: False, 5: False, 6: True, 7: False}


def test_presence_rules_are_checked_before_any_fit(series_paths, tmp_path):
    """A --present rule for no phase of the run is bad input before any scan is fitted (it failed every scan);
    one starting after the last scan is said (a typo, or the first scans of a longer series); FIRST > LAST is
    refused when parsed."""
    from refine.operando.sequential import Presence

    series = Series.from_paths(series_paths[:3])
    log: list = []
    with pytest.raises(InputError, match="no phase named 'nvpX'; phases: nvp, nvp2") as info:
        run_sequential(series, phases(), instrument(), settings(presence=(Presence("nvpX", 1),)), tmp_path / "x",
                       kind=counting_kind(log))
    assert info.value.source == "present" and log == []
    res = run_sequential(Series.from_paths(series_paths[:2]), phases(), instrument(),
                         settings(presence=(Presence("nvp2", 3),)), tmp_path / "late", kind=counting_kind(log))
    assert "warning: --present nvp2:3 starts after the last scan (1): phase nvp2 is fitted in no scan" in res.notes
    with pytest.raises(InputError, match="0 <= FIRST <= LAST"):
        Presence("nvp2", 4, 2)
    with pytest.raises(InputError, match="nvp2:4:2: scans FIRST..LAST need 0 <= FIRST <= LAST"):  # its own words
        SequentialOptions(present=["nvp2:4:2"])
    for no_first in ("nvp2", "nvp2:", "nvp2::3"):  # read as FIRST 0 before: a rule that restricted nothing
        with pytest.raises(InputError, match="expected NAME:FIRST"):
            SequentialOptions(present=[no_first])
    none: list = []
    with pytest.raises(InputError, match="scan 0 would have no phase to fit"):  # it failed scan by scan
        run_sequential(series, phases()[:1], instrument(), settings(presence=(Presence("nvp", 1),)),
                       tmp_path / "none", kind=counting_kind(none))
    assert none == []
