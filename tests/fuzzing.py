"""Fuzzing support for the readers' tests (issue 11): inputs made by mutating valid files, and the property.

The property every reader must keep: for any bytes it is given, it returns a valid object or raises
:class:`refine.errors.InputError` whose message is one line and names the file; no other exception, no hang.

Inputs are small valid files ("seeds") put through one to four mutations (cut, delete, insert junk, replace a
number by NaN/inf/a huge or malformed number, swap lines or fields, duplicate lines, flip or overwrite bytes,
change the encoding or line endings), plus raw random bytes and random text. The number of examples comes from
the hypothesis profile named by ``REFINE_FUZZ_PROFILE`` (see ``tests/conftest.py``): ``fuzz-ci`` (2 000 per
reader, the default) or ``fuzz-nightly`` (20 000); ``REFINE_FUZZ_EXAMPLES=N`` overrides the count (``make fuzz``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import struct
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import event, settings
from hypothesis import strategies as st

from refine.data import Pattern
from refine.errors import InputError

#: Environment variable naming the hypothesis profile of the fuzz tests.
PROFILE_VARIABLE = "REFINE_FUZZ_PROFILE"
#: Environment variable overriding the number of examples per fuzz test (``make fuzz`` sets 20 000).
EXAMPLES_VARIABLE = "REFINE_FUZZ_EXAMPLES"
#: A reader that takes longer than this on an input of a few kB is taken to hang (generous: the CI machine is
#: shared; every reader here needs milliseconds).
HANG_SECONDS = 30.0

# Replacements for a number: non-finite, huge, tiny, negative, malformed, separators, other encodings.
SPECIAL_TOKENS: tuple[bytes, ...] = (
    b"nan", b"NaN", b"-nan", b"inf", b"-inf", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1e308", b"1.8e308",
    b"-1.7e308", b"4.9e-324", b"1e-400", b"0", b"-0", b"0.0", b"-1", b"-1e30", b"1e30", b"99999999999999999999",
    b"-99999999999999999999", b"2147483648", b"4294967296", b"-2147483649", b"65535", b"1e5", b"3.", b".5", b"",
    b" ", b"-", b"+", b".", b"e", b"1e", b"1.2.3", b"0x1F", b"1_000", b"1,5", b"\xe2\x88\x9e", b"\x00", b"?", b"'",
    b'"', b"#", b",", b";", b":", b"=", b"\t", b"\r", b"\n", b"[", b"]", b"{", b"}", b"\\", b"5" * 400, b"\xff\xfe",
    b"\xe9", b"\xc3", b"\x1a", b"1e-5", b"-0.0", b"12345678901234567890.5",
)
_NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(rb"[^\s,;]+")
_LINE = re.compile(rb"[^\n]*\n|[^\n]+")

# Binary field values: zero, all ones, signed/unsigned limits, NaN, inf, huge and tiny floats.
_BINARY_VALUES: tuple[bytes, ...] = (
    struct.pack("<i", 0), struct.pack("<i", -1), struct.pack("<i", 2**31 - 1), struct.pack("<i", -(2**31)),
    struct.pack("<I", 2**32 - 1), struct.pack("<H", 0), struct.pack("<H", 65535), struct.pack("<i", 1),
    struct.pack("<i", 304), struct.pack("<I", 160), struct.pack("<I", 30), struct.pack("<I", 10),
    struct.pack("<f", float("nan")), struct.pack("<f", float("inf")), struct.pack("<f", -1.0),
    struct.pack("<f", 3.4e38), struct.pack("<f", 1e-40), struct.pack("<f", 0.0), struct.pack("<f", 181.0),
    struct.pack("<d", float("nan")), struct.pack("<d", float("-inf")), struct.pack("<d", 1e308),
    struct.pack("<d", -1e308), struct.pack("<d", 5e-324), struct.pack("<d", 0.0), struct.pack("<d", -0.5),
    struct.pack("<d", 1e-9), struct.pack("<d", 1e9),
)


def fuzz_settings() -> settings:
    """The hypothesis settings of a fuzz test: the profile named by ``REFINE_FUZZ_PROFILE`` (default fuzz-ci), with
    ``REFINE_FUZZ_EXAMPLES`` examples when that is set."""
    profile = settings.get_profile(os.environ.get(PROFILE_VARIABLE, "fuzz-ci"))
    examples = os.environ.get(EXAMPLES_VARIABLE)
    return settings(profile, max_examples=int(examples)) if examples else settings(profile)


# -- mutations ---------------------------------------------------------------------------------------------------
def _position(draw: Callable, data: bytes) -> int:
    return draw(st.integers(0, len(data)))


def _cut(draw: Callable, data: bytes) -> bytes:
    return data[:_position(draw, data)]


def _delete(draw: Callable, data: bytes) -> bytes:
    start = _position(draw, data)
    return data[:start] + data[start + draw(st.integers(1, 24)):]


def _junk(draw: Callable) -> bytes:
    return draw(st.sampled_from(SPECIAL_TOKENS) | st.binary(min_size=1, max_size=12)
                | st.text(min_size=1, max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")))


def _insert(draw: Callable, data: bytes) -> bytes:
    at = _position(draw, data)
    return data[:at] + _junk(draw) + data[at:]


def _nth_match(draw: Callable, pattern: re.Pattern, data: bytes) -> re.Match | None:
    matches = list(pattern.finditer(data))
    return matches[draw(st.integers(0, len(matches) - 1))] if matches else None


def _replace_number(draw: Callable, data: bytes) -> bytes:
    match = _nth_match(draw, _NUMBER, data)
    if match is None:
        return data + draw(st.sampled_from(SPECIAL_TOKENS))
    return data[:match.start()] + draw(st.sampled_from(SPECIAL_TOKENS)) + data[match.end():]


def _replace_number_same_width(draw: Callable, data: bytes) -> bytes:
    """As :func:`_replace_number`, right-justified to the old width (keeps fixed-column layouts aligned)."""
    match = _nth_match(draw, _NUMBER, data)
    if match is None:
        return data
    width = match.end() - match.start()
    token = draw(st.sampled_from(SPECIAL_TOKENS))[:width].rjust(width)
    return data[:match.start()] + token + data[match.end():]


def _lines(data: bytes) -> list[bytes]:
    return _LINE.findall(data)


def _swap_lines(draw: Callable, data: bytes) -> bytes:
    lines = _lines(data)
    if len(lines) < 2:
        return data
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def _duplicate_line(draw: Callable, data: bytes) -> bytes:
    lines = _lines(data)
    if not lines:
        return data
    i = draw(st.integers(0, len(lines) - 1))
    copy = lines[i] if lines[i].endswith(b"\n") else lines[i] + b"\n"
    lines[i:i] = [copy] * draw(st.integers(1, 3))
    return b"".join(lines)


def _swap_fields(draw: Callable, data: bytes) -> bytes:
    lines = _lines(data)
    if not lines:
        return data
    i = draw(st.integers(0, len(lines) - 1))
    tokens = list(_TOKEN.finditer(lines[i]))
    if len(tokens) < 2:
        return data
    a, b = sorted(draw(st.lists(st.integers(0, len(tokens) - 1), min_size=2, max_size=2, unique=True)))
    ta, tb = tokens[a], tokens[b]
    line = lines[i]
    lines[i] = (line[:ta.start()] + tb.group() + line[ta.end():tb.start()] + ta.group() + line[tb.end():])
    return b"".join(lines)


def _flip_byte(draw: Callable, data: bytes) -> bytes:
    if not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]


def _overwrite_field(draw: Callable, data: bytes) -> bytes:
    """A binary field (2, 4 or 8 bytes) at any offset overwritten with a limit, NaN, inf or a huge value."""
    value = draw(st.sampled_from(_BINARY_VALUES))
    if len(data) < len(value):
        return data
    at = draw(st.integers(0, len(data) - len(value)))
    return data[:at] + value + data[at + len(value):]


def _encoding(draw: Callable, data: bytes) -> bytes:
    """Another encoding or other line endings: UTF-16/32, a BOM, CR or CRLF line ends, Latin-1 accents."""
    kind = draw(st.sampled_from(["utf16", "utf16le", "utf32", "bom", "cr", "crlf", "latin1", "strip-newline"]))
    text = data.decode("latin-1")
    if kind == "utf16":
        return text.encode("utf-16")
    if kind == "utf16le":
        return text.encode("utf-16-le")
    if kind == "utf32":
        return text.encode("utf-32")
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "cr":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    if kind == "crlf":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if kind == "latin1":
        return data.replace(b"a", b"\xe4", 1).replace(b"e", b"\xe9", 1)
    return data.rstrip(b"\r\n")


TEXT_MUTATIONS = (_cut, _delete, _insert, _replace_number, _replace_number, _replace_number_same_width,
                  _swap_lines, _duplicate_line, _swap_fields, _flip_byte, _encoding)
BINARY_MUTATIONS = (_cut, _delete, _insert, _flip_byte, _overwrite_field, _overwrite_field, _overwrite_field,
                    _replace_number)


@st.composite
def mutated(draw: Callable, seeds: Sequence[bytes], mutations: Sequence[Callable] = TEXT_MUTATIONS) -> bytes:
    """A seed after one to four mutations."""
    data = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 4))):
        data = draw(st.sampled_from(mutations))(draw, data)
    return data


def fuzz_inputs(seeds: Sequence[bytes], mutations: Sequence[Callable] = TEXT_MUTATIONS, *,
                max_random: int = 2048) -> st.SearchStrategy[bytes]:
    """Mostly mutated seeds (structured), some unmutated seeds, raw random bytes and random text."""
    mutants = mutated(seeds, mutations)
    return st.one_of(mutants, mutants, mutants, mutants, mutants, mutants, st.sampled_from(seeds),
                     st.binary(max_size=max_random),
                     st.text(max_size=max_random // 4).map(lambda t: t.encode("utf-8", "surrogatepass")))


# -- the property ------------------------------------------------------------------------------------------------
class HangError(Exception):
    """A reader took longer than :data:`HANG_SECONDS` on a small input."""


@contextlib.contextmanager
def hang_guard(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Raise :class:`HangError` in the reader when it runs longer than ``seconds`` (main thread, POSIX)."""
    if not hasattr(signal, "setitimer"):  # pragma: no cover - Windows
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise HangError(f"reader still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def read_or_refuse(read: Callable[[Path], Any], path: Path, data: bytes) -> Any:
    """Write ``data`` to ``path`` and read it: the object read, or None when ``read`` raised a one-line
    InputError naming ``path``. Any other exception propagates (the test fails with it)."""
    path.unlink(missing_ok=True)  # a new file: rewriting one in place can cost milliseconds (ext4 flushes it)
    path.write_bytes(data)
    try:
        with hang_guard():
            result = read(path)
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, f"message is not one line: {message!r}"
        assert str(path) in message, f"message does not name the file: {message!r}"
        event("refused")  # counted in --hypothesis-show-statistics
        return None
    event("read")
    return result


# -- what a valid result is ---------------------------------------------------------------------------------------
def check_pattern(pattern: Pattern, path: Path) -> None:
    """What every pattern read from a file must be: finite, strictly increasing x, named after its file."""
    assert isinstance(pattern, Pattern) and len(pattern) >= 1
    for name in ("x", "y", "sigma"):
        assert np.all(np.isfinite(getattr(pattern, name))), name
    assert np.all(np.diff(pattern.x) > 0)
    assert pattern.source == str(path)
    assert pattern.wavelength is None or (np.isfinite(pattern.wavelength) and pattern.wavelength > 0)


def check_structure(structure: Any) -> None:
    """What every structure read from a file must be: a cell, a space group, finite site values."""
    from refine.crystal.structure import CrystalStructure

    assert isinstance(structure, CrystalStructure)
    lattice = structure.lattice
    assert np.all(np.isfinite(lattice.as_tuple())) and np.isfinite(lattice.volume) and lattice.volume > 0
    assert len(structure.space_group) >= 1
    for site in structure.sites:
        assert site.element and np.all(np.isfinite(site.xyz)) and np.isfinite(site.occupancy), site
        assert site.uiso is None or np.isfinite(site.uiso), site
        assert site.uaniso is None or np.all(np.isfinite(site.uaniso)), site
