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
from refine.fit.statistics import Statistics
from refine.io.atomic import atomic_open, sha256_of

RESULT_SCHEMA = "refine.result/1"
#: |correlation| above this is reported as a warning (esds of such pairs cannot be trusted alone).
CORRELATION_WARNING = 0.9


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

    def report(self) -> str:
        """A short human-readable summary."""
        s = self.statistics
        lines = [f"{self.kind} fit: {'converged' if self.converged else 'NOT converged'} ({self.message})"]
        for key in ("Rwp", "Rp", "Rexp", "GOF", "Rw", "chi2_red"):
            val = getattr(s, key)
            if val is not None:
                lines.append(f"  {key:8s} {val:.5g}")
        for name, p in self.params.items():
            if p.vary or p.expr:
                err = self.esd(name)
                lines.append(f"  {name:24s} {p.value:.8g} ± {err:.2g}" if err else f"  {name:24s} {p.value:.8g}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _num(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_curves(curves: Curves, path: str | os.PathLike) -> None:
    """Sidecar text file: x, observed, sigma, calculated, fitted flag and every component, one column each."""
    names = ["x", "observed", "sigma", "calculated", "fitted", *curves.components]
    cols = [curves.x, curves.observed, curves.sigma, curves.calculated, curves.mask.astype(float),
            *curves.components.values()]
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(f"# refine curves; x unit {curves.unit}\n# {'  '.join(names)}\n")
        np.savetxt(fh, np.column_stack(cols), fmt="%.10g", delimiter="  ")


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
    return {
        "schema": RESULT_SCHEMA,
        "kind": result.kind,
        "data": paths[0] if len(paths) == 1 else paths,
        "converged": bool(result.converged),
        "message": result.message,
        "statistics": {k: _num(v) for k, v in stats.items()},
        "dataset_statistics": {k: {kk: _num(vv) for kk, vv in v.to_dict().items()}
                               for k, v in result.dataset_statistics.items()},
        "phases": [dict(p) for p in result.phases],
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
    }


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
        json.dump(doc, fh, indent=2, default=_num)
        fh.write("\n")
    return path
