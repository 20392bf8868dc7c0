"""Operando at beamline scale: a simulated NASICON stack (Eiger-style HDF5, bitshuffle/LZ4;
benchmarks/operando_stack.py) from frames to the per-scan table and the operando figure
in one command, ``refine operando``.

Reports
* integration throughput: ``refine.integrate.integrate_series`` into one HDF5 series file against a bare pyFAI loop
  over the same frames (h5py read + ``integrate1d`` with the same settings, results kept in memory: no writing),
  alternated ``--repeat`` times; acceptance: median paired ratio >= 0.9;
* the one command on the first ``--small`` frames and on all frames (fresh output folders), each in its own
  process: wall time, the split into integration and fits (from the series file's and the table's modification
  times), s/scan of the Le Bail fits, converged scans, the largest relative volume error against the generator's
  truth, and the peak resident memory of the run (largest process, ``ru_maxrss``); acceptance: fits of 1 000
  scans < 2 min on two cores, peak memory of the large run within 20 % of the small one.

Run: ``python benchmarks/bench_operando.py [--frames 1000] [--small 100] [--detector Pilatus1M] [--work DIR]``.
The machine may be shared: the timings say what they were measured under (load average printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import operando_stack as gen  # noqa: E402

NPT = 2000
SETTINGS = {"npt": NPT, "unit": "2th_deg", "method": ("bbox", "csr", "cython"), "polarization_factor":
            gen.POLARIZATION, "error_model": "poisson"}
FIT_RANGE = "4:22"


def stack(work: Path, frames: int, detector: str) -> gen.Stack:
    """The generated stack (reused when ``work`` already holds one of ``frames`` frames)."""
    folder = work / f"stack_{detector}_{frames}"
    master = folder / "stack_master.h5"
    if master.is_file():
        import h5py

        with h5py.File(master, "r") as fh:
            if int(fh["entry/instrument/detector/detectorSpecific/nimages"][()]) == frames:
                cells = np.array([gen.true_cell(i, frames) for i in range(frames)])
                return gen.Stack(master=master, poni=folder / "stack.poni", cif=gen.CIF, cells=cells)
    start = time.perf_counter()
    made = gen.write_stack(folder, frames, detector=detector)
    print(f"generated {frames} frames ({detector}) in {time.perf_counter() - start:.0f} s: {master}")
    return made


def sub_master(full: gen.Stack, nfiles: int) -> Path:
    """A master file linking only the first ``nfiles`` data files of ``full`` (its first frames)."""
    import h5py

    path = full.master.with_name(f"stack_first{nfiles}_master.h5")
    with h5py.File(full.master, "r") as src, h5py.File(path, "w") as fh:
        data = fh.create_group("entry/data")
        for n in range(1, nfiles + 1):
            data[f"data_{n:06d}"] = h5py.ExternalLink(f"stack_data_{n:06d}.h5", "entry/data/data")
        src.copy("entry/instrument", fh["entry"])
        fh["entry/instrument/detector/detectorSpecific/nimages"][()] = nfiles * gen.FRAMES_PER_FILE
    return path


# -- integration throughput -----------------------------------------------------------------------------------
def _datasets(master: Path):
    import h5py
    import hdf5plugin  # noqa: F401

    fh = h5py.File(master, "r")
    group = fh["entry/data"]
    return fh, [group[name] for name in sorted(group)]


def run_bare(ai, master: Path, limit: int) -> int:
    """Bare pyFAI: read each frame with h5py and integrate it; the results are kept (no file written)."""
    fh, dsets = _datasets(master)
    out, n = [], 0
    try:
        for dset in dsets:
            for i in range(dset.shape[0]):
                if n >= limit:
                    return n
                res = ai.integrate1d(dset[i], NPT, unit="2th_deg", method=SETTINGS["method"], correctSolidAngle=True,
                                     polarization_factor=gen.POLARIZATION, error_model="poisson")
                out.append((res.intensity, res.sigma))
                n += 1
    finally:
        fh.close()
    return n


def run_refine(integrator, master: Path, out: Path) -> int:
    """refine: integrate_series of the master file into one HDF5 series file (validation, times, O(1) writes)."""
    from refine.integrate import integrate_series

    results = integrate_series([master], integrator, out, resume=False, progress=False, series_file="series.h5")
    return len(results)


def throughput(full: gen.Stack, master: Path, repeat: int, tmp: Path) -> tuple[float, float, float]:
    """(median paired ratio, median frames/s refine, median frames/s bare) over ``repeat`` alternated runs."""
    import pyFAI

    from refine.integrate import IntegrationSettings, Integrator

    ai = pyFAI.load(str(full.poni))
    run_bare(ai, master, 1)  # builds pyFAI's CSR engine: set-up, not throughput
    integrator = Integrator(full.poni, IntegrationSettings(**SETTINGS))
    fh, dsets = _datasets(master)
    integrator.integrate(dsets[0][0])
    nframes = sum(d.shape[0] for d in dsets)
    fh.close()
    fps: dict[str, list[float]] = {"bare": [], "refine": []}
    for rep in range(repeat):
        for name in (("bare", "refine") if rep % 2 == 0 else ("refine", "bare")):
            start = time.perf_counter()
            n = run_bare(ai, master, nframes) if name == "bare" else run_refine(integrator, master, tmp / f"r{rep}")
            fps[name].append(n / (time.perf_counter() - start))
        print(f"  run {rep + 1}: refine {fps['refine'][-1]:6.2f} frames/s   bare pyFAI {fps['bare'][-1]:6.2f} "
              f"frames/s   ratio {fps['refine'][-1] / fps['bare'][-1]:.2f}   (load {os.getloadavg()[0]:.1f})")
    ratio = float(np.median(np.array(fps["refine"]) / np.array(fps["bare"])))
    return ratio, float(np.median(fps["refine"])), float(np.median(fps["bare"]))


# -- the one command ------------------------------------------------------------------------------------------
_WRAPPER = ("import resource, subprocess, sys, json; r = subprocess.run(sys.argv[1:]); "
            "print(json.dumps({'rc': r.returncode, 'maxrss_kb': "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")


def one_command(full: gen.Stack, master: Path, nframes: int, out: Path, workers: int) -> dict:
    """Run ``refine operando`` in a fresh process; wall time, phase split, s/scan, peak RSS, accuracy."""
    cmd = [str(Path(sys.executable).parent / "refine"), "operando", str(master), "--poni", str(full.poni),
           "--polarization", str(gen.POLARIZATION),
           "--npt", str(NPT), "--phase", str(full.cif), "--range", FIT_RANGE, "--series-file", "series.h5",
           "--workers", str(workers), "--plot", str(out / "operando.png"), "--window", "8:12", "--window", "15:18",
           "--no-progress", "-o", str(out)]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, env=env)
    wall = time.time() - start
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    series = out / "patterns" / "series.h5"
    t_int = series.stat().st_mtime - start
    t_fit = (out / "sequential.csv").stat().st_mtime - series.stat().st_mtime
    doc = json.loads((out / "sequential.json").read_text())
    volumes = []
    for rec in doc["scans"]:
        ph = (rec.get("phases") or [{}])[0]
        a, c = full.cells[rec["index"]]
        truth = np.sqrt(3) / 2 * a * a * c
        volumes.append(abs(ph.get("volume", np.nan) / truth - 1))
    return {"frames": nframes, "rc": info["rc"], "wall_s": wall, "integrate_s": t_int, "fit_s": t_fit,
            "s_per_scan": t_fit / nframes, "maxrss_mb": info["maxrss_kb"] / 1024,
            "converged": sum(bool(r.get("converged")) for r in doc["scans"]),
            "max_rel_volume_error": float(np.nanmax(volumes)), "figure": str(out / "operando.png"),
            "stderr_tail": proc.stderr.strip().splitlines()[-1:] if proc.returncode not in (0, 3) else []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--small", type=int, default=100, help="frames of the small run (a multiple of 100)")
    parser.add_argument("--detector", default="Pilatus1M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="--workers of the fits")
    parser.add_argument("--work", default="/tmp/refine_bench_operando", help="folder for the stack and outputs")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-large", action="store_true", help="run the one command on the small stack only")
    parser.add_argument("--large", type=int, default=None,
                        help="frames of the large run (a multiple of 100; default all): on a loaded machine the "
                             "fits of 1 000 scans may not fit the time available")
    parser.add_argument("--skip-small", action="store_true", help="reuse the small run's numbers from --work")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    full = stack(work, args.frames, args.detector)
    small = sub_master(full, max(1, args.small // gen.FRAMES_PER_FILE))
    size = sum(p.stat().st_size for p in full.master.parent.glob("stack_data_*.h5")) / 1e9
    print(f"stack: {args.frames} frames of {args.detector}, {size:.2f} GB (bitshuffle/LZ4); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.skip_throughput:
        print(f"integration throughput, {args.small} frames, {args.repeat} alternated runs:")
        ratio, fr, fb = throughput(full, small, args.repeat, work / "throughput")
        print(f"  median paired ratio {ratio:.2f} (refine {fr:.2f} frames/s, bare pyFAI {fb:.2f} frames/s; "
              f"acceptance >= 0.9: {'PASS' if ratio >= 0.9 else 'FAIL'})")
    large = args.frames if args.large is None else args.large
    large_master = full.master if large == args.frames else sub_master(full, large // gen.FRAMES_PER_FILE)
    runs = [(args.small, small)] + ([] if args.skip_large else [(large, large_master)])
    results = []
    for n, master in runs:
        out = work / f"operando_{n}"
        saved = work / f"operando_{n}.json"
        if args.skip_small and n == args.small and saved.is_file():
            res = json.loads(saved.read_text())
        else:
            shutil.rmtree(out, ignore_errors=True)
            res = one_command(full, master, n, out, args.workers)
            saved.write_text(json.dumps(res, indent=1))
        results.append(res)
        print(f"refine operando, {n} frames: exit {res['rc']}, {res['wall_s']:.0f} s wall (integration "
              f"{res['integrate_s']:.0f} s = {n / max(res['integrate_s'], 1e-9):.1f} frames/s incl. start-up; fits "
              f"{res['fit_s']:.0f} s = {res['s_per_scan']:.2f} s/scan, {res['converged']}/{n} converged, "
              f"max |V/Vtrue-1| {res['max_rel_volume_error']:.1e}); peak RSS {res['maxrss_mb']:.0f} MB; "
              f"figure {res['figure']}")
    if len(results) == 2:
        growth = results[1]["maxrss_mb"] / results[0]["maxrss_mb"] - 1
        print(f"peak memory {results[0]['maxrss_mb']:.0f} MB at {results[0]['frames']} scans, "
              f"{results[1]['maxrss_mb']:.0f} MB at {results[1]['frames']}: {100 * growth:+.1f} % "
              "(acceptance within 20 %: "
              f"{'PASS' if abs(growth) <= 0.2 else 'FAIL'})")
        per_scan = (results[1]["maxrss_mb"] - results[0]["maxrss_mb"]) / (results[1]["frames"] - results[0]["frames"])
        print(f"memory slope {1024 * per_scan:.1f} kB/scan -> {results[0]['maxrss_mb'] + per_scan * 900:.0f} MB "
              f"expected at 1 000 scans")
        fits = results[1]["s_per_scan"] * 1000
        print(f"fits scaled to 1 000 scans: {fits:.0f} s with --workers {args.workers} (acceptance < 120 s on two "
              f"cores: {'PASS' if fits < 120 else 'FAIL'})")


if __name__ == "__main__":
    main()
