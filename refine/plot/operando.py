"""The operando figure: patterns as a heat map (2θ or Q against time) beside the voltage profile on the same time
axis, then each phase's lattice parameters and ΔV/V₀ (%) with esd bars, weight fractions and Rwp, all sharing the
time (or scan) axis, which runs upwards as in the published NASICON / NaVPO4F operando figures.

Made without pyplot (:func:`refine.plot.figures.new_figure`); written as PNG, PDF or SVG by the suffix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from refine.plot.figures import new_figure, save_figure
from refine.plot.sequential import _LABELS, _quantities, _r_factor, _series

#: Units of the heat map's axis.
HEAT_MAP_UNITS = ("2th_deg", "q_A^-1")
#: Rows of the heat map at most (a longer series is thinned evenly: the figure, not the data, is the limit).
MAX_ROWS = 600


@dataclass(frozen=True)
class HeatMap:
    """Patterns on one grid: ``x`` (2θ deg or Q Å⁻¹), ``rows`` (scan indices) and ``z`` (rows x points)."""

    x: np.ndarray
    rows: np.ndarray
    z: np.ndarray
    unit: str


def _thin(n: int, limit: int) -> np.ndarray:
    return np.arange(n) if n <= limit else np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def _from_series_file(path: str, frames: Sequence[int]) -> tuple[np.ndarray, np.ndarray, str, float | None]:
    """x, intensity rows, unit and wavelength straight from an HDF5 series file (one read, no per-frame opens)."""
    import h5py

    with h5py.File(path, "r") as fh:
        x = fh["entry/data/x"][()]
        z = fh["entry/data/intensity"][np.asarray(sorted(set(frames)))]
        attrs = dict(fh["entry"].attrs)
    order = {f: i for i, f in enumerate(sorted(set(frames)))}
    unit = attrs.get("unit")
    unit = unit.decode() if isinstance(unit, bytes) else str(unit)
    wl = attrs.get("wavelength_A")
    return x, z[[order[f] for f in frames]], unit, None if wl is None else float(wl)


def heat_map(records: Sequence[Mapping[str, Any]], *, unit: str = "2th_deg",
             max_rows: int = MAX_ROWS) -> HeatMap | None:
    """The patterns of the scans (thinned to ``max_rows``) on the first one's grid, in 2θ or Q; None when the
    pattern files cannot be read (moved, or G(r) files)."""
    from refine.errors import InputError
    from refine.io.patterns import read_pattern
    from refine.io.series_file import split_address

    pick = [records[i] for i in _thin(len(records), max_rows)]
    files = [str(r.get("file")) for r in pick]
    split = [split_address(f) for f in files]
    try:
        if all(s is not None for s in split) and len({s[0] for s in split}) == 1:
            x, z, from_unit, wavelength = _from_series_file(str(split[0][0]), [s[1] for s in split])
        else:
            patterns = [read_pattern(f) for f in files]
            from_unit, wavelength = patterns[0].unit, patterns[0].wavelength
            x = np.asarray(patterns[0].x, dtype=float)
            z = np.array([np.interp(x, p.x, p.y, left=np.nan, right=np.nan) for p in patterns])
    except (InputError, OSError, KeyError, ValueError):
        return None
    if from_unit not in ("2th_deg", "q_A^-1"):
        return None
    if unit != from_unit:
        if wavelength is None:
            unit = from_unit
        elif unit == "q_A^-1":
            x = 4 * np.pi * np.sin(np.radians(x) / 2) / wavelength
        else:
            x = np.degrees(2 * np.arcsin(np.clip(x * wavelength / (4 * np.pi), -1, 1)))
    return HeatMap(x=np.asarray(x, dtype=float), rows=np.array([int(r["index"]) for r in pick]), z=z, unit=unit)


def _time_axis(records: Sequence[Mapping[str, Any]]) -> tuple[dict[int, float], str, float | None]:
    """Scan index -> the vertical coordinate: time (s, or h for series longer than two hours) when every scan
    has one, else the scan index; the axis label; seconds per unit of the axis (None: scans)."""
    times = [r.get("time", r.get("scan_time")) for r in records]  # a scan outside the cycler log: its own time
    if records and all(isinstance(t, (int, float)) and np.isfinite(t) for t in times):
        scale, label = (3600.0, "time (h)") if max(times) - min(times) > 7200 else (1.0, "time (s)")
        return {int(r["index"]): float(t) / scale for r, t in zip(records, times, strict=True)}, label, scale
    return {int(r["index"]): float(r["index"]) for r in records}, "scan", None


def _edges(centres: np.ndarray) -> np.ndarray:
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def _draw_heat(ax, hm: HeatMap, ymap: Mapping[int, float], window: tuple[float, float] | None) -> None:
    from refine.plot.figures import axis_label

    keep = np.ones(hm.x.size, dtype=bool) if window is None else (hm.x >= window[0]) & (hm.x <= window[1])
    if not np.any(keep):
        ax.text(0.5, 0.5, f"no data in {window[0]:g}-{window[1]:g}", ha="center", transform=ax.transAxes)
        return
    y = np.array([ymap[i] for i in hm.rows])
    order = np.argsort(y, kind="stable")
    z = np.sqrt(np.clip(hm.z[order][:, keep], 0, None))  # sqrt: weak reflections stay visible beside strong ones
    ax.pcolormesh(_edges(hm.x[keep]), _edges(y[order]), z, shading="flat", cmap="viridis", rasterized=True)
    ax.set_xlabel(axis_label(hm.unit).split(",")[0], fontsize=8)


def _draw_voltage(ax, records: Sequence[Mapping[str, Any]], ymap: Mapping[int, float],
                  cycler: tuple[np.ndarray, np.ndarray] | None, scale: float | None) -> None:
    """The voltage profile: the cycler's whole curve over the heat map's time span (the scans' plus half a scan
    interval each side) with the scans' matched rows as dots when the log is given and the axis is time, else the
    scans' values."""
    pts = [(r["voltage"], ymap[int(r["index"])]) for r in records if r.get("voltage") is not None]
    v, y = np.array(pts, dtype=float).reshape(-1, 2).T
    if cycler is not None and scale is not None:
        t, volts = (np.asarray(c, dtype=float) for c in cycler)
        span = np.array(sorted(ymap.values()))
        pad = 0.5 * float(np.median(np.diff(span))) if span.size > 1 else 0.0
        keep = (t / scale >= span[0] - pad) & (t / scale <= span[-1] + pad) & np.isfinite(volts)
        ax.plot(volts[keep], t[keep] / scale, "-", color="k", lw=1)
        ax.plot(v, y, "o", color="k", ms=2)
    else:
        ax.plot(v, y, "-", color="k", lw=1)
    ax.set_xlabel("voltage (V)", fontsize=8)


def _draw_quantity(ax, records, ymap, prefix: str, name: str, key: str) -> None:
    idx, val, err, ok = _series(records, prefix, key)
    label = _LABELS.get(key, "weight fraction")
    if key == "volume":  # ΔV/V0 in %, esd with V0's own (refine.operando.series_result.volume_change)
        from refine.operando.series_result import volume_change

        change = volume_change(records, prefix)
        val = np.array([change[int(i)][0] for i in idx], dtype=float)
        err = np.array([change[int(i)][1] or 0.0 for i in idx], dtype=float)
        label = "ΔV/V$_0$ (%)"
    elif key == "weight_fraction":
        val, err, label = 100 * val, 100 * err, "weight fraction (%)"
    y = np.array([ymap[int(i)] for i in idx], dtype=float)
    ax.errorbar(val[ok], y[ok], xerr=err[ok], fmt="o-", ms=2.5, lw=0.8, capsize=1.5, elinewidth=0.8)
    if np.any(~ok):
        ax.plot(val[~ok], y[~ok], "o", mfc="none", color="red", ms=3.5, label="not converged")
        ax.legend(fontsize=6)
    ax.set_xlabel(f"{name}\n{label}", fontsize=8)


def _window(window: str | Sequence[float]) -> tuple[float, float]:
    """A heat-map window: ``"LO:HI"`` (as ``--window`` takes it) or a (lo, hi) pair, lo < hi."""
    from refine.errors import InputError
    from refine.notation import parse_range

    try:
        return parse_range(window)
    except ValueError as exc:
        raise InputError("windows", str(exc)) from None


def operando_figure(records: Sequence[Mapping[str, Any]], *, windows: Sequence[tuple[float, float]] | None = None,
                    unit: str = "2th_deg", title: str | None = None, max_rows: int = MAX_ROWS,
                    cycler: tuple[Sequence[float], Sequence[float]] | None = None):
    """The operando figure of a series (a :class:`matplotlib.figure.Figure`, made without pyplot).

    Parameters
    ----------
    records
        The scans' records (:attr:`SeriesResult.records`).
    windows
        (lo, hi) ranges (or ``"LO:HI"`` text) of the heat map in ``unit``, one panel each (default: the whole
        pattern).
    unit
        ``2th_deg`` or ``q_A^-1`` for the heat map's axis (Q needs the patterns' wavelength).
    title
        Figure title.
    max_rows
        Heat-map rows at most (longer series are thinned evenly for the picture).
    cycler
        (time in s, voltage in V) of the cycler log on the scans' clock (scans matched by time): the voltage panel
        draws its whole curve, the scans' rows as dots.

    Returns
    -------
    matplotlib.figure.Figure
        Panels left to right, sharing the vertical time (or scan) axis: one heat map per window (when the
        pattern files can be read), the voltage (when the scans carry one), each phase's lattice lengths, free
        angles and ΔV/V₀ (%), weight fractions (%), and Rwp (%) (Rw for G(r) fits); esd bars, scans that did not
        converge as open red markers.
    """
    if unit not in HEAT_MAP_UNITS:
        from refine.errors import InputError

        raise InputError("unit", f"the heat map's axis is one of {', '.join(HEAT_MAP_UNITS)}, got {unit!r}")
    windows = [_window(w) for w in ([windows] if isinstance(windows, str) else windows or ())]
    ymap, ylabel, scale = _time_axis(records)
    hm = heat_map(records, unit=unit, max_rows=max_rows) if records else None
    heat_windows = ([None] if not windows else windows) if hm is not None else []
    voltage = any(r.get("voltage") is not None for r in records)
    panels = _quantities(records)
    widths = [3.0] * len(heat_windows) + [1.6] * voltage + [1.6] * (len(panels) + 1)
    fig = new_figure(figsize=(max(sum(widths) + 0.6, 4.0), 5.0))
    axes = fig.subplots(1, len(widths), sharey=True, squeeze=False, gridspec_kw={"width_ratios": widths})[0]
    k = 0
    for window in heat_windows:
        _draw_heat(axes[k], hm, ymap, window)
        k += 1
    if voltage:
        _draw_voltage(axes[k], records, ymap, cycler, scale)
        k += 1
    for prefix, name, key in panels:
        _draw_quantity(axes[k], records, ymap, prefix, name, key)
        k += 1
    rname = _r_factor(records)
    pts = [(100 * (r.get("statistics") or {}).get(rname), ymap[int(r["index"])]) for r in records
           if (r.get("statistics") or {}).get(rname) is not None]
    if pts:
        rv, ry = np.array(pts, dtype=float).T
        axes[k].plot(rv, ry, "s-", ms=2.5, lw=0.8, color="gray")
    axes[k].set_xlabel(f"{rname} (%)", fontsize=8)
    axes[0].set_ylabel(ylabel)
    from matplotlib.ticker import MaxNLocator

    for i, ax in enumerate(axes):
        ax.tick_params(labelsize=7)
        if i >= len(heat_windows):
            ax.xaxis.set_major_locator(MaxNLocator(3))
            ax.ticklabel_format(axis="x", useOffset=False)  # an offset label would sit on the axis title
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_operando(records: Sequence[Mapping[str, Any]], path: str | os.PathLike, **options: Any) -> Path:
    """Write :func:`operando_figure` to ``path`` (PNG, PDF, SVG by the suffix); returns the path."""
    return save_figure(operando_figure(records, **options), path)
