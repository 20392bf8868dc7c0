"""Format dispatch and the contract every reader keeps: bad input raises InputError, never anything else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refine.data import Pattern
from refine.errors import InputError, UnknownNameError
from refine.io.patterns import PATTERN_READERS, PATTERN_WRITERS, format_of, read_pattern, write_pattern

READERS = ("columns", "gsas", "bruker_raw")


def test_formats_are_registered():
    with pytest.raises(InputError):  # loads the format modules as a side effect
        read_pattern(__file__, format="columns")
    for name in READERS:
        assert name in PATTERN_READERS
    assert "gsas" in PATTERN_WRITERS and "columns" in PATTERN_WRITERS


@pytest.mark.parametrize("name, content, expected", [
    ("a.xye", b"1 2 3\n", "columns"), ("a.GSAS", b"t\n", "gsas"), ("a.fxye", b"t\n", "gsas"),
    ("a.XRA", b"t\n", "gsas"), ("a.raw", b"RAW1.01\x00\x01", "bruker_raw"), ("a.raw", b"RAW4.00\x00", "bruker_raw"),
    ("a.raw", b"title\nBANK 1 2 1 CONST 1000 5 0 0 STD\n", "gsas"),
    ("a.raw", b"RAW scan of LiFePO4 (GSAS text)\nBANK 1 1 1 CONST 1000 5 0 0 STD\n", "gsas"),
])
def test_format_of(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    assert format_of(path) == expected
    assert format_of(path, "Columns") == "columns"


def test_unknown_extension_and_format(tmp_path):
    path = tmp_path / "a.xyz"
    path.write_text("1 2\n")
    # the known extensions are listed (a command-line user has no format= to pass)
    with pytest.raises(InputError, match=r"unknown pattern extension '\.xyz': a pattern is one of \.xy, \.xye, "):
        read_pattern(path)
    with pytest.raises(UnknownNameError, match="pattern format"):
        read_pattern(path, format="nonsense")
    with pytest.raises(InputError, match="no such file"):
        read_pattern(tmp_path / "missing.xy")


@pytest.mark.parametrize("fmt", READERS)
@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"1.0\n2.0\n3.0\n", b"\x00" * 64])
def test_empty_and_one_column_files(tmp_path, fmt, content):
    path = tmp_path / "f.dat"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_pattern(path, format=fmt)
    assert str(path) in str(info.value)


def _assert_input_error_or_pattern(path, fmt):
    try:
        pat = read_pattern(path, format=fmt)
    except InputError as exc:
        assert str(path) in str(exc)
    else:
        # whatever a reader accepts is a usable pattern
        assert isinstance(pat, Pattern) and len(pat) > 0
        assert np.all(np.isfinite(pat.x)) and np.all(np.diff(pat.x) > 0)


@settings(max_examples=150)
@given(content=st.binary(max_size=3000), fmt=st.sampled_from(READERS))
def test_junk_bytes(tmp_path_factory, content, fmt):
    path = tmp_path_factory.mktemp("junk") / "junk.dat"
    path.write_bytes(content)
    _assert_input_error_or_pattern(path, fmt)


_GSASISH = st.lists(st.one_of(
    st.sampled_from(["BANK 1 3 1 CONST 1000 5 0 0 STD", "BANK 2 2 2 CONS 1000 1 0 0 FXYE", "BANK 1 2 1 CONST 1e400 5",
                     "BANK 1 99999999999 1 CONST 1000 5 0 0 ESD", "BANK", "# wavelength = ", "TIME_MAP 1 2 3",
                     "     100     200     300", " 1   220 2   214", "1000 25 2", "1001 nan 3", "\x1a",
                     "Instrument parameter file: x.prm", "wavelength: -+.", "1e999 2 3"]),
    st.text(alphabet="0123456789 .-+eE#BANKCONSTDFXY\t", max_size=40),
), max_size=12).map("\n".join)


@settings(max_examples=200)
@given(text=_GSASISH, fmt=st.sampled_from(READERS))
def test_junk_text_shaped_like_the_formats(tmp_path_factory, text, fmt):
    path = tmp_path_factory.mktemp("junk") / "junk.txt"
    path.write_text("title\n" + text, encoding="latin-1")
    _assert_input_error_or_pattern(path, fmt)


def test_write_pattern_dispatch(tmp_path):
    pat = Pattern(x=[10.0, 10.5], y=[3.0, 4.0], sigma=[1.0, 2.0], sigma_source="file")
    write_pattern(pat, tmp_path / "a.fxye")
    assert "FXYE" in (tmp_path / "a.fxye").read_text()
    write_pattern(pat, tmp_path / "a.xye")
    assert read_pattern(tmp_path / "a.xye").metadata["format"] == "columns"
    write_pattern(pat, tmp_path / "b.txt2", format="gsas")
    assert read_pattern(tmp_path / "b.txt2", format="gsas").sigma.tolist() == [1.0, 2.0]
