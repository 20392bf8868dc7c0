"""Structure expansion against gemmi and diffpy.structure: special positions, multiplicities, U tensors."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

from refine.crystal.lattice import Lattice
from refine.crystal.spacegroup import space_group
from refine.crystal.structure import CrystalStructure, Site, site_uaniso, u_equivalent
from refine.io.structures import read_structure
from tests.conftest import data_file


def _same_positions(ours: np.ndarray, ref: np.ndarray, cart: np.ndarray, tol: float = 2e-3) -> bool:
    """Both sets of fractional positions coincide (periodically) within tol Å."""
    if len(ours) != len(ref):
        return False
    diff = ours[:, None, :] - ref[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ cart.T, axis=2)
    return bool((dist.min(axis=1) < tol).all() and (dist.min(axis=0) < tol).all())


@pytest.mark.parametrize(
    ("name", "multiplicities"),
    [("Na3V2PO43_NASICON.cif", (18, 6, 12, 18, 36, 36)),
     ("TiO2_anatase.cif", (4, 8)),
     ("TiO2_rutile.cif", (2, 4)),
     ("Al2O3_corundum.cif", (12, 18)),
     ("Si.cif", (8,)),
     ("PbSO4.cif", (4, 4, 4, 4, 8))],
)
def test_expansion_matches_gemmi_and_the_wyckoff_multiplicities(name, multiplicities):
    path = data_file(name)
    phase = read_structure(path)
    assert phase.multiplicities() == multiplicities  # the Wyckoff multiplicities (ITA)
    atoms = phase.expand()
    small = gemmi.read_small_structure(str(path))
    ref = np.array([list(s.fract.tolist()) for s in small.get_all_unit_cell_sites()])
    assert _same_positions(atoms.xyz, ref, phase.lattice.cartesian)
    assert np.all((atoms.xyz >= 0) & (atoms.xyz < 1))


def test_anisotropic_u_expansion_matches_diffpy():
    """U^ij of every image equals diffpy.structure's expansion (monoclinic cell, general position)."""
    from diffpy.structure.spacegroups import GetSpaceGroup
    from diffpy.structure.symmetryutilities import ExpandAsymmetricUnit

    lat = Lattice(7.2, 5.9, 9.1, 90, 106.3, 90)
    u = np.array([[0.012, 0.0, 0.003], [0.0, 0.020, 0.0], [0.003, 0.0, 0.015]])  # 2-fold along b allows these
    u_general = np.array([[0.012, 0.002, 0.003], [0.002, 0.020, -0.001], [0.003, -0.001, 0.015]])
    sites = (Site("M", "Fe", (0.0, 0.3, 0.25), uaniso=u), Site("O", "O", (0.21, 0.13, 0.07), uaniso=u_general))
    phase = CrystalStructure("t", lat, space_group("C2/c"), sites)
    atoms = phase.expand()
    assert phase.multiplicities() == (4, 8)
    eau = ExpandAsymmetricUnit(GetSpaceGroup("C2/c"), [s.xyz for s in sites], [s.uaniso for s in sites])
    for k in range(2):
        ref_xyz = np.array(eau.expandedpos[k])
        ref_u = np.array(eau.expandedUijs[k])
        ours = np.flatnonzero(atoms.site_index == k)
        for i in ours:
            diff = ref_xyz - atoms.xyz[i]
            diff -= np.round(diff)
            j = int(np.argmin(np.linalg.norm(diff, axis=1)))
            assert np.allclose(atoms.uaniso[i], ref_u[j], atol=1e-12)


def test_isotropic_u_tensor_and_ueq_round_trip():
    lat = Lattice(5.1, 6.3, 7.7, 81.0, 97.5, 103.2)
    u = site_uaniso(Site("A", "Na", (0.1, 0.2, 0.3), uiso=0.0137), lat)
    assert u_equivalent(u, lat) == pytest.approx(0.0137, rel=1e-12)
    # the Cartesian tensor of an isotropic U is Uiso * identity
    a_cart = lat.cartesian
    n = np.diag(lat.reciprocal_lengths)
    assert np.allclose(a_cart @ n @ u @ n @ a_cart.T, 0.0137 * np.eye(3), atol=1e-12)


def test_special_positions_merge_and_empty_structure():
    sg = space_group("Fm-3m")
    lat = Lattice(4.642, 4.642, 4.642)
    phase = CrystalStructure("drs", lat, sg, (Site("Na", "Na", (0, 0, 0), 0.5), Site("V", "V3+", (0, 0, 0), 0.5),
                                               Site("O", "O2-", (0.5, 0.5, 0.5))))
    assert phase.multiplicities() == (4, 4, 4)
    assert phase.sites[1].symbol == "V"
    empty = CrystalStructure("lebail", lat, sg)
    assert len(empty.expand()) == 0 and empty.multiplicities() == ()


def test_stru_reduced_to_asymmetric_unit():
    phase = read_structure(data_file("LaMnO3.stru"))  # every atom of the cell listed, spcgr Pbnm
    assert phase.space_group.symbol == "Pbnm" and phase.multiplicities() == (4, 4, 4, 8)
    assert len(phase.expand()) == 20
