"""Figures. The only place matplotlib is imported, always lazily and with the Agg backend."""

from refine.plot.figures import plot_fit, plot_pattern

__all__ = ["plot_fit", "plot_pattern"]
