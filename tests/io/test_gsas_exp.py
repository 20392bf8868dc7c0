"""GSAS .EXP phases: the fluorapatite file as written, cross-checks through CIF with pymatgen and gemmi,
synthetic anisotropic / multi-phase / rhombohedral / origin-choice-2 files, and bad input."""

from __future__ import annotations

import re
from collections import Counter

import gemmi
import numpy as np
import periodictable
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymatgen.core import Composition
from pymatgen.io.cif import CifParser

from refine.crystal.structure import CrystalStructure, u_equivalent
from refine.errors import InputError
from refine.io.gsas_exp import read_exp_phases
from refine.io.structures import read_structure, write_cif
from tests.conftest import shared_path

AVOGADRO = 6.02214076e23


def fap_path():
    return shared_path("powder_rietveld", "gsas2_fluorapatite_lab_CuKa", "FAP.EXP")


def cell_content(phase: CrystalStructure) -> dict[str, float]:
    """Atoms per cell by element, from the space-group expansion of the asymmetric unit."""
    atoms = phase.expand()
    content: Counter[str] = Counter()
    for element, occ in zip(atoms.elements, atoms.occupancy, strict=True):
        content["".join(ch for ch in element if ch.isalpha())] += occ
    return dict(content)


def density(phase: CrystalStructure) -> float:
    """g/cm^3 from the expanded cell content and periodictable's atomic masses."""
    mass = sum(n * periodictable.elements.symbol(el).mass for el, n in cell_content(phase).items())
    return mass / AVOGADRO / (phase.lattice.volume * 1e-24)


def test_fluorapatite_exp_reads_as_the_file_says():
    phase = read_structure(fap_path())
    # Literal values of the CRS1 records of FAP.EXP.
    assert phase.name == "fap"
    assert phase.lattice.as_tuple() == (9.371724, 9.371724, 6.885867, 90.0, 90.0, 120.0)
    assert phase.lattice_esd == pytest.approx((0.000036, 0.000036, 0.000037, 0.0, 0.0, 0.0))
    assert phase.space_group.symbol == "P63/m" and phase.space_group.number == 176 and len(phase.space_group) == 12
    assert [s.label for s in phase.sites] == ["CA1", "CA2", "P3", "F4", "O5", "O6", "O7"]
    assert [s.element for s in phase.sites] == ["Ca", "Ca", "P", "F", "O", "O", "O"]
    assert phase.sites[0].xyz == (0.333333, 0.666667, 0.001913)
    assert phase.sites[6].xyz == (0.33951, 0.258126, 0.070641)
    assert [s.uiso for s in phase.sites] == [0.006079, 0.004561, 0.003978, 0.013850, 0.004916, 0.006609, 0.006713]
    assert all(s.uaniso is None and s.occupancy == 1.0 for s in phase.sites)
    # Multiplicities the file lists (columns 71-74 of the A records) = those of the space-group expansion.
    assert phase.multiplicities() == (4, 6, 6, 2, 6, 6, 12)
    # Ca5(PO4)3F with Z = 2: Ca10 P6 O24 F2 in the cell.
    assert cell_content(phase) == {"Ca": 10, "P": 6, "F": 2, "O": 24}
    # The file's own CELVOL record: 523.755(5) Å^3.
    assert phase.lattice.volume == pytest.approx(523.755, abs=0.005)


def test_fluorapatite_through_cif_agrees_with_pymatgen_and_gemmi(tmp_path):
    phase = read_structure(fap_path())
    cif = tmp_path / "fap.cif"
    write_cif(phase, cif)
    pmg = CifParser(str(cif)).parse_structures(primitive=False)[0]
    reduced, z = pmg.composition.get_reduced_composition_and_factor()
    assert reduced == Composition("Ca5(PO4)3F") and z == 2
    assert pmg.composition.get_el_amt_dict() == {"Ca": 10, "P": 6, "O": 24, "F": 2}
    # Densities from two independent mass tables and cell volumes: agree to 1e-4 relative (mass-table spread).
    assert pmg.density == pytest.approx(density(phase), rel=1e-4)
    small = gemmi.read_small_structure(str(cif))
    counts = Counter(site.type_symbol for site in small.get_all_unit_cell_sites())
    assert dict(counts) == {"Ca": 10, "P": 6, "F": 2, "O": 24}
    # The CIF rounds a and c to their esds (9.37172(4)): volume within 2 x 0.5e-5 / 6.9 relative.
    assert small.cell.volume == pytest.approx(phase.lattice.volume, rel=2e-6)
    assert gemmi.find_spacegroup_by_ops(gemmi.GroupOps([gemmi.Op(t) for t in phase.space_group.triplets()])
                                        ).number == 176


def record(key: str, value: str) -> str:
    return (key.ljust(12) + value).ljust(80)[:80]


def atom(n: int, index: int, code: str, xyz, label: str, mult: int, u, kind: str = "I", frac: float = 1.0):
    key = f"CRS{n}  AT{index:3d}"
    a = f"  {code:<8}" + "".join(f"{v:10.6f}" for v in (*xyz, frac)) + f"{label:<8}{mult:4d} 000"
    b = "".join(f"{v:10.6f}" for v in u).ljust(62) + kind + " XU"
    return [record(key + "A", a), record(key + "B", b)]


def phase_records(n: int, name: str, abc, angles, sg: str, atoms: list[list[str]]) -> list[str]:
    lines = [record(f"CRS{n}    PNAM", f"  {name}"), record(f"CRS{n}   NATOM", f"{len(atoms):5d}"),
             record(f"CRS{n}  ABC", "".join(f"{v:10.6f}" for v in abc) + "    Y    0"),
             record(f"CRS{n}  ANGLES", "".join(f"{v:10.4f}" for v in angles))]
    for pair in atoms:
        lines += pair
    return lines + [record(f"CRS{n}  SG SYM", f"  {sg}")]


def exp_text(*phases: list[str], types: tuple[int, ...] | None = None) -> str:
    types = types or (1,) * len(phases)
    nphas = "".join(f"{t:5d}" for t in types) + "    0" * (9 - len(types))
    lines = [record("     VERSION", "    6"), record("      DESCR", "  synthetic"), record(" EXPR NPHAS", nphas)]
    for p in phases:
        lines += p
    return "\r\n".join(lines + [record("ZZZZZZZZZZZZ", "  Last EXP file record")]) + "\r\n"


# Corundum-type test phase on hexagonal axes: Al on the 3-fold axis with U11 = U22 = 2 U12 (site symmetry 3).
U_AL = (0.0030, 0.0030, 0.0042, 0.0015, 0.0, 0.0)
CORUNDUM = phase_records(1, "corundum", (4.7602, 4.7602, 12.9933), (90, 90, 120), "R -3 C", [
    atom(1, 1, "AL+3", (0, 0, 0.35216), "AL1", 12, U_AL, kind="A"),
    atom(1, 2, "O-2", (0.30624, 0, 0.25), "O2", 18, (0.0037,)),
])
# Diamond-type Si in F d -3 m: GSAS's origin is at -3m (origin choice 2), where Si sits at 1/8 1/8 1/8 (8a).
SILICON = phase_records(2, "silicon", (5.4309, 5.4309, 5.4309), (90, 90, 90), "F D 3 M", [
    atom(2, 1, "SI", (0.125, 0.125, 0.125), "SI1", 8, (0.0050,)),
])


def test_anisotropic_site_and_second_phase_round_trip(tmp_path):
    path = tmp_path / "two.EXP"
    path.write_text(exp_text(CORUNDUM, SILICON), newline="")
    corundum, silicon = read_exp_phases(path)
    assert corundum.space_group.symbol == "R-3c:H" and corundum.space_group.setting == "hexagonal"
    al, o = corundum.sites
    assert (al.element, o.element) == ("Al3+", "O2-")
    u = np.array(al.uaniso)
    assert u[0, 0] == 0.003 and u[2, 2] == 0.0042 and u[0, 1] == u[1, 0] == 0.0015 and u[0, 2] == 0.0
    assert al.uiso == pytest.approx(u_equivalent(u, corundum.lattice))
    assert o.uaniso is None and o.uiso == 0.0037
    assert corundum.multiplicities() == (12, 18) and cell_content(corundum) == {"Al": 12, "O": 18}
    # Every image of the anisotropic site keeps the site's tensor invariant under the 3-fold (U is allowed there).
    assert np.allclose(corundum.expand().uaniso[0], u)
    # Si: 8 atoms, nearest neighbours at a sqrt(3)/4 (diamond); origin choice 1 would give 32 atoms at 1/8 1/8 1/8.
    assert silicon.space_group.symbol.endswith(":2") and silicon.multiplicities() == (8,)
    xyz = silicon.expand().xyz
    d = xyz[1:] - xyz[0]
    d -= np.round(d)
    assert np.min(np.linalg.norm(d @ silicon.lattice.cartesian.T, axis=1)) == pytest.approx(5.4309 * 3**0.5 / 4)
    # The registered reader takes phase 1 and says so; its CIF reads back with the same ADPs and species.
    with pytest.warns(UserWarning, match="2 phases; using phase 1"):
        first = read_structure(path)
    assert first.name == "corundum"
    cif = tmp_path / "corundum.cif"
    write_cif(first, cif)
    again = read_structure(cif)
    assert [s.element for s in again.sites] == ["Al3+", "O2-"]
    assert np.allclose(again.sites[0].uaniso, u, atol=1e-12) and again.sites[1].uiso == pytest.approx(0.0037)


def test_rhombohedral_axes(tmp_path):
    """'R -3 C R' with the corundum cell on rhombohedral axes: a third of the hexagonal cell's content."""
    a_h, c_h = 4.7602, 12.9933
    a_r = np.sqrt(3 * a_h**2 + c_h**2) / 3
    alpha = np.degrees(2 * np.arcsin(3 * a_h / (2 * np.sqrt(3 * a_h**2 + c_h**2))))
    x_o = 0.30624 + 0.25  # O at x, 1/2 - x, 1/4 on rhombohedral axes
    records = phase_records(1, "corundum-R", (a_r,) * 3, (alpha,) * 3, "R -3 C R", [
        atom(1, 1, "AL", (0.35216,) * 3, "AL1", 4, (0.003,)),
        atom(1, 2, "O", (x_o, 0.5 - x_o, 0.25), "O2", 6, (0.004,)),
    ])
    path = write(tmp_path, exp_text(records))
    phase = read_structure(path)
    assert phase.space_group.setting == "rhombohedral" and phase.multiplicities() == (4, 6)
    # Angles are written to 1e-4 degree (F10.4, as GSAS does): about 1e-6 relative in the volume.
    assert phase.lattice.volume == pytest.approx(np.sqrt(3) / 2 * a_h**2 * c_h / 3, rel=5e-6)
    assert cell_content(phase) == {"Al": 4, "O": 6}


def write(folder, text: str, name: str = "t.exp"):
    path = folder / name
    path.write_text(text, newline="")
    return path


def replace_field(text: str, key: str, start: int, new: str) -> str:
    """``text`` with the record ``key`` overwritten from record column ``start`` (0-based) by ``new``."""
    lines = text.split("\r\n")
    i = next(k for k, line in enumerate(lines) if line.startswith(key))
    lines[i] = (lines[i][:start] + new + lines[i][start + len(new):])[:80]
    return "\r\n".join(lines)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace("     VERSION", "     VERSIOX"), "not a GSAS .EXP file"),
    (lambda t: t.replace("CRS1  ABC   ", "CRS1  ABX   "), "missing record 'CRS1  ABC'"),
    (lambda t: replace_field(t, "CRS1  AT  1A", 22, "    abc.d0"), "CRS1 atom 1 (x y z frac) field 1"),
    (lambda t: replace_field(t, "CRS1  AT  2B", 12, "       nan"), "CRS1 atom 2 Uiso"),
    (lambda t: replace_field(t, "CRS1  AT  2B", 74, "Q"), "ADP type"),
    (lambda t: replace_field(t, "CRS1  SG SYM", 12, "  P 7 Q Q "), "unknown space group"),
    (lambda t: replace_field(t, "CRS1  AT  1A", 12, "  XX+2    "), "unknown element 'Xx'"),
    (lambda t: replace_field(t, "CRS1  AT  1A", 12, "  A1      "), "not a GSAS element code"),
    (lambda t: replace_field(t, "CRS1  AT  1A", 70, "   6"), "multiplicity 6 in the file but 12"),
    (lambda t: replace_field(t, " EXPR NPHAS", 12, "    4"), "macromolecular phase"),
    (lambda t: t.replace("CRS1  AT  2A", "CRS1  AT  3A"), "missing record 'CRS1  AT  2A'"),
    # found by fuzzing: a gamma of 5e-324 degrees made a singular metric (LinAlgError)
    (lambda t: replace_field(t, "CRS1  ANGLES", 32, "  4.9e-324"), "90 90 4.94066e-324: the angles make no"),
    (lambda t: replace_field(t, "CRS1  ABC", 12, " -4.760200"), "CRS1 ABC/ANGLES: cell -4.7602 4.7602"),
    (lambda t: replace_field(t, "CRS1  ABC", 12, "  4.9e-324"), "4.94066e-324 4.7602 12.9933 90 90 120 is no usable"),
    (lambda t: replace_field(t, " EXPR NPHAS", 12, "   \u00b21"), "phase 1 type is not an integer"),
    (lambda t: replace_field(t, "CRS1  AT  1B", 12, "  -1.7e308"), "CRS1 atom 1: U11 ... U23 give no finite"),
])
def test_bad_input_names_the_file(tmp_path, change, message):
    path = write(tmp_path, change(exp_text(CORUNDUM)))
    with pytest.raises(InputError, match=re.escape(message)) as info:
        read_structure(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_binary_and_empty_files(tmp_path):
    path = write(tmp_path, "", "empty.EXP")
    with pytest.raises(InputError, match="not a GSAS .EXP file"):
        read_structure(path)
    path.write_bytes(b"\x00\x01binary")
    with pytest.raises(InputError, match="binary"):
        read_structure(path)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(line=st.integers(0, 12), column=st.integers(0, 79), junk=st.text(min_size=1, max_size=12))
def test_corrupted_records_read_or_raise_input_error(tmp_path, line, column, junk):
    lines = exp_text(CORUNDUM).split("\r\n")
    lines[line] = (lines[line][:column] + junk + lines[line][column + len(junk):])[:80]
    path = write(tmp_path, "\r\n".join(lines), "junk.exp")
    try:
        phase = read_structure(path)
    except InputError as err:
        assert str(path) in str(err)
    else:
        assert isinstance(phase, CrystalStructure)
