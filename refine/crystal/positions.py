"""Symmetry-constrained atomic parameters: coordinates and ADPs as lmfit parameters, and the structure they give.

A site x is special when operations of the space group map it onto itself (x = R x + t modulo lattice
translations); those operations form its stabiliser (site-symmetry group). A shift δ keeps the site on the
same Wyckoff position only when R δ = δ for every stabiliser operation, so the free directions are the null
space of the stacked (R − I). Likewise an anisotropic U must satisfy N U N = R (N U N) Rᵀ (N = diag(a*, b*, c*),
Trueblood et al. 1996, Acta Cryst. A52, 770), a linear condition on its six components (International Tables
vol. D, 1.2; Peterse & Palm 1966, Acta Cryst. 20, 147). The null spaces are put in reduced row-echelon form so
that every free parameter is one named coordinate or U component and the others follow as expressions
(e.g. 12c (0, 0, z) of R-3c gives only ``z``; (x, 2x, z) gives ``x``, ``z`` and y = 2x).

Parameters (``ph`` the phase prefix): ``{ph}_{label}_x/_y/_z`` along the free directions, ``{ph}_{label}_occ``,
``{ph}_{label}_uiso`` or ``{ph}_{label}_u11`` … ``_u23`` allowed by the site symmetry. Sites sharing one
position (mixed sites such as V/Cr/Mn/Fe on 12c) share the first site's coordinates and ADPs, and the last
site's occupancy is the total minus the others (``{ph}_Fe1_occ = 0.8 - {ph}_V1_occ - ...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lmfit
import numpy as np

from refine.crystal.lattice import Lattice
from refine.crystal.spacegroup import SpaceGroup
from refine.crystal.structure import CrystalStructure, ExpandedAtoms, Site
from refine.errors import InputError

AXES = "xyz"
UIJ = ("u11", "u22", "u33", "u12", "u13", "u23")
_UIJ_INDEX = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
#: Two images closer than this (Å) are the same atom; two sites closer than this share one position.
SAME_POSITION = 0.01


def stabiliser(sg: SpaceGroup, xyz: np.ndarray, lattice: Lattice, tol: float = SAME_POSITION) -> np.ndarray:
    """Indices of the operations mapping ``xyz`` onto itself modulo lattice translations (within ``tol`` Å)."""
    x = np.asarray(xyz, dtype=float)
    diff = np.einsum("oij,j->oi", sg.rotations.astype(float), x) + sg.translations - x
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ lattice.cartesian.T, axis=1)
    return np.flatnonzero(dist < tol)


def _rref_nullspace(conditions: np.ndarray, n: int, tol: float = 1e-8) -> tuple[np.ndarray, tuple[int, ...]]:
    """Null space of ``conditions`` (m, n) as rows in reduced row-echelon form, and the pivot columns."""
    if conditions.size == 0:
        return np.eye(n), tuple(range(n))
    _, s, vt = np.linalg.svd(conditions)
    rank = int(np.sum(s > tol * max(1.0, s.max(initial=0.0))))
    basis = vt[rank:].copy()  # (k, n)
    pivots: list[int] = []
    row = 0
    for col in range(n):
        if row >= len(basis):
            break
        best = row + int(np.argmax(np.abs(basis[row:, col])))
        if abs(basis[best, col]) < tol:
            continue
        basis[[row, best]] = basis[[best, row]]
        basis[row] /= basis[row, col]
        for other in range(len(basis)):
            if other != row:
                basis[other] -= basis[other, col] * basis[row]
        pivots.append(col)
        row += 1
    basis[np.abs(basis) < tol] = 0.0
    return basis, tuple(pivots)


@dataclass(frozen=True)
class LinearConstraint:
    """v = origin + Σ_k rows[k] (v[pivot_k] − origin[pivot_k]): free components ``pivots`` of a vector."""

    rows: np.ndarray = field(repr=False)  # (k, n)
    pivots: tuple[int, ...]

    def dependent(self, j: int) -> list[tuple[int, float]]:
        """How component ``j`` (not a pivot) follows the pivots: [(pivot, coefficient), ...]."""
        return [(p, float(self.rows[k, j])) for k, p in enumerate(self.pivots) if self.rows[k, j] != 0.0]


def coordinate_constraint(sg: SpaceGroup, xyz: np.ndarray, lattice: Lattice) -> LinearConstraint:
    """Free coordinate directions of a site: null space of (R − I) over its stabiliser."""
    ops = stabiliser(sg, xyz, lattice)
    cond = np.concatenate([sg.rotations[o].astype(float) - np.eye(3) for o in ops]) if len(ops) else np.zeros((0, 3))
    rows, pivots = _rref_nullspace(cond, 3)
    return LinearConstraint(rows=rows, pivots=pivots)


def _u_map(a: np.ndarray) -> np.ndarray:
    """6x6 matrix of U -> A U Aᵀ on (u11, u22, u33, u12, u13, u23)."""
    out = np.zeros((6, 6))
    for col, (k, m) in enumerate(_UIJ_INDEX):
        e = np.zeros((3, 3))
        e[k, m] = e[m, k] = 1.0
        img = a @ e @ a.T
        out[:, col] = [img[i, j] for i, j in _UIJ_INDEX]
    return out


def adp_constraint(sg: SpaceGroup, xyz: np.ndarray, lattice: Lattice) -> LinearConstraint:
    """Free U^ij components of a site: U = A U Aᵀ with A = N⁻¹ R N for every stabiliser operation."""
    nstar = np.diag(lattice.reciprocal_lengths)
    ninv = np.diag(1.0 / lattice.reciprocal_lengths)
    ops = stabiliser(sg, xyz, lattice)
    cond = [_u_map(ninv @ sg.rotations[o].astype(float) @ nstar) - np.eye(6) for o in ops]
    rows, pivots = _rref_nullspace(np.concatenate(cond) if cond else np.zeros((0, 6)), 6, tol=1e-6)
    return LinearConstraint(rows=rows, pivots=pivots)


def symmetrize_adp(sg: SpaceGroup, xyz: np.ndarray, lattice: Lattice, u: np.ndarray) -> np.ndarray:
    """U averaged over the site's stabiliser (A U Aᵀ with A = N⁻¹ R N): the projection onto the tensors the site
    symmetry allows. A start that breaks the symmetry (e.g. a PDFfit .stru with U12 = 0 for an atom on a 3-fold
    axis of a hexagonal cell, where U12 = U11/2) would otherwise keep its violation as a constant offset."""
    nstar = np.diag(lattice.reciprocal_lengths)
    ninv = np.diag(1.0 / lattice.reciprocal_lengths)
    ops = stabiliser(sg, xyz, lattice)
    u = np.asarray(u, dtype=float)
    if not len(ops):
        return u
    mats = [ninv @ sg.rotations[o].astype(float) @ nstar for o in ops]
    return sum(a @ u @ a.T for a in mats) / len(mats)


def _images(sg: SpaceGroup, xyz: np.ndarray, lattice: Lattice) -> np.ndarray:
    """Operations giving the distinct atoms of a site in the cell (first of each group of coincident images)."""
    pos = np.mod(np.einsum("oij,j->oi", sg.rotations.astype(float), xyz) + sg.translations, 1.0)
    keep: list[int] = []
    for i in range(len(pos)):
        d = pos[keep] - pos[i]
        d -= np.round(d)
        if not keep or np.all(np.linalg.norm(d @ lattice.cartesian.T, axis=1) >= SAME_POSITION):
            keep.append(i)
    return np.array(keep, dtype=int)


def _num(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True, eq=False)
class _SiteInfo:
    site: Site
    coords: LinearConstraint
    adps: LinearConstraint | None
    images: np.ndarray
    host: int  # index of the site whose coordinates/ADPs this one shares (itself when not mixed)


class StructureParameters:
    """The atomic parameters of one phase and the structure (or expanded atoms) they describe.

    Parameters
    ----------
    structure
        The starting structure (its sites, space group and cell).
    prefix
        Phase prefix of the parameter names.
    """

    def __init__(self, structure: CrystalStructure, prefix: str) -> None:
        self.structure = structure
        self.prefix = prefix
        sg, lat = structure.space_group, structure.lattice
        infos: list[_SiteInfo] = []
        for i, site in enumerate(structure.sites):
            xyz = np.asarray(site.xyz, dtype=float)
            host = i
            for j, other in enumerate(structure.sites[:i]):
                d = np.asarray(other.xyz) - xyz
                d -= np.round(d)
                if np.linalg.norm(d @ lat.cartesian.T) < SAME_POSITION and infos[j].host == j:
                    host = j
                    break
            infos.append(_SiteInfo(site=site, coords=coordinate_constraint(sg, xyz, lat),
                                   adps=adp_constraint(sg, xyz, lat) if site.uaniso is not None else None,
                                   images=_images(sg, xyz, lat), host=host))
        self.sites = tuple(infos)

    def name(self, label: str, item: str) -> str:
        """Parameter name of ``item`` ('x', 'occ', 'uiso', 'u11', ...) of site ``label``."""
        return f"{self.prefix}_{label}_{item}"

    def groups(self) -> list[list[int]]:
        """Indices of sites sharing one position (each list starts with its host)."""
        out: dict[int, list[int]] = {}
        for i, info in enumerate(self.sites):
            out.setdefault(info.host, []).append(i)
        return list(out.values())

    # -- parameters ------------------------------------------------------------------------------------------
    def parameters(self) -> lmfit.Parameters:
        """Coordinates, occupancies and ADPs with the site-symmetry and mixed-site constraints, none varying."""
        params = lmfit.Parameters()
        for info in self.sites:
            site = info.site
            host = self.sites[info.host].site
            if info.host != self.sites.index(info):
                for axis in AXES:
                    if self._coordinate_is_parameter(self.sites[info.host], AXES.index(axis)):
                        params.add(self.name(site.label, axis), expr=self.name(host.label, axis))
            else:
                self._add_linear(params, site.label, AXES, np.asarray(site.xyz), info.coords, bounds=(-1.0, 2.0))
            if info.host != self.sites.index(info):
                adp_names = (["uiso"] if site.uaniso is None else list(UIJ))
                for item in adp_names:
                    if self.name(host.label, item) in params:
                        params.add(self.name(site.label, item), expr=self.name(host.label, item))
                    else:
                        params.add(self.name(site.label, item), value=self._uiso(site), vary=False)
            elif site.uaniso is None:
                params.add(self.name(site.label, "uiso"), value=self._uiso(site), vary=False, min=-0.05, max=1.0)
            else:
                u = symmetrize_adp(self.structure.space_group, np.asarray(site.xyz, float),
                                   self.structure.lattice, site.uaniso)
                self._add_linear(params, site.label, UIJ, np.array([u[i, j] for i, j in _UIJ_INDEX]), info.adps,
                                 bounds=(-1.0, 1.0))
        for group in self.groups():
            total = sum(self.sites[i].site.occupancy for i in group)
            for k, i in enumerate(group):
                site = self.sites[i].site
                if len(group) > 1 and k == len(group) - 1:
                    others = " - ".join(self.name(self.sites[j].site.label, "occ") for j in group[:-1])
                    params.add(self.name(site.label, "occ"), expr=f"{_num(total)} - {others}")
                else:
                    params.add(self.name(site.label, "occ"), value=site.occupancy, vary=False, min=0.0, max=1.5)
        return params

    @staticmethod
    def _uiso(site: Site) -> float:
        # A CIF without displacement parameters: U = 0, as the structure-factor model treats it.
        return 0.0 if site.uiso is None else float(site.uiso)

    @staticmethod
    def _coordinate_is_parameter(info: _SiteInfo, axis: int) -> bool:
        return axis in info.coords.pivots or bool(info.coords.dependent(axis))

    def _add_linear(self, params: lmfit.Parameters, label: str, names: tuple[str, ...], start: np.ndarray,
                    rule: LinearConstraint, *, bounds: tuple[float, float]) -> None:
        for j, item in enumerate(names):
            if j in rule.pivots:
                params.add(self.name(label, item), value=float(start[j]), vary=False, min=bounds[0], max=bounds[1])
        for j, item in enumerate(names):
            if j in rule.pivots:
                continue
            deps = rule.dependent(j)
            if deps:  # v_j = v0_j + Σ c (v_p − v0_p)
                const = float(start[j]) - sum(c * float(start[p]) for p, c in deps)
                terms = " + ".join(f"{_num(c)}*{self.name(label, names[p])}" for p, c in deps)
                params.add(self.name(label, item), expr=f"{_num(const)} + {terms}")

    def free_names(self, kind: str) -> list[str]:
        """Names of the independent parameters of a kind: 'positions', 'adp' or 'occupancy'."""
        items = {"positions": AXES, "adp": ("uiso", *UIJ), "occupancy": ("occ",)}[kind]
        params = self.parameters()
        return [self.name(info.site.label, it) for info in self.sites for it in items
                if self.name(info.site.label, it) in params and not params[self.name(info.site.label, it)].expr]

    # -- the structure at given parameters --------------------------------------------------------------------
    def _site_values(self, values: dict[str, float], info: _SiteInfo) -> tuple[np.ndarray, float, float | None,
                                                                               np.ndarray | None]:
        label = info.site.label
        xyz = np.array([values.get(self.name(label, a), info.site.xyz[k]) for k, a in enumerate(AXES)])
        occ = values.get(self.name(label, "occ"), info.site.occupancy)
        if info.site.uaniso is None:
            return xyz, occ, values.get(self.name(label, "uiso"), self._uiso(info.site)), None
        u0 = np.asarray(info.site.uaniso)
        u6 = [values.get(self.name(label, n), u0[i, j]) for n, (i, j) in zip(UIJ, _UIJ_INDEX, strict=True)]
        u = np.zeros((3, 3))
        for val, (i, j) in zip(u6, _UIJ_INDEX, strict=True):
            u[i, j] = u[j, i] = val
        return xyz, occ, None, u

    def structure_at(self, params: lmfit.Parameters, lattice: Lattice | None = None) -> CrystalStructure:
        """The structure with the parameters' coordinates, occupancies and ADPs (esds attached where known)."""
        values = params.valuesdict()
        sites = []
        for info in self.sites:
            xyz, occ, uiso, u = self._site_values(values, info)
            label = info.site.label
            esd = {}
            for item, key in (*((a, a) for a in AXES), ("occ", "occupancy"), ("uiso", "uiso"),
                              *((n, n) for n in UIJ)):
                name = self.name(label, item)
                if name in params and params[name].stderr is not None and np.isfinite(params[name].stderr) and (
                        params[name].vary or params[name].expr):
                    esd[key] = float(params[name].stderr)
            if u is not None:
                from refine.crystal.structure import u_equivalent

                uiso = u_equivalent(u, lattice or self.structure.lattice)
            sites.append(Site(label=label, element=info.site.element, xyz=tuple(xyz), occupancy=float(occ),
                              uiso=uiso, uaniso=None if u is None else tuple(map(tuple, u)), esd=esd))
        return self.structure.replace(sites=tuple(sites), lattice=lattice or self.structure.lattice)

    def expanded(self, params: lmfit.Parameters, lattice: Lattice) -> ExpandedAtoms:
        """All atoms of the cell at ``params`` (the images of each site fixed at construction: fast)."""
        values = params.valuesdict()
        sg = self.structure.space_group
        rot = sg.rotations.astype(float)
        astar = lattice.reciprocal_lengths
        iso_shape = lattice.reciprocal_metric / np.outer(astar, astar)
        nstar, ninv = np.diag(astar), np.diag(1.0 / astar)
        labels, elements, index, xyzs, occs, uisos, uanis = [], [], [], [], [], [], []
        for i, info in enumerate(self.sites):
            xyz, occ, uiso, u = self._site_values(values, info)
            ops = info.images
            xyzs.append(np.einsum("oij,j->oi", rot[ops], xyz) + sg.translations[ops])
            n = len(ops)
            if u is None:
                uanis.append(np.broadcast_to(uiso * iso_shape, (n, 3, 3)))
                uisos.append(np.full(n, uiso))
            else:
                frac = nstar @ u @ nstar
                uanis.append(np.einsum("ij,ojk,lk->oil", ninv, rot[ops] @ frac @ rot[ops].transpose(0, 2, 1), ninv))
                uisos.append(np.full(n, np.trace(u) / 3.0))
            labels += [info.site.label] * n
            elements += [info.site.element] * n
            index += [i] * n
            occs.append(np.full(n, occ))
        return ExpandedAtoms(labels=tuple(labels), elements=tuple(elements), site_index=np.array(index, dtype=int),
                             xyz=np.mod(np.concatenate(xyzs), 1.0), occupancy=np.concatenate(occs),
                             uiso=np.concatenate(uisos), uaniso=np.concatenate(uanis))


def _coordinate_terms(sp: StructureParameters, label: str, params: lmfit.Parameters) -> list[str]:
    site = next(info.site for info in sp.sites if info.site.label == label)
    return [sp.name(label, a) if sp.name(label, a) in params else _num(site.xyz[k]) for k, a in enumerate(AXES)]


def _nearest_image(structure: CrystalStructure, x1: np.ndarray, x2: np.ndarray) -> tuple[int, np.ndarray, float]:
    """(operation, lattice translation, distance Å) of the image R x2 + t + n closest to x1."""
    sg = structure.space_group
    imgs = np.einsum("oij,j->oi", sg.rotations.astype(float), x2) + sg.translations
    shift = np.round(x1 - imgs)
    d = np.linalg.norm((x1 - imgs - shift) @ structure.lattice.cartesian.T, axis=1)
    o = int(np.argmin(d))
    return o, shift[o], float(d[o])


def bond_restraint(sp: StructureParameters, params: lmfit.Parameters, pair: tuple[str, str], target: float,
                   sigma: float):
    """A :class:`refine.fit.Restraint` holding the distance between two sites near ``target`` Å (weight 1/σ²).

    The image of the second site nearest to the first at the starting parameters is used; the distance is written
    as an lmfit expression in the cell and coordinate parameters, d² = Δᵀ G Δ with the metric tensor G.
    """
    from refine.fit import Restraint

    s = sp.structure
    first, second = (next(info.site for info in sp.sites if info.site.label == lab) for lab in pair)
    o, n, _ = _nearest_image(s, np.asarray(first.xyz), np.asarray(second.xyz))
    rot, t = s.space_group.rotations[o], s.space_group.translations[o]
    x1, x2 = _coordinate_terms(sp, pair[0], params), _coordinate_terms(sp, pair[1], params)
    delta = []
    for i in range(3):
        image = " + ".join(f"{int(rot[i, j])}*{x2[j]}" for j in range(3) if rot[i, j])
        delta.append(f"({x1[i]} - ({image}) - {_num(t[i] + n[i])})")
    p = sp.prefix
    cells = [f"{p}_a", f"{p}_b", f"{p}_c"]
    angle = {(0, 1): f"{p}_gamma", (0, 2): f"{p}_beta", (1, 2): f"{p}_alpha"}
    terms = [f"{delta[i]}**2*{cells[i]}**2" for i in range(3)]
    terms += [f"2*{delta[i]}*{delta[j]}*{cells[i]}*{cells[j]}*cos({angle[(i, j)]}*pi/180)" for i, j in angle]
    return Restraint(expr=f"sqrt({' + '.join(terms)})", target=target, sigma=sigma)


def bond_table(structure: CrystalStructure, label: str, max_distance: float = 3.0) -> dict:
    """Distances (Å) from site ``label`` to every atom within ``max_distance`` and the angles (deg) between them.

    Returns {'site': label, 'bonds': [{'to', 'distance'}...], 'angles': [{'atoms', 'angle'}...]}.
    """
    sites = {site.label: site for site in structure.sites}
    if label not in sites:
        raise InputError("--bonds", f"no site {label!r}; sites: {', '.join(sites)}")
    atoms = structure.expand()
    cart = structure.lattice.cartesian
    centre = np.asarray(sites[label].xyz, dtype=float)
    found = []
    for lab, xyz in zip(atoms.labels, atoms.xyz, strict=True):
        base = xyz - centre
        for n in np.ndindex(3, 3, 3):
            v = (base - np.round(base) + np.array(n) - 1) @ cart.T
            d = float(np.linalg.norm(v))
            if 1e-3 < d <= max_distance:
                found.append((lab, d, v))
    found.sort(key=lambda item: item[1])
    bonds = [{"to": lab, "distance": d} for lab, d, _ in found]
    angles = []
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            u, w = found[i][2], found[j][2]
            cos = float(u @ w / (np.linalg.norm(u) * np.linalg.norm(w)))
            angles.append({"atoms": (found[i][0], label, found[j][0]),
                           "angle": float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))})
    return {"site": label, "bonds": bonds, "angles": angles}
