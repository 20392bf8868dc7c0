"""The PDF engine's P1 view of a crystal: every atom of the cell with its species, occupancy and ADP tensor.

It is built from the one crystal model, :class:`refine.crystal.structure.CrystalStructure` (:meth:`PDFStructure.
from_crystal`; files are read by :func:`refine.io.structures.read_structure`), and takes its geometry from
:class:`refine.crystal.lattice.Lattice` and its ADP conversions from :mod:`refine.crystal.adp`. ADPs are stored as
U_ij in the CIF convention (Å², the convention of diffpy.structure, PDFfit2 and CIF files); ``u_cartesian`` gives
the Cartesian tensors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from refine.crystal.adp import iso_tensor, u_cartesian, u_equivalent
from refine.crystal.lattice import Lattice
from refine.errors import InputError


@dataclass(frozen=True, eq=False)
class PDFStructure:
    """Periodic structure for the PDF calculator.

    Parameters
    ----------
    lattice
        ``(a, b, c, alpha, beta, gamma)`` in Å and degrees.
    xyz
        Fractional coordinates, shape (N, 3).
    elements
        Species symbol of each site ("Ni", "O2-", ...).
    occupancy
        Site occupancies, shape (N,).
    u
        ADP tensors U_ij (CIF convention, Å²), shape (N, 3, 3).
    name
        Free text (file name or formula) used in messages.
    """

    lattice: tuple[float, float, float, float, float, float]
    xyz: np.ndarray
    elements: tuple[str, ...]
    occupancy: np.ndarray
    u: np.ndarray
    name: str = ""
    _cell: Lattice = field(init=False, repr=False)
    _base: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        src = self.name or "structure"
        cell = Lattice.from_sequence(self.lattice, source=src)
        lattice = cell.as_tuple()
        xyz = np.array(self.xyz, dtype=float).reshape(-1, 3)
        n = len(xyz)
        if n == 0:
            raise InputError(src, "structure has no atoms")
        occ = np.broadcast_to(np.asarray(self.occupancy, dtype=float), (n,)).copy()
        u = np.asarray(self.u, dtype=float)
        if u.ndim <= 1:  # isotropic Uiso values -> U_ij = Uiso * g*_ij / (a*_i a*_j)
            u = np.broadcast_to(u, (n,))[:, None, None] * iso_tensor(cell)[None]
        u = np.array(u, dtype=float).reshape(n, 3, 3)
        if len(self.elements) != n:
            raise InputError(src, f"{len(self.elements)} element symbols for {n} sites")
        if np.any(occ < 0) or not np.all(np.isfinite(occ)) or occ.sum() <= 0:
            raise InputError(src, "occupancies must be finite, non-negative and not all zero")
        if not np.allclose(u, np.swapaxes(u, 1, 2), atol=1e-12):
            raise InputError(src, "ADP tensors must be symmetric")
        if not np.all(np.isfinite(xyz)) or not np.all(np.isfinite(u)):
            raise InputError(src, "coordinates and ADPs must be finite")
        for arr in (xyz, occ, u):
            arr.flags.writeable = False
        object.__setattr__(self, "lattice", lattice)
        object.__setattr__(self, "xyz", xyz)
        object.__setattr__(self, "occupancy", occ)
        object.__setattr__(self, "u", u)
        object.__setattr__(self, "elements", tuple(str(e) for e in self.elements))
        base = np.ascontiguousarray(cell.cartesian.T)  # rows a, b, c: positions are xyz @ base
        base.flags.writeable = False
        object.__setattr__(self, "_cell", cell)
        object.__setattr__(self, "_base", base)

    # ----------------------------------------------------------------------------------------------- constructors
    @classmethod
    def from_diffpy(cls, stru, name: str = "") -> PDFStructure:
        """Convert a ``diffpy.structure.Structure`` (every atom of the cell, as ``loadStructure`` reads a CIF or
        PDFfit .stru) through a P1 :class:`~refine.crystal.structure.CrystalStructure`."""
        from refine.crystal.spacegroup import space_group
        from refine.crystal.structure import CrystalStructure, Site

        if len(stru) == 0:
            raise InputError(name or "structure", "structure has no atoms")
        lattice = Lattice.from_sequence(tuple(stru.lattice.abcABG()), source=name or "structure")
        sites = tuple(Site(label=f"{a.element}{k}", element=str(a.element), xyz=tuple(a.xyz),
                           occupancy=float(a.occupancy), uiso=u_equivalent(np.asarray(a.U, float), lattice),
                           uaniso=np.asarray(a.U, dtype=float)) for k, a in enumerate(stru, start=1))
        crystal = CrystalStructure(name=name or (stru.title or ""), lattice=lattice, space_group=space_group(1),
                                   sites=sites)
        return cls.from_crystal(crystal, name=name or (stru.title or ""))

    @classmethod
    def from_crystal(cls, structure, name: str = "") -> PDFStructure:
        """Every atom of the cell of a :class:`refine.crystal.structure.CrystalStructure` (the asymmetric unit
        expanded by its space group; unknown ADPs as 0, as PDFfit reads them)."""
        atoms = structure.expand()
        if len(atoms.xyz) == 0:
            raise InputError(name or structure.name or "structure", "structure has no atoms")
        return cls(lattice=structure.lattice.as_tuple(), xyz=atoms.xyz, elements=atoms.elements,
                   occupancy=atoms.occupancy, u=np.nan_to_num(atoms.uaniso, nan=0.0), name=name or structure.name)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PDFStructure:
        """Read any structure format of :func:`refine.io.structures.read_structure` (CIF with its listed
        operations or origin choice, PDFfit ``.stru``, GSAS ``.EXP`` ...) and expand it to the full cell."""
        from refine.io.structures import read_structure

        if not os.path.exists(path):
            raise InputError(path, "structure file not found")
        return cls.from_crystal(read_structure(path), name=os.path.basename(path))

    # ----------------------------------------------------------------------------------------------- derived
    @property
    def natoms(self) -> int:
        return len(self.xyz)

    @property
    def cell(self) -> Lattice:
        """The cell as a :class:`~refine.crystal.lattice.Lattice` (the source of all its geometry)."""
        return self._cell

    @property
    def base(self) -> np.ndarray:
        """Cartesian lattice vectors as rows (Å): the transpose of :attr:`Lattice.cartesian`."""
        return self._base

    @property
    def volume(self) -> float:
        return self._cell.volume

    @property
    def positions(self) -> np.ndarray:
        """Cartesian positions (Å), shape (N, 3)."""
        return self.xyz @ self._base

    @property
    def u_cartesian(self) -> np.ndarray:
        """Cartesian ADP tensors (:func:`refine.crystal.adp.u_cartesian`)."""
        return u_cartesian(self.u, self._cell)

    @property
    def uiso(self) -> np.ndarray:
        """Equivalent isotropic U of each site (Ueq, :func:`refine.crystal.adp.u_equivalent`)."""
        return np.asarray(u_equivalent(self.u, self._cell), dtype=float).reshape(self.natoms)

    @property
    def isotropic(self) -> np.ndarray:
        """True for sites whose Cartesian U is a multiple of the identity (within 1e-10 Å²)."""
        uc = self.u_cartesian
        return np.all(np.abs(uc - self.uiso[:, None, None] * np.eye(3)) < 1e-10, axis=(1, 2))

    def replace(self, **changes) -> PDFStructure:
        """Copy with fields replaced (``uiso=`` array sets isotropic ADPs)."""
        kw = dict(lattice=self.lattice, xyz=self.xyz, elements=self.elements, occupancy=self.occupancy, u=self.u,
                  name=self.name)
        if "uiso" in changes:
            changes["u"] = np.broadcast_to(np.asarray(changes.pop("uiso"), dtype=float), (self.natoms,))
        kw.update(changes)
        return PDFStructure(**kw)

    def supercell(self, n1: int, n2: int, n3: int) -> PDFStructure:
        """The (n1, n2, n3) supercell, sites ordered cell by cell."""
        reps = np.array([int(n1), int(n2), int(n3)])
        if np.any(reps < 1):
            raise InputError("supercell", f"multipliers must be >= 1, got {tuple(reps)}")
        shifts = np.stack(np.meshgrid(*[np.arange(k) for k in reps], indexing="ij"), -1).reshape(-1, 1, 3)
        xyz = ((self.xyz[None] + shifts) / reps).reshape(-1, 3)
        a, b, c, al, be, ga = self.lattice
        lat = (a * reps[0], b * reps[1], c * reps[2], al, be, ga)
        # U_ij in the CIF convention is invariant under this change of cell (same Cartesian tensor)
        ncell = len(shifts)
        return PDFStructure(lattice=lat, xyz=xyz, elements=self.elements * ncell,
                            occupancy=np.tile(self.occupancy, ncell), u=np.tile(self.u, (ncell, 1, 1)),
                            name=f"{self.name} {n1}x{n2}x{n3}".strip())
