"""Fuzzing the cycler-file reader (refine.io.echem.read_cycler) on EC-Lab .mpt text and Arbin-style CSV: a table
with finite, equal-length columns and a non-decreasing time, or a one-line InputError naming the file."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from refine.io.echem import read_cycler
from tests.fuzzing import fuzz_inputs, fuzz_settings, read_or_refuse

MPT = (b"EC-Lab ASCII FILE\r\nNb header lines : 5\r\n\r\nAcquisition started on : 03/12/2026 07:00:00\r\n"
       b"mode\ttime/s\tEwe/V\t<I>/mA\t(Q-Qo)/mA.h\t\r\n"
       b"1\t0,000000E+000\t3,300000E+000\t5,000000E-001\t0,000000E+000\t\r\n"
       b"1\t6,000000E+001\t3,310000E+000\t5,000000E-001\t8,333333E-003\t\r\n"
       b"1\t1,200000E+002\t3,320000E+000\t5,000000E-001\t1,666667E-002\t\r\n")
ARBIN = (b"Data_Point,Test_Time(s),Date_Time,Step_Index,Current(A),Voltage(V),Charge_Capacity(Ah),"
         b"Discharge_Capacity(Ah)\n1,0,03/12/2026 07:00:00,1,0.001,3.2,0,0\n"
         b"2,100,03/12/2026 07:01:40,1,0.001,3.3,2.7e-5,0\n3,200,03/12/2026 07:03:20,2,-0.001,3.25,0,2.7e-5\n")
SEEDS = (MPT, ARBIN, b"time_s,voltage_V,current_mA,capacity_mAh\n0,3.0,0.1,0\n10,3.1,0.1,0.0003\n")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_cycler")


@fuzz_settings()
@given(data=fuzz_inputs(SEEDS))
def test_fuzz_cycler(folder, data):
    table = read_or_refuse(read_cycler, folder / "cycler.txt", data)
    if table is not None:
        lengths = {len(column) for column in table.columns.values()}
        assert table.columns and len(lengths) == 1 and lengths.pop() >= 1
        assert all(np.all(np.isfinite(column)) for column in table.columns.values())
        if "time" in table.columns:
            assert np.all(np.diff(table.columns["time"]) >= 0)
