"""The instrument of a fit (refine.powder.setup.instrument_for): a wavelength the pattern file contradicts is
said (a cell scales with the wavelength, so the wrong one still fits, 3 % off)."""

from __future__ import annotations

import numpy as np

from refine.data import Pattern
from refine.instrument import Instrument
from refine.powder.setup import instrument_for


def _pattern(wavelength: float | None) -> Pattern:
    x = np.arange(5.0, 20.0, 0.01)
    y = 10.0 + 100.0 * np.exp(-0.5 * ((x - 12.0) / 0.03) ** 2)
    return Pattern.from_arrays(x, y, np.sqrt(y), wavelength=wavelength, metadata={"source": "scan_0.xye"})


def test_a_wavelength_the_file_contradicts_is_said():
    inst, notes = instrument_for(_pattern(0.72), wavelength=0.70)
    assert inst.wavelength == 0.70
    assert [n for n in notes if n.startswith("warning:")] == [
        "warning: the given wavelength 0.7 Å is used, but scan_0.xye records 0.72 Å; cells scale with the wavelength"]
    _, notes = instrument_for(_pattern(0.72), instrument=Instrument.synchrotron(0.7))
    assert any("the instrument's wavelength 0.7 Å" in n for n in notes)


def test_an_agreeing_or_absent_file_wavelength_says_nothing():
    for pattern, given in ((_pattern(0.72), 0.72), (_pattern(0.72), 0.72 * (1 + 5e-5)), (_pattern(None), 0.70),
                           (_pattern(0.72), None)):
        _, notes = instrument_for(pattern, wavelength=given)
        assert not any(n.startswith("warning:") for n in notes), (pattern.wavelength, given)
