"""Cycler files (refine.io.echem): EC-Lab .mpt text written to the documented layout, plain/Arbin CSV with units,
real Neware exports (NewareNDA's own test files), .mpr through galvani's record array; columns by their usual names
with unit conversion, a one-line error naming the columns found when one is missing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from refine.errors import InputError
from refine.io.echem import read_cycler, split_unit
from tests.conftest import data_file


def write_mpt(path: Path, header: list[str], rows: list[list[float]], *, start: str = "03/12/2026 07:00:00",
              decimal_comma: bool = False) -> Path:
    """An EC-Lab ASCII export: 'EC-Lab ASCII FILE', 'Nb header lines : N' (N counts these two lines, the settings
    and the column line), settings, the tab-separated column line, tab-separated rows; latin-1 (EC-Lab's µ)."""
    settings = ["", "Galvanostatic Cycling with Potential Limitation", "", "Run on channel : 1 (SN 0001)",
                "Electrode material : NVP", "Mass of active material : 5.000 mg", f"Acquisition started on : {start}",
                "Capacitance charge/µF", ""]
    nhead = 2 + len(settings) + 1
    def fmt(v: float) -> str:
        text = f"{v:.6E}"
        return text.replace(".", ",") if decimal_comma else text
    lines = ["EC-Lab ASCII FILE", f"Nb header lines : {nhead}", *settings, "\t".join(header) + "\t"]
    lines += ["\t".join(fmt(v) for v in row) + "\t" for row in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    return path


GCPL = ["mode", "ox/red", "time/s", "control/V/mA", "Ewe/V", "<I>/mA", "(Q-Qo)/mA.h", "Q charge/discharge/mA.h",
        "cycle number"]


def _gcpl_rows(n: int = 30) -> list[list[float]]:
    rows = []
    for k in range(n):
        t = 60.0 * k
        i = 0.5 if k < 20 else -0.5
        q = 0.5 * min(t, 1140.0) / 3600 - 0.5 * max(t - 1140.0, 0.0) / 3600
        rows.append([1, 1 if i > 0 else 0, t, i, 3.3 + 0.001 * k, i, q, abs(q), 0])
    return rows


@pytest.mark.parametrize("decimal_comma", [False, True])
def test_mpt_documented_layout(tmp_path, decimal_comma):
    rows = _gcpl_rows()
    path = write_mpt(tmp_path / "gcpl.mpt", GCPL, rows, decimal_comma=decimal_comma)
    table = read_cycler(path)
    assert table.format == "mpt"
    assert table.start == dt.datetime(2026, 3, 12, 7, 0, 0)
    cols = table.columns
    np.testing.assert_allclose(cols["time"], [r[2] for r in rows], rtol=1e-6)
    np.testing.assert_allclose(cols["voltage"], [r[4] for r in rows], rtol=1e-6)
    np.testing.assert_allclose(cols["capacity"], [r[6] for r in rows], rtol=1e-6, atol=1e-9)
    assert table.origin["voltage"] == "Ewe/V" and table.origin["capacity"] == "(Q-Qo)/mA.h"
    assert "cycle_number" in cols and "q_charge_discharge" in cols  # nothing dropped silently
    assert table.lines[0] == 13  # data rows keep their file line numbers for errors


def test_mpt_bad_header_count(tmp_path):
    path = tmp_path / "bad.mpt"
    path.write_text("EC-Lab ASCII FILE\nNb header lines : 99\ntime/s\tEwe/V\n0\t3\n")
    with pytest.raises(InputError, match="99 header lines"):
        read_cycler(path)


@pytest.mark.parametrize(("header", "factor"), [
    ("Ewe/V", 1.0), ("voltage_V", 1.0), ("Voltage(V)", 1.0), ("Voltage [V]", 1.0), ("Voltage", 1.0),
    ("Ecell/V", 1.0), ("Voltage(mV)", 1e-3), ("E (mV)", 1e-3),
])
def test_voltage_names_with_and_without_units(tmp_path, header, factor):
    path = tmp_path / "t.csv"
    path.write_text(f"time/s,{header}\n0,3000\n10,3100\n")
    np.testing.assert_allclose(read_cycler(path).columns["voltage"], np.array([3000.0, 3100.0]) * factor)


@pytest.mark.parametrize(("header", "quantity", "factor"), [
    ("Test_Time(s)", "time", 1.0), ("time_min", "time", 60.0), ("Time (h)", "time", 3600.0),
    ("Current(A)", "current", 1e3), ("I/mA", "current", 1.0), ("current_uA", "current", 1e-3),
    ("Capacity/mA.h", "capacity", 1.0), ("capacity_mAh", "capacity", 1.0), ("Q (Ah)", "capacity", 1e3),
])
def test_units_converted(tmp_path, header, quantity, factor):
    path = tmp_path / "t.csv"
    other = "Voltage(V)" if quantity != "voltage" else "x"
    path.write_text(f"{other},{header}\n3.0,1\n3.1,2\n")
    np.testing.assert_allclose(read_cycler(path).columns[quantity], np.array([1.0, 2.0]) * factor)


def test_split_unit():
    assert split_unit("(Q-Qo)/mA.h") == ("q_qo", "mA.h")
    assert split_unit("<I>/mA") == ("i_mean", "mA")
    assert split_unit("Charge_Capacity(Ah)") == ("charge_capacity", "Ah")
    assert split_unit("dV/dt(V/s)") == ("dv_dt", "V/s")
    assert split_unit("cycle number") == ("cycle_number", None)


def test_arbin_csv_net_capacity_from_charge_and_discharge(tmp_path):
    """Arbin export: Date_Time text, current in A, capacities in Ah restarting per step; net charge in mAh."""
    lines = ["Data_Point,Test_Time(s),Date_Time,Step_Index,Current(A),Voltage(V),Charge_Capacity(Ah),"
             "Discharge_Capacity(Ah)"]
    net = []
    qc = qd = total = 0.0
    for k in range(12):
        t = 100.0 * k
        step = 1 if k < 6 else 2
        i = 1e-3 if step == 1 else -1e-3
        if k == 6:
            qc = 0.0
        if k > 0:
            if step == 1:
                qc += 1e-3 * 100 / 3600
                total += 1e-3 * 100 / 3600
            else:
                qd += 1e-3 * 100 / 3600
                total -= 1e-3 * 100 / 3600
        net.append(total * 1e3)
        stamp = (dt.datetime(2026, 3, 12, 7, 0, 0) + dt.timedelta(seconds=t)).strftime("%m/%d/%Y %H:%M:%S")
        lines.append(f"{k + 1},{t},{stamp},{step},{i},{3.2 + 0.01 * k},{qc},{qd}")
    path = tmp_path / "arbin.csv"
    path.write_text("\n".join(lines) + "\n")
    table = read_cycler(path)
    np.testing.assert_allclose(table.columns["current"], [1.0] * 6 + [-1.0] * 6)
    np.testing.assert_allclose(table.columns["capacity"], net, atol=1e-9)
    assert table.start == dt.datetime(2026, 3, 12, 7, 0, 0)
    assert any("Charge_Capacity(Ah)" in n for n in table.notes)
    # The parts are kept in the results' unit too (they were left in Ah beside capacity in mAh).
    parts = np.array([line.split(",")[6:8] for line in lines[1:]], dtype=float)
    np.testing.assert_allclose(table.columns["charge_capacity"], 1e3 * parts[:, 0], rtol=1e-12)
    np.testing.assert_allclose(table.columns["discharge_capacity"], 1e3 * parts[:, 1], rtol=1e-12)


def test_missing_column_names_the_columns_found(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Step,Ewe/V\n1,3.0\n2,3.1\n")
    table = read_cycler(path)
    with pytest.raises(InputError, match=r"no time column .*columns found: Step, Ewe/V") as info:
        table.require("time", "matching scans by time")
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_unknown_unit_is_an_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("time (days),voltage\n0,3\n1,3.1\n")
    with pytest.raises(InputError, match=r"unit 'days' is not a unit of time"):
        read_cycler(path)


def test_real_neware_nda():
    """NewareNDA's own test file (charge and discharge steps): the net charge agrees with the current integrated
    over each step's time within 2 % of its range and follows the current's sign."""
    pytest.importorskip("NewareNDA")
    table = read_cycler(data_file("echem/new_nda_file.nda"))
    c = table.columns
    assert table.format == "neware" and len(table) == 439
    assert table.start == dt.datetime(2020, 3, 25, 11, 16, 50)
    same = np.diff(c["step_index"]) == 0
    steps = np.where(same, np.diff(c["step_time"]) * 0.5 * (c["current"][1:] + c["current"][:-1]) / 3600, 0.0)
    integral = np.concatenate([[0.0], np.cumsum(steps)])
    span = np.ptp(c["capacity"])
    assert span > 5e-3  # mAh: a real charge and discharge
    assert np.max(np.abs(c["capacity"] - integral)) < 0.02 * span
    dq = np.diff(c["capacity"])
    assert np.all(dq[c["current"][1:] > 0] >= -1e-12) and np.all(dq[c["current"][1:] < 0] <= 1e-12)
    assert np.all(np.diff(c["time"]) >= 0) and {"voltage", "charge_capacity", "discharge_capacity"} <= set(c)


def test_real_neware_ndax():
    pytest.importorskip("NewareNDA")
    table = read_cycler(data_file("echem/unit27.ndax"))
    assert len(table) == 301
    np.testing.assert_allclose(table.columns["time"], np.arange(301.0), atol=1e-3)
    assert 2.9 < table.columns["voltage"].min() <= table.columns["voltage"].max() < 3.1


def test_mpr_through_galvani_record_array(tmp_path, monkeypatch):
    """galvani's MPRfile gives a record array with EC-Lab's column names and the acquisition time stamp; its names
    map like the .mpt ones. (No real .mpr is tested: galvani's test files are Git LFS objects that its public
    snapshot does not hold, and EC-Lab exports of our own cannot be made here.)"""
    galvani = pytest.importorskip("galvani")
    names = ["flags", "time/s", "Ewe/V", "I/mA", "(Q-Qo)/mA.h", "cycle number"]
    data = np.zeros(5, dtype=[(n, "f8") for n in names])
    data["time/s"] = np.arange(5) * 30.0
    data["Ewe/V"] = 3.3 + 0.01 * np.arange(5)
    data["I/mA"] = 0.2
    data["(Q-Qo)/mA.h"] = 0.2 * data["time/s"] / 3600

    class FakeMPR:
        def __init__(self, path):
            self.data = data
            self.timestamp = dt.datetime(2026, 3, 12, 7, 0, 0)

    monkeypatch.setattr(galvani.BioLogic, "MPRfile", FakeMPR)
    path = tmp_path / "run.mpr"
    path.write_bytes(b"BIO-LOGIC MODULAR FILE")
    table = read_cycler(path)
    assert table.format == "mpr" and table.start == dt.datetime(2026, 3, 12, 7, 0, 0)
    np.testing.assert_allclose(table.columns["capacity"], data["(Q-Qo)/mA.h"])
    np.testing.assert_allclose(table.columns["voltage"], data["Ewe/V"])


def test_corrupt_mpr_is_an_input_error(tmp_path):
    pytest.importorskip("galvani")
    path = tmp_path / "bad.mpr"
    path.write_bytes(b"not an mpr file at all")
    with pytest.raises(InputError, match="not a readable EC-Lab .mpr file"):
        read_cycler(path)
