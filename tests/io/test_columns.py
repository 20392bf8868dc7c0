"""Column files: unit detection on real files from other programs, round trips, malformed input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refine.data import Pattern
from refine.errors import InputError
from refine.io.patterns import read_pattern, write_pattern
from tests.conftest import shared_path


# -- real files ------------------------------------------------------------------------------------------------------
def test_pyfai_xy_is_two_theta_from_header():
    # pyFAI/Dioptas header "# 2th_deg	 I", "# Wavelength: 4.066e-11 m"; first row 1.019698551E-02 2.434518099E+00
    pat = read_pattern(shared_path("images_2d", "dioptas_CeO2_Pilatus1M", "CeO2_Pilatus1M.xy"))
    assert pat.unit == "2th_deg" and pat.metadata["unit_from"] == "header"
    assert pat.wavelength == pytest.approx(0.4066, rel=1e-12)
    assert pat.x[0] == pytest.approx(1.019698551e-02, rel=1e-12) and pat.y[0] == pytest.approx(2.434518099, rel=1e-12)
    assert pat.sigma_source == "unit" and np.all(pat.sigma == 1.0)  # no sigma column: unit weights, not invented


def test_srxgui_chi_is_q_with_sigma():
    # SrXgui header "integrationspace = qspace", "wavelength = 0.1835957"; three columns Q I sigma; Q 0 .. 31.5
    pat = read_pattern(shared_path("pdf_reduction", "pdfttp_ch04_Ni_pdfgetx3", "Ni.chi"))
    assert pat.unit == "q_A^-1" and pat.metadata["unit_from"] == "header"
    assert pat.wavelength == pytest.approx(0.1835957, rel=1e-12)
    assert pat.sigma_source == "file" and pat.metadata["ncolumns"] == 3
    assert pat.x[0] == 0.0 and pat.x[-1] == pytest.approx(31.5, abs=1e-12)
    # row "0.06 1164.81 152.288"
    assert pat.x[3] == pytest.approx(0.06, abs=1e-12) and pat.y[3] == pytest.approx(1164.81, abs=1e-9)
    assert pat.sigma[3] == pytest.approx(152.288, abs=1e-9)


def test_pdfgetx3_gr_is_r_although_header_mentions_q():
    # PDFgetX3 header holds its config ("dataformat = QA", "qmax = 24"), then "#L r(Å)  G(Å$^{-2}$)"
    path = shared_path("pdf_reduction", "pdfttp_ch04_Ni_pdfgetx3", "Ni.gr")
    assert "dataformat = QA" in path.read_text()
    pat = read_pattern(path)
    assert pat.unit == "r_A"
    assert len(pat) == 6001 and pat.x[0] == 0.0 and pat.x[-1] == pytest.approx(60.0, abs=1e-12)
    assert pat.y[1] == pytest.approx(-0.0121578, abs=1e-12)
    assert pat.sigma_source == "unit"


def test_pdfgui_gr_and_iq():
    # "#L r G(r)" and "#L Q I(Q)" label lines (PDFgetX2-style files from "PDF to the People" ch. 5)
    gr = read_pattern(shared_path("pdf_fits", "pdfttp_ch05_SiNi_two_phase", "ni.gr"))
    assert gr.unit == "r_A" and gr.metadata["unit_from"] == "header"
    assert gr.x[0] == pytest.approx(0.99999998e-02, rel=1e-12) and gr.y[0] == pytest.approx(0.77056400e-01, rel=1e-12)
    iq = read_pattern(shared_path("pdf_fits", "pdfttp_ch05_SiNi_two_phase", "iq", "ni.iq"))
    assert iq.unit == "q_A^-1"
    assert iq.x[0] == pytest.approx(0.46545929, rel=1e-12) and iq.y[0] == pytest.approx(1.5870457, rel=1e-12)


# -- round trips ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext, unit", [(".xy", "2th_deg"), (".xye", "q_A^-1"), (".gr", "r_A"), (".chi", "d_A"),
                                       (".xy", "r_A"), (".dat", "q_A^-1")])
def test_round_trip_with_sigma(tmp_path, ext, unit):
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.uniform(0.01, 0.1, 200)) + 0.5
    y = rng.normal(100.0, 30.0, x.size)
    sigma = rng.uniform(0.5, 5.0, x.size)
    pat = Pattern(x=x, y=y, sigma=sigma, unit=unit, sigma_source="propagated", wavelength=0.1235,
                  metadata={"source": "synthetic"})
    path = tmp_path / f"p{ext}"
    write_pattern(pat, path)
    back = read_pattern(path)
    assert back.unit == unit
    # 10 significant digits written
    np.testing.assert_allclose(back.x, x, rtol=1e-9)
    np.testing.assert_allclose(back.y, y, rtol=1e-9)
    np.testing.assert_allclose(back.sigma, sigma, rtol=1e-9)
    assert back.sigma_source == "file" and back.wavelength == 0.1235


def test_unit_weights_are_not_written_as_sigma(tmp_path):
    pat = Pattern.from_arrays([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    write_pattern(pat, tmp_path / "u.xy")
    back = read_pattern(tmp_path / "u.xy")
    assert back.metadata["ncolumns"] == 2 and back.sigma_source == "unit"


def _distinct(values: np.ndarray, fmt: str = "{:.10g}") -> bool:
    return len({fmt.format(v) for v in values}) == len(values)


_FLOATS = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_subnormal=False)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=hnp.arrays(float, st.integers(1, 40), elements=_FLOATS, unique=True),
       data=st.data(), ext=st.sampled_from([".xy", ".xye", ".chi", ".gr"]))
def test_arbitrary_arrays_survive(tmp_path, x, data, ext):
    """Any finite monotonic x with finite y and positive sigma reads back to the written 10 digits."""
    x = np.sort(x)
    assume(_distinct(x))  # points closer than the written precision cannot stay distinct
    n = x.size
    y = data.draw(hnp.arrays(float, n, elements=_FLOATS))
    sigma = data.draw(hnp.arrays(float, n, elements=st.floats(1e-12, 1e12)))
    unit = {".gr": "r_A"}.get(ext, "2th_deg")
    path = tmp_path / f"h{ext}"
    write_pattern(Pattern(x=x, y=y, sigma=sigma, unit=unit, sigma_source="file"), path)
    back = read_pattern(path)
    np.testing.assert_allclose(back.x, x, rtol=6e-10, atol=0)
    np.testing.assert_allclose(back.y, y, rtol=6e-10, atol=0)
    np.testing.assert_allclose(back.sigma, sigma, rtol=6e-10, atol=0)


# -- malformed input --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, problem", [
    ("", "no numeric data"),
    ("# only a header\n\n", "no numeric data"),
    ("1.0\n2.0\n3.0\n", "no numeric data"),  # one column
    ("1 5\n3 6\n2 7\n", "not monotonic"),
    ("1 5\n1 6\n", "not monotonic"),
    ("nan 5\n2 6\n", "non-finite"),
    ("1 5\ninf 6\n", "non-finite"),
    ("1 5\n2 6 7\n", "columns"),
    ("1 5\n2 6\nabc def\n", "not numeric"),
])
def test_bad_column_files(tmp_path, text, problem):
    path = tmp_path / "bad.xy"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as info:
        read_pattern(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text, problem", [
    ("1 nan\n2 6\n", r"line 1: non-finite value nan in column 2"),
    ("# x y sigma\n1 5 1\n2 6 inf\n", r"line 3: non-finite value inf in column 3"),
    ("1 5 -inf 0.1\n2 6 0 0.2\n", r"line 1: non-finite value -inf in column 3"),
    ("1 5\n2 6\n2 7\n", r"line 3: x 2 repeats 2 on line 2"),
    ("3 5\n2 6\n2.5 7\n", r"line 3: x 2.5 goes back from 2 on line 2"),
    ("1 5 1\n2 6 2\n3 7\n", r"line 3 has 2 columns, most data lines 3 \(file cut mid-line\?\)"),
    ("1 5\n2 6\n3", r"line 3 has 1 column"),
    ("1 5 2.236\n2 6 2.449\n3 7 2.645\n4 8 2.8", r"line 4: the last value '2.8' is shorter .* cut mid-number"),
])
def test_bad_values_name_the_line(tmp_path, text, problem):
    """NaN/inf in any column, repeated or unordered x and a file cut mid-line are refused naming the line."""
    path = tmp_path / "bad.xye"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as info:
        read_pattern(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_short_last_value_is_read_when_the_line_is_complete(tmp_path):
    """The cut-mid-number rule needs a missing final line break: with one, a short last value is data."""
    path = tmp_path / "ok.xye"
    path.write_text("1 5 2.236\n2 6 2.449\n3 7 2.645\n4 8 2.8\n")
    assert read_pattern(path).sigma[-1] == 2.8
    path.write_text("1 5 2.236\n2 6 2.449\n3 7 2.645\n4 8 2.828")  # same width: nothing says it is cut
    assert read_pattern(path).sigma[-1] == 2.828


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-8"])
def test_byte_order_marks(tmp_path, encoding):
    """A UTF-8 byte-order mark used to hide the first data line in the header (seen with the encoding mutations of the
    fuzz tests); UTF-16 with a BOM reads like UTF-8."""
    path = tmp_path / "bom.xy"
    path.write_bytes("10.0 120.5\n10.1 130\n10.2 140\n".encode(encoding))
    pattern = read_pattern(path)
    assert pattern.x.tolist() == [10.0, 10.1, 10.2] and pattern.y.tolist() == [120.5, 130.0, 140.0]


def test_overflowing_header_wavelength_is_unknown(tmp_path):
    path = tmp_path / "w.xy"
    path.write_text("# wavelength: 1e300 m\n1 5\n2 6\n")
    assert read_pattern(path).wavelength is None


def test_descending_x_is_reversed(tmp_path):
    path = tmp_path / "desc.xye"
    path.write_text("# 2theta I sigma\n3 30 3\n2 20 2\n1 10 1\n")
    pat = read_pattern(path)
    assert pat.x.tolist() == [1.0, 2.0, 3.0] and pat.y.tolist() == [10.0, 20.0, 30.0]
    assert pat.sigma.tolist() == [1.0, 2.0, 3.0]


def test_start_data_marker_ends_a_header_with_numeric_tables(tmp_path):
    """PDFgetN/PDFgetX headers hold numeric tables (bank angles, ...): data start after '#### start data'."""
    text = ("History written: 2004\n##### Banks=2\nbank angle qmin qmax\n  1 90.0 1.62 29.42\n  2 119.0 1.97 35.85\n"
            "numRpoints=3 maxR=0.03\n##### start data\n#S 1 - PDF from PDFgetN\n#L r G(r) dr dG\n"
            "0.01 0.5 0 0.1\n0.02 0.6 0 0.1\n0.03 0.7 0 0.2\n")
    path = tmp_path / "n.gr"
    path.write_text(text)
    p = read_pattern(path)
    np.testing.assert_allclose(p.x, [0.01, 0.02, 0.03])
    np.testing.assert_allclose(p.sigma, [0.1, 0.1, 0.2])
    assert p.unit == "r_A" and p.sigma_source == "file"
    assert any("29.42" in line for line in p.metadata["header"])


def test_zero_padded_extra_columns_are_dropped_but_real_ones_are_an_error(tmp_path):
    rows = [f"{0.01 * k:.2f} {k}" + ("  0.0  0.0" if k % 5 == 0 else "") for k in range(1, 41)]
    path = tmp_path / "z.gr"
    path.write_text("\n".join(rows) + "\n")
    p = read_pattern(path)
    assert len(p) == 40 and p.metadata["extra_columns_ignored_rows"] == 8 and p.sigma_source == "unit"
    path.write_text("\n".join(r.replace("0.0  0.0", "0.3  0.4") for r in rows) + "\n")
    with pytest.raises(InputError, match="inconsistent columns"):
        read_pattern(path)


@pytest.mark.parametrize("parts", [("pdf_fits", "pdfgui_Ni_xray_neutron", "Ni-neutron.gr"),
                                   ("pdf_fits", "pdfttp_ch05_SiNi_two_phase", "si.gr"),
                                   ("sequential", "pdfgui_LaMnO3_temperature_series_neutron_PDF", "300K.gr")])
def test_real_pdfgui_era_gr_files(parts):
    p = read_pattern(shared_path(*parts))
    assert p.unit == "r_A" and p.x[0] == pytest.approx(0.01) and np.all(np.diff(p.x) > 0) and len(p) >= 2000
