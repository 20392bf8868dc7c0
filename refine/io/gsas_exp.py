"""The phases of an old-GSAS experiment file (``.EXP``) as crystal structures.

An ``.EXP`` file is a list of 80-character records, a 12-character key and 68 characters of fixed-width fields
(GSAS manual, Larson & Von Dreele 2004, LAUR 86-748; column layout as EXPGUI's ``readexp.tcl`` reads it).
``EXPR NPHAS`` gives the type of phases 1-9 (0 absent, 1 nuclear, 2 nuclear+magnetic, 3 magnetic, 4
macromolecular, 10 Pawley); phase n is in the ``CRSn`` records::

    CRS1    PNAM  name
    CRS1  ABC     a b c            (3F10)       CRS1  ABCSIG  esds (optional)
    CRS1  ANGLES  alpha beta gamma (3F10)       CRS1  ANGSIG  esds (optional)
    CRS1  SG SYM  P 63/m           (axes separated by spaces; trailing ' R' = rhombohedral axes)
    CRS1   NATOM  n                (I5)
    CRS1  AT  1A  type(A10) x y z frac (4F10) label(A8) multiplicity(I4) ...
    CRS1  AT  1B  Uiso or U11 U22 U33 U12 U13 U23 (6F10), then 'I' or 'A' at record column 75

Atom numbers are right-aligned in 3 columns (``AT  1A``, ``AT 12A``, ``AT123A``). U^ij follow the CIF convention
(dimensionless axes, Trueblood et al. 1996). GSAS puts the origin of a centrosymmetric group at a centre of
symmetry (International Tables origin choice 2); element codes such as ``CA+2`` become CIF species ``Ca2+``.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from refine.crystal.adp import u_equivalent
from refine.crystal.lattice import Lattice, symmetrize
from refine.crystal.scattering import parse_species, species_name
from refine.crystal.spacegroup import SpaceGroup, origin_choice, space_group
from refine.crystal.structure import CrystalStructure, Site
from refine.errors import InputError
from refine.io.fields import finite_float
from refine.io.registries import STRUCTURE_READERS
from refine.io.structures import _setting_for_cell, checked_lattice

RECORD = 80
KEY = 12
_PHASE_TYPES = {1: "nuclear", 2: "nuclear and magnetic", 3: "magnetic", 4: "macromolecular", 10: "Pawley"}
_UIJ = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


@STRUCTURE_READERS.register("exp")
def read_exp(path: str | os.PathLike) -> CrystalStructure:
    """Read the first phase of a GSAS ``.EXP`` file (a warning says so when the file has more).

    Raises
    ------
    InputError
        Not an EXP file, missing or non-numeric phase records, unknown space group or element.
    """
    phases = read_exp_phases(path)
    if len(phases) > 1:
        warnings.warn(f"{path}: {len(phases)} phases; using phase 1 ({phases[0].name}) "
                      "(refine.io.gsas_exp.read_exp_phases reads them all)", stacklevel=2)
    return phases[0]


def read_exp_phases(path: str | os.PathLike) -> list[CrystalStructure]:
    """Every phase of a GSAS ``.EXP`` file, in phase-number order (Pawley phases without atoms).

    Raises
    ------
    InputError
        As :func:`read_exp`.
    """
    path = Path(path)
    records = _records(path)
    return [_phase(path, records, number) for number in _phase_numbers(path, records)]


def _records(path: Path) -> dict[str, str]:
    """Key (12 characters) -> the 68 characters of fields, from CR/LF-terminated or unterminated records."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror or err}") from None
    if b"\x00" in raw:
        raise InputError(path, "binary file, not a GSAS .EXP text file")
    lines = raw.decode("latin-1").splitlines()
    if len(lines) == 1 and len(lines[0]) > 2 * RECORD:  # UNIX direct-access copy: records without newlines
        lines = [lines[0][i:i + RECORD] for i in range(0, len(lines[0]), RECORD)]
    if not lines or lines[0][:KEY] != "     VERSION":
        raise InputError(path, "not a GSAS .EXP file (the first record is not '     VERSION')")
    records: dict[str, str] = {}
    for line in lines:
        records.setdefault(line[:KEY], line[KEY:RECORD].ljust(RECORD - KEY))
    return records


def _phase_numbers(path: Path, records: dict[str, str]) -> list[int]:
    """Numbers of the phases present (types from ``EXPR NPHAS``, else every n with a ``CRSn  ABC`` record)."""
    text = records.get(" EXPR NPHAS ")
    if text is None:
        numbers = [n for n in range(1, 10) if f"CRS{n}  ABC   " in records]
    else:
        numbers = []
        for n in range(1, 10):
            field = text[5 * (n - 1):5 * n].strip()
            if not field:
                continue
            if not _is_count(field):
                raise InputError(path, f"EXPR NPHAS: phase {n} type is not an integer: {field!r}")
            kind = int(field)
            if kind == 0:
                continue
            if kind not in _PHASE_TYPES or kind == 4:
                what = _PHASE_TYPES.get(kind, f"unknown type {kind}")
                raise InputError(path, f"phase {n} is a {what} phase; only nuclear, magnetic and Pawley phases "
                                       "are read")
            numbers.append(n)
    if not numbers:
        raise InputError(path, "no phase (no EXPR NPHAS entry and no CRSn ABC records)")
    return numbers


def _is_count(text: str) -> bool:
    """ASCII digits only (str.isdigit also accepts '²', which int() refuses)."""
    return text.isascii() and text.isdigit()


def _record(path: Path, records: dict[str, str], key: str) -> str:
    try:
        return records[key]
    except KeyError:
        raise InputError(path, f"missing record {key.strip()!r}") from None


def _floats(path: Path, text: str, count: int, what: str, start: int = 0) -> list[float]:
    """``count`` F10 fields of ``text`` from column ``start``."""
    return [finite_float(path, text[start + 10 * i:start + 10 * (i + 1)], f"{what} field {i + 1}")
            for i in range(count)]


def _phase(path: Path, records: dict[str, str], n: int) -> CrystalStructure:
    """Phase ``n`` from its ``CRSn`` records."""
    crs = f"CRS{n}"
    cell = (_floats(path, _record(path, records, f"{crs}  ABC   "), 3, f"{crs} ABC")
            + _floats(path, _record(path, records, f"{crs}  ANGLES"), 3, f"{crs} ANGLES"))
    lattice = checked_lattice(path, cell, f"{crs} ABC/ANGLES")
    esd = None
    if f"{crs}  ABCSIG" in records and f"{crs}  ANGSIG" in records:
        esd = tuple(_floats(path, records[f"{crs}  ABCSIG"], 3, f"{crs} ABCSIG")
                    + _floats(path, records[f"{crs}  ANGSIG"], 3, f"{crs} ANGSIG"))
    sg = _space_group(path, _record(path, records, f"{crs}  SG SYM").strip(), lattice, crs)
    natom_text = records.get(f"{crs}   NATOM", "")[:5].strip() or "0"
    if not _is_count(natom_text):
        raise InputError(path, f"{crs} NATOM: not an integer: {natom_text!r}")
    sites = tuple(_site(path, records, crs, i, lattice) for i in range(1, int(natom_text) + 1))
    name = records.get(f"{crs}    PNAM", "").strip() or (path.stem if n == 1 else f"{path.stem}_{n}")
    structure = CrystalStructure(name=name, lattice=lattice, space_group=sg, sites=sites,
                                 lattice_esd=esd if esd and any(esd) else None)
    _check_multiplicities(path, records, crs, structure)
    return structure


def _space_group(path: Path, text: str, lattice: Lattice, crs: str) -> SpaceGroup:
    """A GSAS symbol ('P 63/M', 'R -3 C', 'R -3 C R', 'F D 3 M') in GSAS's setting and origin."""
    words = text.split()
    if not words:
        raise InputError(path, f"{crs} SG SYM: no space-group symbol")
    axes = None
    if words[0].upper() == "R" and len(words) > 2 and words[-1].upper() in ("R", "H"):
        axes = "rhombohedral" if words.pop().upper() == "R" else "hexagonal"
    symbol = " ".join([words[0].upper()] + [w.lower() for w in words[1:]])
    sg = space_group(symbol + (f":{axes[0].upper()}" if axes else ""), source=str(path))
    if axes:
        symmetrize(lattice, sg, source=f"{path}: {crs} ABC/ANGLES")  # the cell must be on the named axes
    else:
        sg = _setting_for_cell(sg, lattice, False, path)
    return _origin_at_centre(sg, symbol, path)


def _origin_at_centre(sg: SpaceGroup, symbol: str, path: Path) -> SpaceGroup:
    """For a centrosymmetric group with two origin choices, the operations of origin choice 2 (at -1)."""
    inversion = [i for i, r in enumerate(sg.rotations) if np.array_equal(r, -np.eye(3, dtype=int))]
    if not inversion or any(np.allclose(sg.translations[i], 0.0) for i in inversion):
        return sg
    try:
        second = origin_choice(symbol, 2, source=str(path))
    except InputError:
        raise InputError(path, f"space group {symbol!r}: no origin-choice-2 setting (origin at -1) known") from None
    if {r.tobytes() for r in second.rotations.astype(np.int64)} != {r.tobytes() for r in sg.rotations}:
        raise InputError(path, f"space group {symbol!r}: origin-choice-2 operations do not match the symbol")
    return SpaceGroup(symbol=f"{sg.symbol}:2", number=sg.number, rotations=second.rotations,
                      translations=second.translations)


def _atom_key(crs: str, i: int) -> str:
    return f"{crs}  AT{i:3d}"


def _site(path: Path, records: dict[str, str], crs: str, i: int, lattice: Lattice) -> Site:
    """Atom ``i`` of a phase from its A (type, xyz, occupancy, label) and B (ADP) records."""
    key = _atom_key(crs, i)
    a = _record(path, records, key + "A")
    b = _record(path, records, key + "B")
    what = f"{crs} atom {i}"
    element = _species(path, a[:10].strip(), what)
    x, y, z, frac = _floats(path, a, 4, f"{what} (x y z frac)", start=10)
    label = a[50:58].strip() or f"{parse_species(element)[0]}{i}"
    kind = b[62:63].upper()
    if kind == "I":
        uiso = finite_float(path, b[0:10], f"{what} Uiso")
        return Site(label=label, element=element, xyz=(x, y, z), occupancy=frac, uiso=uiso)
    if kind == "A":
        values = _floats(path, b, 6, f"{what} (U11 U22 U33 U12 U13 U23)")
        u = np.zeros((3, 3))
        for (j, k), v in zip(_UIJ, values, strict=True):
            u[j, k] = u[k, j] = v
        with np.errstate(over="ignore", invalid="ignore"):
            ueq = u_equivalent(u, lattice)
        if not np.isfinite(ueq):  # U of 1e308: the equivalent U overflows
            raise InputError(path, f"{what}: U11 ... U23 give no finite equivalent Uiso")
        return Site(label=label, element=element, xyz=(x, y, z), occupancy=frac, uiso=ueq, uaniso=u)
    raise InputError(path, f"{what}: ADP type at column 75 of the B record is {kind!r}, not 'I' or 'A'")


def _species(path: Path, code: str, what: str) -> str:
    """GSAS element code ('CA', 'CA+2', 'F-1', 'FE+3') -> CIF species ('Ca', 'Ca2+', 'F1-', 'Fe3+')."""
    if not re.fullmatch(r"[A-Za-z]{1,2}(?:[+-]\d?)?", code):
        raise InputError(path, f"{what}: {code!r} is not a GSAS element code ('CA', 'CA+2', 'F-1')")
    element, charge = parse_species(code, source=str(path))
    return species_name(element, charge)


def _check_multiplicities(path: Path, records: dict[str, str], crs: str, structure: CrystalStructure) -> None:
    """The multiplicity GSAS wrote for each atom must equal the space group's (a wrong setting or origin shows)."""
    if not structure.sites:
        return
    for i, (site, mult) in enumerate(zip(structure.sites, structure.multiplicities(), strict=True), start=1):
        text = records[_atom_key(crs, i) + "A"][58:62].strip()
        if _is_count(text) and int(text) > 0 and int(text) != mult:
            raise InputError(path, f"{crs} atom {i} ({site.label}): multiplicity {text} in the file but {mult} in "
                                   f"{structure.space_group.symbol} (space-group setting or origin differ)")
