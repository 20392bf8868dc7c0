"""Detector geometry (distance, PONI, tilts) from a calibrant image, with pyFAI.

pyFAI does the work: :class:`pyFAI.goniometer.SingleGeometry` picks control points on the expected rings
(``extract_cp``: a band of ±¼ ring spacing around each calibrant ring at the current geometry, peaks found by
pyFAI's massif peak picker) and :class:`pyFAI.geometryRefinement.GeometryRefinement` refines the geometry by
least squares on Σ(2θ(pixel) − 2θ_ring)² (``refine3``, parameters fixed by name). This module runs the usual
iteration: first rings with the tilts fixed, then more rings with everything the options free, and reports
esds from the Jacobian of the 2θ residuals at the solution (pyFAI's refinement gives none).

The start geometry is either a PONI file or a Fit2D-style guess (direct-beam distance, beam centre in pixels,
no tilt) on a named pyFAI detector or a plain pixel size.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from refine.errors import InputError
from refine.integrate.integrator import flip_image

#: The result-file schema (``refine.fit.result.RESULT_SCHEMA``; integrate sits below the fit layer).
RESULT_SCHEMA = "refine.result/1"

#: pyFAI's geometry parameters, in GeometryRefinement.PARAM_ORDER (metres, radians; wavelength in metres).
PARAMETERS = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength")
_TILTS = ("rot1", "rot2", "rot3")
_FLIPS = (None, "ud", "lr")


@dataclass(frozen=True)
class StartGeometry:
    """A Fit2D-style starting guess: direct-beam distance and beam centre, detector untilted.

    Parameters
    ----------
    distance_mm
        Sample-to-detector distance along the beam (mm).
    center_px
        Beam centre (x = column, y = row) in pixels, pyFAI's Fit2D convention (PONI = centre × pixel size).
    detector
        A pyFAI detector name (``Pilatus1M``, ``Eiger2_4M`` ...); or None with ``pixel_size_um``.
    pixel_size_um
        Square pixel size (µm) of a plain detector whose shape is the image's.
    """

    distance_mm: float
    center_px: tuple[float, float]
    detector: str | None = None
    pixel_size_um: float | None = None


@dataclass(frozen=True)
class CalibrationOptions:
    """How to calibrate.

    Parameters
    ----------
    rings
        Rings used in the first passes (tilts and wavelength fixed there).
    max_rings
        Rings used in the end (None: every calibrant ring on the detector).
    refine
        Parameters refined in the final passes (others stay at the start value); rot3 and the wavelength are
        fixed by default, as in pyFAI-calib2.
    mask
        Mask file (nonzero = excluded), in the orientation of the image file (the flip is applied to it too).
    flip
        ``ud`` or ``lr`` flips the image (and mask) as :class:`~refine.integrate.Integrator` does.
    points_per_degree
        Control points per azimuthal degree of ring (pyFAI ``pts_per_deg``).
    min_points
        Fewest control points accepted after any pass.
    seed
        Seed of the random order in which pyFAI's peak picker visits seeds (results are reproducible).
    """

    rings: int = 3
    max_rings: int | None = None
    refine: tuple[str, ...] = ("dist", "poni1", "poni2", "rot1", "rot2")
    mask: str | None = None
    flip: str | None = None
    points_per_degree: float = 1.0
    min_points: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [p for p in self.refine if p not in PARAMETERS]
        if unknown:
            raise InputError("refine", f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(PARAMETERS)}")
        if self.rings < 1 or (self.max_rings is not None and self.max_rings < self.rings):
            raise InputError("rings", f"need 1 <= rings <= max_rings, got {self.rings}, {self.max_rings}")
        if self.flip not in _FLIPS:
            raise InputError("flip", f"expected ud or lr, got {self.flip!r}")


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

        return {"schema": RESULT_SCHEMA, "kind": "calibration", "data": data, "converged": True,
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
                   stored_fit2d=dict(doc.get("fit2d") or {}))


def load_calibrant(name: str | os.PathLike, wavelength_m: float) -> Any:
    """A pyFAI calibrant by registry name (CeO2, LaB6, Si ...) or from a d-spacing file (one d in Å per line)."""
    from pyFAI.calibrant import CALIBRANT_FACTORY, Calibrant

    text = os.fspath(name)
    if text in CALIBRANT_FACTORY:
        calibrant = CALIBRANT_FACTORY(text)
    elif Path(text).is_file():
        try:
            calibrant = Calibrant(filename=text)
            dspacing = [float(d) for d in calibrant.dSpacing]
        except Exception as exc:  # pyFAI raises ValueError/IndexError on malformed files
            raise InputError(text, f"not a d-spacing file ({type(exc).__name__}: {exc})") from None
        if not dspacing or not all(math.isfinite(d) and d > 0 for d in dspacing):
            raise InputError(text, "d-spacing file holds no positive d values")
    else:
        known = ", ".join(n for n in ("CeO2", "LaB6", "Si", "alpha_Al2O3", "Ni", "Au") if n in CALIBRANT_FACTORY)
        raise InputError("calibrant", f"unknown calibrant {text!r}; known include {known} "
                                        "(pyFAI's registry) or a d-spacing file")
    calibrant.wavelength = wavelength_m
    return calibrant


def _detector(start: StartGeometry, shape: tuple[int, int]) -> Any:
    from pyFAI.detectors import Detector, detector_factory

    if start.detector is not None:
        try:
            detector = detector_factory(start.detector)
        except Exception:
            raise InputError("detector", f"unknown pyFAI detector {start.detector!r}") from None
        if detector.pixel1 is None:
            raise InputError("detector", f"pyFAI detector {start.detector!r} has no pixel size")
        return detector
    if start.pixel_size_um is None or not start.pixel_size_um > 0:
        raise InputError("pixel_size", "a detector name or a positive pixel size is needed")
    size = start.pixel_size_um * 1e-6
    return Detector(pixel1=size, pixel2=size, max_shape=shape)


def _start_integrator(start: str | os.PathLike | StartGeometry, shape: tuple[int, int], wavelength_m: float) -> Any:
    """An AzimuthalIntegrator at the start geometry with the given wavelength."""
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from refine.io.poni import read_poni

    if isinstance(start, StartGeometry):
        if not start.distance_mm > 0:
            raise InputError("distance", f"distance must be positive, got {start.distance_mm}")
        ai = AzimuthalIntegrator(detector=_detector(start, shape), wavelength=wavelength_m)
        x, y = start.center_px
        ai.setFit2D(start.distance_mm, x, y)
    else:
        ai = read_poni(start)
        ai.wavelength = wavelength_m
    det_shape = ai.detector.shape
    if det_shape is not None and tuple(det_shape) != tuple(shape):
        raise InputError(os.fspath(start) if not isinstance(start, StartGeometry) else "detector",
                         f"detector shape {tuple(det_shape)} does not match the image shape {tuple(shape)}")
    if ai.detector.max_shape is None:
        ai.detector.max_shape = shape
    return ai


def _mask(image: np.ndarray, ai: Any, options: CalibrationOptions) -> np.ndarray:
    """Pixels excluded from peak picking: the detector's own mask, non-finite or negative (gap) pixels, user mask."""
    from refine.io.masks import read_mask

    mask = ~np.isfinite(image) | (image < 0)
    own = ai.detector.mask
    if own is not None and own.shape == image.shape:
        mask |= own != 0
    if options.mask is not None:
        mask |= flip_image(read_mask(options.mask, image.shape), options.flip) != 0
    return mask


def _schedule(options: CalibrationOptions, available: int) -> list[tuple[int, bool]]:
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


def _too_few(image_name: str, data: np.ndarray, minimum: int) -> None:
    rings = len(np.unique(data[:, 2])) if len(data) else 0
    if len(data) < minimum:
        raise InputError(image_name, f"found {len(data)} control points on {rings} rings; check the start geometry "
                                     "or wavelength")


def _residuals(gr: Any, params: np.ndarray, free: list[str], const: dict[str, float]) -> np.ndarray:
    """2θ(control point) − 2θ(ring) in radians for the free parameter vector (SI units)."""
    values = {**const, **dict(zip(free, params, strict=True))}
    p6 = [values[name] for name in PARAMETERS[:6]]
    d = gr.data
    tth_ring = gr.calc_2th(d[:, 2].astype(np.int32), values["wavelength"])
    return gr.tth(d[:, 0], d[:, 1], p6) - tth_ring


def _esd(gr: Any, free: list[str]) -> dict[str, float]:
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
        jac[:, j] = (_residuals(gr, up, free, const) - _residuals(gr, down, free, const)) / (2 * h)
    gr.calc_2th([0], values["wavelength"])  # leave the calibrant at the refined wavelength
    r = _residuals(gr, p0, free, const)
    dof = max(len(r) - len(free), 1)
    try:
        cov = np.linalg.inv(jac.T @ jac) * float(r @ r) / dof
    except np.linalg.LinAlgError:
        return {name: float("nan") for name in free}
    return {name: float(math.sqrt(max(cov[i, i], 0.0))) for i, name in enumerate(free)}


def _rms(gr: Any) -> tuple[float, float]:
    """RMS of the 2θ residuals (deg) and of the same residuals expressed as radial pixel offsets."""
    d = gr.data
    p6 = [float(getattr(gr, name)) for name in PARAMETERS[:6]]
    res = gr.tth(d[:, 0], d[:, 1], p6) - gr.calc_2th(d[:, 2].astype(np.int32), gr.wavelength)
    h = 0.5
    g1 = (gr.tth(d[:, 0] + h, d[:, 1], p6) - gr.tth(d[:, 0] - h, d[:, 1], p6)) / (2 * h)
    g2 = (gr.tth(d[:, 0], d[:, 1] + h, p6) - gr.tth(d[:, 0], d[:, 1] - h, p6)) / (2 * h)
    res_px = res / np.hypot(g1, g2)
    return float(np.degrees(np.sqrt(np.mean(res**2)))), float(np.sqrt(np.mean(res_px**2)))


def calibrate(image: np.ndarray, *, calibrant: str | os.PathLike, wavelength: float,
              start: str | os.PathLike | StartGeometry, options: CalibrationOptions | None = None,
              source: str | os.PathLike | None = None) -> CalibrationResult:
    """Refine the detector geometry on a calibrant image.

    Parameters
    ----------
    image
        2D calibrant image as read from its file (``options.flip`` is applied here).
    calibrant
        pyFAI calibrant name or d-spacing file.
    wavelength
        Wavelength in Å (fixed unless ``"wavelength"`` is in ``options.refine``).
    start
        PONI file or :class:`StartGeometry`.
    options
        :class:`CalibrationOptions`.
    source
        Image file name, for messages.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    InputError
        Unknown calibrant or detector, shapes that disagree, too few control points.
    """
    from pyFAI.goniometer import SingleGeometry

    options = options or CalibrationOptions()
    name = os.fspath(source) if source is not None else "image"
    if not (math.isfinite(wavelength) and wavelength > 0):
        raise InputError("wavelength", f"wavelength must be a positive number of Å, got {wavelength}")
    data = np.ascontiguousarray(flip_image(np.asarray(image, dtype=np.float32), options.flip))
    if data.ndim != 2:
        raise InputError(name, f"expected a 2D image, got shape {data.shape}")
    wavelength_m = wavelength * 1e-10
    cal = load_calibrant(calibrant, wavelength_m)
    ai = _start_integrator(start, data.shape, wavelength_m)
    detector = ai.detector
    detector.mask = _mask(data, ai, options).astype(np.int8)
    geometry = {k: float(getattr(ai, k)) for k in PARAMETERS[:6]}
    sg = SingleGeometry("calibration", image=data, calibrant=cal, detector=detector,
                        geometry={**geometry, "wavelength": wavelength_m})
    gr = sg.geometry_refinement
    gr.auto_gc = False  # pyFAI would run gc.collect() on every parameter change; the refinement holds no engines
    # rings that fall on the detector at the start geometry (with a 5 % margin for a poor start)
    tth_max = float(np.nanmax(ai.center_array(data.shape, unit="2th_rad", scale=False))) * 1.05
    available = sum(1 for t in cal.get_2th() if t is not None and t < tth_max)
    if available == 0:
        raise InputError(name, f"no ring of {calibrant} is reachable at {wavelength} Å")
    fixed_always = [p for p in PARAMETERS if p not in options.refine]
    state = np.random.get_state()
    np.random.seed(options.seed)  # pyFAI's massif shuffles seeds with numpy's global generator
    try:
        for rings, tilts_free in _schedule(options, available):
            sg.extract_cp(max_rings=rings, pts_per_deg=options.points_per_degree)
            _too_few(name, gr.data, options.min_points)
            # first passes: distance and PONI only (the wavelength scales like the distance on a few rings)
            early = [p for p in (*_TILTS, "wavelength") if p not in fixed_always]
            fix = fixed_always + ([] if tilts_free else early)
            gr.refine3(fix=fix)
    finally:
        np.random.set_state(state)
    free = [p for p in PARAMETERS if p in options.refine]
    esd = _esd(gr, free)
    rms_deg, rms_px = _rms(gr)
    rings, counts = np.unique(gr.data[:, 2].astype(int), return_counts=True)
    refined_ai = sg.get_ai()
    return CalibrationResult(
        geometry={k: float(getattr(gr, k)) for k in PARAMETERS}, esd=esd, refined=tuple(free),
        points_per_ring={int(r): int(c) for r, c in zip(rings, counts, strict=True)}, rms_tth_deg=rms_deg,
        rms_px=rms_px, control_points=np.array(gr.data[:, :3]), ai=refined_ai, calibrant=os.fspath(calibrant))


def ring_tth_deg(result: CalibrationResult) -> np.ndarray:
    """2θ (deg) of the calibrant rings at the refined wavelength."""
    cal = load_calibrant(result.calibrant, result.geometry["wavelength"])
    return np.degrees([t for t in cal.get_2th() if t is not None])


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



@dataclass(frozen=True, eq=False)
class CalibrationView:
    """What the calibration figure shows (:func:`refine.plot.calibration.plot_result`): the image as calibrated
    (flipped as the options say), 2θ (deg) of every pixel, the control points, the rings' 2θ, the mask, a title."""

    image: np.ndarray
    tth_deg: np.ndarray
    control_points: np.ndarray
    rings_deg: np.ndarray
    mask: np.ndarray
    title: str


def calibration_view(result: CalibrationResult, image: np.ndarray,
                     options: CalibrationOptions | None = None) -> CalibrationView:
    """The figure's data for an image as read from its file."""
    options = options or CalibrationOptions()
    data = flip_image(np.asarray(image, dtype=np.float32), options.flip)
    tth = np.degrees(result.ai.center_array(data.shape, unit="2th_rad", scale=False))
    title = (f"{result.calibrant}: RMS {result.rms_tth_deg:.4f} deg = {result.rms_px:.2f} px,  λ = "
             f"{result.ai.wavelength * 1e10:.6g} Å")
    return CalibrationView(image=data, tth_deg=tth, control_points=result.control_points,
                           rings_deg=np.asarray(ring_tth_deg(result)), mask=_mask(data, result.ai, options),
                           title=title)
