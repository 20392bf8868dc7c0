"""Integration of frame stacks on Dask workers (refine/integrate/distributed.py): a local cluster of 2 workers
writes the same patterns as the in-process run, bit for bit, into .xye files and into a series file, keeps the
series order, records an unreadable file as failed, and a re-run resumes."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import operando_stack as gen
from refine.cli.main import main
from refine.integrate import distributed
from refine.io.patterns import read_pattern
from refine.io.series_file import read_series_frame, series_frames

NFRAMES = 20  # two chunks: the second one shorter


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return gen.write_stack(tmp_path_factory.mktemp("stack"), NFRAMES, detector="Pilatus100k", seed=3)


@pytest.fixture(scope="module")
def frame_files(stack, tmp_path_factory):
    """The frames as one EDF file each, and an unreadable file among them."""
    import fabio

    from refine.io.images import ImageFile

    folder = tmp_path_factory.mktemp("edf")
    with ImageFile(stack.master) as image:
        for i in range(6):
            fabio.edfimage.EdfImage(data=image.frame(i)).write(str(folder / f"f_{i:02d}.edf"))
    (folder / "f_03b.edf").write_text("not an image\n")
    return folder


@pytest.fixture
def cluster():
    """A running local Dask cluster of 2 worker processes: every task given its scheduler runs in a worker."""
    distributed_ = pytest.importorskip("distributed")
    import logging

    with distributed_.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR) as running:
        yield running


def _args(stack, images, out, *extra):
    return ["integrate", str(images), "--poni", str(stack.poni), "--npt", "800", "--polarization",
            str(gen.POLARIZATION), "--no-progress", "-o", str(out), *extra]


def test_two_workers_write_the_in_process_patterns_bit_for_bit_into_a_series_file(stack, cluster, tmp_path):
    assert distributed.CHUNK < NFRAMES < 2 * distributed.CHUNK
    assert main(_args(stack, stack.master, tmp_path / "here", "--series-file", "s.h5")) == 0
    assert main(_args(stack, stack.master, tmp_path / "dask", "--series-file", "s.h5", "--scheduler",
                      cluster.scheduler_address)) == 0
    assert "integrate_chunk" in cluster.scheduler.task_prefixes  # the frames went to the workers
    here, there = series_frames(tmp_path / "here" / "s.h5"), series_frames(tmp_path / "dask" / "s.h5")
    assert [f["frame"] for f in there] == list(range(NFRAMES)) == [f["frame"] for f in here]
    for a, b in zip(here, there, strict=True):
        pa, pb = read_series_frame(a["address"]), read_series_frame(b["address"])
        np.testing.assert_array_equal(pa.x, pb.x)
        np.testing.assert_array_equal(pa.y, pb.y)
        np.testing.assert_array_equal(pa.sigma, pb.sigma)


def test_frame_files_on_workers_keep_their_order_record_a_bad_file_and_resume(stack, frame_files, tmp_path, capsys):
    import refine

    here = refine.integrate(str(frame_files / "*.edf"), poni=str(stack.poni), output=tmp_path / "here", npt=800,
                            polarization=gen.POLARIZATION, no_progress=True)
    there = refine.integrate(str(frame_files / "*.edf"), poni=str(stack.poni), output=tmp_path / "dask", npt=800,
                             polarization=gen.POLARIZATION, no_progress=True, workers=2)
    assert [(r.source, r.failed, r.skipped) for r in there] == [(r.source, r.failed, r.skipped) for r in here]
    assert [r.failed for r in there] == [False] * 4 + [True] + [False] * 2  # f_03b.edf
    for r in there:
        if not r.failed:
            a, b = read_pattern(r.output), read_pattern(tmp_path / "here" / r.output.name)
            np.testing.assert_array_equal(a.y, b.y)
    again = refine.integrate(str(frame_files / "*.edf"), poni=str(stack.poni), output=tmp_path / "dask", npt=800,
                             polarization=gen.POLARIZATION, no_progress=True, workers=2)
    assert [r.skipped for r in again] == [not r.failed for r in there]


def test_what_cannot_go_to_workers_is_refused(stack, tmp_path):
    import refine
    from refine.errors import InputError
    from refine.integrate.integrator import Integrator
    from refine.integrate.series import integrate_series
    from refine.io.poni import read_poni

    with pytest.raises(InputError, match="^workers: needs an output"):
        refine.integrate(str(stack.master), poni=str(stack.poni), workers=2)
    with pytest.raises(InputError, match="^workers: live mode"):
        refine.integrate(str(stack.master), poni=str(stack.poni), output=tmp_path / "x", workers=2, follow=True)
    with pytest.raises(InputError, match="^poni: .*PONI file"):  # a geometry in memory cannot be sent
        integrate_series([str(stack.master)], Integrator(read_poni(stack.poni)), tmp_path / "y", executor=object())


def test_operando_on_a_cluster_integrates_there_too(stack, cluster, tmp_path):
    """``refine operando --scheduler``: the frames go to the cluster's workers as well, then the fits; the volumes
    equal those of the run in this process."""
    import refine

    common = dict(poni=str(stack.poni), range="5:15", polarization=gen.POLARIZATION, npt=800, no_progress=True)
    images = str(stack.master)
    here = refine.operando(images, [str(stack.cif)], output=tmp_path / "here", **common)
    assert "integrate_chunk" not in cluster.scheduler.task_prefixes
    there = refine.operando(images, [str(stack.cif)], output=tmp_path / "there", scheduler=cluster.scheduler_address,
                            **common)
    assert {"integrate_chunk", "fit_run"} <= set(cluster.scheduler.task_prefixes)  # tasks that ran there
    assert len(there.scans) == NFRAMES and all(s.converged for s in there.scans)
    np.testing.assert_allclose(there.table()["na3v2po43_nasicon_volume"].to_numpy(),
                               here.table()["na3v2po43_nasicon_volume"].to_numpy(), rtol=1e-9)
