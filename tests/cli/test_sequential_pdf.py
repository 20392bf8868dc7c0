"""`refine sequential --kind pdf`: a synthetic NaCl G(r) temperature series end to end (per-scan files, summary,
CSV with Rw, figure, resume), and bad input (exit 2, one line naming the option or file)."""

from __future__ import annotations

import csv
import json

import pytest

from refine.cli.main import main
from tests.operando import pdf_series_data as pd
from tests.operando import series_data as sd


@pytest.fixture(scope="module")
def gr_files(tmp_path_factory):
    return pd.write_series(tmp_path_factory.mktemp("seqpdfcli") / "data")


def _args(paths, out, *extra):
    return ["sequential", *map(str, reversed(paths)), "--kind", "pdf", "--phase", str(pd.cif_path()),
            "--qmax", str(pd.QMAX), "--rmin", "1.5", "--rmax", "12", "-o", str(out), *extra]


def test_pdf_series_writes_everything_and_resumes(gr_files, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_args(gr_files, out, "--plot", str(tmp_path / "f.png"))) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "fitted 3, resumed 0" in printed and "Rw=" in printed
    assert sorted(p.name for p in (out / "scans").glob("*.json")) == [
        "0000_nacl_300K.json", "0001_nacl_550K.json", "0002_nacl_1000K.json"]
    doc = json.loads((out / "sequential.json").read_text())
    assert doc["kind"] == "sequential" and doc["converged"]
    assert doc["provenance"]["settings"]["pdf"]["qmax"] == pd.QMAX
    for scan, t in zip(doc["scans"], pd.TEMPERATURES, strict=True):
        assert scan["kind"] == "pdf" and scan["provenance"]["inputs"][0]["sha256"]
        (ph,) = scan["phases"]
        assert abs(ph["a"] - pd.A_TRUE[t]) < 3 * ph["esd"]["a"], (t, ph["a"], ph["esd"]["a"])
    with open(out / "sequential.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"].rsplit("/", 1)[1] for r in rows] == ["nacl_300K.gr", "nacl_550K.gr", "nacl_1000K.gr"]
    assert {"Rw", "converged", "nacl_a", "nacl_a_esd", "nacl_volume_esd", "nacl_delta2", "nacl_delta2_esd"} <= set(
        rows[0])
    assert (tmp_path / "f.png").stat().st_size > 10_000
    assert main(_args(gr_files, out)) == 0
    assert "fitted 0, resumed 3" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["no_qmax", "wavelength", "refine", "gr_for_lebail", "qmax_for_lebail",
                                  "xye_for_pdf", "bad_phase_flag"])
def test_bad_input_exit_2_one_line(gr_files, tmp_path, capsys, case):
    out = tmp_path / "out"
    argv = _args(gr_files, out)
    if case == "no_qmax":
        i = argv.index("--qmax")
        del argv[i:i + 2]
        expect = "--qmax: --kind pdf needs --qmax"
    elif case == "wavelength":
        argv += ["--wavelength", "0.7"]
        expect = "--wavelength: is a powder option"
    elif case == "refine":
        argv += ["--refine", "cell"]
        expect = "--refine: is a powder option"
    elif case == "gr_for_lebail":
        argv[argv.index("pdf")] = "lebail"
        i = argv.index("--qmax")
        del argv[i:i + 2]
        expect = "nacl_300K.gr: is a G(r) file"
    elif case == "qmax_for_lebail":
        xye = sd.write_series(tmp_path / "xye", nscans=1)
        argv = ["sequential", str(xye[0]), "--kind", "lebail", "--phase", str(pd.cif_path()), "--wavelength",
                "0.7", "--qmax", "25", "-o", str(out)]
        expect = "--qmax: is a PDF option"
    elif case == "xye_for_pdf":
        xye = sd.write_series(tmp_path / "xye", nscans=1)
        argv = _args(xye, out)
        expect = "scan_0.xye: read as 2th_deg, not G(r)"
    else:
        argv[argv.index("--phase") + 1] += ",loose"
        expect = "--phase: expected STRUCT or STRUCT,fixed"
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expect in err[0], err
    assert not (out / "scans").exists()
