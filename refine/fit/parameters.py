"""lmfit parameters of a crystal: the cell under its crystal system's constraints and the symmetry-constrained
atomic coordinates, occupancies and ADPs (the constraints themselves are :mod:`refine.crystal.positions`).

Parameters (``ph`` the phase prefix): ``{ph}_a`` ... ``{ph}_gamma``; ``{ph}_{label}_x/_y/_z`` along the free
directions, ``{ph}_{label}_occ``, ``{ph}_{label}_uiso`` or ``{ph}_{label}_u11`` … ``_u23`` allowed by the site
symmetry. Sites sharing one position (mixed sites such as V/Cr/Mn/Fe on 12c) share the first site's coordinates and
ADPs, and the last site's occupancy is the total minus the others (``{ph}_Fe1_occ = 0.8 - {ph}_V1_occ - ...``).
"""

from __future__ import annotations

from dataclasses import dataclass

import lmfit
import numpy as np

from refine.crystal.adp import iso_tensor, u_equivalent
from refine.crystal.lattice import PARAMETER_NAMES, Lattice, cell_constraints, symmetrize
from refine.crystal.positions import (
    AXES,
    SAME_POSITION,
    UIJ,
    UIJ_INDEX,
    LinearConstraint,
    adp_constraint,
    coordinate_constraint,
    nearest_image,
    site_images,
    symmetrize_adp,
)
from refine.crystal.spacegroup import SpaceGroup
from refine.crystal.structure import CrystalStructure, ExpandedAtoms, Site
from refine.errors import InputError
from refine.fit.objective import Restraint


def lattice_parameters(prefix: str, sg: SpaceGroup, lattice: Lattice, *, vary: bool = True) -> lmfit.Parameters:
    """lmfit parameters ``{prefix}_a`` ... ``{prefix}_gamma``: free ones vary, the others are expressions or fixed.

    Example: cubic gives ``nvp_a`` varying, ``nvp_b`` and ``nvp_c`` with expr ``nvp_a``, angles fixed at 90.
    """
    rules = cell_constraints(sg)
    values = dict(zip(PARAMETER_NAMES, symmetrize(lattice, sg).as_tuple(), strict=True))
    params = lmfit.Parameters()
    for name, rule in zip(PARAMETER_NAMES, rules.rules, strict=True):
        full = f"{prefix}_{name}"
        if rule == "free":
            bounds = (0.0, np.inf) if name in ("a", "b", "c") else (0.0, 180.0)
            params.add(full, value=values[name], vary=vary, min=bounds[0], max=bounds[1])
        elif isinstance(rule, str):
            params.add(full, expr=f"{prefix}_{rule}")
        else:
            params.add(full, value=float(rule), vary=False)
    return params


def lattice_from_parameters(params: lmfit.Parameters, prefix: str) -> Lattice:
    """The cell held in ``{prefix}_a`` ... ``{prefix}_gamma``; a refinement that drives it to values that make no
    cell raises :class:`InputError` naming the phase and what to do."""
    values = [params[f"{prefix}_{n}"].value for n in PARAMETER_NAMES]
    try:
        return Lattice(*values)
    except InputError as err:
        raise InputError(f"phase {prefix}", f"the refinement drove its cell to values that make no cell "
                                            f"({err.problem}); start from a closer cell, or refine fewer cell "
                                            "parameters") from None


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
                                   images=site_images(sg, xyz, lat), host=host))
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
                self._add_linear(params, site.label, UIJ, np.array([u[i, j] for i, j in UIJ_INDEX]), info.adps,
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
        u6 = [values.get(self.name(label, n), u0[i, j]) for n, (i, j) in zip(UIJ, UIJ_INDEX, strict=True)]
        u = np.zeros((3, 3))
        for val, (i, j) in zip(u6, UIJ_INDEX, strict=True):
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
        iso_shape = iso_tensor(lattice)
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
                uisos.append(np.full(n, u_equivalent(u, lattice)))
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


def bond_restraint(sp: StructureParameters, params: lmfit.Parameters, pair: tuple[str, str], target: float,
                   sigma: float) -> Restraint:
    """A :class:`refine.fit.Restraint` holding the distance between two sites near ``target`` Å (weight 1/σ²).

    The image of the second site nearest to the first at the starting parameters is used; the distance is written
    as an lmfit expression in the cell and coordinate parameters, d² = Δᵀ G Δ with the metric tensor G.
    """
    s = sp.structure
    first, second = (next(info.site for info in sp.sites if info.site.label == lab) for lab in pair)
    o, n, _ = nearest_image(s, np.asarray(first.xyz), np.asarray(second.xyz))
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
