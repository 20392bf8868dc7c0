"""``refine pdf reduce``: exit codes, outputs and header on the PDFgetX3 Ni data and on bad input."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from refine.cli.main import COMMANDS, main
from refine.cli.pdf import PDF_COMMANDS
from refine.io import read_pattern
from tests.conftest import shared_path


def test_pdf_is_a_command_with_sub_commands():
    assert "pdf" in COMMANDS
    assert "reduce" in PDF_COMMANDS


def test_reduce_ni_against_pdfgetx3(tmp_path, capsys):
    folder = shared_path("pdf_reduction", "pdfttp_ch04_Ni_pdfgetx3")
    out = tmp_path / "Ni.gr"
    code = main(["pdf", "reduce", str(folder / "Ni.chi"), "--composition", "Ni", "--qmax", "25", "--qmin", "0.85",
                 "--qmaxinst", "29", "--rpoly", "0.9", "--background", str(folder / "kapton.chi"),
                 "--bgscale", "0.4", "--rmax", "60", "--output", "gr,sq,fq,iq", "-o", str(out),
                 "--plot", str(tmp_path / "ni.png")])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "interpolated" in stdout
    gr = read_pattern(out)
    assert gr.unit == "r_A"
    ref = read_pattern(folder / "Ni-hires.gr")
    np.testing.assert_allclose(gr.x, ref.x, atol=1e-9)
    scale = gr.y @ ref.y / (gr.y @ gr.y)
    sel = (gr.x >= 1) & (gr.x <= 30)
    assert np.max(np.abs(scale * gr.y[sel] - ref.y[sel])) < 0.01 * np.max(np.abs(ref.y))
    for ext in ("sq", "fq", "iq"):
        assert read_pattern(out.with_suffix("." + ext)).unit == "q_A^-1"
    header = "\n".join(gr.metadata["header"])
    for text in ("Ni.chi sha256=", "kapton.chi sha256=", "bgscale = 0.4", "qmaxinst = 29.0", "rpoly = 0.9",
                 "qmin = 0.85", "qmax = 25.0", "polynomial degree = 8"):
        assert text in header
    assert (tmp_path / "ni.png").stat().st_size > 10_000


@pytest.mark.parametrize(("extra", "message"), [
    (["--composition", "Qz"], "unknown element"),
    (["--composition", "Ni", "--qmax", "40"], "above the data"),
    (["--composition", "Ni", "--poni", "x.poni"], "not supported yet"),
    (["--composition", "Ni", "--rstep", "0"], "--rstep"),
    (["--composition", "Ni", "--bgscale", "lots"], "bgscale"),
])
def test_bad_input_exits_2(tmp_path, capsys, extra, message):
    q = np.arange(0.5, 20.0, 0.02)
    src = tmp_path / "s.chi"
    np.savetxt(src, np.column_stack([q, 1000 + 10 * q]), header="Q (A^-1)  I")
    args = ["pdf", "reduce", str(src), "--qmax", "15", "-o", str(tmp_path / "o.gr")]
    if "--qmax" in extra:
        args = ["pdf", "reduce", str(src), "-o", str(tmp_path / "o.gr")]
    with pytest.raises(SystemExit) if message == "bgscale" else contextlib.nullcontext():
        assert main(args + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.gr").exists()


def test_pdf_without_sub_command_exits_2(capsys):
    assert main(["pdf"]) == 2
    assert "reduce" in capsys.readouterr().out

