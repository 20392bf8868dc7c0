"""Printed lines of the fitting commands: values as ``value(esd)``, R-factors in percent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refine.notation import format_esd, format_percent

_CELL = ("a", "b", "c", "alpha", "beta", "gamma")


def phase_line(ph: Mapping[str, Any]) -> str:
    """One phase of a result: cell and volume with esds, then R_Bragg/R_F and the weight fraction where present;
    angles fixed by symmetry at 90/120 and lengths equal to a are left out."""
    esd = ph.get("esd") or {}
    parts = []
    for key in _CELL:
        value = ph.get(key)
        if value is None:
            continue
        if key in ("b", "c") and value == ph.get("a") and not esd.get(key):
            continue
        if key in ("alpha", "beta", "gamma") and value in (90.0, 120.0) and not esd.get(key):
            continue
        parts.append(f"{key}={format_esd(value, esd.get(key))}")
    if ph.get("volume") is not None:
        parts.append(f"V={format_esd(ph['volume'], esd.get('volume'))}")
    for key in ("R_Bragg", "R_F"):
        if ph.get(key) is not None:
            parts.append(f"{key}={format_percent(ph[key])}")
    if ph.get("weight_fraction") is not None:
        parts.append(f"W={format_esd(ph['weight_fraction'], ph.get('weight_fraction_esd'))}")
    return f"phase {ph['name']} ({ph.get('space_group') or 'P1'}): " + "  ".join(parts)
