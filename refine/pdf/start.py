"""Start values of a real-space fit that a local least-squares run can converge from.

A G(r) fit started from a cell a few per cent off does not find the right cell: at r = 20 Å a 10 % error moves the
peaks by 2 Å, many peak spacings, and the local minimiser settles in a false minimum (or contracts the cell out of
its bounds). :func:`search_lattice` scans the lattice parameter of each refined phase over ±``span`` before the
fit, scoring each trial by PDF Rw with the best linear scale, and moves the start to the best trial when it is
clearly better than the given start; a start that is already right is left exactly as it was.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from refine.pdf.fitting import PDFFitModel


def _rw_with_best_scale(g: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Rw of k·g against y for the least-squares k >= 0 (inf when g is no use)."""
    den = float(np.sum(w * g * g))
    k = float(np.sum(w * g * y)) / den if den > 0 else 0.0
    if not k > 0:
        return np.inf
    return float(np.sqrt(np.sum(w * (y - k * g) ** 2) / np.sum(w * y * y)))


def _window(fm: PDFFitModel, width: float) -> PDFFitModel:
    """The model on the first ``width`` Å of its fit range (same phases and parameters): enough peaks to place a
    cell, at a fraction of the cost of a long range."""
    x = fm.pattern.x
    hi = min(float(x[-1]), float(x[0]) + width)
    keep = x <= hi + 1e-9
    if keep.all():
        return fm
    grid = fm.grid[fm.grid <= hi + 1e-9]
    return dataclasses.replace(fm, pattern=fm.pattern.crop(None, hi + 1e-9), calc_x=grid,
                               mask=None if fm.mask is None else fm.mask[keep], _cache={})


def search_lattice(fm: PDFFitModel, *, span: float = 0.15, step: float = 0.0025, min_shift: float = 0.01,
                   gain: float = 0.9, width: float = 20.0) -> PDFFitModel:
    """``fm`` with the start of each refined pair-table phase's lattice parameter (``{p}_a`` or
    ``{p}_lattice_scale``) moved to the best of a scan over start × (1 ± ``span``) in steps of ``step``, when that
    trial is more than ``min_shift`` (relative) away from the start and its Rw is below ``gain`` × the start's; its
    bounds (±10 %) then follow the new start. Trials are scored on the first ``width`` Å of the fit range; each
    phase is scanned with the others at their start values. Every move is noted in the returned model's ``notes``
    (and so in the fit's warnings). ``fm.params`` is changed in place; fixed phases, crystalline phases and
    lattice parameters that are not refined are left alone."""
    scan = _window(fm, width)
    mask = np.ones(len(scan.pattern), dtype=bool) if scan.mask is None else scan.mask
    y = scan.pattern.y[mask]
    w = 1.0 / scan.pattern.sigma[mask] ** 2
    if not np.sum(w * y * y) > 0:
        return fm
    notes = []
    factors = np.arange(1.0 - span, 1.0 + span + step / 2, step)
    for ph in fm.phases:
        name = ph.start_scan_parameter()
        if name is None:
            continue
        par = fm.params[name]
        if not par.vary or par.expr:
            continue
        start = float(par.value)
        trial = fm.params.copy()
        trial[name].set(min=-np.inf, max=np.inf)
        scores = []
        for f in factors:
            trial[name].set(value=start * f)
            scores.append(_rw_with_best_scale(scan.model(trial)[mask], y, w))
        trial[name].set(value=start)
        at_start = _rw_with_best_scale(scan.model(trial)[mask], y, w)
        best = int(np.argmin(scores))
        if abs(factors[best] - 1.0) > min_shift and scores[best] < gain * at_start:
            value = start * float(factors[best])
            lo, hi = (par.min / start, par.max / start) if start else (0.9, 1.1)
            par.set(value=value, min=value * lo, max=value * hi)
            given = f"Rw {at_start:.3f}" if np.isfinite(at_start) else "no match (negative scale)"
            notes.append(f"phase {ph.prefix}: the start {name} = {start:.6g} gives {given}; a scan of ±{span:.0%} "
                         f"found {value:.6g} (Rw {scores[best]:.3f}), where the fit started instead")
    if not notes:
        return fm
    return dataclasses.replace(fm, notes=fm.notes + tuple(notes))
