"""Masks: fabio images, .npy, Dioptas .mask (TIFF); nonzero = masked; shape checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fabio.edfimage import EdfImage
from fabio.tifimage import TifImage

from refine.errors import InputError
from refine.io.masks import read_mask
from tests.conftest import shared_path


@pytest.fixture()
def mask() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.random((20, 16)) < 0.2


def test_npy_tif_edf_masks(tmp_path, mask):
    np.save(tmp_path / "m.npy", mask)
    TifImage(data=mask.astype(np.uint8) * 3).write(str(tmp_path / "m.tif"))  # any nonzero value masks
    EdfImage(data=mask.astype(np.int32)).write(str(tmp_path / "m.edf"))
    for name in ("m.npy", "m.tif", "m.edf"):
        got = read_mask(tmp_path / name, shape=(20, 16))
        assert got.dtype == bool
        np.testing.assert_array_equal(got, mask)


def test_shape_mismatch_names_both_shapes(tmp_path, mask):
    np.save(tmp_path / "m.npy", mask)
    with pytest.raises(InputError, match=r"m.npy: mask shape \(20, 16\) does not match the detector shape "
                                         r"\(16, 20\)"):
        read_mask(tmp_path / "m.npy", shape=(16, 20))


def test_bad_masks(tmp_path):
    with pytest.raises(InputError, match="no such mask file"):
        read_mask(tmp_path / "none.npy")
    np.save(tmp_path / "one_d.npy", np.zeros(10))
    with pytest.raises(InputError, match="not 2D"):
        read_mask(tmp_path / "one_d.npy")
    np.save(tmp_path / "nan.npy", np.full((3, 3), np.nan))
    with pytest.raises(InputError, match="NaN"):
        read_mask(tmp_path / "nan.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="junk.npy"):
        read_mask(tmp_path / "junk.npy")


@pytest.mark.parametrize("change", [
    lambda raw: b"",  # empty file: numpy's EOFError
    lambda raw: raw.replace(b"(3, 4)", b"(99999999999999999999, 4)"),  # OverflowError in numpy's header parser
    lambda raw: raw.replace(b"(3, 4)", b"(300000, 400000)"),  # declares 120 GB: refused without allocating it
    lambda raw: raw.replace(b"'descr'", b"\x00descr'"),  # SyntaxError in numpy's header parser
    lambda raw: raw.replace(b"}", b"(", 1),  # tokenize.TokenError in numpy's header parser
])
def test_garbled_npy_headers(tmp_path, change):
    """Found by fuzzing: numpy's .npy header parser raises EOFError, OverflowError, SyntaxError, TokenError."""
    path = tmp_path / "mask.npy"
    np.save(path, np.zeros((3, 4), dtype=np.uint8))
    path.write_bytes(change(path.read_bytes()))
    with pytest.raises(InputError, match="cannot read as a numpy .npy mask") as info:
        read_mask(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_dioptas_mask_file():
    path = shared_path("images_2d", "dioptas_CeO2_Pilatus1M", "test.mask")
    got = read_mask(path)
    assert got.shape == (2048, 2048)  # README: 2048 x 2048, 452016 masked pixels
    assert int(got.sum()) == 452016
    with pytest.raises(InputError, match=r"\(2048, 2048\) does not match the detector shape \(1043, 981\)"):
        read_mask(path, shape=(1043, 981))


@pytest.mark.parametrize("special", ["/dev/zero", "folder"])
def test_device_or_folder_as_mask_is_refused_naming_it(tmp_path, special):
    """/dev/zero would be read without limit; a folder is not a mask."""
    path = tmp_path if special == "folder" else Path(special)
    if not path.exists():
        pytest.skip(f"{special} does not exist on this system")
    with pytest.raises(InputError, match="is a folder, not a|is not a regular file") as info:
        read_mask(path)
    assert str(path) in str(info.value)
