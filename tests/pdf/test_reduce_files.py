"""Files of the reduction: header with every setting and k, the curves read back, the resumable batch (synthetic
scans and the six Pt ramp frames of the PDFgetX3 examples with their pdfgetx3.cfg)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from refine.io import read_pattern
from refine.pdf.reduce import ReductionConfig
from refine.pdf.reduce_files import header_lines, reduce_file, reduce_series, unit_reader, write_results
from tests.conftest import shared_path
from tests.pdf.test_reduce import _synthetic_iq, _write_xy


def test_written_files_read_back_with_header(tmp_path):
    q = np.arange(0.5, 20.0, 0.02)
    y = _synthetic_iq(q)
    src = _write_xy(tmp_path / "s.chi", q, y, np.sqrt(y), header="Q (A^-1)")
    config = ReductionConfig(composition="Na3V2O5", qmax=18.0, qmin=0.5, rmax=15.0, lorch=True)
    result = reduce_file(src, config)
    written = write_results(result, tmp_path / "out" / "s.gr", ("gr", "sq", "fq", "iq"))
    assert [p.suffix for p in written] == [".gr", ".sq", ".fq", ".iq"]
    gr = read_pattern(written[0])
    assert gr.unit == "r_A" and gr.sigma_source == "file"
    np.testing.assert_allclose(gr.y, result.gr.y, rtol=1e-8, atol=1e-12)
    for path in written[1:]:
        assert read_pattern(path).unit == "q_A^-1"
    header = "\n".join(gr.metadata["header"])
    for key in ("composition = Na3V2O5", "qmax = 18.0", "qmin = 0.5", "qmaxinst = ", "rpoly = 0.9",
                "lorch = True", "rstep = 0.01", "polynomial degree", "sha256=", "mode = xray", "Q grid step = "):
        assert key in header
    assert f"scale k = {result.scale:.10g}" in header  # k is read back from the file exactly as used
    assert header_lines(result, "fq") != header_lines(result, "gr")  # each file says which curve it holds


def test_reduce_series_parallel_and_resumable(tmp_path):
    q = np.arange(0.5, 20.0, 0.02)
    paths = [_write_xy(tmp_path / f"scan{i}.chi", q, _synthetic_iq(q) * (1 + 0.1 * i), header="Q (A^-1)")
             for i in range(3)]
    config = ReductionConfig(composition="Ni", qmax=18.0, qmin=0.5, rmax=10.0)
    out = reduce_series(paths, config, tmp_path / "gr", outputs=("gr", "fq"), workers=2)
    assert list(out) == [str(p) for p in paths]
    first = out[str(paths[0])][0]
    assert first.name == "scan0.gr" and read_pattern(first).unit == "r_A"
    stamp = os.stat(first).st_mtime_ns
    os.unlink(out[str(paths[2])][0])  # an interrupted run: one output missing
    again = reduce_series(paths, config, tmp_path / "gr", outputs=("gr", "fq"), workers=2)
    assert os.stat(first).st_mtime_ns == stamp  # complete outputs are not redone
    assert again[str(paths[2])][0].exists()
    assert not list((tmp_path / "gr").glob("*.part"))


def test_pt_ramp_series_with_one_config_resumes(tmp_path):
    """The six Pt ramp frames (2theta, empty-capillary background) with Pt/pdfgetx3.cfg, in two worker processes:
    each output equals the single-file reduction of its frame; after an interruption (one output gone) only that
    frame is redone."""
    from refine.api.pdf import pdf_reduce

    folder = shared_path("pdf_reduction", "pdfgetx3_examples", "Pt", "series").parent
    cfg = folder / "pdfgetx3.cfg"
    frames = sorted((folder / "series").glob("*.chi"))
    assert len(frames) == 6
    out = tmp_path / "series-gr"
    done = pdf_reduce(frames, config=str(cfg), output=out, outputs="gr,fq", workers=2)
    assert list(done) == [str(f) for f in frames]
    assert sorted(p.name for p in out.glob("*.gr")) == [f.stem + ".gr" for f in frames]
    single = pdf_reduce(frames[3], config=str(cfg))
    batch = read_pattern(out / f"{frames[3].stem}.gr")
    np.testing.assert_allclose(batch.y, single.gr.y, rtol=1e-8, atol=1e-12 * np.abs(single.gr.y).max())
    header = "\n".join(batch.metadata["header"])
    assert "empty_capillary-00032.chi sha256=" in header and f"scale k = {single.scale:.10g}" in header
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.gr")}
    (out / f"{frames[2].stem}.gr").unlink()
    pdf_reduce(frames, config=str(cfg), output=out, outputs="gr,fq", workers=2)
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.gr")}
    assert set(after) == set(stamps)
    assert [n for n in after if after[n] != stamps.get(n)] == [f"{frames[2].stem}.gr"]


def test_unit_reader_refuses_a_header_that_disagrees(tmp_path):
    src = _write_xy(tmp_path / "q.chi", np.arange(0.5, 20.0, 0.02), np.ones(975), header="Q (A^-1)  I")
    assert unit_reader("q_A^-1")(src).unit == "q_A^-1"
    with pytest.raises(Exception, match="dataformat = twotheta"):
        unit_reader("2th_deg")(src)
