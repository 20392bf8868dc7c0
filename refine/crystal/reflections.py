"""Powder reflection lists: hkl to a d-min, systematic absences from the operations, multiplicities.

A reflection h (row vector) is systematically absent when some operation (R, t) has h R = h and h . t not an
integer: then F(h) = F(h) exp(2 pi i h.t) forces F(h) = 0 (International Tables vol. A, 2.2.13). This covers
lattice centring, glide planes and screw axes in any setting. In a powder pattern the reflections h R of the
point group and their Friedel mates -h R fall at one d and are merged into one line with that multiplicity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refine import units
from refine.crystal.lattice import Lattice
from refine.crystal.spacegroup import SpaceGroup
from refine.errors import InputError

# Relative slack on 1/d^2 at the d-min edge so that all members of an orbit are generated despite rounding.
_EDGE = 1e-9
#: Most h k l (Friedel mates included) a reflection list is built from: far more than any powder fit uses (a
#: 1500 Å³ cell to d = 0.15 Å has 1.9e6), far fewer than a wrong wavelength or cell asks for (a = 1e6 Å: 1e19).
MAX_REFLECTIONS = 2_000_000
# Index rows examined at once while enumerating (memory ~100 bytes per row).
_CHUNK = 1_000_000


@dataclass(frozen=True, eq=False)
class ReflectionList:
    """Unique powder reflections sorted by decreasing d.

    Attributes
    ----------
    h, k, l
        Integer Miller indices of one representative per line (the lexicographically largest equivalent).
    d
        d-spacing, Å.
    multiplicity
        Number of reflections (Friedel mates included) in each line.
    """

    h: np.ndarray = field(repr=False)
    k: np.ndarray = field(repr=False)
    l: np.ndarray = field(repr=False)  # noqa: E741 - Miller index
    d: np.ndarray = field(repr=False)
    multiplicity: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        n = len(self.d)
        for name in ("h", "k", "l", "d", "multiplicity"):
            arr = np.array(getattr(self, name), dtype=float if name == "d" else np.int64)
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.d)

    def __repr__(self) -> str:
        span = f", d {self.d.min():.4g}..{self.d.max():.4g} Å" if len(self) else ""
        return f"ReflectionList({len(self)} reflections{span})"

    @property
    def hkl(self) -> np.ndarray:
        """Indices as an (n, 3) integer array."""
        return np.stack([self.h, self.k, self.l], axis=1)

    @property
    def q(self) -> np.ndarray:
        """Q = 2 pi / d, Å^-1."""
        return 2.0 * np.pi / self.d

    def two_theta(self, wavelength: float) -> np.ndarray:
        """Bragg angles 2 theta (degrees) at ``wavelength`` (Å); NaN where lambda / 2d > 1."""
        return units.d_to_tth(d=self.d, wavelength=wavelength)

    def select(self, mask: np.ndarray) -> ReflectionList:
        """The reflections where ``mask`` is true (boolean array or index array)."""
        return ReflectionList(self.h[mask], self.k[mask], self.l[mask], self.d[mask], self.multiplicity[mask])


def reflection_count(lattice: Lattice, d_min: float) -> float:
    """Estimated number of h k l (Friedel mates included, 000 excluded) with d >= d_min: the volume of the
    reciprocal sphere of radius 1/d_min times the cell volume, (4/3)·π·V/d_min³."""
    return 4.0 / 3.0 * np.pi * lattice.volume / d_min**3


def check_reflection_count(lattice: Lattice, d_min: float, *, source: str = "cell",
                           hint: str = "check the cell and the wavelength, or narrow the range") -> float:
    """The estimate of :func:`reflection_count`; :class:`InputError` naming ``source`` (with the count and
    ``hint``: what to change) when it exceeds :data:`MAX_REFLECTIONS`, before anything is allocated."""
    count = reflection_count(lattice, d_min)
    if not count <= MAX_REFLECTIONS:
        raise InputError(source, f"about {count:.2g} reflections to d = {d_min:.3g} Å in a cell of "
                                 f"{lattice.volume:.4g} Å³, more than {MAX_REFLECTIONS:.0e}: {hint}")
    return count


def _hkl_in_sphere(gstar: np.ndarray, hmax: list[int], limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Every h k l with |h_i| <= hmax[i] and 0 < 1/d² <= limit, and their 1/d², enumerated in slabs along the axis
    with the most indices so that memory stays bounded whatever the cell's shape."""
    axis = int(np.argmax(hmax))
    others = [i for i in range(3) if i != axis]
    plane = np.stack(np.meshgrid(*[np.arange(-hmax[i], hmax[i] + 1) for i in others], indexing="ij"),
                     -1).reshape(-1, 2)
    per = max(1, _CHUNK // len(plane))
    keep_h, keep_d = [], []
    for start in range(-hmax[axis], hmax[axis] + 1, per):
        first = np.arange(start, min(start + per, hmax[axis] + 1))
        h = np.empty((len(first) * len(plane), 3), dtype=np.int64)
        h[:, axis] = np.repeat(first, len(plane))
        h[:, others] = np.tile(plane, (len(first), 1))
        inv_d2 = np.einsum("ni,ij,nj->n", h, gstar, h)
        inside = (inv_d2 > 0) & (inv_d2 <= limit)
        keep_h.append(h[inside])
        keep_d.append(inv_d2[inside])
    return np.concatenate(keep_h), np.concatenate(keep_d)


def _rotation_groups(sg: SpaceGroup) -> list[tuple[np.ndarray, np.ndarray]]:
    """(R, translations of every operation with rotation R) for each distinct R."""
    out = []
    for rot in sg.point_rotations:
        same = np.all(sg.rotations == rot, axis=(1, 2))
        out.append((rot, sg.translations[same]))
    return out


def systematically_absent(sg: SpaceGroup, hkl: np.ndarray) -> np.ndarray:
    """Boolean array: which of the reflections hkl (n, 3) the space group's operations extinguish."""
    h = np.asarray(hkl, dtype=np.int64).reshape(-1, 3)
    absent = np.zeros(len(h), dtype=bool)
    for rot, trans in _rotation_groups(sg):
        phase = h @ trans.T  # (n, ops with this R)
        shifted = np.abs(phase - np.round(phase)) > 1e-6
        if not shifted.any():
            continue
        fixed = np.all(h @ rot == h, axis=1)
        absent |= fixed & shifted.any(axis=1)
    return absent


def _orbit_keys(h: np.ndarray, sg: SpaceGroup, span: int) -> np.ndarray:
    """Integer code of the lexicographically largest of h R and -h R over the point group."""
    base = 2 * span + 1
    best = np.full(len(h), -1, dtype=np.int64)
    for rot in sg.point_rotations:
        for sign in (1, -1):
            e = sign * (h @ rot) + span
            code = (e[:, 0] * base + e[:, 1]) * base + e[:, 2]
            np.maximum(best, code, out=best)
    return best


def generate_reflections(
    lattice: Lattice, sg: SpaceGroup, d_min: float, *, d_max: float = np.inf, keep_absent: bool = False
) -> ReflectionList:
    """Unique powder reflections with d_min <= d <= d_max, sorted by decreasing d.

    Parameters
    ----------
    lattice
        The cell; it should obey the space group's metric (see :func:`refine.crystal.lattice.symmetrize`).
    sg
        Space group whose operations give absences and equivalences.
    d_min, d_max
        d range in Å.
    keep_absent
        Keep systematically absent reflections (e.g. to inspect them).
    """
    if not d_min > 0:
        raise ValueError(f"d_min must be positive, got {d_min}")
    check_reflection_count(lattice, d_min)
    gstar = lattice.reciprocal_metric
    limit = (1.0 + _EDGE) / d_min**2
    # |h| = |a . H| <= a |H| <= a / d_min.
    hmax = [int(np.floor(x * np.sqrt(limit))) for x in (lattice.a, lattice.b, lattice.c)]
    span = max(hmax)
    h, inv_d2 = _hkl_in_sphere(gstar, hmax, limit)
    if not keep_absent:
        allowed = ~systematically_absent(sg, h)
        h, inv_d2 = h[allowed], inv_d2[allowed]
    keys = _orbit_keys(h, sg, span)
    uniq, counts = np.unique(keys, return_counts=True)
    base = 2 * span + 1
    rep = np.stack([uniq // (base * base), (uniq // base) % base, uniq % base], axis=1) - span
    d = 1.0 / np.sqrt(np.einsum("ni,ij,nj->n", rep, gstar, rep))
    keep = (d >= d_min * (1.0 - 1e-12)) & (d <= d_max)
    rep, d, counts = rep[keep], d[keep], counts[keep]
    order = np.lexsort((-rep[:, 2], -rep[:, 1], -rep[:, 0], -d))
    rep, d, counts = rep[order], d[order], counts[order]
    return ReflectionList(rep[:, 0], rep[:, 1], rep[:, 2], d, counts)
