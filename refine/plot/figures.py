"""Observed/calculated/difference figures and plain pattern plots, written to files."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from refine.notation import format_percent

if TYPE_CHECKING:  # pragma: no cover
    from refine.data import Pattern
    from refine.fit.result import FitResult

_XLABELS = {"2th_deg": "2θ (deg)", "q_A^-1": "Q (Å$^{-1}$)", "d_A": "d (Å)", "r_A": "r (Å)"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Lay out, write atomically (creating the folder) and close a figure; returns the path. The format follows
    the suffix (PNG without one); a PNG carries ``Software: refine VERSION`` (refine.io.outputs)."""
    from refine import __version__
    from refine.errors import InputError
    from refine.io.atomic import atomic_open
    from refine.io.outputs import PNG_SOFTWARE

    plt = _pyplot()
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    try:
        if fmt not in fig.canvas.get_supported_filetypes():
            raise InputError(path, f"unknown figure format {fmt!r}; use one of "
                                   f"{', '.join(sorted(fig.canvas.get_supported_filetypes()))}")
        fig.tight_layout()
        meta = ({"Software": f"{PNG_SOFTWARE} {__version__}"} if fmt == "png" else
                {"Creator": f"refine {__version__}"} if fmt in ("pdf", "svg", "svgz", "eps", "ps") else None)
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=120, metadata=meta)
    finally:
        plt.close(fig)
    return path


def _masked_spans(x: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    spans, start = [], None
    for xi, m in zip(x, mask, strict=True):
        if not m and start is None:
            start = xi
        elif m and start is not None:
            spans.append((start, xi))
            start = None
    if start is not None:
        spans.append((start, x[-1]))
    return spans


def plot_fit(result: FitResult, path: str | os.PathLike, *,
             ticks: Mapping[str, Sequence[float]] | None = None, title: str | None = None) -> Path:
    """One panel per dataset: observed (points), calculated, components, difference below, tick marks per
    phase, excluded regions shaded. Returns the path written."""
    plt = _pyplot()
    curves = list(result.curves.items())
    fig, axes = plt.subplots(len(curves), 1, figsize=(9, 4.5 * len(curves)), squeeze=False)
    for ax, (name, c) in zip(axes[:, 0], curves, strict=True):
        ax.plot(c.x, c.observed, ".", ms=2, color="k", label="observed")
        ax.plot(c.x, c.calculated, "-", lw=1, color="tab:red", label="calculated")
        for comp, y in c.components.items():
            ax.plot(c.x, y, "-", lw=0.8, label=comp)
        diff = c.observed - c.calculated
        span = np.ptp(c.observed[c.mask]) if c.mask.any() else 1.0
        offset = np.min(c.observed[c.mask]) - 0.15 * span - np.max(diff[c.mask])
        ax.plot(c.x, diff + offset, "-", lw=0.8, color="0.35", label="difference")
        for lo, hi in _masked_spans(c.x, c.mask):
            ax.axvspan(lo, hi, color="0.85", zorder=0)
        for i, (phase, pos) in enumerate((ticks or {}).items()):
            y0 = offset - (i + 1) * 0.06 * span
            ax.plot(pos, np.full(len(pos), y0), "|", ms=8, label=f"{phase} reflections")
        if c.mask.any():  # show the fitted range (exclusions inside it stay visible, shaded)
            ax.set_xlim(c.x[c.mask].min(), c.x[c.mask].max())
        ax.set_xlabel(_XLABELS.get(c.unit, c.unit))
        ax.set_ylabel("G(r)" if c.unit == "r_A" else "intensity")
        s = result.dataset_statistics.get(name, result.statistics)
        label = (f"Rw = {format_percent(s.Rw)}" if s.Rw is not None
                 else f"Rwp = {format_percent(s.Rwp)}, GOF = {s.GOF:.3g}")
        ax.set_title(f"{title or result.kind}: {name}  ({label})", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    return save_figure(fig, path)


def plot_pattern(patterns: Sequence[Pattern], path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Overlay of one or more patterns (same unit) in one figure."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for p in patterns:
        ax.plot(p.x, p.y, lw=0.8, label=Path(p.source).name if p.source else None)
    unit = patterns[0].unit if patterns else "2th_deg"
    ax.set_xlabel(_XLABELS.get(unit, unit))
    ax.set_ylabel("G(r)" if unit == "r_A" else "intensity")
    if title:
        ax.set_title(title)
    if any(p.source for p in patterns):
        ax.legend(fontsize=8)
    return save_figure(fig, path)
