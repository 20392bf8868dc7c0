"""Parametric ("surface") refinement of a series (Stinton & Evans, J. Appl. Cryst. 40 (2007) 87).

All scans are fitted at once, as datasets sharing one ``lmfit.Parameters``: the instrument (zero, profile) is
common to all scans, each scan has its own cell unless a cell parameter is given as a function of the scan index
or an external variable (a polynomial :class:`Trend`, e.g. a linear change of a with state of charge), and a phase
may be held at constant volume (:class:`ConstantVolume`: c = V0/(a·b·F(α, β, γ)) through lmfit expressions, with
V0 one refined parameter). With ``kind="pawley"`` reflection intensities and background of every scan enter
linearly and are solved inside the objective by weighted least squares (Pawley's free intensities, as
:mod:`refine.powder.pawley`), so lmfit sees only the non-linear parameters. With ``kind="rietveld"`` intensities
come from the structures (atoms as given, per scan) with one scale per phase and scan (``s3_nvp_scale``), so each
scan has Hill & Howard weight fractions with esds; the background stays linear.

Parameter names: instrument as in a single fit (``zero``, ``W`` ...); the cell of phase ``nvp`` in scan 3 is
``s3_nvp_a``; trend coefficients ``nvp_a_p0``, ``nvp_a_p1`` (value at variable 0 and slope per unit); constant
volume ``nvp_V0``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import lmfit
import numpy as np

from refine.crystal.lattice import PARAMETER_NAMES, cell_constraints, volume_factor
from refine.crystal.structure import CrystalStructure
from refine.data import Pattern
from refine.errors import InputError
from refine.fit import Dataset, FitOptions, FitResult, Objective, run_fit
from refine.fit.constraints import apply_constraints, set_expression
from refine.fit.phase_result import PhaseResult, Phases, Value
from refine.fit.result import json_safe
from refine.instrument import Instrument
from refine.operando.sequential import Presence, check_presence, phases_for
from refine.powder.model import PowderModel, PowderOptions, phase_prefix
from refine.powder.pawley import _PawleySolver
from refine.powder.quantitative import cell_mass, fraction_esd, weight_fractions
from refine.powder.rietveld import RietveldEngine, RietveldOptions
from refine.powder.rietveld_stages import mark_refined
from refine.powder.wholepattern import set_vary, with_vary

#: The kinds of parametric fit: free intensities per scan, or structure intensities with a scale per phase and scan.
PARAMETRIC_KINDS = ("pawley", "rietveld")


@dataclass(frozen=True)
class Trend:
    """Cell parameter ``parameter`` of phase ``phase`` = Σ_k p_k·t^k (k ≤ ``order``), t the scan's ``variable``
    (``index`` or an electrochemistry column such as ``capacity``)."""

    phase: str
    parameter: str
    order: int = 1
    variable: str = "index"


@dataclass(frozen=True)
class ConstantVolume:
    """Phase ``phase`` keeps one refined volume V0 in every scan; ``dependent`` (a, b or c) follows from it."""

    phase: str
    dependent: str = "c"


@dataclass(frozen=True)
class ParametricSettings:
    """A parametric fit: what refines (groups as in single fits), trends, constraints, which phases where."""

    refine: tuple[str, ...] = ("cell", "zero", "W", "X", "Y")
    powder: PowderOptions = field(default_factory=PowderOptions)
    trends: tuple[Trend, ...] = ()
    constant_volume: tuple[ConstantVolume, ...] = ()
    presence: tuple[Presence, ...] = ()
    fit: FitOptions = field(default_factory=FitOptions)
    passes: int = 2
    kind: str = "pawley"
    rietveld: RietveldOptions = field(default_factory=RietveldOptions)

    def __post_init__(self) -> None:
        if self.kind not in PARAMETRIC_KINDS:
            raise InputError("kind", f"parametric kind must be one of {', '.join(PARAMETRIC_KINDS)}, got {self.kind!r}")


@dataclass(frozen=True)
class ParametricResult:
    """The joint fit, each scan's cells (value and esd propagated through the constraints) and the trend
    coefficients.

    ``scans`` holds one dict per scan: ``index``, ``phases`` (a :class:`~refine.fit.phase_result.Phases` mapping,
    each phase by its prefix as in a single fit; ``extra['scan_prefix']`` names its parameters in the joint fit)
    and ``statistics`` (that scan's agreement factors as a dict).
    """

    fit: FitResult
    scans: tuple[Mapping[str, Any], ...]
    coefficients: Mapping[str, tuple[float, float | None]]

    def __post_init__(self) -> None:  # read-only views: a notebook's edit cannot change the result
        scans = tuple(MappingProxyType({**s, "statistics": MappingProxyType(dict(s["statistics"]))})
                      for s in self.scans)
        object.__setattr__(self, "scans", scans)
        object.__setattr__(self, "coefficients", MappingProxyType(dict(self.coefficients)))

    @property
    def converged(self) -> bool:
        return self.fit.converged

    def to_dict(self, *, data: Sequence[str] | None = None, settings: Mapping[str, Any] | None = None) -> dict:
        """The ``refine.result/1`` document of kind ``parametric``: the joint fit's parameters and statistics, each
        scan's phases and statistics under ``scans``, the trend coefficients with their esds."""
        doc = self.fit.to_dict(data=data, settings=settings)
        doc["scans"] = [{"index": s["index"], "phases": [ph.to_dict() for ph in s["phases"].values()],
                         "statistics": dict(s["statistics"])} for s in self.scans]
        doc["coefficients"] = {n: {"value": v, "esd": e} for n, (v, e) in self.coefficients.items()}
        return json_safe(doc)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ParametricResult:
        """Read :meth:`to_dict` back."""
        rest = {k: v for k, v in doc.items() if k not in ("scans", "coefficients")}
        scans = tuple({"index": s["index"], "phases": Phases(PhaseResult.from_dict(p) for p in s["phases"]),
                       "statistics": dict(s["statistics"])} for s in doc.get("scans") or ())
        coefficients = {n: (c["value"], c["esd"]) for n, c in (doc.get("coefficients") or {}).items()}
        return cls(fit=FitResult.from_dict(rest), scans=scans, coefficients=coefficients)


def _scan_prefix(index: int, phase: CrystalStructure) -> str:
    return phase_prefix(f"s{index}_{phase_prefix(phase.name)}")


class _Builder:
    """Assembles the shared parameters and one dataset per scan."""

    def __init__(self, patterns: Sequence[Pattern], phases: Sequence[CrystalStructure], instrument: Instrument,
                 settings: ParametricSettings) -> None:
        self.settings = settings
        self.params = lmfit.Parameters()
        self.datasets: list[Dataset] = []
        self.solvers: list[_PawleySolver] = []
        self.members: list[list[tuple[CrystalStructure, str]]] = []  # per scan: (phase, scan prefix)
        for i, pattern in enumerate(patterns):
            active = phases_for(i, phases, settings.presence)
            renamed = [ph.replace(name=_scan_prefix(i, ph)) for ph in active]
            # The user's constraints are set on the joint parameters (_apply_user_constraints), not per scan.
            model = PowderModel(pattern, renamed, instrument, options=dataclasses.replace(settings.powder,
                                                                                           constraints=()))
            if settings.kind == "rietveld":
                solver = RietveldEngine(model, settings.rietveld)
                own = mark_refined(solver.parameters(), solver, ("scale", *settings.refine))
                calc = _rietveld_of(model, solver)
            else:
                solver = _PawleySolver(model)
                own = set_vary(model.parameters(), model, settings.refine)
                calc = _model_of(model, solver)
            for name, par in own.items():
                if name not in self.params:
                    self.params.add(par)
            self.solvers.append(solver)
            self.members.append([(ph, _scan_prefix(i, ph)) for ph in active])
            self.datasets.append(Dataset(f"scan{i}", pattern, calc, mask=model.mask))

    def scans_with(self, phase: str, option: str) -> list[tuple[int, str, CrystalStructure]]:
        """(scan, parameter prefix, structure) of every scan holding ``phase``; none is bad input of ``option``."""
        key = phase_prefix(phase)  # the phase's name or its parameter prefix (as in the CSV columns)
        out = [(i, pre, ph) for i, members in enumerate(self.members) for ph, pre in members
               if phase_prefix(ph.name) == key]
        if not out:
            names = sorted({ph.name for members in self.members for ph, _ in members})
            raise InputError(option, f"no scan holds phase {phase!r} (phases: {', '.join(names)})")
        return out


def _model_of(model: PowderModel, solver: _PawleySolver):
    return lambda p: model.full(solver.calculate(p))


def _rietveld_of(model: PowderModel, engine: RietveldEngine):
    return lambda p: model.full(engine.calculate(p)[0])


def _start_scales(builder: _Builder, start: Sequence[Mapping[str, float]] | None) -> None:
    """Rietveld scales of scans without a starting value: a linear fit of each scan's phase curves."""
    if builder.settings.kind != "rietveld":
        return
    params = builder.params
    for i, engine in enumerate(builder.solvers):
        given = start[i] if start and i < len(start) else {}
        if all(f"{phase_prefix(ph.name)}_scale" in given for ph, _ in builder.members[i]):
            continue
        engine.freeze(params)
        fitted = engine.initial_scales(params)
        for _, pre in builder.members[i]:
            params[f"{pre}_scale"].set(value=fitted[f"{pre}_scale"].value)


def _start_values(builder: _Builder, start: Sequence[Mapping[str, float]] | None) -> None:
    """Copy per-scan starting values (names as in a single fit: ``nvp_a``, ``zero``) into the joint set; shared
    parameters start from the median over scans."""
    if not start:
        return
    params = builder.params
    shared: dict[str, list[float]] = {}
    for i, values in enumerate(start):
        for name, value in values.items():
            if value is None or not np.isfinite(value):
                continue
            scoped = next((f"{pre}{name[len(phase_prefix(ph.name)):]}" for ph, pre in builder.members[i]
                           if name.startswith(f"{phase_prefix(ph.name)}_")), None)
            if scoped is not None:
                if scoped in params and not params[scoped].expr:
                    params[scoped].set(value=value)
            elif name in params and not params[name].expr:
                shared.setdefault(name, []).append(value)
    for name, values in shared.items():
        params[name].set(value=float(np.median(values)))


def _apply_trends(builder: _Builder, variables: Mapping[str, Sequence[float]]) -> None:
    params = builder.params
    for trend in builder.settings.trends:
        scans = builder.scans_with(trend.phase, "trend")
        base = phase_prefix(trend.phase)
        free = cell_constraints(scans[0][2].space_group).free
        if trend.parameter not in free:
            raise InputError("trend", f"{trend.parameter} is not a free cell parameter of {trend.phase} ({free})")
        if trend.variable not in variables:
            raise InputError("trend", f"unknown variable {trend.variable!r}; known: {sorted(variables)}")
        if not 0 <= trend.order < len(scans):
            raise InputError("trend", f"order {trend.order} needs more than {trend.order} scans with {trend.phase}")
        t = np.array([float(variables[trend.variable][i]) for i, _, _ in scans])
        if not np.all(np.isfinite(t)):
            missing = ", ".join(str(i) for (i, _, _), ti in zip(scans, t, strict=True) if not np.isfinite(ti))
            raise InputError("trend", f"variable {trend.variable!r} is not a finite number in every scan with "
                                        f"{trend.phase}: none in scan(s) {missing} (a scan outside the cycler log "
                                        "has no cycler values)")
        y = np.array([params[f"{pre}_{trend.parameter}"].value for _, pre, _ in scans])
        coef = np.polynomial.polynomial.polyfit(t, y, trend.order) if np.ptp(y) else [y[0]] + [0.0] * trend.order
        names = [f"{base}_{trend.parameter}_p{k}" for k in range(trend.order + 1)]
        for name, value in zip(names, coef, strict=True):
            params.add(name, value=float(value), vary=True)
        for (_, pre, _), ti in zip(scans, t, strict=True):
            expr = " + ".join(f"{n}*({float(ti)!r})**{k}" if k else n for k, n in enumerate(names))
            set_expression(params, f"{pre}_{trend.parameter}", expr, source="trend")


def _apply_constant_volume(builder: _Builder) -> None:
    params = builder.params
    for cv in builder.settings.constant_volume:
        scans = builder.scans_with(cv.phase, "constant_volume")
        sg = scans[0][2].space_group
        free = cell_constraints(sg).free
        if any(n in free for n in ("alpha", "beta", "gamma")):
            raise InputError("constant_volume", f"{cv.phase}: constant volume needs fixed angles ({sg.symbol})")
        if cv.dependent not in free or cv.dependent not in ("a", "b", "c"):
            raise InputError("constant_volume", f"{cv.phase}: {cv.dependent} is not a free length ({free})")
        base = phase_prefix(cv.phase)
        volumes = []
        for _, pre, _ in scans:
            v = {n: params[f"{pre}_{n}"].value for n in PARAMETER_NAMES}
            volumes.append(v["a"] * v["b"] * v["c"] * volume_factor(v["alpha"], v["beta"], v["gamma"]))
        params.add(f"{base}_V0", value=float(np.mean(volumes)), vary=True, min=0.0)
        # The lengths the symmetry ties to the dependent one (b = a in a hexagonal cell) share its value:
        # V = d^k·Π(others)·F, so d = (V0/(Π(others)·F))^(1/k).
        rules = dict(zip(("a", "b", "c"), cell_constraints(sg).rules[:3], strict=True))
        tied = [n for n in ("a", "b", "c") if cv.dependent in (n, rules[n])]
        for _, pre, _ in scans:
            f = volume_factor(*(params[f"{pre}_{n}"].value for n in ("alpha", "beta", "gamma")))
            divisor = "*".join([*(f"{pre}_{n}" for n in ("a", "b", "c") if n not in tied), repr(float(f))])
            expr = f"{base}_V0/({divisor})" if len(tied) == 1 else f"({base}_V0/({divisor}))**(1/{len(tied)})"
            set_expression(params, f"{pre}_{cv.dependent}", expr, source="constant_volume")


def _in_scan(text: str, scoped: Mapping[str, str]) -> str:
    """``text`` with each phase's single-fit parameter prefix (``nvp_``) replaced by the scan's (``s3_nvp_``)."""
    names = "|".join(map(re.escape, sorted(scoped, key=len, reverse=True)))
    return re.sub(rf"\b({names})_(?=\w)", lambda m: f"{scoped[m.group(1)]}_", text)


def _apply_user_constraints(builder: _Builder) -> None:
    """The user's constraints (``constrain``, last, so they win): a name of the joint fit (``s2_nvp_c``, ``W``)
    as written; a phase parameter named as in a single fit (``nvpf_c=851.12/(nvpf_a*nvpf_b)``) in every scan that
    holds the phase, the phase names in it read as that scan's (``s0_nvpf_a`` ...)."""
    constraints = []
    for name, expr in builder.settings.powder.constraints:
        if name in builder.params:
            constraints.append((name, expr))
            continue
        per_scan = []
        for members in builder.members:
            scoped = {phase_prefix(ph.name): pre for ph, pre in members}
            if scoped and _in_scan(name, scoped) != name:
                per_scan.append((_in_scan(name, scoped), _in_scan(expr, scoped)))
        if not per_scan:
            raise InputError("constrain", f"no parameter {name!r} to constrain: neither a parameter of the joint fit "
                                          "(see a fit report) nor a phase parameter PHASE_NAME of any scan")
        constraints += per_scan
    builder.params = apply_constraints(builder.params, constraints)


def fit_parametric(patterns: Sequence[Pattern], phases: Sequence[CrystalStructure], instrument: Instrument,
                   settings: ParametricSettings, *, variables: Mapping[str, Sequence[float]] | None = None,
                   start: Sequence[Mapping[str, float]] | None = None) -> ParametricResult:
    """Fit all ``patterns`` at once.

    Parameters
    ----------
    patterns
        The scans, in order (x in deg 2θ).
    phases, instrument
        As for a single fit; scan prefixes are added to the phase names.
    settings
        Refined groups, trends, constant-volume constraints, phase presence.
    variables
        External variables per scan (``capacity``, ``voltage`` ...); ``index`` is always available.
    start
        Per-scan starting values named as in single fits (the ``parameters`` of a sequential run): a surface
        refinement is best started from the sequential one. Trend coefficients start from a polynomial fit to them.
    """
    if not patterns:
        raise InputError("parametric", "no patterns")
    variables = {"index": list(range(len(patterns))), **dict(variables or {})}
    for name, values in variables.items():
        if len(values) != len(patterns):
            raise InputError("parametric", f"variable {name!r} has {len(values)} values for {len(patterns)} scans")
    check_presence(settings.presence, phases, len(patterns))
    builder = _Builder(patterns, phases, instrument, settings)
    _start_values(builder, start)
    _start_scales(builder, start)
    _apply_trends(builder, variables)
    _apply_constant_volume(builder)
    _apply_user_constraints(builder)
    params = builder.params
    params.update_constraints()
    varied = {n for n, p in params.items() if p.vary and not p.expr}
    objective = Objective(tuple(builder.datasets))
    current = params
    result = None
    for _ in range(max(settings.passes, 1)):  # each pass re-centres the frozen peak windows
        for solver in builder.solvers:
            solver.freeze(current)
        result = run_fit(objective, with_vary(current, varied), kind="parametric", options=settings.fit)
        current = result.params
    assert result is not None
    scans, coefficients = _summaries(builder, result)
    return ParametricResult(fit=result, scans=scans, coefficients=coefficients)


def _derived(params: lmfit.Parameters, builder: _Builder) -> np.ndarray:
    """a, b, c, alpha, beta, gamma, volume of every phase in every scan, flattened."""
    out = []
    for members in builder.members:
        for _, pre in members:
            v = [params[f"{pre}_{n}"].value for n in PARAMETER_NAMES]
            out.extend(v)
            out.append(v[0] * v[1] * v[2] * volume_factor(*v[3:]))
    return np.asarray(out)


def _summaries(builder: _Builder, result: FitResult) -> tuple[tuple[dict, ...], dict[str, tuple]]:
    """Per-scan cells with esds from the covariance through the constraints, σ² = J C Jᵀ, J by central
    differences of the expressions (exact for the linear trends, second order otherwise)."""
    params = result.params
    base = _derived(params, builder)
    cov = result.covariance
    esd = np.full(base.size, np.nan)
    if cov is not None:
        jac = np.zeros((base.size, len(result.var_names)))
        work = params.copy()
        for j, name in enumerate(result.var_names):
            h = 1e-6 * max(abs(params[name].value), 1e-3)
            cols = []
            for step in (h, -h):
                work[name].set(value=params[name].value + step)
                work.update_constraints()
                cols.append(_derived(work, builder))
            work[name].set(value=params[name].value)
            jac[:, j] = (cols[0] - cols[1]) / (2 * h)
        work.update_constraints()
        esd = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jac, cov, jac), 0.0))
    scans = []
    k = 0
    keys = (*PARAMETER_NAMES, "volume")
    for i, members in enumerate(builder.members):
        phases = []
        quant = _quantities(builder, result, i, base[k:k + 7 * len(members)])
        for j, (ph, pre) in enumerate(members):
            cell = {n: Value(v, e) for n, v, e in zip(keys, base[k:k + 7], esd[k:k + 7], strict=True)}
            k += 7
            phases.append(PhaseResult(name=phase_prefix(ph.name), structure=ph.name,
                                      space_group=ph.space_group.symbol, **cell, **quant[j],
                                      extra={"scan_prefix": pre}))
        stats = result.dataset_statistics[f"scan{i}"].to_dict()
        scans.append({"index": i, "phases": Phases(phases), "statistics": stats})
    coefficients: dict[str, Any] = {
        n: (float(p.value), result.esd(n)) for n, p in params.items()
        if any(n.startswith(f"{phase_prefix(t.phase)}_{t.parameter}_p") for t in builder.settings.trends)
        or any(n == f"{phase_prefix(c.phase)}_V0" for c in builder.settings.constant_volume)}
    return tuple(scans), coefficients


def _quantities(builder: _Builder, result: FitResult, scan: int, cells: np.ndarray) -> list[dict[str, Value]]:
    """Per phase of one scan: its scale and Hill & Howard weight fraction (Rietveld kind; nothing for Pawley)."""
    members = builder.members[scan]
    if builder.settings.kind != "rietveld":
        return [{} for _ in members]
    params = result.params
    names = [f"{pre}_scale" for _, pre in members]
    scales = [params[n].value for n in names]
    zmv = [cell_mass(ph) * cells[7 * j + 6] for j, (ph, _) in enumerate(members)]
    out = [{"scale": Value(s, result.esd(n))} for s, n in zip(scales, names, strict=True)]
    covariance = result.covariance_of(names)
    try:
        wf = weight_fractions(scales, zmv, covariance)
    except InputError:
        return out
    for j, entry in enumerate(out):
        entry["weight_fraction"] = Value(float(wf.fractions[j]), fraction_esd(wf, j, covariance))
    return out
