"""Fuzzing the instrument readers (GSAS-II .instprm, GSAS .prm): a valid instrument or a one-line InputError."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refine.instrument import Instrument
from refine.io.instprm import read_instrument
from tests.fuzzing import fuzz_inputs, fuzz_settings, read_or_refuse

INSTPRM_SEEDS = (
    b"#GSAS-II instrument parameter file; do not add/delete items!\nType:PXC\nBank:1.0\nLam1:1.5405\nLam2:1.5443\n"
    b"I(L2)/I(L1):0.5\nZero:0.0\nPolariz.:0.7\nAzimuth:0.0\nU:2.0\nV:-2.0\nW:5.0\nX:0.0\nY:0.0\nZ:0.0\nSH/L:0.002\n"
    b"Diff-type:Bragg-Brentano\n#refine: geometry=bragg_brentano\n#refine: monochromator_angle=26.6\n",
    b"#GSAS-II instrument parameter file; do not add/delete items!\n#Bank 1: neutron\nType:PNC;Bank:1;Lam:1.909\n"
    b"Zero:-0.01;Polariz.:0.5;U:200;V:-150;W:100\nX:0;Y:5;SH/L:0.003\n#Bank 2: second\nType:PNC\nLam:1.5\nZero:0\n"
    b"Polariz.:0.5\nU:1\nV:0\nW:1\nX:0\nY:0\nSH/L:0.002\n",
)
PRM_SEEDS = (
    b"            123456789012345678901234567890123456789012345678901234567890\n"
    b"INS   BANK      1                                                               \n"
    b"INS   HTYPE   PXCR                                                              \n"
    b"INS  1 IRAD     3                                                               \n"
    b"INS  1 ICONS  1.540500  1.544300       0.0         0       0.7    0       0.5   \n"
    b"INS  1PRCF1     3    8      0.01                                                \n"
    b"INS  1PRCF11   2.000000E+00  -2.000000E+00   5.000000E+00   0.100000E+00        \n"
    b"INS  1PRCF12   0.000000E+00   0.000000E+00   0.150000E-01   0.150000E-01        \n",
    b"INS   HTYPE   PNCR\nINS  1 ICONS  1.909000  0.000000      -1.5         0       0.5    1       0.0\n"
    b"INS  1 DETAZM   0.0\nINS  1INAME  D1A\nINS  1PRCF1     2    6      0.01\n"
    b"INS  1PRCF11   1.500000E+02  -1.200000E+02   9.000000E+01   1.000000E+00\n"
    b"INS  1PRCF12   2.000000E+00   0.000000E+00\n",
)


def check_instrument(instrument: Instrument) -> None:
    """What every instrument read from a file must be: finite wavelengths, zero and profile."""
    assert isinstance(instrument, Instrument)
    values = [instrument.wavelength, instrument.zero, instrument.polarization, instrument.azimuth,
              *(getattr(instrument.profile, k) for k in ("U", "V", "W", "X", "Y", "Z", "sh_l"))]
    values += [v for v in (instrument.wavelength2, instrument.monochromator_angle) if v is not None]
    assert all(math.isfinite(v) for v in values), instrument
    assert instrument.wavelength > 0


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_instprm")


@fuzz_settings()
@given(data=fuzz_inputs(INSTPRM_SEEDS), bank=st.sampled_from([None] * 4 + [2]))
def test_fuzz_instprm(folder, data, bank):
    path = folder / "instrument.instprm"
    instrument = read_or_refuse(lambda p: read_instrument(p, **({} if bank is None else {"bank": bank})), path, data)
    if instrument is not None:
        check_instrument(instrument)


@fuzz_settings()
@given(data=fuzz_inputs(PRM_SEEDS), bank=st.sampled_from([None] * 4 + [2]))
def test_fuzz_gsas_prm(folder, data, bank):
    path = folder / "instrument.prm"
    instrument = read_or_refuse(lambda p: read_instrument(p, **({} if bank is None else {"bank": bank})), path, data)
    if instrument is not None:
        check_instrument(instrument)
