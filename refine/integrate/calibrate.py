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

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from refine.errors import InputError
from refine.integrate import lsq
from refine.integrate.calibration_result import CalibrationResult
from refine.integrate.integrator import flip_image
from refine.integrate.lsq import PARAMETERS

_FLIPS = (None, "ud", "lr")


@dataclass(frozen=True)
class StartGeometry:
    """A Fit2D-style starting guess: direct-beam distance and beam centre, detector untilted.

    Parameters
    ----------
    distance_mm
        Sample-to-detector distance along the beam (mm); None: from the rings (:mod:`refine.integrate.coarse`).
    center_px
        Beam centre (x = column, y = row) in pixels, pyFAI's Fit2D convention (PONI = centre × pixel size);
        None: from the rings' symmetry.
    detector
        A pyFAI detector name (``Pilatus1M``, ``Eiger2_4M`` ...); or None with ``pixel_size_um``.
    pixel_size_um
        Square pixel size (µm) of a plain detector whose shape is the image's.
    """

    distance_mm: float | None
    center_px: tuple[float, float] | None
    detector: str | None = None
    pixel_size_um: float | None = None

    @property
    def complete(self) -> bool:
        """True when both the distance and the centre are given (else the coarse stage finds them)."""
        return self.distance_mm is not None and self.center_px is not None


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
    max_rms_px
        A refinement whose RMS residual exceeds this (pixels), or that uses fewer than 3 rings (of those on the
        detector), is poor: further starts are tried and, if none is better, the result carries a warning.
    max_starts
        Most starts refined (the given one, the coarse stage's, then variations of the coarse one).
    """

    rings: int = 3
    max_rings: int | None = None
    refine: tuple[str, ...] = ("dist", "poni1", "poni2", "rot1", "rot2")
    mask: str | None = None
    flip: str | None = None
    points_per_degree: float = 1.0
    min_points: int = 20
    seed: int = 0
    max_rms_px: float = 1.0
    max_starts: int = 6

    def __post_init__(self) -> None:
        unknown = [p for p in self.refine if p not in PARAMETERS]
        if unknown:
            raise InputError("refine", f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(PARAMETERS)}")
        if self.rings < 1 or (self.max_rings is not None and self.max_rings < self.rings):
            raise InputError("rings", f"need 1 <= rings <= max_rings, got {self.rings}, {self.max_rings}")
        if self.flip not in _FLIPS:
            raise InputError("flip", f"expected ud or lr, got {self.flip!r}")


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
    """An AzimuthalIntegrator at the start geometry with the given wavelength (an incomplete
    :class:`StartGeometry` gives the detector at a placeholder geometry; the coarse stage sets it)."""
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from refine.io.poni import read_poni

    if isinstance(start, StartGeometry):
        if start.distance_mm is not None and not start.distance_mm > 0:
            raise InputError("distance", f"distance must be positive, got {start.distance_mm}")
        ai = AzimuthalIntegrator(detector=_detector(start, shape), wavelength=wavelength_m)
        if start.complete:
            ai.setFit2D(start.distance_mm, *start.center_px)
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


def _result(sg: Any, options: CalibrationOptions, calibrant: str | os.PathLike) -> CalibrationResult:
    gr = sg.geometry_refinement
    free = [p for p in PARAMETERS if p in options.refine]
    esd = lsq.esd(gr, free)
    rms_deg, rms_px = lsq.rms(gr)
    rings, counts = np.unique(gr.data[:, 2].astype(int), return_counts=True)
    return CalibrationResult(
        geometry={k: float(getattr(gr, k)) for k in PARAMETERS}, esd=esd, refined=tuple(free),
        points_per_ring={int(r): int(c) for r, c in zip(rings, counts, strict=True)}, rms_tth_deg=rms_deg,
        rms_px=rms_px, control_points=np.array(gr.data[:, :3]), ai=sg.get_ai(), calibrant=os.fspath(calibrant),
        residuals_px=lsq.residuals_px(gr)[1])


def _poor(result: CalibrationResult, options: CalibrationOptions, available: int) -> str | None:
    """Why a refinement is poor (None when it is good)."""
    if not result.rms_px <= options.max_rms_px:
        return f"RMS residual {result.rms_px:.2f} px exceeds {options.max_rms_px:g} px"
    if result.rings_used < min(3, available):
        return f"control points on {result.rings_used} ring(s) only, of {available} on the detector"
    return None


def _fit2d_starts(ai: Any, start: Any, data: np.ndarray, mask: np.ndarray, cal: Any,
                  options: CalibrationOptions) -> list[tuple[str, float, tuple[float, float], dict[str, float]]]:
    """Starts to try in order, each (label, directDist mm, centre px, PONI geometry or {} for Fit2D untilted):
    the given one (first when it is a tilted PONI), the coarse stage's, then the coarse centre at distances ±2, ±4 %
    and the coarse distance with the centre moved by 6 px."""
    from refine.integrate.coarse import coarse_geometry

    given: list = []
    tilted = False
    if not isinstance(start, StartGeometry) or start.complete:
        f2d = ai.getFit2D()
        tilted = not isinstance(start, StartGeometry) and max(abs(ai.rot1), abs(ai.rot2)) > 1e-3
        given = [("given", float(f2d["directDist"]), (float(f2d["centerX"]), float(f2d["centerY"])),
                  {k: float(getattr(ai, k)) for k in PARAMETERS[:6]})]
    tth = np.array([t for t in cal.get_2th() if t is not None])
    pixel = (float(ai.detector.pixel1), float(ai.detector.pixel2))
    try:
        coarse = coarse_geometry(data, ~mask, pixel, tth)
    except InputError:
        if not given:
            raise
        return given
    d, (x, y) = coarse.distance_mm, coarse.center_px
    found = [("coarse", d, (x, y), {})]
    if isinstance(start, StartGeometry) and not start.complete and (start.distance_mm or start.center_px):
        # half a guess: the given part with the coarse stage's other part
        found.append(("given + coarse", start.distance_mm or d, start.center_px or (x, y), {}))
    more = [(f"coarse, distance {f:+.0%}", d * (1 + f), (x, y), {}) for f in (-0.02, 0.02, -0.04, 0.04)]
    more += [(f"coarse, centre {dx:+d},{dy:+d} px", d, (x + dx, y + dy), {})
             for dx, dy in ((6, 0), (-6, 0), (0, 6), (0, -6))]
    ordered = given + found if tilted else found + given
    return (ordered + more)[: max(options.max_starts, len(ordered))]


def calibrate(image: np.ndarray, *, calibrant: str | os.PathLike, wavelength: float,
              start: str | os.PathLike | StartGeometry, options: CalibrationOptions | None = None,
              source: str | os.PathLike | None = None) -> CalibrationResult:
    """Refine the detector geometry on a calibrant image, from a rough start or none.

    A coarse stage (:mod:`refine.integrate.coarse`: beam centre from the rings' symmetry, distance from their
    radii) gives an untilted start; the least squares run from it (or first from a tilted PONI given), and from
    further starts while the result is poor (RMS residual above ``options.max_rms_px`` or fewer than 3 rings).
    The best result is returned; when every start was poor it carries a warning (``.converged`` False).

    Parameters
    ----------
    image
        2D calibrant image as read from its file (``options.flip`` is applied here).
    calibrant
        pyFAI calibrant name or d-spacing file.
    wavelength
        Wavelength in Å (fixed unless ``"wavelength"`` is in ``options.refine``).
    start
        PONI file or :class:`StartGeometry` (its distance and centre may be None: found from the image).
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
        Unknown calibrant or detector, shapes that disagree, no start with enough control points.
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
    mask = _mask(data, ai, options)
    detector.mask = mask.astype(np.int8)
    best: CalibrationResult | None = None
    best_why: str | None = None
    tried: list[dict[str, float]] = []
    errors: list[InputError] = []
    starts = _fit2d_starts(ai, start, data, mask, cal, options)
    cross = _cross_check(starts)
    best_label = ""
    for label, dist_mm, centre, poni in starts:
        if poni:
            ai.set_param([poni[k] for k in PARAMETERS[:6]])
        else:
            ai.setFit2D(dist_mm, *centre)
        geometry = {k: float(getattr(ai, k)) for k in PARAMETERS[:6]}
        sg = SingleGeometry("calibration", image=data, calibrant=load_calibrant(calibrant, wavelength_m),
                            detector=detector, geometry={**geometry, "wavelength": wavelength_m})
        sg.geometry_refinement.auto_gc = False  # pyFAI would gc.collect() on every parameter change
        # rings that fall on the detector at this start (with a 5 % margin for a poor start)
        tth_max = float(np.nanmax(ai.center_array(data.shape, unit="2th_rad", scale=False))) * 1.05
        available = sum(1 for t in cal.get_2th() if t is not None and t < tth_max)
        record = {"start": label, "distance_mm": dist_mm, "center_x": centre[0], "center_y": centre[1]}
        tried.append(record)
        if available == 0:
            errors.append(InputError(name, f"no ring of {calibrant} is reachable at {wavelength} Å"))
            continue
        try:
            lsq.refine_from(sg, options, available, name)
        except InputError as exc:
            errors.append(exc)
            continue
        result = _result(sg, options, calibrant)
        record.update(rms_px=result.rms_px, rings=result.rings_used)
        why = _poor(result, options, available)
        if best is None or _better(result, best):
            best, best_why, best_label = result, why, label
        cross.discard(label)
        if best_why is None and not cross:  # the best so far is good and both primary starts were tried
            break
    if best is None:
        raise errors[0]
    for record in tried:
        record["chosen"] = record["start"] == best_label
    warnings = () if best_why is None else (f"poor calibration from {len(tried)} start(s): {best_why}",)
    return dataclasses.replace(best, warnings=warnings, starts=tuple(tried))


def _cross_check(starts: list) -> set[str]:
    """{"coarse", "given"} when both starts exist and differ (centre by > 3 px or distance by > 1 %): both are
    refined and the better kept, so that neither a wrong guess nor a wrong coarse stage decides alone."""
    found = {label: (d, c) for label, d, c, _ in starts if label in ("coarse", "given")}
    if len(found) < 2:
        return set()
    (d1, c1), (d2, c2) = found["coarse"], found["given"]
    if abs(d1 / d2 - 1) > 0.01 or math.hypot(c1[0] - c2[0], c1[1] - c2[1]) > 3:
        return set(found)
    return set()


def _better(a: CalibrationResult, b: CalibrationResult) -> bool:
    """More rings wins when the RMS residuals are both sub-pixel, else the smaller RMS residual."""
    if a.rms_px < 1 and b.rms_px < 1 and a.rings_used != b.rings_used:
        return a.rings_used > b.rings_used
    return a.rms_px < b.rms_px


def ring_tth_deg(result: CalibrationResult) -> np.ndarray:
    """2θ (deg) of the calibrant rings at the refined wavelength."""
    cal = load_calibrant(result.calibrant, result.geometry["wavelength"])
    return np.degrees([t for t in cal.get_2th() if t is not None])


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
    rms_px_per_ring: dict[int, float] = field(default_factory=dict)


def calibration_view(result: CalibrationResult, image: np.ndarray,
                     options: CalibrationOptions | None = None) -> CalibrationView:
    """The figure's data for an image as read from its file."""
    options = options or CalibrationOptions()
    data = flip_image(np.asarray(image, dtype=np.float32), options.flip)
    tth = np.degrees(result.ai.center_array(data.shape, unit="2th_rad", scale=False))
    title = (f"{result.calibrant}: RMS {result.rms_tth_deg:.4f} deg = {result.rms_px:.2f} px on "
             f"{result.rings_used} rings,  λ = {result.ai.wavelength * 1e10:.6g} Å"
             + ("  [POOR]" if result.warnings else ""))
    return CalibrationView(image=data, tth_deg=tth, control_points=result.control_points,
                           rings_deg=np.asarray(ring_tth_deg(result)), mask=_mask(data, result.ai, options),
                           title=title, rms_px_per_ring=result.rms_px_per_ring())
