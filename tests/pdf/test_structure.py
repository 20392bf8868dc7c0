"""PDFStructure: conversion from diffpy.structure, ADP conventions, supercells, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from refine.errors import InputError
from refine.pdf.pairs import element_of
from refine.pdf.structure import PDFStructure
from tests.conftest import data_file
from tests.pdf.conftest import rocksalt_diffpy


def test_load_pdffit_stru_file():
    ni = PDFStructure.load(data_file("Ni.stru"))
    assert ni.natoms == 4
    assert ni.lattice == pytest.approx((3.52, 3.52, 3.52, 90, 90, 90))
    np.testing.assert_allclose(ni.uiso, 0.0025, rtol=1e-12)
    assert ni.volume == pytest.approx(3.52**3, rel=1e-12)


def test_load_cif():
    si = PDFStructure.load(data_file("Si.cif"))
    assert si.natoms == 8  # diamond structure, expanded from the one 8a site
    assert {element_of(e) for e in si.elements} == {"Si"}
    nacl = PDFStructure.load(data_file("NaCl.cif"))
    assert nacl.natoms == 8 and {element_of(e) for e in nacl.elements} == {"Na", "Cl"}  # the CIF writes "Na1+"


def test_isotropic_u_in_a_hexagonal_cell_is_isotropic_in_cartesian_space():
    """Uiso given as a number must become U_ij = Uiso g*_ij/(a*_i a*_j); diffpy.structure does the same."""
    from diffpy.structure import Atom, Lattice

    s = PDFStructure(lattice=(3.0, 3.0, 5.0, 90, 90, 120), xyz=[(1 / 3, 2 / 3, 0.25)], elements=("Zn",),
                     occupancy=[1.0], u=[0.012])
    np.testing.assert_allclose(s.u_cartesian[0], 0.012 * np.eye(3), atol=1e-15)
    assert s.isotropic.all()
    atom = Atom("Zn", (1 / 3, 2 / 3, 0.25), lattice=Lattice(3.0, 3.0, 5.0, 90, 90, 120))
    atom.Uisoequiv = 0.012
    np.testing.assert_allclose(s.u[0], atom.U, atol=1e-15)


def test_supercell_keeps_density_and_adps():
    cell = PDFStructure.from_diffpy(rocksalt_diffpy())
    big = cell.supercell(2, 3, 1)
    assert big.natoms == 48
    assert big.volume == pytest.approx(6 * cell.volume, rel=1e-12)
    np.testing.assert_allclose(big.u_cartesian[:8], cell.u_cartesian, atol=1e-15)
    # the Cartesian positions of the first cell are unchanged
    np.testing.assert_allclose(big.positions[:8], cell.positions, atol=1e-12)


def test_bad_structures_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        PDFStructure.load(tmp_path / "missing.cif")
    bad = tmp_path / "bad.cif"
    bad.write_text("this is not a cif\n")
    with pytest.raises(InputError):
        PDFStructure.load(bad)
    with pytest.raises(InputError, match="element symbols"):
        PDFStructure(lattice=(3, 3, 3, 90, 90, 90), xyz=[(0, 0, 0)], elements=("Ni", "O"), occupancy=[1], u=[0.01])
    with pytest.raises(InputError, match="occupancies"):
        PDFStructure(lattice=(3, 3, 3, 90, 90, 90), xyz=[(0, 0, 0)], elements=("Ni",), occupancy=[-1], u=[0.01])
    with pytest.raises(InputError, match="cell"):
        PDFStructure(lattice=(3, 3, 3, 10, 10, 150), xyz=[(0, 0, 0)], elements=("Ni",), occupancy=[1], u=[0.01])


def test_load_goes_through_the_structure_readers(tmp_path):
    """PDF phases read every structure format refine reads, with the same symmetry handling: a CIF naming
    'F d -3 m :2' gives the 8-atom diamond cell (diffpy alone cannot read it), and a GSAS .EXP phase loads."""
    from tests.io.test_structures import SI_ORIGIN2

    path = tmp_path / "si.cif"
    path.write_text(SI_ORIGIN2)
    si = PDFStructure.load(path)
    assert si.natoms == 8 and set(si.elements) == {"Si"}
    d = si.xyz[1:] - si.xyz[0]
    d -= np.round(d)
    assert np.min(np.linalg.norm(d @ si.base, axis=1)) == pytest.approx(5.4309 * 3**0.5 / 4)
    from tests.io.test_gsas_exp import CORUNDUM, exp_text

    exp = tmp_path / "corundum.EXP"
    exp.write_text(exp_text(CORUNDUM), newline="")
    corundum = PDFStructure.load(exp)
    counts = {el: sum(element_of(e) == el for e in corundum.elements) for el in ("Al", "O")}
    assert counts == {"Al": 12, "O": 18}  # Al2O3, Z = 6 on hexagonal axes
