"""Reflection lists: absences and multiplicities against gemmi for all 230 groups, positions against pymatgen."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest
from pymatgen.analysis.diffraction.xrd import XRDCalculator
from pymatgen.core import Lattice as PmgLattice
from pymatgen.core import Structure as PmgStructure
from pymatgen.io.cif import CifParser

from refine.crystal.lattice import Lattice, cell_constraints
from refine.crystal.reflections import generate_reflections, systematically_absent
from refine.crystal.spacegroup import space_group
from refine.io.structures import read_structure
from tests.conftest import data_file

BOX = np.stack(np.meshgrid(*[np.arange(-6, 7)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)


def _cell_for(sg):
    rules = cell_constraints(sg)
    return rules.apply({"a": 7.1, "b": 8.3, "c": 9.7, "alpha": 77.0, "beta": 101.0, "gamma": 84.0})


@pytest.mark.parametrize("number", range(1, 231))
def test_absences_and_multiplicities_match_gemmi(number):
    """The allowed hkl (|h|,|k|,|l| <= 6) equal gemmi's; multiplicities equal gemmi's orbit sizes with Friedel.

    Both use the default setting of the number (test_spacegroup checks that the operations are identical).
    """
    sg = space_group(number)
    ops = gemmi.SpaceGroup(number).operations()
    ours = systematically_absent(sg, BOX)
    ref = np.array([ops.is_systematically_absent([int(v) for v in h]) for h in BOX])
    assert np.array_equal(ours, ref)

    lat = _cell_for(sg)
    refl = generate_reflections(lat, sg, d_min=lat.d_spacing(np.array([3, 3, 3])) * 0.999)
    for h, m in zip(refl.hkl[::7], refl.multiplicity[::7], strict=True):
        orbit = {tuple(op.apply_to_hkl([int(v) for v in h])) for op in ops.sym_ops}
        orbit |= {tuple(-x for x in o) for o in orbit}
        assert m == len(orbit), (h, m, len(orbit))
        assert not ops.is_systematically_absent([int(v) for v in h])


def test_reflection_list_is_complete_and_sorted():
    """Summed multiplicities equal the count of allowed hkl in the sphere (no line lost or doubled)."""
    sg = space_group("R-3c")
    lat = Lattice(8.728, 8.728, 21.804, 90, 90, 120)
    refl = generate_reflections(lat, sg, d_min=1.2)
    grid = np.stack(np.meshgrid(*[np.arange(-25, 26)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    d = lat.d_spacing(grid)
    inside = (d >= 1.2) & np.isfinite(d)
    expected = np.count_nonzero(inside & ~systematically_absent(sg, grid))
    assert refl.multiplicity.sum() == expected
    assert np.all(np.diff(refl.d) <= 0)
    assert np.allclose(refl.d, lat.d_spacing(refl.hkl), rtol=1e-12)
    assert refl.d.min() >= 1.2


def _compare_with_pymatgen(pmg, lattice, sg, wavelength, two_theta_range):
    """Every pymatgen peak lies on one of our lines (1e-4 deg); ours that pymatgen lacks are ones it drops as
    weaker than its 1e-5 relative threshold; total multiplicities per 2-theta bin agree (absent ones included,
    since pymatgen lists every hkl in a bin, absent or not)."""
    calc = XRDCalculator(wavelength=wavelength)
    pattern = calc.get_pattern(pmg, scaled=False, two_theta_range=two_theta_range)
    lo, hi = two_theta_range
    d_min = wavelength / (2 * np.sin(np.radians(hi / 2))) * (1 - 1e-9)
    refl = generate_reflections(lattice, sg, d_min=d_min)
    tth = refl.two_theta(wavelength)
    tth = tth[(tth >= lo) & (tth <= hi)]
    px = np.asarray(pattern.x)
    nearest = np.abs(tth[None, :] - px[:, None]).min(axis=1)
    assert nearest.max() < 1e-4
    matched = np.abs(tth[:, None] - px[None, :]).min(axis=1) < 1e-4
    top = max(pattern.y)
    for t in tth[~matched]:
        try:
            weak = calc.get_pattern(pmg, scaled=False, two_theta_range=(t - 1e-3, t + 1e-3))
            assert max(weak.y, default=0.0) / top < 1e-5
        except ZeroDivisionError:  # pymatgen divides by a zero maximum: intensity exactly 0
            pass
    # multiplicities: bin all (absent kept) like pymatgen does (round 2theta to 1e-5 deg)
    full = generate_reflections(lattice, sg, d_min=d_min, keep_absent=True)
    ft = full.two_theta(wavelength)
    keys = np.round(ft / 1e-5).astype(np.int64)
    for x, fam in zip(px, pattern.hkls, strict=True):
        ours = full.multiplicity[keys == round(x / 1e-5)].sum()
        assert ours == sum(f["multiplicity"] for f in fam), x
    return len(px), int(np.count_nonzero(~matched))


def test_rocksalt_drs_positions_match_pymatgen():
    """Disordered rock salt (Na/V on 4a, O on 4b), a = 4.642 Å at 0.1173 Å."""
    a = 4.642
    pmg = PmgStructure.from_spacegroup("Fm-3m", PmgLattice.cubic(a), [{"Na": 0.5, "V": 0.5}, "O"],
                                       [[0, 0, 0], [0.5, 0.5, 0.5]])
    npeaks, extra = _compare_with_pymatgen(pmg, Lattice(a, a, a), space_group("Fm-3m"), 0.1173, (0.5, 20.0))
    assert npeaks > 50 and extra == 0


def test_nasicon_positions_match_pymatgen():
    path = data_file("Na3V2PO43_NASICON.cif")
    phase = read_structure(path)
    pmg = CifParser(str(path)).parse_structures(primitive=False)[0]
    npeaks, extra = _compare_with_pymatgen(pmg, phase.lattice, phase.space_group, 1.54056, (5.0, 90.0))
    assert npeaks > 100 and extra <= 5


def test_navpo4f_pna21_positions_match_pymatgen():
    """NaVPO4F, Pna21, KTiOPO4-type. The atom positions are made up (legal general positions of the KTP type),
    good enough for peak positions and multiplicities, not for intensities."""
    cell = (12.7547, 6.2716, 10.6400)
    species = ["Na", "Na", "V", "V", "P", "P", "F", "F", "O", "O", "O", "O", "O", "O", "O", "O"]
    coords = [[0.378, 0.780, 0.688], [0.105, 0.699, 0.931], [0.373, 0.500, 0.000], [0.247, 0.269, 0.251],
              [0.498, 0.337, 0.261], [0.181, 0.502, 0.511], [0.224, 0.041, 0.125], [0.224, 0.472, 0.387],
              [0.486, 0.464, 0.148], [0.510, 0.465, 0.375], [0.400, 0.200, 0.276], [0.594, 0.193, 0.256],
              [0.112, 0.310, 0.539], [0.113, 0.691, 0.486], [0.253, 0.537, 0.625], [0.254, 0.462, 0.400]]
    pmg = PmgStructure.from_spacegroup("Pna2_1", PmgLattice.orthorhombic(*cell), species, coords)
    npeaks, extra = _compare_with_pymatgen(pmg, Lattice(*cell), space_group("Pna21"), 1.03257, (3.0, 45.0))
    assert npeaks > 150 and extra <= 10


def test_two_theta_beyond_wavelength_is_nan_and_select():
    lat = Lattice(4.0, 4.0, 4.0)
    refl = generate_reflections(lat, space_group(221), d_min=0.5)
    tth = refl.two_theta(1.5406)
    assert np.isnan(tth[refl.d < 1.5406 / 2]).all() and np.isfinite(tth[refl.d > 1.5406 / 2]).all()
    sub = refl.select(refl.d > 1.0)
    assert len(sub) == np.count_nonzero(refl.d > 1.0) and sub.hkl.shape == (len(sub), 3)
    # simple cubic: first lines 100 (6), 110 (12), 111 (8)
    assert refl.hkl[:3].tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert refl.multiplicity[:3].tolist() == [6, 12, 8]


def test_rhombohedral_and_hexagonal_axes_give_the_same_powder_lines():
    """Corundum on hexagonal axes and on the equivalent rhombohedral cell: identical (d, multiplicity) lists.

    a_R = sqrt(3 a_H^2 + c_H^2) / 3 and sin(alpha_R / 2) = 3 a_H / (2 sqrt(3 a_H^2 + c_H^2)) (ITA vol. A, 5.1).
    """
    a_h, c_h = 4.7602, 12.9933
    a_r = np.sqrt(3 * a_h**2 + c_h**2) / 3
    alpha = np.degrees(2 * np.arcsin(3 * a_h / (2 * np.sqrt(3 * a_h**2 + c_h**2))))
    hexa = generate_reflections(Lattice(a_h, a_h, c_h, 90, 90, 120), space_group("R-3c"), d_min=0.9)
    rhombo = generate_reflections(Lattice(a_r, a_r, a_r, alpha, alpha, alpha), space_group("R-3c:R"), d_min=0.9)
    assert len(hexa) == len(rhombo) > 40
    assert np.allclose(hexa.d, rhombo.d, rtol=1e-12)
    # lines at exactly equal d (e.g. hkl and hk-l type pairs) may be listed in either order: compare sums per d
    keys_h = np.round(hexa.d, 9)
    keys_r = np.round(rhombo.d, 9)
    for d in np.unique(keys_h):
        assert hexa.multiplicity[keys_h == d].sum() == rhombo.multiplicity[keys_r == d].sum()


def test_astronomic_reflection_counts_are_refused_before_allocation():
    from refine.crystal.reflections import MAX_REFLECTIONS, reflection_count
    from refine.errors import InputError

    sg = space_group("P1")
    with pytest.raises(InputError, match=r"about 1\.3e\+08 reflections .*more than 2e\+06"):
        generate_reflections(Lattice(1e6, 3, 3), sg, 0.66)
    with pytest.raises(InputError, match="reflections to d = 5e-09"):
        generate_reflections(Lattice(4.65, 4.65, 4.65), space_group("Fm-3m"), 5e-9)
    # the estimate is the reciprocal-sphere volume times the cell volume: exact to a few per cent for many hkl
    lat = Lattice(7.1, 8.3, 9.7, 77.0, 101.0, 84.0)
    refl = generate_reflections(lat, sg, 0.8, keep_absent=True)
    assert reflection_count(lat, 0.8) == pytest.approx(2 * len(refl), rel=0.03)  # P1: h and -h merged
    assert reflection_count(lat, 0.8) < MAX_REFLECTIONS


def test_flat_oblique_cells_give_the_same_reflections_as_a_brute_force_grid():
    """The slab enumeration finds every hkl of a cell whose box of indices is much larger than its sphere."""
    lat = Lattice(3.0, 3.0, 3.0, 90.0, 90.0, 172.0)
    sg = space_group("P1")
    refl = generate_reflections(lat, sg, 0.7, keep_absent=True)
    box = np.stack(np.meshgrid(*[np.arange(-40, 41)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    d = lat.d_spacing(box[np.any(box != 0, axis=1)])
    assert 2 * len(refl) == np.count_nonzero(d >= 0.7)
