"""Running a sequential series: chunked chains give the same results in one process and on a local Dask cluster,
the guard refits a diverged anchor from its predecessor (or flags it), and neither a killed worker nor a client
killed with kill -9 loses or duplicates a scan (subprocess runs of the ``refine`` command)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from refine.executor import ExecutorSpec
from refine.fit.statistics import Statistics
from refine.instrument import Instrument, Profile
from refine.io.structures import read_structure
from refine.operando.sequential import FIT_KINDS, SequentialSettings, run_sequential
from refine.operando.series import Series
from refine.operando.series_result import SeriesResult
from refine.powder.background import Background
from refine.powder.model import PowderOptions
from tests.conftest import data_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from drift_series import WAVELENGTH, make_drift_series  # noqa: E402

NSCANS, CHUNK = 20, 5


@pytest.fixture(scope="module")
def drift(tmp_path_factory):
    pytest.importorskip("pymatgen.core")
    return make_drift_series(tmp_path_factory.mktemp("drift"), NSCANS, 0.01, seed=7, points=1200, tth=(6.0, 18.0))


def _settings(**changes) -> SequentialSettings:
    base = SequentialSettings(kind="lebail", powder=PowderOptions(background=Background("chebyshev", nterms=4)),
                              chunk=CHUNK)
    return dataclasses.replace(base, **changes)


def _run(drift, out=None, **kw):
    phases = [read_structure(data_file("Na3V2PO43_NASICON.cif"))]
    return run_sequential(Series.from_paths(drift.paths), phases, _instrument(), _settings(), out, **kw)


def _instrument() -> Instrument:
    return Instrument.synchrotron(WAVELENGTH, profile=Profile(U=1.0, V=-0.3, W=0.5, X=0.5, Y=1.0, sh_l=0.002))


def _volumes(result) -> list[float]:
    return [r["phases"][0]["volume"] for r in result.records]


@pytest.fixture(scope="module")
def serial(drift):
    return _run(drift)


def test_local_cluster_gives_the_volumes_of_one_process(drift, serial, tmp_path):
    pytest.importorskip("distributed")
    cluster = _run(drift, tmp_path / "out", executor=ExecutorSpec(workers=2))
    assert "local Dask cluster" in cluster.notes[0]
    assert [r["index"] for r in cluster.records] == list(range(NSCANS))
    assert cluster.converged and serial.converged
    for v1, v2 in zip(_volumes(serial), _volumes(cluster), strict=True):
        assert v2 == pytest.approx(v1, rel=1e-6)
    assert len(list((tmp_path / "out" / "scans").glob("*.json"))) == NSCANS


def test_rietveld_kind_on_the_cluster_refines_the_scales_as_one_process_does(drift, tmp_path):
    """The settings the workers get carry the kind's own groups (the Rietveld scales): 8 scans, chunks of 4."""
    pytest.importorskip("distributed")
    phases = [read_structure(data_file("Na3V2PO43_NASICON.cif"))]
    settings = _settings(kind="rietveld", chunk=4)
    runs = [run_sequential(Series.from_paths(drift.paths[:8]), phases, _instrument(), settings, tmp_path / name,
                           executor=ExecutorSpec(workers=workers)) for name, workers in (("one", 1), ("two", 2))]
    assert "local Dask cluster" in runs[1].notes[0]
    for one, two in zip(runs[0].records, runs[1].records, strict=True):
        assert two["phases"][0]["volume"] == pytest.approx(one["phases"][0]["volume"], rel=1e-6)
        assert two["provenance"]["settings"]["refine"][0] == "scale"
        stats = two["statistics"]
        assert stats["Rwp"] < 1.2 * stats["Rexp"], (two["index"], stats)  # a held scale gave ~5x Rexp


def test_every_scan_within_1e4_of_the_true_volume(drift, serial):
    for index, (fitted, true) in enumerate(zip(_volumes(serial), drift.volume, strict=True)):
        assert fitted == pytest.approx(true, rel=1e-4), index


def _spoiling_kind(log: list, bad_first: int, always: bool = False):
    """lebail whose fit of scan ``bad_first`` reports a tripled Rwp (the first time, or ``always``)."""
    real = FIT_KINDS.get("lebail")

    def fit(pattern, phases, instrument, **kw):
        index = int(Path(pattern.source).stem.split("_")[1])
        log.append((index, None if kw["params"] is None else kw["params"]["na3v2po43_nasicon_a"].value))
        result = real.fit(pattern, phases, instrument, **kw)
        if index == bad_first and (always or sum(i == index for i, _ in log) == 1):
            stats = dataclasses.replace(result.statistics, Rwp=3 * result.statistics.Rwp)
            assert isinstance(stats, Statistics)
            result = dataclasses.replace(result, statistics=stats)
        return result

    return dataclasses.replace(real, fit=fit)


def test_a_refused_anchor_is_refitted_from_its_predecessor_and_says_so(drift, serial, tmp_path):
    log: list = []
    result = _run(drift, tmp_path / "out", kind=_spoiling_kind(log, bad_first=2 * CHUNK))
    starts = [start for i, start in log if i == 2 * CHUNK]
    a = {r["index"]: r["phases"][0]["a"] for r in result.records}
    assert starts == [pytest.approx(a[CHUNK], rel=1e-12), pytest.approx(a[2 * CHUNK - 1], rel=1e-12)]
    rec = result.records[2 * CHUNK]
    assert rec["status"] == "converged" and rec["converged"]
    assert any("refitted from scan 9" in w and "times scan 5's" in w for w in rec["warnings"])
    assert json.loads(Path(rec["result_file"]).read_text())["provenance"]["guard"]["first_fit"]["started_from"] == 5
    assert result.scans[2 * CHUNK].warnings == tuple(rec["warnings"])  # the kept fit got the guard's warning too
    assert _volumes(result)[2 * CHUNK] == pytest.approx(_volumes(serial)[2 * CHUNK], rel=1e-6)


def test_an_anchor_that_trips_the_guard_again_is_suspect_and_no_starting_point(drift, tmp_path):
    log: list = []
    result = _run(drift, tmp_path / "out", kind=_spoiling_kind(log, bad_first=CHUNK, always=True))
    rec = result.records[CHUNK]
    assert rec["status"] == "suspect" and not rec["converged"] and not result.converged
    assert any(w.startswith("guard: suspect fit, not converged: Rwp") for w in rec["warnings"])
    scan = result.scans[CHUNK]  # the kept FitResult says the same (the guard unpickled, edited and kept it again)
    assert not scan.converged and scan.message == rec["message"] and scan.warnings == tuple(rec["warnings"])
    assert result.records == SeriesResult(scans=list(result.scans)).records  # kept records: those of the scans
    assert len(log) == NSCANS + 1  # one refit
    a = {r["index"]: r["phases"][0]["a"] for r in result.records}
    after = [start for i, start in log if i == CHUNK + 1]
    assert after == [pytest.approx(a[CHUNK - 1], rel=1e-12)]  # started from what the suspect scan started from


# -- killed runs (subprocesses) -------------------------------------------------------------------------------
_MAIN = "import sys; from refine.cli.main import main; sys.exit(main())"


def _argv(drift, out: Path) -> list[str]:
    return [sys.executable, "-c", _MAIN, "sequential", *map(str, drift.paths), "--phase",
            str(data_file("Na3V2PO43_NASICON.cif")), "--wavelength", str(WAVELENGTH), "--background", "chebyshev:4",
            "--chunk", str(CHUNK), "--workers", "2", "-o", str(out)]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _scans(out: Path) -> dict[int, dict]:
    docs = {}
    for path in (out / "scans").glob("*.json"):
        doc = json.loads(path.read_text())
        index = doc["provenance"]["settings"]["index"]
        assert index not in docs, f"scan {index} twice"
        docs[index] = doc
    return docs


def _wait_for(out: Path, n: int, proc: subprocess.Popen, limit: float = 240.0) -> None:
    t0 = time.monotonic()
    while len(list((out / "scans").glob("*.json"))) < n:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() - t0 < limit, "no progress"
        time.sleep(0.2)


def _alive(pids: list[int]) -> list[int]:
    psutil = pytest.importorskip("psutil")
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.fixture(scope="module")
def uninterrupted(drift, tmp_path_factory):
    pytest.importorskip("distributed")
    out = tmp_path_factory.mktemp("whole") / "out"
    done = subprocess.run(_argv(drift, out), env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return _scans(out)


def _same(docs: dict[int, dict], reference: dict[int, dict]) -> None:
    assert sorted(docs) == sorted(reference) == list(range(NSCANS))
    for index, doc in docs.items():
        for name, p in reference[index]["parameters"].items():
            assert doc["parameters"][name]["value"] == pytest.approx(p["value"], rel=1e-9, abs=1e-12), (index, name)


def test_client_killed_with_kill_9_leaves_no_process_and_a_rerun_finishes_the_same(drift, uninterrupted, tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out"
    proc = subprocess.Popen(_argv(drift, out), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait_for(out, 6, proc)
        t0 = time.monotonic()
        while True:  # on a busy host the first scans may be fitted here before the workers are up: wait for them
            tree = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
            if len(tree) >= 3 or time.monotonic() - t0 > 60 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert len(tree) >= 3 and proc.poll() is None  # the client and its two workers at least, mid-run
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        t0 = time.monotonic()
        while _alive(tree) and time.monotonic() - t0 < 30:
            time.sleep(0.2)
        assert _alive(tree) == []
    finally:
        if proc.poll() is None:  # pragma: no cover - only when an assertion above failed
            os.killpg(proc.pid, signal.SIGKILL)
    written = len(_scans(out))
    assert 6 <= written < NSCANS
    done = subprocess.run(_argv(drift, out), env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"fitted {NSCANS - written}, resumed {written}" in done.stdout
    _same(_scans(out), uninterrupted)


def _workers(psutil, pid: int, timeout: float = 120.0) -> list:
    """The run's Dask worker processes once there are two: the client's grandchildren (forked by the zygote of
    refine.local_workers, or by a fork server), or spawned children."""
    def command(proc) -> str:
        try:
            return " ".join(proc.cmdline())
        except psutil.Error:  # gone, or a zombie not reaped yet (short-lived helpers of the start)
            return ""

    end = time.monotonic() + timeout
    while True:
        children = psutil.Process(pid).children()
        workers = ([w for c in children for w in c.children()]
                   or [c for c in children if "spawn_main" in command(c)])
        if len(workers) >= 2 or time.monotonic() > end:
            return workers
        time.sleep(0.2)


def test_a_killed_worker_loses_nothing(drift, uninterrupted, tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out"
    proc = subprocess.Popen(_argv(drift, out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        _wait_for(out, 4, proc)
        workers = _workers(psutil, proc.pid)
        assert workers, "no worker process found"
        workers[0].kill()
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when an assertion above failed
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr
    _same(_scans(out), uninterrupted)
    again = subprocess.run(_argv(drift, out), env=_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and f"fitted 0, resumed {NSCANS}" in again.stdout
