"""`refine lebail` / `refine pawley` command line: result file, figure, instrument file, exit codes."""

import csv
import json

import numpy as np
import pytest

from refine.cli.main import main
from refine.examples import EXAMPLE_DATA
from refine.io import write_pattern
from tests.powder.synthetic import drs_structure, pymatgen_peaks, simulate

PROFILE = {"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.0}


@pytest.fixture(scope="module")
def drs_file(tmp_path_factory):
    lam = 0.1173
    x = np.arange(1.0, 9.0, 0.002)
    pos, inten = pymatgen_peaks(drs_structure(), lam, (0.5, 9.5))
    pat = simulate(pos, inten, x, wavelength=lam, profile=PROFILE, counts=20000, background=300, seed=2)
    path = tmp_path_factory.mktemp("cli") / "drs.xye"
    write_pattern(pat, path)
    return path


@pytest.mark.parametrize("command", ["lebail", "pawley"])
def test_fit_writes_result_figure_and_instrument(drs_file, tmp_path, command, capsys):
    out, fig, inst, hkl = tmp_path / "r.json", tmp_path / "r.png", tmp_path / "r.instprm", tmp_path / "r.csv"
    code = main([command, str(drs_file), "--spacegroup", "Fm-3m", "--cell", "4.65 4.65 4.65 90 90 90",
                 "--name", "drs", "--wavelength", "0.1173", "--json", str(out), "--plot", str(fig),
                 "--write-instrument", str(inst), "--hkl", str(hkl), "--plot-hkl", "5"])
    assert code == 0, capsys.readouterr()
    doc = json.loads(out.read_text())
    assert doc["schema"] == "refine.result/1" and doc["kind"] == command and doc["converged"]
    phase = doc["phases"][0]
    assert phase["name"] == "drs" and phase["space_group"] == "Fm-3m"
    assert abs(phase["a"] - 4.642) < 3 * phase["esd"]["a"]
    assert phase["esd"]["volume"] > 0
    assert 0 < doc["statistics"]["Rwp"] < 0.1 and doc["statistics"]["npoints"] == 4000
    assert doc["provenance"]["inputs"][0]["sha256"]
    assert (tmp_path / doc["provenance"]["curves"][0]).is_file()
    assert fig.read_bytes()[:4] == b"\x89PNG"
    assert "Zero:" in inst.read_text()
    # --hkl: one row per line of the result's reflection list, header with units, the refined d and Kα1 2θ.
    with open(hkl, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = ["phase", "h", "k", "l", "mult", "d[A]", "2theta[deg]", "intensity[y*deg]"]
    assert list(rows[0]) == header + (["intensity_esd[y*deg]"] if command == "pawley" else [])
    assert len(rows) == len(phase["reflections"]) > 10 and {r["phase"] for r in rows} == {"drs"}
    for row, ref in zip(rows, phase["reflections"], strict=True):
        assert (int(row["h"]), int(row["k"]), int(row["l"])) == (ref["h"], ref["k"], ref["l"])
        assert float(row["d[A]"]) == pytest.approx(phase["a"] / np.sqrt(ref["h"] ** 2 + ref["k"] ** 2 + ref["l"] ** 2),
                                                   rel=1e-7)
        # GSAS-II's zero: the peak is seen at 2θ + zero.
        bragg = np.degrees(2 * np.arcsin(0.1173 / (2 * float(row["d[A]"]))))
        assert float(row["2theta[deg]"]) == pytest.approx(bragg + doc["parameters"]["zero"]["value"], abs=1e-6)
    assert sum(float(r["intensity[y*deg]"]) for r in rows) > 0 and not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize("args, message", [
    (["missing.xye", "--spacegroup", "Fm-3m", "--cell", "4 4 4 90 90 90", "--wavelength", "1"], "no such file"),
    (["{drs}", "--spacegroup", "Xx-9", "--cell", "4 4 4 90 90 90", "--wavelength", "1"], "space group"),
    (["{drs}", "--spacegroup", "Fm-3m", "--cell", "4 5 4 90 90 90", "--wavelength", "1"], "cubic"),
    (["{drs}", "--spacegroup", "Fm-3m", "--wavelength", "1"], "--cell"),
    (["{drs}", "--wavelength", "1"], "at least one"),
    (["{drs}", "--spacegroup", "Fm-3m", "--cell", "4.65 4.65 4.65 90 90 90", "--wavelength", "0.1173",
      "--refine", "cell,bogus"], "bogus"),
    (["{drs}", "--spacegroup", "Fm-3m", "--cell", "4.65 4.65 4.65 90 90 90", "--wavelength", "0.1173",
      "--range", "20:30"], "range"),
    (["{drs}", "--spacegroup", "Fm-3m", "--cell", "4.65 4.65 4.65 90 90 90", "--wavelength", "0.1173",
      "--plot-hkl", "3"], "--plot-hkl"),
])
def test_bad_input_exits_2_with_one_line(drs_file, args, message, capsys):
    args = [a.replace("{drs}", str(drs_file)) for a in args]
    assert main(["lebail", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.fixture(scope="module")
def example_pattern(tmp_path_factory):
    """The bundled DRS + Cu image integrated as the demo does (the demo's Le Bail pattern)."""
    example, out = EXAMPLE_DATA, tmp_path_factory.mktemp("example")
    assert main(["integrate", str(example / "drs_na3v2o5_cu.tif"), "--poni", str(example / "drs_na3v2o5_cu.poni"),
                 "--mask", str(example / "drs_na3v2o5_cu_mask.npy"), "--polarization", "0.99", "--npt", "3000",
                 "-o", str(out)]) == 0
    return next(out.glob("*.xye"))


def test_wrong_model_warns_poor_fit_and_strict_exits_3(example_pattern, tmp_path, capsys):
    """The Cu phase alone on the demo pattern (the DRS lines unexplained): converged, so exit 0, but the warnings
    say 'poor fit' on stderr, one 'warning:' line each and none on stdout; with --strict the exit is 3 and the
    result file is still written, carrying the same warnings."""
    args = ["lebail", str(example_pattern), "--spacegroup", "Fm-3m", "--cell", "3.62 3.62 3.62 90 90 90",
            "--name", "cu", "--range", "1:11.8", "--refine", "cell,zero,W"]
    capsys.readouterr()
    assert main(args) == 0
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("refine lebail: warning: ") for line in lines), lines
    assert any("poor fit: GOF" in line for line in lines)
    assert "warning" not in out
    result = tmp_path / "cu.json"
    assert main([*args, "--strict", "--json", str(result)]) == 3
    err = capsys.readouterr().err
    assert "under --strict" in err.strip().splitlines()[-1]
    doc = json.loads(result.read_text())
    assert doc["converged"] and any(w.startswith("poor fit") for w in doc["warnings"])
    assert doc["statistics"]["GOF"] > 5


def test_plot_hkl_needs_a_count(drs_file, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["pawley", str(drs_file), "--spacegroup", "Fm-3m", "--cell", "4.65 4.65 4.65 90 90 90",
              "--wavelength", "0.1173", "--plot", "x.png", "--plot-hkl", "-1"])
    assert exc.value.code == 2 and "--plot-hkl" in capsys.readouterr().err


def test_exclude_phase_removes_the_cu_lines(example_pattern, tmp_path):
    """The bundled DRS + Cu image, integrated, fitted with the DRS phase only: excluding the Cu lines computed from
    example_data/cu.cif (at the pattern's 0.1173 Å) brings a(DRS) to the simulated 4.642 Å within 2e-4 and lowers
    Rwp against the same fit with the Cu lines left in."""
    example, pattern = EXAMPLE_DATA, example_pattern
    base = ["lebail", str(pattern), "--spacegroup", "Fm-3m", "--cell", "4.65 4.65 4.65 90 90 90", "--name", "drs",
            "--range", "1:11.8", "--background", "chebyshev:8", "--refine", "cell,zero,W,Y"]
    assert main([*base, "--json", str(tmp_path / "with.json")]) == 0
    assert main([*base, "--exclude-phase", f"{example / 'cu.cif'}:0.06", "--json", str(tmp_path / "without.json")]) == 0
    kept, cleaned = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("with", "without"))
    assert cleaned["phases"][0]["a"] == pytest.approx(4.642, abs=2e-4)
    assert cleaned["statistics"]["Rwp"] < kept["statistics"]["Rwp"]


def test_a_wavelength_the_file_contradicts_is_a_warning_of_the_fit(drs_file, tmp_path, capsys):
    """In the result file's warnings and counted by --strict (exit 3), not a note on stdout only."""
    out = tmp_path / "r.json"
    code = main(["--strict", "lebail", str(drs_file), "--spacegroup", "Fm-3m", "--cell", "4.65 4.65 4.65 90 90 90",
                 "--wavelength", "0.1175", "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 3 and "refine lebail: warning: the given wavelength 0.1175 Å is used" in captured.err
    assert "warning: " not in captured.out
    assert any(w.startswith("the given wavelength 0.1175 Å") for w in json.loads(out.read_text())["warnings"])
