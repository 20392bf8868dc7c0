"""SeriesResult (refine.operando.series_result): a run without an output folder writes nothing and returns the same
scans as a run that writes; table() is the --csv table as a DataFrame; the summary reads back; plot() gives a Figure
without touching the matplotlib backend."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from refine.fit import FitResult
from refine.operando.sequential import run_sequential
from refine.operando.series import Series
from refine.operando.series_result import ScanFailure, SeriesResult, StoredScans, write_csv
from tests.operando import series_data as sd
from tests.operando.conftest import instrument, phases, settings

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def in_memory(series_paths, tmp_path_factory):
    """The first two scans fitted without an output folder, from inside an empty working folder."""
    folder = tmp_path_factory.mktemp("nothing_written")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        result = run_sequential(Series.from_paths(series_paths[:2]), phases()[:1], instrument(),
                                settings(presence=()))
    return result, folder


def test_without_output_nothing_is_written_and_scans_are_fit_results(in_memory):
    result, folder = in_memory
    assert list(folder.iterdir()) == [] and result.output is None
    assert result.converged and (result.fitted, result.skipped) == (2, 0) and len(result) == 2
    assert all(isinstance(s, FitResult) for s in result.scans)
    first = result.scans[0]
    assert abs(first.phases["nvp"].a.value - sd.truth(0)[0]) < 3 * first.phases["nvp"].a.esd
    assert [r["index"] for r in result.records] == [0, 1] and result.records[0]["result_file"] is None


def test_table_is_the_csv_table(in_memory, tmp_path):
    result, _ = in_memory
    frame = result.table()
    with open(write_csv(result.records, tmp_path / "t.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(frame.columns) == list(rows[0]) and len(frame) == len(rows) == 2
    for i, row in enumerate(rows):
        for col in ("nvp_a", "nvp_a_esd", "nvp_volume", "Rwp", "zero", "W_esd"):
            assert float(row[col]) == frame.loc[i, col], col
    assert frame["converged"].tolist() == [True, True]


def test_summary_round_trips(in_memory):
    result, _ = in_memory
    doc = json.loads(json.dumps(result.to_dict({"command": "test"}), allow_nan=False))
    back = SeriesResult.from_dict(doc)
    assert back.records == tuple(doc["scans"]) and (back.fitted, back.skipped) == (2, 0)
    assert back.scans[1].phases["nvp"].volume == result.scans[1].phases["nvp"].volume


def test_failed_scans_are_failure_records():
    failure = ScanFailure(index=4, file="s_4.xye", error="RuntimeError: boom", echem={"capacity": 1.5})
    record = failure.to_dict()
    assert record == {"index": 4, "file": "s_4.xye", "capacity": 1.5, "status": "failed", "result_file": None,
                      "converged": False, "error": "RuntimeError: boom"}
    assert ScanFailure.from_dict(record) == failure and not failure.converged
    series = SeriesResult(scans=(failure,))
    assert not series.converged and series.table()["status"].tolist() == ["failed"]
    assert pd.isna(series.table()["Rwp"].iloc[0])
    framed = ScanFailure(index=2, file="f_3.xye", error="boom", echem={"capacity": 1.5}, frame=3)  # frame 2 failed
    assert list(framed.to_dict())[:3] == ["index", "frame", "file"] and framed.to_dict()["frame"] == 3
    assert ScanFailure.from_dict(framed.to_dict()) == framed  # the frame is not read back as an echem column
    assert SeriesResult(scans=(framed,)).table().columns[:3].tolist() == ["index", "frame", "file"]


def test_plots_return_figures_without_touching_the_backend(in_memory):
    import matplotlib

    backend = matplotlib.get_backend()
    result, _ = in_memory
    series_fig = result.plot()
    fit_fig = result.scans[0].plot(hkl_labels=3)
    assert type(series_fig).__name__ == type(fit_fig).__name__ == "Figure"
    assert len(series_fig.axes) >= 3 and fit_fig.axes[0].get_title().startswith("lebail: pattern")
    assert matplotlib.get_backend() == backend
    import sys

    if "matplotlib.pyplot" in sys.modules:  # another test may have imported pyplot: no figure of ours is open
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_scans_are_kept_pickled_and_read_as_fresh_copies(in_memory):
    """A long series keeps each scan pickled (a live FitResult carries lmfit Parameters with their own asteval
    interpreter, ~35 kB each): items, slices and iteration give FitResults, each read a new copy."""
    result, _ = in_memory
    assert isinstance(result.scans, StoredScans) and len(result.scans) == 2
    first = result.scans[0]
    first.params["nvp_a"].value = 1.0  # a caller changing its copy changes nothing stored
    again = result.scans[0]
    assert again is not first and again.params["nvp_a"].value == result.records[0]["parameters"]["nvp_a"]["value"]
    assert [s.phases["nvp"].a.value for s in result.scans[0:2]] == [s.phases["nvp"].a.value for s in result.scans]
    again = SeriesResult(scans=list(result.scans))
    assert isinstance(again.scans, StoredScans) and again.records == result.records


def _volume_record(index: int, volume: float, esd: float, converged: bool = True) -> dict:
    return {"index": index, "file": f"s{index}.xye", "converged": converged, "status": "converged",
            "phases": [{"prefix": "nvp", "name": "nvp", "volume": volume, "esd": {"volume": esd}}]}


def test_volume_change_propagates_both_volumes_esds():
    """ΔV/V0 against the first converged scan: its own change is 0 (esd 0); elsewhere the esd is that of
    100·(V/V0 - 1) for two independent normal volumes, checked by sampling them (2e5 draws: the sampled std is
    good to ~0.2 %)."""
    from refine.operando.series_result import table, volume_change

    records = [_volume_record(0, 1400.0, 0.5, converged=False), _volume_record(1, 1410.0, 0.3),
               _volume_record(2, 1395.5, 0.8)]
    change = volume_change(records, "nvp")
    assert change[1] == (0.0, 0.0)
    rng = np.random.default_rng(0)
    v0 = rng.normal(1410.0, 0.3, 200_000)
    for index, (v, s) in ((0, (1400.0, 0.5)), (2, (1395.5, 0.8))):
        pct, esd = change[index]
        assert pct == pytest.approx(100 * (v / 1410.0 - 1), rel=1e-12)
        sampled = np.std(100 * (rng.normal(v, s, v0.size) / v0 - 1))
        assert esd == pytest.approx(sampled, rel=0.01)
    cols, rows = table(records)
    at = {c: i for i, c in enumerate(cols)}
    assert [row[at["nvp_dV_V0_percent"]] for row in rows] == [change[i][0] for i in range(3)]
    assert [row[at["nvp_dV_V0_percent_esd"]] for row in rows] == [change[i][1] for i in range(3)]
    assert volume_change([_volume_record(0, 1400.0, None)] * 1 + [_volume_record(1, 1401.0, 0.2)], "nvp")[1][1] is None


def test_records_are_fresh_copies(in_memory):
    """A notebook that edits a record changes nothing of the result: not its table, not its summary."""
    result, _ = in_memory
    before = result.table()["Rwp"].tolist()
    record = result.records[0]
    record["statistics"]["Rwp"], record["converged"] = 99.0, False
    assert result.records[0]["statistics"]["Rwp"] == before[0] != 99.0
    assert result.table()["Rwp"].tolist() == before and result.converged
    assert result.to_dict()["message"] == "all scans converged"
