"""Crystal structures: cell, space group and the asymmetric unit, expanded to the full cell on demand.

Anisotropic displacements are the CIF U^ij; their conversions are :mod:`refine.crystal.adp`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from refine.crystal.adp import iso_tensor, u_equivalent
from refine.crystal.lattice import Lattice
from refine.crystal.reflections import ReflectionList, generate_reflections
from refine.crystal.spacegroup import SpaceGroup

# Two images closer than this (Å) are one atom on a special position.
MERGE_TOLERANCE = 0.01


@dataclass(frozen=True)
class Site:
    """One atom of the asymmetric unit.

    Attributes
    ----------
    label
        Site label ('O1').
    element
        Element or ion symbol as given ('O', 'O2-', 'Ti4+').
    xyz
        Fractional coordinates.
    occupancy
        Site occupancy (0-1).
    uiso
        Isotropic U (Å^2), or the equivalent U when ``uaniso`` is given; None when the file gave none.
    uaniso
        Anisotropic U^ij (Å^2) as a 3x3 nested tuple, or None for an isotropic site.
    esd
        Standard uncertainties by item name ('x', 'y', 'z', 'occupancy', 'uiso', 'u11' ... 'u23') where known.
    """

    label: str
    element: str
    xyz: tuple[float, float, float]
    occupancy: float = 1.0
    uiso: float | None = None
    uaniso: tuple[tuple[float, float, float], ...] | None = None
    esd: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "xyz", tuple(float(v) for v in self.xyz))
        if len(self.xyz) != 3:
            raise ValueError(f"site {self.label}: xyz needs 3 values")
        object.__setattr__(self, "occupancy", float(self.occupancy))
        if self.uaniso is not None:
            u = np.asarray(self.uaniso, dtype=float).reshape(3, 3)
            if not np.allclose(u, u.T):
                raise ValueError(f"site {self.label}: Uaniso must be symmetric")
            object.__setattr__(self, "uaniso", tuple(tuple(float(v) for v in row) for row in u))
        if isinstance(self.esd, dict):
            object.__setattr__(self, "esd", tuple(sorted(self.esd.items())))

    @property
    def symbol(self) -> str:
        """The element without charge ('Ti4+' -> 'Ti'; :func:`refine.crystal.scattering.parse_species`)."""
        from refine.crystal.scattering import parse_species

        return parse_species(self.element, source=f"site {self.label}")[0]

    @property
    def esd_map(self) -> dict[str, float]:
        """``esd`` as a dict."""
        return dict(self.esd)


@dataclass(frozen=True, eq=False)
class ExpandedAtoms:
    """All atoms in the unit cell, as arrays (one row per atom).

    Attributes
    ----------
    labels, elements
        Per-atom site label and element of the asymmetric-unit site it comes from.
    site_index
        Index of that site in ``CrystalStructure.sites``.
    xyz
        Fractional coordinates in [0, 1), shape (n, 3).
    occupancy, uiso
        Occupancy and Uiso (Ueq for anisotropic sites; NaN when unknown), shape (n,).
    uaniso
        U^ij of each atom, shape (n, 3, 3) (isotropic sites expanded with G*), NaN when unknown.
    """

    labels: tuple[str, ...]
    elements: tuple[str, ...]
    site_index: np.ndarray = field(repr=False)
    xyz: np.ndarray = field(repr=False)
    occupancy: np.ndarray = field(repr=False)
    uiso: np.ndarray = field(repr=False)
    uaniso: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True, eq=False)
class CrystalStructure:
    """A phase: name, cell, space group and asymmetric unit (may be empty, for Le Bail / Pawley).

    Attributes
    ----------
    name
        Phase name.
    lattice
        Cell parameters.
    space_group
        Space group in the setting the coordinates refer to.
    sites
        Asymmetric-unit sites.
    lattice_esd
        esds of (a, b, c, alpha, beta, gamma) when known (0 for a fixed value), else None.
    """

    name: str
    lattice: Lattice
    space_group: SpaceGroup
    sites: tuple[Site, ...] = ()
    lattice_esd: tuple[float, ...] | None = None
    #: reflection lists already generated from this (immutable) cell, by d_min: a sequential fit builds one model per
    #: scan from the same phases, and the list depends on nothing else
    _reflections: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", tuple(self.sites))
        if self.lattice_esd is not None:
            object.__setattr__(self, "lattice_esd", tuple(float(v) for v in self.lattice_esd))
            if len(self.lattice_esd) != 6:
                raise ValueError("lattice_esd needs 6 values")

    def reflections(self, d_min: float) -> ReflectionList:
        """The unique reflections of this cell and space group with d >= ``d_min``
        (:func:`refine.crystal.reflections.generate_reflections`), generated once per ``d_min``."""
        refl = self._reflections.get(d_min)
        if refl is None:
            refl = generate_reflections(self.lattice, self.space_group, d_min)
            if len(self._reflections) >= 8:
                self._reflections.pop(next(iter(self._reflections)))
            self._reflections[d_min] = refl
        return refl

    def replace(self, **changes: object) -> CrystalStructure:
        """A copy with the given fields changed."""
        return replace(self, **changes)

    def expand(self, tolerance: float = MERGE_TOLERANCE) -> ExpandedAtoms:
        """All atoms in the cell: every site under every operation, images closer than ``tolerance`` Å merged."""
        lat = self.lattice
        cart = lat.cartesian
        nstar = np.diag(lat.reciprocal_lengths)
        nstar_inv = np.diag(1.0 / lat.reciprocal_lengths)
        rot = self.space_group.rotations.astype(float)
        labels, elements, index, xyzs, occs, uisos, uanis = [], [], [], [], [], [], []
        for i, site in enumerate(self.sites):
            pos = np.mod(np.einsum("oij,j->oi", rot, site.xyz) + self.space_group.translations, 1.0)
            keep = _distinct(pos, cart, tolerance)
            u = site_uaniso(site, lat)
            for o in keep:
                ufrac = rot[o] @ (nstar @ u @ nstar) @ rot[o].T
                uanis.append(nstar_inv @ ufrac @ nstar_inv)
                xyzs.append(pos[o])
            n = len(keep)
            labels += [site.label] * n
            elements += [site.element] * n
            index += [i] * n
            occs += [site.occupancy] * n
            uisos += [np.nan if site.uiso is None else site.uiso] * n
        return ExpandedAtoms(
            labels=tuple(labels),
            elements=tuple(elements),
            site_index=np.array(index, dtype=int),
            xyz=np.mod(np.array(xyzs, dtype=float).reshape(-1, 3), 1.0),
            occupancy=np.array(occs, dtype=float),
            uiso=np.array(uisos, dtype=float),
            uaniso=np.array(uanis, dtype=float).reshape(-1, 3, 3),
        )

    def multiplicities(self, tolerance: float = MERGE_TOLERANCE) -> tuple[int, ...]:
        """Number of atoms each site gives in the cell (its Wyckoff multiplicity)."""
        counts = np.bincount(self.expand(tolerance).site_index, minlength=len(self.sites))
        return tuple(int(c) for c in counts)


def site_uaniso(site: Site, lattice: Lattice) -> np.ndarray:
    """U^ij of a site (Å^2); an isotropic site gives Uiso G*_ij / (a*_i a*_j); NaN when unknown."""
    if site.uaniso is not None:
        return np.array(site.uaniso, dtype=float)
    if site.uiso is None:
        return np.full((3, 3), np.nan)
    return site.uiso * iso_tensor(lattice)


__all__ = ["CrystalStructure", "ExpandedAtoms", "MERGE_TOLERANCE", "Site", "site_uaniso", "u_equivalent"]


def _distinct(pos: np.ndarray, cart: np.ndarray, tolerance: float) -> list[int]:
    """Indices of the first of each group of periodic images closer than ``tolerance`` Å."""
    diff = pos[:, None, :] - pos[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ cart.T, axis=2)
    keep: list[int] = []
    for i in range(len(pos)):
        if not any(dist[i, j] < tolerance for j in keep):
            keep.append(i)
    return keep
