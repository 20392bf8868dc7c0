"""Image reading through fabio: formats, multi-frame files, compressed HDF5, and the errors."""

from __future__ import annotations

import fabio
import h5py
import hdf5plugin
import numpy as np
import pytest
from fabio.cbfimage import CbfImage
from fabio.edfimage import EdfFrame, EdfImage
from fabio.tifimage import TifImage

from refine.errors import InputError
from refine.io.images import ImageFile, iter_frames, read_image
from tests.conftest import shared_path


@pytest.fixture()
def frames() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.poisson(50.0, size=(3, 40, 30)).astype(np.int32)


def test_single_frame_formats_roundtrip(tmp_path, frames):
    a = frames[0]
    TifImage(data=a).write(str(tmp_path / "a.tif"))
    CbfImage(data=a).write(str(tmp_path / "a.cbf"))
    EdfImage(data=a).write(str(tmp_path / "a.edf"))
    for name in ("a.tif", "a.cbf", "a.edf"):
        got = list(iter_frames(tmp_path / name))
        assert [i for i, _ in got] == [0]
        assert got[0][1].dtype == np.float32
        np.testing.assert_array_equal(got[0][1], a)  # counts < 2**24 are exact in float32


def test_multi_frame_edf(tmp_path, frames):
    edf = EdfImage(data=frames[0])
    for f in frames[1:]:
        edf.append_frame(EdfFrame(data=f))
    edf.write(str(tmp_path / "s.edf"))
    got = list(iter_frames(tmp_path / "s.edf"))
    assert [i for i, _ in got] == [0, 1, 2]
    for (_, data), ref in zip(got, frames, strict=True):
        np.testing.assert_array_equal(data, ref)


def test_eiger_master_with_bitshuffle_lz4_data_files(tmp_path, frames):
    # Eiger layout: the master file links entry/data/data_00000N to data files compressed with bitshuffle/LZ4.
    for n, chunk in ((1, frames[:2]), (2, frames[2:])):
        with h5py.File(tmp_path / f"scan_data_{n:06d}.h5", "w") as fh:
            fh.create_dataset("entry/data/data", data=chunk, chunks=(1, *chunk.shape[1:]),
                              **hdf5plugin.Bitshuffle(cname="lz4"))
    path = tmp_path / "scan_master.h5"
    with h5py.File(path, "w") as fh:
        group = fh.create_group("entry/data")
        for n in (1, 2):
            group[f"data_{n:06d}"] = h5py.ExternalLink(f"scan_data_{n:06d}.h5", "entry/data/data")
    with ImageFile(path) as image:
        assert image.nframes == 3
        for i in range(3):
            np.testing.assert_array_equal(image.frame(i), frames[i])


def _eiger_master(folder, stacks) -> object:
    """An Eiger-layout master file linking entry/data/data_00000N to one data file per stack (a frame per chunk)."""
    for n, stack in enumerate(stacks, start=1):
        with h5py.File(folder / f"scan_data_{n:06d}.h5", "w") as fh:
            fh.create_dataset("entry/data/data", data=stack, chunks=(1, *stack.shape[1:]))
    path = folder / "scan_master.h5"
    with h5py.File(path, "w") as fh:
        group = fh.create_group("entry/data")
        for n in range(1, len(stacks) + 1):
            group[f"data_{n:06d}"] = h5py.ExternalLink(f"scan_data_{n:06d}.h5", "entry/data/data")
    return path


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_eiger_master_without_its_data_file_names_it(tmp_path, frames, damage):
    """A master copied without its data file, or with a truncated one, names the linked file (it said 'no 2D or 3D
    dataset')."""
    path = _eiger_master(tmp_path, [frames])
    data = tmp_path / "scan_data_000001.h5"
    if damage == "missing":
        data.unlink()
    else:
        data.write_bytes(data.read_bytes()[:2000])
    with pytest.raises(InputError, match=r"scan_master.h5: its frames are linked \(/entry/data/data_000001\) to "
                                         r".*scan_data_000001.h5, which is missing or cannot be read"):
        ImageFile(path)


def test_eiger_master_memory_does_not_grow_with_data_files(tmp_path):
    # HDF5 >= 2.0 caches up to 8 MiB of chunks per open dataset, and fabio keeps every data file of a master
    # open: reading 8 data files of one 6 MB frame each kept 8 x 6 MB. Leaving a data file empties its cache.
    psutil = pytest.importorskip("psutil")
    if h5py.version.hdf5_version_tuple < (2, 0, 0):
        pytest.skip("HDF5 < 2.0 caches at most 1 MiB per dataset: nothing to release")
    frame = np.arange(1500 * 1000, dtype=np.int32).reshape(1, 1500, 1000)
    path = _eiger_master(tmp_path, [frame + n for n in range(8)])
    process = psutil.Process()
    with ImageFile(path) as image:
        image.frame(0)
        before = process.memory_info().rss
        for i in range(1, 8):
            assert image.frame(i)[0, 0] == i
        grown = (process.memory_info().rss - before) / 2**20
        assert image.frame(2)[0, 1] == 3  # a data file left behind still reads
    assert grown < 20, f"RSS grew {grown:.0f} MB over 7 data files (52 MB when every cache was kept, 6 MB now)"


def test_nexus_default_signal_is_found(tmp_path, frames):
    path = tmp_path / "scan.nxs"
    with h5py.File(path, "w") as fh:
        fh.attrs["default"] = "entry"
        entry = fh.create_group("entry")
        entry.attrs["default"] = "plot"
        entry.create_dataset("other", data=np.zeros((5, 5)))  # first 2D dataset, but not the signal
        plot = entry.create_group("plot")
        plot.attrs["NX_class"] = "NXdata"
        plot.attrs["signal"] = "images"
        plot.create_dataset("images", data=frames, compression="gzip")
    got = list(iter_frames(path))
    assert len(got) == 3
    np.testing.assert_array_equal(got[1][1], frames[1])
    explicit = list(iter_frames(f"{path}::/entry/other"))
    assert explicit[0][1].shape == (5, 5)


def test_read_image_averages_frames(tmp_path, frames):
    edf = EdfImage(data=frames[0])
    edf.append_frame(EdfFrame(data=frames[1]))
    edf.write(str(tmp_path / "dark.edf"))
    np.testing.assert_allclose(read_image(tmp_path / "dark.edf"), frames[:2].mean(axis=0), rtol=1e-6)


def test_missing_and_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match="nope.tif: no such image file"):
        list(iter_frames(tmp_path / "nope.tif"))
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"this is not an image" * 10)
    with pytest.raises(InputError, match="bad.tif: cannot read as an image"):
        list(iter_frames(bad))
    with pytest.raises(InputError, match=r"is a folder; give its image files \(e.g. '.*\*.tif', quoted\)"):
        list(iter_frames(tmp_path))


def test_nan_only_and_empty_frames_name_file_and_frame(tmp_path, frames):
    data = frames.astype(np.float32)
    data[1] = np.nan
    edf = EdfImage(data=data[0])
    for f in data[1:]:
        edf.append_frame(EdfFrame(data=f))
    edf.write(str(tmp_path / "n.edf"))
    it = iter_frames(tmp_path / "n.edf")
    assert next(it)[0] == 0
    with pytest.raises(InputError, match=r"n.edf: image frame 1 holds only NaN"):
        next(it)
    with h5py.File(tmp_path / "e.h5", "w") as fh:
        fh.create_dataset("entry/data/data", data=np.zeros((2, 0, 4), dtype=np.int32))
    with pytest.raises(InputError, match=r"e.h5"):
        list(iter_frames(tmp_path / "e.h5"))


def test_real_pilatus_tif():
    path = shared_path("images_2d", "dioptas_CeO2_Pilatus1M", "CeO2_Pilatus1M.tif")
    (index, data), = list(iter_frames(path))
    raw = fabio.open(str(path)).data
    assert index == 0 and data.shape == (1043, 981) == raw.shape  # README: 1043 x 981 px
    assert data.min() == -2 and data.max() == 621698  # README: gap pixels -2, max 621698


def test_truncated_edf_is_refused_not_padded_with_zeros(tmp_path, frames):
    EdfImage(data=frames[0]).write(str(tmp_path / "full.edf"))
    raw = (tmp_path / "full.edf").read_bytes()
    (tmp_path / "cut.edf").write_bytes(raw[:-1000])  # the data block ends 1000 bytes early
    np.testing.assert_array_equal(read_image(tmp_path / "full.edf"), frames[0])
    with pytest.raises(InputError, match="cut.edf: image is truncated"):
        read_image(tmp_path / "cut.edf")
    # a multi-frame file cut in its last frame: the complete frames still read, the cut one names its index
    edf = EdfImage(data=frames[0])
    for f in frames[1:]:
        edf.append_frame(EdfFrame(data=f))
    edf.write(str(tmp_path / "s.edf"))
    (tmp_path / "s_cut.edf").write_bytes((tmp_path / "s.edf").read_bytes()[:-500])
    with ImageFile(tmp_path / "s_cut.edf") as image:
        np.testing.assert_array_equal(image.frame(1), frames[1])
        with pytest.raises(InputError, match="s_cut.edf: image frame 2 is truncated"):
            image.frame(2)
