"""Structure files: CIF and .stru reading, CIF writing with esds, errors naming the file."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymatgen.io.cif import CifParser

from refine.crystal.lattice import Lattice
from refine.crystal.spacegroup import space_group
from refine.crystal.structure import CrystalStructure, Site
from refine.errors import InputError
from refine.io.cif_parser import _PART, is_triplet
from refine.io.structures import _format_esd, read_structure, structure_from_cell, write_cif
from tests.conftest import data_file


def test_read_anatase_keeps_setting_charges_esds():
    phase = read_structure(data_file("TiO2_anatase.cif"))
    assert phase.space_group.number == 141 and len(phase.space_group) == 32
    assert phase.lattice.a == 3.7842 and phase.lattice_esd[:3] == pytest.approx((0.0013, 0.0013, 0.0015))
    ti, o = phase.sites
    assert (ti.element, o.element) == ("Ti4+", "O2-")
    assert o.xyz == (0.0, 0.0, 0.2081) and o.esd_map["z"] == pytest.approx(0.0002)
    # B = 0.61(9) Å^2 -> U = B / 8 pi^2
    assert o.uiso == pytest.approx(0.61 / (8 * np.pi**2), rel=1e-12)
    assert o.esd_map["uiso"] == pytest.approx(0.09 / (8 * np.pi**2), rel=1e-12)


def test_read_pbso4_and_nasicon():
    pbso4 = read_structure(data_file("PbSO4.cif"))
    assert pbso4.name == "PbSO4" and pbso4.space_group.number == 62 and len(pbso4.sites) == 5
    assert [s.uiso for s in pbso4.sites] == [0.01] * 5
    nvp = read_structure(data_file("Na3V2PO43_NASICON.cif"))
    assert nvp.space_group.symbol == "R-3c:H" and nvp.space_group.setting == "hexagonal"
    assert nvp.sites[0].occupancy == 0.69 and nvp.sites[0].uiso is None


def test_r_group_named_only_by_symbol_takes_the_cells_axes(tmp_path):
    """diffpy maps 'R -3 c' to rhombohedral axes; a hexagonal cell must get the hexagonal-axes operations."""
    text = """data_cor
_cell_length_a 4.7602
_cell_length_b 4.7602
_cell_length_c 12.9933
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 120
_symmetry_space_group_name_H-M 'R -3 c'
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Al 0 0 0.35216
O 0.30624 0 0.25
"""
    path = tmp_path / "cor.cif"
    path.write_text(text)
    phase = read_structure(path)
    assert phase.space_group.setting == "hexagonal" and phase.multiplicities() == (12, 18)


def test_read_cdse_stru_with_refined_positions():
    path = data_file("CdSe_wurtzite.stru")
    phase = read_structure(path)
    assert phase.space_group.number == 186 and len(phase.sites) == 2 and len(phase.expand()) == 4
    assert phase.lattice_esd[:3] == (0.0005, 0.0005, 0.0014)  # the file's dcell
    # U11 = U22 = U33 = 0.014 with U12 = 0 is anisotropic in a hexagonal cell (isotropic would have U12 = U11/2):
    # kept as a tensor, Ueq as diffpy.structure computes it for the same file.
    from diffpy.structure import loadStructure

    ref = loadStructure(str(path))
    assert phase.sites[0].uaniso is not None
    assert phase.sites[0].uiso == pytest.approx(ref[0].Uisoequiv, rel=1e-12)
    assert phase.sites[0].esd_map["u11"] == 0.00012  # the file's sigma of U11


# pymatgen's CIF reader warns about ion symbols such as 'O2-' unless _atom_site_attached_hydrogens is present;
# it still reads the species and oxidation states correctly.
@pytest.mark.filterwarnings("ignore:Cannot determine chemical composition")
def test_write_cif_round_trip_and_independent_readers(tmp_path):
    original = read_structure(data_file("TiO2_anatase.cif"))
    out = tmp_path / "anatase.cif"
    write_cif(original, out)
    text = out.read_text()
    assert "3.7842(13)" in text and "0.2081(2)" in text
    back = read_structure(out)
    assert back.lattice == original.lattice and back.space_group == original.space_group
    for a, b in zip(back.sites, original.sites, strict=True):
        assert (a.label, a.element, a.xyz, a.occupancy) == (b.label, b.element, b.xyz, b.occupancy)
        # written to the precision its esd allows (two significant digits of the esd)
        assert a.uiso == pytest.approx(b.uiso, abs=b.esd_map["uiso"] / 10)
    # gemmi and pymatgen read what we write: same cell content
    small = gemmi.read_small_structure(str(out))
    assert len(small.get_all_unit_cell_sites()) == 12
    pmg = CifParser(str(out)).parse_structures(primitive=False)[0]
    assert pmg.composition.reduced_formula == "TiO2" and len(pmg) == 12
    assert sorted({str(sp) for sp in pmg.species}) == ["O2-", "Ti4+"]
    assert pmg.lattice.volume == pytest.approx(original.lattice.volume, rel=1e-9)


def test_write_cif_anisotropic_and_empty(tmp_path):
    lat = Lattice(7.2, 5.9, 9.1, 90, 106.3, 90)
    u = ((0.012, 0.0, 0.003), (0.0, 0.020, 0.0), (0.003, 0.0, 0.015))
    site = Site("Fe1", "Fe2+", (0.0, 0.3, 0.25), uaniso=u, uiso=0.0156, esd={"y": 0.0004, "u11": 0.0011})
    phase = CrystalStructure("fe", lat, space_group("C2/c"), (site,), lattice_esd=(1e-3, 2e-3, 1e-3, 0, 0.02, 0))
    out = tmp_path / "fe.cif"
    write_cif(phase, out)
    back = read_structure(out)
    assert np.allclose(back.sites[0].uaniso, u, atol=1e-10) and back.sites[0].esd_map["y"] == pytest.approx(4e-4)
    assert back.lattice_esd == pytest.approx((1e-3, 2e-3, 1e-3, 0, 0.02, 0))
    empty = structure_from_cell("Pna21", "12.7547 6.2716 10.6400 90 90 90", name="NaVPO4F")
    write_cif(empty, tmp_path / "empty.cif")
    assert "_symmetry_Int_Tables_number 33" in (tmp_path / "empty.cif").read_text()


@pytest.mark.parametrize(("value", "esd", "text"), [(0.2081, 0.0002, "0.2081(2)"), (3.78421, 0.0013, "3.7842(13)"),
                                                    (12.34, 1.2, "12.3(12)"), (123.4, 25, "120(30)"),
                                                    (5.43053, 0.00007, "5.43053(7)"), (0.5, None, "0.5")])
def test_esd_formatting(value, esd, text):
    assert _format_esd(value, esd) == text


def test_structure_from_cell_for_le_bail():
    phase = structure_from_cell("R-3c", "8.728 8.728 21.804 90 90 120")
    assert phase.sites == () and phase.space_group.setting == "hexagonal" and len(phase.expand()) == 0
    with pytest.raises(InputError, match="^cell: "):  # the option's name; the command line shows --cell
        structure_from_cell("Fm-3m", "4.6 4.7 4.6 90 90 90")
    with pytest.raises(InputError, match="^cell: "):
        structure_from_cell("Fm-3m", "4.6 4.6")
    with pytest.raises(InputError, match="^spacegroup: "):
        structure_from_cell("Qq3", "4.6 4.6 4.6 90 90 90")


def test_bad_files_raise_input_error_naming_the_file(tmp_path):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 4\nloop_\n_atom_site_label\n_atom_site_fract_x\n'unclosed\n")
    with pytest.raises(InputError, match="broken.cif"):
        read_structure(bad)
    no_atoms = tmp_path / "noatoms.cif"
    no_atoms.write_text("data_x\n_cell_length_a 4\n")
    with pytest.raises(InputError, match="noatoms.cif"):
        read_structure(no_atoms)
    with pytest.raises(InputError, match="missing.cif: no such file"):
        read_structure(tmp_path / "missing.cif")
    with pytest.raises(InputError, match="unknown structure extension"):
        read_structure(bad.rename(tmp_path / "broken.pdb"))
    stru = tmp_path / "bad.stru"
    stru.write_text("title x\nformat pdffit\ncell 1, 2\n")
    with pytest.raises(InputError, match="bad.stru"):
        read_structure(stru)


_P1 = """data_p1
_cell_length_a {a}
_cell_length_b 4
_cell_length_c 4(5)
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma {gamma}
loop_
_symmetry_equiv_pos_as_xyz
{op}
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Cu1 0 0 0 {occ}
"""


def _p1(tmp_path, a="4", gamma="90", op="x,y,z", occ="1"):
    path = tmp_path / "p1.cif"
    path.write_text(_P1.format(a=a, gamma=gamma, op=op, occ=occ))
    return path


def test_cif_symmetry_operation_is_not_evaluated_as_code(tmp_path):
    """diffpy.structure evaluates the parts of a listed operation with eval(): a CIF could run code. The operations
    are checked against the triplet grammar first (found by fuzzing: '1/0' gave ZeroDivisionError)."""
    marker = tmp_path / "marker"
    path = _p1(tmp_path, op=f"\"__import__('os').mkdir('{marker}')\"")
    with pytest.raises(InputError, match="is not a symmetry operation") as info:
        read_structure(path)
    assert not marker.exists()
    assert str(info.value).startswith(str(path))
    for op in ("1/0+x,y,z", "x,y", "1..2+x,y,z", "x,y,z+99999999999999999999/2", "2x,y,z", "01/2-y,x,z",
               "x,y,z+1/02"):
        with pytest.raises(InputError, match="is not a symmetry operation"):
            read_structure(_p1(tmp_path, op=f"'{op}'"))
    assert len(read_structure(_p1(tmp_path, op="x,y,z\n'-x+1/2, Y, 0.5-z'")).space_group) == 2


@pytest.mark.parametrize("values, problem", [
    (dict(a="0"), "makes no lattice"),
    (dict(a="-4"), "cell -4 4 4 90 90 90: lengths a, b, c must be positive"),
    (dict(a="4(99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
            "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
            "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
            "999999)"), "_cell_length_a is missing or not a number"),
    (dict(a="1e999"), "4 4 4 90 90 1e999|makes no lattice"),
    (dict(gamma="1e-300"), "90 90 1e-300 makes no lattice"),
    (dict(gamma="1e-5"), "cell 4 4 4 90 90 1e-05: the angles make a flat cell"),
    (dict(gamma="180"), "4 4 4.5. 90 90 180 makes no lattice"),
    (dict(occ="nan"), "site Cu1: coordinates, occupancy or U are not finite"),
])
def test_cif_values_that_make_no_structure(tmp_path, values, problem):
    """Found by fuzzing: each of these ended in ZeroDivisionError, OverflowError, LinAlgError or a NaN site."""
    path = _p1(tmp_path, **values)
    with pytest.raises(InputError, match=problem) as info:
        read_structure(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_cif_cell_item_in_a_loop(tmp_path):
    """A 'loop_' before the cell items makes _cell_length_a a list, on which diffpy failed with AttributeError."""
    path = tmp_path / "loop.cif"
    path.write_text(_P1.format(a="4", gamma="90", op="x,y,z", occ="1").replace("_cell_length_a", "loop_\n"
                                                                                "_cell_length_a", 1))
    with pytest.raises(InputError, match="makes no lattice|an item diffpy cannot use") as info:
        read_structure(path)
    assert str(info.value).startswith(str(path))


def test_stru_cut_inside_an_atom_record(tmp_path):
    path = tmp_path / "cut.stru"
    path.write_text("title t\nformat pdffit\nspcgr P1\ncell 4, 4, 4, 90, 90, 90\nncell 1, 1, 1, 1\natoms\n"
                    "NI 0.0 0.0 0.0 1.0\n   0.0 0.0 0.0 0.0\n")
    with pytest.raises(InputError, match="ends inside an atom record"):
        read_structure(path)
    path.write_text("title t\nformat pdffit\nspcgr P1\ncell 4, 4, 4, 90, 90, 90\ndcell 0.1, 0.1\n")
    with pytest.raises(InputError, match="dcell .* needs 6 finite numbers"):
        read_structure(path)


SI_ORIGIN2 = """data_si
_cell_length_a 5.4309
_cell_length_b 5.4309
_cell_length_c 5.4309
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F d -3 m :2'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Si1 Si 0.125 0.125 0.125
"""


def test_origin_choice_2_named_by_symbol_only(tmp_path):
    """'F d -3 m :2' without listed operations (diffpy knows only origin choice 1): 8 Si atoms as gemmi reads
    the same file, and our CIF of it reads back the same (operations written out)."""
    path = tmp_path / "si.cif"
    path.write_text(SI_ORIGIN2)
    si = read_structure(path)
    assert si.space_group.symbol == "Fd-3m:2" and si.space_group.number == 227
    assert len(si.expand().xyz) == 8
    assert len(gemmi.read_small_structure(str(path)).get_all_unit_cell_sites()) == 8
    out = tmp_path / "si_out.cif"
    write_cif(si, out)
    back = read_structure(out)
    assert len(back.expand().xyz) == 8 and back.space_group == si.space_group


def test_listed_operations_win_over_the_name(tmp_path):
    """A CIF naming 'F d -3 m' (diffpy's table: origin choice 1) but listing origin-choice-2 operations, as some
    databases write: the listed operations decide (8 Si, as gemmi reads it), never a silent 16-atom cell."""
    from refine.crystal.spacegroup import space_group

    ops = "".join(f"'{t}'\n" for t in space_group("Fd-3m:2").triplets())
    path = tmp_path / "si.cif"
    path.write_text(SI_ORIGIN2.replace("'F d -3 m :2'", "'F d -3 m'") + f"loop_\n_symmetry_equiv_pos_as_xyz\n{ops}")
    si = read_structure(path)
    assert si.space_group.symbol == "Fd-3m:2" and len(si.expand().xyz) == 8
    assert len(gemmi.read_small_structure(str(path)).get_all_unit_cell_sites()) == 8


@settings(max_examples=300, deadline=None)
@given(st.from_regex(_PART, fullmatch=True))
def test_every_translation_the_triplet_grammar_accepts_is_one_diffpy_can_evaluate(part):
    """What passes :func:`refine.io.cif_parser.is_triplet` goes to diffpy's eval(): it must evaluate (a part with a
    leading-zero integer such as '01/2' was accepted and raised SyntaxError, found by fuzzing a CIF)."""
    from diffpy.structure.parsers.p_cif import getSymOp

    part = part.replace(" ", "")
    assert is_triplet(f"{part},y,z")
    op = getSymOp(f"{part},y,z")
    assert np.all(np.isfinite(op.t))
