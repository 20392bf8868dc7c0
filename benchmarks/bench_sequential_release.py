"""Issue 15 benchmark: ``refine sequential`` on a 100-scan NASICON Le Bail series (a and c drifting by 1 %,
benchmarks/drift_series.py), ``--workers 1`` and the defaults a user would use, against the release at commit
8715dad (benchmarks/release.py builds it in a cached scratch venv), whole processes back to back.

Both run ``refine sequential scan_*.xye --phase Na3V2PO43_NASICON.cif --wavelength 0.72
--workers 1 -o OUT``; printed: the best wall time of each over ``--repeat`` alternating runs, the ratio (release
time / working-tree time), and the largest relative difference of the refined volumes of the two (from each run's
``sequential.csv``). The machine may be shared: the runs alternate so that both see the same load; say so when
quoting the numbers.

Run from the repository root: ``python benchmarks/bench_sequential_release.py [--scans 100] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
CIF = ROOT / "tests" / "data" / "Na3V2PO43_NASICON.cif"
RELEASE = "8715dad"
ENTRY = "import sys; from refine.cli.main import main; sys.argv[0] = 'refine'; sys.exit(main())"


def _command(python: str, paths: list[Path], out: Path) -> list[str]:
    # the console script's body (``-m refine.cli.main`` would run a second copy of the module, without commands)
    return [python, "-c", ENTRY, "sequential", *map(str, paths), "--phase", str(CIF), "--wavelength", "0.72",
            "--workers", "1", "-o", str(out)]


def _run(cmd: list[str], env: dict[str, str], out: Path) -> float:
    """Wall time of one whole process (exit 0 or 3: a flagged scan is a result, not a failure)."""
    shutil.rmtree(out, ignore_errors=True)
    tic = time.perf_counter()
    # From a neutral folder: ``python -c`` puts the working folder first on sys.path, and from the repository root
    # the release's interpreter would import this tree's refine instead of its own.
    proc = subprocess.run(cmd, env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall = time.perf_counter() - tic
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return wall


def _volumes(out: Path) -> list[float]:
    with open(out / "sequential.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    column = next(k for k in rows[0] if k.endswith("_volume"))
    return [float(r[column]) for r in rows]


def main() -> None:
    from drift_series import make_drift_series
    from release import release_python

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each (best reported)")
    parser.add_argument("--drift", type=float, default=0.01)
    parser.add_argument("--release", default=RELEASE, help="git revision to compare with")
    args = parser.parse_args()
    old = str(release_python(args.release))
    env_old = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env_new = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory() as tmp:
        series = make_drift_series(Path(tmp) / "data", args.scans, args.drift, seed=0)
        runs: dict[str, list[float]] = {"release": [], "refine": []}
        outs = {"release": Path(tmp) / "out_release", "refine": Path(tmp) / "out_refine"}
        for _ in range(args.repeat):
            for name, python, env in (("release", old, env_old), ("refine", sys.executable, env_new)):
                wall = _run(_command(python, list(series.paths), outs[name]), env, outs[name])
                runs[name].append(wall)
                print(f"{name:8s} {wall:7.1f} s", flush=True)
        v_old, v_new = _volumes(outs["release"]), _volumes(outs["refine"])
    t_old, t_new = min(runs["release"]), min(runs["refine"])
    diff = max(abs(b / a - 1.0) for a, b in zip(v_old, v_new, strict=True))
    truth = max(abs(b / t - 1.0) for b, t in zip(v_new, series.volume, strict=True))
    print(f"{args.scans} scans, drift {100 * args.drift:g} %, --workers 1, best of {args.repeat}; cores "
          f"{os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    print(f"release {args.release}: {t_old:.1f} s ({t_old / args.scans:.3f} s/scan); working tree: {t_new:.1f} s "
          f"({t_new / args.scans:.3f} s/scan); speed-up {t_old / t_new:.2f}x")
    print(f"volumes, working tree vs release: max relative difference {diff:.2e}; vs truth {truth:.2e}")


if __name__ == "__main__":
    main()
