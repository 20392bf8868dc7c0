"""A crystalline PDF phase with its full crystallographic parameterisation (issue 6: "lattice (crystal-system
constrained), symmetry-constrained positions and ADPs").

Parameters (prefix ``p``): ``p_scale``; the free cell parameters of the crystal system (``p_a``, ``p_c`` ... as
:func:`refine.crystal.lattice.lattice_parameters` makes them); every free coordinate, occupancy and ADP of the
asymmetric unit along the directions its site symmetry allows (:class:`refine.crystal.positions.StructureParameters`:
``p_Se1_z``, ``p_Cd1_uiso``, ``p_O1_u11`` ...); ``p_delta1``, ``p_delta2``, ``p_spdiameter``. Each evaluation expands
the asymmetric unit at the current parameters and computes G(r) by the exact pair sum
(:func:`refine.pdf.calculate.direct_gr`, PDFfit2's definitions), so any parameter may move; it suits cells of up to a
few tens of atoms. Fixed supercells use the pair-table path instead (:class:`refine.pdf.model.Phase`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import lmfit
import numpy as np

from refine.crystal.lattice import cell_constraints, lattice_from_parameters, lattice_parameters
from refine.crystal.positions import AXES, StructureParameters
from refine.crystal.structure import CrystalStructure
from refine.errors import InputError
from refine.pdf.calculate import PDFSettings, direct_gr
from refine.pdf.model import Experiment
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
    """A crystalline phase of a PDF model: prefix, starting structure and its parameter maker."""

    prefix: str
    structure: CrystalStructure

    @classmethod
    def load(cls, path: str | os.PathLike, prefix: str) -> CrystalPhase:
        """Read a CIF or PDFfit .stru (asymmetric unit and space group kept)."""
        from refine.io.structures import read_structure

        structure = read_structure(path)
        if not structure.sites:
            raise InputError(path, "the structure has no atoms")
        return cls(prefix, structure)

    @property
    def atoms(self) -> StructureParameters:
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
                           qmax=experiment.qmax, radiation=experiment.radiation, spdiameter=v[f"{p}_spdiameter"])

    def gr(self, params: lmfit.Parameters, r: np.ndarray, experiment: Experiment) -> np.ndarray:
        """G(r) of this phase at the current parameters (exact pair sum)."""
        return direct_gr(self.pdf_structure(params), r, self.settings(params, experiment))


def fit_crystal_phases(pattern, phases: list[CrystalPhase], settings, options=None):
    """Fit G(r) with crystalline phases whose cells, positions and ADPs all refine (no fixed supercells).

    ``settings`` is a :class:`refine.pdf.fitting.PDFFitSettings` (Qmax, radiation, fixed Qdamp/Qbroad, fit range,
    sharpening term, sphere envelope, scales summing to 1 with a data scale for several phases). The Jacobian is
    taken by finite differences. Returns a :class:`refine.fit.FitResult` of kind ``pdf`` whose phase entries carry
    the refined cell with esds, the volume and its esd, and the refined structure (``extra["structures"]``).
    """
    from refine.fit import Dataset, Objective, run_fit
    from refine.pdf.fitting import prepare_pattern

    if not phases:
        raise InputError("--phase", "at least one phase is needed")
    pat = prepare_pattern(pattern, settings)
    experiment = settings.experiment
    params = lmfit.Parameters()
    for ph in phases:
        params.update(ph.parameters())
        p = ph.prefix
        if settings.sharpening != "none":
            params[f"{p}_{settings.sharpening}"].set(value=1.0 if settings.sharpening == "delta1" else 2.0, vary=True)
        if settings.spdiameter is not None:
            params[f"{p}_spdiameter"].set(value=settings.spdiameter, vary=True, min=1.0)
    params.add("dscale", value=1.0, min=0.0, vary=False)
    params.add("qdamp", value=settings.qdamp, vary=False)
    params.add("qbroad", value=settings.qbroad, vary=False)
    if len(phases) > 1 and settings.constrain_scales:
        for ph in phases[:-1]:
            params[f"{ph.prefix}_scale"].set(value=1.0 / len(phases), min=0.0, max=1.0)
        params[f"{phases[-1].prefix}_scale"].set(expr="1 - " + " - ".join(f"{ph.prefix}_scale" for ph in phases[:-1]))
        params["dscale"].set(vary=True)

    def components(p: lmfit.Parameters) -> dict[str, np.ndarray]:
        return {ph.prefix: ph.gr(p, pat.x, experiment) for ph in phases}

    def model(p: lmfit.Parameters) -> np.ndarray:
        return sum(components(p).values())

    g0 = model(params)  # overall scale started at its least-squares value
    k = float(np.dot(g0, pat.y) / max(np.dot(g0, g0), 1e-300))
    name = "dscale" if params["dscale"].vary else None
    for target in ([name] if name else [f"{ph.prefix}_scale" for ph in phases]):
        if k > 0:
            params[target].set(value=params[target].value * k)
    result = run_fit(Objective.single(Dataset("gr", pat, model, kind="pdf")), params, kind="pdf", options=options)
    return _with_phase_entries(result, phases, components)


def _with_phase_entries(result, phases: list[CrystalPhase], components):
    import dataclasses

    from refine.crystal.lattice import PARAMETER_NAMES, volume_esd

    params = result.params
    entries, structures = [], {}
    for ph in phases:
        lattice = lattice_from_parameters(params, ph.prefix)
        free = ph.free_cell()
        cov = result.covariance_of(free)
        esd = {n: result.esd(f"{ph.prefix}_{n}") for n in PARAMETER_NAMES}
        esd["volume"] = volume_esd(lattice, ph.structure.space_group, cov) if cov is not None else None
        esd["scale"] = result.esd(f"{ph.prefix}_scale")
        structures[ph.prefix] = ph.atoms.structure_at(params, lattice)
        sp = params[f"{ph.prefix}_spdiameter"]
        entries.append({"name": ph.prefix, "source": ph.structure.name, "fixed": False,
                        "space_group": ph.structure.space_group.symbol,
                        **{n: float(v) for n, v in zip(PARAMETER_NAMES, lattice.as_tuple(), strict=True)},
                        "volume": lattice.volume, "scale": params[f"{ph.prefix}_scale"].value,
                        "spdiameter": sp.value if sp.vary else None, "weight_fraction": None, "esd": esd})
    name = next(iter(result.curves))
    curves = dataclasses.replace(result.curves[name], components=components(params))
    extra = {**dict(result.extra), "structures": structures}
    return dataclasses.replace(result, phases=tuple(entries), curves={name: curves}, extra=extra)
