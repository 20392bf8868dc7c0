"""``refine.parametric``'s table (refine.api.parametric_fit): the sequential run's table, so a phase that appears
after the first scan has its columns (blank where it is absent) and every phase has ΔV/V0."""

from __future__ import annotations

import csv

import pytest

from benchmarks import make_operando_series as mos
from refine.crystal.lattice import Lattice


def test_csv_has_a_phase_absent_from_the_first_scan(tmp_path):
    import refine

    paths, truth = mos.write_series(tmp_path / "data", "biphasic", 3, grid=mos.Grid(6.0, 16.0, 0.01))
    phases = [mos.structures("nvp").replace(name=name, lattice=Lattice(a, a, c, 90, 90, 120))
              for name, a, c in (("nvp", mos.A0, mos.C0), ("nvp1", mos.A1, mos.C1))]
    result = refine.parametric([str(p) for p in paths], phases, instrument=mos.instrument(),
                               background="chebyshev:3", present=["nvp1:1"], csv=str(tmp_path / "p.csv"))
    with open(tmp_path / "p.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and {"nvp1_volume", "nvp1_volume_esd", "nvp_dV_V0_percent"} <= set(rows[0])
    assert rows[0]["nvp1_volume"] == "" and rows[0]["nvp_dV_V0_percent"] == "0.0"
    for i in (1, 2):
        fitted = result.scans[i]["phases"]["nvp1"].volume
        assert float(rows[i]["nvp1_volume"]) == pytest.approx(fitted.value, rel=1e-12)
        assert abs(fitted.value - truth[i][1]["volume"]) < 0.01 * truth[i][1]["volume"]
    assert float(rows[2]["nvp1_dV_V0_percent"]) == pytest.approx(
        100 * (float(rows[2]["nvp1_volume"]) / float(rows[1]["nvp1_volume"]) - 1), rel=1e-9)


def test_start_must_hold_the_same_scans(tmp_path):
    """--start from a summary of other scans (same count, other files) is refused naming both files."""
    import json

    from refine.api.parametric_fit import read_start
    from refine.errors import InputError

    path = tmp_path / "seq.json"
    path.write_text(json.dumps({"scans": [{"file": f"/elsewhere/scan_{i}.xye", "parameters": {
        "nvp_a": {"value": 8.7 + i}}} for i in range(2)]}))
    assert read_start(path, 2, ["here/scan_0.xye", "here/scan_1.xye"]) == [{"nvp_a": 8.7}, {"nvp_a": 9.7}]
    with pytest.raises(InputError, match="holds other scans: scan 1 is scan_1.xye there, other_1.xye here"):
        read_start(path, 2, ["here/scan_0.xye", "here/other_1.xye"])
