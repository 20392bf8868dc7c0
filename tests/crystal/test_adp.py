"""ADP conversions (refine.crystal.adp): B <-> U, isotropic tensors, Ueq and Cartesian U."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

from refine.crystal.adp import B_TO_U, b_from_u, iso_tensor, u_cartesian, u_equivalent, u_from_b
from refine.crystal.lattice import Lattice

TRICLINIC = Lattice(5.1, 6.3, 7.7, 81.0, 97.5, 103.2)


def test_b_and_u():
    assert u_from_b(8.0 * np.pi**2) == pytest.approx(1.0, rel=1e-15)
    assert b_from_u(0.01) == pytest.approx(0.01 * 8.0 * np.pi**2, rel=1e-15)
    assert B_TO_U == pytest.approx(0.012665147955292222, rel=1e-15)
    assert np.allclose(u_from_b(np.array([1.0, 2.0])), [B_TO_U, 2 * B_TO_U], rtol=1e-15, atol=0)


def test_isotropic_tensor_is_isotropic_in_cartesian_axes_and_its_ueq_is_uiso():
    u = 0.0123 * iso_tensor(TRICLINIC)
    assert np.allclose(u_cartesian(u, TRICLINIC), 0.0123 * np.eye(3), rtol=0, atol=1e-15)
    assert u_equivalent(u, TRICLINIC) == pytest.approx(0.0123, rel=1e-12)


def test_lattice_basis_is_gemmis_orthogonalization():
    # a along x and b in the xy plane, as gemmi (and PDFfit2, diffpy) put it
    cell = gemmi.UnitCell(*TRICLINIC.as_tuple())
    assert np.allclose(np.array(cell.orth.mat), TRICLINIC.cartesian, rtol=0, atol=1e-12)


def test_ueq_is_a_third_of_the_cartesian_trace():
    # two routes: Fischer & Tillmanns' sum over U^ij a*_i a*_j G_ij, and the trace of M U M^T
    u = np.array([[0.011, 0.002, -0.003], [0.002, 0.017, 0.004], [-0.003, 0.004, 0.023]])
    assert u_equivalent(u, TRICLINIC) == pytest.approx(np.trace(u_cartesian(u, TRICLINIC)) / 3.0, rel=1e-12)
    stacked = u_equivalent(np.stack([u, 2 * u]), TRICLINIC)
    assert stacked.shape == (2,) and stacked[1] == pytest.approx(2 * stacked[0], rel=1e-14)
