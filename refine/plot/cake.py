"""Figure of a 2D cake (radial × χ) from ``refine integrate --cake``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from refine.integrate.cake import Cake
from refine.plot.figures import new_figure, save_figure


def plot_cake(cake: Cake, path: str | os.PathLike, title: str = "") -> Path:
    """The cake as an image: radial unit across, χ up, log colour scale."""
    from matplotlib.colors import LogNorm

    fig = new_figure(figsize=(8, 5))
    ax = fig.subplots()
    shown = np.ma.masked_where(~np.isfinite(cake.intensity) | (cake.count <= 0) | (cake.intensity <= 0),
                               cake.intensity)
    values = shown.compressed()
    norm = LogNorm(*np.percentile(values, [1, 99.9])) if values.size else None
    mesh = ax.pcolormesh(cake.radial, cake.chi, shown, shading="nearest", cmap="viridis", norm=norm)
    fig.colorbar(mesh, ax=ax, label="intensity")
    ax.set_xlabel({"2th_deg": "2θ (deg)", "q_A^-1": "Q (Å⁻¹)"}.get(cake.unit, cake.unit))
    ax.set_ylabel("χ (deg, pyFAI: 0 = +columns, +90 = +rows)")
    ax.set_title(title or "cake", fontsize=10)
    return save_figure(fig, path)
