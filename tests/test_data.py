"""The frozen Pattern object."""

import numpy as np
import pytest

from refine.data import Pattern
from refine.errors import InputError


def test_pattern_is_frozen_and_copies():
    x = np.linspace(1, 10, 10)
    p = Pattern.from_arrays(x, x**2)
    x[0] = 99
    assert p.x[0] == 1.0
    with pytest.raises(ValueError):
        p.y[0] = 3
    with pytest.raises(AttributeError):
        p.unit = "q_A^-1"  # type: ignore[misc]


def test_missing_sigma_is_recorded_as_unit_weights():
    p = Pattern.from_arrays([1, 2], [3, 4])
    assert p.sigma_source == "unit" and not p.has_sigma
    np.testing.assert_array_equal(p.sigma, [1, 1])


def test_unit_conversion_keeps_data_and_sorts():
    p = Pattern.from_arrays([10, 20, 30], [1, 2, 3], [0.1, 0.2, 0.3], sigma_source="file", wavelength=1.0)
    d = p.to_unit("d_A")
    assert list(d.y) == [3, 2, 1] and list(d.sigma) == [0.3, 0.2, 0.1]
    assert np.all(np.diff(d.x) > 0)
    back = d.to_unit("2th_deg")
    np.testing.assert_allclose(back.x, p.x, rtol=1e-12)


def test_conversion_needs_wavelength():
    with pytest.raises(InputError, match="wavelength"):
        Pattern.from_arrays([10], [1]).to_unit("q_A^-1")


@pytest.mark.parametrize("kwargs", [dict(unit="mm"), dict(sigma_source="guess"), dict(radiation="electron"),
                                    dict(corrections={"magic"})])
def test_bad_fields_raise(kwargs):
    with pytest.raises(InputError):
        Pattern(x=[1.0], y=[1.0], sigma=[1.0], **kwargs)


def test_length_mismatch():
    with pytest.raises(InputError, match="length"):
        Pattern(x=[1, 2], y=[1], sigma=[1])


def test_crop():
    p = Pattern.from_arrays(np.arange(10.0), np.arange(10.0))
    assert list(p.crop(2, 4).x) == [2, 3, 4]


def test_pattern_and_instrument_pickle_for_worker_processes():
    """Worker processes receive patterns and instruments by pickling: equal values, read-only again."""
    import pickle

    from refine.instrument import Instrument

    inst = Instrument.synchrotron(0.5).replace(metadata={"beamline": "11-ID-C"})
    back = pickle.loads(pickle.dumps(inst))
    assert back == inst and back.metadata["beamline"] == "11-ID-C"
    with pytest.raises(TypeError):
        back.metadata["x"] = 1
    pat = Pattern.from_arrays(np.arange(5.0), np.ones(5), None, metadata={"source": "s"})
    again = pickle.loads(pickle.dumps(pat))
    np.testing.assert_array_equal(again.x, pat.x)
    assert not again.x.flags.writeable and again.metadata["source"] == "s"
