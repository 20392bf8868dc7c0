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


def new_figure(**kwargs):
    """A matplotlib Figure drawn by the Agg canvas, made without pyplot: the caller's backend (a notebook's inline
    one, an interactive session's) is never switched and no pyplot figure is left open."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Lay out and write a figure atomically (creating the folder); returns the path. The format follows the
    suffix (PNG without one); a PNG carries ``Software: refine VERSION`` (refine.io.outputs). Figures come from
    :func:`new_figure` (no pyplot), so there is nothing to close."""
    from refine import __version__
    from refine.errors import InputError
    from refine.io.atomic import atomic_open
    from refine.io.outputs import PNG_SOFTWARE

    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    if fmt not in fig.canvas.get_supported_filetypes():
        raise InputError(path, f"unknown figure format {fmt!r}; use one of "
                               f"{', '.join(sorted(fig.canvas.get_supported_filetypes()))}")
    fig.tight_layout()
    meta = ({"Software": f"{PNG_SOFTWARE} {__version__}"} if fmt == "png" else
            {"Creator": f"refine {__version__}"} if fmt in ("pdf", "svg", "svgz", "eps", "ps") else None)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=120, metadata=meta)
    return path


def axis_label(unit: str, wavelength: float | None = None) -> str:
    """The x-axis label of ``unit``; a 2θ axis also names the wavelength (λ unknown when not given)."""
    label = _XLABELS.get(unit, unit)
    if unit != "2th_deg":
        return label
    return f"{label},  λ = {wavelength:.6g} Å" if wavelength else f"{label},  λ unknown"


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


def _hkl_text(hkl) -> str:
    """'111', '2-20'; indices separated by spaces when one has two digits ('1 10 2')."""
    parts = [str(int(v)) for v in hkl]
    return (" " if any(abs(int(v)) > 9 for v in hkl) else "").join(parts)


def _panel_tables(tables: Sequence, name: str, unit: str) -> list:
    """The reflection tables drawn on one panel: its dataset's, or (single-pattern fits) every 2θ panel's."""
    return [t for t in tables if t.dataset == name or (t.dataset is None and unit == "2th_deg")]


def _label_lines(ax, tables: Sequence, colors: Sequence, c, count: int, span: float) -> None:
    """Label the ``count`` strongest lines of each table with hkl above the calculated curve; labels of lines
    closer than 1.1 % of the x range (about one label width) are merged ('200/002')."""
    x_range = float(np.ptp(c.x[c.mask])) if c.mask.any() else float(np.ptp(c.x))
    top = -np.inf
    for table, color in zip(tables, colors, strict=True):
        idx = sorted(table.strongest(count), key=lambda i: table.two_theta[i])
        groups: list[list[int]] = []
        for i in idx:
            if groups and table.two_theta[i] - table.two_theta[groups[-1][-1]] < 0.011 * x_range:
                groups[-1].append(i)
            else:
                groups.append([i])
        for group in groups:
            x = float(np.mean(table.two_theta[group]))
            y = float(np.interp(x, c.x, np.maximum(c.calculated, c.observed))) + 0.03 * span
            ax.text(x, y, "/".join(_hkl_text(table.hkl[i]) for i in group), rotation=90, fontsize=6, ha="center",
                    va="bottom", color=color, clip_on=True)
            top = max(top, y)
    if np.isfinite(top):
        ax.set_ylim(top=max(ax.get_ylim()[1], top + 0.12 * span))


def _wavelength_of(name: str, wavelength: float | Mapping[str, float] | None, tables: Sequence) -> float | None:
    if isinstance(wavelength, Mapping):
        wavelength = wavelength.get(name)
    if wavelength is not None:
        return float(wavelength)
    return next((float(t.wavelength) for t in tables), None)


def plot_fit(result: FitResult, path: str | os.PathLike, *,
             ticks: Mapping[str, Sequence[float]] | None = None, title: str | None = None,
             reflections: Sequence | None = None, hkl_labels: int = 0,
             wavelength: float | Mapping[str, float] | None = None) -> Path:
    """Write :func:`fit_figure` to ``path``; returns the path written."""
    return save_figure(fit_figure(result, ticks=ticks, title=title, reflections=reflections, hkl_labels=hkl_labels,
                                  wavelength=wavelength), path)


def _result_tables(result: FitResult) -> list:
    """The reflection tables of a result: ``extra['reflections']``, else those its phases hold (a result read back
    from its file)."""
    tables = (result.extra or {}).get("reflections")
    if tables:
        return list(tables)
    out = []
    for ph in result.phases.values():
        refl = ph.reflections
        out.extend(refl if isinstance(refl, (list, tuple)) else [] if refl is None else [refl])
    return out


def fit_figure(result: FitResult, *, ticks: Mapping[str, Sequence[float]] | None = None, title: str | None = None,
               reflections: Sequence | None = None, hkl_labels: int = 0,
               wavelength: float | Mapping[str, float] | None = None):
    """The figure of a fit (a :class:`matplotlib.figure.Figure`, made without pyplot): one panel per dataset,
    observed (points), calculated, components, difference below, tick marks per phase, excluded regions shaded.

    Parameters
    ----------
    ticks
        Tick positions per phase (all panels); by default the Kα1 positions of ``reflections``.
    reflections
        Reflection tables (:class:`~refine.powder.reflection_table.ReflectionTable`); by default the result's
        ``extra['reflections']``. They give the ticks, the hkl labels and the wavelength of each 2θ panel.
    hkl_labels
        Label this many of the strongest lines of each phase with their hkl (0: none, the default).
    wavelength
        Å, or one per dataset name, shown on every 2θ axis; by default the tables' (Kα1) wavelength.
    """
    tables = list(reflections) if reflections is not None else _result_tables(result)
    curves = list(result.curves.items())
    if not curves:
        raise ValueError("the result has no curves to plot (read its curves files with refine.fit.result.read_curves "
                         "and give them to FitResult.from_dict)")
    fig = new_figure(figsize=(9, 4.5 * len(curves)))
    axes = fig.subplots(len(curves), 1, squeeze=False)
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
        panel = _panel_tables(tables, name, c.unit)
        rows = ticks.items() if ticks is not None else [(t.phase, t.two_theta) for t in panel]
        colors = []
        for i, (phase, pos) in enumerate(rows):
            y0 = offset - (i + 1) * 0.06 * span
            (line,) = ax.plot(pos, np.full(len(pos), y0), "|", ms=8, label=f"{phase} reflections")
            colors.append(line.get_color())
        if c.mask.any():  # show the fitted range (exclusions inside it stay visible, shaded)
            ax.set_xlim(c.x[c.mask].min(), c.x[c.mask].max())
        if hkl_labels > 0 and panel:
            _label_lines(ax, panel, colors if ticks is None else ["0.2"] * len(panel), c, hkl_labels, span)
        ax.set_xlabel(axis_label(c.unit, _wavelength_of(name, wavelength, panel)))
        ax.set_ylabel("G(r)" if c.unit == "r_A" else "intensity")
        s = result.dataset_statistics.get(name, result.statistics)
        label = (f"Rw = {format_percent(s.Rw)}" if s.Rw is not None
                 else f"Rwp = {format_percent(s.Rwp)}, GOF = {s.GOF:.3g}")
        ax.set_title(f"{title or result.kind}: {name}  ({label})", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def plot_pattern(patterns: Sequence[Pattern], path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Overlay of one or more patterns (same unit) in one figure; a 2θ axis names the wavelength (each pattern's in
    the legend when they differ)."""
    fig = new_figure(figsize=(9, 4.5))
    ax = fig.subplots()
    unit = patterns[0].unit if patterns else "2th_deg"
    waves = {p.wavelength for p in patterns}
    each = unit == "2th_deg" and len(waves) > 1
    for p in patterns:
        label = Path(p.source).name if p.source else None
        if each:
            label = f"{label or 'pattern'}, " + (f"λ = {p.wavelength:.6g} Å" if p.wavelength else "λ unknown")
        ax.plot(p.x, p.y, lw=0.8, label=label)
    ax.set_xlabel(_XLABELS.get(unit, unit) if each else axis_label(unit, next(iter(waves), None)))
    ax.set_ylabel("G(r)" if unit == "r_A" else "intensity")
    if title:
        ax.set_title(title)
    if any(p.source for p in patterns) or each:
        ax.legend(fontsize=8)
    return save_figure(fig, path)
