"""The ion content x from the charge passed and the scan-to-cycler-row alignment (refine.operando.echem): x by
the brief's formula with M from periodictable, its sign from the current; each scan gets the row nearest in time
on a log whose clock is offset from the scans'."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from refine.api.options import SequentialOptions
from refine.api.series import attach_echem, echem_warnings
from refine.errors import InputError
from refine.operando.echem import FARADAY, IonContent, molar_mass
from refine.operando.series import Series, nearest_rows
from tests.io.test_echem import write_mpt

NVP_M = 3 * 22.98976928 + 2 * 50.9415 + 3 * (30.973761998 + 4 * 15.999)  # g/mol, IUPAC atomic masses


def test_molar_mass_from_formula():
    assert abs(molar_mass("Na3V2(PO4)3") - NVP_M) < 0.01
    with pytest.raises(InputError, match="formula"):
        molar_mass("Xx2O")


def test_one_sodium_per_formula_unit():
    """Q = F·m·1e-3/(3.6·M) mAh extracts one Na per formula unit: x falls by exactly 1 on charge (Q > 0) and rises
    back on discharge."""
    content = IonContent(x0=3.0, active_mass=5.0, formula="Na3V2(PO4)3")
    q_one = FARADAY * 5.0e-3 / (3.6 * molar_mass("Na3V2(PO4)3"))
    np.testing.assert_allclose(content.x(np.array([0.0, q_one, 2 * q_one, q_one])), [3.0, 2.0, 1.0, 2.0],
                               rtol=1e-12)
    with pytest.raises(InputError, match="active_mass"):
        IonContent(x0=3.0, active_mass=0.0, formula="Na3V2(PO4)3")


def test_nearest_rows_known_offset():
    """Cycler logs every 10 s from 0 to 3600 s; scans start 137 s after it and come every 300 s: scan i gets row
    round((137 + 300 i)/10) (ties at .5 go to the earlier row)."""
    log = np.arange(0.0, 3601.0, 10.0)
    times = 137.0 + 300.0 * np.arange(11)
    assert nearest_rows(log, times) == [int(np.floor((t + 5.0 - 1e-9) / 10.0)) for t in times]
    # beyond the log by more than its step (10 s): no row; within one step of its end: the end row
    assert nearest_rows(log, [-10.0, -10.5, 100.0, 3609.0, 3611.0, 4000.0]) == [0, None, 10, 360, None, None]
    with pytest.raises(InputError, match=r"no scan lies within the cycler log \(0 to 3600 s; scan times 4000 to 5000"):
        nearest_rows(log, [4000.0, 5000.0])  # every scan outside: a clock offset, not a run that went on


def test_scans_after_the_cycler_stopped_get_no_row_and_a_warning(tmp_path):
    """The cycler logs 0-3600 s; scans every 900 s from 0 s: scans 5 and 6 (4500, 5400 s) came after it stopped.
    They keep their time (``scan_time``) and get no cycler values; the run says which scans and when."""
    rows = [[10.0 * k, 3.3 + 1e-4 * k, 0.5, 0.5 * 10 * k / 3600] for k in range(361)]
    mpt = write_mpt(tmp_path / "c.mpt", ["time/s", "Ewe/V", "I/mA", "(Q-Qo)/mA.h"], rows)
    files = []
    for i in range(7):
        files.append(tmp_path / f"scan_{i}.xye")
        files[-1].write_text("1 1 1\n")
    series = attach_echem(Series.from_paths(files), SequentialOptions(echem=str(mpt), echem_match="time",
                                                                      scan_times=(0.0, 900.0)))
    for scan in series.scans[:5]:
        assert scan.echem["voltage"] == pytest.approx(3.3 + 1e-4 * 90 * scan.index, abs=1e-9)
    assert [s.echem for s in series.scans[5:]] == [{"scan_time": 4500.0}, {"scan_time": 5400.0}]
    (warning,) = echem_warnings(series)
    assert warning.startswith("warning: scan(s) 5, 6 at 4500 to 5400 s lie outside the cycler log")


def test_attach_mpt_with_offset_and_x(tmp_path):
    """A GCPL .mpt (charge at +0.5 mA, 5 mg of Na3V2(PO4)3 from x0 = 3): every scan gets voltage, current, capacity
    and x of the row nearest in time, the scans starting 95 s after the cycler."""
    header = ["time/s", "Ewe/V", "<I>/mA", "(Q-Qo)/mA.h"]
    t = np.arange(0.0, 7200.0, 20.0)
    current = np.where(t < 3600, 0.5, -0.5)
    q = np.concatenate([[0.0], np.cumsum(np.diff(t) * current[1:] / 3600)])
    volts = 3.3 + 0.2 * q
    mpt = write_mpt(tmp_path / "cell.mpt", header, [list(r) for r in zip(t, volts, current, q, strict=True)])
    files = []
    for i in range(6):
        files.append(tmp_path / f"scan_{i}.xye")
        files[-1].write_text("1 1 1\n")
    opts = SequentialOptions(echem=str(mpt), echem_match="time", scan_times=(95.0, 1200.0), active_mass=5.0,
                             formula="Na3V2(PO4)3", x0=3.0)
    series = attach_echem(Series.from_paths(files), opts)
    per_mah = 3.6 * molar_mass("Na3V2(PO4)3") / (FARADAY * 5e-3)
    for scan in series:
        ts = 95.0 + 1200.0 * scan.index
        row = int(np.argmin(np.abs(t - ts)))
        assert scan.echem["time"] == pytest.approx(t[row], abs=1e-6)
        assert scan.echem["voltage"] == pytest.approx(volts[row], rel=1e-6)
        assert scan.echem["current"] == pytest.approx(current[row], rel=1e-6)
        assert scan.echem["capacity"] == pytest.approx(q[row], rel=1e-6, abs=1e-9)
        assert scan.echem["x"] == pytest.approx(3.0 - per_mah * q[row], rel=1e-6)
    xs = [s.echem["x"] for s in series]
    assert xs[0] > xs[1] > xs[2] and xs[3] < xs[4] < xs[5]  # Na leaves on charge, returns on discharge
    assert echem_warnings(series) == []
    tiny = attach_echem(Series.from_paths(files), dataclasses.replace(opts, active_mass=0.2))  # 25x too little
    (warning,) = echem_warnings(tiny)
    assert warning.startswith("warning: the ion content x reaches -") and "at scan 3" in warning
    hours = attach_echem(Series.from_paths(files), dataclasses.replace(opts, scan_times=(95 / 3600, 1 / 3)))
    (warning,) = echem_warnings(hours)  # times given in hours: every scan on row 0
    assert warning.startswith("warning: every scan matched the cycler row at 0 s")
    with pytest.raises(InputError, match="x0 is missing"):
        attach_echem(Series.from_paths(files), SequentialOptions(echem=str(mpt), active_mass=5.0,
                                                                 formula="NaVPO4F"))


def test_time_matching_without_time_column_names_columns(tmp_path):
    table = tmp_path / "log.csv"
    table.write_text("Ewe/V,I/mA\n3.0,0.1\n3.1,0.1\n")
    scan = tmp_path / "a.xye"
    scan.write_text("1 1 1\n")
    opts = SequentialOptions(echem=str(table), echem_match="time", scan_times=(0.0, 1.0))
    with pytest.raises(InputError, match=r"no time column .*columns found: Ewe/V, I/mA"):
        attach_echem(Series.from_paths([scan]), opts)
    opts = SequentialOptions(echem=str(table), active_mass=5.0, formula="NaVPO4F", x0=1.0)
    with pytest.raises(InputError, match=r"no capacity column .*columns found: Ewe/V, I/mA"):
        attach_echem(Series.from_paths([scan]), opts)


def test_absolute_frame_times_on_the_cycler_clock(tmp_path):
    """Frames stamped with wall-clock times are aligned through the file's acquisition start."""
    import datetime as dt

    from refine.io.echem import read_cycler
    from refine.operando.echem import cycler_clock

    rows = [[60.0 * k, 3.3 + 0.01 * k, 0.5, 0.5 * 60 * k / 3600] for k in range(40)]
    mpt = write_mpt(tmp_path / "c.mpt", ["time/s", "Ewe/V", "I/mA", "(Q-Qo)/mA.h"], rows,
                    start="03/12/2026 07:00:00")
    table = read_cycler(mpt)
    frames = [dt.datetime(2026, 3, 12, 7, 5, 10), dt.datetime(2026, 3, 12, 7, 20, 50)]
    times = cycler_clock(frames, table)
    assert times == [310.0, 1250.0]
    assert nearest_rows(table.columns["time"], times) == [5, 21]  # 310 s -> 300 s; 1250 s -> 1260 s
    posix = [f.timestamp() for f in frames]  # POSIX seconds read back in local time
    assert cycler_clock(posix, table) == pytest.approx([310.0, 1250.0], abs=1e-6)



def _stamped(folder, stamps):
    """Minimal .xye files whose headers carry refine integrate's time line."""
    paths = []
    for name, (value, source) in stamps.items():
        path = folder / f"{name}.xye"
        path.write_text(f"# refine pattern; unit: 2th_deg\n# time: {value!r} ({source})\n1 2 1\n2 3 1\n")
        paths.append(path)
    return paths


def test_scans_carry_their_header_times(tmp_path):
    """Frames integrated with --scan-times keep those times (cycler clock); header times become seconds from the
    first scan; a series where some file has none gets no times."""
    series = Series.from_paths(_stamped(tmp_path, {"f_0": (95.0, "scan_times"), "f_1": (695.0, "scan_times")}))
    assert [s.echem["time"] for s in series] == [95.0, 695.0] and series.own_times() == [95.0, 695.0]
    (tmp_path / "h").mkdir()
    series = Series.from_paths(_stamped(tmp_path / "h", {"h_0": (1.7e9, "header"), "h_1": (1.7e9 + 30, "header")}))
    assert [s.echem["time"] for s in series] == [0.0, 30.0] and series.own_times() is None
    (tmp_path / "h" / "h_2.xye").write_text("1 2 1\n2 3 1\n")
    assert all("time" not in s.echem for s in Series.from_paths(sorted((tmp_path / "h").glob("*.xye"))))


def test_a_failed_frame_does_not_shift_the_later_scans_rows(tmp_path):
    """Frame 2 failed: the scan of frame 3 is matched at 95 + 3·600 s (its own stamp), not at its position's time
    (95 + 2·600 s), which gave every later scan the previous frame's cycler row."""
    t = np.arange(0.0, 3000.0, 10.0)
    mpt = write_mpt(tmp_path / "c.mpt", ["time/s", "Ewe/V", "I/mA", "(Q-Qo)/mA.h"],
                    [[ti, 3.3 + 1e-4 * ti, 0.5, 0.5 * ti / 3600] for ti in t])
    paths = _stamped(tmp_path, {f"f_{i}": (95.0 + 600.0 * i, "scan_times") for i in (0, 1, 3)})
    series = attach_echem(Series.from_paths(paths), SequentialOptions(echem=str(mpt), echem_match="time"))
    assert [s.echem["scan_time"] for s in series] == [95.0, 695.0, 1895.0]
    assert [s.echem["time"] for s in series] == [90.0, 690.0, 1890.0]  # rows every 10 s: nearest, ties to earlier
    np.testing.assert_allclose([s.echem["capacity"] for s in series], 0.5 * np.array([90.0, 690.0, 1890.0]) / 3600)
    with pytest.raises(InputError, match="scan_times"):  # no stamps and no --scan-times: refused before any fit
        attach_echem(Series.from_paths([tmp_path / "f_0.xye"]).with_echem({"index": np.array([0.0])}),
                     SequentialOptions(echem=str(mpt), echem_match="time"))


@pytest.mark.parametrize("bad", ["Na3V2(PO4", "Xx3V2", ""])
def test_a_malformed_formula_names_the_field(bad):
    with pytest.raises(InputError) as info:
        molar_mass(bad)
    assert info.value.source == "formula"


def test_given_scan_times_that_contradict_the_patterns_own_are_refused(tmp_path):
    """Frames integrated with --scan-times 95:600, frame 2 failed: --scan-times again at the fits would put frame
    3 at 1295 s instead of its recorded 1895 s; refused, saying to leave it out."""
    t = np.arange(0.0, 3000.0, 10.0)
    mpt = write_mpt(tmp_path / "c.mpt", ["time/s", "Ewe/V", "I/mA", "(Q-Qo)/mA.h"],
                    [[ti, 3.3, 0.5, 0.5 * ti / 3600] for ti in t])
    paths = _stamped(tmp_path, {f"f_{i}": (95.0 + 600.0 * i, "scan_times") for i in (0, 1, 3)})
    opts = SequentialOptions(echem=str(mpt), echem_match="time", scan_times=(95.0, 600.0))
    with pytest.raises(InputError, match=r"scan 2: 1895 s, here 1295 s\): leave --scan-times out") as info:
        attach_echem(Series.from_paths(paths), opts)
    assert info.value.source == "scan_times"
    same = attach_echem(Series.from_paths(paths[:2]), opts)  # agreeing times are fine
    assert [s.echem["scan_time"] for s in same] == [95.0, 695.0]
