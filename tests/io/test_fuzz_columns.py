"""Fuzzing the column reader (.xy, .xye, .chi, .dat, .gr, .csv): a valid pattern or a one-line InputError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refine.io.patterns import read_pattern
from tests.fuzzing import check_pattern, fuzz_inputs, fuzz_settings, read_or_refuse

SEEDS = (
    b"# 2th_deg\tI\n# Wavelength: 1.5406e-10 m\n10.00 120.5\n10.02 131.25\n10.04 150.0\n10.06 141.75\n",
    b"# refine pattern; unit: 2th_deg\n# 2th_deg  I  sigma\n5.0  100  10.0498756\n5.1  144  12.0\n"
    b"5.2  169  13.0\n5.3  196  14.0\n",
    b"integrationspace = qspace\nwavelength = 0.1835957\n0.10 1523.1 39.02\n0.12 1502.9 38.76\n"
    b"0.14 1480.0 38.47\n",
    b"r(A) G(r) dr dG\n#### start data\n#L r G dr dG\n1.00 0.125 0.0 0.013\n1.01 0.250 0.0 0.012\n"
    b"1.02 -0.375 0.0 0.011\n1.03 0.5 0.0 0.010\n",
    b"2theta,intensity,esd\n20.0,1000,31.6227766\n20.5,900,30.0\n21.0,810,28.4604989\n",
    b"; descending x\n30.0 5.5\n29.5 6.5\n29.0 7.5\n",
)
EXTENSIONS = (".xy", ".xye", ".chi", ".dat", ".gr", ".csv")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_columns")


@fuzz_settings()
@given(data=fuzz_inputs(SEEDS), ext=st.sampled_from(EXTENSIONS))
def test_fuzz_columns(folder, data, ext):
    path = folder / f"pattern{ext}"
    pattern = read_or_refuse(read_pattern, path, data)
    if pattern is not None:
        check_pattern(pattern, path)
