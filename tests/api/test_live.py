"""Live mode (refine/api/live.py): ``refine.operando`` and ``refine.integrate`` with ``follow`` take frames as they
land, as new files matching a glob (written in two steps: never read half-way) or as frames appended to an HDF5
dataset, on the small simulated NASICON stack of benchmarks/operando_stack.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks import operando_stack as gen
from refine.cli.main import main

NFRAMES = 4
COMMON = dict(range="5:15", polarization=gen.POLARIZATION, npt=1000, no_progress=True)
#: Seconds without a new frame before live mode stops: a file is taken after two passes (~1 s apart) and its
#: pattern after two polls of the fits, so ~4 s from landing to fit; margin for a loaded machine.
IDLE = 8


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return gen.write_stack(tmp_path_factory.mktemp("stack"), NFRAMES, detector="Pilatus100k", seed=7)


def _frames_of(stack):
    from refine.io.images import ImageFile

    with ImageFile(stack.master) as image:
        return [image.frame(i) for i in range(image.nframes)]


def _land_later(write, delays):
    """Call ``write(i)`` in a thread ``delays[i]`` seconds after the start, for each i."""

    def run():
        start = time.monotonic()
        for i, delay in enumerate(delays):
            time.sleep(max(0.0, start + delay - time.monotonic()))
            write(i)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _edf_writer(frames, folder: Path):
    """``write(i)``: frame i as ``folder/frame_0i.edf``, written in two steps with a pause between (a reader that
    took the file half-way would fail or integrate half an image)."""
    import fabio

    def write(i):
        path = folder / f"frame_{i:02d}.edf"
        tmp = folder.parent / f"tmp_{i}.edf"
        fabio.edfimage.EdfImage(data=frames[i]).write(str(tmp))
        raw = tmp.read_bytes()
        with open(path, "wb") as fh:
            fh.write(raw[: len(raw) // 2])
            fh.flush()
            time.sleep(0.3)
            fh.write(raw[len(raw) // 2:])

    return write


def test_operando_follow_integrates_and_fits_frame_files_as_they_land(stack, tmp_path):
    """Two frame files exist at the start, two more land while the command runs; every frame is integrated and
    fitted once, in order, with the volumes of the same command run afterwards on all four files."""
    import refine

    live = tmp_path / "live"
    live.mkdir()
    write = _edf_writer(_frames_of(stack), live)
    write(0)
    write(1)
    writer = _land_later(lambda i: write(i + 2), [1.0, 2.5])
    tic = time.monotonic()
    result = refine.operando(str(live / "*.edf"), [str(stack.cif)], poni=str(stack.poni), output=tmp_path / "follow",
                             follow=True, idle=IDLE, **COMMON)
    writer.join()
    assert time.monotonic() - tic >= 2.5 + IDLE - 1  # it waited for the late frames, then for `idle`
    assert [Path(f.source).name for f in result.frames] == [f"frame_{i:02d}.edf" for i in range(NFRAMES)]
    assert not any(f.failed for f in result.frames)
    assert len(result.scans) == NFRAMES and result.fitted == NFRAMES
    batch = refine.operando(str(live / "*.edf"), [str(stack.cif)], poni=str(stack.poni), output=tmp_path / "batch",
                            **COMMON)
    np.testing.assert_allclose(result.table()["na3v2po43_nasicon_volume"].to_numpy(),
                               batch.table()["na3v2po43_nasicon_volume"].to_numpy(), rtol=1e-9)


def test_operando_follow_reports_the_frames_it_could_not_integrate(stack, tmp_path, capsys):
    """A frame file that is not an image (there from the start) and a good one landing later (the command line): the
    bad one is a warning of the run and of its summary, said once on stderr, as without follow (it was said on
    stderr only, as an error), and the others are fitted."""
    import csv
    import json

    live = tmp_path / "live"
    live.mkdir()
    write = _edf_writer(_frames_of(stack), live)
    write(0)
    write(1)
    (live / "frame_02.edf").write_bytes(b"not an EDF image" * 64)
    writer = _land_later(lambda i: write(3), [1.0])
    out = tmp_path / "follow"
    code = main(["operando", str(live / "*.edf"), "--poni", str(stack.poni), "--phase", str(stack.cif),
                 "--range", "5:15", "--polarization", str(gen.POLARIZATION), "--npt", "1000", "--follow",
                 "--idle", str(IDLE), "-o", str(out)])
    writer.join()
    assert code == 3  # a frame is missing from the series
    summary = json.loads((out / "sequential.json").read_text())
    assert [Path(r["file"]).stem for r in summary["scans"]] == ["frame_00", "frame_01", "frame_03"]
    # each scan keeps its frame's number in the stack: the failed frame leaves a gap, as without --follow
    assert [r["frame"] for r in summary["scans"]] == [0, 1, 3]
    with (out / "sequential.csv").open() as fh:
        assert [row["frame"] for row in csv.DictReader(fh)] == ["0", "1", "3"]
    said = f"frame {live / 'frame_02.edf'} could not be integrated"
    assert any(w.startswith(said) for w in summary["warnings"])
    err = [line for line in capsys.readouterr().err.splitlines() if "frame_02.edf" in line]
    assert len(err) == 1 and err[0].startswith(f"refine sequential: warning: {said}")


def test_operando_follow_takes_frames_appended_to_an_hdf5_file(stack, tmp_path):
    """One HDF5 file whose frame dataset grows while the command runs."""
    import h5py

    import refine

    frames = _frames_of(stack)
    path = tmp_path / "growing.h5"
    with h5py.File(path, "w") as fh:
        fh.create_dataset("entry/data/data", data=np.stack(frames[:2]), maxshape=(None, *frames[0].shape),
                          chunks=(1, *frames[0].shape))

    def append(i):
        for _ in range(100):  # the feeder may have the file open for reading at that moment
            try:
                with h5py.File(path, "a") as fh:
                    ds = fh["entry/data/data"]
                    ds.resize(ds.shape[0] + 1, axis=0)
                    ds[-1] = frames[i + 2]
                return
            except (OSError, BlockingIOError):
                time.sleep(0.05)
        raise AssertionError("could not append a frame")

    writer = _land_later(append, [1.0, 2.5])
    result = refine.operando(str(path), [str(stack.cif)], poni=str(stack.poni), output=tmp_path / "out",
                             follow=True, idle=IDLE, **COMMON)
    writer.join()
    assert [f.frame for f in result.frames] == list(range(NFRAMES)) and not any(f.failed for f in result.frames)
    assert len(result.scans) == NFRAMES and all(s.converged for s in result.scans)
    assert result.table()["frame"].tolist() == list(range(NFRAMES))


def test_integrate_follow_writes_every_frame_as_it_lands_and_equals_the_batch(stack, tmp_path):
    """``refine integrate --follow``: the patterns of frames that landed late equal those of a batch run."""
    from refine.io.patterns import read_pattern

    live = tmp_path / "live"
    live.mkdir()
    write = _edf_writer(_frames_of(stack), live)
    write(0)
    writer = _land_later(lambda i: write(i + 1), [0.5, 1.5, 2.5])
    args = ["integrate", str(live / "*.edf"), "--poni", str(stack.poni), "--npt", "1000", "--polarization",
            str(gen.POLARIZATION), "--no-progress"]
    assert main([*args, "--follow", "--idle", str(IDLE), "-o", str(tmp_path / "follow")]) == 0
    writer.join()
    assert main([*args, "-o", str(tmp_path / "batch")]) == 0
    names = sorted(p.name for p in (tmp_path / "follow").glob("*.xye"))
    assert names == [f"frame_{i:02d}.xye" for i in range(NFRAMES)]
    for name in names:
        a, b = read_pattern(tmp_path / "follow" / name), read_pattern(tmp_path / "batch" / name)
        np.testing.assert_array_equal(a.y, b.y)


def test_follow_refuses_what_it_cannot_do(stack, tmp_path):
    import refine
    from refine.errors import InputError

    with pytest.raises(InputError, match="series_file"):
        refine.operando(str(stack.master), [str(stack.cif)], poni=str(stack.poni), output=tmp_path / "x",
                        follow=True, series_file="s.h5")
    args = ["operando", str(stack.master), "--poni", str(stack.poni), "--phase", str(stack.cif), "-o",
            str(tmp_path / "y"), "--follow"]
    assert main([*args, "--series-file", "s.h5"]) == 2 and not (tmp_path / "y").exists()
    assert main([*args, "--idle", "0"]) == 2 and not (tmp_path / "y").exists()  # before any frame is integrated
    for bad, match in ((dict(cake=(100, 36)), "cake"), (dict(idle=-1), "idle")):
        with pytest.raises(InputError, match=match):
            refine.integrate(str(stack.master), poni=str(stack.poni), output=tmp_path / "z", follow=True, **bad)
    with pytest.raises(InputError, match="output"):
        refine.integrate(str(stack.master), poni=str(stack.poni), follow=True)


def test_operando_follow_started_before_the_first_frame_waits_for_it(stack, tmp_path):
    """Started on an empty folder (before the experiment): the first frame lands 1.5 s later, written in two steps,
    the others after it; all are integrated and fitted."""
    import refine

    live = tmp_path / "live"
    live.mkdir()
    writer = _land_later(_edf_writer(_frames_of(stack), live), [1.5, 2.5, 3.5, 4.5])
    result = refine.operando(str(live / "*.edf"), [str(stack.cif)], poni=str(stack.poni), output=tmp_path / "out",
                             follow=True, idle=IDLE, **COMMON)
    writer.join()
    assert [Path(f.source).name for f in result.frames] == [f"frame_{i:02d}.edf" for i in range(NFRAMES)]
    assert not any(f.failed for f in result.frames)
    assert len(result.scans) == NFRAMES and all(s.converged for s in result.scans)
    assert result.table()["frame"].tolist() == list(range(NFRAMES))


def test_follow_without_any_frame_stops_after_idle_with_a_clear_error(stack, tmp_path, capsys):
    live = tmp_path / "empty"
    live.mkdir()
    (live / "frame_00.edf").touch()  # an empty file (being created) is not a frame yet
    args = ["integrate", str(live / "*.edf"), "--poni", str(stack.poni), "--no-progress", "--follow", "--idle", "1.5"]
    tic = time.monotonic()
    assert main([*args, "-o", str(tmp_path / "out")]) == 2
    assert time.monotonic() - tic >= 1.5
    assert "no image landed within 1.5 s" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("*.xye"))
