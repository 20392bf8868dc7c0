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



@pytest.mark.parametrize(("name", "ratio"), [("LaMnO3.stru", 4.5), ("CdSe_wurtzite.stru", 1.6),
                                             ("Na3V2PO43_NASICON.cif", 20.0)])
def test_symmetry_reduced_pairs_give_the_full_sum(name, ratio):
    """A crystalline phase lists pairs from one atom per symmetry orbit: G(r) equals the full double sum's (orbits
    off) to 1e-12 of its size and every Jacobian column (cell, coordinates, ADPs through the constraints that keep
    the symmetry) to 1e-9 (the structure tangents are central differences good to ~1e-10), at coordinates and ADPs
    moved off the file's, with ``ratio`` times fewer pairs than the full list."""
    from refine.data import Pattern
    from refine.pdf.fitting import PDFFitSettings, PhaseInput, build_model
    from refine.pdf.pairs import NeighbourList
    from tests.conftest import data_file

    r = np.round(np.arange(150, 1501) * 0.01, 10)
    fm = build_model(Pattern.from_arrays(r, np.zeros_like(r), unit="r_A"),
                     [PhaseInput.load(data_file(name), prefix="p", refine_structure=True)],
                     PDFFitSettings(qmax=24.0, radiation="xray", rmin=1.5, rmax=15.0))
    params = fm.params
    rng = np.random.default_rng(4)
    for key, par in params.items():
        if par.vary and not par.expr and key.endswith(("_x", "_y", "_z")):
            par.set(value=par.value + rng.normal(0.0, 0.004))
        elif key.endswith(("_uiso", "_u11", "_u33")) and not par.expr:
            par.set(value=par.value * (1.0 + 0.3 * rng.random()) + 0.002, vary=True)
    params["p_delta2"].set(value=1.2, vary=True)
    params.update_constraints()
    phase = fm.phases[0]
    out = {}
    for key, nl in (("reduced", phase.neighbours), ("full", NeighbourList(compiled=True))):
        object.__setattr__(phase, "neighbours", nl)
        out[key] = (fm.model(params), fm.jacobian(params), len(nl._state[4]), nl.reduced)
    (g, jac, n_red, reduced), (g_full, jac_full, n_full, _) = out["reduced"], out["full"]
    assert reduced and n_full >= ratio * n_red
    assert np.max(np.abs(g - g_full)) <= 1e-12 * np.max(np.abs(g_full))
    varying = [k for k, p in params.items() if p.vary]
    assert {"p_a", "p_c"} <= set(varying) and any(k.endswith(("_x", "_y", "_z")) for k in varying)
    for k, key in enumerate(varying):
        col = jac_full[:, k]
        assert np.max(np.abs(jac[:, k] - col)) <= 1e-9 * np.max(np.abs(col)), key


def test_orbits_that_are_not_symmetric_keep_the_full_list():
    """Orbit labels claimed for atoms that are not images of each other (a distorted cell): the moment check finds
    the reduced sums unequal and the list stays whole, so G(r) is the full sum's."""
    from refine.pdf.calculate import PDFSettings, direct_gr
    from refine.pdf.pairs import NeighbourList

    rng = np.random.default_rng(5)
    xyz = np.array([(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)]) + rng.normal(0, 0.02, (4, 3))
    s = PDFStructure(lattice=(3.52, 3.55, 3.5, 90, 91, 90), xyz=xyz, elements=("Ni",) * 4, occupancy=np.ones(4),
                     u=np.full(4, 0.003))
    nl = NeighbourList(orbits=np.zeros(4, dtype=int))
    r = np.round(np.arange(150, 1001) * 0.01, 10)
    settings = PDFSettings(qmax=25.0)
    g = direct_gr(s, r, settings, neighbours=nl)
    assert not nl.reduced
    np.testing.assert_allclose(g, direct_gr(s, r, settings), rtol=0, atol=1e-12 * np.max(np.abs(g)))
