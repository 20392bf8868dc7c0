"""Structures shared by the PDF tests."""

from __future__ import annotations

import numpy as np
import pytest

from refine.pdf.structure import PDFStructure


def rocksalt_diffpy(a: float = 5.64, u_na: float = 0.010, u_cl: float = 0.006):
    """Conventional NaCl cell (8 atoms) as a diffpy.structure Structure."""
    from diffpy.structure import Atom, Lattice, Structure

    atoms = []
    for f in [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]:
        atoms.append(Atom("Na", f, U=np.eye(3) * u_na))
        atoms.append(Atom("Cl", np.mod(np.add(f, 0.5), 1.0), U=np.eye(3) * u_cl))
    return Structure(atoms, lattice=Lattice(a, a, a, 90, 90, 90))


def to_diffpy(structure: PDFStructure):
    """PDFStructure -> diffpy.structure Structure (to hand the same model to PDFfit2)."""
    from diffpy.structure import Atom, Lattice, Structure

    atoms = [Atom(e, x, occupancy=o, U=u) for e, x, o, u in
             zip(structure.elements, structure.xyz, structure.occupancy, structure.u, strict=True)]
    return Structure(atoms, lattice=Lattice(*structure.lattice))


@pytest.fixture(scope="session")
def ni_stru():
    from diffpy.structure import loadStructure

    from tests.conftest import data_file

    return loadStructure(str(data_file("Ni.stru")))
