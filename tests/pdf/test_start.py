"""Start values of G(r) fits: a lattice scan rescues a start cell 10 % off; a right start is left untouched; the
pair table grows when the cell contracts beyond it."""

from __future__ import annotations

import numpy as np
import pytest

from refine.io.patterns import read_pattern
from refine.pdf.fitting import PDFFitSettings, PhaseInput, build_model, fit_pdf
from refine.pdf.start import search_lattice
from tests.conftest import data_file, shared_path
from tests.pdf.synthetic import ni_gr

FOLDER = ("pdf_fits", "pdfttp_ch05_SiNi_two_phase")
R_TO_60 = np.round(np.arange(1, 6001) * 0.01, 10)  # the r grid of ni.gr
# PDFgui's Ni fit of PDF to the People ch. 5 (the folder's README): a = 3.52392 ± 0.00016 A
SETTINGS = PDFFitSettings(qmax=27.0, qdamp=0.05, rmin=1.49, rmax=20.0, sharpening="delta1")


def _small_ni(tmp_path, factor: float = 0.9):
    text = shared_path(*FOLDER, "Ni_Fm-3m.cif").read_text()
    out = tmp_path / "ni_small.cif"
    out.write_text(text.replace("3.5200(0)", f"{3.52 * factor:.4f}"))
    assert f"{3.52 * factor:.4f}" in out.read_text()
    return out


def test_a_ni_fit_from_a_cell_10_percent_small_converges_to_the_right_cell(tmp_path):
    pat = read_pattern(shared_path(*FOLDER, "ni.gr"))
    res = fit_pdf(pat, [PhaseInput.load(_small_ni(tmp_path))], SETTINGS)
    assert res.converged
    (ni,) = res.phases.values()
    assert ni.a.value == pytest.approx(3.52392, abs=3 * 0.00016)
    assert res.statistics.Rw < 0.075  # PDFgui: 0.0703 (calculated on the fit range only)
    assert any("a scan of ±15%" in w and "ni_a = 3.168" in w for w in res.warnings)


def test_a_right_start_is_left_exactly_as_it_was():
    """A synthetic Ni G(r) (a = 3.524 Å) started from tests/data/Ni.cif (3.52 Å, 0.1 % off)."""
    pat = ni_gr(R_TO_60)
    fm = build_model(pat, [PhaseInput.load(data_file("Ni.cif"))], SETTINGS)
    before = {n: (p.value, p.min, p.max) for n, p in fm.params.items()}
    after = search_lattice(fm)
    assert after is fm and not fm.notes
    assert {n: (p.value, p.min, p.max) for n, p in fm.params.items()} == before


def test_the_pair_table_grows_when_the_cell_contracts_beyond_it():
    """Over the whole range of a ni.gr-like file (to 60 A) a cell 8 % smaller than the table's needs pairs the table
    lacks: the model rebuilds it once instead of failing."""
    pat = ni_gr(R_TO_60)
    fm = build_model(pat, [PhaseInput.load(data_file("Ni.cif"))], PDFFitSettings(qmax=25.0))
    (ph,) = fm.phases
    params = fm.params.copy()
    params["ni_a"].set(value=3.52 * 0.92, min=0.0)
    g = fm.model(params)
    assert np.all(np.isfinite(g)) and fm.table(ph, ph.settings(params, SETTINGS.experiment)).dmax > ph.table.dmax
    assert fm.table(ph, ph.settings(fm.params, SETTINGS.experiment)).dmax > ph.table.dmax  # kept for the fit
