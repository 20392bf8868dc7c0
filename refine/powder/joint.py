"""Joint Rietveld refinement of several powder patterns (X-ray + neutron, several banks) against one structure.

Each pattern gets its own :class:`~refine.powder.rietveld.RietveldEngine` with a dataset prefix (``x_``, ``n_``):
instrument (``x_zero``, ``x_U`` …), sample (``x_shift``, ``n_displace_x``), scale, background, size/strain
(``x_pbso4_LX``) and preferred orientation are per pattern, as GSAS-II's histogram and histogram–phase
parameters. The structure is shared: the master parameters ``{ph}_a`` …, ``{ph}_{label}_x`` …, ``{ph}_{label}_uiso``
are refined, and every dataset's copy (``x_{ph}_a`` …) is an lmfit expression of them. A dataset may also refine
GSAS-II's hydrostatic strain (``n_{ph}_D11``, ``_D22``, ``_D33``): additions to the reciprocal metric tensor of that
pattern's phase, 1/d² = (A₁₁ + D₁₁) h² + (A₂₂ + D₂₂) k² + (A₃₃ + D₃₃) l² for orthogonal axes (GSAS-II G2strMath,
``A + Dij``), which absorbs a wavelength or calibration mismatch between instruments without moving the shared cell.
All datasets' weighted residuals enter one least-squares objective (:class:`refine.fit.Objective`), refined in the
stages of :func:`refine.powder.rietveld.fit_rietveld`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import lmfit

from refine.crystal.lattice import PARAMETER_NAMES, cell_constraints
from refine.crystal.structure import CrystalStructure
from refine.data import Pattern
from refine.errors import InputError
from refine.fit import Dataset, FitResult, Objective
from refine.fit.parameters import StructureParameters, lattice_from_parameters, lattice_parameters
from refine.fit.phase_result import PhaseResult, Value, refined_cell
from refine.instrument import Instrument
from refine.powder.model import PowderModel, PowderOptions, phase_prefix
from refine.powder.quantitative import held_scales
from refine.powder.rietveld import RietveldEngine, RietveldOptions
from refine.powder.rietveld_stages import mark_refined, run_stages
from refine.powder.wholepattern import check_enough_points, is_positional, powder_phase

#: Structure groups shared by all datasets (refined once, on the master parameters).
SHARED_GROUPS = ("cell", "positions", "adp", "uiso", "occupancy")
DEFAULT_SHARED = ("cell", "positions", "adp")
_STRAIN = ("D11", "D22", "D33")
_PREFIX = re.compile(r"[a-z][a-z0-9]*_")


@dataclass(frozen=True)
class HistogramOptions:
    """Per-pattern settings of a joint fit.

    Attributes
    ----------
    prefix
        Dataset prefix of the parameter names (lower case, ending in ``_``, e.g. ``x_``); also the dataset name
        without the underscore.
    options
        Fit range, exclusions, background of this pattern.
    refine
        Per-pattern groups or names (``scale``, ``zero``, ``U`` …, ``shift``, ``displace_x``, ``size``, ``strain``,
        ``po``, ``absorption``; :func:`refine.powder.rietveld_stages.mark_refined`) and ``hstrain`` for the hydrostatic
        strain D_ii of every phase in this pattern.
    weight
        Relative weight of this pattern's residual rows.
    """

    prefix: str
    options: PowderOptions = field(default_factory=PowderOptions)
    refine: tuple[str, ...] = ("scale", "W", "X", "Y")
    weight: float = 1.0


class JointModel:
    """The datasets' engines and the shared master parameters of the phases."""

    def __init__(self, patterns: Sequence[Pattern], phases: Sequence[CrystalStructure],
                 instruments: Sequence[Instrument], histograms: Sequence[HistogramOptions],
                 rietveld: RietveldOptions) -> None:
        if not (len(patterns) == len(instruments) == len(histograms)) or not patterns:
            raise InputError("joint", f"need one instrument and one histogram setting per pattern, got "
                                      f"{len(patterns)} patterns, {len(instruments)} instruments, "
                                      f"{len(histograms)} settings")
        prefixes = [h.prefix for h in histograms]
        for p in prefixes:
            if not _PREFIX.fullmatch(p):
                raise InputError("joint", f"dataset prefix must look like 'x_' (lower-case letters/digits + '_'), "
                                          f"got {p!r}")
        if len(set(prefixes)) != len(prefixes):
            raise InputError("joint", f"dataset prefixes must differ, got {prefixes}")
        if not phases:
            raise InputError("phases", "at least one phase is needed")
        self.phases = tuple(phases)
        self.prefixes = tuple(phase_prefix(p.name) for p in phases)
        if len(set(self.prefixes)) != len(self.prefixes):
            raise InputError("phases", f"phase names must differ, got {self.prefixes}")
        self.histograms = tuple(histograms)
        self.atoms = tuple(StructureParameters(p, ph) for p, ph in zip(phases, self.prefixes, strict=True))
        self.engines = []
        for pattern, inst, hist in zip(patterns, instruments, histograms, strict=True):
            # The dataset's phase copies are named '{dataset}{phase}' so their parameters carry the dataset prefix.
            local = [p.replace(name=f"{hist.prefix}{ph}") for p, ph in zip(phases, self.prefixes, strict=True)]
            model = PowderModel(pattern, local, inst, options=hist.options, prefix=hist.prefix)
            self.engines.append(RietveldEngine(model, rietveld))

    def master_names(self, kind: str) -> list[str]:
        """Free master parameters of a shared group."""
        if kind == "cell":
            return [f"{ph}_{n}" for ph, s in zip(self.prefixes, self.phases, strict=True)
                    for n in cell_constraints(s.space_group).free]
        return [n for a in self.atoms for n in a.free_names("adp" if kind == "uiso" else kind)]

    def strain_names(self, hist: HistogramOptions) -> list[str]:
        """Free hydrostatic-strain parameters of one dataset."""
        return [f"{hist.prefix}{ph}_{d}" for ph in self.prefixes for d in _STRAIN]

    def parameters(self) -> lmfit.Parameters:
        """Master structure parameters, then every dataset's, its structure copies tied to the master."""
        params = lmfit.Parameters()
        for ph, s, atoms in zip(self.prefixes, self.phases, self.atoms, strict=True):
            params.update(lattice_parameters(ph, s.space_group, s.lattice, vary=False))
            params.update(atoms.parameters())
        shared = list(params)
        for hist, engine in zip(self.histograms, self.engines, strict=True):
            params.update(engine.parameters())
            for name in shared:
                params[f"{hist.prefix}{name}"].set(expr=name)
            if "hstrain" in hist.refine:
                self._add_strain(params, hist)
        return params

    def _add_strain(self, params: lmfit.Parameters, hist: HistogramOptions) -> None:
        for ph, s in zip(self.prefixes, self.phases, strict=True):
            rules = cell_constraints(s.space_group).rules
            if any(r != 90.0 for r in rules[3:]):
                raise InputError("hstrain", f"hydrostatic strain is implemented for orthogonal axes (cubic, "
                                            f"tetragonal, orthorhombic); phase {ph} is not")
            for axis, d in zip(PARAMETER_NAMES[:3], _STRAIN, strict=True):
                name = f"{hist.prefix}{ph}_{d}"
                rule = rules[PARAMETER_NAMES.index(axis)]
                if rule == "free":
                    params.add(name, value=0.0, vary=False)
                else:  # tied axis (b = a, c = a): tied strain, as GSAS-II's Laue-class rules
                    params.add(name, expr=f"{hist.prefix}{ph}_{_STRAIN[PARAMETER_NAMES.index(rule)]}")
                # 1/a'² = 1/a² + D11 for orthogonal axes (GSAS-II: A + Dij).
                params[f"{hist.prefix}{ph}_{axis}"].set(expr=f"1/sqrt(1/{ph}_{axis}**2 + {name})")

    def mark(self, params: lmfit.Parameters, shared: Iterable[str]) -> lmfit.Parameters:
        """Set ``vary`` for the shared groups/names and every dataset's own ``refine``."""
        params = params.copy()
        for item in shared:
            if item in SHARED_GROUPS:
                names = self.master_names(item)
            elif item in params and not params[item].expr:
                names = [item]
            else:
                raise InputError("refine", f"unknown shared group or parameter {item!r}; groups: "
                                             f"{', '.join(SHARED_GROUPS)}")
            for name in names:
                params[name].set(vary=True)
        for hist, engine in zip(self.histograms, self.engines, strict=True):
            bad = [g for g in hist.refine if g in SHARED_GROUPS]
            if bad:
                raise InputError("refine", f"{bad[0]!r} is shared by all datasets: give it to the joint refine, "
                                             f"not to dataset {hist.prefix!r}")
            params = mark_refined(params, engine, [g for g in hist.refine if g != "hstrain"])
            if "hstrain" in hist.refine:
                for name in self.strain_names(hist):
                    if not params[name].expr:
                        params[name].set(vary=True)
        return params

    def stage_of(self, name: str) -> int:
        """0 scales; 1 cell, zero, displacements, strain; 2 profile; 3 positions; 4 ADPs and occupancies."""
        if name.endswith("_scale"):
            return 0
        if name in self.master_names("cell") or any(name.endswith(f"_{d}") for d in _STRAIN):
            return 1
        if any(is_positional(name, e.model) for e in self.engines):
            return 1
        if name in self.master_names("positions"):
            return 3
        if name in self.master_names("adp") or name in self.master_names("occupancy"):
            return 4
        return 2

    def datasets(self) -> list[Dataset]:
        """One :class:`Dataset` per pattern, named by its prefix without the underscore."""
        return [Dataset(h.prefix[:-1], e.model.pattern, lambda p, e=e: e.model.full(e.calculate(p)[0]),
                        mask=e.model.mask, kind="powder", weight=h.weight, notes=e.model.notes)
                for h, e in zip(self.histograms, self.engines, strict=True)]


def fit_rietveld_joint(patterns: Sequence[Pattern], phases: Sequence[CrystalStructure],
                       instruments: Sequence[Instrument], *, histograms: Sequence[HistogramOptions] | None = None,
                       refine: Iterable[str] = DEFAULT_SHARED, rietveld: RietveldOptions | None = None,
                       params: lmfit.Parameters | None = None) -> FitResult:
    """Rietveld refinement of shared structures against several patterns at once.

    Parameters
    ----------
    patterns, instruments
        The observed patterns (x in deg 2θ) and their instruments, in the same order.
    phases
        Crystal structures (with atoms) present in every pattern.
    histograms
        Per-pattern settings (prefix, range, background, per-pattern refine list); default prefixes ``h0_``,
        ``h1_`` … refining scale, W, X, Y.
    refine
        Shared groups (:data:`SHARED_GROUPS`) or master parameter names.
    rietveld
        Stages, passes, dispersion, restraints (in master or dataset parameter names).
    params
        Starting parameters (e.g. a previous joint fit); by default from the inputs with scales from linear fits.

    Returns
    -------
    FitResult
        ``dataset_statistics`` per pattern (Rwp each), ``statistics`` the joint ones, ``phases`` the shared cells
        with esds and per-dataset scale and R_Bragg, ``extra['structures']`` the refined structures,
        ``extra['histograms']`` each pattern's phase summaries (size/strain) and Bragg R factors,
        ``extra['reflections']`` the reflection tables of every phase in every pattern (``dataset`` set), each
        phase's ``reflections`` its tables in every pattern.
    """
    rietveld = rietveld or RietveldOptions()
    histograms = list(histograms or [HistogramOptions(prefix=f"h{i}_") for i in range(len(patterns))])
    joint = JointModel(patterns, phases, instruments, histograms, rietveld)
    start = params.copy() if params is not None else joint.parameters()
    start = joint.mark(start, refine)
    check_enough_points([e.model for e in joint.engines], start)
    varied = {n for n, p in start.items() if p.vary}
    for engine in joint.engines:
        engine.freeze(start)
        if params is None:
            start = engine.initial_scales(start)
    objective = Objective(tuple(joint.datasets()), rietveld.restraints)
    if rietveld.staged:
        levels = sorted({joint.stage_of(n) for n in varied})
        stages = [{n for n in varied if joint.stage_of(n) <= lev} for lev in levels]
    else:
        stages = [varied]
    result = run_stages(objective, start, stages, joint.engines, passes=rietveld.passes, kind="rietveld",
                        options=rietveld.fit)
    return _assemble(result, joint)


def _assemble(result: FitResult, joint: JointModel) -> FitResult:
    params = result.params
    curves: dict[str, Any] = {}
    hist_extra: dict[str, Any] = {}
    for hist, engine in zip(joint.histograms, joint.engines, strict=True):
        name = hist.prefix[:-1]
        model = engine.model
        _, _, bkg = engine.calculate(params)
        mat = model.peak_matrix(params, engine.layout)
        inten = engine.intensities(params)
        comps = {"background": model.full(bkg)}
        for i, block in enumerate(model.phases):
            rows = model.phase_rows(i)
            comps[block.prefix] = model.full(mat[rows].T @ inten[rows])
        curves[name] = dataclasses.replace(result.curves[name], components=comps)
        bragg = engine.bragg_r(params)
        summaries = [powder_phase(result, model, i).replace(
            scale=Value(params[f"{block.prefix}_scale"].value, result.esd(f"{block.prefix}_scale")),
            R_Bragg=Value.of(b["R_Bragg"]), R_F=Value.of(b["R_F"]))
            for i, (b, block) in enumerate(zip(bragg, model.phases, strict=True))]
        # The dataset's phase copies are named '{dataset}{phase}': the tables name the shared phase and the dataset.
        own = engine.reflection_tables(params)
        tables = tuple(dataclasses.replace(t, phase=st.name, prefix=ph, dataset=name)
                       for t, st, ph in zip(own, joint.phases, joint.prefixes, strict=True))
        hist_extra[name] = {"phases": summaries, "bragg": bragg, "reflections": tables, "engine": engine,
                            "statistics": result.dataset_statistics[name]}
    structures = {}
    phases = []
    for k, (ph, s, atoms) in enumerate(zip(joint.prefixes, joint.phases, joint.atoms, strict=True)):
        lat = lattice_from_parameters(params, ph)
        cell = refined_cell(result, ph, lat, s.space_group)
        structures[ph] = atoms.structure_at(params, lat).replace(
            lattice_esd=tuple(cell[n].esd or 0.0 for n in PARAMETER_NAMES))
        per = {h: next(p for p in v["phases"] if p.name == f"{h}_{ph}") for h, v in hist_extra.items()}
        histograms = {h: {"scale": p.scale.value, "scale_esd": p.scale.esd, "R_Bragg": p.R_Bragg and p.R_Bragg.value,
                          "R_F": p.R_F and p.R_F.value, "size_nm": p.size_nm and p.size_nm.value,
                          "microstrain_percent": p.microstrain_percent and p.microstrain_percent.value}
                      for h, p in per.items()}
        phases.append(PhaseResult(name=ph, structure=s.name, space_group=s.space_group.symbol, **cell,
                                  reflections=tuple(v["reflections"][k] for v in hist_extra.values()),
                                  extra={"histograms": histograms}))
    tables = tuple(t for v in hist_extra.values() for t in v["reflections"])
    extra = {"joint": joint, "structures": structures, "histograms": hist_extra, "reflections": tables}
    scales = [f"{block.prefix}_scale" for engine in joint.engines for block in engine.model.phases]
    return dataclasses.replace(result, curves=curves, phases=phases, extra=extra,
                               warnings=(*result.warnings, *held_scales(params, scales)))
