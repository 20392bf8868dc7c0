"""``refine pdf reduce``: exit codes, outputs and header on the PDFgetX3 Ni data and on bad input."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from refine.cli.main import COMMANDS, main
from refine.cli.pdf import PDF_COMMANDS
from refine.examples import EXAMPLE_DATA
from refine.io import read_pattern
from tests.conftest import shared_path


def test_pdf_is_a_command_with_sub_commands():
    assert "pdf" in COMMANDS
    assert "reduce" in PDF_COMMANDS


def test_reduce_ni_against_pdfgetx3(tmp_path, capsys):
    folder = shared_path("pdf_reduction", "pdfttp_ch04_Ni_pdfgetx3", "Ni.chi").parent
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
    (["--composition", "Ni", "--poni", "x.poni"], "x.poni"),
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


def test_image_with_poni_equals_integrate_then_reduce(tmp_path, capsys):
    """--poni integrates the image in Q first: same G(r) as `refine integrate --unit q_A^-1` followed by a reduction
    of the written pattern (bundled example image), and the header names the image with its checksum."""

    data = EXAMPLE_DATA
    image, poni, mask = (data / f"drs_na3v2o5_cu{s}" for s in (".tif", ".poni", "_mask.npy"))
    common = ["--composition", "Na3V2O5", "--qmin", "1.0", "--qmax", "10.5", "--rmax", "10"]
    direct = tmp_path / "direct.gr"
    assert main(["pdf", "reduce", str(image), "--poni", str(poni), "--mask", str(mask), "--npt", "2000",
                 *common, "-o", str(direct)]) == 0, capsys.readouterr().err
    assert main(["integrate", str(image), "--poni", str(poni), "--mask", str(mask), "--npt", "2000",
                 "--unit", "q_A^-1", "--polarization", "0.99", "--no-progress", "-o", str(tmp_path / "iq")]) == 0
    two_step = tmp_path / "two_step.gr"
    assert main(["pdf", "reduce", str(tmp_path / "iq" / "drs_na3v2o5_cu.xye"), *common, "-o", str(two_step)]) == 0
    a, b = read_pattern(direct), read_pattern(two_step)
    # The .xye stores 10 significant digits: the two paths agree to far better than any physical tolerance.
    np.testing.assert_allclose(a.y, b.y, atol=1e-6 * np.max(np.abs(b.y)))
    assert "drs_na3v2o5_cu.tif sha256=" in "\n".join(a.metadata["header"])


def test_several_inputs_reduce_into_a_folder_and_resume(tmp_path, capsys):
    """Several IQ files: one configuration, outputs in the -o folder, a second run skips finished files."""
    q = np.arange(0.5, 20.0, 0.02)
    rng = np.random.default_rng(0)
    for k in range(3):
        y = 1000 + 10 * q + 50 * np.sin(q * 2.5 + k) * np.exp(-0.05 * q) + rng.normal(0, 1, q.size)
        np.savetxt(tmp_path / f"scan{k}.chi", np.column_stack([q, y]), header="Q (A^-1)  I")
    inputs = [str(tmp_path / f"scan{k}.chi") for k in range(3)]
    args = ["pdf", "reduce", *inputs, "--composition", "Ni", "--qmax", "18", "-o", str(tmp_path / "out")]
    assert main(args) == 0, capsys.readouterr().err
    written = sorted(p.name for p in (tmp_path / "out").glob("*.gr"))
    assert written == ["scan0.gr", "scan1.gr", "scan2.gr"]
    stamp = (tmp_path / "out" / "scan1.gr").stat().st_mtime_ns
    assert main(args) == 0
    assert (tmp_path / "out" / "scan1.gr").stat().st_mtime_ns == stamp
    single = read_pattern(tmp_path / "out" / "scan1.gr")
    assert single.unit == "r_A" and len(single) > 100
    # a second run into the folder while another one holds it stops before writing, naming the holder
    import json
    import subprocess
    import sys

    from refine.io.lock import LOCK_NAME, _host

    (tmp_path / "out" / "scan1.gr").unlink()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "out" / LOCK_NAME).write_text(json.dumps({"pid": holder.pid, "host": _host()}))
        capsys.readouterr()
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"pid {holder.pid}" in err
        assert not (tmp_path / "out" / "scan1.gr").exists()
    finally:
        holder.kill()
        holder.wait()


def test_config_from_a_pdfgetx3_gr_header_equals_the_explicit_settings(tmp_path, capsys):
    """--config Ni-hires.gr (xPDFsuite header: [PDF] section, backgroundfile = Kapton.chi for kapton.chi) gives
    exactly the G(r) of the same settings typed as options; an option given on the command line wins."""
    folder = shared_path("pdf_reduction", "pdfttp_ch04_Ni_pdfgetx3", "Ni.chi").parent
    explicit, configured, override = tmp_path / "a.gr", tmp_path / "b.gr", tmp_path / "c.gr"
    assert main(["pdf", "reduce", str(folder / "Ni.chi"), "--composition", "Ni", "--qmax", "25", "--qmin", "0.85",
                 "--qmaxinst", "29", "--rpoly", "0.9", "--background", str(folder / "kapton.chi"),
                 "--bgscale", "0.4", "--rmax", "60", "-o", str(explicit)]) == 0
    assert main(["pdf", "reduce", str(folder / "Ni.chi"), "--config", str(folder / "Ni-hires.gr"),
                 "-o", str(configured)]) == 0
    a, b = read_pattern(explicit), read_pattern(configured)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert "settings from" in configured.read_text()
    assert main(["pdf", "reduce", str(folder / "Ni.chi"), "--config", str(folder / "Ni-hires.gr"), "--qmax", "20",
                 "-o", str(override)]) == 0
    assert "qmax = 20.0" in override.read_text()


#: A PDFgetX3 configuration as its manual writes them (the [DEFAULT] section of pdfgetx3.cfg).
PDFGETX3_CFG = """[DEFAULT]
# == input and output ==
dataformat = QA
backgroundfile =
datapath =
output =
outputtype = iq, sq, fq, gr
# == processing ==
mode = xray
composition = Ni
rpoly = 2.0
qmaxinst = 25.0
qmin = 0.0
qmax = 24.0
rmin = 0.0
rmax = 60.0
rstep = 0.01
"""


def _synthetic_chi(folder):
    q = np.arange(0.5, 26.0, 0.02)
    src = folder / "s.chi"
    np.savetxt(src, np.column_stack([q, 1000 + 10 * q + 50 * np.sin(2.5 * q) * np.exp(-0.05 * q)]),
               header="Q (A^-1)  I")
    return src


def test_config_file_sets_outputs_and_rpoly(tmp_path):
    """pdfgetx3.cfg with outputtype = iq, sq, fq, gr and rpoly = 2.0 over the grid 0-25: four files, degree 15.9."""
    cfg = tmp_path / "pdfgetx3.cfg"
    cfg.write_text(PDFGETX3_CFG)
    out = tmp_path / "ni.gr"
    assert main(["pdf", "reduce", str(_synthetic_chi(tmp_path)), "--config", str(cfg), "-o", str(out)]) == 0
    assert all((tmp_path / f"ni.{k}").is_file() for k in ("iq", "sq", "fq", "gr"))
    text = out.read_text()
    assert "polynomial degree = 15.9155" in text  # 2.0 * 25 / pi
    assert "qmax = 24.0" in text and "rmax = 60.0" in text


@pytest.mark.parametrize("text, message", [
    ("[DEFAULT]\nmode = electron\ncomposition = Ni\nqmax = 20\n", "expected one of xray, neutron"),
    ("[DEFAULT]\nmode = neutron\ncomposition = Po\nqmax = 20\n", "bad.cfg: composition = Po: periodictable has no "
                                                                  "neutron scattering length for 'Po'"),
    ("[DEFAULT]\nrmax = 30\n", "no PDFgetX3 settings"),
    ("[DEFAULT]\ncomposition = Ni\nrpoly = 0.9\n", "--qmax"),
    ("[DEFAULT]\ncomposition = Ni\nqmax = abc\n", "qmax"),
    ("[DEFAULT]\ncomposition = Ni\nqmax = 20\nbackgroundfile = nowhere.chi\n", "nowhere.chi"),
    ("[DEFAULT]\ncomposition = Ni\nqmax = 20\ndataformat = twotheta\n", "dataformat"),
])
def test_bad_config_exit_2(tmp_path, capsys, text, message):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(text)
    assert main(["pdf", "reduce", str(_synthetic_chi(tmp_path)), "--config", str(cfg), "-o",
                 str(tmp_path / "x.gr")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.gr").exists()


def test_neutron_config_with_an_element_without_length_on_the_command_line(tmp_path, capsys):
    """--mode neutron with --composition naming the element: the message names the option instead of a file."""
    assert main(["pdf", "reduce", str(_synthetic_chi(tmp_path)), "--composition", "FrCl", "--qmax", "20",
                 "--mode", "neutron", "-o", str(tmp_path / "x.gr")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "composition: periodictable has no neutron scattering length for 'Fr'" in err


def test_pdfgetn3_sapphire_from_the_command_line(tmp_path, capsys):
    """refine pdf reduce sapphire755.dat --config pdfgetn3.cfg writes the .fq and .gr the config asks for, with k in
    the header; the G(r) is PDFgetN3's to 0.5 % of max|G| without any scale."""
    folder = shared_path("pdf_reduction", "pdfgetx3_examples", "n-Sapphire", "pdfgetn3.cfg").parent
    out = tmp_path / "sapphire755.gr"
    assert main(["pdf", "reduce", str(folder / "sapphire755.dat"), "--config", str(folder / "pdfgetn3.cfg"),
                 "-o", str(out)]) == 0, capsys.readouterr().err
    assert out.with_suffix(".fq").is_file()
    gr, ref = read_pattern(out), read_pattern(folder / "sapphire755-expected.gr")
    np.testing.assert_allclose(gr.x, ref.x, atol=1e-9)
    assert np.max(np.abs(gr.y - ref.y)) < 0.005 * np.max(np.abs(ref.y))
    text = out.read_text()
    assert "mode = neutron" in text and "twothetazero = -0.38" in text and "scale k = " in text


def test_pt_ramp_series_on_the_command_line(tmp_path, capsys):
    """`refine pdf reduce series/*.chi --config Pt/pdfgetx3.cfg -o DIR`: six 2theta frames (dataformat twotheta),
    one line per frame, and a second run with every output present rewrites nothing."""
    folder = shared_path("pdf_reduction", "pdfgetx3_examples", "Pt", "series").parent
    frames = sorted(str(p) for p in (folder / "series").glob("*.chi"))
    args = ["pdf", "reduce", *frames, "--config", str(folder / "pdfgetx3.cfg"), "-o", str(tmp_path / "gr")]
    assert main(args) == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and all(" -> " in line and line.endswith(".gr") for line in lines)
    stamps = sorted(p.stat().st_mtime_ns for p in (tmp_path / "gr").glob("*.gr"))
    assert len(stamps) == 6
    assert main(args) == 0
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "gr").glob("*.gr")) == stamps
