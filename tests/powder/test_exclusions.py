"""Excluded regions from a phase's own reflections (the Cu current collector of the DOMAIN's ex situ patterns):
positions from its cell at the wavelength used, never hard-coded angles."""

import numpy as np
import pytest

from refine.errors import InputError
from refine.instrument import Instrument
from refine.io.structures import structure_from_cell
from refine.powder.model import line_exclusions

CU = structure_from_cell("Fm-3m", "3.615 3.615 3.615 90 90 90", name="cu")


@pytest.mark.parametrize("lam", [0.1173, 0.17])
def test_cu_lines_at_two_wavelengths(lam):
    """Cu 111/200/220 at d = a/sqrt(3), a/2, a/sqrt(8): 2θ = 2 asin(λ/2d) inside an excluded window each; the
    DOMAIN's ≈4.6°/5.3° at ≈0.17 Å come out of the cell, not a table."""
    regions = line_exclusions(CU, Instrument.synchrotron(lam), 1.0, 12.0, halfwidth=0.1)
    for d in (3.615 / np.sqrt(3), 3.615 / 2, 3.615 / np.sqrt(8)):
        tth = np.degrees(2 * np.arcsin(lam / (2 * d)))
        assert any(lo <= tth - 0.1 + 1e-12 and tth + 0.1 - 1e-12 <= hi for lo, hi in regions), tth
    if lam == 0.17:
        centres = [0.5 * (lo + hi) for lo, hi in regions[:2]]
        assert centres == pytest.approx([4.68, 5.39], abs=0.02)
    assert all(b > a for a, b in regions) and all(regions[i][1] < regions[i + 1][0] for i in range(len(regions) - 1))


def test_doublet_excludes_both_lines_and_merges_overlaps():
    pytest.importorskip("pymatgen")  # Instrument.lab takes the Cu Kα lines from pymatgen's table
    lab = Instrument.lab("Cu")
    wide = line_exclusions(CU, lab, 20.0, 100.0, halfwidth=0.5)
    narrow = line_exclusions(CU, lab, 20.0, 100.0, halfwidth=0.01)
    assert len(narrow) == 2 * len(wide)  # Kα1/Kα2 resolved when narrow, merged when wide
    with pytest.raises(InputError, match="half-width"):
        line_exclusions(CU, lab, 20.0, 100.0, halfwidth=0.0)
