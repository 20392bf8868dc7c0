"""FitResult: what every fit returns, and the ``refine.result/1`` JSON file (CONVENTIONS.md).

A result is frozen and typed: ``phases`` is a read-only mapping name -> :class:`~refine.fit.phase_result.PhaseResult`
(the same fields for every engine), ``statistics`` a :class:`~refine.fit.statistics.Statistics`. The result file is
one serializer over it (:meth:`FitResult.to_dict` plus a JSON dump, :func:`write_result`), read back by
:meth:`FitResult.from_dict`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmfit
import numpy as np
from lmfit.parameter import SCIPY_FUNCTIONS

from refine import __version__
from refine.errors import InputError
from refine.fit.phase_result import PhaseResult, Phases
from refine.fit.statistics import Statistics
from refine.io.atomic import atomic_open, sha256_of
from refine.notation import format_esd, format_percent

RESULT_SCHEMA = "refine.result/1"


@dataclass(frozen=True)
class Curves:
    """Observed and calculated curves of one dataset, for plots and the sidecar file."""

    x: np.ndarray
    observed: np.ndarray
    calculated: np.ndarray
    sigma: np.ndarray
    mask: np.ndarray
    unit: str
    components: Mapping[str, np.ndarray] = field(default_factory=dict)  # background, each phase


@dataclass(frozen=True)
class FitResult:
    """The outcome of a fit.

    ``params`` holds the refined lmfit.Parameters (value, stderr, correl); ``statistics`` the joint agreement
    factors, ``dataset_statistics`` those of each dataset; ``warnings`` says when esds cannot be trusted;
    ``phases`` maps each phase's name (its parameter prefix) to its :class:`PhaseResult` (given as any iterable of
    them, kept as a read-only :class:`Phases` mapping in phase order).
    """

    kind: str
    converged: bool
    message: str
    params: lmfit.Parameters
    statistics: Statistics
    dataset_statistics: Mapping[str, Statistics]
    curves: Mapping[str, Curves]
    warnings: tuple[str, ...] = ()
    nfev: int = 0
    phases: Phases = field(default_factory=Phases)
    extra: Mapping[str, Any] = field(default_factory=dict)
    covariance: np.ndarray | None = None
    var_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.phases, Phases):
            object.__setattr__(self, "phases", Phases(self.phases))

    @property
    def nvary(self) -> int:
        """Number of refined parameters."""
        return sum(1 for p in self.params.values() if p.vary)

    def correlations(self, threshold: float = 0.0) -> dict[tuple[str, str], float]:
        """Correlation coefficients between refined parameters with |ρ| > threshold (each pair once)."""
        out: dict[tuple[str, str], float] = {}
        names = [n for n, p in self.params.items() if p.vary]
        for i, a in enumerate(names):
            correl = self.params[a].correl or {}
            for b in names[i + 1:]:
                if b in correl and abs(correl[b]) > threshold:
                    out[(a, b)] = float(correl[b])
        return out

    def covariance_of(self, names: Sequence[str]) -> np.ndarray | None:
        """Covariance sub-matrix of the varied parameters ``names`` (None when unavailable or one is fixed)."""
        if self.covariance is None or any(n not in self.var_names for n in names):
            return None
        idx = [self.var_names.index(n) for n in names]
        return self.covariance[np.ix_(idx, idx)]

    def value(self, name: str) -> float:
        """Refined value of parameter ``name``."""
        return float(self.params[name].value)

    def esd(self, name: str) -> float | None:
        """esd of parameter ``name`` (None when it could not be estimated or was fixed)."""
        err = self.params[name].stderr
        return None if err is None or not math.isfinite(err) else float(err)

    def report(self, *, warnings: bool = True, phases: bool = True) -> str:
        """A short human-readable summary: R-factors in percent, values as ``value(esd)``, one line per phase; the
        warnings last (``warnings=False`` / ``phases=False`` leave them out, for callers that print them
        elsewhere)."""
        s = self.statistics
        lines = [f"{self.kind} fit: {'converged' if self.converged else 'NOT converged'} ({self.message})"]
        factors = [f"{key} {format_percent(getattr(s, key))}" for key in ("Rwp", "Rp", "Rexp", "Rw")
                   if getattr(s, key) is not None]
        factors += [f"{key} {getattr(s, key):.3f}" for key in ("GOF", "chi2_red") if getattr(s, key) is not None]
        lines.append("  " + "   ".join(factors))
        for name, p in self.params.items():
            if p.vary or p.expr:
                tag = "" if p.vary else "  (constrained)"
                lines.append(f"  {name:24s} {format_esd(p.value, self.esd(name))}{tag}")
        if phases:
            lines.extend(ph.line() for ph in self.phases.values())
        if warnings:
            lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def __reduce__(self):
        # A pickle (a result sent back by a worker, a scan kept by a SeriesResult) carries the Parameters as
        # parameters_state(): lmfit's own pickle of a Parameters holds the scipy.special ufuncs every Parameters
        # gets, which pickle by a scan of all loaded modules (~4.5 ms of ~5 per Le Bail scan's result).
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state["params"] = parameters_state(self.params)
        return _fit_result_from_state, (state,)

    # -- serialization and views ----------------------------------------------------------------------------------
    def to_dict(self, *, data: str | Sequence[str] | None = None, settings: Mapping[str, Any] | None = None,
                curve_files: Sequence[str] = (), reflections: bool = True) -> dict:
        """The ``refine.result/1`` dictionary (CONVENTIONS.md; JSON-safe: NaN and inf become None). ``data`` are the
        input files (hashed into the provenance); by default those of a result read by :meth:`from_dict`.
        ``reflections=False`` leaves the phases' reflection lists out (summaries of long series)."""
        return result_to_dict(self, data=data, settings=settings, curve_files=curve_files, reflections=reflections)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, curves: Mapping[str, Curves] | None = None) -> FitResult:
        """A result read back from its ``refine.result/1`` dictionary: kind, convergence, statistics, phases,
        parameters with esds and correlations, warnings. The curves live in sidecar files (give them as
        ``curves``, e.g. from :func:`read_curves`); the provenance and any other keys are kept in ``extra`` and
        written again by :meth:`to_dict`."""
        return result_from_dict(doc, curves=curves)

    def to_pandas(self):
        """The parameters as a pandas DataFrame indexed by name: value, esd, vary, expr, min, max."""
        import pandas as pd

        rows = [{"name": n, "value": float(p.value), "esd": self.esd(n) if (p.vary or p.expr) else None,
                 "vary": bool(p.vary), "expr": p.expr, "min": float(p.min), "max": float(p.max)}
                for n, p in self.params.items()]
        return pd.DataFrame(rows, columns=["name", "value", "esd", "vary", "expr", "min", "max"]).set_index("name")

    def plot(self, **options: Any):
        """The observed/calculated/difference figure as a :class:`matplotlib.figure.Figure`, made without pyplot
        (the caller's backend is not touched). PDF fits get :func:`refine.plot.pdf.pdf_fit_figure`, the others
        :func:`refine.plot.figures.fit_figure` (``options`` are passed on)."""
        if self.kind == "pdf":
            from refine.plot.pdf import pdf_fit_figure

            return pdf_fit_figure(self, **options)
        from refine.plot.figures import fit_figure

        return fit_figure(self, **options)


def parameters_state(params: lmfit.Parameters) -> dict[str, Any]:
    """What ``lmfit.Parameters.__setstate__`` takes to rebuild ``params`` (the Parameter objects and the symbols
    added to their interpreter), less the scipy.special functions a new Parameters has from its construction."""
    table = params._asteval.symtable
    unique = {k: table[k] for k in params._asteval.user_defined_symbols()
              if not (k in SCIPY_FUNCTIONS and table[k] is SCIPY_FUNCTIONS[k])}
    return {"unique_symbols": unique, "params": list(params.values())}


def parameters_from_state(state: Mapping[str, Any]) -> lmfit.Parameters:
    """The Parameters of :func:`parameters_state`."""
    params = lmfit.Parameters()
    params.__setstate__(state)
    return params


def _fit_result_from_state(state: dict[str, Any]) -> FitResult:
    return FitResult(**{**state, "params": parameters_from_state(state["params"])})


def _num(x: Any) -> Any:
    """A JSON value for a number: finite floats as floats, NaN and ±inf as None (JSON has no NaN), numpy
    integers and booleans as Python ones, arrays as lists; anything else unchanged."""
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return json_safe(x.tolist())
    return x


def curve_column_names(curves: Curves) -> list[str]:
    """Column names of the curves file: x, observed, sigma, calculated, fitted, then each component (whitespace in a
    component's name becomes '_', so the names stay one token each)."""
    return ["x", "observed", "sigma", "calculated", "fitted", *("_".join(str(k).split()) for k in curves.components)]


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinite number replaced by None, recursively through dicts, lists and tuples
    (numpy scalars and arrays converted), so that ``json.dumps(..., allow_nan=False)`` accepts it."""
    if isinstance(obj, Mapping):
        return {str(k) if not isinstance(k, str) else k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return _num(obj)


def write_curves(curves: Curves, path: str | os.PathLike) -> None:
    """Sidecar text file: x, observed, sigma, calculated, fitted flag (1 inside the fit) and every component.

    One comment line (``#``: what the file is, the x unit), then a header row of column names, then the data, so
    that ``pandas.read_csv(path, sep=r"\\s+", comment="#")`` gives named columns (README).
    """
    cols = [curves.x, curves.observed, curves.sigma, curves.calculated, curves.mask.astype(float),
            *curves.components.values()]
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(f"# refine curves: observed, calculated and components of one dataset; x unit {curves.unit}\n")
        fh.write("  ".join(curve_column_names(curves)) + "\n")
        fh.write(_formatted_rows(np.column_stack(cols)))


def _formatted_rows(table: np.ndarray) -> str:
    """The rows of ``table`` as ``np.savetxt(fmt="%.10g", delimiter="  ")`` writes them, in one formatting call (a
    sequential run writes one such file per scan; savetxt formats row by row)."""
    if not table.size:
        return ""
    row = "  ".join(["%.10g"] * table.shape[1]) + "\n"
    return (row * table.shape[0]) % tuple(table.ravel().tolist())


def read_curves(path: str | os.PathLike) -> Curves:
    """Read a curves sidecar file back (to re-plot a fit without refitting)."""
    try:
        with open(path, encoding="utf-8") as fh:
            first, header = fh.readline(), fh.readline()
            data = np.loadtxt(fh, ndmin=2)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a refine curves file ({exc})") from None
    names = header.split()
    if not first.startswith("# refine curves") or names[:5] != ["x", "observed", "sigma", "calculated", "fitted"] \
            or data.shape[1] != len(names):
        raise InputError(path, "not a refine curves file (header or column count)")
    unit = first.rsplit("x unit", 1)[-1].strip()
    return Curves(x=data[:, 0], observed=data[:, 1], sigma=data[:, 2], calculated=data[:, 3],
                  mask=data[:, 4] > 0.5, unit=unit,
                  components={name: data[:, 5 + i] for i, name in enumerate(names[5:])})


#: Top-level keys of a result document that the typed result holds itself (others are kept in ``extra``).
DOCUMENT_KEYS = ("schema", "kind", "converged", "message", "statistics", "dataset_statistics", "phases", "parameters",
             "correlations", "warnings", "nfev")


def result_to_dict(result: FitResult, *, data: str | Sequence[str] | None = None,
                   settings: Mapping[str, Any] | None = None, curve_files: Sequence[str] = (),
                   reflections: bool = True) -> dict:
    """The ``refine.result/1`` dictionary (CONVENTIONS.md); keys that do not apply are null."""
    stored = dict(result.extra.get("document") or {})
    reuse = data is None and settings is None and not curve_files and "provenance" in stored
    if data is None:
        data = stored.get("data")
    paths = [] if data is None else [data] if isinstance(data, (str, os.PathLike)) else list(data)
    params = {
        name: {"value": _num(p.value), "esd": _num(p.stderr) if p.vary or p.expr else None, "vary": bool(p.vary),
               "expr": p.expr}
        for name, p in result.params.items()
    }
    doc = {
        "schema": RESULT_SCHEMA,
        "kind": result.kind,
        "data": None if not paths else str(paths[0]) if len(paths) == 1 else [str(p) for p in paths],
        "converged": bool(result.converged),
        "message": result.message,
        "statistics": None if result.statistics is None else result.statistics.to_dict(),
        "dataset_statistics": {k: v.to_dict() for k, v in result.dataset_statistics.items()},
        "phases": [ph.to_dict(reflections=reflections) for ph in result.phases.values()],
        "parameters": params,
        "correlations": {f"{a}|{b}": round(v, 6) for (a, b), v in result.correlations().items()},
        "warnings": list(result.warnings),
        "nfev": int(result.nfev),
        "provenance": stored["provenance"] if reuse else {
            "package": "refine",
            "version": __version__,
            "inputs": [{"path": str(p), "sha256": sha256_of(p)} for p in paths],
            "settings": dict(settings or {}),
            "curves": list(curve_files),
        },
    }
    doc.update({k: v for k, v in stored.items() if k not in doc})
    return json_safe(doc)


def _parameters_from(entries: Mapping[str, Mapping[str, Any]], correlations: Mapping[str, float]
                     ) -> lmfit.Parameters:
    """lmfit Parameters from the result file's ``parameters`` (value, esd, vary, expression) and correlations."""
    params = lmfit.Parameters()
    for name, p in entries.items():
        value = p.get("value")
        params.add(name, value=math.nan if value is None else float(value), vary=bool(p.get("vary")))
    for name, p in entries.items():
        if p.get("expr"):
            value = params[name].value
            try:
                params[name].set(expr=p["expr"])
            except Exception:  # noqa: BLE001 - an expression lmfit cannot evaluate alone: keep the stored value
                params[name].set(expr=None, vary=False, value=value)
    for name, p in entries.items():
        params[name].stderr = None if p.get("esd") is None else float(p["esd"])
    for pair, rho in correlations.items():
        a, _, b = pair.partition("|")
        if a in params and b in params and rho is not None:
            params[a].correl = {**(params[a].correl or {}), b: float(rho)}
            params[b].correl = {**(params[b].correl or {}), a: float(rho)}
    return params


def result_from_dict(doc: Mapping[str, Any], *, curves: Mapping[str, Curves] | None = None) -> FitResult:
    """:meth:`FitResult.from_dict`; :class:`InputError` for a document that is not ``refine.result/1``."""
    if not isinstance(doc, Mapping) or doc.get("schema") != RESULT_SCHEMA:
        found = doc.get("schema") if isinstance(doc, Mapping) else type(doc).__name__
        raise InputError("result", f"not a {RESULT_SCHEMA} document (schema {found!r})")
    params = _parameters_from(doc.get("parameters") or {}, doc.get("correlations") or {})
    stats = doc.get("statistics")
    return FitResult(
        kind=str(doc.get("kind")), converged=bool(doc.get("converged")), message=str(doc.get("message") or ""),
        params=params, statistics=None if stats is None else Statistics.from_dict(stats),
        dataset_statistics={k: Statistics.from_dict(v) for k, v in (doc.get("dataset_statistics") or {}).items()},
        curves=dict(curves or {}), warnings=tuple(doc.get("warnings") or ()), nfev=int(doc.get("nfev") or 0),
        phases=[PhaseResult.from_dict(ph) for ph in doc.get("phases") or ()],
        extra={"document": {k: v for k, v in doc.items() if k not in DOCUMENT_KEYS}},
        var_names=tuple(n for n, p in params.items() if p.vary))


def write_result(result: FitResult, path: str | os.PathLike, *, data: str | Sequence[str] | None = None,
                 settings: Mapping[str, Any] | None = None) -> Path:
    """Write the JSON result and one curves sidecar per dataset (``OUT.<dataset>.curves.dat``), atomically."""
    path = Path(path)
    curve_files = write_curve_files(result, path)
    write_document(result.to_dict(data=data, settings=settings, curve_files=curve_files), path)
    return path


def write_curve_files(result: FitResult, path: str | os.PathLike) -> list[str]:
    """One curves sidecar per dataset of ``result`` next to the result file ``path`` (``OUT.<dataset>.curves.dat``);
    returns their names."""
    path = Path(path)
    names = []
    for name, curves in result.curves.items():
        side = path.with_name(f"{path.stem}.{name}.curves.dat")
        write_curves(curves, side)
        names.append(side.name)
    return names


def _plain(x: Any) -> Any:
    """JSON fallback: numbers as :func:`_num` makes them, anything else (paths ...) as its text."""
    value = _num(x)
    return str(x) if value is x else value


def document_json(doc: Mapping[str, Any], *, indent: int = 2, safe: bool = False) -> str:
    """A result document's JSON text as :func:`write_document` writes it (no NaN: :func:`json_safe` first, unless
    ``safe`` says ``doc`` is its output already, with plain values added: ~0.4 ms a Le Bail scan; a NaN then
    raises)."""
    return json.dumps(doc if safe else json_safe(doc), indent=indent, default=_plain, allow_nan=False) + "\n"


def write_document(doc: Mapping[str, Any], path: str | os.PathLike, *, indent: int = 2) -> Path:
    """Write a result document as JSON, atomically (no NaN: :func:`json_safe` first)."""
    # One write of the whole text: json.dump with an indent writes every token separately (~2 000 calls a result).
    text = document_json(doc, indent=indent)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)
