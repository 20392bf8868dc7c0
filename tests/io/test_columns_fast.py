"""The one-call numpy path of the column reader gives exactly what the line-by-line reader gives, or declines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from refine.errors import InputError
from refine.io.columns import _checked_table, _fast_table, read_columns
from tests.fuzzing import fuzz_inputs, fuzz_settings
from tests.io.test_fuzz_columns import SEEDS

MORE_SEEDS = SEEDS + (
    b"# x y\n\n1 2\n2 3\n3 4\n",  # blank line before the data (not in the header)
    b"1 2\n2 3\n\n3 4\n",  # blank line inside the data
    b"1 2 3\n2 3 4\n3 4\n",  # short last line
    b"1 2\n2 3\n3 nan\n",
    b"1 2\n2 3\n2 4\n",
    b"1 2 # comment\n2 3\n",
    b"1 2\n# a comment among the data\n2 3\n",
    b"1,,2\n2,3\n3, 4\n",
    b"1 2\n2 3\n3 4",  # no final line break
)


def _compare(text: str) -> None:
    lines = text.splitlines()
    fast = _fast_table(text, lines)
    if fast is None:
        return
    header, data, ragged = _checked_table(Path("x.xy"), text, lines)  # must not refuse what the fast path took
    assert fast[0] == header
    assert ragged == 0
    np.testing.assert_array_equal(fast[1], data)


@pytest.mark.parametrize("raw", MORE_SEEDS)
def test_fast_path_equals_line_reader_on_seeds(raw):
    _compare(raw.decode("utf-8", errors="replace"))


def test_fast_path_declines_unusual_files():
    for raw in MORE_SEEDS[len(SEEDS) + 1:]:
        if raw.startswith((b"1,,2", b"1 2 # comment")):  # taken: commas collapse, that first line is header
            continue
        text = raw.decode()
        assert _fast_table(text, text.splitlines()) is None, raw


def test_fast_path_takes_a_plain_file():
    text = "# 2th_deg I sigma\n" + "".join(f"{10 + 0.01 * i:.2f} {100 + i} 10\n" for i in range(50))
    header, data = _fast_table(text, text.splitlines())
    assert header == ["# 2th_deg I sigma"] and data.shape == (50, 3)


def test_errors_still_name_the_line(tmp_path):
    path = tmp_path / "bad.xy"
    path.write_text("# x y\n1 2\n2 3\n2 4\n5 6\n")
    with pytest.raises(InputError, match="line 4"):
        read_columns(path)


@fuzz_settings()
@given(data=fuzz_inputs(MORE_SEEDS))
def test_fuzz_fast_path_equals_line_reader(data):
    try:
        _compare(data.decode("utf-8", errors="replace"))
    except InputError:
        raise AssertionError(f"the line reader refused a file the fast path took: {data!r}") from None
