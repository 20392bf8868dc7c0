"""Coarse geometry from a calibrant image alone: beam centre from the rings' symmetry, distance from the radii.

The least-squares refinement (:mod:`refine.integrate.calibrate`) picks control points in a band of ±¼ ring
spacing around each ring of the start geometry; a start 5 % off in distance puts the first CeO2 rings outside
their bands and the refinement then converges on the wrong rings. This stage gives it a start within a few
pixels and a few tenths of a percent, from no guess at all:

* **Beam centre**: the pixels on rings (the brightest tenth of a median-filter high-pass of a binned image)
  are histogrammed in radius about a trial centre; the histogram is sharpest (largest Σ hᵢ², a Hough-style
  ring-centre vote) when the trial centre is the rings' centre. Grid search, coarse to fine (8, 4, 2 px bins).
* **Distance**: the azimuthally averaged radial profile about that centre is compared with the calibrant's ring
  radii D·tan 2θⱼ / pixel for trial distances D over 10 mm … 5 m (log steps of 0.05 %): the score is the summed
  background-subtracted profile at the predicted radii over √(rings predicted), so extra predicted rings with
  no intensity are penalised. The best D is the direct-beam distance of an untilted detector.

Tilts are left at zero; the refinement frees them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refine.errors import InputError


@dataclass(frozen=True)
class CoarseGeometry:
    """The coarse stage's answer (Fit2D convention: centre in pixels, x = column, y = row; distance in mm).

    Attributes
    ----------
    center_px
        Beam centre (x, y) in pixels (pixel i spans i … i+1).
    distance_mm
        Direct-beam distance (mm), detector assumed untilted.
    score
        Normalised ring-match score of the distance (0 … 1; above 0.3 is a clear match).
    ring_radii_px
        Radii (px) of the calibrant rings predicted at that distance that fall on the image.
    """

    center_px: tuple[float, float]
    distance_mm: float
    score: float
    ring_radii_px: tuple[float, ...]


def _binned(image: np.ndarray, valid: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of b×b blocks and a mask of the blocks with no invalid pixel."""
    h, w = (image.shape[0] // b) * b, (image.shape[1] // b) * b
    total = np.where(valid, image, 0.0)[:h, :w].reshape(h // b, b, w // b, b).sum(axis=(1, 3))
    count = valid[:h, :w].reshape(h // b, b, w // b, b).sum(axis=(1, 3))
    full = count == b * b
    return np.where(full, total / np.maximum(count, 1), 0.0), full


def _ring_pixels(image: np.ndarray, valid: np.ndarray, b: int, fraction: float = 0.1
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns (full-image pixels, centres) and weights of the binned pixels that stand out of their
    neighbourhood most (the top ``fraction`` of image − median filter)."""
    from scipy import ndimage

    x, full = _binned(image, valid, b)
    if np.count_nonzero(full) < 16:
        return np.empty(0), np.empty(0), np.empty(0)
    high = np.where(full, np.clip(x - ndimage.median_filter(x, size=7), 0.0, None), 0.0)
    threshold = np.quantile(high[full], 1.0 - fraction)
    chosen = full & (high > threshold)
    rows, cols = np.nonzero(chosen)
    return (rows + 0.5) * b, (cols + 0.5) * b, np.sqrt(high[chosen])


def _vote(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, centre: tuple[float, float],
          width: float) -> float:
    """Σ h² / (Σ w)² of the weighted radius histogram (bins of ``width`` px) about ``centre`` (row, col)."""
    radius = np.hypot(rows - centre[0], cols - centre[1])
    hist = np.bincount((radius / width).astype(np.intp), weights)
    return float(np.sum(hist**2) / np.sum(weights) ** 2)


def beam_centre(image: np.ndarray, valid: np.ndarray, guess: tuple[float, float] | None = None
                ) -> tuple[float, float]:
    """Centre (row, col; pixel units, pixel i spans i … i+1) of the image's rings.

    Parameters
    ----------
    image
        The calibrant image (as calibrated: flipped already).
    valid
        Pixels to use (False for gaps, masked pixels).
    guess
        (row, col) to search around (± a quarter of the image); None: the whole image and 20 % beyond.
    """
    rows_n, cols_n = image.shape
    if guess is None:
        centre, half = (rows_n / 2, cols_n / 2), 0.7 * max(rows_n, cols_n)
    else:
        centre, half = guess, 0.25 * max(rows_n, cols_n)
    # (binning, grid step, histogram width) per level: each level searches ±1.5 steps of the previous one
    for b, step in ((8, 16.0), (4, 4.0), (2, 1.0)):
        rows, cols, w = _ring_pixels(image, valid, b)
        if rows.size == 0:
            raise InputError("image", "too few valid pixels to find the beam centre")
        offsets = np.arange(-half, half + step / 2, step)
        best = max(((_vote(rows, cols, w, (centre[0] + dy, centre[1] + dx), b), (centre[0] + dy, centre[1] + dx))
                    for dy in offsets for dx in offsets), key=lambda item: item[0])
        centre, half = best[1], 1.5 * step
    return float(centre[0]), float(centre[1])


def radial_profile(image: np.ndarray, valid: np.ndarray, centre: tuple[float, float], pixel: tuple[float, float]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Background-subtracted mean intensity in 1-pixel radius bins about ``centre`` (row, col) and the bin radii
    in metres (pixel = (row size, column size) in m; bins with fewer than 20 pixels are 0)."""
    from scipy import ndimage

    rows, cols = np.indices(image.shape)
    dy = (rows + 0.5 - centre[0]) * pixel[0]
    dx = (cols + 0.5 - centre[1]) * pixel[1]
    step = min(pixel)
    index = (np.hypot(dy, dx)[valid] / step).astype(np.intp)
    count = np.bincount(index)
    mean = np.bincount(index, image[valid].astype(float)) / np.maximum(count, 1)
    mean = np.where(count >= 20, mean, 0.0)
    signal = np.clip(mean - ndimage.median_filter(mean, size=25), 0.0, None)
    signal[count < 20] = 0.0
    return signal, (np.arange(signal.size) + 0.5) * step


def ring_distance(signal: np.ndarray, radius_m: np.ndarray, tth_rad: np.ndarray,
                  search_mm: tuple[float, float] = (10.0, 5000.0)) -> tuple[float, float]:
    """Direct-beam distance (mm) whose ring radii D·tan 2θ best match the radial profile, and its score.

    The profile is smoothed (σ = 1.5 bins) and its square root normalised; the score of D is
    Σⱼ s(rⱼ) / √nⱼ over the nⱼ rings predicted inside the profile (and beyond its first 10 bins)."""
    from scipy import ndimage

    s = np.sqrt(ndimage.gaussian_filter1d(signal, 1.5))
    norm = float(np.max(s)) if s.size else 0.0
    if norm <= 0:
        return float("nan"), 0.0
    s = s / norm
    tan = np.tan(np.asarray(tth_rad, dtype=float))
    tan = tan[np.isfinite(tan) & (tan > 0)]
    trial = np.exp(np.arange(np.log(search_mm[0] * 1e-3), np.log(search_mm[1] * 1e-3), 5e-4))
    radii = trial[:, None] * tan[None, :]  # m
    step = radius_m[1] - radius_m[0] if radius_m.size > 1 else 1.0
    index = radii / step - 0.5
    inside = (index > 10) & (index < s.size - 1)
    values = np.where(inside, np.interp(np.where(inside, index, 0.0), np.arange(s.size), s), 0.0)
    n = inside.sum(axis=1)
    score = np.where(n >= 2, values.sum(axis=1) / np.sqrt(np.maximum(n, 1)), 0.0)
    best = int(np.argmax(score))
    return float(trial[best] * 1e3), float(score[best] / np.sqrt(max(int(n[best]), 1)))


def coarse_geometry(image: np.ndarray, valid: np.ndarray, pixel: tuple[float, float], tth_rad: np.ndarray,
                    guess_center_px: tuple[float, float] | None = None) -> CoarseGeometry:
    """Beam centre and distance of an untilted detector from the image and the calibrant's 2θ (rad) alone.

    Parameters
    ----------
    image, valid
        The image as calibrated and its usable pixels.
    pixel
        Pixel size (row, column) in metres.
    tth_rad
        The calibrant's ring positions at the wavelength.
    guess_center_px
        Beam centre (x, y) px to search around; None searches the whole image.
    """
    guess = None if guess_center_px is None else (guess_center_px[1], guess_center_px[0])
    row, col = beam_centre(image, valid, guess)
    signal, radius = radial_profile(image, valid, (row, col), pixel)
    distance, score = ring_distance(signal, radius, tth_rad)
    if not np.isfinite(distance):
        raise InputError("image", "no ring found in the radial profile about the beam centre")
    radii = distance * 1e-3 * np.tan(np.asarray(tth_rad, dtype=float)) / min(pixel)
    return CoarseGeometry(center_px=(col, row), distance_mm=distance, score=score,
                          ring_radii_px=tuple(float(r) for r in radii if r < radius[-1] / min(pixel)))
