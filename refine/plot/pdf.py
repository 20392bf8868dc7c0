"""PDF fit figure: observed/calculated/difference G(r) with each phase's contribution, and partial PDFs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from refine.notation import format_percent

if TYPE_CHECKING:  # pragma: no cover
    from refine.fit.result import FitResult


def plot_pdf_fit(result: FitResult, path: str | os.PathLike, *,
                 partials: Mapping[str, np.ndarray] | None = None, title: str | None = None) -> Path:
    """Write :func:`pdf_fit_figure` to ``path``; returns the path written."""
    from refine.plot.figures import save_figure

    return save_figure(pdf_fit_figure(result, partials=partials, title=title), path)


def pdf_fit_figure(result: FitResult, *, partials: Mapping[str, np.ndarray] | None = None, title: str | None = None):
    """The figure of a PDF fit (a :class:`matplotlib.figure.Figure`, made without pyplot). Top: G(r) observed
    (points), calculated, each phase (offset below), difference.  Bottom (when ``partials`` is given, curves on
    the same r grid): the partial PDFs."""
    from refine.plot.figures import new_figure

    if not result.curves:
        raise ValueError("the result has no curves to plot")
    name, c = next(iter(result.curves.items()))
    rows = 2 if partials else 1
    fig = new_figure(figsize=(9, 4.5 * rows))
    axes = fig.subplots(rows, 1, squeeze=False, sharex=True)
    ax = axes[0, 0]
    m = c.mask
    span = float(np.ptp(c.observed[m])) or 1.0
    ax.plot(c.x, c.observed, ".", ms=2, color="k", label="observed")
    ax.plot(c.x, c.calculated, "-", lw=1, color="tab:red", label="calculated")
    low = float(np.min(c.observed[m]))
    for i, (comp, y) in enumerate(c.components.items()):
        off = low - (0.3 + 0.5 * i) * span / 2
        ax.plot(c.x, y + off, "-", lw=0.8, label=f"{comp} (offset)")
        low = min(low, off + float(np.min(y[m])))
    diff = c.observed - c.calculated
    off = low - 0.1 * span - float(np.max(diff[m]))
    ax.plot(c.x, diff + off, "-", lw=0.8, color="0.25", label="difference (offset)")
    ax.axhline(off, color="0.6", lw=0.5)
    s = result.dataset_statistics.get(name, result.statistics)
    flag = "" if result.converged else "  (NOT converged)"
    ax.set_title(f"{title or 'PDF fit'}  Rw = {format_percent(s.Rw)}{flag}", fontsize=10)
    ax.set_ylabel("G(r) (Å$^{-2}$)")
    ax.legend(fontsize=8, loc="upper right")
    if partials:
        bx = axes[1, 0]
        for label, y in partials.items():
            bx.plot(c.x, y, "-", lw=0.8, label=label)
        bx.set_ylabel("partial G(r) (Å$^{-2}$)")
        bx.legend(fontsize=7, loc="upper right", ncol=2)
    axes[-1, 0].set_xlabel("r (Å)")
    fig.tight_layout()
    return fig


def plot_reduction(result, path: str | os.PathLike) -> Path:
    """Write :func:`reduction_figure` to ``path``; returns the path written."""
    from refine.plot.figures import save_figure

    return save_figure(reduction_figure(result), path)


def reduction_figure(result):
    """I(Q), S(Q), F(Q) and G(r) of a :class:`~refine.pdf.reduce.ReductionResult` in one figure (a
    :class:`matplotlib.figure.Figure`, made without pyplot)."""
    from refine.plot.figures import new_figure

    fig = new_figure(figsize=(8, 11))
    axes = fig.subplots(4, 1)
    panels = ((result.iq, "I(Q) (background subtracted)", "Q (Å$^{-1}$)"), (result.sq, "S(Q)", "Q (Å$^{-1}$)"),
              (result.fq, "F(Q) (Å$^{-1}$)", "Q (Å$^{-1}$)"), (result.gr, "G(r) (Å$^{-2}$)", "r (Å)"))
    for ax, (pat, label, xlabel) in zip(axes, panels, strict=True):
        ax.plot(pat.x, pat.y, lw=0.8)
        ax.set_ylabel(label)
        ax.set_xlabel(xlabel)
    axes[0].set_title(f"{Path(str(result.settings.get('input', ''))).name.split(' ')[0]}  "
                      f"{result.settings['composition']}  qmax={result.settings['qmax']:g}")
    fig.tight_layout()
    return fig


def plot_difference(a, b, delta, path: str | os.PathLike) -> Path:
    """G_A and G_B (top) and the differential ΔG = G_B − G_A (bottom, with ±dG where known)."""
    from refine.plot.figures import new_figure, save_figure

    fig = new_figure(figsize=(8, 7))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    lo, hi = delta.x[0], delta.x[-1]
    for curve, tag in ((a, "A"), (b, "B")):
        keep = (curve.x >= lo) & (curve.x <= hi)
        top.plot(curve.x[keep], curve.y[keep], lw=0.8, label=f"{tag}: {Path(curve.source or tag).name}")
    top.set_ylabel("G(r) (Å$^{-2}$)")
    top.legend(loc="upper right", fontsize=8)
    bottom.plot(delta.x, delta.y, lw=0.8, color="k")
    if delta.has_sigma:
        bottom.fill_between(delta.x, delta.y - delta.sigma, delta.y + delta.sigma, color="0.7", lw=0)
    bottom.axhline(0.0, color="0.5", lw=0.5)
    bottom.set_ylabel("ΔG = G$_B$ − G$_A$")
    bottom.set_xlabel("r (Å)")
    top.set_xlim(delta.x[0], delta.x[-1])
    return save_figure(fig, path)
