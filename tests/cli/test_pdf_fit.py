"""``refine pdf fit``: Ni on ni.gr against PDFgui, result file, figure, exit codes 0 / 3 / 2 (on a synthetic Ni G(r)
where no reference file is compared)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from refine.cli.main import main
from refine.cli.pdf import PDF_COMMANDS
from refine.fit.result import read_curves
from refine.pdf.calculate import PDFSettings, direct_gr
from refine.pdf.structure import PDFStructure
from tests.conftest import data_file, shared_path
from tests.pdf import synthetic
from tests.pdf.synthetic import Q_GRID, ni_cluster_iq, write_chi

FOLDER = ("pdf_fits", "pdfttp_ch05_SiNi_two_phase")
#: Truth of the synthetic Ni G(r): cell, Uiso, delta1, scale (the size of PDFgui's Ni fit) and the noise dG.
NI_A, NI_UISO, NI_DELTA1, NI_SCALE, NI_DG = 3.524, 0.0069, 1.25, 1.0, 0.02


@pytest.fixture(scope="module")
def synthetic_ni(tmp_path_factory) -> str:
    """Ni G(r) at known parameters (refine's exact pair sum, Qmax 27, Qdamp 0.05) with seeded Gaussian noise,
    written as two columns like ni.gr (no sigma column), r 0.01-20 Å."""
    r = np.round(np.arange(1, 2001) * 0.01, 10)
    ni = PDFStructure.load(data_file("Ni.cif"))
    settings = PDFSettings(scale=NI_SCALE, delta1=NI_DELTA1, qmax=27.0, qdamp=0.05, uiso={"Ni": NI_UISO})
    g = direct_gr(ni.replace(lattice=(NI_A, NI_A, NI_A, 90.0, 90.0, 90.0)), r, settings)
    path = tmp_path_factory.mktemp("nigr") / "ni.gr"
    np.savetxt(path, np.column_stack([r, g + np.random.default_rng(3).normal(0.0, NI_DG, r.size)]),
               header="synthetic Ni G(r)\nr(A) G(A^-2)")
    return str(path)


def _args(tmp_path, *extra: str, gr: str | None = None) -> list[str]:
    """The PDFgui Ni fit's options on ``gr`` with tests/data/Ni.cif, or on the data set's ni.gr and its own CIF."""
    data, cif = (gr, str(data_file("Ni.cif"))) if gr else (str(shared_path(*FOLDER, "ni.gr")),
                                                          str(shared_path(*FOLDER, "Ni_Fm-3m.cif")))
    return ["pdf", "fit", data, "--phase", cif, "--qmax", "27", "--qdamp", "0.05", "--rmin", "1.49", "--rmax", "20",
            "--sharpening", "delta1", "--json", str(tmp_path / "ni.json"), *extra]


def test_synthetic_ni_fit_writes_result_curves_and_figure(tmp_path, capsys, synthetic_ni):
    code = main(_args(tmp_path, "--plot", str(tmp_path / "ni.png"), gr=synthetic_ni))
    assert code == 0
    assert "fit" in PDF_COMMANDS  # registered when the pdf command loads its sub-commands
    doc = json.loads((tmp_path / "ni.json").read_text())
    assert doc["schema"] == "refine.result/1" and doc["kind"] == "pdf" and doc["converged"] is True
    (phase,) = doc["phases"]
    assert abs(phase["a"] - NI_A) < 3 * phase["esd"]["a"]
    uiso = doc["parameters"]["ni_uiso_Ni"]
    assert abs(uiso["value"] - NI_UISO) < 3 * uiso["esd"]
    assert phase["space_group"] == "Fm-3m" and phase["weight_fraction"] is None
    assert phase["volume"] == pytest.approx(phase["a"] ** 3, rel=1e-12) and phase["esd"]["volume"] > 0
    assert any("no uncertainties" in w for w in doc["warnings"])
    assert doc["provenance"]["settings"]["qmax"] == 27.0
    r = read_curves(tmp_path / doc["provenance"]["curves"][0]).x
    assert r[0] == pytest.approx(1.49, abs=1e-6) and r[-1] == pytest.approx(20.0, abs=1e-6)
    assert (tmp_path / "ni.png").stat().st_size > 10_000
    assert "mass fraction" not in capsys.readouterr().out


def test_fit_ni_reproduces_pdfgui(tmp_path):
    assert main(_args(tmp_path)) == 0
    doc = json.loads((tmp_path / "ni.json").read_text())
    assert doc["converged"] is True
    # PDFgui (README): a 3.52392(16), Uiso 0.00688342, Rw 0.0703243
    (phase,) = doc["phases"]
    assert phase["a"] == pytest.approx(3.52392, abs=3 * 0.00016)
    assert doc["parameters"]["ni_uiso_Ni"]["value"] == pytest.approx(0.00688342, rel=0.03)
    assert doc["statistics"]["Rw"] == pytest.approx(0.0703243, abs=0.005)


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


def test_not_converged_exit_3_still_writes(tmp_path, synthetic_ni):
    code = main(_args(tmp_path, "--max-nfev", "3", gr=synthetic_ni))
    assert code == 3
    doc = json.loads((tmp_path / "ni.json").read_text())
    assert doc["converged"] is False and any("did not converge" in w for w in doc["warnings"])


def test_bad_input_exit_2_names_the_file(tmp_path, capsys, synthetic_ni):
    missing = tmp_path / "nothere.cif"
    args = _args(tmp_path, gr=synthetic_ni)
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
        main(_args(tmp_path, gr=synthetic_ni)[:4] + [args[4] + ",loose", "--qmax", "27"])
    assert exc.value.code == 2


def test_constrain_fixes_a_parameter_by_expression(tmp_path, capsys, synthetic_ni):
    assert main(_args(tmp_path, "--constrain", "ni_uiso_Ni=0.0069", gr=synthetic_ni)) == 0
    doc = json.loads((tmp_path / "ni.json").read_text())
    assert doc["parameters"]["ni_uiso_Ni"]["value"] == pytest.approx(0.0069, abs=1e-15)
    assert doc["parameters"]["ni_uiso_Ni"]["vary"] is False
    assert main(_args(tmp_path, "--constrain", "ni_bogus=1", gr=synthetic_ni)) == 2
    assert "ni_bogus" in capsys.readouterr().err


def test_fit_a_freshly_reduced_gr_without_rmin(tmp_path):
    """A G(r) written by `refine pdf reduce` starts at r = 0 with dG = 0 there (G(0) = 0 identically); the fit
    drops that point instead of refusing the file."""
    chi, gr = tmp_path / "ni.chi", tmp_path / "ni.gr"
    write_chi(chi, Q_GRID, ni_cluster_iq())
    assert main(["pdf", "reduce", str(chi), "--composition", "Ni", "--qmax", "24", "--qmin", "1.0", "--rmax", "12",
                 "-o", str(gr)]) == 0
    first = np.loadtxt(gr)[0]
    assert first[0] == 0.0 and first[2] == 0.0  # r = 0, dG = 0: the case under test
    out = tmp_path / "fit.json"
    assert main(["pdf", "fit", str(gr), "--phase", str(data_file("Ni.cif")), "--qmax", "24",
                 "--qdamp", "0.04", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    # a cluster, not a bulk crystal: the cell only to the 0.005 Å the peak positions give without a size envelope
    assert doc["phases"][0]["a"] == pytest.approx(synthetic.NI_A, abs=0.005)
    r = read_curves(tmp_path / doc["provenance"]["curves"][0]).x
    assert r[0] == pytest.approx(0.01, abs=1e-9)  # r = 0 dropped, the next point kept
