"""Series ordering and electrochemistry tables: natural sort, CSV/whitespace tables with unit headers, matching
rows to scans by index or nearest time, one-line errors for malformed tables."""

import numpy as np
import pytest

from refine.errors import InputError
from refine.operando.series import Series, natural_sort, read_echem


def _touch(folder, names):
    paths = []
    for n in names:
        (folder / n).write_text("1 1\n")
        paths.append(folder / n)
    return paths


def test_natural_order(tmp_path):
    paths = _touch(tmp_path, ["scan_10.xy", "scan_2.xy", "scan_1.xy", "Scan_3.xy"])
    assert [p.name for p in natural_sort(paths)] == ["scan_1.xy", "scan_2.xy", "Scan_3.xy", "scan_10.xy"]
    series = Series.from_paths(paths)
    assert [(s.index, s.stem) for s in series] == [(0, "scan_1"), (1, "scan_2"), (2, "Scan_3"), (3, "scan_10")]


def test_missing_or_duplicate_file(tmp_path):
    (path,) = _touch(tmp_path, ["a.xy"])
    with pytest.raises(InputError, match="nope.xy: no such file"):
        Series.from_paths([path, tmp_path / "nope.xy"])
    with pytest.raises(InputError, match="a.xy: is given twice$"):
        Series.from_paths([path, path])
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError, match=r"a.xy: is given twice \(also as .*a.xy\)"):
        Series.from_paths([path, tmp_path / "sub" / ".." / "a.xy"])
    with pytest.raises(InputError, match=r"is a folder; give its pattern files \(e.g. '.*\*.xye'\)"):
        Series.from_paths([tmp_path])


def test_csv_with_units_and_time_matching(tmp_path):
    table = tmp_path / "ec.csv"
    table.write_text("# cycler export\ntime/s,Ewe/V,<I>/mA,Capacity (mAh/g)\n0,2.5,0.1,0\n60,3.0,0.1,5\n"
                     "120,3.3,0.1,10\n180,3.4,0.1,15\n")
    data = read_echem(table)
    # mAh/g is a specific capacity; the net charge (mAh) is the current integrated over time
    assert sorted(data) == ["capacity", "current", "specific_capacity", "time", "voltage"]
    np.testing.assert_allclose(data["capacity"], [0.0, 0.1 / 60, 0.2 / 60, 0.3 / 60], rtol=1e-12)
    np.testing.assert_array_equal(data["voltage"], [2.5, 3.0, 3.3, 3.4])
    series = Series.from_paths(_touch(tmp_path, ["s1.xy", "s2.xy", "s3.xy"]))
    tagged = series.with_echem(data, match="time", times=[5.0, 95.0, 170.0])  # nearest rows 0, 2 (95 > 90), 3
    assert [s.echem["voltage"] for s in tagged] == [2.5, 3.3, 3.4]
    assert tagged.scans[1].echem["specific_capacity"] == 10.0


def test_whitespace_table_by_index(tmp_path):
    table = tmp_path / "ec.txt"
    table.write_text("scan  voltage  capacity\n2 3.1 20\n0 2.9 0\n1 3.0 10\n")
    series = Series.from_paths(_touch(tmp_path, ["a0.xy", "a1.xy", "a2.xy"]))
    tagged = series.with_echem(read_echem(table), match="index")
    assert [s.echem["voltage"] for s in tagged] == [2.9, 3.0, 3.1]
    assert "index" not in tagged.scans[0].echem
    # Without an index column, row i goes to scan i and there must be a row for every scan.
    short = tmp_path / "short.csv"
    short.write_text("voltage,capacity\n3.0,1\n3.1,2\n")
    with pytest.raises(InputError, match="2 rows for 3 scans"):
        series.with_echem(read_echem(short), source=str(short))
    # A cycler log with more rows than scans and no index column: its first rows are not the scans' rows.
    log = tmp_path / "log.csv"
    log.write_text("time,voltage\n" + "".join(f"{60 * i},{3.0 + 0.01 * i}\n" for i in range(20)))
    with pytest.raises(InputError, match="20 rows for 3 scans.*--echem-match time"):
        series.with_echem(read_echem(log), source=str(log))


@pytest.mark.parametrize(("text", "message"), [
    ("time,voltage\n0,3.0\n60,abc\n", "line 3: non-numeric"),
    ("time,voltage\n0,3.0\n60,3.1,7\n", "line 3: 3 values, header has 2"),
    ("0,3.0\n60,3.1\n", "no header line"),
    ("time,voltage\n", "at least one row"),
    ("time,voltage\n60,3.0\n0,3.1\n", "not increasing"),
    ("time,time\n0,1\n", "distinct"),
    ("time,voltage\n0,3.0\n60,inf\n", "line 3: non-finite value"),
    ("time,voltage\n0,3.0\n60,3.1\n30,3.2\n", "line 4: time column is not increasing"),
    ("index,voltage\n0,3.0\n1,3.1\n1,3.2\n", "line 4: scan index 1 repeats line 3"),
    ("index,voltage\n0,3.0\n1.5,3.1\n", "line 3: scan index 1.5 is not a whole number"),
    ("time,voltage\n0,3.015\n60,3.125\n120,3.2", "line 4: the last value is shorter .* cut mid-number"),
])
def test_malformed_tables(tmp_path, text, message):
    table = tmp_path / "bad.csv"
    table.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_echem(table)
    assert str(info.value).startswith(str(table)) and "\n" not in str(info.value)


def test_time_matching_needs_times_and_a_time_column(tmp_path):
    series = Series.from_paths(_touch(tmp_path, ["a.xy", "b.xy"]))
    with pytest.raises(InputError, match="2 scan time stamps"):
        series.with_echem({"time": np.array([0.0, 1.0])}, match="time", times=[0.0])
    with pytest.raises(InputError, match="time column"):
        series.with_echem({"voltage": np.array([3.0, 3.1])}, match="time", times=[0.0, 1.0])
