"""A refined detector geometry (:class:`CalibrationResult`, what :func:`refine.integrate.calibrate.calibrate`
returns) and its ``refine.result/1`` document of kind ``calibration`` (written and read back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refine.errors import InputError

#: The result-file schema (``refine.fit.result.RESULT_SCHEMA``; integrate sits below the fit layer).
RESULT_SCHEMA = "refine.result/1"


@dataclass(frozen=True)
class CalibrationResult:
    """A refined geometry.

    Attributes
    ----------
    geometry
        PONI values: dist, poni1, poni2 (m), rot1, rot2, rot3 (rad), wavelength (m).
    esd
        Standard deviations of the refined parameters (same units), sqrt(diag((JᵀJ)⁻¹)·Σr²/(N−P)).
    refined
        Names of the refined parameters.
    points_per_ring
        Control points per calibrant ring index (0 = first ring).
    rms_tth_deg, rms_px
        RMS of the control-point residuals in 2θ (deg) and in pixels (radial, 2θ residual / |∇2θ|).
    control_points
        (N, 3) array: row, column (pixels of the flipped image), ring index.
    ai
        The refined pyFAI ``AzimuthalIntegrator``.
    calibrant
        Calibrant name or d-spacing file.
    """

    geometry: dict[str, float]
    esd: dict[str, float]
    refined: tuple[str, ...]
    points_per_ring: dict[int, int]
    rms_tth_deg: float
    rms_px: float
    control_points: np.ndarray = field(repr=False)
    ai: Any = field(repr=False)
    calibrant: str = ""
    stored_fit2d: dict[str, float] | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()
    starts: tuple[dict[str, float], ...] = field(default=(), repr=False)
    residuals_px: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def rms_px_per_ring(self) -> dict[int, float]:
        """RMS radial residual (px) of the control points of each ring."""
        if not len(self.residuals_px) or not len(self.control_points):
            return {}
        rings = self.control_points[:, 2].astype(int)
        return {int(k): float(np.sqrt(np.mean(self.residuals_px[rings == k] ** 2))) for k in np.unique(rings)}

    @property
    def rings_used(self) -> int:
        """Number of calibrant rings holding control points."""
        return len(self.points_per_ring)

    @property
    def converged(self) -> bool:
        """False when the refinement was poor from every start (see :attr:`warnings`)."""
        return not self.warnings

    @property
    def fit2d(self) -> dict[str, float]:
        """pyFAI's Fit2D view of the geometry (directDist mm, centerX/centerY px, tilt deg ...)."""
        if self.ai is None:  # read back from a result file
            return dict(self.stored_fit2d or {})
        return dict(self.ai.getFit2D())

    def to_dict(self, *, data: str | None = None, inputs: Any = (), settings: dict[str, Any] | None = None,
                poni: str | None = None) -> dict[str, Any]:
        """The ``refine.result/1`` document of kind ``calibration`` (CONVENTIONS.md): geometry parameters with
        esds, control points per ring, RMS residuals as statistics, the Fit2D view; ``inputs`` (existing files)
        are hashed into the provenance, ``poni`` names the PONI file written."""
        from refine import __version__
        from refine.io.atomic import sha256_of

        return {"schema": RESULT_SCHEMA, "kind": "calibration", "data": data, "converged": self.converged,
                "warnings": list(self.warnings), "starts": [dict(s) for s in self.starts],
                **result_dict(self),
                "provenance": {"package": "refine", "version": __version__,
                               "inputs": [{"path": str(p), "sha256": sha256_of(p)} for p in inputs],
                               "settings": dict(settings or {}), "poni": poni}}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> CalibrationResult:
        """A calibration read back from its result document (no control points, no integrator: the geometry,
        its esds, the ring counts, RMS and Fit2D view as written)."""
        if doc.get("schema") != RESULT_SCHEMA or doc.get("kind") != "calibration":
            raise InputError("result", f"not a {RESULT_SCHEMA} calibration document "
                                       f"(schema {doc.get('schema')!r}, kind {doc.get('kind')!r})")
        params = doc.get("parameters") or {}
        stats = doc.get("statistics") or {}
        return cls(geometry={k: float(p["value"]) for k, p in params.items()},
                   esd={k: p["esd"] for k, p in params.items() if p.get("esd") is not None},
                   refined=tuple(k for k, p in params.items() if p.get("vary")),
                   points_per_ring={int(k): int(v) for k, v in (doc.get("points_per_ring") or {}).items()},
                   rms_tth_deg=float(stats["rms_2th_deg"]), rms_px=float(stats["rms_px"]),
                   control_points=np.empty((0, 3)), ai=None, calibrant=str(doc.get("calibrant") or ""),
                   stored_fit2d=dict(doc.get("fit2d") or {}), warnings=tuple(doc.get("warnings") or ()),
                   starts=tuple(doc.get("starts") or ()))


def result_dict(result: CalibrationResult) -> dict[str, Any]:
    """JSON-able summary: geometry with esds, control points per ring, RMS, Fit2D view."""
    params = {k: {"value": v, "esd": result.esd.get(k), "vary": k in result.refined}
              for k, v in result.geometry.items()}
    npoints = int(len(result.control_points)) if len(result.control_points) else sum(result.points_per_ring.values())
    return {"parameters": params, "points_per_ring": {str(k): v for k, v in result.points_per_ring.items()},
            "statistics": {"rms_2th_deg": result.rms_tth_deg, "rms_px": result.rms_px,
                           "npoints": npoints, "nvary": len(result.refined)},
            "fit2d": {k: float(v) for k, v in result.fit2d.items() if isinstance(v, (int, float))},
            "calibrant": result.calibrant}
