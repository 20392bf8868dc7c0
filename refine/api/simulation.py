"""``refine.simulate``: a powder pattern from phases and an instrument (the model of ``refine.rietveld``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from refine.api._inputs import as_structures, check_files
from refine.api.options import SimulateOptions
from refine.errors import InputError
from refine.powder.calculated import calculated_peaks

#: Height of the strongest peak (above the background) of a pattern simulated without noise.
PEAK_HEIGHT = 1000.0


def simulate(phases: Any, *, wavelength: float | None = None, instrument: Any = None, **options: Any):
    """A powder pattern in 2θ calculated from structures with atoms (Rietveld intensities, each phase at scale 1).

    Parameters
    ----------
    phases
        One or a list of structure files or CrystalStructures (with atoms).
    wavelength, instrument
        A monochromatic synchrotron wavelength (Å; Gaussian peaks of ``fwhm``), or an instrument (GSAS .prm /
        GSAS-II .instprm file or an Instrument: wavelengths, polarization, zero and profile).
    **options
        :class:`refine.api.options.SimulateOptions`: ``range="LO:HI"`` (deg 2θ, required), ``step=0.01``,
        ``fwhm=0.05`` (deg, without an instrument), ``background`` (flat, counts), ``noise=COUNTS`` (the
        strongest peak gets this many counts and every point Poisson noise; ``seed`` makes it reproducible),
        ``no_dispersion``, ``output`` (write the pattern, e.g. ``sim.xye``).

    Returns
    -------
    Pattern
        x in deg 2θ; y in counts (strongest peak ``noise`` counts above the background, or 1000 without
        noise); sigma √counts with noise, else unit weights.
    """
    from refine.data import Pattern

    opts = SimulateOptions.from_options(options)
    check_files({"output": opts.output})
    if opts.range is None:
        raise InputError("range", "give the 2θ range of the pattern, LO:HI in degrees")
    if not 0 < opts.step <= (opts.range[1] - opts.range[0]) / 2:
        raise InputError("step", f"must be > 0 and at most half the range, got {opts.step}")
    if opts.noise is not None and not opts.noise > 0:
        raise InputError("noise", f"counts at the strongest peak must be > 0, got {opts.noise}")
    if not opts.background >= 0:
        raise InputError("background", f"a flat background in counts must be >= 0, got {opts.background}")
    structures = as_structures(phases, need_atoms="simulate")
    inst = _instrument(wavelength, instrument, opts)
    x = np.arange(opts.range[0], opts.range[1] + opts.step / 2, opts.step)
    peaks = calculated_peaks(x, structures, inst, dispersion=not opts.no_dispersion)
    top = float(peaks.max())
    if not top > 0:
        raise InputError("range", f"no reflection of the phases between {opts.range[0]} and {opts.range[1]} deg")
    height = opts.noise if opts.noise is not None else PEAK_HEIGHT
    y = peaks * (height / top) + opts.background
    metadata = {"source": "refine.simulate", "phases": [s.name for s in structures], "step": opts.step}
    if opts.noise is not None:
        y = np.random.default_rng(opts.seed).poisson(y).astype(float)
        sigma, sigma_source = np.sqrt(np.maximum(y, 1.0)), "poisson"
    else:
        sigma, sigma_source = np.ones_like(y), "unit"
    pattern = Pattern(x=x, y=y, sigma=sigma, sigma_source=sigma_source, radiation=inst.radiation,
                      wavelength=inst.wavelength, metadata=metadata)
    if opts.output:
        from refine.io import write_pattern

        write_pattern(pattern, opts.output)
    return pattern


def _instrument(wavelength: float | None, instrument: Any, opts: SimulateOptions):
    from refine.instrument import Instrument, Profile
    from refine.io.instprm import read_instrument

    if (wavelength is None) == (instrument is None):
        raise InputError("wavelength", "give either a wavelength or an instrument")
    if instrument is not None:
        return instrument if isinstance(instrument, Instrument) else read_instrument(instrument)
    if not (wavelength > 0 and np.isfinite(wavelength)):
        raise InputError("wavelength", f"must be a positive number of Å, got {wavelength}")
    if not opts.fwhm > 0:
        raise InputError("fwhm", f"a peak width must be > 0 deg, got {opts.fwhm}")
    sigma_centideg = opts.fwhm * 100.0 / np.sqrt(8.0 * np.log(2.0))
    return Instrument.synchrotron(wavelength, profile=Profile(W=sigma_centideg**2, sh_l=0.0))
