"""Automatic and drawn detector masks (``True`` = excluded, pyFAI's nonzero-is-masked convention).

* :func:`detector_mask`: module gaps and dead areas from pyFAI's detector definitions (``Pilatus1M`` ...).
* :func:`invalid_pixels`: non-finite, negative (a Pilatus writes -1/-2 in its gaps) and overflowing pixels.
* :func:`hot_dead_pixels`: isolated outliers against a 3×3 median filter. A pixel is hot when it exceeds the
  local median by ``nsigma`` Poisson σ *and* the brightest of its 8 neighbours by as much (a pixel on a sharp
  ring has ring neighbours as bright, and stays); dead likewise below the median and the dimmest neighbour.
* :func:`polygon_mask`: pixels whose centre (column + ½, row + ½) lies inside a polygon (beam stop, shadows).

Sigma-clipping of azimuthal outliers (spots on rings) is done during integration by pyFAI's ``sigma_clip_ng``
(:class:`refine.integrate.IntegrationSettings` ``sigma_clip``). Reading and writing masks (Dioptas ``.mask``
TIFF, pyFAI EDF, ``.npy``): :mod:`refine.io.masks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from refine.errors import InputError


def named_detector(name: str):
    """pyFAI's detector of that name (InputError naming ``detector`` when pyFAI does not know it)."""
    from pyFAI.detectors import detector_factory

    try:
        return detector_factory(name)
    except Exception:
        raise InputError("detector", f"unknown pyFAI detector {name!r} (e.g. Pilatus1M, Eiger2_4M, Perkin)") from None


def detector_mask(name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Gaps and invalid areas of a pyFAI detector (all False for a detector without any)."""
    detector = named_detector(name)
    own = detector.mask
    det_shape = tuple(detector.shape) if detector.shape is not None else shape
    if shape is not None and det_shape is not None and tuple(shape) != tuple(det_shape):
        raise InputError("detector", f"{name} has shape {tuple(det_shape)}, the image {tuple(shape)}")
    if own is None:
        if det_shape is None:
            raise InputError("detector", f"{name} has no fixed shape: give the image shape")
        return np.zeros(det_shape, dtype=bool)
    return np.asarray(own) != 0


def overflow_value(dtype: np.dtype) -> float | None:
    """The saturation value of an integer image type (its maximum), None for floats."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "iu" else None


def invalid_pixels(image: np.ndarray, overflow: float | None = None) -> np.ndarray:
    """Non-finite, negative and overflowing pixels (``overflow``: counts at or above it; None: the maximum of an
    integer image type, nothing for floats)."""
    data = np.asarray(image)
    limit = overflow if overflow is not None else overflow_value(data.dtype)
    values = data.astype(np.float64, copy=False)
    bad = ~np.isfinite(values) | (values < 0)
    if limit is not None:
        bad |= values >= limit
    return bad


def hot_dead_pixels(image: np.ndarray, nsigma: float = 8.0, valid: np.ndarray | None = None) -> np.ndarray:
    """Isolated hot and dead pixels (see the module docstring); ``valid`` False pixels are ignored (and never
    flagged)."""
    from scipy import ndimage

    data = np.asarray(image, dtype=np.float64)
    ok = np.isfinite(data) if valid is None else (np.asarray(valid, bool) & np.isfinite(data))
    if not ok.any():
        return np.zeros(data.shape, dtype=bool)
    # invalid pixels enter the median as the image's median (the neighbour tests below ignore them)
    med = ndimage.median_filter(np.where(ok, data, float(np.median(data[ok]))), size=3, mode="nearest")
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    high = ndimage.maximum_filter(np.where(ok, data, -np.inf), footprint=ring, mode="nearest")
    low = ndimage.minimum_filter(np.where(ok, data, np.inf), footprint=ring, mode="nearest")
    with np.errstate(invalid="ignore"):
        sigma_med = np.sqrt(np.clip(med, 1.0, None))
        hot = (data - med > nsigma * sigma_med) & (data - high > nsigma * np.sqrt(np.clip(high, 1.0, None)))
        dead = (med - data > nsigma * sigma_med) & (low - data > nsigma * np.sqrt(np.clip(low, 1.0, None)))
    return ok & np.nan_to_num(hot | dead, nan=False).astype(bool)


def polygon_mask(shape: tuple[int, int], vertices: Sequence[tuple[float, float]]) -> np.ndarray:
    """Pixels whose centre lies inside the polygon of (x = column, y = row) vertices, in pixel units with pixel
    (r, c) spanning c … c+1, r … r+1 (the calibration's Fit2D convention)."""
    from matplotlib.path import Path

    points = np.asarray(vertices, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3 or not np.all(np.isfinite(points)):
        raise InputError("polygon", f"need at least 3 finite (x, y) vertices, got {vertices!r}")
    rows, cols = np.indices(shape)
    centres = np.column_stack([cols.ravel() + 0.5, rows.ravel() + 0.5])
    return Path(points).contains_points(centres).reshape(shape)


def parse_polygon(text: str) -> tuple[tuple[float, float], ...]:
    """``"x,y x,y x,y ..."`` (or ``;``-separated) -> vertices."""
    items = [p for p in text.replace(";", " ").split() if p]
    try:
        vertices = tuple((float(a), float(b)) for a, b in (item.split(",") for item in items))
    except ValueError:
        raise InputError("polygon", f"expected 'x,y x,y x,y ...' in pixels, got {text!r}") from None
    if len(vertices) < 3:
        raise InputError("polygon", f"need at least 3 vertices, got {len(vertices)}")
    return vertices


@dataclass(frozen=True)
class MaskRecipe:
    """What goes into a mask (:func:`build_mask`); every part is optional, the union is the mask.

    Parameters
    ----------
    detector
        pyFAI detector name: its gaps.
    invalid
        Non-finite, negative and overflowing pixels of the image.
    hot_dead
        σ threshold of :func:`hot_dead_pixels` on the image (None: not applied).
    polygons
        Polygons of (x, y) vertices in pixels of the image file.
    combine
        Mask files (Dioptas, pyFAI, ``.npy``) to add.
    """

    detector: str | None = None
    invalid: bool = False
    hot_dead: float | None = None
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    combine: tuple[str, ...] = ()


def build_mask(recipe: MaskRecipe, image: np.ndarray | None = None, shape: tuple[int, int] | None = None
               ) -> tuple[np.ndarray, dict[str, int]]:
    """The union of the recipe's parts and the number of pixels each part masks.

    ``image`` (as read from its file) is needed for ``invalid`` and ``hot_dead``; the shape comes from the image,
    else ``shape``, else the detector or the first mask combined.
    """
    from refine.io.masks import read_mask

    if image is not None:
        shape = tuple(np.shape(image))
    parts: dict[str, np.ndarray] = {}
    if recipe.detector is not None:
        parts["detector"] = detector_mask(recipe.detector, shape)
        shape = parts["detector"].shape
    for path in recipe.combine:
        parts[f"file {path}"] = read_mask(path, shape)
        shape = parts[f"file {path}"].shape
    if (recipe.invalid or recipe.hot_dead is not None) and image is None:
        raise InputError("image", "invalid and hot/dead pixels are found on an image: give one")
    if recipe.invalid:
        parts["invalid"] = invalid_pixels(image)
    if recipe.hot_dead is not None:
        known = np.logical_or.reduce(list(parts.values())) if parts else None
        parts["hot/dead"] = hot_dead_pixels(image, recipe.hot_dead, None if known is None else ~known)
    if shape is None:
        raise InputError("shape", "no image, detector or mask gives the mask's shape")
    for k, vertices in enumerate(recipe.polygons):
        parts[f"polygon {k + 1}"] = polygon_mask(shape, vertices)
    mask = np.zeros(shape, dtype=bool)
    for part in parts.values():
        mask |= part
    return mask, {name: int(np.count_nonzero(part)) for name, part in parts.items()}
