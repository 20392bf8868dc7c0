"""Pair tables: neighbour counts against pymatgen, scattering powers against PDFfit2's tables."""

from __future__ import annotations

import numpy as np
import pytest

from refine.errors import InputError
from refine.pdf.pairs import PairTable, scattering_factor
from refine.pdf.structure import PDFStructure
from tests.pdf.conftest import rocksalt_diffpy


def test_fcc_coordination_shells():
    a = 3.52
    ni = PDFStructure(lattice=(a, a, a, 90, 90, 90), xyz=[(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)],
                      elements=("Ni",) * 4, occupancy=np.ones(4), u=np.full(4, 0.003))
    t = PairTable.build(ni, 6.0)
    per_atom = {round(d / a, 6): m / 4 for d, m in zip(t.distance, t.multiplicity, strict=True) if d < 6.0}
    # fcc shells: 12 at a/sqrt2, 6 at a, 24 at a*sqrt(3/2), 12 at a*sqrt2, 24 at a*sqrt(5/2)
    expected = {round(np.sqrt(x), 6): n for x, n in [(0.5, 12), (1.0, 6), (1.5, 24), (2.0, 12), (2.5, 24)]}
    assert per_atom == expected


def test_neighbour_counts_match_pymatgen_for_a_distorted_supercell():
    pymatgen = pytest.importorskip("pymatgen.core")
    rng = np.random.default_rng(3)
    cell = PDFStructure.from_diffpy(rocksalt_diffpy()).supercell(2, 2, 1)
    s = cell.replace(xyz=cell.xyz + rng.normal(0, 0.01, cell.xyz.shape), lattice=(11.3, 11.2, 5.7, 88, 91, 92))
    rmax = 9.0
    t = PairTable.build(s, rmax, scale_allowance=0.0)
    mine = np.sort(np.repeat(t.distance, np.round(t.multiplicity).astype(int)))
    mine = mine[mine <= rmax]
    pm = pymatgen.Structure(pymatgen.Lattice.from_parameters(*s.lattice), list(s.elements), s.xyz)
    theirs = np.sort(np.concatenate([[n.nn_distance for n in nb] for nb in pm.get_all_neighbors(rmax)]))
    assert len(mine) == len(theirs)
    np.testing.assert_allclose(mine, theirs, atol=1e-9)


def test_class_weights_and_scattering_powers():
    pdffit2 = pytest.importorskip("diffpy.pdffit2")
    pf = pdffit2.PdfFit()
    for el in ("Ni", "Na", "Cl", "O", "V", "Li", "Mn"):
        assert scattering_factor(el, "xray") == pf.get_scat("X", el)  # f(0) = number of electrons
        assert scattering_factor(el, "neutron") == pytest.approx(pf.get_scat("N", el), rel=0.02)
    assert scattering_factor("O2-", "xray") == 10.0
    assert scattering_factor("Fe3+", "xray") == 23.0
    t = PairTable.build(PDFStructure.from_diffpy(rocksalt_diffpy()), 5.0)
    w = dict(zip(t.classes, t.class_weights("xray"), strict=True))
    assert w["Na"] == pytest.approx(11 / 14) and w["Cl"] == pytest.approx(17 / 14)


def test_bad_species_and_classes():
    with pytest.raises(InputError, match="unknown element"):
        scattering_factor("Xx", "xray")
    cell = PDFStructure.from_diffpy(rocksalt_diffpy())
    with pytest.raises(InputError, match="mixes species"):
        PairTable.build(cell, 5.0, classes=["A"] * 8)
    with pytest.raises(InputError, match="class labels"):
        PairTable.build(cell, 5.0, classes=["A"])


@pytest.mark.parametrize("resolution", [1e-3, 1e-2])
def test_merged_entries_keep_first_and_second_moments(resolution):
    """Merging distances into bins keeps, per class pair, the total weight and the exact first and second moments
    of the distance distribution: sum w d and sum w (d² + spread) equal the unmerged table's sum w d and sum w d²."""
    rng = np.random.default_rng(5)
    cell = PDFStructure.from_diffpy(rocksalt_diffpy()).supercell(2, 1, 1)
    s = cell.replace(xyz=cell.xyz + rng.normal(0, 0.05, cell.xyz.shape) / np.array(cell.lattice[:3]))
    exact = PairTable.build(s, 8.0, resolution=1e-9)
    merged = PairTable.build(s, 8.0, resolution=resolution)
    assert np.all(exact.spread < 1e-15)
    assert merged.npairs < exact.npairs  # entries were merged
    for p in range(len(exact.pair_first)):
        e, m = exact.pair_index == p, merged.pair_index == p
        we, wm = exact.multiplicity[e], merged.multiplicity[m]
        de, dm = exact.distance[e], merged.distance[m]
        assert wm.sum() == pytest.approx(we.sum(), rel=1e-12)
        assert np.dot(wm, dm) == pytest.approx(np.dot(we, de), rel=1e-12)
        assert np.dot(wm, dm**2 + merged.spread[m]) == pytest.approx(np.dot(we, de**2), rel=1e-12)
    assert np.max(merged.spread) <= resolution**2 / 4 * (1 + 1e-9)  # a bin's variance: at most (width/2)²


def test_a_table_rebuilt_for_longer_distances_extends_the_old_one():
    a = 3.52
    ni = PDFStructure(lattice=(a, a, a, 90, 90, 90), xyz=[(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)],
                      elements=("Ni",) * 4, occupancy=np.ones(4), u=np.full(4, 0.003))
    small = PairTable.build(ni, 6.0)
    assert small.covering(small.dmax - 0.1) is small
    big = small.covering(12.0)
    assert big.dmax == 12.0 and big.classes == small.classes and big.resolution == small.resolution
    shared = big.distance <= small.dmax
    np.testing.assert_allclose(big.distance[shared], small.distance, rtol=1e-12)
    np.testing.assert_allclose(big.multiplicity[shared], small.multiplicity, rtol=1e-12)
