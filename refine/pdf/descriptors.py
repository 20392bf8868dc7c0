"""Local-structure descriptors of structures, supercells and MD frames: bond lengths, coordination numbers, bond
angles and polyhedral distortion, per species pair, averaged over frames.

A bond is a pair of atoms of species (A, B) closer than the cut-off of that pair (``cutoffs``, e.g.
``{"V-O": 2.4, "Na-O": 3.0}``; pairs not listed use ``cutoff``). Around every atom (the *centre*) its bonded
neighbours form its polyhedron. Per centre species the distortion index is Baur's
D = (1/n) Σ |lᵢ − l̄| / l̄ (Baur 1974, Acta Cryst. B 30, 1195) and the bond-length variance (1/n) Σ (lᵢ − l̄)²;
bond angles are the angles B–A–C at centre A between every two of its bonds. Periodic images are found with a
k-d tree (scipy) over the atoms and their images near the cell (any cell shape).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.spatial import cKDTree

from refine.errors import InputError

#: Default bond cut-off (Å) for species pairs not given explicitly.
DEFAULT_CUTOFF = 3.0


class FrameLike(Protocol):
    """What a frame needs: species symbols, Cartesian positions (Å, N × 3) and cell vectors (Å, rows, 3 × 3)."""

    symbols: Any
    positions: Any
    cell: Any


@dataclass(frozen=True, eq=False)
class LocalStructure:
    """Descriptors collected over all frames.

    Attributes
    ----------
    bond_lengths
        ``"A-B"`` (species sorted) -> every bond length (Å), each bond once, all frames.
    coordination
        ``"A-B"`` (centre A, neighbour B) -> the number of B bonded to each A atom, all frames.
    angles
        ``"B-A-C"`` (centre A; B, C sorted) -> bond angles (deg), all frames.
    distortion
        Centre species -> Baur's distortion index of each polyhedron (atoms with ≥ 2 bonds), all frames.
    bond_variance
        Centre species -> bond-length variance (Å²) of each polyhedron, all frames.
    frames
        Number of frames averaged.
    cutoffs
        The cut-off used for each species pair (Å).
    """

    bond_lengths: Mapping[str, np.ndarray] = field(repr=False)
    coordination: Mapping[str, np.ndarray] = field(repr=False)
    angles: Mapping[str, np.ndarray] = field(repr=False)
    distortion: Mapping[str, np.ndarray] = field(repr=False)
    bond_variance: Mapping[str, np.ndarray] = field(repr=False)
    frames: int
    cutoffs: Mapping[str, float]

    def table(self) -> list[dict]:
        """One row per quantity: name, kind, count, mean, std, min, max."""
        rows = []
        for kind, data in (("bond length (A)", self.bond_lengths), ("coordination", self.coordination),
                           ("angle (deg)", self.angles), ("Baur distortion", self.distortion),
                           ("bond variance (A^2)", self.bond_variance)):
            for name, values in sorted(data.items()):
                v = np.asarray(values, float)
                rows.append({"quantity": kind, "name": name, "count": int(v.size),
                             "mean": float(v.mean()) if v.size else float("nan"),
                             "std": float(v.std()) if v.size else float("nan"),
                             "min": float(v.min()) if v.size else float("nan"),
                             "max": float(v.max()) if v.size else float("nan")})
        return rows

    def write_csv(self, path: str) -> None:
        """The summary table as CSV (``quantity,name,count,mean,std,min,max``)."""
        from refine.io.atomic import atomic_open

        with atomic_open(path) as handle:
            handle.write("quantity,name,count,mean,std,min,max\n")
            for row in self.table():
                handle.write(f"{row['quantity']},{row['name']},{row['count']},{row['mean']:.6g},{row['std']:.6g},"
                             f"{row['min']:.6g},{row['max']:.6g}\n")

    def plot(self):
        """Histograms of bond lengths, angles and coordination numbers (a matplotlib Figure)."""
        from refine.plot.descriptors import descriptor_figure

        return descriptor_figure(self)


def frames_of(source: Any, frames: Any = None) -> Iterable[FrameLike]:
    """The frames to describe: a trajectory file's chosen frames (read one at a time, :mod:`refine.io.trajectory`),
    or a structure (file, CrystalStructure, PDFStructure) as one frame of its cell in P1."""
    import os

    from refine.io.trajectory import Frame, iter_frames, trajectory_format

    if isinstance(source, (str, os.PathLike)) and trajectory_format(source) is not None:
        return iter_frames(source, frames)
    if frames is not None:
        raise InputError("frames", f"frames select from a trajectory, not from {source}")
    from refine.crystal.structure import CrystalStructure
    from refine.pdf.pairs import element_of
    from refine.pdf.structure import PDFStructure

    structure = source if isinstance(source, PDFStructure) else (
        PDFStructure.from_crystal(source) if isinstance(source, CrystalStructure) else PDFStructure.load(source))
    base = structure.base
    frame = Frame(index=0, symbols=tuple(element_of(e) for e in structure.elements),
                  positions=np.asarray(structure.xyz, float) @ base, cell=base)
    return [frame]


def cutoff_table(species: Iterable[str], cutoffs: Mapping[str, float] | None, cutoff: float) -> dict[tuple, float]:
    """{(A, B) sorted: cut-off} for every pair of ``species``; ``cutoffs`` keys ``"A-B"`` override ``cutoff``."""
    names = sorted(set(species))
    table = {(a, b): float(cutoff) for i, a in enumerate(names) for b in names[i:]}
    for key, value in (cutoffs or {}).items():
        parts = tuple(sorted(p.strip() for p in str(key).split("-")))
        if len(parts) != 2 or not all(parts):
            raise InputError("cutoffs", f"a pair is written A-B (e.g. V-O), got {key!r}")
        if not (np.isfinite(value) and value > 0):
            raise InputError("cutoffs", f"{key}: a cut-off must be > 0 Å, got {value}")
        table[parts] = float(value)
    return table


def _bonds(frame: FrameLike, rmax: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs (i, j, vector i->j) closer than ``rmax`` with periodic images (i ≠ j or an image)."""
    cell = np.asarray(frame.cell, float).reshape(3, 3)
    pos = np.asarray(frame.positions, float).reshape(-1, 3)
    if abs(np.linalg.det(cell)) < 1e-9:
        raise InputError("frame", "the frame has no cell (periodic images need one)")
    frac = pos @ np.linalg.inv(cell)
    frac -= np.floor(frac)
    lengths = np.diag(cell)
    if np.allclose(cell, np.diag(lengths)) and rmax < 0.5 * lengths.min():
        return _orthogonal_bonds(frac * lengths, lengths, rmax)
    cart = frac @ cell
    # images near the cell only: shifts up to ceil(rmax / plane spacing), atoms within that reach of the cell
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    reach = np.ceil(rmax / spacing).astype(int)
    shifts = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in reach], indexing="ij"), -1).reshape(-1, 3)
    image_frac = (frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    owner = np.tile(np.arange(len(cart)), len(shifts))
    margin = rmax / spacing
    near = np.all((image_frac > -margin) & (image_frac < 1.0 + margin), axis=1)
    images, owner = image_frac[near] @ cell, owner[near]
    found = cKDTree(images).query_ball_point(cart, rmax, return_sorted=False)
    i = np.repeat(np.arange(len(cart)), [len(f) for f in found])
    k = np.fromiter((x for f in found for x in f), dtype=int, count=len(i))
    vec = images[k] - cart[i]
    keep = np.einsum("pk,pk->p", vec, vec) > 1e-16  # not the atom itself
    return i[keep], owner[k[keep]], vec[keep]


def _orthogonal_bonds(cart: np.ndarray, lengths: np.ndarray, rmax: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fast path of :func:`_bonds` for an orthogonal cell more than twice the cut-off: minimum images."""
    pairs = cKDTree(cart, boxsize=lengths * (1 + 1e-12)).query_pairs(rmax, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    vec = cart[j] - cart[i]
    vec -= lengths * np.round(vec / lengths)
    return np.r_[i, j], np.r_[j, i], np.r_[vec, -vec]


def local_structure(frames: Iterable[FrameLike], *, cutoff: float = DEFAULT_CUTOFF,
                    cutoffs: Mapping[str, float] | None = None, angles: bool = True) -> LocalStructure:
    """Bond lengths, coordination numbers, bond angles and distortion indices over ``frames``.

    Parameters
    ----------
    frames
        Structures or MD frames with ``symbols``, ``positions`` (Å, Cartesian) and ``cell`` (Å, 3 × 3 rows):
        ASE Atoms, trajectory frames.
    cutoff, cutoffs
        Bond cut-off (Å) for every species pair, and per-pair overrides ``{"V-O": 2.4}``.
    angles
        Collect bond angles (the costliest part).
    """
    lengths: dict[str, list] = {}
    coordination: dict[str, list] = {}
    angle_values: dict[str, list] = {}
    distortion: dict[str, list] = {}
    variance: dict[str, list] = {}
    count, table = 0, None
    for frame in frames:
        symbols = np.asarray([str(s) for s in frame.symbols])
        if table is None:
            table = cutoff_table(symbols, cutoffs, cutoff)
        species = sorted({str(s) for s in symbols})
        code = {s: k for k, s in enumerate(species)}
        z = np.array([code[s] for s in symbols])
        limit = np.zeros((len(species), len(species)))
        for (a, b), value in table.items():
            if a in code and b in code:
                limit[code[a], code[b]] = limit[code[b], code[a]] = value
        i, j, vec = _bonds(frame, float(limit.max()))
        d = np.linalg.norm(vec, axis=1)
        bonded = d <= limit[z[i], z[j]]
        i, j, vec, d = i[bonded], j[bonded], vec[bonded], d[bonded]
        _collect(species, z, i, j, vec, d, (lengths, coordination, angle_values if angles else None, distortion,
                                            variance))
        count += 1
    if count == 0:
        raise InputError("frames", "no frame to describe")
    return LocalStructure(bond_lengths=_pack(lengths), coordination=_pack(coordination),
                          angles=_pack(angle_values), distortion=_pack(distortion), bond_variance=_pack(variance),
                          frames=count, cutoffs={f"{a}-{b}": v for (a, b), v in table.items()})


def _pack(data: dict[str, list]) -> dict[str, np.ndarray]:
    return {key: np.concatenate(values) for key, values in data.items()}


def _first_positive(vec: np.ndarray) -> np.ndarray:
    """True where the first non-zero component of a vector is positive (one of the pair +T, -T)."""
    sign = np.sign(vec)
    first = np.argmax(sign != 0, axis=1)
    return sign[np.arange(len(vec)), first] > 0


def _collect(species, z, i, j, vec, d, out) -> None:
    lengths, coordination, angle_values, distortion, variance = out
    n_species, n = len(species), len(z)
    # each bond is listed from both ends: keep i < j, and one of the two directions of an atom to its own image
    once = (i < j) | ((i == j) & _first_positive(vec))
    pair_code = np.minimum(z[i], z[j]) * n_species + np.maximum(z[i], z[j])
    for code in np.unique(pair_code[once]):
        a, b = divmod(int(code), n_species)
        lengths.setdefault(f"{species[a]}-{species[b]}", []).append(d[once & (pair_code == code)])
    for b in range(n_species):
        per = np.bincount(i[z[j] == b], minlength=n)
        for a in range(n_species):
            counts = per[z == a]
            if counts.any():
                coordination.setdefault(f"{species[a]}-{species[b]}", []).append(counts)
    cn = np.bincount(i, minlength=n)
    mean = np.bincount(i, d, minlength=n) / np.maximum(cn, 1)
    baur = np.bincount(i, np.abs(d - mean[i]), minlength=n) / np.maximum(cn, 1) / np.where(mean > 0, mean, 1)
    var = np.bincount(i, (d - mean[i]) ** 2, minlength=n) / np.maximum(cn, 1)
    for a in range(n_species):
        polyhedra = (z == a) & (cn >= 2)
        if polyhedra.any():
            distortion.setdefault(species[a], []).append(baur[polyhedra])
            variance.setdefault(species[a], []).append(var[polyhedra])
    if angle_values is not None and len(i):
        _angles(species, z, i, j, vec / d[:, None], angle_values)


def _angles(species, z, i, j, unit, out) -> None:
    """Angles between every two bonds of a centre: bonds sorted by centre, pairs (k, k + step) of one centre."""
    order = np.argsort(i, kind="stable")
    i, j, unit = i[order], j[order], unit[order]
    n_species = len(species)
    for step in range(1, int(np.bincount(i).max())):
        k = np.nonzero(i[step:] == i[:-step])[0]
        if not len(k):
            break
        p, q = k, k + step
        theta = np.degrees(np.arccos(np.clip(np.einsum("pk,pk->p", unit[p], unit[q]), -1.0, 1.0)))
        lo, hi = np.minimum(z[j[p]], z[j[q]]), np.maximum(z[j[p]], z[j[q]])
        code = (lo * n_species + z[i[p]]) * n_species + hi
        for c in np.unique(code):
            first, rest = divmod(int(c), n_species * n_species)
            centre, second = divmod(rest, n_species)
            out.setdefault(f"{species[first]}-{species[centre]}-{species[second]}", []).append(theta[code == c])
