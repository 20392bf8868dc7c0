"""Cell geometry against pymatgen/gemmi, crystal-system constraints, volume esd propagation."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refine.crystal.lattice import (
    Lattice,
    cell_constraints,
    symmetrize,
    volume_esd,
    volume_gradient,
)
from refine.crystal.spacegroup import space_group
from refine.errors import InputError

TRICLINIC = Lattice(5.1, 6.3, 7.7, 81.0, 97.5, 103.2)


def test_metric_volume_and_d_against_gemmi():
    cell = gemmi.UnitCell(*TRICLINIC.as_tuple())
    assert TRICLINIC.volume == pytest.approx(cell.volume, rel=1e-12)
    for hkl in ([1, 0, 0], [1, 2, 3], [-2, 1, 4], [0, 0, 5]):
        assert TRICLINIC.d_spacing(np.array(hkl)) == pytest.approx(cell.calculate_d(hkl), rel=1e-12)
    assert np.allclose(TRICLINIC.reciprocal_metric @ TRICLINIC.metric, np.eye(3), atol=1e-12)
    # Cartesian basis reproduces the metric
    m = TRICLINIC.cartesian
    assert np.allclose(m.T @ m, TRICLINIC.metric, rtol=1e-12)


def _random_free_values(rules, rng):
    vals = {"a": rng.uniform(3, 15), "b": rng.uniform(3, 15), "c": rng.uniform(3, 15)}
    vals.update(alpha=rng.uniform(60, 80), beta=rng.uniform(95, 115), gamma=rng.uniform(70, 85))
    return vals


@pytest.mark.parametrize("number", range(1, 231))
def test_constrained_cell_is_invariant_under_the_point_group(number):
    """For every group, a cell built from random free values obeys R^T G R = G for all operations."""
    sg = space_group(number)
    rules = cell_constraints(sg)
    lat = rules.apply(_random_free_values(rules, np.random.default_rng(number)))
    g = lat.metric
    for r in sg.point_rotations:
        assert np.allclose(r.T @ g @ r, g, atol=1e-9)
    # and nothing more is constrained than needed: each free parameter changes the metric
    expected = {"cubic": 1, "tetragonal": 2, "hexagonal": 2, "trigonal": 2, "orthorhombic": 3, "monoclinic": 4,
                "triclinic": 6}[sg.crystal_system]
    assert len(rules.free) == expected


def test_rhombohedral_setting_constraints():
    rules = cell_constraints(space_group("R-3c:R"))
    assert rules.free == ("a", "alpha")
    lat = rules.apply({"a": 5.13, "alpha": 55.3})
    assert lat.as_tuple() == (5.13, 5.13, 5.13, 55.3, 55.3, 55.3)


def test_monoclinic_unique_axis_b_and_c():
    assert cell_constraints(space_group("P21/c")).free == ("a", "b", "c", "beta")
    assert cell_constraints(space_group("P 1 1 21/b")).free == ("a", "b", "c", "gamma")


def test_symmetrize_rejects_a_cell_that_breaks_the_symmetry():
    with pytest.raises(InputError, match="--cell"):
        symmetrize(Lattice(4.0, 4.2, 4.0), space_group("Fm-3m"), source="--cell")
    assert symmetrize(Lattice(4.0, 4.0000001, 4.0), space_group("Fm-3m")).b == 4.0


@given(st.floats(3, 20), st.floats(3, 20), st.floats(3, 20), st.floats(70, 110), st.floats(70, 110),
       st.floats(70, 110))
def test_volume_gradient_matches_finite_differences(a, b, c, al, be, ga):
    lat = Lattice(a, b, c, al, be, ga)
    grad = volume_gradient(lat)
    values = np.array(lat.as_tuple())
    for i in range(6):
        step = 1e-6 * (values[i] if i < 3 else 1.0)
        up, down = values.copy(), values.copy()
        up[i] += step
        down[i] -= step
        fd = (Lattice.from_sequence(up).volume - Lattice.from_sequence(down).volume) / (2 * step)
        assert grad[i] == pytest.approx(fd, rel=1e-6, abs=1e-6 * lat.volume)


@pytest.mark.parametrize(
    ("symbol", "cell", "sigmas"),
    [("P21/c", (10.2, 6.1, 8.3, 90, 104.5, 90), (2e-3, 1e-3, 1.5e-3, 0.02)),
     ("R-3c", (8.728, 8.728, 21.804, 90, 90, 120), (4e-4, 1.2e-3)),
     ("R-3c:R", (8.7, 8.7, 8.7, 59.0, 59.0, 59.0), (1e-3, 0.03)),
     ("P-1", (5.1, 6.3, 7.7, 81.0, 97.5, 103.2), (1e-3, 2e-3, 1e-3, 0.05, 0.04, 0.03))],
)
def test_volume_esd_against_monte_carlo(symbol, cell, sigmas):
    """Linear propagation agrees with the spread of volumes of cells drawn from the covariance (2 %)."""
    sg = space_group(symbol)
    lat = Lattice(*cell)
    rules = cell_constraints(sg)
    sig = np.array(sigmas)
    corr = np.full((len(sig), len(sig)), 0.3) + 0.7 * np.eye(len(sig))
    cov = corr * np.outer(sig, sig)
    esd = volume_esd(lat, sg, cov)
    rng = np.random.default_rng(7)
    centre = np.array([dict(zip(("a", "b", "c", "alpha", "beta", "gamma"), cell, strict=True))[n] for n in rules.free])
    draws = rng.multivariate_normal(centre, cov, size=40000)
    full = np.array(lat.as_tuple()) + (draws - centre) @ rules.jacobian().T
    cosines = np.cos(np.radians(full[:, 3:]))
    vols = np.prod(full[:, :3], axis=1) * np.sqrt(
        1 - np.sum(cosines**2, axis=1) + 2 * np.prod(cosines, axis=1)
    )
    # standard error of a standard deviation from 40000 draws is 0.35 %; small-sigma linearisation adds less
    assert esd == pytest.approx(vols.std(ddof=1), rel=0.02)
    assert esd > 0


@pytest.mark.parametrize("cell, problem", [
    ((3, 3, 3, 90, 90, 200), "between 0 and 180"),
    ((-4.6, 4.6, 4.6, 90, 90, 90), "positive"),
    ((3, 3, 0, 90, 90, 90), "positive"),
    ((3, 3, 3, 100, 100, 170), "make no cell"),  # 370 degrees in total
    ((3, 3, 3, 150, 150, 150), "make no cell"),  # 450 degrees in total
    ((3, 3, 3, 30, 40, 80), "make no cell"),  # 80 > 30 + 40
    ((3, float("nan"), 3, 90, 90, 90), "finite"),
])
def test_a_cell_that_is_not_a_cell_names_its_source(cell, problem):
    with pytest.raises(InputError, match=f"^my.cif: cell .*{problem}"):
        Lattice.from_sequence(cell, source="my.cif")
    with pytest.raises(InputError, match=problem):  # and a direct construction is bad input too
        Lattice(*cell)


def test_check_cell_accepts_every_real_cell_and_its_metric_is_positive_definite():
    rng = np.random.default_rng(5)
    accepted = 0
    for _ in range(2000):
        angles = rng.uniform(1, 179, 3)
        ok = 2 * angles.max() < angles.sum() < 360
        if ok:
            lat = Lattice.from_sequence([3.0, 4.0, 5.0, *angles])
            assert np.all(np.linalg.eigvalsh(lat.metric) > 0)
            accepted += 1
        else:
            with pytest.raises(InputError):
                Lattice.from_sequence([3.0, 4.0, 5.0, *angles])
    assert 200 < accepted < 1800  # both branches were exercised
