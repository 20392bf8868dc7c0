"""FitResult: what every fit returns, and the ``refine.result/1`` JSON file (CONVENTIONS.md)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmfit
import numpy as np

from refine import __version__
from refine.errors import InputError
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
    factors, ``dataset_statistics`` those of each dataset; ``warnings`` says when esds cannot be trusted.
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
    phases: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    covariance: np.ndarray | None = None
    var_names: tuple[str, ...] = ()

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

    def report(self, *, warnings: bool = True) -> str:
        """A short human-readable summary: R-factors in percent, values as ``value(esd)``; the warnings last
        (``warnings=False`` leaves them out, for callers that print them elsewhere)."""
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
        if warnings:
            lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


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


def _json_value(value: Any) -> Any:
    """A phase entry's value for the result file: objects with ``to_rows()`` (a reflection table) become their rows,
    a list of them (one per pattern of a joint fit) the rows of all; everything else is kept."""
    if callable(getattr(value, "to_rows", None)):
        return value.to_rows()
    if isinstance(value, (list, tuple)) and value and all(callable(getattr(v, "to_rows", None)) for v in value):
        return [row for v in value for row in v.to_rows()]
    return value


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
        np.savetxt(fh, np.column_stack(cols), fmt="%.10g", delimiter="  ")


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


def result_to_dict(result: FitResult, *, data: str | Sequence[str], settings: Mapping[str, Any] | None = None,
                   curve_files: Sequence[str] = ()) -> dict:
    """The ``refine.result/1`` dictionary (CONVENTIONS.md); keys that do not apply are null."""
    stats = result.statistics.to_dict()
    paths = [data] if isinstance(data, str) else list(data)
    params = {
        name: {"value": _num(p.value), "esd": _num(p.stderr) if p.vary or p.expr else None, "vary": bool(p.vary),
               "expr": p.expr}
        for name, p in result.params.items()
    }
    return json_safe({
        "schema": RESULT_SCHEMA,
        "kind": result.kind,
        "data": paths[0] if len(paths) == 1 else paths,
        "converged": bool(result.converged),
        "message": result.message,
        "statistics": {k: _num(v) for k, v in stats.items()},
        "dataset_statistics": {k: {kk: _num(vv) for kk, vv in v.to_dict().items()}
                               for k, v in result.dataset_statistics.items()},
        "phases": [{k: _json_value(v) for k, v in p.items()} for p in result.phases],
        "parameters": params,
        "correlations": {f"{a}|{b}": round(v, 6) for (a, b), v in result.correlations().items()},
        "warnings": list(result.warnings),
        "provenance": {
            "package": "refine",
            "version": __version__,
            "inputs": [{"path": str(p), "sha256": sha256_of(p)} for p in paths],
            "settings": dict(settings or {}),
            "curves": list(curve_files),
        },
    })


def write_result(result: FitResult, path: str | os.PathLike, *, data: str | Sequence[str],
                 settings: Mapping[str, Any] | None = None) -> Path:
    """Write the JSON result and one curves sidecar per dataset (``OUT.<dataset>.curves.dat``), atomically."""
    path = Path(path)
    curve_files = []
    for name, curves in result.curves.items():
        side = path.with_name(f"{path.stem}.{name}.curves.dat")
        write_curves(curves, side)
        curve_files.append(side.name)
    doc = result_to_dict(result, data=data, settings=settings, curve_files=curve_files)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, default=_num, allow_nan=False)
        fh.write("\n")
    return path
