"""Typed per-phase results: :class:`Value` (a number with its esd), :class:`PhaseResult` (the same fields for every
engine) and :class:`Phases` (the read-only mapping name -> PhaseResult of a :class:`~refine.fit.result.FitResult`).

A phase's ``name`` is its parameter prefix (``drs`` in ``drs_a``), what a user types in ``fit.phases["drs"]``, for
powder and PDF fits alike; ``structure`` says where the phase came from (the structure's file or title).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from refine.fit.reflection_table import ReflectionTable
from refine.notation import format_esd

if TYPE_CHECKING:  # pragma: no cover
    from refine.crystal.lattice import Lattice

CELL_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")
#: The cell entries of a phase (each a :class:`Value`).
CELL_FIELDS = (*CELL_NAMES, "volume")
#: The optional per-phase quantities (each a :class:`Value` or None), in result-file order.
VALUE_FIELDS = ("scale", "weight_fraction", "spdiameter", "size_nm", "microstrain_percent", "R_Bragg", "R_F")
#: Quantities whose esd the result file also carries as a flat ``<name>_esd`` key (besides ``esd``).
_FLAT_ESD = ("scale", "weight_fraction")


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Value:
    """A refined or derived number with its esd (None when it was fixed or could not be estimated).

    ``float(v)`` gives the value; ``str(v)`` / ``format(v)`` the field's notation ``4.64195(6)``
    (:func:`refine.notation.format_esd`); ``format(v, ".4f")`` formats the value alone. Arithmetic is not
    overloaded: use ``v.value``.
    """

    value: float
    esd: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "esd", _finite(self.esd))

    @classmethod
    def of(cls, value: Any, esd: Any = None) -> Value | None:
        """A Value, or None when ``value`` is None (a quantity that does not apply)."""
        return None if value is None else cls(float(value), esd)

    def __float__(self) -> float:
        return self.value

    def __str__(self) -> str:
        return format_esd(self.value, self.esd)

    def __format__(self, spec: str) -> str:
        return format(self.value, spec) if spec else str(self)


@dataclass(frozen=True)
class PhaseResult:
    """One phase of a fit, with the same fields for every engine (None where a quantity does not apply).

    Attributes
    ----------
    name
        The phase's parameter prefix (``drs``: its parameters are ``drs_a`` ...).
    structure
        Where the phase came from: the structure's source file or title (None when unknown).
    space_group
        Hermann-Mauguin symbol (None when not known, e.g. a P1 model read without symmetry).
    a, b, c, alpha, beta, gamma, volume
        The refined cell (Å, degrees, Å³), each with its esd.
    scale, weight_fraction, spdiameter, size_nm, microstrain_percent, R_Bragg, R_F
        Phase scale, weight (mass) fraction, spherical particle diameter (Å, PDF), crystallite size (nm) and
        microstrain (%) from the Lorentzian broadening, Bragg R-factors (fractions).
    reflections
        The phase's reflection list (:class:`~refine.powder.reflection_table.ReflectionTable`; one per pattern of a
        joint fit), None for PDF fits. Le Bail, Pawley and Rietveld store their line intensities in it alike.
    extra
        Engine-specific entries written to the result file as they are (``source``, ``fixed``, ``natoms``,
        ``histograms``, ``atom_fraction`` ...; a :class:`Value` writes its esd under ``esd``).
    """

    name: str
    structure: str | None
    space_group: str | None
    a: Value
    b: Value
    c: Value
    alpha: Value
    beta: Value
    gamma: Value
    volume: Value
    scale: Value | None = None
    weight_fraction: Value | None = None
    spdiameter: Value | None = None
    size_nm: Value | None = None
    microstrain_percent: Value | None = None
    R_Bragg: Value | None = None
    R_F: Value | None = None
    reflections: ReflectionTable | tuple[ReflectionTable, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def __getstate__(self) -> dict[str, Any]:  # MappingProxyType does not pickle
        return {f.name: dict(getattr(self, f.name)) if f.name == "extra" else getattr(self, f.name)
                for f in fields(self)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, MappingProxyType(value) if key == "extra" else value)

    @property
    def cell(self) -> tuple[float, ...]:
        """(a, b, c, alpha, beta, gamma) as plain numbers."""
        return tuple(getattr(self, n).value for n in CELL_NAMES)

    def replace(self, **changes: Any) -> PhaseResult:
        """A copy with the given fields changed."""
        return replace(self, **changes)

    def line(self) -> str:
        """The phase as one printed line (:func:`phase_line`)."""
        return phase_line(self.to_dict(reflections=False))

    def __str__(self) -> str:
        return self.line()

    def to_dict(self, *, reflections: bool = True) -> dict[str, Any]:
        """The phase's entry of the ``refine.result/1`` file (CONVENTIONS.md): values as numbers, their esds under
        ``esd`` (and ``scale_esd``/``weight_fraction_esd``), the reflection list as rows (left out with
        ``reflections=False``)."""
        esd: dict[str, Any] = {}
        out: dict[str, Any] = {"name": self.name, "prefix": self.name, "structure": self.structure,
                               "space_group": self.space_group}
        for key in CELL_FIELDS:
            v = getattr(self, key)
            out[key] = v.value
            esd[key] = v.esd
        for key in VALUE_FIELDS:
            v = getattr(self, key)
            out[key] = None if v is None else v.value
            esd[key] = None if v is None else v.esd
            if key in _FLAT_ESD:
                out[f"{key}_esd"] = esd[key]
        for key, v in self.extra.items():
            if isinstance(v, Value):
                out[key], esd[key] = v.value, v.esd
            else:
                out[key] = v
        out["esd"] = esd
        if reflections:
            out["reflections"], out["reflection_lists"] = _reflections_to_json(self.reflections)
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PhaseResult:
        """Read a phase entry written by :meth:`to_dict` (or by refine before typed results: ``name`` was then the
        structure and ``prefix`` the parameter prefix)."""
        esd = doc.get("esd") or {}
        name = doc.get("prefix") or doc["name"]
        known = {"name", "prefix", "structure", "space_group", "esd", "reflections", "reflection_lists",
                 *CELL_FIELDS, *VALUE_FIELDS, *(f"{k}_esd" for k in _FLAT_ESD)}
        extra = {k: (Value(v, esd.get(k)) if k in esd and isinstance(v, (int, float)) and not isinstance(v, bool)
                     else v) for k, v in doc.items() if k not in known}
        structure = doc["structure"] if "structure" in doc else _old_structure(doc)
        cell = {k: Value(doc[k] if doc.get(k) is not None else math.nan, esd.get(k)) for k in CELL_FIELDS}
        values = {k: Value.of(doc.get(k), esd.get(k, doc.get(f"{k}_esd"))) for k in VALUE_FIELDS}
        return cls(name=name, structure=structure, space_group=doc.get("space_group"), **cell, **values,
                   reflections=_reflections_from_json(doc.get("reflections"), doc.get("reflection_lists"),
                                                      doc.get("structure") or name, name),
                   extra=extra)


def _old_structure(doc: Mapping[str, Any]) -> str | None:
    """The structure of a phase entry written before typed results: PDF fits named the file ``source``, powder
    fits the structure ``name`` (besides the ``prefix``)."""
    if doc.get("source"):
        return doc["source"]
    return doc["name"] if doc.get("prefix") not in (None, doc.get("name")) else None


def _same_esd(esd: float | None, of_a: float | None) -> bool:
    """True when a length equal to a has no esd of its own: none, or a's (propagated apart: equal to ~1e-10)."""
    return not esd or (bool(of_a) and abs(esd - of_a) <= 1e-6 * abs(of_a))


def phase_line(entry: Mapping[str, Any]) -> str:
    """One phase of a result as printed: cell and volume with esds, then R_Bragg/R_F and the weight fraction (``wt``,
    in percent) where present; angles fixed by symmetry at 90/120 and lengths equal to a (with a's esd, or none) are
    left out. ``entry`` is a result-file phase entry (:meth:`PhaseResult.to_dict`); a powder phase is called by its
    structure, a PDF phase by its name."""
    from refine.notation import format_percent

    esd = entry.get("esd") or {}
    parts = []
    for key in CELL_NAMES:
        value = entry.get(key)
        if value is None:
            continue
        if key in ("b", "c") and value == entry.get("a") and _same_esd(esd.get(key), esd.get("a")):
            continue  # equal to a by symmetry (cubic; a and b of a tetragonal or hexagonal cell)
        if key in ("alpha", "beta", "gamma") and value in (90.0, 120.0) and not esd.get(key):
            continue
        parts.append(f"{key}={format_esd(value, esd.get(key))}")
    if entry.get("volume") is not None:
        parts.append(f"V={format_esd(entry['volume'], esd.get('volume'))}")
    for key in ("R_Bragg", "R_F"):
        if entry.get(key) is not None:
            parts.append(f"{key}={format_percent(entry[key])}")
    if entry.get("weight_fraction") is not None:
        wf, wf_esd = entry["weight_fraction"], entry.get("weight_fraction_esd")
        parts.append(f"wt={format_esd(100 * wf, None if wf_esd is None else 100 * wf_esd)} %")
    label = entry["name"] if "source" in entry else entry.get("structure") or entry["name"]
    return f"phase {label} ({entry.get('space_group') or 'P1'}): " + "  ".join(parts)


def cell_values(lattice: Lattice, esd: Mapping[str, float | None]) -> dict[str, Value]:
    """The cell fields of a :class:`PhaseResult` (a ... gamma, volume) from a lattice and esds by name."""
    values = dict(zip(CELL_NAMES, lattice.as_tuple(), strict=True))
    values["volume"] = lattice.volume
    return {k: Value(float(v), esd.get(k)) for k, v in values.items()}


def refined_cell(result: Any, prefix: str, lattice: Lattice, space_group: Any, *,
                 free: Sequence[str] | None = None) -> dict[str, Value]:
    """The cell fields of phase ``prefix`` of a fit: each parameter ``{prefix}_a`` ... with its esd, and the volume
    with its esd propagated from the covariance of the free cell parameters (``free``: their full names; by
    default those of ``space_group``). ``result`` is a :class:`~refine.fit.result.FitResult`."""
    from refine.crystal.lattice import cell_constraints, volume_esd

    esd: dict[str, float | None] = {n: result.esd(f"{prefix}_{n}") if f"{prefix}_{n}" in result.params else None
                                    for n in CELL_NAMES}
    names = list(free) if free is not None else [f"{prefix}_{n}" for n in cell_constraints(space_group).free]
    cov = result.covariance_of(names)
    esd["volume"] = volume_esd(lattice, space_group, cov) if cov is not None else None
    return cell_values(lattice, esd)


def _reflections_to_json(reflections: Any) -> tuple[list | None, list | None]:
    """(rows, per-table description) of a phase's reflection list(s); (None, None) without."""
    if reflections is None:
        return None, None
    tables = list(reflections) if isinstance(reflections, (list, tuple)) else [reflections]
    rows = [row for t in tables for row in t.to_rows()]
    info = [{"phase": t.phase, "dataset": t.dataset, "radiation": t.radiation, "wavelength": float(t.wavelength)}
            for t in tables]
    return rows, info


def _reflections_from_json(rows: Sequence[Mapping[str, Any]] | None, info: Sequence[Mapping[str, Any]] | None,
                           phase: str, prefix: str) -> Any:
    """Reflection tables back from the rows of a result file (the description gives radiation and wavelength)."""
    if rows is None:
        return None
    info = list(info or [{"phase": phase, "dataset": None, "radiation": "xray", "wavelength": math.nan}])
    tables = []
    for desc in info:
        mine = [r for r in rows if r.get("dataset") == desc.get("dataset")]
        col = (lambda key, rs=mine: [math.nan if r.get(key) is None else r[key] for r in rs])  # noqa: E731
        has = (lambda key, rs=mine: bool(rs) and key in rs[0])  # noqa: E731
        tables.append(ReflectionTable(
            phase=desc.get("phase") or phase, prefix=prefix, radiation=desc.get("radiation") or "xray",
            wavelength=desc.get("wavelength") if desc.get("wavelength") is not None else math.nan,
            hkl=[[r["h"], r["k"], r["l"]] for r in mine], multiplicity=[r["mult"] for r in mine], d=col("d"),
            two_theta=col("two_theta"), intensity=col("intensity"),
            intensity_esd=col("intensity_esd") if has("intensity_esd") else None,
            fo2=col("Fo2") if has("Fo2") else None, fc2=col("Fc2") if has("Fc2") else None,
            dataset=desc.get("dataset")))
    return tables[0] if len(tables) == 1 and tables[0].dataset is None else tuple(tables)


class Phases(Mapping[str, PhaseResult]):
    """Read-only mapping phase name (prefix) -> :class:`PhaseResult`, in phase order."""

    __slots__ = ("_items",)

    def __init__(self, phases: Iterable[PhaseResult] = ()) -> None:
        items: dict[str, PhaseResult] = {}
        for ph in phases:
            if not isinstance(ph, PhaseResult):
                raise TypeError(f"phases must be PhaseResult objects, got {type(ph).__name__}")
            if ph.name in items:
                raise ValueError(f"two phases named {ph.name!r}")
            items[ph.name] = ph
        object.__setattr__(self, "_items", items)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Phases is read-only")

    def __getstate__(self) -> tuple[PhaseResult, ...]:
        return tuple(self._items.values())

    def __setstate__(self, state: tuple[PhaseResult, ...]) -> None:
        object.__setattr__(self, "_items", {p.name: p for p in state})

    def __getitem__(self, name: str) -> PhaseResult:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"no phase {name!r}; phases: {list(self._items)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Phases({list(self._items)})"

    def to_pandas(self):
        """One row per phase (indexed by name): structure, space group, then every value and its ``_esd``."""
        import pandas as pd

        rows = []
        for ph in self._items.values():
            row: dict[str, Any] = {"name": ph.name, "structure": ph.structure, "space_group": ph.space_group}
            for key in (*CELL_FIELDS, *VALUE_FIELDS):
                v = getattr(ph, key)
                row[key], row[f"{key}_esd"] = (None, None) if v is None else (v.value, v.esd)
            rows.append(row)
        columns = ["name", "structure", "space_group",
                   *(c for key in (*CELL_FIELDS, *VALUE_FIELDS) for c in (key, f"{key}_esd"))]
        return pd.DataFrame(rows, columns=columns).set_index("name")
