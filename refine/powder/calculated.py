"""The Bragg intensity of phases on a 2θ grid, without fitting (the model of ``refine.rietveld`` at scale 1)."""

from __future__ import annotations

from typing import Any

import numpy as np


def calculated_peaks(x: np.ndarray, structures: list, instrument: Any, *, dispersion: bool = True) -> np.ndarray:
    """The Bragg intensity (no background) of the phases at scale 1 on the 2θ grid ``x``."""
    from refine.data import Pattern
    from refine.powder.model import PowderModel
    from refine.powder.rietveld import RietveldEngine, RietveldOptions

    blank = Pattern(x=x, y=np.zeros_like(x), sigma=np.ones_like(x), sigma_source="unit",
                    radiation=instrument.radiation, wavelength=instrument.wavelength)
    model = PowderModel(blank, list(structures), instrument)
    engine = RietveldEngine(model, RietveldOptions(dispersion=dispersion))
    params = engine.parameters()
    return model.full(model.peak_matrix(params).T @ engine.intensities(params))
