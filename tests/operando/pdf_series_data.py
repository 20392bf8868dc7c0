"""A synthetic temperature series of G(r): rock-salt NaCl whose cell grows with temperature, computed with refine's
exact pair-sum calculator (:func:`refine.pdf.calculate.direct_gr`, PDFfit2 definitions) plus seeded Gaussian noise
of a known, stated dG (written as the file's sigma column, so chi2 and the esds are meaningful)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from refine.data import Pattern
from refine.io import write_pattern
from refine.pdf.calculate import PDFSettings, direct_gr
from refine.pdf.structure import PDFStructure
from tests.conftest import data_file

CIF = "NaCl.cif"  # a = 5.62 Å: every fit starts 0.3 % or more below the truth
QMAX = 25.0
RMIN, RMAX, STEP = 1.5, 12.0, 0.02
#: File names, temperatures and true cells: 1000K sorts after 550K only naturally (not as text).
TEMPERATURES = (300, 550, 1000)
A_TRUE = {300: 5.640, 550: 5.652, 1000: 5.671}
#: Other true parameters: PDFfit2 scale, delta2 (Å²) and Uiso (Å²) per site class, growing with temperature.
SCALE, DELTA2 = 0.8, 1.5
UISO = {300: {"Na1+": 0.012, "Cl1-": 0.010}, 550: {"Na1+": 0.017, "Cl1-": 0.014},
        1000: {"Na1+": 0.026, "Cl1-": 0.021}}
#: Noise: dG per point (G peaks of this model reach about 10).
DG = 0.05


def cif_path() -> Path:
    return data_file(CIF)


def simulate(temperature: int, *, seed: int) -> Pattern:
    """G(r) of NaCl at ``temperature`` (true cell and ADPs above) with Gaussian noise of sigma DG."""
    s = PDFStructure.load(cif_path())
    a = A_TRUE[temperature]
    r = np.arange(RMIN, RMAX + STEP / 2, STEP)
    settings = PDFSettings(scale=SCALE, delta2=DELTA2, qmax=QMAX, radiation="xray", uiso=UISO[temperature])
    g = direct_gr(s.replace(lattice=(a, a, a, 90.0, 90.0, 90.0)), r, settings)
    dg = np.full_like(r, DG)
    noisy = g + np.random.default_rng(seed).normal(0.0, DG, r.size)
    return Pattern.from_arrays(r, noisy, dg, unit="r_A", sigma_source="file",
                               metadata={"source": f"synthetic NaCl {temperature} K"})


def write_series(folder: Path) -> list[Path]:
    """Write ``nacl_<T>K.gr`` for every temperature and return the paths (in temperature order)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, t in enumerate(TEMPERATURES):
        path = folder / f"nacl_{t}K.gr"
        write_pattern(simulate(t, seed=700 + k), path)
        paths.append(path)
    return paths
