"""Figures. The only place matplotlib is imported, always lazily; figures are drawn by the Agg canvas without
pyplot, so the caller's matplotlib backend is never switched."""

from refine.plot.figures import plot_fit, plot_pattern

__all__ = ["plot_fit", "plot_pattern"]
