"""make_example_series.py: `refine sequential --echem` on the simulated operando series recovers the programmed
lattice trend and joins the cycler's columns to each scan."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from refine.cli.main import main
from refine.example_data import make_example_series as gen
from refine.examples import example_path
from refine.io import read_pattern
from refine.operando.series import read_echem


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return gen.make(tmp_path_factory.mktemp("series"))


@pytest.fixture(scope="module")
def fitted(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("series_fit")
    scans = sorted(files["series"].glob("*.xye"))
    code = main(["sequential", *map(str, scans), "--phase", str(example_path("drs_rocksalt.cif")),
                 "--phase", str(example_path("cu.cif")), "--wavelength", "0.1173", "--background", "chebyshev:8",
                 "--echem", str(files["echem"]), "--echem-match", "time", "--scan-times", "0:600", "-o", str(out)])
    return code, out


def test_writes_twelve_scans_and_a_cycler_table(files):
    scans = sorted(files["series"].glob("*.xye"))
    assert [p.name for p in scans] == [f"scan_{i:02d}.xye" for i in range(12)]
    first = read_pattern(scans[0])
    assert first.wavelength == pytest.approx(0.1173, rel=1e-12) and first.unit == "2th_deg"
    np.testing.assert_allclose(first.sigma, np.sqrt(np.maximum(first.y, 1.0)), rtol=1e-6)
    table = read_echem(files["echem"])
    assert set(table) == {"time", "voltage", "current", "capacity"}
    assert len(table["time"]) == 121 and table["time"][-1] == pytest.approx(7200.0)
    # the capacity integrates the current: +0.5 mA for 80 min (0.667 mAh), then -0.5 mA
    assert table["capacity"].max() == pytest.approx(0.5 * 4800 / 3600, abs=1e-6)
    np.testing.assert_allclose(np.diff(table["capacity"]), table["current"][:-1] * 60 / 3600, atol=2e-6)


def test_deterministic(files, tmp_path):
    again = gen.make(tmp_path)
    for key in ("echem", "scan_00", "scan_11"):
        assert again[key].read_bytes() == files[key].read_bytes(), key


def test_sequential_recovers_the_lattice_trend(fitted):
    code, out = fitted
    assert code == 0
    doc = json.loads((out / "sequential.json").read_text())
    truth = gen.truth()
    assert len(doc["scans"]) == len(truth) == 12
    for scan, true in zip(doc["scans"], truth, strict=True):
        drs = next(p for p in scan["phases"] if p["name"] == "drs_rocksalt")
        # measured: every scan within 1.5 esd (esd 1.0e-4 Å); the programmed change is 0.030 Å
        assert abs(drs["a"] - true["a"]) < max(3 * drs["esd"]["a"], 1e-3), (scan["index"], drs["a"], true["a"])
    a = [next(p["a"] for p in s["phases"] if p["name"] == "drs_rocksalt") for s in doc["scans"]]
    assert int(np.argmin(a)) == 8  # contracts on charge, expands on discharge


def test_sequential_joins_the_cycler_columns(fitted):
    _, out = fitted
    doc = json.loads((out / "sequential.json").read_text())
    for scan, true in zip(doc["scans"], gen.truth(), strict=True):
        for key in ("time", "voltage", "current", "capacity"):
            assert scan[key] == pytest.approx(true[key], abs=1e-5), (scan["index"], key)
    with open(out / "sequential.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["capacity"]) for r in rows] == pytest.approx([t["capacity"] for t in gen.truth()], abs=1e-5)


def test_main_takes_an_output_folder(tmp_path, capsys):
    gen.main([str(tmp_path)])
    assert "12 scans" in capsys.readouterr().out
    assert len(list((tmp_path / "series").glob("scan_*.xye"))) == 12 and (tmp_path / "cycler.txt").is_file()
    with pytest.raises(SystemExit, match="usage"):
        gen.main([])


def test_scans_after_the_cycler_log_are_fitted_with_empty_cycler_columns(files, tmp_path, capsys):
    """Scan times 700 s apart put scan 11 at 7700 s, after the cycler log ends (7200 s): the run fits every scan,
    says which scan has no cycler row, leaves its voltage empty and still draws the figure on the time axis."""
    scans = sorted(files["series"].glob("*.xye"))
    code = main(["sequential", *map(str, scans), "--spacegroup", "Fm-3m", "--cell", "4.642 4.642 4.642 90 90 90",
                 "--name", "drs", "--spacegroup", "Fm-3m", "--cell", "3.615 3.615 3.615 90 90 90", "--name", "cu",
                 "--wavelength", "0.1173", "--background", "chebyshev:8", "--echem", str(files["echem"]),
                 "--echem-match", "time", "--scan-times", "0:700", "-o", str(tmp_path / "fit"),
                 "--plot", str(tmp_path / "operando.png")])
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: scan(s) 11 at 7700 s lie outside the cycler log" in err
    with open(tmp_path / "fit" / "sequential.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["voltage"] == "" for r in rows] == [False] * 11 + [True]
    assert rows[11]["scan_time"] == "7700.0" and rows[11]["converged"] == "True"
    assert (tmp_path / "operando.png").stat().st_size > 10_000
