"""Synthetic X-ray I(Q) for PDF tests: the Debye equation of a cube of fcc Ni (no Compton, no container), written as
Q, I, sigma columns like a pyFAI/PDFgetX3 ``.chi``; and a smooth stand-in for a container's scattering."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Cell of the synthetic Ni cluster (Å, the room-temperature value).
NI_A = 3.524
Q_GRID = np.arange(0.1, 28.0, 0.01)


def container(q: np.ndarray) -> np.ndarray:
    """A smooth Kapton-like background: a broad hump at 1.2 Å⁻¹ over a slowly falling level."""
    return 4000.0 * np.exp(-0.5 * ((q - 1.2) / 0.5) ** 2) + 1500.0 / (1.0 + 0.05 * q * q)


def ni_cluster_iq(q: np.ndarray = Q_GRID, *, a: float = NI_A, ncell: int = 5) -> np.ndarray:
    """I(Q) (100 × electron units per atom) of a cube of fcc Ni ``ncell + 1`` cells a side from the Debye
    equation, every pair term damped by exp(-(0.07 Q)²/2)."""
    from refine.pdf.formfactors import xray_form_factor

    idx = np.stack(np.meshgrid(*[np.arange(2 * ncell + 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    xyz = idx[idx.sum(axis=1) % 2 == 0] * (a / 2)
    d = np.sqrt(((xyz[:, None, :] - xyz[None, :, :]) ** 2).sum(-1))[np.triu_indices(len(xyz), 1)]
    dist, count = np.unique(np.round(d, 5), return_counts=True)
    damp = np.exp(-0.5 * (0.07 * q) ** 2)
    debye = 1 + 2 / len(xyz) * damp * (np.sinc(np.outer(q, dist) / np.pi) @ count)
    return 100 * xray_form_factor("Ni", q) ** 2 * debye


def write_chi(path: Path, q: np.ndarray, intensity: np.ndarray) -> Path:
    """Q, I, sqrt(I) columns with a Q header."""
    np.savetxt(path, np.column_stack([q, intensity, np.sqrt(intensity)]), header="Q (A^-1)  I  sigma")
    return path


def ni_gr(r: np.ndarray, *, a: float = NI_A, uiso: float = 0.0069, delta1: float = 1.25, noise: float = 0.02,
          seed: int = 3):
    """G(r) of fcc Ni (tests/data/Ni.cif at cell ``a``; Qmax 27, Qdamp 0.05, PDFgui's Ni fit's size) from refine's
    pair table, plus seeded Gaussian noise ``noise``, as an r pattern without sigma (like the PDFgui ni.gr)."""
    from refine.data import Pattern
    from refine.pdf.calculate import PDFSettings, calc_gr
    from refine.pdf.pairs import PairTable
    from refine.pdf.structure import PDFStructure
    from tests.conftest import data_file

    ni = PDFStructure.load(data_file("Ni.cif")).replace(lattice=(a, a, a, 90.0, 90.0, 90.0))
    settings = PDFSettings(delta1=delta1, qmax=27.0, qdamp=0.05, uiso={"Ni": uiso})
    g = calc_gr(PairTable.build(ni, float(r[-1]) + 1.0, qmax=27.0), r, settings)
    g = g + np.random.default_rng(seed).normal(0.0, noise, r.size)
    return Pattern.from_arrays(r, g, np.ones_like(r), unit="r_A", sigma_source="unit",
                               metadata={"source": "synthetic Ni G(r)"})
