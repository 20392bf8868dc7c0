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
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import lmfit
import numpy as np

from refine.crystal.lattice import cell_constraints
from refine.crystal.positions import AXES
from refine.crystal.structure import CrystalStructure
from refine.errors import InputError
from refine.fit.parameters import StructureParameters, lattice_from_parameters, lattice_parameters
from refine.fit.phase_result import PhaseResult, Value, refined_cell
from refine.pdf.calculate import PDFSettings, direct_gr
from refine.pdf.model import Experiment, PhaseCache
from refine.pdf.pairs import NeighbourList
from refine.pdf.structure import PDFStructure


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
    neighbours: NeighbourList = field(default_factory=lambda: NeighbourList(compiled=True), repr=False)

    @property
    def fixed(self) -> bool:
        """Never: a crystalline phase refines its structure."""
        return False

    @property
    def analytic(self) -> bool:
        """No analytic derivatives: coordinates and ADPs move every pair (the fit takes finite differences)."""
        return False

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
        lattice = lattice_from_parameters(params, self.prefix)
        atoms = self.atoms.expanded(params, lattice)
        return PDFStructure(lattice=lattice.as_tuple(), xyz=atoms.xyz, elements=atoms.elements,
                            occupancy=atoms.occupancy, u=atoms.uaniso, name=self.structure.name)

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
        return direct_gr(self.pdf_structure(params), r, self.settings(params, experiment), backend="numba",
                         neighbours=self.neighbours)

    def derivatives(self, params: lmfit.Parameters, r: np.ndarray, experiment: Experiment, cache: PhaseCache,
                    free: Collection[str]) -> None:
        return None

    def start_scan_parameter(self) -> None:
        """None: the cell of a crystalline phase starts where its file puts it."""
        return None

    def reference_structure(self) -> PDFStructure:
        return self.pdf_structure(self.parameters())

    def entry(self, result: Any) -> PhaseResult:
        return crystal_phase_result(result, self)


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
