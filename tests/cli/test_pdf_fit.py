"""``refine pdf fit``: Ni on ni.gr against PDFgui, result file, figure, exit codes 0 / 3 / 2."""

from __future__ import annotations

import json

import pytest

from refine.cli.main import main
from refine.cli.pdf import PDF_COMMANDS
from refine.fit.result import read_curves
from tests.conftest import shared_path

FOLDER = ("pdf_fits", "pdfttp_ch05_SiNi_two_phase")


def _args(tmp_path, *extra: str) -> list[str]:
    return ["pdf", "fit", str(shared_path(*FOLDER, "ni.gr")), "--phase", str(shared_path(*FOLDER, "Ni_Fm-3m.cif")),
            "--qmax", "27", "--qdamp", "0.05", "--rmin", "1.49", "--rmax", "20", "--sharpening", "delta1",
            "--json", str(tmp_path / "ni.json"), *extra]


def test_fit_ni_writes_result(tmp_path, capsys):
    code = main(_args(tmp_path, "--plot", str(tmp_path / "ni.png")))
    assert code == 0
    assert "fit" in PDF_COMMANDS  # registered when the pdf command loads its sub-commands
    doc = json.loads((tmp_path / "ni.json").read_text())
    assert doc["schema"] == "refine.result/1" and doc["kind"] == "pdf" and doc["converged"] is True
    # PDFgui (README): a 3.52392(16), Uiso 0.00688342, Rw 0.0703243
    (phase,) = doc["phases"]
    assert phase["a"] == pytest.approx(3.52392, abs=3 * 0.00016)
    assert phase["space_group"] == "Fm-3m" and phase["weight_fraction"] is None
    assert phase["volume"] == pytest.approx(phase["a"] ** 3, rel=1e-12) and phase["esd"]["volume"] > 0
    assert doc["parameters"]["ni_uiso_Ni"]["value"] == pytest.approx(0.00688342, rel=0.03)
    assert doc["statistics"]["Rw"] == pytest.approx(0.0703243, abs=0.005)
    assert any("no uncertainties" in w for w in doc["warnings"])
    assert doc["provenance"]["settings"]["qmax"] == 27.0
    r = read_curves(tmp_path / doc["provenance"]["curves"][0]).x
    assert r[0] == pytest.approx(1.49, abs=1e-6) and r[-1] == pytest.approx(20.0, abs=1e-6)
    assert (tmp_path / "ni.png").stat().st_size > 10_000
    assert "mass fraction" not in capsys.readouterr().out


def test_pdfgui_range_and_refined_qdamp(tmp_path):
    """--pdfgui-range reproduces PDFgui's Rw to its printed digits (PDFgui passes only the fit range to PDFfit2);
    --refine-qdamp refines the instrument damping (with the fit-range default it stays near PDFgui's fixed 0.05)."""
    assert main(_args(tmp_path, "--pdfgui-range")) == 0
    doc = json.loads((tmp_path / "ni.json").read_text())
    assert doc["statistics"]["Rw"] == pytest.approx(0.0703243, abs=5e-8)
    assert doc["parameters"]["qdamp"]["vary"] is False
    assert main(_args(tmp_path)) == 0
    fixed = json.loads((tmp_path / "ni.json").read_text())["statistics"]["Rw"]
    assert main(_args(tmp_path, "--refine-qdamp")) == 0
    doc = json.loads((tmp_path / "ni.json").read_text())
    qdamp = doc["parameters"]["qdamp"]
    assert qdamp["vary"] is True and qdamp["esd"] > 0
    # one more free parameter on the same data and range: the minimum cannot be worse than with qdamp fixed
    assert abs(qdamp["value"] - 0.05) < 0.01 and doc["statistics"]["Rw"] <= fixed + 1e-9


def test_not_converged_exit_3_still_writes(tmp_path):
    code = main(_args(tmp_path, "--max-nfev", "3"))
    assert code == 3
    doc = json.loads((tmp_path / "ni.json").read_text())
    assert doc["converged"] is False and any("did not converge" in w for w in doc["warnings"])


def test_bad_input_exit_2_names_the_file(tmp_path, capsys):
    missing = tmp_path / "nothere.cif"
    args = _args(tmp_path)
    args[4] = str(missing)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(missing) in err
    bad = tmp_path / "bad.cif"
    bad.write_text("data_x\n_cell_length_a junk\n")
    args[4] = str(bad)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err
    with pytest.raises(SystemExit) as exc:
        main(_args(tmp_path)[:4] + [args[4] + ",loose", "--qmax", "27"])
    assert exc.value.code == 2


def test_constrain_fixes_a_parameter_by_expression(tmp_path, capsys):
    assert main(_args(tmp_path, "--constrain", "ni_uiso_Ni=0.0069")) == 0
    doc = json.loads((tmp_path / "ni.json").read_text())
    assert doc["parameters"]["ni_uiso_Ni"]["value"] == pytest.approx(0.0069, abs=1e-15)
    assert doc["parameters"]["ni_uiso_Ni"]["vary"] is False
    assert main(_args(tmp_path, "--constrain", "ni_bogus=1")) == 2
    assert "ni_bogus" in capsys.readouterr().err


def test_fit_a_freshly_reduced_gr_without_rmin(tmp_path):
    """A G(r) written by `refine pdf reduce` starts at r = 0 with dG = 0 there (G(0) = 0 identically); the fit
    drops that point instead of refusing the file."""
    folder = shared_path("pdf_reduction", "pdfttp_ch04_Ni_pdfgetx3")
    gr = tmp_path / "ni.gr"
    assert main(["pdf", "reduce", str(folder / "Ni.chi"), "--config", str(folder / "Ni.gr"), "--rmax", "12",
                 "-o", str(gr)]) == 0
    out = tmp_path / "fit.json"
    assert main(["pdf", "fit", str(gr), "--phase", str(shared_path("cif", "Ni_Fm-3m.cif")), "--qmax", "24",
                 "--qdamp", "0.04", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["phases"][0]["a"] == pytest.approx(3.524, abs=0.005)
    r = read_curves(tmp_path / doc["provenance"]["curves"][0]).x
    assert r[0] == pytest.approx(0.01, abs=1e-9)  # r = 0 dropped, the next point kept
