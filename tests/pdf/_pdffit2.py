"""PDFfit2 as an independent reference: G(r) of a diffpy.structure Structure with given settings."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest


def pdffit2_gr(stru, radiation: str, qmax: float, qdamp: float, r: np.ndarray, variables: dict | None = None,
               select: tuple[str, str] | None = None) -> np.ndarray:
    """PDFfit2's calculated G(r) on the equidistant grid r; ``variables`` go to ``setvar`` (e.g. 'delta2',
    'u11(3)', 'lat(1)'); ``select=(A, B)`` restricts the pairs to species A-B as PDFgui partials do."""
    pdffit2 = pytest.importorskip("diffpy.pdffit2")
    with open(os.devnull, "w") as sink:
        pdffit2.redirect_stdout(sink)
        pf = pdffit2.PdfFit()
        pf.add_structure(stru)
        pf.alloc("X" if radiation == "xray" else "N", qmax, qdamp, float(r[0]), float(r[-1]), len(r))
        for name, value in (variables or {}).items():
            pf.setvar(name, value)
        if select is not None:
            for ij, species in zip("ij", select, strict=True):
                pf.selectNone(1, ij)
                pf.selectAtomType(1, ij, species, True)
        pf.calc()
        out = np.array(pf.getpdf_fit())
        pf.reset()
        pdffit2.redirect_stdout(sys.stdout)  # the sink closes with this block
    return out


def pdffit2_fit_cubic(stru, data: str, radiation: str, qmax: float, qdamp: float,
                      fit_range: tuple[float, float]) -> dict[str, float]:
    """PDFfit2's own refinement of one cubic phase on the whole data file ``data`` over ``fit_range``: lattice
    parameter a, one Uiso for every atom, delta1 and the phase scale refined (PDFgui's Ni fit). Returns
    {'Rw', 'a', 'uiso', 'delta1', 'scale'}."""
    pdffit2 = pytest.importorskip("diffpy.pdffit2")
    with open(os.devnull, "w") as sink:
        pdffit2.redirect_stdout(sink)
        pf = pdffit2.PdfFit()
        pf.add_structure(stru)
        pf.read_data(str(data), "X" if radiation == "xray" else "N", qmax, qdamp)
        pf.setdata(1)
        pf.pdfrange(1, *fit_range)
        pf.setphase(1)
        for k in (1, 2, 3):
            pf.constrain(pf.lat(k), "@1")
        pf.setpar(1, pf.getvar(pf.lat(1)))
        for i in range(1, len(stru) + 1):
            for u in (pf.u11, pf.u22, pf.u33):
                pf.constrain(u(i), "@2")
        pf.setpar(2, pf.getvar(pf.u11(1)))
        pf.constrain(pf.delta1(), "@3")
        pf.setpar(3, 1.0)
        pf.constrain(pf.pscale(), "@4")
        pf.setpar(4, 1.0)
        pf.refine()
        out = {"Rw": pf.getrw(), "a": pf.getpar(1), "uiso": pf.getpar(2), "delta1": pf.getpar(3),
               "scale": pf.getpar(4)}
        pf.reset()
        pdffit2.redirect_stdout(sys.stdout)
    return out
