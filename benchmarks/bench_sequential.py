"""Issue 14 benchmark: a 100-scan NASICON series whose a and c drift by 1 % (benchmarks/drift_series.py), fitted
by ``refine.sequential`` (Le Bail; cell, zero, W, X, Y; four-term Chebyshev background) in one process and on a
local Dask cluster of 2 workers, chunks of 16 scans in both.

Each run is a fresh interpreter; the runs alternate. ``--mode process`` (default) times the whole process
(imports, the workers' start and imports included, as a user's command pays them); ``--mode session`` times the
call only, after the interpreter imported refine and fitted two scans in-process (a notebook that already ran a
fit; the local cluster's start is still inside the timed call). Printed: wall time and CPU seconds (the process
and its workers) of each (best of ``--repeat``), the speed-up, the largest relative difference of the volumes
between the two runs, and the largest relative error of the volumes against the generator's truth; also the
speed-up of each pair of runs and their median (the host's speed drifts between runs). The machine
is shared: on a loaded machine the wall-time speed-up means little; the CPU ratio says how much the cluster costs
on top of the fits.

Run from the repository root: ``python benchmarks/bench_sequential.py [--scans 100] [--repeat 2] [--points 3000]
[--mode process|session]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the workers' setting, for a like-for-like comparison
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _cpu() -> float:
    """CPU seconds of this process, its finished children and every live descendant with the children it reaped
    (the local workers fork from a fork server that outlives the cluster; their time shows in its counters)."""
    import psutil

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    for proc in psutil.Process().children(recursive=True):
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _run(paths, out: Path, workers: int) -> tuple[float, list[float], list[bool], float]:
    from refine.api.series import sequential

    cpu = _cpu()
    tic = time.perf_counter()
    result = sequential([str(p) for p in paths], [str(ROOT / "tests" / "data" / "Na3V2PO43_NASICON.cif")],
                        wavelength=0.72, background="chebyshev:4", workers=workers, output=out)
    wall = time.perf_counter() - tic
    return (wall, [r["phases"][0]["volume"] for r in result.records], [bool(r["converged"]) for r in result.records],
            _cpu() - cpu)


def _fresh(paths, out: Path, workers: int, mode: str) -> tuple[float, list[float], list[bool], float]:
    """:func:`_run` in a new interpreter; wall time of the whole process (``mode`` process) or of the call after a
    warm-up (session), CPU of the same span in it and its descendants."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    tic = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(workers), "--out", str(out),
                           "--mode", mode, *map(str, paths)], capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - tic
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return (wall if mode == "process" else got["wall"]), got["volumes"], got["converged"], got["cpu"]


def _worker(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", type=int)
    parser.add_argument("--out")
    parser.add_argument("--mode", default="process")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    if args.mode == "session":  # a notebook that already fitted: imports done, compiled kernels loaded
        _run(args.paths[:2], Path(args.out + "_warmup"), 1)
    wall, volumes, converged, cpu = _run(args.paths, Path(args.out), args.worker)
    # process: CPU since this interpreter started (imports included), with the workers'; session: the call's
    print(json.dumps({"volumes": volumes, "converged": converged, "wall": wall,
                      "cpu": _cpu() if args.mode == "process" else cpu}))


def main() -> None:
    from drift_series import make_drift_series

    if "--worker" in sys.argv:
        _worker(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--points", type=int, default=3000)
    parser.add_argument("--drift", type=float, default=0.01)
    parser.add_argument("--mode", choices=("process", "session"), default="process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        series = make_drift_series(Path(tmp) / "data", args.scans, args.drift, seed=0, points=args.points)
        best: dict[int, tuple[float, list[float], list[bool], float]] = {}
        pairs = []
        for rep in range(args.repeat):
            walls = {}
            for workers in (1, 2):
                run = _fresh(series.paths, Path(tmp) / f"out_{workers}_{rep}", workers, args.mode)
                print(f"workers {workers}: {run[0]:.1f} s wall, {run[3]:.1f} CPU s ({args.scans / run[0]:.2f} scans/s)",
                      flush=True)
                walls[workers] = run[0]
                if workers not in best or run[0] < best[workers][0]:
                    best[workers] = run
            pairs.append(walls[1] / walls[2])
    (t1, v1, c1, cpu1), (t2, v2, c2, cpu2) = best[1], best[2]
    diff = max(abs(b / a - 1.0) for a, b in zip(v1, v2, strict=True))
    err = max(abs(a / t - 1.0) for a, t in zip(v2, series.volume, strict=True))
    worst = max(range(len(v2)), key=lambda i: abs(v2[i] / series.volume[i] - 1.0))
    print(f"{args.scans} scans, drift {100 * args.drift:g} %, {args.points} points, cores {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.2f}")
    timed = ("whole processes: imports and cluster start included" if args.mode == "process" else
             "the call after imports and a 2-scan fit in the same interpreter; cluster start included")
    print(f"one process {t1:.1f} s; local cluster of 2 {t2:.1f} s ({timed}); speed-up {t1 / t2:.2f}x")
    print(f"speed-up of each pair (one process, then the cluster, run one after the other): "
          f"{', '.join(f'{r:.2f}x' for r in pairs)}; median {statistics.median(pairs):.2f}x")
    print(f"CPU seconds: one process {cpu1:.1f}, local cluster {cpu2:.1f} (ratio {cpu2 / cpu1:.2f}: the cluster's "
          f"overhead; on two idle cores the speed-up is at most {2 * cpu1 / cpu2:.2f}x)")
    print(f"volumes, 2 workers vs one process: max relative difference {diff:.2e}")
    print(f"volumes vs truth: max relative error {err:.2e} (scan {worst}); converged {sum(c2)}/{len(c2)} "
          f"(one process {sum(c1)}/{len(c1)})")


if __name__ == "__main__":
    main()
