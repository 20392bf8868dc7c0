"""Fuzzing the GSAS powder data reader (STD, ESD, FXY, FXYE banks): a valid pattern or a one-line InputError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refine.io.gsas import read_gsas
from tests.fuzzing import check_pattern, fuzz_inputs, fuzz_settings, read_or_refuse


def _std() -> bytes:
    counts = [179, 147, 165, 180, 0, 212, 250, 301, 288, 190, 170, 160]
    fields = "".join(f"{'' if i % 3 else ' 2'}{c:>{8 if i % 3 else 6}}" for i, c in enumerate(counts))
    records = [fields[k:k + 80] for k in range(0, len(fields), 80)]
    return ("PbSO4 x-ray STD\nInstrument parameter file: INST_XRY.PRM\n# wavelength = 1.5406 A\n"
            "BANK 1 12 2 CONST 1000.00 2.50 0 0 STD\n" + "\n".join(r.ljust(80) for r in records) + "\n").encode()


def _esd() -> bytes:
    pairs = [(179.0, 13.4), (147.0, 12.1), (165.0, 12.8), (180.0, 13.4), (212.0, 14.6), (250.5, 15.8)]
    fields = "".join(f"{y:8.1f}{e:8.2f}" for y, e in pairs)
    records = [fields[k:k + 80] for k in range(0, len(fields), 80)]
    return ("ESD bank\nBANK 2 6 2 CONST 1500.0 5.0 0 0 ESD\n" + "\n".join(records) + "\n").encode()


SEEDS = (
    _std(),
    _esd(),
    b"FXY title\nBANK 1 4 4 CONS 1000 2.5 0 0 FXY\n1000.0 179\n1002.5 147\n1005.0 165\n1007.5 180\n",
    b"refine pattern\n# radiation = xray\n# wavelength = 1.5406 A\nBANK 1 5 5 CONS 2000.000000 1.000000 0 0 FXYE\n"
    b"2000 1523.5 39.03\n2001 1502.25 38.76\n2002 1480 38.47\n2003 1433.75 37.87\n2004 1399 37.4\n",
    b"two banks\nBANK 1 3 3 CONS 500 10 0 0 FXYE\n500 10 3.2\n510 12 3.5\n520 11 3.3\n"
    b"BANK 2 3 3 CONS 600 10 0 0 FXYE\n600 20 4.5\n610 22 4.7\n620 21 4.6\nMonitor: 1000\n",
    b"tof\nTIME_MAP 1 4 0 TIME_MAP 10\nBANK 1 2 2 TIME_MAP 1 ALT\n1000 10 3\n2000 20 4\n",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_gsas")


@fuzz_settings()
@given(data=fuzz_inputs(SEEDS), bank=st.sampled_from([None, None, None, 1, 2, "2", "x"]))
def test_fuzz_gsas(folder, data, bank):
    path = folder / "pattern.gsas"
    pattern = read_or_refuse(lambda p: read_gsas(p, bank=bank), path, data)
    if pattern is not None:
        check_pattern(pattern, path)
