"""A synthetic operando series: NASICON (R-3c) whose a shrinks and c grows linearly with scan index (0.3 % over
the series), and a second NASICON-like phase (smaller cell) appearing half-way with a growing share.
Positions and intensities from pymatgen (independent of refine), Poisson noise with fixed seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from refine.io import write_pattern
from tests.conftest import data_file
from tests.powder.synthetic import pymatgen_peaks, simulate

WAVELENGTH = 0.72
PROFILE = {"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.002}
NSCANS = 8
A0, C0 = 8.728, 21.804
#: Relative change of a (negative) and c (positive) from the first to the last scan.
CHANGE = 0.003
#: Second phase: fixed cell, present from scan SECOND_FROM on with intensity share rising.
A2, C2 = 8.62, 21.62
SECOND_FROM = 4


def truth(index: int) -> tuple[float, float]:
    """True (a, c) of the main phase in scan ``index``."""
    t = index / (NSCANS - 1)
    return A0 * (1.0 - CHANGE * t), C0 * (1.0 + CHANGE * t)


def second_share(index: int) -> float:
    """Intensity of the second phase relative to the main one (0 before it appears)."""
    return 0.0 if index < SECOND_FROM else 0.25 * (index - SECOND_FROM + 1)


def grid() -> np.ndarray:
    return np.arange(6.0, 24.0, 0.006)  # 3000 points


def nasicon(a: float, c: float):
    mg = pytest.importorskip("pymatgen.core")
    structure = mg.Structure.from_file(str(data_file("Na3V2PO43_NASICON.cif")))
    structure.lattice = mg.Lattice.hexagonal(a, c)
    return structure


def simulate_scan(index: int, *, seed: int, cells=None):
    """The pattern of scan ``index`` (``cells`` overrides the main phase's (a, c))."""
    a, c = cells if cells is not None else truth(index)
    x = grid()
    rng = (x[0] - 0.5, x[-1] + 0.5)
    pos, inten = pymatgen_peaks(nasicon(a, c), WAVELENGTH, rng)
    share = second_share(index)
    if share:
        pos2, inten2 = pymatgen_peaks(nasicon(A2, C2), WAVELENGTH, rng)
        pos, inten = np.concatenate([pos, pos2]), np.concatenate([inten, share * inten2])
    return simulate(pos, inten, x, wavelength=WAVELENGTH, profile=PROFILE, counts=20000, background=300,
                    seed=seed)


def write_series(folder: Path, *, nscans: int = NSCANS) -> list[Path]:
    """Write scans as ``scan_<i>.xye`` (unpadded numbers: natural sorting matters) and return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(nscans):
        path = folder / f"scan_{i}.xye"
        write_pattern(simulate_scan(i, seed=100 + i), path)
        paths.append(path)
    return paths
