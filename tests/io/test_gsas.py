"""GSAS powder data: real GSAS-II tutorial files (numbers taken from the file text), synthetic banks, round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refine.data import Pattern
from refine.errors import InputError
from refine.io.patterns import read_pattern, write_pattern
from tests.conftest import shared_path

PBSO4 = ("powder_rietveld", "gsas2_PbSO4_CPD_xray_neutron")


def test_pbso4_xray_std():
    path = shared_path(*PBSO4, "PBSO4.XRA")
    pat = read_pattern(path)
    # BANK 1  6001  601 CONST 1000 2.5 0 0 STD: 6001 points from 10.00 deg in 0.025 deg steps
    assert len(pat) == 6001
    assert pat.x[0] == pytest.approx(10.0, abs=1e-9)
    assert np.diff(pat.x) == pytest.approx(0.025, abs=1e-9)
    assert pat.x[-1] == pytest.approx(160.0, abs=1e-9)
    # first record "     179     147     165 ..." and last record "     368       0 ..." (padding after nchan)
    assert pat.y[:3].tolist() == [179.0, 147.0, 165.0]
    assert pat.y[-1] == 368.0
    assert pat.sigma_source == "poisson"
    assert pat.sigma[:3] == pytest.approx(np.sqrt([179.0, 147.0, 165.0]), rel=1e-12)
    assert pat.metadata["format"] == "gsas" and pat.metadata["gsas_layout"] == "STD"
    assert "PbSO4  Cu Ka X-ray data" in pat.metadata["header"][0]
    assert pat.unit == "2th_deg" and pat.metadata["dropped_points"] == 0


def test_pbso4_neutron_counter_field():
    # BANK 1 2919 292 CONST 1000 5 0 0 (no layout keyword: STD); fields " 1   220" = 1 counter, 220 counts
    path = shared_path(*PBSO4, "PBSO4.CWN")
    pat = read_pattern(path)
    assert len(pat) == 2919
    assert pat.x[0] == pytest.approx(10.0, abs=1e-9) and pat.x[-1] == pytest.approx(155.9, abs=1e-9)
    assert pat.y[:3].tolist() == [220.0, 214.0, 219.0]
    assert pat.y[-1] == 450.0
    assert pat.sigma[0] == pytest.approx(np.sqrt(220.0), rel=1e-12)
    # D1A averages over several detectors: file line 19 reads " 2   183 3   189 3   196 ...", i.e. points 160,
    # 161 (2θ = 18.00, 18.05) hold 183 (mean of 2 counters) and 189 (mean of 3): variance I/ncts
    assert pat.x[160] == pytest.approx(18.0, abs=1e-9)
    assert pat.y[160:162].tolist() == [183.0, 189.0]
    assert pat.sigma[160:162] == pytest.approx([np.sqrt(183.0 / 2), np.sqrt(189.0 / 3)], rel=1e-12)
    # line 60 is " 6   210 6   197 ...": points 570.. with 6 counters
    assert pat.y[570] == 210.0 and pat.sigma[570] == pytest.approx(np.sqrt(210.0 / 6), rel=1e-12)


def test_nist660_and_fap():
    lab6 = read_pattern(shared_path("powder_rietveld", "gsas2_LaB6_NIST660_lab", "NIST660CBI.gsas"))
    # BANK 1 8378 838 CONST 1500.66 1.31303: from 15.0066 deg in 0.0131303 deg steps
    assert len(lab6) == 8378
    assert lab6.x[0] == pytest.approx(15.0066, abs=1e-9)
    assert lab6.x[1] - lab6.x[0] == pytest.approx(0.0131303, abs=1e-9)
    assert lab6.y[:3].tolist() == [2364.0, 2382.0, 2386.0] and lab6.y[-1] == 370.0
    assert lab6.metadata["header"][0] == "Sample ID - Anode and Instrument"

    fap_path = shared_path("powder_rietveld", "gsas2_fluorapatite_lab_CuKa", "FAP.XRA")
    fap = read_pattern(fap_path)
    # BANK 1 5753 576 CONST 1500 2: the last record is "84 0 0 | 0 ..."; the two zero channels inside nchan
    # carry no data (GSAS gives them zero weight) and are dropped
    assert fap.metadata["dropped_points"] == 2
    assert len(fap) == 5751
    assert fap.x[0] == pytest.approx(15.0, abs=1e-9) and fap.x[-1] == pytest.approx(130.0, abs=1e-9)
    assert fap.y[:3].tolist() == [609.0, 612.0, 673.0] and fap.y[-1] == 84.0


def test_11bm_fxye():
    path = shared_path("powder_rietveld", "gsas2_sucrose_LeBail_11BM", "11bmb_8716.fxye")
    pat = read_pattern(path)
    # BANK 1 49494 49494 CONS 50.000000 0.099987 0 0 FXYE; first line " 50.000000 505.417410 32.809444"
    assert len(pat) == 49494
    assert pat.x[0] == pytest.approx(0.5, abs=1e-12)
    assert pat.y[0] == pytest.approx(505.417410, abs=1e-9) and pat.sigma[0] == pytest.approx(32.809444, abs=1e-9)
    # last line " 4998.643179 265.230908 45.182763"
    assert pat.x[-1] == pytest.approx(49.98643179, abs=1e-12)
    assert pat.y[-1] == pytest.approx(265.230908, abs=1e-9)
    assert pat.sigma_source == "file" and pat.metadata["gsas_layout"] == "FXYE"
    # "# Calibrated wavelength = 0.413259" comment
    assert pat.wavelength == pytest.approx(0.413259, abs=1e-9)
    assert pat.metadata["header"][0].startswith("/home/beams/S11BM/data/jul12/11bmb_8716.mda")


def _write(tmp_path: Path, text: str, name: str = "t.gsas") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="latin-1")
    return path


def test_std_counters_and_banks(tmp_path):
    # two banks; bank 2 in ESD; STD fields with 2 and 4 counters -> variance I/ncts
    text = ("title line\n"
            "BANK 1 3 1 CONST 2000 5 0 0 STD\n"
            " 2   100 4   400    9999\n"
            "BANK 2 2 1 CONST 1000 10 0 0 ESD\n"
            "   100.0     5.0   200.0     7.5\n")
    path = _write(tmp_path, text)
    one = read_pattern(path)
    assert one.metadata["bank"] == 1 and one.metadata["banks"] == [1, 2]
    assert one.x == pytest.approx([20.0, 20.05, 20.1], abs=1e-12)
    assert one.y.tolist() == [100.0, 400.0, 9999.0]
    assert one.sigma == pytest.approx([np.sqrt(50.0), np.sqrt(100.0), np.sqrt(9999.0)], rel=1e-12)
    two = read_pattern(path, bank=2)
    assert two.metadata["gsas_layout"] == "ESD" and two.sigma_source == "file"
    assert two.x == pytest.approx([10.0, 10.1], abs=1e-12)
    assert two.y.tolist() == [100.0, 200.0] and two.sigma.tolist() == [5.0, 7.5]
    with pytest.raises(InputError, match="no bank 3"):
        read_pattern(path, bank=3)


def test_fxy_counts_and_dropped_esd(tmp_path):
    fxy = read_pattern(_write(tmp_path, "t\nBANK 1 2 2 CONS 1000 1 0 0 FXY\n1000 25\n1001 36\n"))
    assert fxy.sigma_source == "poisson" and fxy.sigma.tolist() == [5.0, 6.0]
    fxye = read_pattern(_write(tmp_path, "t\nBANK 1 3 3 CONS 1000 1 0 0 FXYE\n1000 25 2\n1001 36 0\n1002 1 1\n"))
    assert fxye.metadata["dropped_points"] == 1 and fxye.x == pytest.approx([10.0, 10.02])


@pytest.mark.parametrize("text, problem", [
    ("t\nBANK 1 10 10 TIME_MAP 1 0 0 0 ESD\n", "time-of-flight"),
    ("t\nBANK 1 10 2 SLOG 1000 20000 0.0005 0 FXYE\n", "time-of-flight"),
    ("t\nBANK 1 2 1 EDS 1 0.1 0 0 STD\n     100     100\n", "energy-dispersive"),
    ("t\nBANK 1 4 1 CONST 100000 100000 0 0 STD\n     100     100     100     100\n", "time-of-flight"),
    ("t\nBANK 1 20 2 CONST 1000 5 0 0 STD\n     100     100\n", "truncated"),
    ("t\nBANK 1 2 2 CONS 1000 1 0 0 FXYE\n1000 25 2\n", "truncated"),
    ("t\nBANK 1 2 2 CONS 1000 1 0 0 FXYE\n1000 25 2\n999 25 2\n", "not strictly increasing"),
    ("t\nBANK 1 3 3 CONS 1000 1 0 0 FXY\n1000 25\n1001 25\n1001 36\n", r"line 5: 2θ 10.01 does not increase"),
    ("t\nBANK 1 2 2 CONS 1000 1 0 0 FXYE\n1000 25 2\n1001 inf 2\n", "line 4: non-finite"),
    ("t\nBANK 1 2 1 CONST 1000 5 0 0 ESD\n    25.0    5.00    36.0     nan\n", "line 3: esd field: not a finite"),
    # cut while written: the last number is incomplete and the file has no final line break
    ("t\nBANK 1 3 3 CONS 1000 1 0 0 FXYE\n1000 25 5.00\n1001 36 6.00\n1002 49 7", r"line 5: .* cut mid-number"),
    ("t\nBANK 1 2 1 CONST 1000 5 0 0 ESD\n    25.0    5.00    36.0    6.", "line 3: the last field .* is 14 of 16"),
    ("t\nBANK 1 3 1 CONST 1000 5 0 0 STD\n     100     121     1", "line 3: the last field '1' is 6 of 8"),
    ("t\nBANK 1 2 2 CONS 1000 1 0 0 FXYE\nnan 25 2\n1001 25 2\n", "non-finite"),
    ("t\nBANK 1 2 1 CONST 1000 0 0 0 STD\n     100     100\n", "positive step"),
    ("t\n 1 2 3\n", "no BANK line"),
    ("", "empty"),
    ("t\nBANK x 2 1 CONST 1000 5 0 0 STD\n", "integers"),
    ("t\nBANK 1 2 1 CONST 1000 5 0 0 STD\n       0       0\n", "no point has a positive"),
])
def test_bad_files(tmp_path, text, problem):
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=problem) as info:
        read_pattern(path)
    assert str(path) in str(info.value)


def test_fxye_round_trip(tmp_path):
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(5.0, 120.0, 300))
    y = rng.poisson(500.0, x.size).astype(float) - 50.0  # background-subtracted values may be negative
    sigma = np.sqrt(np.abs(y) + 50.0)
    pat = Pattern(x=x, y=y, sigma=sigma, sigma_source="file", wavelength=1.5406, radiation="xray",
                  metadata={"source": "synthetic"})
    out = tmp_path / "rt.fxye"
    write_pattern(pat, out)
    back = read_pattern(out)
    # written with 10 significant digits
    assert back.x == pytest.approx(x, rel=1e-9) and back.y == pytest.approx(y, rel=1e-9, abs=1e-9)
    assert back.sigma == pytest.approx(sigma, rel=1e-9)
    assert back.sigma_source == "file" and back.wavelength == 1.5406 and back.radiation == "xray"
    # unit weights stay unit weights (never promoted to 'file' esds)
    unit = Pattern.from_arrays(x, y)
    write_pattern(unit, tmp_path / "unit.gsas")
    assert read_pattern(tmp_path / "unit.gsas").sigma_source == "unit"


def test_writer_refuses_non_2theta(tmp_path):
    pat = Pattern.from_arrays([1.0, 2.0], [3.0, 4.0], unit="q_A^-1")
    with pytest.raises(InputError, match="2θ"):
        write_pattern(pat, tmp_path / "q.fxye")
    assert not (tmp_path / "q.fxye").exists()


def test_raw_extension_sniffs_gsas_text(tmp_path):
    path = _write(tmp_path, "t\nBANK 1 2 1 CONST 1000 5 0 0 STD\n     100     121\n", name="scan.raw")
    pat = read_pattern(path)
    assert pat.metadata["format"] == "gsas" and pat.sigma.tolist() == [10.0, 11.0]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=hnp.arrays(float, st.integers(1, 40), elements=st.floats(-180.0, 180.0, allow_subnormal=False), unique=True),
       data=st.data())
def test_fxye_arbitrary_arrays_survive(tmp_path, x, data):
    """Any finite increasing 2θ in ±180° with finite y and positive esd reads back to the written 10 digits."""
    x = np.sort(x)
    assume(len({f"{v * 100.0:.10g}" for v in x}) == x.size)  # distinct at the written precision
    y = data.draw(hnp.arrays(float, x.size, elements=st.floats(-1e12, 1e12, allow_subnormal=False)))
    sigma = data.draw(hnp.arrays(float, x.size, elements=st.floats(1e-12, 1e12)))
    path = tmp_path / "h.fxye"
    write_pattern(Pattern(x=x, y=y, sigma=sigma, sigma_source="file"), path)
    back = read_pattern(path)
    # x goes through centidegrees: 10 digits of 100*x, then /100 (one more rounding)
    np.testing.assert_allclose(back.x, x, rtol=6e-10, atol=1e-300)
    np.testing.assert_allclose(back.y, y, rtol=6e-10, atol=0)
    np.testing.assert_allclose(back.sigma, sigma, rtol=6e-10, atol=0)


def test_std_to_fxye_keeps_title_counts_and_poisson_esds(tmp_path):
    # An STD bank with D1A-style counter fields (" 2   183" = mean of 2 counters): sigma = sqrt(I / ncts)
    counts = [(1, 220), (2, 183), (3, 189), (6, 210), (1, 12), (4, 57), (1, 95), (2, 101), (3, 99), (1, 100), (5, 88)]
    fields = [f"{n:2d}{c:6d}" for n, c in counts]
    records = ["".join(fields[i:i + 10]).ljust(80) for i in range(0, len(fields), 10)]
    path = _write(tmp_path, "PbSO4 D1A-like neutron data\nBANK 1 11 2 CONST 1000 5 0 0\n" + "\n".join(records) + "\n")
    std = read_pattern(path)
    assert std.sigma[1:4] == pytest.approx(np.sqrt([183 / 2, 189 / 3, 210 / 6]), rel=1e-12)
    out = tmp_path / "pbso4.fxye"
    write_pattern(std, out)
    back = read_pattern(out)
    assert back.metadata["header"][0] == std.metadata["header"][0]
    np.testing.assert_allclose(back.x, std.x, rtol=1e-12)
    assert np.array_equal(back.y, std.y)
    np.testing.assert_allclose(back.sigma, std.sigma, rtol=1e-9)  # sqrt(I/ncts) written as esds, 10 digits
    assert back.sigma_source == "file"


def test_bank_option_as_text(tmp_path):
    path = _write(tmp_path, "t\nBANK 1 1 1 CONST 1000 5 0 0 STD\n     100\nBANK 7 1 1 CONST 2000 5 0 0 STD\n     400\n")
    assert read_pattern(path, bank="7").y.tolist() == [400.0]
    with pytest.raises(InputError, match="integer"):
        read_pattern(path, bank="first")
    with pytest.raises(InputError, match=r"banks \[1, 7\]"):
        read_pattern(path, bank=2)
