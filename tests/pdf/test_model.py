"""Real-space fits of the PDF-to-the-People ch. 5 data against the PDFgui (PDFfit2) reference results."""

from __future__ import annotations

import lmfit
import numpy as np
import pytest

from refine.errors import InputError
from refine.pdf.model import Experiment, Phase, calc_model, make_parameters, param_label, residual, rw
from refine.pdf.structure import PDFStructure
from tests.conftest import shared_path

FOLDER = ("pdf_fits", "pdfttp_ch05_SiNi_two_phase")
XRAY = Experiment("xray", 27.0)  # README: x-ray, Qmax 27, Qdamp 0.05 fixed, r 1.49-20 Å


def load_gr(name: str, rmin: float = 1.49, rmax: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(shared_path(*FOLDER, name), comments="#")
    keep = (data[:, 0] > rmin - 0.005) & (data[:, 0] < rmax + 0.005)
    return data[keep, 0], data[keep, 1]


def fit(phases: list[Phase], r: np.ndarray, g: np.ndarray) -> lmfit.Parameters:
    params = make_parameters(phases, qdamp=0.05)
    for ph in phases:
        params[f"{ph.prefix}_delta1"].set(value=1.0, vary=True)
    if len(phases) > 1:
        for ph in phases:
            params[f"{ph.prefix}_scale"].set(value=0.5)
    out = lmfit.minimize(residual, params, args=(phases, r, g, XRAY))
    assert out.success
    return out.params


def test_ni_fit_reproduces_pdfgui():
    r, g = load_gr("ni.gr")
    ni = Phase.from_structure("ni", PDFStructure.load(shared_path(*FOLDER, "Ni_Fm-3m.cif")), r[-1], qmax=27.0)
    p = fit([ni], r, g)
    # PDFgui: a 3.52392(16), Uiso 0.00688342(7.3e-5), delta1 1.24733(38), scale 1.00015(67), Rw 0.0703243.
    # Same model and definitions, so the minimum must coincide to well below the esds (tolerances ~1/10 esd).
    assert p["ni_a"].value == pytest.approx(3.52392, abs=2e-5)
    assert p["ni_uiso_Ni"].value == pytest.approx(0.00688342, abs=7e-6)
    assert p["ni_delta1"].value == pytest.approx(1.24733, abs=4e-3)
    assert p["ni_scale"].value == pytest.approx(1.00015, abs=7e-4)
    assert rw(p, [ni], r, g, XRAY) == pytest.approx(0.0703243, rel=1e-4)


def test_si_ni_two_phase_fit_reproduces_pdfgui_way1():
    r, g = load_gr("sini.gr")
    si = Phase.from_structure("si", PDFStructure.load(shared_path(*FOLDER, "Si_Fd-3m.cif")), r[-1], qmax=27.0)
    ni = Phase.from_structure("ni", PDFStructure.load(shared_path(*FOLDER, "Ni_Fm-3m.cif")), r[-1], qmax=27.0)
    p = fit([si, ni], r, g)
    # PDFgui "SiNi-mix-way1": a(Si) 5.42945(66), a(Ni) 3.52166(62), U(Si) 0.00951414(26), U(Ni) 0.00551739(27),
    # scales 0.803477(11) / 0.196079(6), delta1 1.54538 / 1.49957, Rw 0.093118
    assert p["si_a"].value == pytest.approx(5.42945, abs=7e-5)
    assert p["ni_a"].value == pytest.approx(3.52166, abs=7e-5)
    assert p["si_uiso_Si"].value == pytest.approx(0.00951414, abs=3e-5)
    assert p["ni_uiso_Ni"].value == pytest.approx(0.00551739, abs=3e-5)
    assert p["si_scale"].value == pytest.approx(0.803477, abs=1e-3)
    assert p["ni_scale"].value == pytest.approx(0.196079, abs=6e-4)
    assert p["si_delta1"].value == pytest.approx(1.54538, abs=0.01)
    assert p["ni_delta1"].value == pytest.approx(1.49957, abs=0.01)
    assert rw(p, [si, ni], r, g, XRAY) == pytest.approx(0.093118, rel=1e-3)
    parts = calc_model(p, [si, ni], r, XRAY, per_phase=True)
    np.testing.assert_allclose(parts.sum(axis=0), calc_model(p, [si, ni], r, XRAY), atol=1e-12)


def test_parameter_names_and_bad_prefixes():
    s = PDFStructure(lattice=(4, 4, 6, 90, 90, 90), xyz=[(0, 0, 0), (0.5, 0.5, 0.5)], elements=("Li1+", "O2-"),
                     occupancy=[1, 1], u=[0.01, 0.02])
    ph = Phase.from_structure("lio", s, 8.0)
    names = list(make_parameters([ph], qdamp=0.04))
    assert names == ["lio_scale", "lio_lattice_scale", "lio_delta1", "lio_delta2", "lio_uiso_Li1p", "lio_uiso_O2m",
                     "lio_spdiameter", "dscale", "qdamp", "qbroad"]
    assert param_label("Si0+") == "Si"
    with pytest.raises(InputError, match="identifier"):
        Phase("1bad", ph.table)
    with pytest.raises(InputError, match="unique"):
        make_parameters([ph, ph])
