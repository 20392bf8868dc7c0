"""Figure of a calculated G(r) (``refine pdf calc --plot``): the total on top, the element-pair partials below."""

from __future__ import annotations

import os
from pathlib import Path


def pdf_calc_figure(result):
    """Total G(r) and partials of a :class:`~refine.pdf.pdf_calc.PDFCalcResult` (a Figure made without pyplot)."""
    from refine.plot.figures import new_figure

    fig = new_figure(figsize=(9, 8))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(result.r, result.G, lw=0.9, color="k")
    frames = f", {result.frames} frames ({result.frame_range})" if result.frame_range else ""
    top.set_title(f"{Path(result.source).name}: {result.natoms} atoms{frames}", fontsize=10)
    top.set_ylabel("G(r) (Å$^{-2}$)")
    for name, curve in result.partials.items():
        bottom.plot(result.r, curve, lw=0.8, label=name)
    bottom.set_ylabel("partial G(r) (Å$^{-2}$)")
    bottom.set_xlabel("r (Å)")
    if result.partials:
        bottom.legend(fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    return fig


def plot_pdf_calc(result, path: str | os.PathLike) -> Path:
    """Write :func:`pdf_calc_figure` to ``path``; returns the path written."""
    from refine.plot.figures import save_figure

    return save_figure(pdf_calc_figure(result), path)
