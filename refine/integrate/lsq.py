"""The least-squares passes of a calibration (pyFAI's GeometryRefinement) and their statistics.

:func:`refine_from` runs the usual schedule of extract + refine passes (first rings with the tilts fixed, then more
rings with everything free); :func:`esd` gives standard deviations from the Jacobian of the 2θ residuals (pyFAI
gives none); :func:`residuals_px` converts 2θ residuals to radial pixel offsets.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from refine.errors import InputError

if TYPE_CHECKING:
    from refine.integrate.calibrate import CalibrationOptions

#: pyFAI's geometry parameters, in GeometryRefinement.PARAM_ORDER (metres, radians; wavelength in metres).
PARAMETERS = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength")
TILTS = ("rot1", "rot2", "rot3")


def schedule(options: CalibrationOptions, available: int) -> list[tuple[int, bool]]:
    """(rings, tilts free) per extract+refine pass: 1, 2 ... rings with tilts fixed, doubling to the end, once more."""
    first = min(options.rings, available)
    last = available if options.max_rings is None else min(options.max_rings, available)
    passes = [(n, False) for n in range(1, first + 1)]
    n = first
    while n < last:
        n = min(2 * n, last)
        passes.append((n, True))
    passes.append((last, True))
    return passes


def too_few(image_name: str, data: np.ndarray, minimum: int) -> None:
    rings = len(np.unique(data[:, 2])) if len(data) else 0
    if len(data) < minimum:
        raise InputError(image_name, f"found {len(data)} control points on {rings} rings; check the start geometry "
                                     "or wavelength")


def residuals(gr: Any, params: np.ndarray, free: list[str], const: dict[str, float]) -> np.ndarray:
    """2θ(control point) − 2θ(ring) in radians for the free parameter vector (SI units)."""
    values = {**const, **dict(zip(free, params, strict=True))}
    p6 = [values[name] for name in PARAMETERS[:6]]
    d = gr.data
    tth_ring = gr.calc_2th(d[:, 2].astype(np.int32), values["wavelength"])
    return gr.tth(d[:, 0], d[:, 1], p6) - tth_ring


def esd(gr: Any, free: list[str]) -> dict[str, float]:
    """sqrt(diag((JᵀJ)⁻¹) · Σr²/(N−P)) with a central-difference Jacobian of the 2θ residuals."""
    values = {name: float(getattr(gr, name)) for name in PARAMETERS}
    const = {k: v for k, v in values.items() if k not in free}
    p0 = np.array([values[name] for name in free])
    # 1 µm, 1 µrad, or 1 ppm of the wavelength
    steps = np.array([1e-6 * abs(v) if name == "wavelength" else 1e-6 for name, v in zip(free, p0, strict=True)])
    jac = np.empty((len(gr.data), len(free)))
    for j, h in enumerate(steps):
        up, down = p0.copy(), p0.copy()
        up[j] += h
        down[j] -= h
        jac[:, j] = (residuals(gr, up, free, const) - residuals(gr, down, free, const)) / (2 * h)
    gr.calc_2th([0], values["wavelength"])  # leave the calibrant at the refined wavelength
    r = residuals(gr, p0, free, const)
    dof = max(len(r) - len(free), 1)
    try:
        cov = np.linalg.inv(jac.T @ jac) * float(r @ r) / dof
    except np.linalg.LinAlgError:
        return {name: float("nan") for name in free}
    return {name: float(math.sqrt(max(cov[i, i], 0.0))) for i, name in enumerate(free)}


def residuals_px(gr: Any) -> tuple[np.ndarray, np.ndarray]:
    """2θ residuals (rad) of the control points and the same as radial pixel offsets (2θ residual / |∇2θ|)."""
    d = gr.data
    p6 = [float(getattr(gr, name)) for name in PARAMETERS[:6]]
    res = gr.tth(d[:, 0], d[:, 1], p6) - gr.calc_2th(d[:, 2].astype(np.int32), gr.wavelength)
    h = 0.5
    g1 = (gr.tth(d[:, 0] + h, d[:, 1], p6) - gr.tth(d[:, 0] - h, d[:, 1], p6)) / (2 * h)
    g2 = (gr.tth(d[:, 0], d[:, 1] + h, p6) - gr.tth(d[:, 0], d[:, 1] - h, p6)) / (2 * h)
    return res, res / np.hypot(g1, g2)


def rms(gr: Any) -> tuple[float, float]:
    """RMS of the 2θ residuals (deg) and of the same residuals expressed as radial pixel offsets."""
    res, res_px = residuals_px(gr)
    return float(np.degrees(np.sqrt(np.mean(res**2)))), float(np.sqrt(np.mean(res_px**2)))


def refine_from(sg: Any, options: CalibrationOptions, available: int, name: str) -> None:
    """The extract + refine passes of :func:`_schedule` from the SingleGeometry's current geometry."""
    gr = sg.geometry_refinement
    fixed_always = [p for p in PARAMETERS if p not in options.refine]
    state = np.random.get_state()
    np.random.seed(options.seed)  # pyFAI's massif shuffles seeds with numpy's global generator
    try:
        for rings, tilts_free in schedule(options, available):
            sg.extract_cp(max_rings=rings, pts_per_deg=options.points_per_degree)
            too_few(name, gr.data, options.min_points)
            # first passes: distance and PONI only (the wavelength scales like the distance on a few rings)
            early = [p for p in (*TILTS, "wavelength") if p not in fixed_always]
            gr.refine3(fix=fixed_always + ([] if tilts_free else early))
    finally:
        np.random.set_state(state)
