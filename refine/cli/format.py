"""Printed lines of the fitting commands: values as ``value(esd)``, R-factors in percent."""

from __future__ import annotations

from typing import Any


def phase_line(ph: Any) -> str:
    """One phase of a result (a :class:`~refine.fit.phase_result.PhaseResult` or its result-file entry): cell and
    volume with esds, then R_Bragg/R_F and the weight fraction where present
    (:func:`refine.fit.phase_result.phase_line`)."""
    from refine.fit.phase_result import phase_line as line

    return ph.line() if hasattr(ph, "line") else line(ph)
