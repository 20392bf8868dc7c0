"""Reading and writing crystal structures: CIF and PDFfit ``.stru`` (through diffpy.structure), GSAS ``.EXP``
(:mod:`refine.io.gsas_exp`), DFT/MD supercells as VASP POSCAR/CONTCAR, extended XYZ and AtomEye CFG (through ASE,
:mod:`refine.io.ase_formats`), CIF output.

A CIF keeps its own symmetry operations (any setting). A ``.stru`` file lists every atom of the cell and names
the space group in ``spcgr``; the atoms are reduced to an asymmetric unit of that group when they form complete
orbits, otherwise the structure is kept in P1 (and ``structure_from_cell`` makes an atom-free phase for
Le Bail / Pawley fits).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from refine import __version__
from refine.crystal.adp import B_TO_U, iso_tensor, u_equivalent
from refine.crystal.lattice import Lattice, symmetrize
from refine.crystal.scattering import parse_species, species_name
from refine.crystal.spacegroup import SpaceGroup, from_diffpy, from_triplets, same_operations, space_group
from refine.crystal.structure import MERGE_TOLERANCE, CrystalStructure, Site
from refine.errors import InputError
from refine.io.atomic import atomic_open
from refine.io.paths import check_regular_file
from refine.io.registries import STRUCTURE_READERS, load_formats

Reader = Callable[..., CrystalStructure]
_EXTENSIONS = {".cif": "cif", ".stru": "stru", ".exp": "exp", ".vasp": "vasp", ".poscar": "vasp",
               ".xyz": "extxyz", ".extxyz": "extxyz", ".cfg": "cfg"}
# VASP's own file names, with or without a suffix (POSCAR, CONTCAR, POSCAR_relaxed, CONTCAR.1)
_NAME_PREFIXES = {"POSCAR": "vasp", "CONTCAR": "vasp"}
_UIJ = ("11", "22", "33", "12", "13", "23")
_UIJ_INDEX = {"11": (0, 0), "22": (1, 1), "33": (2, 2), "12": (0, 1), "13": (0, 2), "23": (1, 2)}


def read_structure(path: str | os.PathLike, *, format: str | None = None) -> CrystalStructure:
    """Read a structure from a CIF, a PDFfit ``.stru`` or a GSAS ``.EXP`` file (its first phase), or a supercell
    from a VASP POSCAR/CONTCAR, extended XYZ or AtomEye CFG file (in P1).

    The format comes from ``format`` or the extension; a file whose extension is not a structure's and whose name
    begins with POSCAR or CONTCAR is read as VASP.

    Raises
    ------
    InputError
        Missing or unreadable file, or content that is not a structure.
    """
    path = check_regular_file(path, kind="structure")
    fmt = format or _EXTENSIONS.get(path.suffix.lower()) or _format_from_name(path.name)
    if fmt is None:
        known = ", ".join(_EXTENSIONS)
        raise InputError(path, f"unknown structure extension {path.suffix!r}; use {known} or a VASP file named "
                               "POSCAR*/CONTCAR*")
    load_formats("structure")
    return STRUCTURE_READERS.get(fmt)(path)


def _format_from_name(name: str) -> str | None:
    """The format a file name implies without a known extension (VASP's POSCAR*/CONTCAR*), else None."""
    upper = name.upper()
    return next((fmt for prefix, fmt in _NAME_PREFIXES.items() if upper.startswith(prefix)), None)


def structure_from_cell(
    spacegroup: str | int, cell: str | tuple[float, ...], *, name: str = "phase"
) -> CrystalStructure:
    """An atom-free phase from ``--spacegroup SG --cell "a b c alpha beta gamma"`` (Le Bail / Pawley).

    The cell must obey the space group's constraints (to 1e-3); it is then made to obey them exactly.
    """
    sg = space_group(spacegroup, source="spacegroup")
    try:
        values = [float(v) for v in (cell.replace(",", " ").split() if isinstance(cell, str) else cell)]
    except ValueError as err:
        raise InputError("cell", f"{cell!r} is not a cell 'a b c alpha beta gamma': {err}") from None
    lattice = Lattice.from_sequence(values, source="cell")
    return CrystalStructure(name=name, lattice=symmetrize(lattice, sg, source="cell"), space_group=sg)


def _value_esd(text: object) -> tuple[float, float | None]:
    """'0.2081(2)' -> (0.2081, 0.0002); '?', '.', or a value or esd beyond the float range -> (nan, None)."""
    s = str(text).strip()
    m = re.fullmatch(r"([-+]?(?:\d+\.?\d*|\.\d+))(?:[eE]([-+]?\d+))?(?:\((\d+)\))?", s)
    if not m:
        return math.nan, None
    mantissa, exponent, err = m.groups()
    value = float(f"{mantissa}e{exponent or 0}")  # float() of the text: inf, not OverflowError, for 1e999
    if err is None or not math.isfinite(value):
        return (value, None) if math.isfinite(value) else (math.nan, None)
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    esd = float(f"{err}e{int(exponent or 0) - decimals}")
    return (value, esd) if math.isfinite(esd) else (math.nan, None)


def checked_lattice(path: str | os.PathLike, values: list[float], what: str | None = None) -> Lattice:
    """The cell (a, b, c, alpha, beta, gamma) a structure file gives; InputError naming the file and ``what`` when
    the values make no cell (:func:`refine.crystal.lattice.check_cell`) or one whose metric cannot be inverted
    (a length of 5e-324 Å passes as positive)."""
    try:
        lattice = Lattice.from_sequence(values, source=path)
    except InputError as err:
        raise InputError(path, f"{what}: {err.problem}" if what else err.problem) from None
    try:
        reciprocal = lattice.reciprocal_metric
    except np.linalg.LinAlgError:
        reciprocal = np.full((3, 3), np.nan)
    if not np.all(np.isfinite(reciprocal)):
        problem = f"cell {' '.join(f'{v:g}' for v in values)} is no usable cell (its metric cannot be inverted)"
        raise InputError(path, f"{what}: {problem}" if what else problem)
    return lattice


@STRUCTURE_READERS.register("cif")
def read_cif(path: str | os.PathLike) -> CrystalStructure:
    """Read the first data block with atoms (or with a cell and a space group) of a CIF."""
    from CifFile import StarError
    from diffpy.structure.structureerrors import StructureFormatError

    from refine.io.cif_parser import CELL_KEYS, SYMOP_TAGS, cif_parser

    path = Path(path)
    parser = cif_parser()
    try:
        try:
            stru = parser.parseFile(str(path))
        except StructureFormatError as err:
            if "Duplicated item name" in str(err):
                # Some database CIFs repeat an item (e.g. an empty _chemical_formula_sum): keep the first one.
                stru = parser.parse(_drop_duplicate_items(path.read_text(errors="replace")))
            elif "unknown space group" in str(err) and (text := _with_origin_choice_ops(path)) is not None:
                stru = parser.parse(text)  # an ITA origin choice 2 named by symbol only (diffpy has choice 1)
            else:
                raise
    except (StructureFormatError, StarError, ValueError, KeyError, IndexError) as err:
        problem = " ".join(str(err).split()) or type(err).__name__  # StarError messages span lines
        raise InputError(path, f"not a readable CIF structure: {problem[:200]}") from None
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror or err}") from None
    block = next((parser.ciffile[n] for n in parser.ciffile.keys() if "_atom_site_label" in parser.ciffile[n]), None)
    if stru is None or parser.spacegroup is None or block is None:
        raise InputError(path, "no data block with _atom_site_label and a space group")
    lattice_values = [_value_esd(block.get(f"_cell_{k}", "nan")) for k in CELL_KEYS]
    for key, (value, _) in zip(CELL_KEYS, lattice_values, strict=True):
        if not np.isfinite(value):
            raise InputError(path, f"_cell_{key} is missing or not a number: {str(block.get(f'_cell_{key}'))[:30]!r}")
    lattice = checked_lattice(path, [v for v, _ in lattice_values])
    explicit_ops = any(k in block for k in SYMOP_TAGS)
    sg = _setting_for_cell(from_diffpy(parser.spacegroup), lattice, explicit_ops, path)
    if explicit_ops:
        # diffpy takes a known H-M name's own table even when the file lists other operations (an origin choice 2
        # named 'F d -3 m'): the listed operations decide
        try:
            listed = from_triplets(_listed_triplets(block), source=str(path))
        except InputError:
            raise
        except ValueError as err:  # operations that generate no group
            raise InputError(path, f"symmetry operations: {err}") from None
        if not same_operations(listed, sg):
            sg = listed
    if sg.number == 0:
        sg = _named(sg, block)
    name = str(block.get("_pd_phase_name") or block.get("_chemical_name_mineral") or "").strip()
    name = name if name and name not in ("?", ".") else path.stem
    return CrystalStructure(
        name=name,
        lattice=lattice,
        space_group=sg,
        sites=_cif_sites(path, block, parser.asymmetric_unit, lattice),
        lattice_esd=tuple(e or 0.0 for _, e in lattice_values) if any(e for _, e in lattice_values) else None,
    )


_HM_ORIGIN = re.compile(r"^\s*(_symmetry_space_group_name_H-M|_space_group_name_H-M_alt)\s+['\"]?([^'\"\n]*?)"
                        r"\s*:\s*([12])['\"]?\s*$", re.MULTILINE | re.IGNORECASE)


def _with_origin_choice_ops(path: Path) -> str | None:
    """The CIF text with the symmetry operations of an origin-choice symbol such as 'F d -3 m :2' written out
    (from gemmi's tables), or None when the file names no origin choice or already lists operations."""
    text = path.read_text(errors="replace")
    match = _HM_ORIGIN.search(text)
    if match is None or re.search(r"_space_group_symop_operation_xyz|_symmetry_equiv_pos_as_xyz", text):
        return None
    sg = space_group(f"{match.group(2)}:{match.group(3)}", source=str(path))
    ops = "".join(f"'{t}'\n" for t in sg.triplets())
    return text + f"\nloop_\n_symmetry_equiv_pos_as_xyz\n{ops}"


def _listed_triplets(block: object) -> list[str]:
    from refine.io.cif_parser import SYMOP_TAGS

    for tag in SYMOP_TAGS:
        if tag in block:
            values = block[tag]
            return [values] if isinstance(values, str) else [str(t) for t in values]
    return []


def _named(sg: SpaceGroup, block: object) -> SpaceGroup:
    """Operations listed without a group diffpy knows: the group of the block's H-M symbol (origin choice
    included) when its operations are exactly these, else ``sg`` unchanged."""
    for tag in ("_space_group_name_H-M_alt", "_symmetry_space_group_name_H-M"):
        name = str(block.get(tag) or "").strip()
        if name and name not in ("?", "."):
            try:
                named = space_group(name)
            except InputError:
                continue
            if same_operations(named, sg):
                return named
    return sg


def _drop_duplicate_items(text: str) -> str:
    """The CIF text without repeats of a single-valued item within a data block (the first one is kept)."""
    seen: set[str] = set()
    out = []
    for line in text.splitlines():
        words = line.split(None, 1)
        if words and words[0].lower().startswith("data_"):
            seen = set()
        elif len(words) == 2 and words[0].startswith("_"):
            tag = words[0].lower()
            if tag in seen:
                continue
            seen.add(tag)
        out.append(line)
    return "\n".join(out) + "\n"


def _setting_for_cell(sg: SpaceGroup, lattice: Lattice, explicit_ops: bool, path: Path) -> SpaceGroup:
    """Rhombohedral groups named only by symbol: take the axes (hexagonal/rhombohedral) the cell is given in."""
    if sg.setting not in ("hexagonal", "rhombohedral") or sg.symbol[:1] != "R":
        return sg
    hex_cell = abs(lattice.gamma - 120.0) < 1e-3 and abs(lattice.alpha - 90.0) < 1e-3
    wanted = "hexagonal" if hex_cell else "rhombohedral"
    if sg.setting == wanted:
        return sg
    if explicit_ops:
        raise InputError(path, f"the symmetry operations are on {sg.setting} axes but the cell is {wanted}")
    return space_group(f"{sg.symbol.split(':')[0]}:{wanted[0].upper()}", source=str(path))


def _cif_sites(path: Path, block: object, atoms: list, lattice: Lattice) -> tuple[Site, ...]:
    loop = {k.lower(): list(v) for k, v in block.GetLoop("_atom_site_label").items()}
    labels = loop["_atom_site_label"]
    aniso: dict[str, dict[str, tuple[float, float | None]]] = {}
    if "_atom_site_aniso_label" in block:
        aloop = {k.lower(): list(v) for k, v in block.GetLoop("_atom_site_aniso_label").items()}
        for i, lab in enumerate(aloop["_atom_site_aniso_label"]):
            entry = {}
            for ij in _UIJ:
                for kind, scale in (("u", 1.0), ("b", B_TO_U)):
                    key = f"_atom_site_aniso_{kind}_{ij}"
                    if key in aloop:
                        v, e = _value_esd(aloop[key][i])
                        entry[ij] = (v * scale, None if e is None else e * scale)
            aniso[lab] = entry
    sites = []
    for atom, lab in zip(atoms, [lab for lab in labels if lab != "?"], strict=True):
        row = labels.index(lab)
        esd: dict[str, float] = {}
        for key, name in (("_atom_site_fract_x", "x"), ("_atom_site_fract_y", "y"), ("_atom_site_fract_z", "z"),
                          ("_atom_site_occupancy", "occupancy")):
            if key in loop:
                _, e = _value_esd(loop[key][row])
                if e is not None:
                    esd[name] = e
        uiso = None
        for key, scale in (("_atom_site_u_iso_or_equiv", 1.0), ("_atom_site_b_iso_or_equiv", B_TO_U)):
            if key in loop:
                v, e = _value_esd(loop[key][row])
                if np.isfinite(v):
                    uiso = v * scale
                    if e is not None:
                        esd["uiso"] = e * scale
        uaniso = None
        if lab in aniso and len(aniso[lab]) == 6:
            u = np.zeros((3, 3))
            for ij, (v, e) in aniso[lab].items():
                i, j = _UIJ_INDEX[ij]
                u[i, j] = u[j, i] = v
                if e is not None:
                    esd[f"u{ij}"] = e
            uaniso = u
            with np.errstate(over="ignore", invalid="ignore"):
                uiso = u_equivalent(u, lattice) if np.all(np.isfinite(u)) else math.nan
        values = [*atom.xyz, atom.occupancy] + ([] if uiso is None else [uiso])
        if not np.all(np.isfinite(np.asarray(values, dtype=float))):
            raise InputError(path, f"site {lab}: coordinates, occupancy or U are not finite numbers")
        sites.append(Site(label=lab, element=str(atom.element), xyz=tuple(atom.xyz), occupancy=float(atom.occupancy),
                          uiso=uiso, uaniso=uaniso, esd=esd))
    return tuple(sites)


@STRUCTURE_READERS.register("stru")
def read_stru(path: str | os.PathLike) -> CrystalStructure:
    """Read a PDFfit ``.stru`` file; atoms reduced to the asymmetric unit of ``spcgr`` when they fit it."""
    from diffpy.structure.parsers import getParser
    from diffpy.structure.structureerrors import StructureFormatError

    path = Path(path)
    try:
        stru = getParser("pdffit").parseFile(str(path))
    except StopIteration:  # diffpy's parser runs out of lines inside an atom record
        raise InputError(path, "not a readable PDFfit structure: the file ends inside an atom record") from None
    except ArithmeticError as err:  # diffpy builds its lattice from the cell line: a zero or infinite length
        raise InputError(path, f"the cell line makes no lattice: {err}") from None
    except TypeError as err:  # diffpy multiplies the ncell values with reduce(): none given
        problem = "the ncell line holds no numbers" if "reduce" in str(err) else " ".join(str(err).split())[:200]
        raise InputError(path, f"not a readable PDFfit structure: {problem}") from None
    except (StructureFormatError, ValueError, IndexError) as err:
        problem = " ".join(str(err).split()) or type(err).__name__
        raise InputError(path, f"not a readable PDFfit structure: {problem[:200]}") from None
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror or err}") from None
    lattice = checked_lattice(path, [float(v) for v in stru.lattice.abcABG()])
    dcell = tuple(float(v) for v in stru.pdffit.get("dcell", [0.0] * 6))
    if len(dcell) != 6 or not np.all(np.isfinite(dcell)):
        raise InputError(path, f"dcell (the cell esds) needs 6 finite numbers, got {len(dcell)}: {dcell}"[:200])
    counts: dict[str, int] = {}
    full = []
    for atom in stru:
        element = str(atom.element)
        symbol = species_name(*parse_species(element, source=str(path)))
        counts[symbol] = counts.get(symbol, 0) + 1
        u = np.array(atom.U, dtype=float)
        values = np.concatenate([atom.xyz, [atom.occupancy], u.ravel(), atom.sigxyz, [atom.sigo], np.ravel(atom.sigU)])
        if not np.all(np.isfinite(values)):
            raise InputError(path, f"atom {len(full) + 1} ({element}): coordinates, occupancy or U (or their esds) "
                                   "are not finite numbers")
        esd = {n: float(v) for n, v in zip("xyz", atom.sigxyz, strict=True) if v}
        if atom.sigo:
            esd["occupancy"] = float(atom.sigo)
        # Isotropic in the CIF U^ij convention means U^ij = Ueq G*_ij / (a*_i a*_j) (Trueblood et al. 1996): in a
        # hexagonal cell diag(u, u, u) with U12 = 0 is anisotropic (PDFfit2 and diffpy read it so: Ueq > u).
        with np.errstate(over="ignore", invalid="ignore"):
            ueq = u_equivalent(u, lattice)
        if not np.isfinite(ueq):  # U of 1e308: the equivalent U overflows
            raise InputError(path, f"atom {len(full) + 1} ({element}): U gives no finite equivalent Uiso")
        aniso = not np.allclose(u, ueq * iso_tensor(lattice), rtol=1e-6, atol=1e-9)
        sig_u = np.array(atom.sigU, dtype=float)
        if aniso:
            esd.update({f"u{ij}": float(sig_u[_UIJ_INDEX[ij]]) for ij in _UIJ if sig_u[_UIJ_INDEX[ij]]})
        elif sig_u[0, 0]:
            esd["uiso"] = float(sig_u[0, 0])
        full.append(Site(label=f"{symbol}{counts[symbol]}", element=symbol, xyz=tuple(atom.xyz),
                         occupancy=float(atom.occupancy), uiso=ueq if aniso else float(u[0, 0]),
                         uaniso=u if aniso else None, esd=esd))
    p1 = space_group(1)
    sg = p1
    name = str(stru.pdffit.get("spcgr", "P1")).strip() or "P1"
    try:
        sg = space_group(name, source=str(path))
    except InputError:
        pass
    sites = _reduce_to_asymmetric_unit(tuple(full), lattice, sg) if len(sg) > 1 else None
    if sites is None:
        sg, sites = p1, tuple(full)
    return CrystalStructure(name=path.stem, lattice=lattice, space_group=sg, sites=sites,
                            lattice_esd=dcell if any(dcell) else None)


def _reduce_to_asymmetric_unit(sites: tuple[Site, ...], lattice: Lattice, sg: SpaceGroup) -> tuple[Site, ...] | None:
    """One site per orbit when the atoms form complete orbits of ``sg`` in ``lattice``; None otherwise."""
    try:
        lattice = symmetrize(lattice, sg)
    except InputError:
        return None
    cart = lattice.cartesian
    xyz = np.array([s.xyz for s in sites])
    used = np.zeros(len(sites), dtype=bool)
    kept = []
    for i, site in enumerate(sites):
        if used[i]:
            continue
        images = np.mod(np.einsum("oij,j->oi", sg.rotations.astype(float), xyz[i]) + sg.translations, 1.0)
        diff = images[:, None, :] - xyz[None, :, :]
        diff -= np.round(diff)
        close = np.linalg.norm(diff @ cart.T, axis=2) < MERGE_TOLERANCE * 10
        partners = np.flatnonzero(close.any(axis=0))
        same = all(sites[j].element == site.element and abs(sites[j].occupancy - site.occupancy) < 1e-6
                   for j in partners)
        if not same or used[partners].any():
            return None
        used[partners] = True
        kept.append(site)
    trial = CrystalStructure(name="", lattice=lattice, space_group=sg, sites=tuple(kept))
    expanded = trial.expand(MERGE_TOLERANCE * 10)
    return tuple(kept) if len(expanded) == len(sites) else None


def _format_esd(value: float, esd: float | None) -> str:
    """CIF number with its standard uncertainty in parentheses, the esd rounded to 1 or 2 digits.

    Two digits when the esd's leading digits are <= 19 ('rule of 19', IUCr notes for authors), else one.
    """
    if esd is None or not esd > 0 or not np.isfinite(esd):
        return f"{value:.8g}"
    exponent = math.floor(math.log10(esd))
    ndigits = 2 if esd / 10.0**exponent < 1.95 else 1
    decimals = ndigits - 1 - exponent
    scaled = math.floor(esd * 10.0**decimals + 0.5)
    if decimals > 0:
        return f"{value:.{decimals}f}({scaled})"
    return f"{round(value, decimals):.0f}({scaled * 10 ** (-decimals)})"


def _charge(element: str) -> int | None:
    """Oxidation state written in an ion symbol ('O2-' -> -2, 'Na+' -> 1), None for a neutral or unknown symbol."""
    try:
        return parse_species(element)[1] if any(sign in element for sign in "+-") else None
    except InputError:
        return None


def write_cif(structure: CrystalStructure, path: str | os.PathLike) -> None:
    """Write a structure as CIF 1.1 with its symmetry operations and esds where known (atomic write)."""
    s = structure
    lat, sg = s.lattice, s.space_group
    lesd = s.lattice_esd or (None,) * 6
    block = re.sub(r"[^A-Za-z0-9_.-]+", "_", s.name) or "phase"
    lines = [f"# written by refine {__version__}", f"data_{block}", f"_pd_phase_name '{s.name}'"]
    for key, value, esd in zip(("length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma"),
                               lat.as_tuple(), lesd, strict=True):
        lines.append(f"_cell_{key} {_format_esd(value, esd)}")
    lines.append(f"_cell_volume {lat.volume:.4f}")
    origin = sg.symbol.rsplit(":", 1)[1] if sg.symbol[-2:] in (":1", ":2") else ""
    lines.append(f"_symmetry_space_group_name_H-M '{sg.symbol.split(':')[0]}{' :' + origin if origin else ''}'")
    if sg.number:
        lines.append(f"_symmetry_Int_Tables_number {sg.number}")
    lines += ["", "loop_", "_symmetry_equiv_pos_site_id", "_symmetry_equiv_pos_as_xyz"]
    lines += [f"{i} '{op}'" for i, op in enumerate(sg.triplets(), start=1)]
    charges = {site.element: _charge(site.element) for site in s.sites}
    if any(q is not None for q in charges.values()):
        lines += ["", "loop_", "_atom_type_symbol", "_atom_type_oxidation_number"]
        lines += [f"{el} {q if q is not None else 0}" for el, q in charges.items()]
    if s.sites:
        lines += ["", "loop_"] + [f"_atom_site_{k}" for k in ("label", "type_symbol", "fract_x", "fract_y", "fract_z",
                                                                "occupancy", "adp_type", "U_iso_or_equiv")]
        for site in s.sites:
            e = site.esd_map
            cells = [site.label, site.element]
            cells += [_format_esd(v, e.get(n)) for v, n in zip(site.xyz, "xyz", strict=True)]
            cells.append(_format_esd(site.occupancy, e.get("occupancy")))
            cells.append("Uani" if site.uaniso is not None else "Uiso")
            cells.append("?" if site.uiso is None else _format_esd(site.uiso, e.get("uiso")))
            lines.append(" ".join(cells))
        aniso = [site for site in s.sites if site.uaniso is not None]
        if aniso:
            lines += ["", "loop_", "_atom_site_aniso_label"] + [f"_atom_site_aniso_U_{ij}" for ij in _UIJ]
            for site in aniso:
                e = site.esd_map
                vals = [_format_esd(site.uaniso[i][j], e.get(f"u{ij}")) for ij, (i, j) in _UIJ_INDEX.items()]
                lines.append(" ".join([site.label, *vals]))
    with atomic_open(path) as fh:
        fh.write("\n".join(lines) + "\n")
