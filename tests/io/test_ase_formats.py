"""DFT/MD supercells through ASE: POSCAR written by pymatgen, extended XYZ and AtomEye CFG written by ASE, read
back by refine and compared with what the writers were given; G(r) of a POSCAR against the same cell as a
pymatgen CIF; bad input names the file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymatgen.core import Lattice as PmgLattice
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar
from scipy.spatial.transform import Rotation

from refine.crystal.structure import CrystalStructure
from refine.errors import InputError
from refine.io.structures import read_structure
from refine.pdf.calculate import PDFSettings, direct_gr
from refine.pdf.structure import PDFStructure

A_DRS = 4.642  # DRS-NVO rock-salt cell (DOMAIN.md §1), Å
CELL_TOL = 1e-10  # Å and degrees: the writers keep these digits
POS_TOL = 1e-8  # Å


def _drs_supercell(seed: int = 11) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A 2x2x2 rock-salt Na/V/O supercell (64 atoms, Na19 V13 O32) with 10 atoms displaced by ~0.1 Å.

    Fractional coordinates are wrapped to [0, 1) and rounded to the 7 significant digits the ASE CFG writer
    keeps ('%e'), and the cell is exact in its 6 decimals ('%f'), so every writer stores the input losslessly.
    Returns the cell (rows are vectors, Å), species sorted by element, and fractional coordinates.
    """
    rng = np.random.default_rng(seed)
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    shifts = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)], dtype=float)
    cations = ((fcc[None, :, :] + shifts[:, None, :]) / 2.0).reshape(-1, 3)
    anions = ((fcc[None, :, :] + [0.5, 0.0, 0.0] + shifts[:, None, :]) / 2.0).reshape(-1, 3)
    species = list(rng.permutation(["Na"] * 19 + ["V"] * 13)) + ["O"] * 32
    frac = np.vstack([cations, anions])
    cell = np.eye(3) * 2 * A_DRS
    moved = rng.choice(len(frac), size=10, replace=False)
    frac[moved] += rng.normal(0.0, 0.1, (10, 3)) / (2 * A_DRS)
    frac = np.array([[float(f"{v:e}") for v in row] for row in np.mod(frac, 1.0)])
    order = np.argsort(species, kind="stable")
    return cell, [species[i] for i in order], frac[order]


def _triclinic_rotated(seed: int = 5) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A triclinic Na2VO3-like cell (a 7.1, b 8.3, c 9.6 Å; 81.3°, 97.4°, 112.6°) turned by a random rotation, so
    no vector lies along x (not the cellpar orientation refine's Lattice uses)."""
    rng = np.random.default_rng(seed)
    standard = PmgLattice.from_parameters(7.1, 8.3, 9.6, 81.3, 97.4, 112.6).matrix
    cell = np.round(standard @ Rotation.random(random_state=seed).as_matrix().T, 6)
    species = ["Na"] * 6 + ["V"] * 3 + ["O"] * 9
    frac = np.array([[float(f"{v:e}") for v in row] for row in rng.random((len(species), 3))])
    return cell, species, frac


def _assert_same(structure: CrystalStructure, cell: np.ndarray, species: list[str], frac: np.ndarray) -> None:
    """refine's structure against the writer's input: cell, species in order, Cartesian positions mod lattice."""
    lengths = np.linalg.norm(cell, axis=1)
    cosines = [cell[1] @ cell[2] / (lengths[1] * lengths[2]), cell[0] @ cell[2] / (lengths[0] * lengths[2]),
               cell[0] @ cell[1] / (lengths[0] * lengths[1])]
    expected = (*lengths, *np.degrees(np.arccos(cosines)))
    assert structure.lattice.as_tuple() == pytest.approx(expected, abs=CELL_TOL)
    np.testing.assert_allclose(structure.lattice.metric, cell @ cell.T, atol=CELL_TOL * 100)
    assert structure.space_group.number == 1 and len(structure.space_group) == 1
    assert [s.element for s in structure.sites] == species
    counts: Counter[str] = Counter()
    for site in structure.sites:
        counts[site.element] += 1
        assert site.label == f"{site.element}{counts[site.element]}" and site.occupancy == 1.0
    # refine's fractional coordinates placed in the writer's own cell vectors, compared modulo a lattice vector
    read = np.array([s.xyz for s in structure.sites])
    assert np.all((read >= 0) & (read < 1))
    dfrac = read - frac
    dfrac -= np.round(dfrac)
    assert np.max(np.linalg.norm(dfrac @ cell, axis=1)) < POS_TOL


def _min_image_distances(structure: CrystalStructure) -> np.ndarray:
    """All pair distances (Å) in refine's Cartesian frame, the nearest of the 27 images around the reduced
    difference (exact for cells whose angles lie within 60-120 degrees)."""
    xyz = np.array([s.xyz for s in structure.sites])
    dfrac = xyz[:, None, :] - xyz[None, :, :]
    dfrac -= np.round(dfrac)
    images = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float)
    cart = (dfrac[:, :, None, :] + images[None, None, :, :]) @ structure.lattice.cartesian.T
    return np.linalg.norm(cart, axis=3).min(axis=2)


def _write_poscar(path: Path, cell: np.ndarray, species: list[str], frac: np.ndarray) -> Structure:
    structure = Structure(PmgLattice(cell), species, frac)
    Poscar(structure).write_file(path)
    return structure


def test_poscar_written_by_pymatgen(tmp_path):
    cell, species, frac = _drs_supercell()
    _write_poscar(tmp_path / "POSCAR", cell, species, frac)
    structure = read_structure(tmp_path / "POSCAR")
    _assert_same(structure, cell, species, frac)
    assert structure.name == "POSCAR" and all(s.uiso is None for s in structure.sites)
    assert Counter(species) == {"Na": 19, "V": 13, "O": 32}


@pytest.mark.parametrize("name", ["CONTCAR", "POSCAR_relaxed", "CONTCAR.1", "relaxed.vasp", "Na3V2O5.poscar"])
def test_vasp_names_with_and_without_suffix(tmp_path, name):
    cell, species, frac = _triclinic_rotated()
    _write_poscar(tmp_path / name, cell, species, frac)
    _assert_same(read_structure(tmp_path / name), cell, species, frac)


def test_extxyz_and_cfg_written_by_ase(tmp_path):
    cell, species, frac = _drs_supercell(seed=3)
    atoms = ase.Atoms(species, scaled_positions=frac, cell=cell, pbc=True)
    for name in ("supercell.xyz", "supercell.extxyz", "supercell.cfg"):
        ase.io.write(tmp_path / name, atoms)
        _assert_same(read_structure(tmp_path / name), cell, species, frac)


def test_triclinic_cell_in_a_turned_orientation(tmp_path):
    """Cell vectors along no axis: the metric, the distances and the fractional coordinates survive."""
    cell, species, frac = _triclinic_rotated(seed=9)
    assert abs(cell[0, 1]) > 0.1 and abs(cell[0, 2]) > 0.1
    atoms = ase.Atoms(species, scaled_positions=frac, cell=cell, pbc=True)
    ase.io.write(tmp_path / "md.extxyz", atoms)
    ase.io.write(tmp_path / "md.cfg", atoms)
    _write_poscar(tmp_path / "CONTCAR", cell, species, frac)
    for name in ("md.extxyz", "md.cfg", "CONTCAR"):
        structure = read_structure(tmp_path / name)
        _assert_same(structure, cell, species, frac)
        # interatomic distances (minimum image) in refine's own Cartesian frame equal ASE's
        np.testing.assert_allclose(_min_image_distances(structure), atoms.get_all_distances(mic=True), atol=POS_TOL)


def test_displacements_from_uiso_and_biso_columns(tmp_path):
    cell, species, frac = _triclinic_rotated()
    u = np.round(np.linspace(0.004, 0.02, len(species)), 6)
    atoms = ase.Atoms(species, scaled_positions=frac, cell=cell, pbc=True)
    atoms.set_array("uiso", u)
    ase.io.write(tmp_path / "u.extxyz", atoms)
    ase.io.write(tmp_path / "u.cfg", atoms)
    for name in ("u.extxyz", "u.cfg"):
        assert [s.uiso for s in read_structure(tmp_path / name).sites] == pytest.approx(u, abs=1e-12)
    atoms = ase.Atoms(species, scaled_positions=frac, cell=cell, pbc=True)
    b = np.round(u * 8 * np.pi**2, 6)  # the extended-XYZ writer keeps 8 decimals
    atoms.set_array("Biso", b)
    ase.io.write(tmp_path / "b.extxyz", atoms)
    # B = 8 pi^2 U (Willis & Pryor 1975)
    assert [s.uiso for s in read_structure(tmp_path / "b.extxyz").sites] == pytest.approx(b / (8 * np.pi**2),
                                                                                          rel=1e-12)


def test_gr_of_poscar_equals_gr_of_pymatgen_cif(tmp_path):
    """The same supercell through POSCAR (ASE) and CIF (diffpy) gives the same G(r) from direct_gr."""
    cell, species, frac = _drs_supercell(seed=21)
    structure = _write_poscar(tmp_path / "POSCAR", cell, species, frac)
    CifWriter(structure, significant_figures=16).write_file(tmp_path / "supercell.cif")
    from_poscar = PDFStructure.load(tmp_path / "POSCAR")
    from_cif = PDFStructure.load(tmp_path / "supercell.cif")
    assert from_poscar.natoms == from_cif.natoms == 64
    r = np.arange(1.0, 15.0, 0.01)
    settings = PDFSettings(qmax=25.0, qdamp=0.03, delta2=1.5, uiso={"Na": 0.012, "V": 0.006, "O": 0.009})
    g_poscar = direct_gr(from_poscar, r, settings)
    g_cif = direct_gr(from_cif, r, settings)
    assert np.max(np.abs(g_poscar)) > 1.0
    assert np.max(np.abs(g_poscar - g_cif)) < 1e-9 * np.max(np.abs(g_cif))


_POSCAR = "Na O\n{scale}\n{a}\n0 4 0\n0 0 4\nNa O\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n"
_BAD = {
    "POSCAR": "",
    "CONTCAR": "this is not\na POSCAR\n",
    "empty.xyz": "",
    "garbage.extxyz": "hello\nworld\n",
    "molecule.xyz": "2\nNaO molecule\nNa 0 0 0\nO 2.3 0 0\n",
    "empty.cfg": "",
    "garbage.cfg": "Number of particles = 2\nA = 1.0 Angstrom\nNa 0 0 0\n",
    "flat.xyz": '2\nLattice="4 0 0 0 4 0 0 0 0" Properties=species:S:1:pos:R:3\nNa 0 0 0\nO 2 2 0\n',
    "POSCAR_zero": _POSCAR.format(scale="0.0", a="4 0 0"),
    "POSCAR_flat": _POSCAR.format(scale="1.0", a="0 4 0"),
    "POSCAR_left": _POSCAR.format(scale="1.0", a="-4 0 0"),
}


@pytest.mark.parametrize("name", sorted(_BAD))
def test_bad_files_name_the_file(tmp_path, name):
    path = tmp_path / name
    path.write_text(_BAD[name])
    with pytest.raises(InputError) as err:
        read_structure(path)
    assert err.value.source == str(path) and "\n" not in str(err.value)
    assert "cannot read" not in err.value.problem  # the file opens; its content is what is wrong


def test_xyz_without_lattice_says_a_cell_is_needed(tmp_path):
    path = tmp_path / "molecule.xyz"
    path.write_text(_BAD["molecule.xyz"])
    with pytest.raises(InputError, match="Lattice"):
        read_structure(path)


def test_pdfgetx3_cfg_is_not_a_structure(tmp_path):
    from tests.cli.test_pdf_reduce import PDFGETX3_CFG

    path = tmp_path / "Ni_cfg_file.cfg"
    path.write_text(PDFGETX3_CFG)
    with pytest.raises(InputError, match="AtomEye CFG") as err:
        read_structure(path)
    assert err.value.source == str(path)


def test_unknown_extension_lists_the_new_formats(tmp_path):
    path = tmp_path / "model.pdb"
    path.write_text("ATOM\n")
    with pytest.raises(InputError, match=r"\.vasp.*\.xyz.*\.cfg.*POSCAR"):
        read_structure(path)


@given(lengths=st.tuples(*[st.floats(3.0, 15.0)] * 3), angles=st.tuples(*[st.floats(60.0, 120.0)] * 3),
       turn=st.integers(0, 2**31 - 1))
def test_any_turned_cell_keeps_its_metric(tmp_path_factory, lengths, angles, turn):
    """Any cell with positive volume, in any orientation, reads back with its own lengths and angles."""
    try:
        standard = PmgLattice.from_parameters(*lengths, *angles).matrix
    except ValueError:
        return
    if not np.linalg.det(standard) > 1.0:
        return
    cell = standard @ Rotation.random(random_state=turn).as_matrix().T
    path = tmp_path_factory.mktemp("h") / "cell.extxyz"
    ase.io.write(path, ase.Atoms(["Na", "O"], scaled_positions=[[0, 0, 0], [0.3, 0.6, 0.9]], cell=cell, pbc=True))
    structure = read_structure(path)
    # the extended-XYZ writer keeps ~16 significant digits of each vector component
    np.testing.assert_allclose(structure.lattice.metric, cell @ cell.T, rtol=1e-9, atol=1e-9)


def test_pdf_fit_cli_with_a_fixed_contcar_phase(tmp_path):
    """``refine pdf fit G.gr --phase CONTCAR,fixed`` recovers the Uiso values and scale of a G(r) calculated from
    the same supercell (the fit sees the CONTCAR through read_structure)."""
    from refine.cli.main import main

    cell, species, frac = _drs_supercell(seed=21)
    _write_poscar(tmp_path / "CONTCAR", cell, species, frac)
    truth = {"Na": 0.012, "V": 0.006, "O": 0.009}
    r = np.round(np.arange(1.5, 12.0 + 1e-9, 0.01), 6)
    g = direct_gr(PDFStructure.load(tmp_path / "CONTCAR"), r,
                  PDFSettings(qmax=25.0, qdamp=0.03, delta2=1.5, scale=0.8, uiso=truth))
    np.savetxt(tmp_path / "drs.gr", np.column_stack([r, g]), fmt="%.10f")
    code = main(["pdf", "fit", str(tmp_path / "drs.gr"), "--phase", f"{tmp_path / 'CONTCAR'},fixed", "--qmax", "25",
                 "--qdamp", "0.03", "--json", str(tmp_path / "fit.json")])
    assert code == 0
    doc = json.loads((tmp_path / "fit.json").read_text())
    # the data carry 10 decimals of G: the fit must land on the generating values to ~1e-6
    assert doc["statistics"]["Rw"] < 1e-5 and doc["phases"][0]["space_group"] in (None, "P1")
    params = {k.split("_", 1)[1]: v["value"] for k, v in doc["parameters"].items() if k.startswith("contcar_")}
    assert {k[5:]: v for k, v in params.items() if k.startswith("uiso_")} == pytest.approx(truth, rel=1e-5)
    assert (params["scale"], params["delta2"], params["lattice_scale"]) == pytest.approx((0.8, 1.5, 1.0), rel=1e-5)
