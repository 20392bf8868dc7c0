"""Operando series: ordered scans with electrochemistry (:mod:`.series`), sequential fits scan by scan
(:mod:`.sequential`) and parametric "surface" fits of all scans at once (:mod:`.parametric`).

Called, the package is the facade function :func:`refine.api.stack.operando` (integrate a stack and fit every
scan: ``refine.operando("run_master.h5", ["nvp.cif"], poni="det.poni", output="out")``)."""

import sys as _sys

from refine import CallablePackage as _CallablePackage
from refine.operando.parametric import ConstantVolume, ParametricResult, ParametricSettings, Trend, fit_parametric
from refine.operando.sequential import (
    FIT_KINDS,
    FitKind,
    Presence,
    SequentialResult,
    SequentialSettings,
    run_sequential,
)
from refine.operando.series import Scan, Series, read_echem
from refine.operando.series_result import ScanFailure, SeriesResult, write_csv, write_summary

__all__ = ["FIT_KINDS", "ConstantVolume", "FitKind", "ParametricResult", "ParametricSettings", "Presence", "Scan",
           "ScanFailure", "SequentialResult", "SequentialSettings", "Series", "SeriesResult", "Trend", "fit_parametric",
           "read_echem", "run_sequential", "write_csv", "write_summary"]

# ``refine.operando`` is this package and, called, the facade function (see refine.CallablePackage).
_sys.modules[__name__].__class__ = _CallablePackage
