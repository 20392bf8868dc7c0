"""Symmetry-constrained atomic parameters: free coordinates and ADPs from the site symmetry (checked against the
Wyckoff positions of the International Tables vol. A and Peterse & Palm's ADP rules), mixed sites, bond
restraints and tables (distances against pymatgen)."""

import lmfit
import numpy as np
import pytest

from refine.crystal.lattice import Lattice
from refine.crystal.positions import adp_constraint, bond_table, coordinate_constraint
from refine.crystal.spacegroup import space_group
from refine.crystal.structure import CrystalStructure, Site
from refine.errors import InputError
from refine.fit import Objective
from refine.fit.parameters import StructureParameters, bond_restraint
from refine.io.structures import read_structure
from tests.conftest import data_file

HEX = Lattice(8.728, 8.728, 21.804, 90, 90, 120)


@pytest.mark.parametrize(("xyz", "free"), [
    ((0.0, 0.0, 0.1474), (2,)),         # 12c (0, 0, z)
    ((0.2953, 0.0, 0.25), (0,)),        # 18e (x, 0, 1/4)
    ((0.0, 0.0, 0.0), ()),              # 6b (0, 0, 0)
    ((0.0224, 0.1906, 0.9127), (0, 1, 2)),  # 36f general
])
def test_r3c_free_coordinates(xyz, free):
    rule = coordinate_constraint(space_group("R-3c"), np.array(xyz), HEX)
    assert rule.pivots == free


def test_dependent_coordinate_expression():
    # P-3m1 6i (x, -x, z): y follows x with coefficient -1.
    lat = Lattice(4.0, 4.0, 6.0, 90, 90, 120)
    s = CrystalStructure("t", lat, space_group("P-3m1"), sites=(Site("A", "O", (0.17, -0.17, 0.3)),))
    sp = StructureParameters(s, "t")
    p = sp.parameters()
    assert "t_A_x" in p and "t_A_z" in p and p["t_A_y"].expr
    p["t_A_x"].set(value=0.2)
    assert p["t_A_y"].value == pytest.approx(-0.2, abs=1e-12)
    # Moving along the free directions keeps the site on its 6-fold Wyckoff position.
    assert len(sp.expanded(p, lat)) == 6


def test_adp_on_threefold_axis():
    # Point symmetry 3 (12c of R-3c): U11 = U22 = 2 U12, U13 = U23 = 0 (Peterse & Palm 1966).
    rule = adp_constraint(space_group("R-3c"), np.array([0.0, 0.0, 0.1474]), HEX)
    assert rule.pivots == (0, 2)
    u11, u33 = 0.01, 0.02
    u = np.zeros(6)
    for k, p in enumerate(rule.pivots):
        u += rule.rows[k] * (u11 if p == 0 else u33)
    assert u == pytest.approx([u11, u11, u33, u11 / 2, 0.0, 0.0], abs=1e-12)


def test_mixed_site_shares_position_and_total_occupancy():
    lat = Lattice(4.2, 4.2, 4.2, 90, 90, 90)
    sites = (Site("V1", "V", (0.1, 0.1, 0.1), 0.5, uiso=0.01), Site("Cr1", "Cr", (0.1, 0.1, 0.1), 0.3),
             Site("Fe1", "Fe", (0.1, 0.1, 0.1), 0.2))
    sp = StructureParameters(CrystalStructure("m", lat, space_group("P1"), sites=sites), "m")
    p = sp.parameters()
    assert p["m_Cr1_x"].expr == "m_V1_x" and p["m_Fe1_uiso"].expr == "m_V1_uiso"
    p["m_V1_occ"].set(value=0.6)
    assert p["m_Fe1_occ"].value == pytest.approx(1.0 - 0.6 - 0.3)
    assert sp.free_names("occupancy") == ["m_V1_occ", "m_Cr1_occ"]


def test_expanded_atoms_match_structure_expand():
    s = read_structure(data_file("Na3V2PO43_NASICON.cif"))
    sp = StructureParameters(s, "n")
    atoms = sp.expanded(sp.parameters(), s.lattice)
    ref = s.expand()
    assert len(atoms) == len(ref) == 126
    key = lambda xyz: np.lexsort(np.round(xyz, 6).T)  # noqa: E731
    assert np.allclose(atoms.xyz[key(atoms.xyz)], ref.xyz[key(ref.xyz)], atol=1e-9)


def test_bond_table_and_restraint_against_pymatgen():
    mg = pytest.importorskip("pymatgen.core")
    cif = data_file("PbSO4.cif")
    s = read_structure(cif)
    table = bond_table(s, "S", max_distance=1.7)
    pmg = mg.Structure.from_file(cif)
    centre = next(site for site in pmg if site.specie.symbol == "S")
    ref = sorted(n.nn_distance for n in pmg.get_neighbors(centre, 1.7))
    assert [b["distance"] for b in table["bonds"]] == pytest.approx(ref, abs=1e-6)
    assert len(table["bonds"]) == 4  # a sulfate tetrahedron
    tetra = [a["angle"] for a in table["angles"]]
    assert 100 < min(tetra) and max(tetra) < 120
    sp = StructureParameters(s, "pb")
    from refine.fit.parameters import lattice_parameters

    params = lmfit.Parameters()
    params.update(lattice_parameters("pb", s.space_group, s.lattice))
    params.update(sp.parameters())
    restraint = bond_restraint(sp, params, ("S", "O1"), target=1.47, sigma=0.01)
    row = Objective.__new__(Objective)
    object.__setattr__(row, "restraints", (restraint,))
    d_s_o1 = min(b["distance"] for b in bond_table(s, "S", 1.7)["bonds"] if b["to"] == "O1")
    assert Objective.restraint_rows(row, params)[0] == pytest.approx((d_s_o1 - 1.47) / 0.01, abs=1e-6)
    with pytest.raises(InputError):
        bond_table(s, "Xx")


def test_start_adps_breaking_site_symmetry_are_projected():
    """A hexagonal site on a 3-fold axis given U11 = U22, U12 = 0 (a PDFfit .stru habit) breaks its site symmetry
    (U12 = U11/2 there): the start is averaged over the stabiliser, so the refined tensor obeys the symmetry with no
    constant offset; an allowed tensor is left as it is."""
    from refine.crystal.positions import symmetrize_adp

    sg, lat = space_group("P63mc"), Lattice(4.3, 4.3, 7.0, 90, 90, 120)
    xyz = np.array([1 / 3, 2 / 3, 0.0])
    bad = np.array([[0.014, 0.0, 0.0], [0.0, 0.014, 0.0], [0.0, 0.0, 0.02]])
    good = symmetrize_adp(sg, xyz, lat, bad)
    assert good[0, 1] == pytest.approx(good[0, 0] / 2, abs=1e-15) and good[2, 2] == pytest.approx(0.02)
    np.testing.assert_allclose(symmetrize_adp(sg, xyz, lat, good), good, atol=1e-15)
    structure = CrystalStructure(name="cdse", lattice=lat, space_group=sg,
                                 sites=(Site(label="Cd1", element="Cd", xyz=tuple(xyz), occupancy=1.0,
                                             uaniso=tuple(map(tuple, bad))),))
    params = StructureParameters(structure, "p").parameters()
    params["p_Cd1_u11"].set(value=0.03)
    params.update_constraints()
    assert params["p_Cd1_u12"].value == pytest.approx(0.015, abs=1e-12)
    assert params["p_Cd1_u22"].value == pytest.approx(0.03, abs=1e-12)
