"""lmfit parameters of a crystal: the cell's crystal-system constraints as expressions (the site-symmetry
parameters are tested with their constraints in tests/crystal/test_positions.py)."""

from __future__ import annotations

import lmfit
import numpy as np
import pytest

from refine.crystal.lattice import Lattice
from refine.crystal.spacegroup import space_group
from refine.fit.parameters import lattice_from_parameters, lattice_parameters


def test_lmfit_parameters_carry_constraints():
    sg = space_group("Fm-3m")
    params = lattice_parameters("drs", sg, Lattice(4.642, 4.642, 4.642))
    assert params["drs_a"].vary and params["drs_b"].expr == "drs_a" and params["drs_c"].expr == "drs_a"
    assert not params["drs_alpha"].vary and params["drs_alpha"].value == 90.0
    params["drs_a"].set(value=4.7)
    params.update_constraints()
    assert lattice_from_parameters(params, "drs").as_tuple() == (4.7, 4.7, 4.7, 90.0, 90.0, 90.0)

    hexa = lattice_parameters("nvp", space_group("R-3c"), Lattice(8.728, 8.728, 21.804, 90, 90, 120))
    assert hexa["nvp_b"].expr == "nvp_a" and hexa["nvp_gamma"].value == 120.0 and hexa["nvp_c"].vary
    assert [n for n, p in hexa.items() if p.vary] == ["nvp_a", "nvp_c"]


def test_lmfit_fit_respects_constraints():
    """Fit a tetragonal cell to d-spacings: the expression keeps b = a throughout."""
    sg = space_group("I41/amd")
    truth = Lattice(3.7842, 3.7842, 9.5146)
    hkl = np.array([[1, 0, 1], [0, 0, 4], [2, 0, 0], [1, 0, 5], [2, 1, 1], [2, 0, 4], [1, 1, 6]])
    d_obs = truth.d_spacing(hkl)
    params = lattice_parameters("ana", sg, Lattice(3.7, 3.7, 9.6))

    def resid(p):
        return lattice_from_parameters(p, "ana").d_spacing(hkl) - d_obs

    out = lmfit.minimize(resid, params)
    assert out.params["ana_a"].value == pytest.approx(3.7842, abs=1e-8)
    assert out.params["ana_b"].value == out.params["ana_a"].value
    assert out.params["ana_c"].value == pytest.approx(9.5146, abs=1e-8)
