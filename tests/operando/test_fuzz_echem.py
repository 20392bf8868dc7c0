"""Fuzzing the electrochemistry table reader (``refine sequential --echem``): columns or a one-line InputError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from refine.operando.series import read_echem
from tests.fuzzing import fuzz_inputs, fuzz_settings, read_or_refuse

SEEDS = (
    b"time/s,Ewe/V,<I>/mA,Capacity/mA.h\n0,2.50,0.1,0\n90,3.30,0.1,2.5\n180,3.40,0.1,5.0\n270,3.45,0.1,7.5\n",
    b"# BioLogic export\nindex;voltage;current\n0;2.9;0.05\n1;3.0;0.05\n2;3.1;0.05\n",
    b"time\tvoltage\tcapacity\n0.0\t2.5\t0\n10.5\t2.6\t1.25\n21.0\t2.7\t2.5\n",
    b"index time voltage\n0 0 3.1\n1 60 3.2\n2 120 3.3\n",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_echem")


@fuzz_settings()
@given(data=fuzz_inputs(SEEDS))
def test_fuzz_echem(folder, data):
    path = folder / "echem.csv"
    table = read_or_refuse(read_echem, path, data)
    if table is not None:
        lengths = {len(column) for column in table.values()}
        assert table and len(lengths) == 1 and lengths.pop() >= 1
        assert all(np.all(np.isfinite(column)) for column in table.values())
        if "time" in table:
            assert np.all(np.diff(table["time"]) >= 0)
