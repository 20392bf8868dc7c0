"""Figures of a sequential refinement: lattice parameters and volume (esd error bars), weight fractions and Rwp (Rw
for PDF fits) per scan, against the scan index and, when a table is attached (--echem), against capacity, voltage
or temperature."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from refine.plot.figures import new_figure, save_figure

_LABELS = {"a": "a (Å)", "b": "b (Å)", "c": "c (Å)", "alpha": "α (°)", "beta": "β (°)", "gamma": "γ (°)",
           "volume": "V (Å$^3$)"}
_ECHEM_LABELS = {"capacity": "capacity", "voltage": "voltage (V)", "time": "time", "temperature": "temperature"}


def _series(records: Sequence[Mapping[str, Any]], prefix: str, key: str) -> tuple[np.ndarray, ...]:
    """Index, value, esd, converged flag of one phase quantity over the scans that hold the phase."""
    idx, val, err, ok = [], [], [], []
    for r in records:
        for ph in r.get("phases") or []:
            if ph.get("prefix") == prefix and ph.get(key) is not None:
                idx.append(r["index"])
                val.append(ph[key])
                err.append((ph.get("esd") or {}).get(key) or 0.0)
                ok.append(bool(r.get("converged")))
    return np.array(idx, dtype=int), np.array(val, dtype=float), np.array(err, dtype=float), np.array(ok, dtype=bool)


def _quantities(records: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(phase prefix, phase name, quantity) panels: distinct lengths, free angles, volume, weight fraction."""
    phases: dict[str, str] = {}
    for r in records:
        for ph in r.get("phases") or []:
            phases.setdefault(ph["prefix"], ph.get("name") or ph["prefix"])
    panels = []
    for prefix, name in phases.items():
        values = {k: _series(records, prefix, k)[1] for k in _LABELS}
        for key in ("a", "b", "c", "alpha", "beta", "gamma"):
            v = values[key]
            if not v.size:
                continue
            same = any(np.allclose(v, values[o], rtol=1e-12) for o in ("a", "b") if o < key and values[o].size)
            if key in ("alpha", "beta", "gamma") and np.ptp(v) == 0.0:
                continue
            if not same:
                panels.append((prefix, name, key))
        panels.append((prefix, name, "volume"))
    for prefix, name in phases.items():
        if _series(records, prefix, "weight_fraction")[0].size:
            panels.append((prefix, name, "weight_fraction"))
    return panels


def _echem_axis(records: Sequence[Mapping[str, Any]]) -> str | None:
    for key in ("capacity", "voltage", "temperature", "time"):
        if all(r.get(key) is not None for r in records):
            return key
    return None


def _r_factor(records: Sequence[Mapping[str, Any]]) -> str:
    """The agreement factor to plot: powder Rwp, or the PDF Rw when no scan has an Rwp."""
    if any((r.get("statistics") or {}).get("Rwp") is not None for r in records):
        return "Rwp"
    return "Rw"


def plot_sequential(records: Sequence[Mapping[str, Any]], path: str | os.PathLike, *,
                    title: str | None = None) -> Path:
    """Write :func:`sequential_figure` to ``path``; returns the path written."""
    return save_figure(sequential_figure(records, title=title), path)


def sequential_figure(records: Sequence[Mapping[str, Any]], *, title: str | None = None):
    """The figure of a series (a :class:`matplotlib.figure.Figure`, made without pyplot): one row per quantity
    (each phase's lattice parameters, volume, weight fraction, then Rwp, or Rw for PDF fits), left column against
    scan index, right column against the electrochemistry when every scan has it. Scans that did not converge are
    drawn as open red markers. ``records`` are the scans' records (:attr:`SeriesResult.records`)."""
    panels = _quantities(records)
    echem = _echem_axis(records)
    ncols = 2 if echem else 1
    nrows = len(panels) + 1
    fig = new_figure(figsize=(6.0 * ncols, 2.1 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex="col")
    xmap = {r["index"]: r.get(echem) for r in records} if echem else {}
    for row, (prefix, name, key) in enumerate(panels):
        idx, val, err, ok = _series(records, prefix, key)
        for col in range(ncols):
            ax = axes[row, col]
            x = idx.astype(float) if col == 0 else np.array([xmap[i] for i in idx], dtype=float)
            ax.errorbar(x[ok], val[ok], yerr=err[ok], fmt="o-" if col == 0 else "o", ms=3, capsize=2, lw=1)
            if np.any(~ok):
                ax.plot(x[~ok], val[~ok], "o", mfc="none", color="red", label="not converged")
                ax.legend(fontsize=7)
            ax.set_ylabel(f"{name}\n{_LABELS.get(key, 'weight fraction')}", fontsize=8)
    rname = _r_factor(records)
    rwp = [(r["index"], (r.get("statistics") or {}).get(rname)) for r in records]
    rwp = [(i, v) for i, v in rwp if v is not None]
    for col in range(ncols):
        ax = axes[-1, col]
        if rwp:
            i, v = (np.array(t, dtype=float) for t in zip(*rwp, strict=True))
            x = i if col == 0 else np.array([xmap[int(k)] for k in i], dtype=float)
            ax.plot(x, 100.0 * v, "s" if col else "s-", ms=3, color="gray")
        ax.set_ylabel(f"{rname} (%)", fontsize=8)
        ax.set_xlabel("scan index" if col == 0 else _ECHEM_LABELS.get(echem or "", echem))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
