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
