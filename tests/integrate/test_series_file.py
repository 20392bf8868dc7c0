"""Frame stacks (HDF5, bitshuffle/LZ4) integrated frame by frame into one HDF5 series file: equal to the .xye
outputs, per-frame times, resume, and FILE.h5::N read like a pattern file."""

from __future__ import annotations

import h5py
import hdf5plugin
import numpy as np
import pytest

from refine.errors import InputError
from refine.integrate import IntegrationSettings, Integrator, integrate_series
from refine.io.atomic import sha256_of
from refine.io.patterns import read_pattern
from refine.io.series_file import is_series_file, read_series_frame, series_frames
from tests.integrate import synthetic as sy

GEOMETRY = sy.Geometry()
T0 = 1796284800.0


@pytest.fixture()
def stack(tmp_path):
    """A 5-frame Eiger-style stack (master + two bitshuffle/LZ4 data files, start time + frame time), the PONI and
    the frames."""
    poni = tmp_path / "g.poni"
    poni.write_text(GEOMETRY.poni_text())
    rng = np.random.default_rng(5)
    mean = sy.image(GEOMETRY, polarization=0.95) * 10
    frames = np.array([rng.poisson(mean * (1 + 0.1 * k)) for k in range(5)], dtype=np.int32)
    for n, chunk in ((1, frames[:3]), (2, frames[3:])):
        with h5py.File(tmp_path / f"run_data_{n:06d}.h5", "w") as fh:
            fh.create_dataset("entry/data/data", data=chunk, chunks=(1, *chunk.shape[1:]),
                              **hdf5plugin.Bitshuffle(cname="lz4"))
    master = tmp_path / "run_master.h5"
    with h5py.File(master, "w") as fh:
        for n in (1, 2):
            fh[f"entry/data/data_{n:06d}"] = h5py.ExternalLink(f"run_data_{n:06d}.h5", "entry/data/data")
        fh["entry/instrument/detector/frame_time"] = 10.0
        fh["entry/instrument/detector/detectorSpecific/data_collection_date"] = "2026-12-03T08:00:00"
    return poni, master, frames


def _integrator(poni):
    return Integrator(poni, IntegrationSettings(npt=200, polarization_factor=0.95))


def test_series_file_equals_per_frame_outputs(stack, tmp_path):
    poni, master, frames = stack
    integrator = _integrator(poni)
    xye = integrate_series([master], integrator, tmp_path / "xye", progress=False)
    h5 = integrate_series([master], integrator, tmp_path / "h5", progress=False, series_file="s.h5")
    path = tmp_path / "h5" / "s.h5"
    assert is_series_file(path) and not is_series_file(xye[0].output)
    assert [str(r.output) for r in h5] == [f"{path}::{i}" for i in range(5)]
    listed = series_frames(path)
    assert [f["frame"] for f in listed] == [0, 1, 2, 3, 4] and {f["source"] for f in listed} == {str(master)}
    for result, frame, item in zip(xye, frames, listed, strict=True):
        direct = integrator.integrate(frame)
        stored = read_pattern(item["address"])  # FILE.h5::N reads like a pattern file
        np.testing.assert_array_equal(stored.x, direct.x)  # float64 in the file: exact
        np.testing.assert_array_equal(stored.y, direct.y)
        np.testing.assert_array_equal(stored.sigma, direct.sigma)
        assert stored.wavelength == pytest.approx(sy.WAVELENGTH_A, rel=1e-12)
        assert stored.corrections == direct.corrections and stored.unit == "2th_deg"
        from_xye = read_pattern(result.output)
        np.testing.assert_allclose(stored.y, from_xye.y, rtol=1e-9)  # %.10g in the text file


def test_frame_times_from_the_header_and_from_scan_times(stack, tmp_path):
    poni, master, _ = stack
    integrator = _integrator(poni)
    h5 = integrate_series([master], integrator, tmp_path / "a", progress=False, series_file="s.h5")
    assert [r.time for r in h5] == pytest.approx([T0 + 10.0 * i for i in range(5)], abs=1e-6)
    assert {r.time_source for r in h5} == {"header"}
    given = integrate_series([master], integrator, tmp_path / "b", progress=False, series_file="s.h5",
                             scan_times=(100.0, 2.0))
    listed = series_frames(tmp_path / "b" / "s.h5")
    assert [f["time"] for f in listed] == pytest.approx([100.0, 102.0, 104.0, 106.0, 108.0], abs=1e-12)
    assert {r.time_source for r in given} == {"scan_times"}
    xye = integrate_series([master], integrator, tmp_path / "c", progress=False)
    assert f"# time: {T0 + 20.0!r} (header)" in xye[2].output.read_text()


def test_rerun_skips_complete_rows_and_redoes_a_changed_setting(stack, tmp_path):
    poni, master, _ = stack
    integrator = _integrator(poni)
    first = integrate_series([master], integrator, tmp_path, progress=False, series_file="s.h5")
    digests = [sha256_of(r.output) for r in first]
    again = integrate_series([master], integrator, tmp_path, progress=False, series_file="s.h5")
    assert all(r.skipped for r in again) and [sha256_of(r.output) for r in again] == digests
    assert len(set(digests)) == 5 and all(d is not None for d in digests)
    other = Integrator(poni, IntegrationSettings(npt=150, polarization_factor=0.95))
    changed = integrate_series([master], other, tmp_path, progress=False, series_file="s.h5")
    assert not any(r.skipped for r in changed)
    assert len(read_series_frame(f"{tmp_path / 's.h5'}::0").x) <= 150



def test_changed_scan_times_redo_the_frames(stack, tmp_path):
    """The frames' time stamps are written with them: a rerun with another --scan-times integrates again (it kept
    the old times before), the same one skips."""
    poni, master, _ = stack
    integrator = _integrator(poni)
    integrate_series([master], integrator, tmp_path, progress=False, scan_times=(0.0, 30.0))
    same = integrate_series([master], integrator, tmp_path, progress=False, scan_times=(0.0, 30.0))
    assert all(r.skipped for r in same)
    moved = integrate_series([master], integrator, tmp_path, progress=False, scan_times=(95.0, 600.0))
    assert not any(r.skipped for r in moved)
    assert "# time: 1295.0 (scan_times)" in moved[2].output.read_text()

def test_incomplete_rows_are_not_listed_and_bad_addresses_are_input_errors(stack, tmp_path):
    poni, master, _ = stack
    integrate_series([master], _integrator(poni), tmp_path, progress=False, series_file="s.h5")
    path = tmp_path / "s.h5"
    with h5py.File(path, "a") as fh:  # as a run killed while writing row 3 leaves it
        fh["entry/frames/done"][3] = 0
    assert [f["address"].rsplit("::", 1)[1] for f in series_frames(path)] == ["0", "1", "2", "4"]
    with pytest.raises(InputError, match=r"s.h5::3: no frame 3 in the series file \(4 complete\)"):
        read_pattern(f"{path}::3")
    assert sha256_of(f"{path}::3") is None
    with pytest.raises(InputError, match="run_master.h5: is not an HDF5 series file"):
        read_series_frame(f"{master}::0")


def test_a_glob_of_images_is_expanded_in_natural_order(tmp_path):
    from fabio.edfimage import EdfImage

    import refine

    poni = tmp_path / "g.poni"
    poni.write_text(GEOMETRY.poni_text())
    rng = np.random.default_rng(1)
    mean = sy.image(GEOMETRY, polarization=0.95) * 10
    for k in (10, 2, 1):
        EdfImage(data=rng.poisson(mean).astype(np.int32)).write(str(tmp_path / f"scan_{k}.edf"))
    out = refine.integrate(str(tmp_path / "scan_*.edf"), poni=poni, output=tmp_path / "out", npt=100,
                           series_file="s.h5", no_progress=True)
    assert [r.source.rsplit("/", 1)[1] for r in out] == ["scan_1.edf", "scan_2.edf", "scan_10.edf"]
    assert {r.time_source for r in out} == {"file"}
    with pytest.raises(InputError, match="series_file: needs an output folder"):
        refine.integrate(str(tmp_path / "scan_1.edf"), poni=poni, series_file="s.h5")
