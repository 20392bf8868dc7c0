"""A small simulated NASICON stack (benchmarks/operando_stack.py, 4 frames of a Pilatus 100k, bitshuffle/LZ4):
``refine operando`` equals ``refine integrate`` + ``refine sequential``; the HDF5 series file is read by
``refine sequential`` like a folder of patterns; the operando figure."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest

from benchmarks import operando_stack as gen
from refine.cli.main import main
from refine.operando.series import Series

NFRAMES = 4
FIT = ["--range", "5:15"]
INTEGRATE = ["--polarization", str(gen.POLARIZATION), "--npt", "1000"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return gen.write_stack(tmp_path_factory.mktemp("stack"), NFRAMES, detector="Pilatus100k", seed=7)


def _table(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def runs(stack, tmp_path_factory):
    """Exit codes and tables of: two steps via .xye, two steps via the series file, one command."""
    root = tmp_path_factory.mktemp("runs")
    common = ["--poni", str(stack.poni), *INTEGRATE]
    phase = ["--phase", str(stack.cif), *FIT]
    codes = {}
    codes["int_xye"] = main(["integrate", str(stack.master), *common, "-o", str(root / "xye" / "patterns")])
    xye = sorted(str(p) for p in (root / "xye" / "patterns").glob("*.xye"))
    codes["seq_xye"] = main(["sequential", *xye, *phase, "-o", str(root / "xye")])
    codes["int_h5"] = main(["integrate", str(stack.master), *common, "--series-file", "s.h5", "-o",
                            str(root / "h5" / "patterns")])
    codes["seq_h5"] = main(["sequential", str(root / "h5" / "patterns" / "s.h5"), *phase, "-o", str(root / "h5")])
    codes["operando"] = main(["operando", str(stack.master), *common, *phase, "--plot", str(root / "op" / "f.svg"),
                              "--window", "7:9", "-o", str(root / "op")])
    return root, codes


def _volumes(rows):
    return np.array([float(r["na3v2po43_nasicon_volume"]) for r in rows])


def test_one_command_equals_the_two_steps(runs, stack):
    root, codes = runs
    assert codes["int_xye"] == codes["int_h5"] == 0 and codes["seq_xye"] in (0, 3)
    assert codes["operando"] == codes["seq_xye"]
    two, one = _table(root / "xye" / "sequential.csv"), _table(root / "op" / "sequential.csv")
    assert len(one) == len(two) == NFRAMES
    assert [r["file"].replace(str(root / "op"), "") for r in one] == [r["file"].replace(str(root / "xye"), "")
                                                                      for r in two]
    for key in ("Rwp", "na3v2po43_nasicon_a", "na3v2po43_nasicon_c", "na3v2po43_nasicon_volume_esd"):
        np.testing.assert_allclose([float(r[key]) for r in one], [float(r[key]) for r in two], rtol=1e-12)
    assert (root / "op" / "f.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    truth = np.array([np.sqrt(3) / 2 * a * a * c for a, c in stack.cells])
    assert np.max(np.abs(_volumes(one) / truth - 1)) < 1e-3  # the fits follow the simulated 1 % drift


def test_series_file_is_read_like_a_folder_of_patterns(runs):
    root, codes = runs
    assert codes["seq_h5"] == codes["seq_xye"]
    from_h5, from_xye = _table(root / "h5" / "sequential.csv"), _table(root / "xye" / "sequential.csv")
    assert [r["file"] for r in from_h5] == [f"{root / 'h5' / 'patterns' / 's.h5'}::{i}" for i in range(NFRAMES)]
    # The .xye files hold 10 significant digits, the series file float64: fits agree to far below their esds.
    np.testing.assert_allclose(_volumes(from_h5), _volumes(from_xye), rtol=1e-7)
    assert [float(r["time"]) for r in from_h5] == pytest.approx([gen.FRAME_TIME_S * i for i in range(NFRAMES)])
    series = Series.from_paths([root / "h5" / "patterns" / "s.h5"])
    assert [s.stem for s in series] == [f"s_{i:05d}" for i in range(NFRAMES)]
    assert sorted(p.name for p in (root / "h5" / "scans").glob("*.json")) == [f"{i:04d}_s_{i:05d}.json"
                                                                              for i in range(NFRAMES)]


def test_rerun_of_the_sequential_on_a_series_file_resumes(runs, stack):
    root, codes = runs
    assert main(["sequential", str(root / "h5" / "patterns" / "s.h5"), "--phase", str(stack.cif), *FIT, "-o",
                 str(root / "h5")]) == codes["seq_h5"]
    import json

    doc = json.loads((root / "h5" / "sequential.json").read_text())
    assert doc["provenance"]["skipped"] == NFRAMES and doc["provenance"]["fitted"] == 0


def test_operando_figure_panels(runs):
    import matplotlib

    from refine.operando.series_result import SeriesResult
    from refine.plot.operando import plot_operando

    root, _ = runs
    import json

    backend = matplotlib.get_backend()
    result = SeriesResult.from_dict(json.loads((root / "h5" / "sequential.json").read_text()))
    fig = result.plot(windows=[(7, 9), (10, 12)])
    assert type(fig).__name__ == "Figure"
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert labels[0].startswith("2θ") and labels[1].startswith("2θ")
    assert any("a (Å)" in s for s in labels) and any("c (Å)" in s for s in labels)
    assert any("ΔV/V$_0$ (%)" in s for s in labels) and labels[-1] == "Rwp (%)"
    assert fig.axes[0].get_ylabel() == "time (s)" and len(fig.axes[0].collections) == 1  # the heat map
    records = [dict(r, voltage=3.3 + 0.1 * r["index"]) for r in result.records]
    from refine.plot.operando import operando_figure

    with_v = operando_figure(records, unit="q_A^-1")
    assert len(with_v.axes) == len(result.plot().axes) + 1 and "voltage (V)" in [a.get_xlabel() for a in with_v.axes]
    assert with_v.axes[0].get_xlabel().startswith("Q")
    for suffix in ("png", "pdf", "svg"):
        assert plot_operando(records, root / f"fig.{suffix}").stat().st_size > 1000
    assert matplotlib.get_backend() == backend
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_missing_pattern_files_leave_out_the_heat_map_only():
    from refine.plot.operando import operando_figure

    records = [{"index": i, "file": f"/nonexistent/s_{i}.xye", "converged": True, "statistics": {"Rwp": 0.1},
                "phases": [{"prefix": "p", "name": "p", "a": 5.0 + 0.01 * i, "volume": 125.0 + i,
                            "esd": {"a": 0.001, "volume": 0.1}}]} for i in range(3)]
    fig = operando_figure(records)
    assert [ax.get_xlabel() for ax in fig.axes] == ["p\na (Å)", "p\nΔV/V$_0$ (%)", "Rwp (%)"]
    assert fig.axes[0].get_ylabel() == "scan"



def test_the_voltage_panel_draws_the_cycler_curve_over_the_scans_time_span():
    """Scans every 600 s from 0 to 1800 s on a log every 60 s from -600 to 3000 s: the panel draws the log's rows
    within half a scan interval of the scans (-300 to 2100 s: 41 rows) and the scans' own values as dots."""
    from refine.plot.operando import operando_figure

    records = [{"index": i, "file": f"/nonexistent/s_{i}.xye", "converged": True, "statistics": {"Rwp": 0.1},
                "time": 600.0 * i, "scan_time": 600.0 * i, "voltage": 3.0 + 0.1 * i,
                "phases": [{"prefix": "p", "name": "p", "a": 5.0, "volume": 125.0, "esd": {"a": 0.001}}]}
               for i in range(4)]
    t = np.arange(-600.0, 3001.0, 60.0)
    fig = operando_figure(records, cycler=(t, 3.0 + t / 6000.0))
    panel = next(ax for ax in fig.axes if ax.get_xlabel() == "voltage (V)")
    curve, dots = panel.lines
    np.testing.assert_allclose(curve.get_ydata(), t[(t >= -300) & (t <= 2100)])
    np.testing.assert_allclose(curve.get_xdata(), 3.0 + curve.get_ydata() / 6000.0)
    np.testing.assert_allclose(dots.get_xdata(), [3.0, 3.1, 3.2, 3.3])
    scans_only = next(ax for ax in operando_figure(records).axes if ax.get_xlabel() == "voltage (V)")
    assert len(scans_only.lines) == 1 and len(scans_only.lines[0].get_xdata()) == 4  # without the log


def test_figure_options_are_checked():
    """Windows as the command line writes them ("8:12") or as pairs; an empty window, an unknown unit (d_A was
    drawn as if the 2θ values were Q) and an unknown option are refused by name."""
    from refine.errors import InputError
    from refine.operando.series_result import SeriesResult
    from refine.plot.operando import _window, operando_figure

    assert _window("8:12") == _window((8, 12)) == (8.0, 12.0)
    records = [{"index": 0, "file": "/nonexistent/s_0.xye", "converged": True, "statistics": {"Rwp": 0.1},
                "phases": []}]
    for options, field in (({"windows": [(12, 8)]}, "windows"), ({"windows": "8"}, "windows"),
                           ({"unit": "d_A"}, "unit")):
        with pytest.raises(InputError, match=field):
            operando_figure(records, **options)
    with pytest.raises(TypeError, match="foo"):
        SeriesResult(scans=()).plot(foo=1)

def test_facade_resumes_the_one_command_and_refuses_bad_input(runs, stack):
    import refine
    from refine.errors import InputError

    root, _ = runs
    result = refine.operando(str(stack.master), [str(stack.cif)], poni=str(stack.poni), output=root / "op",
                             range="5:15", polarization=gen.POLARIZATION, npt=1000)
    assert len(result.frames) == NFRAMES and all(f.skipped for f in result.frames)
    assert result.skipped == NFRAMES and result.fitted == 0
    np.testing.assert_allclose(result.table()["na3v2po43_nasicon_volume"].to_numpy(),
                               _volumes(_table(root / "op" / "sequential.csv")), rtol=1e-12)
    with pytest.raises(InputError, match="no image file matches"):
        refine.operando(str(root / "nothing_*.h5"), [str(stack.cif)], poni=str(stack.poni), output=root / "x")
    with pytest.raises(InputError, match="unknown option of refine.operando"):
        refine.operando(str(stack.master), [str(stack.cif)], poni=str(stack.poni), output=root / "x", bogus=1)
    with pytest.raises(InputError, match="kind"):
        refine.operando(str(stack.master), [str(stack.cif)], poni=str(stack.poni), output=root / "x", kind="pdf")


def test_with_workers_the_fits_run_on_workers_forked_before_the_integration(runs, stack, tmp_path):
    """``refine.operando(workers=2)`` in a fresh interpreter (one thread, as the command starts): its fit workers
    are forked, with the libraries frozen, not started from Dask's fork server (whose workers grew per scan), and
    the volumes equal the one-process command's."""
    import json
    import subprocess

    root, _ = runs
    code = f"""
import json, sys
import refine, refine.executor as ex
def no_fork_server():
    raise SystemExit("the fork server was started: the workers were not forked")
ex.start_forkserver = no_fork_server
r = refine.operando({str(stack.master)!r}, [{str(stack.cif)!r}], poni={str(stack.poni)!r},
                    output={str(tmp_path / "op2")!r}, range="5:15", polarization={gen.POLARIZATION!r}, npt=1000,
                    workers=2, no_progress=True)
print(json.dumps({{"notes": list(r.notes), "volumes": r.table()["na3v2po43_nasicon_volume"].tolist()}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert any("local Dask cluster: 2 worker" in n for n in out["notes"]), out["notes"]
    np.testing.assert_allclose(out["volumes"], _volumes(_table(root / "op" / "sequential.csv")), rtol=1e-6)



@pytest.mark.parametrize("table", ["scan", "plain"])
def test_a_failed_frame_leaves_the_later_scans_on_their_own_rows(stack, tmp_path, capsys, table):
    """Frame 2 of 4 TIFFs is cut short: frame 3 still gets row 3 of a per-frame table (with a scan column, or one
    row per frame), not frame 2's; the failed frame is among the summary's warnings (it was said on stderr only,
    and frame 3 took row 2 silently, or a plain table was refused after integrating)."""
    import json

    import h5py
    from fabio.tifimage import TifImage

    with h5py.File(stack.master, "r") as fh:
        frames = np.concatenate([fh["entry/data"][k][()] for k in sorted(fh["entry/data"])])
    paths = []
    for i, frame in enumerate(frames):
        path = tmp_path / f"f_{i}.tif"
        TifImage(data=frame).write(str(path))
        paths.append(path)
    paths[2].write_bytes(paths[2].read_bytes()[:3000])
    per_frame = tmp_path / "cell.csv"
    rows = [f"{i},{3.0 + 0.1 * i}" for i in range(NFRAMES)]
    per_frame.write_text(("scan,voltage_V\n" if table == "scan" else "voltage_V\n")
                         + "\n".join(r if table == "scan" else r.split(",")[1] for r in rows) + "\n")
    out = tmp_path / "op"
    times = ["--scan-times", "0:30"] if table == "plain" else []  # recorded in the summary
    code = main(["operando", *map(str, paths), "--poni", str(stack.poni), *INTEGRATE, "--phase", str(stack.cif),
                 *FIT, "--echem", str(per_frame), "-o", str(out), *times])
    assert code == 3
    got = {r["file"].rsplit("/", 1)[1]: float(r["voltage"]) for r in _table(out / "sequential.csv")}
    assert got == pytest.approx({"f_0.xye": 3.0, "f_1.xye": 3.1, "f_3.xye": 3.3}, abs=1e-12)
    # each scan's frame number beside its index (the index column alone hid the gap)
    assert [(int(r["index"]), int(r["frame"])) for r in _table(out / "sequential.csv")] == [(0, 0), (1, 1), (2, 3)]
    doc = json.loads((out / "sequential.json").read_text())
    assert [s["frame"] for s in doc["scans"]] == [0, 1, 3]
    assert any(w.startswith(f"frame {paths[2]} could not be integrated") for w in doc["warnings"])
    recorded = doc["provenance"]["settings"]  # the command that ran, not the sequential step inside it
    assert (recorded["command"], recorded["poni"]) == ("operando", str(stack.poni))
    assert recorded["scan_times"] == ([0.0, 30.0] if times else None)
    assert f"refine sequential: warning: frame {paths[2]} could not be integrated" in capsys.readouterr().err
