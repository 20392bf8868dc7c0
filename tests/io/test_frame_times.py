"""Frame times: headers of HDF5 (per-frame datasets, Eiger start + frame_time) and EDF, else the file time."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from fabio.edfimage import EdfImage

from refine.io.frame_times import frame_times, parse_time

T0 = 1796284800.0  # 2026-12-03T08:00:00 UTC


@pytest.mark.parametrize("text", ["2026-12-03T08:00:00", "2026-12-03 08:00:00", "2026:12:03 08:00:00",
                                  "2026-12-03T09:00:00+01:00", "Thu Dec  3 08:00:00 2026", b"2026-12-03T08:00:00Z"])
def test_parse_time_forms(text):
    assert parse_time(text) == pytest.approx(T0, abs=1e-6)


def test_parse_time_keeps_fractions_and_refuses_non_times():
    assert parse_time("# 2026-12-03T08:00:00.250") == pytest.approx(T0 + 0.25, abs=1e-6)
    assert parse_time("exposure 0.5 s") is None


def test_eiger_master_start_plus_frame_time(tmp_path):
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as fh:
        fh["entry/data/data"] = np.zeros((3, 4, 4), dtype=np.int32)
        det = fh.create_group("entry/instrument/detector")
        det["frame_time"] = 2.5
        det["detectorSpecific/data_collection_date"] = "2026-12-03T08:00:00.000+00:00"
    times = frame_times(path, 3)
    assert times.source == "header"
    np.testing.assert_allclose(times.epoch, [T0, T0 + 2.5, T0 + 5.0], atol=1e-6)


def test_per_frame_epoch_dataset_wins(tmp_path):
    path = tmp_path / "b.h5"
    epoch = T0 + np.array([0.0, 7.0, 9.5])
    with h5py.File(path, "w") as fh:
        fh["entry/data/data"] = np.zeros((3, 4, 4), dtype=np.int32)
        fh["entry/instrument/epoch"] = epoch
        fh["entry/start_time"] = "2020-01-01T00:00:00"  # a start plus no frame time: the per-frame times count
    times = frame_times(path, 3)
    np.testing.assert_allclose(times.epoch, epoch, atol=1e-6)
    assert times.source == "header"


def test_edf_header_date(tmp_path):
    path = tmp_path / "f.edf"
    EdfImage(data=np.zeros((4, 4), dtype=np.int32), header={"date": "Thu Dec  3 08:00:00 2026"}).write(str(path))
    times = frame_times(path, 1)
    assert times.source == "header" and times.epoch == pytest.approx((T0,), abs=1e-6)


def test_no_header_time_falls_back_to_the_file_time(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as fh:
        fh["entry/data/data"] = np.zeros((2, 4, 4), dtype=np.int32)
    os.utime(path, (T0 + 100, T0 + 100))
    times = frame_times(path, 2)
    assert times.source == "file" and times.epoch == (T0 + 100, T0 + 100)
