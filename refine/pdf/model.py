"""Real-space PDF model of one or more phases as an lmfit residual with readable parameter names.

Per phase (prefix p, e.g. "ni"): ``p_scale``, ``p_a`` (cubic cells; ``p_lattice_scale`` otherwise: isotropic
scaling of the cell), ``p_delta1``, ``p_delta2``, ``p_uiso_<class>`` for each isotropic site class,
``p_spdiameter``.  Shared by all phases of a data set: ``dscale`` (data scale, fixed at 1 unless the phase
scales are constrained to sum to 1), ``qdamp``, ``qbroad``.  The calculated G(r) is the sum of the phases
(PDFfit2: dscale * sum of pscale * G_phase).  A *fixed* phase (a supercell with fixed atomic positions) has one
Uiso per species and an isotropic ``p_lattice_scale`` whatever its cell.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import lmfit
import numpy as np

from refine.crystal.lattice import Lattice, volume_esd
from refine.crystal.scattering import parse_species
from refine.crystal.spacegroup import SpaceGroup
from refine.crystal.structure import CrystalStructure
from refine.errors import InputError
from refine.fit.phase_result import PhaseResult, Value
from refine.pdf.calculate import PDFSettings, calc_gr, calc_grid
from refine.pdf.derivatives import gr_derivatives
from refine.pdf.pairs import PairTable
from refine.pdf.structure import PDFStructure

#: distance bin (Å) of the pair tables of fixed phases (see :meth:`Phase.from_structure`)
FIXED_RESOLUTION = 0.01
#: unit-scale curves a pair-table phase keeps per fit (the last few parameter sets)
CURVE_CACHE_SIZE = 8


def param_label(label: str) -> str:
    """A site-class label as it appears in parameter names ("Si0+" -> "Si", "O2-" -> "O2m")."""
    try:
        element, charge = parse_species(label)
    except InputError:  # a class label such as "O1"
        element, charge = label, None
    if charge == 0 and any(sign in label for sign in "+-"):  # CIF "Si0+" means neutral Si
        return element
    return re.sub(r"\W", "_", label.replace("+", "p").replace("-", "m"))


@dataclass(frozen=True, eq=False)
class Experiment:
    """Settings of the measured data set shared by all phases: radiation, Qmax termination (0 for none) and the
    distance below which each phase's ``{p}_sratio`` scales the peak widths (PDFfit2 rcut; 0: no sharpening)."""

    radiation: str = "xray"
    qmax: float = 0.0
    rcut: float = 0.0


@dataclass(eq=False)
class PhaseCache:
    """What one phase of a fit remembers between evaluations (owned by the fit's model, one per phase): the
    unit-scale curves of the last few parameter sets and a pair table rebuilt for a contracted cell."""

    curves: dict[str, np.ndarray] = field(default_factory=dict)
    table: PairTable | None = None
    #: structure tangents of a crystalline phase by parameter name, with the cell they hold for
    tangents: dict[str, tuple] = field(default_factory=dict)


class PDFPhase(Protocol):
    """What a G(r) fit needs of a phase, whichever way it computes G(r): a pair table rebuilt only when the cell
    contracts (:class:`Phase`: fixed supercells, isotropic cells) or the exact pair sum of the asymmetric unit
    expanded at every call (:class:`refine.pdf.crystal.CrystalPhase`: refined cells, coordinates and ADPs)."""

    prefix: str
    fixed: bool

    @property
    def analytic(self) -> bool:
        """True when :meth:`derivatives` gives analytic derivatives (else the fit uses finite differences)."""

    def add_parameters(self, params: lmfit.Parameters) -> None:
        """Add the phase's parameters at their start values."""

    def uiso_names(self) -> dict[str, str]:
        """Parameter name per isotropic site class (empty when ADPs are per site)."""

    def settings(self, params: lmfit.Parameters, experiment: Experiment) -> PDFSettings:
        """The calculator's settings at the current parameter values."""

    def gr(self, params: lmfit.Parameters, r: np.ndarray, experiment: Experiment,
           cache: PhaseCache | None = None) -> np.ndarray:
        """G(r) of the phase on the calculation grid ``r``."""

    def derivatives(self, params: lmfit.Parameters, r: np.ndarray, experiment: Experiment, cache: PhaseCache,
                    free: Collection[str]) -> dict[str, np.ndarray] | None:
        """∂G/∂(parameter) on ``r`` for the parameters in ``free`` it depends on, or None (not analytic)."""

    def start_scan_parameter(self) -> str | None:
        """The lattice parameter a start scan may move (:func:`refine.pdf.start.search_lattice`), or None."""

    def reference_structure(self) -> PDFStructure:
        """The starting structure (all atoms of the cell), for the phase's scattering and mass averages."""

    def refined_structure(self, result: Any) -> CrystalStructure | None:
        """The refined asymmetric unit with esds (for CIF output), or None when the phase refines none."""

    def entry(self, result: Any) -> PhaseResult:
        """The phase's :class:`~refine.fit.phase_result.PhaseResult` (cell, volume and esds, scale, spdiameter;
        fractions left None)."""


def cubic_cell(lattice: Sequence[float]) -> bool:
    """True for a cell (a, b, c, alpha, beta, gamma) with a = b = c and right angles: a pair-table phase then
    refines ``a`` itself, any other cell one ``lattice_scale``."""
    a, b, c, al, be, ga = lattice
    return bool(np.allclose([b, c], a, rtol=1e-9) and np.allclose([al, be, ga], 90.0))


@dataclass(frozen=True, eq=False)
class Phase:
    """One structural phase of the model: a prefix for its parameter names and its pair table (implements
    :class:`PDFPhase`)."""

    prefix: str
    table: PairTable
    fixed: bool = False
    space_group: SpaceGroup | None = None  # of the source file, for the volume esd of a cubic cell

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z]\w*", self.prefix):
            raise InputError("phase", f"prefix must be an identifier, got {self.prefix!r}")

    @classmethod
    def from_structure(cls, prefix: str, structure: PDFStructure, rmax: float, qmax: float = 0.0,
                       fixed: bool = False, space_group: SpaceGroup | None = None) -> Phase:
        """Build the pair table once (covers r up to rmax with the Qmax extension).

        ``fixed``: one site class per species with isotropic ADPs (the species' mean Uiso, 0.005 Å² when the file
        gives none), as for relaxed (DFT) supercells whose positions are not refined.
        """
        if not fixed:
            return cls(prefix, PairTable.build(structure, rmax, qmax=qmax), space_group=space_group)
        species = structure.elements
        uiso = structure.uiso
        per = {sp: float(np.mean(uiso[[s == sp for s in species]])) for sp in set(species)}
        u = np.array([per[sp] if per[sp] > 0 else 0.005 for sp in species])
        iso = structure.replace(uiso=u)
        # relaxed supercells have few coincident distances: merging them in 0.01 Å bins with exact first and second
        # moments (PairTable.build) makes the table ~20 times smaller; measured error 2.5e-5 of max|G| on the
        # 81-atom benchmark supercell with delta2 = 3 Å² (sigma down to 0.04 Å), against the unmerged table
        return cls(prefix, PairTable.build(iso, rmax, qmax=qmax, classes=species, resolution=FIXED_RESOLUTION),
                   fixed=True, space_group=space_group)

    @property
    def analytic(self) -> bool:
        return True

    @property
    def cubic(self) -> bool:
        return not self.fixed and cubic_cell(self.table.structure.lattice)

    def lattice_name(self) -> str:
        return f"{self.prefix}_a" if self.cubic else f"{self.prefix}_lattice_scale"

    def uiso_names(self) -> dict[str, str]:
        """Parameter name per isotropic site class."""
        return {c: f"{self.prefix}_uiso_{param_label(c)}"
                for c, u in zip(self.table.classes, self.table.class_uiso, strict=True) if np.isfinite(u)}

    def add_parameters(self, params: lmfit.Parameters) -> None:
        """Add this phase's parameters at the structure's values (scale 1, no sharpening, bulk)."""
        p = self.prefix
        params.add(f"{p}_scale", value=1.0, min=0.0)
        a0 = self.table.structure.lattice[0]
        if self.cubic:
            params.add(self.lattice_name(), value=a0, min=0.9 * a0, max=1.1 * a0)
        else:
            params.add(self.lattice_name(), value=1.0, min=0.9, max=1.1)
        params.add(f"{p}_delta1", value=0.0, min=0.0, vary=False)
        params.add(f"{p}_delta2", value=0.0, min=0.0, vary=False)
        for c, name in self.uiso_names().items():
            params.add(name, value=float(self.table.class_uiso[self.table.classes.index(c)]), min=1e-5, max=0.2)
        params.add(f"{p}_spdiameter", value=0.0, min=0.0, vary=False)

    def settings(self, params: lmfit.Parameters, experiment: Experiment) -> PDFSettings:
        """PDFSettings of this phase from current parameter values."""
        p = self.prefix
        values = params.valuesdict()
        lat = values[self.lattice_name()]
        scale = lat / self.table.structure.lattice[0] if self.cubic else lat
        return PDFSettings(scale=values.get("dscale", 1.0) * values[f"{p}_scale"], delta1=values[f"{p}_delta1"],
                           delta2=values[f"{p}_delta2"], sratio=values.get(f"{p}_sratio", 1.0), rcut=experiment.rcut,
                           qdamp=values.get("qdamp", 0.0), qbroad=values.get("qbroad", 0.0), qmax=experiment.qmax,
                           lattice_scale=scale, radiation=experiment.radiation,
                           uiso={c: values[n] for c, n in self.uiso_names().items()},
                           spdiameter=values[f"{p}_spdiameter"])

    # -- the PDFPhase protocol beyond parameters ---------------------------------------------------------------
    def table_for(self, settings: PDFSettings, r: np.ndarray, cache: PhaseCache | None = None) -> PairTable:
        """The pair table, rebuilt (once, with room for a further 5 % contraction, kept in ``cache``) when the cell
        at ``settings`` has contracted beyond the distances it holds; the grid's calculation range needs pair
        distances to its end + 1 Å."""
        need = (calc_grid(r, settings.qmax).rcmax + 1.0) / settings.lattice_scale
        table = self.table if cache is None or cache.table is None else cache.table
        if table.dmax < need:
            table = table.covering(need / 0.95)
            if cache is not None:
                cache.table = table
        return table

    def gr(self, params: lmfit.Parameters, r: np.ndarray, experiment: Experiment,
           cache: PhaseCache | None = None) -> np.ndarray:
        """G(r) from the pair table. G is linear in the scale, so the unit-scale curve is kept in ``cache`` for the
        last few parameter sets: a finite-difference step in another phase's (or a scale) parameter then
        recomputes nothing here."""
        s = self.settings(params, experiment)
        unit = s.replace(scale=1.0)
        if cache is None:
            return s.scale * calc_gr(self.table_for(unit, r), r, unit)
        key = repr(unit)  # floats repr exactly: equal keys mean equal settings
        store = cache.curves
        if key not in store:
            if len(store) >= CURVE_CACHE_SIZE:
                store.pop(next(iter(store)))
            store[key] = calc_gr(self.table_for(unit, r, cache), r, unit)
        return s.scale * store[key]

    def derivative_names(self, s: PDFSettings) -> dict[str, str]:
        """gr_derivatives name -> parameter name (spdiameter only while the sphere is switched on)."""
        p = self.prefix
        names = {"lattice_scale": self.lattice_name(), "delta1": f"{p}_delta1", "delta2": f"{p}_delta2",
                 "qdamp": "qdamp", "qbroad": "qbroad"}
        if s.spdiameter > 0:
            names["spdiameter"] = f"{p}_spdiameter"
        if s.rcut > 0:
            names["sratio"] = f"{p}_sratio"
        names.update({f"uiso:{c}": n for c, n in self.uiso_names().items()})
        return names

    def derivatives(self, params: lmfit.Parameters, r: np.ndarray, experiment: Experiment, cache: PhaseCache,
                    free: Collection[str]) -> dict[str, np.ndarray]:
        """Analytic ∂G/∂(parameter) (:func:`~refine.pdf.derivatives.gr_derivatives`) of the parameters in ``free``:
        the phase scale, the shared ``dscale``, the cell, sharpening, damping, envelope and Uiso classes."""
        values = params.valuesdict()
        s = self.settings(params, experiment)
        names = self.derivative_names(s)
        wrt = ["scale"] + [k for k, n in names.items() if n in free]
        _, der = gr_derivatives(self.table_for(s, r, cache), r, s, wrt)
        out: dict[str, np.ndarray] = {}

        def add(name: str, column: np.ndarray) -> None:
            if name in free:
                out[name] = out[name] + column if name in out else column

        unit = der.pop("scale")
        add(f"{self.prefix}_scale", values.get("dscale", 1.0) * unit)
        add("dscale", values[f"{self.prefix}_scale"] * unit)
        for key, column in der.items():
            factor = 1.0 / self.table.structure.lattice[0] if key == "lattice_scale" and self.cubic else 1.0
            add(names[key], factor * column)
        return out

    def start_scan_parameter(self) -> str | None:
        return None if self.fixed else self.lattice_name()

    def reference_structure(self) -> PDFStructure:
        return self.table.structure

    def refined_structure(self, result: Any) -> None:
        return None

    def entry(self, result: Any) -> PhaseResult:
        """Cell scaled from the table's structure (isotropically, or through ``{p}_a`` for a cubic cell), volume and
        esds, scale, spdiameter."""
        params = result.params
        p = self.prefix
        s0 = self.table.structure
        lname = self.lattice_name()
        lat_value, lat_esd = params[lname].value, result.esd(lname)
        k_scale = lat_value / s0.lattice[0] if self.cubic else lat_value
        k_esd = None if lat_esd is None else (lat_esd / s0.lattice[0] if self.cubic else lat_esd)
        a, b, c, al, be, ga = s0.lattice
        volume = s0.volume * k_scale**3
        sg = None if self.fixed else self.space_group
        v_esd = None
        if k_esd is not None:
            cov = result.covariance_of([lname])
            if sg is not None and self.cubic and cov is not None:
                v_esd = volume_esd(Lattice(lat_value, lat_value, lat_value, 90, 90, 90), sg, cov)
            else:  # isotropic scaling: V = V0 s³
                v_esd = 3.0 * volume / k_scale * k_esd

        def length(x: float) -> Value:
            return Value(x * k_scale, None if k_esd is None else x * k_esd)

        spd = params[f"{p}_spdiameter"]
        return PhaseResult(
            name=p, structure=s0.name,
            space_group=None if self.space_group is None else self.space_group.symbol,  # of the source, also when fixed
            a=length(a), b=length(b), c=length(c), alpha=Value(al), beta=Value(be), gamma=Value(ga),
            volume=Value(volume, v_esd), scale=Value(params[f"{p}_scale"].value, result.esd(f"{p}_scale")),
            spdiameter=Value(spd.value, result.esd(spd.name)) if spd.vary else None,
            extra={"source": s0.name, "fixed": self.fixed, "natoms": s0.natoms})


def make_parameters(phases: Sequence[PDFPhase], qdamp: float = 0.0, qbroad: float = 0.0) -> lmfit.Parameters:
    """Parameters of all phases plus the shared ``dscale`` (1), ``qdamp`` and ``qbroad`` (all fixed)."""
    if len({ph.prefix for ph in phases}) != len(phases):
        raise InputError("phase", "phase prefixes must be unique")
    params = lmfit.Parameters()
    for ph in phases:
        ph.add_parameters(params)
    params.add("dscale", value=1.0, min=0.0, vary=False)
    params.add("qdamp", value=qdamp, min=0.0, vary=False)
    params.add("qbroad", value=qbroad, min=0.0, vary=False)
    return params


def calc_model(params: lmfit.Parameters, phases: Sequence[Phase], r: np.ndarray, experiment: Experiment,
               per_phase: bool = False) -> np.ndarray:
    """Model G(r) on the equidistant grid r (the sum of the phases, or a (nphase, len(r)) array)."""
    parts = np.array([calc_gr(ph.table, r, ph.settings(params, experiment)) for ph in phases])
    return parts if per_phase else parts.sum(axis=0)


def residual(params: lmfit.Parameters, phases: Sequence[Phase], r: np.ndarray, gobs: np.ndarray,
             experiment: Experiment, sigma: np.ndarray | None = None) -> np.ndarray:
    """(Gcalc - Gobs)/dG (dG = 1 when ``sigma`` is None), for ``lmfit.minimize``."""
    diff = calc_model(params, phases, r, experiment) - gobs
    return diff if sigma is None else diff / sigma


def rw(params: lmfit.Parameters, phases: Sequence[Phase], r: np.ndarray, gobs: np.ndarray, experiment: Experiment,
       sigma: np.ndarray | None = None) -> float:
    """Rw = sqrt(sum w (Gobs - Gcalc)² / sum w Gobs²), w = 1/dG² (PDFfit2's Rw)."""
    w = np.ones_like(gobs) if sigma is None else 1.0 / sigma**2
    res = calc_model(params, phases, r, experiment) - gobs
    return float(np.sqrt(np.sum(w * res**2) / np.sum(w * gobs**2)))
