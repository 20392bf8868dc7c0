"""``refine demo`` (what ``make demo`` runs) on the bundled example data: every step converges and returns the
simulation's truth (example_data/make_example_data.py, make_example_pdf.py, make_example_series.py)."""

import csv
import json
import math

import numpy as np
import pytest

from refine.cli.main import main
from refine.example_data import make_example_series


def test_demo_runs_every_step_and_recovers_the_simulation(tmp_path):
    assert main(["demo", "-o", str(tmp_path)]) == 0
    for name in ("lebail", "rietveld", "pdf"):
        assert (tmp_path / f"{name}.json").is_file() and (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert "[7/7]" in (tmp_path / "summary.txt").read_text()
    # the pdf calc step: r and G of the supercell, its six element-pair partials summing to G
    gr = np.loadtxt(tmp_path / "supercell.gr")
    partials = np.loadtxt(tmp_path / "supercell.partials.csv", delimiter=",", skiprows=1)
    assert gr.shape == (2001, 2) and partials.shape == (2001, 7)
    np.testing.assert_allclose(partials[:, 1:].sum(axis=1), gr[:, 1], atol=1e-8 * np.abs(gr[:, 1]).max())
    lebail = json.loads((tmp_path / "lebail.json").read_text())
    assert [round(p["a"], 3) for p in lebail["phases"]] == [4.642, 3.615]
    rietveld = json.loads((tmp_path / "rietveld.json").read_text())
    drs, cu = rietveld["phases"]
    # cells to 1e-4 relative; Uiso within 3 % of B/8pi^2 of the simulation (B = 1.0 and 0.6 A^2) given its
    # pseudo-Voigt rings are fitted with TCH profiles
    assert drs["a"] == pytest.approx(4.642, rel=1e-4) and cu["a"] == pytest.approx(3.615, rel=1e-4)
    params = rietveld["parameters"]
    assert params["drs_rocksalt_O1_uiso"]["value"] == pytest.approx(1.0 / (8 * 3.14159265**2), rel=0.03)
    assert params["drs_rocksalt_Na1_uiso"]["value"] == pytest.approx(1.0 / (8 * 3.14159265**2), rel=0.03)
    assert params["cu_Cu1_uiso"]["value"] == pytest.approx(0.6 / (8 * 3.14159265**2), rel=0.1)
    assert rietveld["converged"] and drs["weight_fraction"] + cu["weight_fraction"] == pytest.approx(1.0)
    pdf = json.loads((tmp_path / "pdf.json").read_text())
    assert pdf["phases"][0]["a"] == pytest.approx(4.642, abs=0.002)
    assert pdf["phases"][0]["scale"] == pytest.approx(0.7, abs=0.03)
    # the simulate step: its strongest line is Cu 111 of cu.cif (a = 3.620 A) at lambda = 0.1173 A, to one step
    sim = np.loadtxt(tmp_path / "simulated.xye", comments="#")
    cu111 = 2 * math.degrees(math.asin(0.1173 / (2 * 3.620 / math.sqrt(3))))
    assert sim[np.argmax(sim[:, 1]), 0] == pytest.approx(cu111, abs=0.004)
    # the operando step: one table row per scan with the cycler's voltage, the rock-salt cell on the simulated path
    # within 3 esd (measured: 1.5), the figure written
    with open(tmp_path / "operando" / "sequential.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    truth = make_example_series.truth()
    assert len(rows) == len(truth) == 12 and (tmp_path / "operando.png").stat().st_size > 10_000
    for row, true in zip(rows, truth, strict=True):
        assert float(row["voltage"]) == pytest.approx(true["voltage"], abs=1e-5)
        assert abs(float(row["drs_rocksalt_a"]) - true["a"]) < 3 * float(row["drs_rocksalt_a_esd"]), row["index"]
