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
