"""``refine.read_pattern``, ``refine.read_structure`` and ``refine.phase`` (a phase without a CIF)."""

from __future__ import annotations

import os
from collections.abc import Sequence


def read_pattern(path: str | os.PathLike, *, bank: int | None = None):
    """A pattern from a file (.xy, .xye, .chi, .dat, .gr, GSAS, Bruker .raw ...); ``bank`` of a multi-bank file."""
    from refine.io import read_pattern as read
    from refine.io import read_powder_pattern

    return read(path) if bank is None else read_powder_pattern(path, bank=bank)


def read_structure(path: str | os.PathLike):
    """A CrystalStructure from a CIF, a PDFfit .stru, a GSAS .EXP phase or a supercell (POSCAR, .xyz, .cfg ...)."""
    from refine.io.structures import read_structure as read

    return read(path)


def phase(spacegroup: str | int, cell: str | Sequence[float], *, name: str | None = None):
    """A phase without atoms for Le Bail or Pawley fits: space group and cell ``"a b c alpha beta gamma"``.

    The cell must obey the space group (to 1e-3) and is then made to obey it exactly; ``name`` (default
    ``phase``) is the phase's parameter prefix, e.g. ``fit.phases["drs"]``.
    """
    from refine.io.structures import structure_from_cell

    return structure_from_cell(spacegroup, cell, name=name or "phase")
