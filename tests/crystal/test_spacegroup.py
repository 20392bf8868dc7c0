"""Space groups from diffpy's tables, checked against gemmi's tables and known facts."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

from refine.crystal.spacegroup import SpaceGroup, from_diffpy, space_group
from refine.errors import InputError


def _gemmi_ops(sg: SpaceGroup) -> set[tuple]:
    """Our operations in gemmi's integer encoding (rotation, translation in 1/24)."""
    out = set()
    for op in gemmi.GroupOps([gemmi.Op(t.replace(" ", "")) for t in sg.triplets()]):
        out.add((tuple(map(tuple, op.rot)), tuple(v % 24 for v in op.tran)))
    return out


@pytest.mark.parametrize("number", range(1, 231))
def test_standard_setting_matches_gemmi_default(number):
    sg = space_group(number)
    ref = gemmi.SpaceGroup(number)
    ref_ops = {(tuple(map(tuple, op.rot)), tuple(v % 24 for v in op.tran)) for op in ref.operations()}
    assert sg.number == number
    assert _gemmi_ops(sg) == ref_ops  # same setting and origin as gemmi's default for that number
    assert sg.crystal_system == ref.crystal_system_str()


def test_crystal_system_of_every_diffpy_setting_matches_diffpy():
    from diffpy.structure.spacegroups import SpaceGroupList

    for group in SpaceGroupList:
        assert from_diffpy(group).crystal_system.upper() == group.crystal_system, group.short_name


@pytest.mark.parametrize(
    ("symbol", "number", "nops", "setting"),
    [("R-3c", 167, 36, "hexagonal"), ("R-3c:H", 167, 36, "hexagonal"), ("R -3 c", 167, 36, "hexagonal"),
     ("R-3c:R", 167, 12, "rhombohedral"), ("Pna21", 33, 4, ""), ("P 21/c", 14, 4, ""), ("P21/n", 14, 4, ""),
     ("P2_1/c", 14, 4, ""), ("Fm-3m", 225, 192, ""), ("Pbnm", 62, 8, ""), ("P63/mmc", 194, 24, "hexagonal")],
)
def test_symbols(symbol, number, nops, setting):
    sg = space_group(symbol)
    assert (sg.number, len(sg), sg.setting) == (number, nops, setting)


def test_pna21_operations_are_the_international_tables_ones():
    # ITA No. 33: x,y,z; -x,-y,z+1/2; x+1/2,-y+1/2,z; -x+1/2,y+1/2,z+1/2
    assert set(space_group("Pna21").triplets()) == {"x, y, z", "-x, -y, z+1/2", "x+1/2, -y+1/2, z",
                                                    "-x+1/2, y+1/2, z+1/2"}


def test_r3c_hexagonal_matches_gemmi_h_setting_and_rhombohedral_the_r_setting():
    for symbol, gemmi_name in (("R-3c", "R -3 c:H"), ("R-3c:R", "R -3 c:R")):
        ref = gemmi.find_spacegroup_by_name(gemmi_name)
        ref_ops = {(tuple(map(tuple, op.rot)), tuple(v % 24 for v in op.tran)) for op in ref.operations()}
        assert _gemmi_ops(space_group(symbol)) == ref_ops


def test_monoclinic_unique_axis_and_centrosymmetry():
    assert space_group("P21/c").unique_axis == "b"
    assert space_group("P 1 1 21/b").unique_axis == "c"
    assert space_group("P21/c").centrosymmetric and not space_group("Pna21").centrosymmetric


def test_operations_are_read_only_arrays():
    sg = space_group(62)
    assert sg.rotations.shape == (8, 3, 3) and sg.translations.shape == (8, 3)
    with pytest.raises(ValueError):
        sg.rotations[0, 0, 0] = 5
    assert np.all((sg.translations >= 0) & (sg.translations < 1))


@pytest.mark.parametrize("bad", ["Xyz", "231", 0, "P 7"])
def test_unknown_symbol_is_input_error(bad):
    with pytest.raises(InputError, match="^spacegroup: "):
        space_group(bad)


@pytest.mark.parametrize("symbol", ["Fd-3m", "P4/nmm", "Pn-3", "Fd-3c", "Pnnn"])
def test_origin_choices_are_the_international_tables_ones(symbol):
    """':1' and ':2' give ITA origin choices 1 and 2 (diffpy knows only 1): choice 2 has the inversion at the
    origin, choice 1 does not, and both are the same group up to the origin shift."""
    one, two = space_group(f"{symbol}:1"), space_group(f"{symbol} :2")
    assert one.number == two.number == gemmi.find_spacegroup_by_name(symbol).number
    inv = [np.array_equal(r, -np.eye(3)) for r in two.rotations]
    assert np.allclose(np.asarray(two.translations)[np.flatnonzero(inv)[0]] % 1, 0.0)
    inv1 = [np.array_equal(r, -np.eye(3)) for r in one.rotations]
    assert not np.any(np.all(np.isclose(np.asarray(one.translations)[inv1] % 1, 0.0), axis=1))
    assert _gemmi_ops(one) == _gemmi_ops(space_group(symbol))  # ':1' is the default setting
    assert {r.tobytes() for r in one.rotations.astype(int)} == {r.tobytes() for r in two.rotations.astype(int)}


def test_diamond_in_both_origin_choices_has_the_same_distances():
    """Si on 8a: (0,0,0) in origin choice 1 and (1/8,1/8,1/8) in choice 2 give the same 8-atom diamond cell with
    nearest neighbours at a*sqrt(3)/4 (independent of any table: the diamond structure)."""
    from refine.crystal.lattice import Lattice
    from refine.crystal.structure import CrystalStructure, Site

    lattice = Lattice(5.4309, 5.4309, 5.4309, 90, 90, 90)
    for symbol, xyz in (("Fd-3m:1", (0.0, 0.0, 0.0)), ("Fd-3m:2", (0.125, 0.125, 0.125))):
        s = CrystalStructure(name="si", lattice=lattice, space_group=space_group(symbol),
                             sites=(Site(label="Si", element="Si", xyz=xyz, occupancy=1.0, uiso=0.005),))
        atoms = s.expand().xyz
        assert len(atoms) == 8
        d = atoms[1:] - atoms[0]
        d -= np.round(d)
        assert np.min(np.linalg.norm(d @ lattice.cartesian.T, axis=1)) == pytest.approx(5.4309 * 3**0.5 / 4)


def test_origin_choice_of_a_group_with_one_origin_is_input_error():
    with pytest.raises(InputError, match="no origin choice 2"):
        space_group("Pnma:2")
