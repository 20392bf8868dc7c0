"""A crystalline PDF phase with its full crystallographic parameterisation (issue 6: "lattice (crystal-system
constrained), symmetry-constrained positions and ADPs").

Parameters (prefix ``p``): ``p_scale``; the free cell parameters of the crystal system (``p_a``, ``p_c`` ... as
:func:`refine.fit.parameters.lattice_parameters` makes them); every free coordinate, occupancy and ADP of the
asymmetric unit along the directions its site symmetry allows (:class:`refine.fit.parameters.StructureParameters`:
``p_Se1_z``, ``p_Cd1_uiso``, ``p_O1_u11`` ...); ``p_delta1``, ``p_delta2``, ``p_spdiameter``. Each evaluation expands
the asymmetric unit at the current parameters and computes G(r) by the exact pair sum
(:func:`refine.pdf.calculate.direct_gr`, PDFfit2's definitions), so any parameter may move; it suits cells of up to a
few tens of atoms. Fixed supercells use the pair-table path instead (:class:`refine.pdf.model.Phase`); both
implement :class:`refine.pdf.model.PDFPhase`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import lmfit
import numpy as np

from refine.crystal.lattice import PARAMETER_NAMES, Lattice, cell_constraints
from refine.crystal.positions import AXES
from refine.crystal.structure import CrystalStructure
from refine.errors import InputError
from refine.fit.parameters import StructureParameters, lattice_from_parameters, lattice_parameters
from refine.fit.phase_result import PhaseResult, Value, refined_cell
from refine.pdf.calculate import PDFSettings, direct_gr
from refine.pdf.crystal_derivatives import direct_derivatives, structure_tangents
from refine.pdf.model import Experiment, PhaseCache
from refine.pdf.pairs import NeighbourList
from refine.pdf.structure import PDFStructure

#: Fractional distance (and relative ADP change) within which an operation still fixes a site: the reduced pair
#: list (one atom per symmetry orbit) is used only while every site keeps the symmetry it had in the file.
SITE_TOLERANCE = 1e-6


def polar_axes(sp: StructureParameters, params: lmfit.Parameters) -> list[str]:
    """Axes along which every site's coordinate is free (a floating origin: polar groups such as P6₃mc, Pna2₁);
    one coordinate along each must stay fixed or the fit is singular."""
    out = []
    for axis in AXES:
        names = [sp.name(info.site.label, axis) for info in sp.sites if info.host == sp.sites.index(info)]
        if names and all(n in params and not params[n].expr for n in names):
            out.append(axis)
    return out


@dataclass(frozen=True, eq=False)
class CrystalPhase:
    """A crystalline phase of a PDF model: prefix, starting structure and its parameter maker (implements
    :class:`refine.pdf.model.PDFPhase` by the exact pair sum)."""

    prefix: str
    structure: CrystalStructure
    neighbours: NeighbourList | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.neighbours is None:  # pairs from one atom per symmetry orbit (the cell is always the expansion)
            orbits = np.repeat(np.arange(len(self.atoms.sites)), [len(info.images) for info in self.atoms.sites])
            object.__setattr__(self, "neighbours", NeighbourList(compiled=True, orbits=orbits))

    @property
    def fixed(self) -> bool:
        """Never: a crystalline phase refines its structure."""
        return False

    @property
    def analytic(self) -> bool:
        """Analytic derivatives (:meth:`derivatives`) for every parameter."""
        return True

    @classmethod
    def load(cls, path: str | os.PathLike, prefix: str) -> CrystalPhase:
        """Read a CIF or PDFfit .stru (asymmetric unit and space group kept)."""
        from refine.io.structures import read_structure

        structure = read_structure(path)
        if not structure.sites:
            raise InputError(path, "the structure has no atoms")
        return cls(prefix, structure)

    @functools.cached_property
    def atoms(self) -> StructureParameters:
        """The site-symmetry parameterisation (built once: stabilisers and constraint rows do not change)."""
        return StructureParameters(self.structure, self.prefix)

    def parameters(self, *, refine_positions: bool = True) -> lmfit.Parameters:
        """Scale, cell, atomic parameters, delta1/delta2, spdiameter. Varying: scale, the free cell parameters, each
        site's Uiso (or free U_ij), and, with ``refine_positions``, the free coordinates except one per polar axis."""
        p = self.prefix
        sg = self.structure.space_group
        params = lmfit.Parameters()
        params.add(f"{p}_scale", value=1.0, min=0.0, vary=True)
        params.update(lattice_parameters(p, sg, self.structure.lattice, vary=True))
        sp = self.atoms
        params.update(sp.parameters())
        for name in sp.free_names("adp"):
            params[name].set(vary=True, min=0.0 if name.endswith("uiso") else params[name].min)
            if name.endswith("uiso") and params[name].value <= 1e-4:  # no ADPs in the file: a typical start
                params[name].set(value=0.005)
        if refine_positions:
            fixed = {sp.name(next(i.site.label for i in sp.sites), a) for a in polar_axes(sp, params)}
            for name in sp.free_names("positions"):
                params[name].set(vary=name not in fixed)
        for name in ("delta1", "delta2"):
            params.add(f"{p}_{name}", value=0.0, min=0.0, vary=False)
        params.add(f"{p}_spdiameter", value=0.0, min=0.0, vary=False)
        return params

    def add_parameters(self, params: lmfit.Parameters) -> None:
        """Add this phase's parameters (see :meth:`parameters`) to a model's set."""
        params.update(self.parameters())

    def uiso_names(self) -> dict[str, str]:
        """Pair-table style Uiso classes: none (ADPs are per site, see :meth:`parameters`)."""
        return {}

    def refined_structure(self, result) -> CrystalStructure:
        """The structure at a fit result's parameters, with esds, for CIF output."""
        lattice = lattice_from_parameters(result.params, self.prefix)
        return self.atoms.structure_at(result.params, lattice)

    def free_cell(self) -> list[str]:
        """Names of the free cell parameters."""
        return [f"{self.prefix}_{n}" for n in cell_constraints(self.structure.space_group).free]

    def pdf_structure(self, params: lmfit.Parameters) -> PDFStructure:
        """All atoms of the cell at the current parameters, for the G(r) calculator."""
        return self._structure_at(params.valuesdict())

    def _structure_at(self, values: Mapping[str, float]) -> PDFStructure:
        """All atoms of the cell at parameter ``values`` (each name read on its own: partial derivatives)."""
        try:
            lattice = Lattice(*(values[f"{self.prefix}_{n}"] for n in PARAMETER_NAMES))
        except InputError as err:
            raise InputError(f"phase {self.prefix}", f"the refinement drove its cell to values that make no cell "
                                                     f"({err.problem}); start from a closer cell, or refine fewer "
                                                     "cell parameters") from None
        atoms = self.atoms.expanded(_Values(values), lattice)
        return PDFStructure(lattice=lattice.as_tuple(), xyz=atoms.xyz, elements=atoms.elements,
                            occupancy=atoms.occupancy, u=atoms.uaniso, name=self.structure.name)

    @functools.cached_property
    def _structure_names(self) -> frozenset[str]:
        """Names of the parameters the expanded structure depends on (cell, coordinates, ADPs; not occupancies,
        which also change the weights and the number of atoms: those columns are finite differences)."""
        cell = {f"{self.prefix}_{n}" for n in PARAMETER_NAMES}
        return frozenset(cell | {n for n in self.atoms.parameters() if n not in self._occupancy_names})

    def settings(self, params: lmfit.Parameters, experiment: Experiment) -> PDFSettings:
        """PDFSettings from the current values (shared ``dscale``, ``qdamp``, ``qbroad`` when present)."""
        v = params.valuesdict()
        p = self.prefix
        return PDFSettings(scale=v.get("dscale", 1.0) * v[f"{p}_scale"], delta1=v[f"{p}_delta1"],
                           delta2=v[f"{p}_delta2"], qdamp=v.get("qdamp", 0.0), qbroad=v.get("qbroad", 0.0),
                           qmax=experiment.qmax, radiation=experiment.radiation, spdiameter=v[f"{p}_spdiameter"],
                           sratio=v.get(f"{p}_sratio", 1.0), rcut=experiment.rcut)

    def gr(self, params: lmfit.Parameters, r: np.ndarray, experiment: Experiment,
           cache: PhaseCache | None = None) -> np.ndarray:
        """G(r) of this phase at the current parameters (exact pair sum; peaks added by the compiled kernel: a fit
        evaluates this hundreds of times, numpy took 80 ms of LaMnO3's 85 ms per call). Nothing is cached: the
        neighbour list already keeps the pairs between calls."""
        structure = self.pdf_structure(params)
        return direct_gr(structure, r, self.settings(params, experiment), backend="numba",
                         neighbours=self._neighbours(structure))

    def derivatives(self, params: lmfit.Parameters, r: np.ndarray, experiment: Experiment, cache: PhaseCache,
                    free: Collection[str]) -> dict[str, np.ndarray]:
        """∂G/∂(parameter) of the parameters in ``free`` that this phase's G(r) depends on: analytic
        (:func:`~refine.pdf.crystal_derivatives.direct_derivatives`) for the cell, coordinates, ADPs, scale,
        delta1/delta2, qdamp/qbroad and spdiameter; central differences for occupancies."""
        values = params.valuesdict()
        p = self.prefix
        s = self.settings(params, experiment)
        structural = [n for n in free if n in self._structure_names]
        names = {"delta1": f"{p}_delta1", "delta2": f"{p}_delta2", "qdamp": "qdamp", "qbroad": "qbroad"}
        if s.spdiameter > 0:
            names["spdiameter"] = f"{p}_spdiameter"
        wrt = ["scale"] + [k for k, n in names.items() if n in free]
        tangents = self._tangents(values, structural, cache)
        structure = self._structure_at(values)
        _, der = direct_derivatives(structure, r, s, tangents, wrt, neighbours=self._neighbours(structure))
        out: dict[str, np.ndarray] = {}
        unit = der.pop("scale")  # ∂G/∂(total scale)
        for name, factor in ((f"{p}_scale", values.get("dscale", 1.0)), ("dscale", values[f"{p}_scale"])):
            if name in free:
                out[name] = factor * unit
        out.update({n: der[n] for n in tangents})
        out.update({names[k]: der[k] for k in wrt if k != "scale"})
        for name in free:  # what else moves this phase: occupancies
            if name.startswith(f"{p}_") and name not in out and name in self._occupancy_names:
                out[name] = self._central_difference(values, name, r, experiment, params)
        return out

    def _tangents(self, values: Mapping[str, float], names: list[str], cache: PhaseCache) -> dict:
        """Structure tangents of ``names``, reused from ``cache`` where they cannot have changed: coordinates and
        Uiso enter the expanded cell linearly (constant tangents); U_ij through the cell (kept while it is the same);
        the cell parameters are differentiated afresh."""
        cell = tuple(values[f"{self.prefix}_{n}"] for n in PARAMETER_NAMES)
        out, todo = {}, []
        for name in names:
            held = cache.tangents.get(name)
            if held is not None and held[0] in ((), cell):
                out[name] = held[1]
            else:
                todo.append(name)
        fresh = structure_tangents(self._structure_at, values, todo)
        for name, tangent in fresh.items():
            item = name.rsplit("_", 1)[-1]
            if item in ("x", "y", "z", "uiso"):
                cache.tangents[name] = ((), tangent)
            elif item in ("u11", "u22", "u33", "u12", "u13", "u23"):
                cache.tangents[name] = (cell, tangent)
        out.update(fresh)
        return {name: out[name] for name in names}

    @functools.cached_property
    def _occupancy_names(self) -> frozenset[str]:
        return frozenset(n for n in self.atoms.parameters() if n.endswith("_occ"))

    def _central_difference(self, values: Mapping[str, float], name: str, r: np.ndarray, experiment: Experiment,
                            params: lmfit.Parameters) -> np.ndarray:
        s = self.settings(params, experiment)
        h = 1e-6 * max(abs(values[name]), 0.1)
        plus, minus = ({**values, name: values[name] + sign * h} for sign in (1.0, -1.0))
        curves = []
        for values_at in (plus, minus):
            structure = self._structure_at(values_at)
            curves.append(direct_gr(structure, r, s, backend="numba", neighbours=self._neighbours(structure)))
        return (curves[0] - curves[1]) / (2 * h)

    def _neighbours(self, structure: PDFStructure) -> NeighbourList:
        """The symmetry-reduced pair list while the structure keeps its space group, else a full one: a user's
        constraint could free b of a hexagonal cell or a coordinate or U_ij that site symmetry ties, and then the
        atoms of one orbit are no longer equivalent."""
        return self.neighbours if self._keeps_symmetry(structure) else self._full_neighbours

    def _keeps_symmetry(self, structure: PDFStructure) -> bool:
        """Whether every rotation keeps the metric (RᵀGR = G) and each orbit's first atom is still fixed, with its
        ADP tensor, by the operations that fixed it in the file (its site symmetry)."""
        g = structure.base @ structure.base.T  # metric tensor (rows of base are the cell vectors)
        tol = 1e-10 * float(np.max(np.abs(g)))
        if any(np.max(np.abs(rot.T @ g @ rot - g)) > tol for rot in self._rotations):
            return False
        nstar = np.diag(structure.cell.reciprocal_lengths)
        for atom, rot, trans in self._stabilisers:  # to SITE_TOLERANCE, as the site symmetry was found (files
            x = structure.xyz[atom]                 # give special positions to 8 digits: 0.33333333)
            shift = rot @ x + trans - x
            if np.max(np.abs(shift - np.rint(shift))) > SITE_TOLERANCE:
                return False
            u = nstar @ structure.u[atom] @ nstar  # U in the fractional basis, as the expansion rotates it
            size = max(float(np.max(np.abs(u))), 1e-12)
            if np.max(np.abs(rot @ u @ rot.transpose(0, 2, 1) - u)) > SITE_TOLERANCE * size:
                return False
        return True

    @functools.cached_property
    def _rotations(self) -> np.ndarray:
        return np.unique(self.structure.space_group.rotations.astype(float), axis=0)

    @functools.cached_property
    def _stabilisers(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(first atom of each orbit, the rotations and translations of the operations fixing it) in the file."""
        sg = self.structure.space_group
        rot, trans = sg.rotations.astype(float), sg.translations
        start = self.pdf_structure(self.parameters())
        out = []
        for atom in np.unique(self.neighbours.orbits, return_index=True)[1]:
            x = start.xyz[atom]
            shift = np.einsum("oij,j->oi", rot, x) + trans - x
            fixed = np.max(np.abs(shift - np.rint(shift)), axis=1) <= SITE_TOLERANCE
            out.append((int(atom), rot[fixed], trans[fixed]))
        return out

    @functools.cached_property
    def _full_neighbours(self) -> NeighbourList:
        return NeighbourList(compiled=True)

    def start_scan_parameter(self) -> None:
        """None: the cell of a crystalline phase starts where its file puts it."""
        return None

    def reference_structure(self) -> PDFStructure:
        return self.pdf_structure(self.parameters())

    def entry(self, result: Any) -> PhaseResult:
        return crystal_phase_result(result, self)


class _Values:
    """Parameter values as :meth:`StructureParameters.expanded` reads them (``valuesdict()``), without lmfit's
    constraint evaluation: each name is used as given."""

    def __init__(self, values: Mapping[str, float]) -> None:
        self._values = dict(values)

    def valuesdict(self) -> dict[str, float]:
        return self._values


def crystal_phase_result(result, phase: CrystalPhase, source: str | None = None):
    """The :class:`~refine.fit.phase_result.PhaseResult` of a crystalline phase: cell with esds, volume and its
    esd, scale, spdiameter (fractions are added by the caller)."""

    params = result.params
    p = phase.prefix
    lattice = lattice_from_parameters(params, p)
    sp = params[f"{p}_spdiameter"]
    return PhaseResult(
        name=p, structure=source or phase.structure.name, space_group=phase.structure.space_group.symbol,
        **refined_cell(result, p, lattice, phase.structure.space_group, free=phase.free_cell()),
        scale=Value(params[f"{p}_scale"].value, result.esd(f"{p}_scale")),
        spdiameter=Value(sp.value, result.esd(sp.name)) if sp.vary else None,
        extra={"source": source or phase.structure.name, "fixed": False, "refine_structure": True,
               "natoms": len(phase.structure.expand())})
