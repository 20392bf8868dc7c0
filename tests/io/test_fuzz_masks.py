"""Fuzzing the mask reader (.npy, Dioptas .mask TIFF, EDF through fabio): a 2D boolean mask or an InputError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from refine.io.masks import read_mask
from tests.fuzzing import BINARY_MUTATIONS, TEXT_MUTATIONS, fuzz_inputs, fuzz_settings, read_or_refuse

# PIL and fabio warn about the corrupt headers the fuzzer makes; the property is about what the reader returns
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

_MASK = np.array([[0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=np.uint8)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _tiff(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="TIFF")
    return buffer.getvalue()


def _edf(array: np.ndarray) -> bytes:
    rows, cols = array.shape
    header = (f"{{\nHeaderID = EH:000001:000000:000000 ;\nImage = 1 ;\nByteOrder = LowByteFirst ;\n"
              f"DataType = UnsignedByte ;\nDim_1 = {cols} ;\nDim_2 = {rows} ;\nSize = {array.size} ;\n")
    return (header.ljust(511) + "}").encode() + array.astype(np.uint8).tobytes()


MIXED = TEXT_MUTATIONS + BINARY_MUTATIONS  # a text header (npy, EDF) or tags (TIFF) before binary data
NPY_SEEDS = (_npy(_MASK), _npy(_MASK.astype(bool)), _npy(_MASK.astype(np.float32)), _npy(_MASK.T.astype("<i4")))
IMAGE_SEEDS = (_tiff(_MASK), _tiff(_MASK * 255), _edf(_MASK))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_masks")


def _check(mask: np.ndarray | None, shape: tuple[int, int] | None) -> None:
    if mask is not None:
        assert mask.dtype == bool and mask.ndim == 2
        assert shape is None or mask.shape == shape


@fuzz_settings()
@given(data=fuzz_inputs(NPY_SEEDS, MIXED), shape=st.sampled_from([None, None, (3, 4)]))
def test_fuzz_npy_mask(folder, data, shape):
    path = folder / "mask.npy"
    _check(read_or_refuse(lambda p: read_mask(p, shape), path, data), shape)


@fuzz_settings()
@given(data=fuzz_inputs(IMAGE_SEEDS, MIXED), ext=st.sampled_from([".mask", ".tif", ".edf"]),
       shape=st.sampled_from([None, None, (3, 4)]))
def test_fuzz_image_mask(folder, data, ext, shape):
    path = folder / f"mask{ext}"
    _check(read_or_refuse(lambda p: read_mask(p, shape), path, data), shape)
