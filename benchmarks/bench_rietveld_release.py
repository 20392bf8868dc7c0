"""PbSO4 X-ray Rietveld (issue 15): this working tree against the release at commit 8715dad, whole processes.

Run from the repository root: ``python benchmarks/bench_rietveld_release.py [--repeat N] [--commit C]``. The same
fit as ``bench_rietveld.py`` (CPD round-robin PbSO4, 16–153° 2θ, the file's instrument with SH/L 0.03; scale, cell,
displacement, size, strain, U V W, coordinates, Uiso, staged) runs as a whole Python process in the release's
scratch venv (:func:`release.release_python`) and in this tree, alternately, ``--repeat`` times each; the best wall
times, their ratio, and the differences of the cells (Å) and Rwp are printed. Acceptance: ratio ≥ 3, |Δcell| ≤
1e-5 Å, |ΔRwp| ≤ 1e-4. The machine may be shared: the runs alternate so that both see the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
FOLDER = ROOT.parent / "shared" / "data" / "powder_rietveld" / "gsas2_PbSO4_CPD_xray_neutron"

JOB = """
import json, sys, time
t0 = time.perf_counter()
from refine.io import read_pattern
from refine.io.instprm import read_instrument
from refine.io.structures import read_structure
from refine.powder.background import Background
from refine.powder.model import PowderOptions
from refine.powder.rietveld import fit_rietveld
folder = sys.argv[1]
pattern = read_pattern(folder + "/PBSO4.XRA")
structure, instrument = read_structure(folder + "/PbSO4-Wyckoff.cif"), read_instrument(folder + "/INST_XRY.PRM")
t1 = time.perf_counter()
res = fit_rietveld(pattern, [structure], instrument,
                   refine=("scale", "cell", "shift", "size", "strain", "U", "V", "W", "positions", "uiso"),
                   options=PowderOptions(fit_range=(16.0, 153.0), background=Background("chebyshev", nterms=6)))
t2 = time.perf_counter()
print(json.dumps({"Rwp": res.statistics.Rwp, "cell": [res.value(f"pbso4_{k}") for k in "abc"],
                  "nvary": res.statistics.nvary, "fit_s": t2 - t1, "setup_s": t1 - t0}))
"""


def run(python: str, *, tree: Path | None) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the child, the job's output) of one whole process; ``tree`` goes first on
    the path (None: the interpreter's installed refine, run from a neutral directory)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    with tempfile.TemporaryDirectory() as cwd:
        before = os.times()
        start = time.perf_counter()
        out = subprocess.run([python, "-c", JOB, str(FOLDER)], capture_output=True, text=True, check=True, env=env,
                             cwd=cwd)
        wall = time.perf_counter() - start
        after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--commit", default="8715dad")
    parser.add_argument("--tree", default=str(ROOT), help="the refine source tree to time (default: this one)")
    args = parser.parse_args()
    if not FOLDER.exists():
        print(f"PbSO4 data not found at {FOLDER}: skipped")
        return
    from release import release_python

    old = str(release_python(args.commit))
    runs: dict[str, list] = {"release": [], "tree": []}
    for _ in range(args.repeat):
        runs["release"].append(run(old, tree=None))
        runs["tree"].append(run(sys.executable, tree=Path(args.tree)))
    best = {k: min(v, key=lambda r: r[0]) for k, v in runs.items()}
    for name, (wall, cpu, out) in best.items():
        print(f"{name:8s} best of {args.repeat}: {wall:6.2f} s wall, {cpu:6.2f} s CPU (fit {out['fit_s']:.2f} s), "
              f"Rwp {out['Rwp']:.6f}, a b c {' '.join(f'{v:.6f}' for v in out['cell'])}")
    r_old, r_new = best["release"][2], best["tree"][2]
    dcell = max(abs(a - b) for a, b in zip(r_old["cell"], r_new["cell"], strict=True))
    print(f"ratio (release / tree): {best['release'][0] / best['tree'][0]:.2f}× wall, "
          f"{best['release'][1] / best['tree'][1]:.2f}× CPU (goal ≥ 3); max |Δcell| {dcell:.2e} Å (≤ 1e-5), "
          f"|ΔRwp| {abs(r_old['Rwp'] - r_new['Rwp']):.2e} (≤ 1e-4)")


if __name__ == "__main__":
    main()
