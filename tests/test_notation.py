"""Value(esd) notation (rule of 19), R-factors in percent, and the LO:HI text of a range."""

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refine.notation import format_esd, format_percent, parse_range


@pytest.mark.parametrize(("value", "esd", "text"), [
    (4.641953, 0.000062, "4.64195(6)"),
    (0.69183, 0.00184, "0.6918(18)"),
    (851.1234, 0.052, "851.12(5)"),
    (5.41172, 0.0001, "5.41172(10)"),
    (3.5, 0.000196, "3.5000(2)"),      # 19.6 rounds up to 20: one digit, one place up
    (3.5, 0.00025, "3.5000(3)"),       # half rounds up
    (-0.0123, 0.004, "-0.012(4)"),
    (1234.5, 23.0, "1230(20)"),
    (12.0, None, "12"),
    (12.0, 0.0, "12"),
    (float("nan"), 0.1, "nan"),
])
def test_examples(value, esd, text):
    assert format_esd(value, esd) == text


@given(value=st.floats(-1e4, 1e4, allow_nan=False), esd=st.floats(1e-9, 0.9, allow_nan=False))
def test_printed_esd_has_one_or_two_digits_and_both_round_honestly(value, esd):
    """Below 1 the last printed decimal is the esd's place: the esd reads 2–9 or 10–19 units of it, and both the
    esd and the value are their true values rounded to that place."""
    text = format_esd(value, esd)
    m = re.fullmatch(r"(-?\d+\.(\d+))\((\d+)\)", text)
    assert m, text
    place = 10.0 ** -len(m.group(2))
    units = int(m.group(3))
    assert 2 <= units <= 19
    assert abs(units * place - esd) <= 0.5 * place * (1 + 1e-9)
    assert abs(float(m.group(1)) - value) <= 0.5 * place + 1e-12 * max(1.0, abs(value))


def test_percent():
    assert format_percent(0.0978) == "9.78 %"
    assert format_percent(None) == "n/a" and format_percent(math.nan) == "n/a"


def test_note_warnings_are_the_notes_that_begin_with_warning():
    from refine.notation import note_warnings

    notes = ["instrument: monochromatic 0.72 Å", "warning: the given wavelength 0.7 Å is used", 3, None]
    assert note_warnings(notes) == ["the given wavelength 0.7 Å is used"]
    assert note_warnings(None) == []


@given(st.floats(-1e6, 1e6, allow_nan=False), st.floats(1e-3, 1e6, allow_nan=False))
def test_parse_range_reads_its_text_and_pairs(lo, width):
    hi = lo + width
    assert parse_range(f"{lo!r}:{hi!r}") == parse_range((lo, hi)) == (lo, hi)  # repr round-trips exactly
    with pytest.raises(ValueError, match="LO must be below HI"):
        parse_range(f"{hi!r}:{lo!r}")


@pytest.mark.parametrize("text", ["8", "8:12:14", "a:b", "", (8,)])
def test_parse_range_refuses_what_is_not_two_numbers(text):
    with pytest.raises(ValueError, match="expected LO:HI"):
        parse_range(text)
