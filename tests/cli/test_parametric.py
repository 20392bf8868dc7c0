"""`refine parametric` and a `refine run` step of it: a drifting NASICON series whose cycler file (EC-Lab .mpt,
constant current, so x is linear in time) gives the trend variable x; the trend's slope da/dx recovers the truth
within 3 esd; bad trend/constant-volume text is a one-line exit-2 error."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from benchmarks import make_operando_series as mos
from refine.cli.main import main
from refine.io.atomic import sha256_of
from refine.operando.echem import FARADAY, molar_mass
from tests.io.test_echem import write_mpt

NSCANS = 3
STEP_S = 1800.0
GRID = mos.Grid(8.0, 14.0, 0.01)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parcli")
    paths, truth = mos.write_series(folder / "data", "drift", NSCANS, grid=GRID)
    (folder / "nvp.cif").write_bytes(mos.NASICON_CIF.read_bytes())  # phases are named after their file
    t = np.arange(0.0, STEP_S * NSCANS + 1, 60.0)
    q = 0.4 * t / 3600  # +0.4 mA: charge, Na leaves
    rows = [[ti, 3.3 + qi, 0.4, qi] for ti, qi in zip(t, q, strict=True)]
    mpt = write_mpt(folder / "cell.mpt", ["time/s", "Ewe/V", "I/mA", "(Q-Qo)/mA.h"], rows)
    return paths, truth, mpt


def _args(paths, *extra):
    cif = paths[0].parent.parent / "nvp.cif"
    return ["parametric", *map(str, paths), "--phase", str(cif), "--wavelength",
            str(mos.WAVELENGTH), "--background", "chebyshev:3", *extra]


def test_trend_in_x_from_the_cycler(files, tmp_path, capsys):
    paths, truth, mpt = files
    extra = ["--echem", str(mpt), "--echem-match", "time", "--scan-times", f"0:{STEP_S}", "--active-mass", "4.0",
             "--formula", "Na3V2(PO4)3", "--x0", "3", "--trend", "nvp:a:1:x", "--trend", "nvp:c:1:x",
             "--json", str(tmp_path / "p.json"), "--csv", str(tmp_path / "p.csv")]
    code = main(_args(paths, *extra))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "nvp_a_p1" in out
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["kind"] == "parametric" and doc["converged"]
    recorded = doc["provenance"]["settings"]
    assert recorded["echem_sha256"] == sha256_of(mpt) and recorded["scan_times"] == [0.0, STEP_S]
    per_mah = 3.6 * molar_mass("Na3V2(PO4)3") / (FARADAY * 4.0e-3)
    xs = [s["x"] for s in doc["scans"]]
    np.testing.assert_allclose(xs, [3.0 - per_mah * 0.4 * i * STEP_S / 3600 for i in range(NSCANS)], rtol=1e-9)
    a_true = [t[0]["cell"][0] for t in truth]
    slope_true = (a_true[-1] - a_true[0]) / (xs[-1] - xs[0])
    slope = doc["coefficients"]["nvp_a_p1"]
    assert abs(slope["value"] - slope_true) < 3 * slope["esd"], (slope, slope_true)
    with open(tmp_path / "p.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == NSCANS and {"x", "voltage", "nvp_volume", "nvp_volume_esd", "Rwp"} <= set(rows[0])


@pytest.mark.parametrize(("extra", "message"), [
    (["--trend", "nvp"], "--trend"),
    (["--constant-volume", "nvp:q:r"], "--constant-volume"),
    (["--kind", "rietveld", "--spacegroup", "R-3c", "--cell", "8.7 8.7 21.8 90 90 120"], "atoms"),
    (["--active-mass", "4", "--echem", "missing.mpt"], "missing.mpt"),
])
def test_bad_input_exit_2(files, capsys, extra, message):
    paths, _, _ = files
    args = _args(paths[:2], *extra)
    if "--spacegroup" in extra:
        i = args.index("--phase")
        del args[i:i + 2]
    try:
        code = main(args)
    except SystemExit as exc:  # usage errors leave through SystemExit(2)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_run_config_step(files, tmp_path):
    paths, _, _ = files
    for p in paths[:2]:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "nvp.cif").write_bytes(mos.NASICON_CIF.read_bytes())
    config = tmp_path / "pipeline.toml"
    config.write_text(f"""schema = "refine.config/1"
[[step]]
command = "parametric"
inputs = ["scan_*.xye"]
[step.options]
phase = ["nvp.cif"]
wavelength = {mos.WAVELENGTH}
background = "chebyshev:3"
kind = "pawley"
json = "par.json"
""")
    assert main(["run", str(config)]) == 0
    doc = json.loads((tmp_path / "par.json").read_text())
    assert doc["kind"] == "parametric" and len(doc["scans"]) == 2


def test_sequential_with_cycler_then_parametric_from_it(files, tmp_path, capsys):
    """`refine sequential --echem cell.mpt ... --x0` attaches x to every scan; `refine parametric --start` takes
    that summary as per-scan starting values (and refuses one of another length)."""
    paths, truth, mpt = files
    cif = paths[0].parent.parent / "nvp.cif"
    echem = ["--echem", str(mpt), "--echem-match", "time", "--scan-times", f"0:{STEP_S}", "--active-mass", "4.0",
             "--formula", "Na3V2(PO4)3", "--x0", "3"]
    seq = tmp_path / "seq"
    code = main(["sequential", *map(str, paths), "--phase", str(cif), "--wavelength", str(mos.WAVELENGTH),
                 "--background", "chebyshev:3", "-o", str(seq), *echem])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((seq / "sequential.json").read_text())
    per_mah = 3.6 * molar_mass("Na3V2(PO4)3") / (FARADAY * 4.0e-3)
    for s in summary["scans"]:
        q = 0.4 * s["index"] * STEP_S / 3600
        assert s["x"] == pytest.approx(3.0 - per_mah * q, rel=1e-9) and s["capacity"] == pytest.approx(q, rel=1e-9)
    with open(seq / "sequential.csv", newline="") as fh:
        assert "x" in next(csv.DictReader(fh))
    capsys.readouterr()
    assert main(_args(paths, "--start", str(seq / "sequential.json"), "--json", str(tmp_path / "p.json"))) == 0
    doc = json.loads((tmp_path / "p.json").read_text())
    for s, t in zip(doc["scans"], truth, strict=True):
        ph = s["phases"][0]
        assert abs(ph["volume"] / t[0]["volume"] - 1) < 1e-4
    code = main(_args(paths[:2], "--start", str(seq / "sequential.json")))
    assert code == 2 and "with 2 scans is needed as start, found 3" in capsys.readouterr().err


def test_outputs_are_checked_before_the_fit(files, tmp_path, capsys):
    """A --json that cannot be written is refused before fitting (it was a traceback after the fit)."""
    paths, _, _ = files
    (tmp_path / "folder.json").mkdir()
    assert main(_args(paths[:2], "--json", str(tmp_path / "folder.json"))) == 2
    assert "--json" in capsys.readouterr().err
