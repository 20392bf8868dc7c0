"""IntegrationSettings validation and pyFAI method names."""

from __future__ import annotations

import pytest

from refine.errors import InputError
from refine.integrate import IntegrationSettings, resolve_method


@pytest.mark.parametrize(("method", "expected"), [
    (("bbox", "csr", "cython"), ("bbox", "csr", "cython")),
    ("bbox,csr,cython", ("bbox", "csr", "cython")),
    ("csr", ("bbox", "csr", "cython")),  # pyFAI's legacy "csr" is bbox splitting
    ("full_csr", ("full", "csr", "cython")),
    ("bbox", ("bbox", "histogram", "cython")),  # legacy "bbox" is the histogram engine
    ("splitpixel", ("full", "histogram", "cython")),
    (["no", "histo", "cython"], ("no", "histogram", "cython")),
])
def test_resolve_method(method, expected):
    assert resolve_method(method) == expected


@pytest.mark.parametrize("method", ["nonsense", "csr_foo", ("bbox", "csr"), ("bbox", "magic", "cython"), 3])
def test_unknown_methods_are_input_errors(method):
    # pyFAI itself would silently run a pure-Python histogram for "nonsense".
    with pytest.raises(InputError, match="method"):
        resolve_method(method)


@pytest.mark.parametrize(("kwargs", "option"), [
    ({"npt": 1}, "npt"), ({"npt": 2.5}, "npt"), ({"npt": True}, "npt"),
    ({"unit": "d_A"}, "unit"), ({"unit": "q_nm^-1"}, "unit"),
    ({"polarization_factor": 1.5}, "polarization"), ({"polarization_factor": float("nan")}, "polarization"),
    ({"flip": "up"}, "flip"), ({"error_model": "gauss"}, "error_model"),
    ({"radial_range": (5.0, 1.0)}, "radial_range"), ({"radial_range": "1:5"}, "radial_range"),
])
def test_bad_settings(kwargs, option):
    with pytest.raises(InputError, match=f"^{option}:"):
        IntegrationSettings(**kwargs)


def test_settings_are_frozen_and_serialisable():
    s = IntegrationSettings(npt=100, method=["bbox", "csr", "cython"], mask=None, radial_range=(1, 2))
    assert s.method == ("bbox", "csr", "cython") and s.radial_range == (1.0, 2.0)
    with pytest.raises(AttributeError):
        s.npt = 5  # type: ignore[misc]
    d = s.as_dict()
    assert d["method"] == ["bbox", "csr", "cython"] and d["radial_range"] == [1.0, 2.0] and d["npt"] == 100
