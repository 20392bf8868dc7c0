"""Bruker RAW: the real RAW1.01 LaB6 file (layout, Bragg peaks), synthetic v1/v2/v3/v4 files, broken files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refine.errors import InputError
from refine.io.bruker import read_raw_ranges
from refine.io.patterns import read_pattern
from tests.conftest import shared_path

LAB6_A = 4.15689  # Å, certified SRM 660b value quoted by the GSAS-II tutorial (README of the data set)


def _lab6() -> Path:
    return shared_path("powder_rietveld", "gsas2_LaB6_NIST660_lab", "LaB6_Jan2018.raw")


def _raw101(counts: np.ndarray, start: float = 10.0, step: float = 0.0197448) -> bytes:
    """A one-range RAW1.01 file laid out as refine.io.bruker documents it (and as the real LaB6 file is): 712-byte
    file header, 304-byte range header, 40-byte supplementary header, float32 counts."""
    head = bytearray(712)
    head[:7] = b"RAW1.01"
    struct.pack_into("<i", head, 12, 1)
    head[16:26], head[26:34] = b"01/02/2024", b"12:00:00"
    head[326:337] = b"synthetic 1"
    struct.pack_into("<f", head, 564, 217.5)
    head[608:610] = b"Cu"
    struct.pack_into("<5d", head, 616, 1.5418, 1.5406, 1.54439, 1.39222, 0.5)
    rng = bytearray(304)
    struct.pack_into("<ii2d", rng, 0, 304, counts.size, start / 2, start)
    struct.pack_into("<d", rng, 176, step)
    struct.pack_into("<f", rng, 192, 1.0)
    struct.pack_into("<d", rng, 240, 1.5406)
    struct.pack_into("<i", rng, 256, 40)
    return bytes(head + rng + bytearray(40)) + counts.astype("<f4").tobytes()


def _synthetic_lab6() -> bytes:
    """3040 steps from 10° like the LaB6 file: Gaussian lines where Bragg puts LaB6's first reflections at Cu Kα1
    on a flat background of 200 counts."""
    x = 10.0 + 0.0197448 * np.arange(3040)
    y = np.full_like(x, 200.0)
    for h in [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 0, 0), (2, 1, 0), (2, 1, 1)]:
        tth = 2 * np.degrees(np.arcsin(1.5406 * np.sqrt(sum(i * i for i in h)) / (2 * LAB6_A)))
        y += 1e5 * np.exp(-0.5 * ((x - tth) / 0.04) ** 2)
    return _raw101(np.round(y))


def test_synthetic_raw101_layout(tmp_path):
    path = tmp_path / "lab6.raw"
    path.write_bytes(_synthetic_lab6())
    pat = read_pattern(path)
    assert pat.metadata["raw_version"] == "RAW1.01" and len(pat) == 3040
    assert pat.x[1] - pat.x[0] == pytest.approx(0.0197448, abs=1e-12) and pat.x[0] == 10.0
    assert path.stat().st_size == 712 + 304 + 40 + 4 * len(pat)
    assert pat.metadata["wavelengths"]["anode"] == "Cu" and pat.wavelength == 1.5406
    assert pat.sigma == pytest.approx(np.sqrt(pat.y), rel=1e-12)


def test_lab6_raw101_layout():
    path = _lab6()
    pat = read_pattern(path)
    assert pat.metadata["format"] == "bruker_raw" and pat.metadata["raw_version"] == "RAW1.01"
    assert len(pat) == 3040
    assert pat.x[0] == pytest.approx(10.0, abs=1e-12)
    assert pat.x[1] - pat.x[0] == pytest.approx(0.0197448, abs=1e-12)
    # the layout accounts for every byte: 712 file header + 304 range header + 40 supplementary + 4 per step
    assert path.stat().st_size == 712 + 304 + 40 + 4 * len(pat)
    waves = pat.metadata["wavelengths"]
    assert waves["anode"] == "Cu"
    assert waves["kalpha1"] == pytest.approx(1.5406, abs=1e-12)
    assert waves["kalpha2"] == pytest.approx(1.54439, abs=1e-12)
    assert waves["ratio"] == pytest.approx(0.5, abs=1e-12)
    assert pat.wavelength == pytest.approx(1.5406, abs=1e-12) and pat.radiation == "xray"
    assert pat.sigma_source == "poisson"
    assert pat.sigma == pytest.approx(np.sqrt(np.maximum(pat.y, 1.0)), rel=1e-12)
    assert np.all(pat.y >= 0) and pat.y.max() > 1e5


@pytest.mark.parametrize("hkl", [(1, 0, 0), (1, 1, 0), (1, 1, 1)])
def test_lab6_peaks_where_bragg_puts_them(hkl):
    pat = read_pattern(_lab6())
    d = LAB6_A / np.sqrt(sum(i * i for i in hkl))  # cubic Pm-3m
    expected = 2.0 * np.degrees(np.arcsin(pat.wavelength / (2.0 * d)))
    window = np.abs(pat.x - expected) < 0.3
    observed = pat.x[window][np.argmax(pat.y[window])]
    step = pat.x[1] - pat.x[0]
    # within two steps (sample displacement and the Kα2 shoulder move the maximum by less than that)
    assert abs(observed - expected) <= 2 * step, (hkl, observed, expected)


def test_two_ranges(tmp_path):
    """A two-range RAW1.01 made from a one-range file: second range shifted by 60° with doubled counts."""
    raw = bytearray(_synthetic_lab6())
    struct.pack_into("<i", raw, 12, 2)
    block = bytearray(raw[712:])
    start = struct.unpack_from("<d", block, 16)[0]
    struct.pack_into("<d", block, 16, start + 60.0)
    nsteps = struct.unpack_from("<i", block, 4)[0]
    counts = np.frombuffer(bytes(block[344:]), "<f4", nsteps) * 2
    block[344:] = counts.astype("<f4").tobytes()
    path = tmp_path / "two.raw"
    path.write_bytes(bytes(raw + block))
    first = read_pattern(path)
    second = read_pattern(path, bank=2)
    assert first.metadata["nranges"] == 2 and second.metadata["range"] == 2
    assert second.x[0] == pytest.approx(70.0, abs=1e-12)
    assert np.array_equal(second.y, 2 * first.y)
    with pytest.raises(InputError, match="no range 3"):
        read_pattern(path, bank=3)


# -- synthetic files of the other versions, laid out as described in refine.io.bruker ------------------------------
def _v4(scan: str = "Locked Coupled", datum: int = 4) -> tuple[bytes, list[np.ndarray]]:
    head = bytearray(61)
    head[:7] = b"RAW4.00"
    head[12:22] = b"2024-01-02"
    value = b"LiFePO4 cathode\x00"
    field = bytearray(36 + len(value))
    struct.pack_into("<II", field, 0, 10, len(field))
    field[12:16] = b"Name"
    field[36:] = value
    tube = bytearray(120)
    struct.pack_into("<II", tube, 0, 30, 120)
    struct.pack_into("<5d", tube, 72, 1.7909, 1.78897, 1.79285, 1.62079, 0.5)
    tube[116:118] = b"Co"
    out = bytes(head + field + tube)
    ys = []
    for i, (start, step, n) in enumerate(((5.0, 0.02, 50), (40.0, 0.05, 30))):
        rng = bytearray(160)
        struct.pack_into("<I", rng, 0, 160)
        rng[32:32 + len(scan)] = scan.encode()
        struct.pack_into("<ddIf", rng, 72, start, step, n, 1000.0)
        struct.pack_into("<d", rng, 112, 1.78897)
        extra = bytearray(64)
        struct.pack_into("<II", extra, 0, 50, 64)
        extra[12:18] = b"2Theta"
        struct.pack_into("<II", rng, 136, datum, len(extra))
        y = np.arange(n, dtype=float) * (i + 1) + 3.0
        y[0] = 0.0
        ys.append(y)
        out += bytes(rng + extra) + y.astype("<f4").tobytes()
    return out, ys


def test_raw4_synthetic(tmp_path):
    data, ys = _v4()
    path = tmp_path / "v4.raw"
    path.write_bytes(data)
    pat = read_pattern(path, bank=2)
    assert pat.metadata["raw_version"] == "RAW4.00" and pat.metadata["nranges"] == 2
    assert pat.x == pytest.approx(40.0 + 0.05 * np.arange(30), abs=1e-12)
    assert np.array_equal(pat.y, ys[1])
    assert pat.wavelength == pytest.approx(1.78897, abs=1e-12)
    assert pat.metadata["wavelengths"]["anode"] == "Co"
    assert pat.metadata["fields"]["Name"] == "LiFePO4 cathode"
    first = read_pattern(path)
    assert first.y[0] == 0.0 and first.sigma[0] == 1.0  # zero count: variance of one count


@pytest.mark.parametrize("scan, datum, problem",
                         [("Rocking Curve", 4, "not a 2θ scan"), ("Locked Coupled", 8, "datum")])
def test_raw4_unsupported(tmp_path, scan, datum, problem):
    path = tmp_path / "v4.raw"
    path.write_bytes(_v4(scan, datum)[0])
    with pytest.raises(InputError, match=problem):
        read_pattern(path)


def test_raw2_and_raw1_synthetic(tmp_path):
    y = np.array([10.0, 20.0, 40.0, 80.0])
    v2 = bytearray(256)
    v2[:4] = b"RAW2"
    struct.pack_into("<H", v2, 4, 1)
    v2[188:190] = b"Cu"
    struct.pack_into("<3f", v2, 190, 1.5406, 1.54439, 0.5)
    rng = bytearray(64)
    struct.pack_into("<HH", rng, 0, 64, y.size)
    struct.pack_into("<3f", rng, 8, 1.0, 0.25, 12.5)
    (tmp_path / "v2.raw").write_bytes(bytes(v2 + rng) + y.astype("<f4").tobytes())
    pat = read_pattern(tmp_path / "v2.raw")
    assert pat.x == pytest.approx([12.5, 12.75, 13.0, 13.25], abs=1e-6) and np.array_equal(pat.y, y)
    assert pat.wavelength == pytest.approx(1.5406, abs=1e-6)

    def v1_range(start: float, more: int) -> bytes:
        head = bytearray(152)
        struct.pack_into("<IffI", head, 0, y.size, 1.0, 0.5, 0)
        struct.pack_into("<f", head, 20, start)
        struct.pack_into("<ff", head, 68, 1.5406, 1.54439)
        struct.pack_into("<I", head, 148, more)
        return bytes(head) + y.astype("<f4").tobytes()

    (tmp_path / "v1.raw").write_bytes(b"RAW " + v1_range(20.0, 1) + b"RAW " + v1_range(50.0, 0))
    info, ranges = read_raw_ranges(tmp_path / "v1.raw")
    assert info["version"] == "RAW" and [r.start for r in ranges] == [20.0, 50.0]
    pat = read_pattern(tmp_path / "v1.raw", bank=2)
    assert pat.x == pytest.approx([50.0, 50.5, 51.0, 51.5], abs=1e-6)
    assert pat.wavelength == pytest.approx(1.5406, abs=1e-6)


@pytest.mark.parametrize("cut", [0, 5, 100, 700, 800, 1100, 13000, 13215])
def test_truncated_raw101(tmp_path, cut):
    path = tmp_path / "cut.raw"
    path.write_bytes(_synthetic_lab6()[:cut])
    with pytest.raises(InputError) as info:
        read_pattern(path, format="bruker_raw")
    assert str(path) in str(info.value)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.integers(0, 1100), junk=st.binary(min_size=1, max_size=16))
def test_garbled_raw101_header_never_crashes(tmp_path, offset, junk):
    """Overwriting header bytes gives either a pattern or an InputError, never another exception."""
    raw = bytearray(_synthetic_lab6())
    raw[offset:offset + len(junk)] = junk
    path = tmp_path / "garbled.raw"
    path.write_bytes(bytes(raw))
    try:
        pat = read_pattern(path, format="bruker_raw")
    except InputError as exc:
        assert str(path) in str(exc)
    else:
        assert len(pat) > 0 and np.all(np.isfinite(pat.sigma)) and np.all(np.diff(pat.x) > 0)


@settings(max_examples=100)
@given(magic=st.sampled_from([b"RAW1.01", b"RAW4.00", b"RAW2", b"RAW ", b"RAW9"]), body=st.binary(max_size=2000))
def test_junk_after_magic_raises_input_error(tmp_path_factory, magic, body):
    """A known magic followed by random bytes is not a pattern: always an InputError naming the file."""
    path = tmp_path_factory.mktemp("junk") / "junk.raw"
    path.write_bytes(magic + body)
    with pytest.raises(InputError) as info:
        read_pattern(path)
    assert str(path) in str(info.value)


def test_range_option_as_text_and_wavelength_override(tmp_path):
    data, ys = _v4()
    path = tmp_path / "v4.raw"
    path.write_bytes(data)
    pat = read_pattern(path, bank="2", wavelength=1.7909)
    assert np.array_equal(pat.y, ys[1]) and pat.wavelength == 1.7909
    assert pat.metadata["wavelengths"]["kalpha1"] == pytest.approx(1.78897, abs=1e-12)  # the file's value is kept
    with pytest.raises(InputError, match="integer"):
        read_pattern(path, bank="two")


def test_step_below_float_resolution_is_refused(tmp_path):
    """A garbled step too small to change the start angle would give repeated 2θ values: refused (found by fuzzing)."""
    head = bytearray(152)
    struct.pack_into("<Iff", head, 0, 4, 1.0, 1e-30)
    struct.pack_into("<f", head, 20, 20.0)
    path = tmp_path / "tiny.raw"
    path.write_bytes(b"RAW " + bytes(head) + np.ones(4, "<f4").tobytes())
    with pytest.raises(InputError, match="does not separate the 2θ values") as info:
        read_pattern(path)
    assert str(info.value).startswith(str(path))
