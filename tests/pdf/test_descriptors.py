"""Local-structure descriptors (refine/pdf/descriptors.py) against exact answers and ASE's neighbour list."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from refine.errors import InputError
from refine.pdf.descriptors import local_structure


def test_rock_salt_coordination_six_and_one_bond_length():
    a = 5.64
    for atoms in (bulk("NaCl", "rocksalt", a=a), bulk("NaCl", "rocksalt", a=a, cubic=True).repeat(2)):
        result = local_structure([atoms])
        for key in ("Na-Cl", "Cl-Na"):
            assert np.all(result.coordination[key] == 6)
        lengths = result.bond_lengths["Cl-Na"]
        assert np.ptp(lengths) < 1e-12 and lengths[0] == pytest.approx(a / 2, abs=1e-12)
        assert len(lengths) == 6 * len(atoms) // 2  # each bond once
        angles = result.angles["Cl-Na-Cl"]
        assert set(np.round(angles, 9)) == {90.0, 180.0}
        assert np.all(result.distortion["Na"] < 1e-12)


@pytest.fixture(scope="module")
def displaced():
    rng = np.random.default_rng(11)
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(4)  # 512 atoms
    atoms.positions += rng.normal(0, 0.12, atoms.positions.shape)
    return atoms


def test_displaced_supercell_bond_lengths_equal_ase_neighbour_list(displaced):
    cut = 3.3
    result = local_structure([displaced], cutoffs={"Na-Cl": cut}, cutoff=0.5)
    i, j, d = neighbor_list("ijd", displaced, {("Na", "Cl"): cut})
    ours = np.sort(result.bond_lengths["Cl-Na"])
    theirs = np.sort(d[i < j])
    assert len(ours) == len(theirs)
    assert ours.mean() == pytest.approx(theirs.mean(), abs=1e-12)
    assert ours.std() == pytest.approx(theirs.std(), abs=1e-12)
    na = np.array(displaced.get_chemical_symbols()) == "Na"
    cn_ase = np.bincount(i, minlength=len(displaced))[na]
    assert np.array_equal(np.sort(result.coordination["Na-Cl"]), np.sort(cn_ase))


def test_small_triclinic_cell_uses_periodic_images_like_ase():
    """A cut-off longer than the cell: an atom bonds to its own images (bcc Fe primitive cell: 8 + 6 within 3 Å)."""
    atoms = bulk("Fe", "bcc", a=2.87)
    result = local_structure([atoms], cutoff=3.0)
    i, _, d = neighbor_list("ijd", atoms, 3.0)
    assert result.coordination["Fe-Fe"][0] == len(i) == 14
    assert np.sort(result.bond_lengths["Fe-Fe"]) == pytest.approx(np.sort(d)[::2], abs=1e-12)


def test_frames_are_pooled(displaced):
    one = local_structure([displaced], cutoff=3.3)
    two = local_structure([displaced, displaced], cutoff=3.3)
    assert two.frames == 2
    assert len(two.bond_lengths["Cl-Na"]) == 2 * len(one.bond_lengths["Cl-Na"])
    assert two.bond_lengths["Cl-Na"].mean() == pytest.approx(one.bond_lengths["Cl-Na"].mean(), rel=1e-14)


def test_summary_csv(tmp_path, displaced):
    result = local_structure([displaced], cutoff=3.3)
    out = tmp_path / "local.csv"
    result.write_csv(str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == "quantity,name,count,mean,std,min,max"
    row = next(line for line in lines if line.startswith("coordination,Na-Cl,"))
    assert 5.0 < float(row.split(",")[3]) < 6.5


@pytest.mark.parametrize("cutoffs", [{"NaCl": 3.0}, {"Na-Cl": -1.0}, {"Na-": 2.0}])
def test_bad_cutoffs_name_the_option(cutoffs):
    with pytest.raises(InputError, match="cutoffs"):
        local_structure([bulk("NaCl", "rocksalt", a=5.64)], cutoffs=cutoffs)


def test_frame_without_cell_is_refused():
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    atoms.cell[:] = 0.0
    with pytest.raises(InputError, match="no cell"):
        local_structure([atoms])


def test_figure_has_three_panels(displaced):
    fig = local_structure([displaced], cutoff=3.3).plot()
    assert len(fig.axes) == 3 and fig.axes[0].get_xlabel() == "bond length (Å)"
