"""Supercells from DFT and molecular dynamics, read through ASE: VASP POSCAR/CONTCAR, extended XYZ, AtomEye CFG.

Each file becomes a :class:`~refine.crystal.structure.CrystalStructure` in P1 with one site per atom (labels
element + running number per element, occupancy 1). The cell may be given in any orientation: the fractional
coordinates come from ASE (``get_scaled_positions(wrap=True)``) and the cell parameters from its vectors
(``cell.cellpar()``), so only the metric is kept. A powder or PDF phase needs a periodic, right-handed cell
(VASP refuses a negative triple product too); a file without one is bad input.

An isotropic displacement is taken from a per-atom column named ``uiso`` (U, Å²) or ``biso`` (B = 8π²U, Å²) —
an extended-XYZ ``Properties`` column or a CFG ``auxiliary`` field — else Uiso is left unknown (None).
ASE is imported inside the readers only, so ``refine`` starts without it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from refine.crystal.adp import B_TO_U
from refine.crystal.lattice import Lattice
from refine.crystal.spacegroup import space_group
from refine.crystal.structure import CrystalStructure, Site
from refine.errors import InputError
from refine.io.registries import STRUCTURE_READERS

if TYPE_CHECKING:
    from ase import Atoms

# Smallest cell volume (Å^3) taken as a cell; below it the vectors are degenerate (a zero or coplanar vector).
_MIN_VOLUME = 1e-6
_UISO_NAMES = ("uiso", "u_iso")
_BISO_NAMES = ("biso", "b_iso")


@STRUCTURE_READERS.register("vasp")
def read_vasp(path: str | os.PathLike) -> CrystalStructure:
    """Read a VASP POSCAR/CONTCAR (VASP 5 with the species line; Direct or Cartesian; negative scale = volume).

    Raises
    ------
    InputError
        Unreadable file, no species names, or a degenerate or left-handed cell.
    """
    return _structure(_read_atoms(path, "vasp", "VASP POSCAR/CONTCAR"), Path(path))


@STRUCTURE_READERS.register("extxyz")
def read_extxyz(path: str | os.PathLike) -> CrystalStructure:
    """Read the first frame of an extended XYZ file; its comment line must give ``Lattice="..."``.

    Raises
    ------
    InputError
        Unreadable file, or a frame without a periodic cell (a plain XYZ molecule).
    """
    return _structure(_read_atoms(path, "extxyz", "extended XYZ"), Path(path))


@STRUCTURE_READERS.register("cfg")
def read_cfg(path: str | os.PathLike) -> CrystalStructure:
    """Read an AtomEye extended CFG configuration (``Number of particles``, ``H0``, ``.NO_VELOCITY.``).

    Raises
    ------
    InputError
        Unreadable file (a PDFgetX3 ``.cfg`` settings file is not a structure) or a degenerate cell.
    """
    return _structure(_read_atoms(path, "cfg", "AtomEye CFG"), Path(path))


def _read_atoms(path: str | os.PathLike, fmt: str, what: str) -> Atoms:
    """The first configuration in ``path`` as ASE reads it; ASE's errors become one-line InputErrors."""
    import ase.io

    path = Path(path)
    try:
        atoms = ase.io.read(path, index=0, format=fmt)
    except (StopIteration, EOFError):
        raise InputError(path, f"not a readable {what} file: no configuration in it") from None
    except OSError as err:
        if err.errno is not None:  # the file system's error; ase.io.extxyz.XYZError is an OSError without errno
            raise InputError(path, f"cannot read: {err.strerror or err}") from None
        raise InputError(path, f"not a readable {what} file: {_one_line(err)}") from None
    except (ValueError, RuntimeError, IndexError, KeyError, TypeError, AssertionError, NotImplementedError) as err:
        # the VASP and CFG parsers raise RuntimeError or ValueError (a number that is not one, a count mismatch)
        raise InputError(path, f"not a readable {what} file: {_one_line(err)}") from None
    if isinstance(atoms, list):  # an index that selects several frames (not used with index=0)
        atoms = atoms[0]
    return atoms


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (its type when it has none)."""
    return " ".join(str(err).split()) or type(err).__name__


def _structure(atoms: Atoms, path: Path) -> CrystalStructure:
    """The P1 structure of ``atoms``: one site per atom, lattice from the cell's lengths and angles."""
    if len(atoms) == 0:
        raise InputError(path, "the file holds no atoms")
    lattice = _lattice(atoms, path)
    numbers = atoms.get_atomic_numbers()
    if np.any(numbers <= 0):
        first = int(np.flatnonzero(numbers <= 0)[0])
        raise InputError(path, f"atom {first + 1} has no known element")
    xyz = atoms.get_scaled_positions(wrap=True)
    if not np.all(np.isfinite(xyz)):
        raise InputError(path, "atomic positions are not finite numbers")
    uiso = _uiso(atoms, path)
    counts: dict[str, int] = {}
    sites = []
    for i, symbol in enumerate(atoms.get_chemical_symbols()):
        counts[symbol] = counts.get(symbol, 0) + 1
        sites.append(Site(label=f"{symbol}{counts[symbol]}", element=symbol, xyz=tuple(xyz[i]), occupancy=1.0,
                          uiso=None if uiso is None else float(uiso[i])))
    return CrystalStructure(name=path.stem, lattice=lattice, space_group=space_group("P1", source=str(path)),
                            sites=tuple(sites))


def _lattice(atoms: Atoms, path: Path) -> Lattice:
    """Cell lengths and angles of a periodic, right-handed cell of finite positive volume."""
    cell = np.asarray(atoms.cell[:], dtype=float)
    if not atoms.pbc.all() or not np.any(cell):
        raise InputError(path, "no periodic cell (extended XYZ needs Lattice=\"...\"); a powder or PDF phase "
                               "needs a cell")
    if not np.all(np.isfinite(cell)):
        raise InputError(path, "the cell vectors are not finite numbers")
    volume = float(np.linalg.det(cell))  # triple product a . (b x c)
    if abs(volume) < _MIN_VOLUME:
        raise InputError(path, f"the cell is degenerate (volume {volume:.3g} Å^3: a zero or coplanar vector)")
    if volume < 0:
        raise InputError(path, f"the cell is left-handed (triple product {volume:.6g} Å^3 < 0); exchange two "
                               "cell vectors")
    try:
        return Lattice.from_sequence(atoms.cell.cellpar())
    except ValueError as err:
        raise InputError(path, f"not a cell: {getattr(err, 'problem', err)}") from None


def _uiso(atoms: Atoms, path: Path) -> np.ndarray | None:
    """Per-atom Uiso (Å²) from a ``uiso`` or ``biso`` column (B = 8π² U, Willis & Pryor 1975), else None."""
    columns = {name.lower(): name for name in atoms.arrays}
    for names, factor in ((_UISO_NAMES, 1.0), (_BISO_NAMES, B_TO_U)):
        key = next((columns[n] for n in names if n in columns), None)
        if key is None:
            continue
        values = np.asarray(atoms.arrays[key], dtype=float)
        if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise InputError(path, f"column {key!r} must hold one finite, non-negative value per atom")
        return values * factor
    return None
