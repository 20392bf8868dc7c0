"""Fuzzing the Bruker RAW reader (versions 1, 2, 3 = RAW1.01 and 4): a valid pattern or a one-line InputError."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refine.io.bruker import read_bruker_raw
from tests.fuzzing import BINARY_MUTATIONS, check_pattern, fuzz_inputs, fuzz_settings, read_or_refuse

COUNTS = np.array([12.0, 0.0, 35.0, 140.0, 33.0, 11.0], dtype="<f4").tobytes()


def _v101() -> bytes:
    head = bytearray(712)
    head[:7] = b"RAW1.01"
    struct.pack_into("<i", head, 12, 2)
    head[16:26] = b"01/02/2024"
    head[608:610] = b"Cu"
    struct.pack_into("<5d", head, 616, 1.5418, 1.5406, 1.54439, 1.39222, 0.5)
    out = bytes(head)
    for start in (10.0, 40.0):
        rng = bytearray(304)
        struct.pack_into("<ii", rng, 0, 304, 6)
        struct.pack_into("<dd", rng, 8, start / 2, start)
        struct.pack_into("<d", rng, 176, 0.02)
        struct.pack_into("<f", rng, 192, 1.0)
        struct.pack_into("<i", rng, 256, 0)
        out += bytes(rng) + COUNTS
    return out


def _v4() -> bytes:
    head = bytearray(61)
    head[:7] = b"RAW4.00"
    tube = bytearray(120)
    struct.pack_into("<II", tube, 0, 30, 120)
    struct.pack_into("<5d", tube, 72, 1.7909, 1.78897, 1.79285, 1.62079, 0.5)
    tube[116:118] = b"Co"
    rng = bytearray(160)
    struct.pack_into("<I", rng, 0, 160)
    rng[32:46] = b"Locked Coupled"
    struct.pack_into("<ddIf", rng, 72, 5.0, 0.02, 6, 1000.0)
    struct.pack_into("<II", rng, 136, 4, 0)
    return bytes(head + tube + rng) + COUNTS


def _v2() -> bytes:
    head = bytearray(256)
    head[:4] = b"RAW2"
    struct.pack_into("<H", head, 4, 1)
    head[188:190] = b"Cu"
    struct.pack_into("<3f", head, 190, 1.5406, 1.54439, 0.5)
    rng = bytearray(64)
    struct.pack_into("<HH", rng, 0, 64, 6)
    struct.pack_into("<3f", rng, 8, 1.0, 0.25, 12.5)
    return bytes(head + rng) + COUNTS


def _v1() -> bytes:
    rng = bytearray(152)
    struct.pack_into("<Iff", rng, 0, 6, 1.0, 0.5)
    struct.pack_into("<f", rng, 20, 20.0)
    struct.pack_into("<ff", rng, 68, 1.5406, 1.54439)
    return b"RAW " + bytes(rng) + COUNTS


SEEDS = (_v101(), _v4(), _v2(), _v1())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_bruker")


@fuzz_settings()
@given(data=fuzz_inputs(SEEDS, BINARY_MUTATIONS), bank=st.sampled_from([None] * 5 + [2, "0", "two"]))
def test_fuzz_bruker_raw(folder, data, bank):
    path = folder / "scan.raw"
    pattern = read_or_refuse(lambda p: read_bruker_raw(p, bank=bank), path, data)
    if pattern is not None:
        check_pattern(pattern, path)
