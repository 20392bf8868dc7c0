"""Calibration figure: the calibrant image (log scale), its control points and the rings of the refined geometry."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from refine.integrate.calibrate import CalibrationOptions, calibration_view
from refine.integrate.calibration_result import CalibrationResult
from refine.plot.figures import new_figure, save_figure


def plot_result(result: CalibrationResult, image: np.ndarray, path: str | os.PathLike,
                options: CalibrationOptions | None = None) -> Path:
    """Write the calibration figure for an image as read from its file (see
    :func:`refine.integrate.calibrate.calibration_view`)."""
    view = calibration_view(result, image, options)
    return plot_calibration(view.image, view.tth_deg, view.control_points, view.rings_deg, path, mask=view.mask,
                            title=view.title, rms_per_ring=view.rms_px_per_ring)


def plot_calibration(image: np.ndarray, tth_deg: np.ndarray, control_points: np.ndarray,
                     ring_tth_deg: Sequence[float], path: str | os.PathLike, *, mask: np.ndarray | None = None,
                     title: str | None = None, rms_per_ring: dict[int, float] | None = None) -> Path:
    """Image on a log colour scale with the control points (coloured by ring) and the calibrant's rings; below it
    the RMS residual (px) of each ring's control points when ``rms_per_ring`` is given.

    Parameters
    ----------
    image
        The calibrant image as calibrated (flip applied).
    tth_deg
        2θ (deg) of every pixel at the refined geometry; the rings are its contours at ``ring_tth_deg``.
    control_points
        (N, 3): row, column, ring index.
    ring_tth_deg
        Calibrant ring positions (deg).
    path
        PNG to write.
    mask
        Pixels to grey out (nonzero = masked).
    title
        Figure title.
    rms_per_ring
        Ring index (0 = first) -> RMS radial residual (px) of its control points.

    Returns
    -------
    Path
        The path written.
    """
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import MaxNLocator

    data = np.asarray(image, dtype=float)
    shown = np.ma.masked_where(~np.isfinite(data) | (data <= 0) | (mask != 0 if mask is not None else False), data)
    positive = shown.compressed()
    aspect = data.shape[0] / max(data.shape[1], 1)
    if rms_per_ring:
        fig = new_figure(figsize=(8, 8 * aspect + 2.5))
        ax, ax_res = fig.subplots(2, 1, gridspec_kw={"height_ratios": [8 * aspect, 2]})
        rings = sorted(rms_per_ring)
        ax_res.bar([r + 1 for r in rings], [rms_per_ring[r] for r in rings], color="tab:blue")
        ax_res.set_xlabel("ring (1 = first calibrant ring)")
        ax_res.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_res.set_ylabel("RMS residual (px)")
    else:
        fig = new_figure(figsize=(8, 8 * aspect + 0.5))
        ax = fig.subplots()
    if positive.size:
        lo, hi = np.percentile(positive, [1, 99.9])
        ax.imshow(shown, origin="lower", cmap="gray_r", norm=LogNorm(vmin=max(lo, 1e-6), vmax=max(hi, lo * 10)),
                  interpolation="nearest")
    levels = sorted(t for t in ring_tth_deg if np.nanmin(tth_deg) < t < np.nanmax(tth_deg))
    if levels:
        ax.contour(tth_deg, levels=levels, colors="tab:red", linewidths=0.6)
    if len(control_points):
        cp = np.asarray(control_points)
        ax.scatter(cp[:, 1], cp[:, 0], c=cp[:, 2], s=4, cmap="viridis", label="control points")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlabel("column (pixel)")
    ax.set_ylabel("row (pixel)")
    ax.set_xlim(-0.5, data.shape[1] - 0.5)
    ax.set_ylim(-0.5, data.shape[0] - 0.5)
    ax.set_title(title or "calibration", fontsize=10)
    return save_figure(fig, path)
