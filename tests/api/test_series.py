"""``refine.sequential`` from Python: a glob or a list, and nothing written without ``output``."""

import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import refine
from refine.crystal.lattice import Lattice
from refine.errors import InputError
from refine.examples import example_path

LAM = 0.1173


def test_a_series_without_output_writes_nothing(tmp_path):
    truth = refine.read_structure(example_path("drs_rocksalt.cif"))
    cells = [4.642, 4.646, 4.650]
    for i, a in enumerate(cells):
        structure = truth.replace(lattice=Lattice.from_sequence([a] * 3 + [90.0] * 3))
        refine.simulate(structure, wavelength=LAM, range="2:10", step=0.005, noise=5000, seed=i, background=100,
                        output=tmp_path / f"scan_{i}.xye")
    before = sorted(tmp_path.iterdir())
    result = refine.sequential(str(tmp_path / "scan_*.xye"), example_path("drs_rocksalt.cif"), wavelength=LAM)
    assert sorted(tmp_path.iterdir()) == before
    assert len(result.records) == 3 and all(r["converged"] for r in result.records)
    fitted = [next(p["a"] for p in r["phases"]) for r in result.records]
    assert np.allclose(fitted, cells, atol=5e-4)
    same = refine.sequential(sorted(str(p) for p in before), [example_path("drs_rocksalt.cif")], wavelength=LAM)
    assert [r["file"] for r in same.records] == [r["file"] for r in result.records]


def test_follow_fits_scans_as_they_land_and_stops_when_idle(tmp_path):
    """Live mode: two scans present at the start, three more written (atomically, by rename) while the run goes on;
    every one is fitted once, in arrival order, and the run stops after ``idle`` seconds without a new file."""

    pytest.importorskip("pymatgen.core")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from drift_series import make_drift_series

    made = make_drift_series(tmp_path / "made", 5, 0.005, seed=3, points=1000, tth=(6.0, 16.0))
    live = tmp_path / "live"
    live.mkdir()
    for path in made.paths[:2]:
        shutil.copy(path, live / path.name)

    def land() -> None:
        for path in made.paths[2:]:
            time.sleep(0.7)
            shutil.copy(path, live / (path.name + ".part"))
            (live / (path.name + ".part")).rename(live / path.name)

    writer = threading.Thread(target=land)
    writer.start()
    try:
        result = refine.sequential(str(live / "scan_*.xye"), [str(Path(__file__).resolve().parents[1] / "data" /
                                                                  "Na3V2PO43_NASICON.cif")],
                                   wavelength=0.72, background="chebyshev:4", follow=True, idle=3.0,
                                   output=tmp_path / "out")
    finally:
        writer.join()
    assert [Path(r["file"]).name for r in result.records] == [p.name for p in made.paths]
    assert result.converged and result.fitted == 5
    for rec, true in zip(result.records, made.volume, strict=True):
        assert rec["phases"][0]["volume"] == pytest.approx(true, rel=2e-4)
    assert len((tmp_path / "out" / "sequential.csv").read_text().splitlines()) == 1 + 5


def test_follow_with_nothing_arriving_is_bad_input(tmp_path):
    with pytest.raises(InputError, match="no file arrived within 0.3 s"):
        refine.sequential(str(tmp_path / "scan_*.xye"), ["x.cif"], wavelength=0.72, follow=True, idle=0.3)


@pytest.mark.parametrize("option", [{"active_mass": 5.2}, {"formula": "NaCl"}, {"x0": 3}, {"scan_times": "0:60"},
                                    {"echem_match": "time"}, {"echem_format": "mpt"}])
def test_cycler_options_without_a_cycler_file_are_refused(option):
    """They would be ignored: x, times and matching need a cycler file."""
    from refine.api.options import SequentialOptions
    from refine.api.series import check_echem_options

    with pytest.raises(InputError, match="applies to a cycler file, and none is given") as info:
        check_echem_options(SequentialOptions(**option))
    assert info.value.source == next(iter(option))
    if "scan_times" in option:
        check_echem_options(SequentialOptions(**option), keep=("scan_times",))  # operando's frame times


def test_cycler_curve_is_the_whole_log_when_scans_are_matched_by_time(tmp_path):
    """The operando figure's voltage panel gets the cycler log's time and voltage columns (s, V) when the scans are
    matched to it by time; by index (one row per scan) or without a log, none."""
    from refine.api.options import SequentialOptions
    from refine.api.series import cycler_curve
    from refine.example_data import make_example_series as gen

    log = gen.make(tmp_path)["echem"]
    t, v = cycler_curve(SequentialOptions(echem=str(log), echem_match="time", scan_times=(0.0, 600.0)))
    assert len(t) == len(v) == 121 and t[-1] == pytest.approx(7200.0)
    np.testing.assert_allclose(v, gen.voltage(t), atol=1e-4)  # the generator's voltage, as written (4 decimals)
    assert cycler_curve(SequentialOptions(echem=str(log))) is None
    assert cycler_curve(SequentialOptions()) is None
