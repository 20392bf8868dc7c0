"""Unit conversions: round trips and Bragg's law, with hypothesis."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refine import units
from refine.errors import InputError

wavelengths = st.floats(min_value=0.05, max_value=3.0)
angles = st.floats(min_value=0.01, max_value=179.0)


@given(tth=angles, lam=wavelengths)
def test_tth_q_round_trip(tth, lam):
    q = units.tth_to_q(tth=tth, wavelength=lam)
    assert units.q_to_tth(q=q, wavelength=lam) == pytest.approx(tth, rel=1e-9, abs=1e-9)


@given(tth=angles, lam=wavelengths)
def test_bragg_law(tth, lam):
    d = units.tth_to_d(tth=tth, wavelength=lam)
    assert 2 * d * np.sin(np.radians(tth / 2)) == pytest.approx(lam, rel=1e-12)


@given(x=st.floats(min_value=0.1, max_value=30.0), lam=wavelengths,
       pair=st.sampled_from([("2th_deg", "q_A^-1"), ("q_A^-1", "d_A"), ("d_A", "2th_deg"), ("q_nm^-1", "q_A^-1")]))
def test_convert_round_trip(x, lam, pair):
    a, b = pair
    y = units.convert(x, from_unit=a, to_unit=b, wavelength=lam)
    if np.isfinite(y):
        assert units.convert(y, from_unit=b, to_unit=a, wavelength=lam) == pytest.approx(x, rel=1e-9)


def test_unreachable_q_is_nan():
    assert np.isnan(units.q_to_tth(q=10.0, wavelength=1.54))


@given(st.text(max_size=12))
def test_unknown_units_raise(name):
    if name.strip().lower() in units._ALIASES:
        return
    with pytest.raises(InputError):
        units.normalize_unit(name)


@pytest.mark.parametrize("lam", [0.0, -1.0, float("nan"), None])
def test_bad_wavelength(lam):
    with pytest.raises(InputError):
        units.tth_to_q(tth=10.0, wavelength=lam)


def test_r_does_not_convert():
    with pytest.raises(InputError):
        units.convert(1.0, from_unit="r_A", to_unit="q_A^-1")
