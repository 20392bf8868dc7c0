"""Fuzzing the structure readers (CIF, PDFfit .stru, GSAS .EXP): a valid structure or a one-line InputError."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given

from refine.io.gsas_exp import read_exp_phases
from refine.io.structures import read_cif, read_stru
from tests.fuzzing import check_structure, fuzz_inputs, fuzz_settings, read_or_refuse

# Low-symmetry seeds keep each example fast (diffpy expands a cubic group's 192 operations in ~0.25 s).
CIF_SEEDS = (
    b"data_pbso4\n_symmetry_space_group_name_H-M 'P 21/c'\n_symmetry_Int_Tables_number 14\n_cell_length_a 6.9\n"
    b"_cell_length_b 8.5\n_cell_length_c 5.4\n_cell_angle_alpha 90\n_cell_angle_beta 103.5\n_cell_angle_gamma 90\n"
    b"loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
    b"_atom_site_occupancy\n_atom_site_U_iso_or_equiv\nPb1 Pb 0.1 0.2 0.3 1.0 0.008\nO1 O 0.4 0.1 0.7 0.5 ?\n",
    b"data_rutile\n_pd_phase_name 'TiO2 rutile'\n_cell_length_a 4.5937(2)\n_cell_length_b 4.5937(2)\n"
    b"_cell_length_c 2.9587(3)\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
    b"_symmetry_space_group_name_H-M 'P 42/m n m'\nloop_\n_symmetry_equiv_pos_as_xyz\nx,y,z\n-x,-y,z\n"
    b"1/2-y,1/2+x,1/2+z\n1/2+y,1/2-x,1/2+z\n1/2-x,1/2+y,1/2-z\n1/2+x,1/2-y,1/2-z\ny,x,-z\n-y,-x,-z\n-x,-y,-z\n"
    b"x,y,-z\n1/2+y,1/2-x,1/2-z\n1/2-y,1/2+x,1/2-z\n1/2+x,1/2-y,1/2+z\n1/2-x,1/2+y,1/2+z\n-y,-x,z\ny,x,z\n"
    b"loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
    b"_atom_site_occupancy\n_atom_site_B_iso_or_equiv\nTi1 Ti4+ 0 0 0 1 0.45(2)\nO1 O2- 0.3048(3) 0.3048(3) 0 1 0.6\n"
    b"loop_\n_atom_site_aniso_label\n_atom_site_aniso_U_11\n_atom_site_aniso_U_22\n_atom_site_aniso_U_33\n"
    b"_atom_site_aniso_U_12\n_atom_site_aniso_U_13\n_atom_site_aniso_U_23\nTi1 0.006 0.006 0.004 0.0003 0 0\n",
    b"data_triclinic\n_space_group_name_H-M_alt 'P -1'\n_cell_length_a 5.1\n_cell_length_b 6.2\n_cell_length_c 7.3\n"
    b"_cell_angle_alpha 80\n_cell_angle_beta 95.5\n_cell_angle_gamma 101\nloop_\n_space_group_symop_operation_xyz\n"
    b"'x, y, z'\n'-x, -y, -z'\nloop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n"
    b"_atom_site_fract_z\nC1 0.125 0.25 0.375\n",
    b"data_nnn\n_symmetry_space_group_name_H-M 'P n n n :2'\n_cell_length_a 4\n_cell_length_b 5\n_cell_length_c 6\n"
    b"_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n"
    b"_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nNa 0.25 0.25 0.25\n",
)

_STRU_ATOM = ("{el:<4}{x:18.8f}{y:18.8f}{z:18.8f}{o:13.4f}\n"
              "            0.00000000        0.00000000        0.00000000       0.0000\n"
              "            0.00250000        0.00250000        0.00250000\n"
              "            0.00000000        0.00000000        0.00000000\n"
              "            0.00000000        0.00000000        0.00000000\n"
              "            0.00000000        0.00000000        0.00000000\n")
STRU_SEEDS = (
    ("title  structure Ni  FCC\nformat pdffit\nscale   1.000000\nsharp   0.000000, 0.000000, 1.000000, 0.000000\n"
     "spcgr  Fm-3m\ncell    3.520000,  3.520000,  3.520000, 90.000000, 90.000000, 90.000000\n"
     "dcell   0.000000,  0.000000,  0.000000,  0.000000,  0.000000,  0.000000\nncell        1,       1,       1,"
     "         4\natoms\n"
     + "".join(_STRU_ATOM.format(el="NI", x=x, y=y, z=z, o=1.0)
               for x, y, z in ((0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)))).encode(),
    ("title  P1 pair\nformat pdffit\nscale   0.5\nspcgr  P1\ncell    4.0, 5.0, 6.0, 90.0, 100.0, 90.0\n"
     "dcell   0.001, 0.0, 0.0, 0.0, 0.0, 0.0\nncell 1, 1, 1, 2\natoms\n"
     + _STRU_ATOM.format(el="CD", x=0.1, y=0.2, z=0.3, o=0.9) + _STRU_ATOM.format(el="SE", x=0.5, y=0.6, z=0.7,
                                                                                   o=1.0)).encode(),
)


def _record(key: str, value: str) -> str:
    return (key.ljust(12) + value).ljust(80)[:80]


def _atom(index: int, code: str, xyz: tuple[float, ...], label: str, mult: int, u: tuple[float, ...],
          kind: str) -> list[str]:
    key = f"CRS1  AT{index:3d}"
    a = f"  {code:<8}" + "".join(f"{v:10.6f}" for v in (*xyz, 1.0)) + f"{label:<8}{mult:4d} 000"
    b = "".join(f"{v:10.6f}" for v in u).ljust(62) + kind + " XU"
    return [_record(key + "A", a), _record(key + "B", b)]


def _exp(sg: str, abc: tuple[float, ...], angles: tuple[float, ...], atoms: list[list[str]]) -> bytes:
    lines = [_record("     VERSION", "    6"), _record("      DESCR", "  synthetic"),
             _record(" EXPR NPHAS", "    1" + "    0" * 8), _record("CRS1    PNAM", "  phase"),
             _record("CRS1   NATOM", f"{len(atoms):5d}"),
             _record("CRS1  ABC", "".join(f"{v:10.6f}" for v in abc) + "    Y    0"),
             _record("CRS1  ANGLES", "".join(f"{v:10.4f}" for v in angles)), _record("CRS1  SG SYM", f"  {sg}")]
    for pair in atoms:
        lines += pair
    return ("\r\n".join(lines + [_record("ZZZZZZZZZZZZ", "  Last EXP file record")]) + "\r\n").encode()


EXP_SEEDS = (
    _exp("R -3 C", (4.7602, 4.7602, 12.9933), (90, 90, 120),
         [_atom(1, "AL+3", (0, 0, 0.35216), "AL1", 12, (0.003, 0.003, 0.0042, 0.0015, 0.0, 0.0), "A"),
          _atom(2, "O-2", (0.30624, 0, 0.25), "O2", 18, (0.0037,), "I")]),
    _exp("F D 3 M", (5.4309, 5.4309, 5.4309), (90, 90, 90), [_atom(1, "SI", (0.125,) * 3, "SI1", 8, (0.005,), "I")]),
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_structures")


@fuzz_settings()
@given(data=fuzz_inputs(CIF_SEEDS))
def test_fuzz_cif(folder, data):
    path = folder / "phase.cif"
    structure = read_or_refuse(read_cif, path, data)
    if structure is not None:
        check_structure(structure)


@fuzz_settings()
@given(data=fuzz_inputs(STRU_SEEDS))
def test_fuzz_stru(folder, data):
    path = folder / "phase.stru"
    structure = read_or_refuse(read_stru, path, data)
    if structure is not None:
        check_structure(structure)


@fuzz_settings()
@given(data=fuzz_inputs(EXP_SEEDS))
def test_fuzz_gsas_exp(folder, data):
    path = folder / "phase.EXP"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a second phase: read_exp warns; read_exp_phases reads them all
        phases = read_or_refuse(read_exp_phases, path, data)
    for phase in phases or ():
        check_structure(phase)
