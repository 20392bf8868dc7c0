"""Side-by-side timing of refine's PDF engine and PDFfit2 on the same structures and settings.

Run from the repository root: ``python benchmarks/bench_pdf.py [--quick]``.  For each structure (fcc Ni, 64- and
640-atom rock-salt supercells) and rmax (20/30/50 Å) it prints PDFfit2's calc() time, refine's one-off pair-table
build time, the time of one G(r) evaluation from the table (what a fit pays per function call), their ratio, and
max|dG|/max|G| between the two programs.  Timings are wall-clock medians and noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from refine.pdf.calculate import PDFSettings, calc_gr
from refine.pdf.pairs import PairTable
from refine.pdf.structure import PDFStructure

QMAX, QDAMP, DELTA2, DR, RMIN = 25.0, 0.03, 2.0, 0.01, 0.5


def rocksalt(a: float = 5.64) -> PDFStructure:
    xyz, el = [], []
    for f in [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]:
        xyz += [f, tuple(np.mod(np.add(f, 0.5), 1.0))]
        el += ["Na", "Cl"]
    return PDFStructure(lattice=(a, a, a, 90, 90, 90), xyz=xyz, elements=tuple(el), occupancy=np.ones(8),
                        u=[0.010, 0.006] * 4, name="NaCl")


def fcc_ni(a: float = 3.52) -> PDFStructure:
    return PDFStructure(lattice=(a, a, a, 90, 90, 90), xyz=[(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)],
                        elements=("Ni",) * 4, occupancy=np.ones(4), u=np.full(4, 0.0025), name="Ni")


def pdffit2_time(structure: PDFStructure, r: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    from diffpy.pdffit2 import PdfFit, redirect_stdout
    from diffpy.structure import Atom, Lattice, Structure

    stru = Structure([Atom(e, x, occupancy=o, U=u) for e, x, o, u in
                      zip(structure.elements, structure.xyz, structure.occupancy, structure.u, strict=True)],
                     lattice=Lattice(*structure.lattice))
    with open(os.devnull, "w") as sink:
        redirect_stdout(sink)
        pf = PdfFit()
        pf.add_structure(stru)
        pf.alloc("X", QMAX, QDAMP, float(r[0]), float(r[-1]), len(r))
        pf.setvar("delta2", DELTA2)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            pf.calc()
            times.append(time.perf_counter() - t0)
        g = np.array(pf.getpdf_fit())
        redirect_stdout(sys.stdout)
    return statistics.median(times), g


def rattled(structure: PDFStructure, rms: float, seed: int = 0) -> PDFStructure:
    """Random Gaussian displacements (Å rms per axis): a relaxed-supercell-like model with few equal distances."""
    rng = np.random.default_rng(seed)
    return structure.replace(xyz=structure.xyz + rng.normal(0, rms, structure.xyz.shape) / structure.lattice[:3])


def numba_first_call_seconds(cache_dir: str | None) -> float:
    """Wall time of the first numba kernel call in a fresh interpreter (compilation, or loading numba's cache)."""
    code = ("import time, numpy as np; from refine.pdf.kernels import add_peaks_numba as f; t = time.perf_counter(); "
            "f(np.zeros(10), 0.0, 0.1, np.array([0.5]), np.array([0.1]), np.array([1.0])); "
            "print(time.perf_counter() - t)")
    env = dict(os.environ)
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="rmax 20 and 30 only, one PDFfit2 repeat")
    args = parser.parse_args()
    cases = [("Ni fcc (4)", fcc_ni(), 1e-4), ("NaCl 2x2x2 (64)", rocksalt().supercell(2, 2, 2), 1e-4),
             ("NaCl 4x4x5 (640)", rocksalt().supercell(4, 4, 5), 1e-4),
             ("rattled 640", rattled(rocksalt().supercell(4, 4, 5), 0.05), 1e-4),
             ("rattled 640", rattled(rocksalt().supercell(4, 4, 5), 0.05), 1e-3)]
    with tempfile.TemporaryDirectory() as empty:
        cold = numba_first_call_seconds(empty)
    warm = numba_first_call_seconds(None)
    print(f"numba kernel, first call in a fresh process: {cold:.2f} s compiling (empty cache), {warm:.2f} s with "
          "numba's on-disk cache; paid once per process, only when a sum exceeds 2000 peaks (not in the times below)")
    rmaxes = (20.0, 30.0) if args.quick else (20.0, 30.0, 50.0)
    settings = PDFSettings(qmax=QMAX, qdamp=QDAMP, delta2=DELTA2, uiso={"Na": 0.011, "Cl": 0.007})
    print(f"x-ray, Qmax {QMAX}, Qdamp {QDAMP}, delta2 {DELTA2}, dr {DR} Å, r from {RMIN} Å")
    head = f"{'structure':18s} {'res Å':>6s} {'rmax':>5s} {'pdffit2 s':>10s} {'build s':>8s} {'entries':>8s} "
    head += f"{'eval ms':>8s} "
    print(head + f"{'speed-up':>9s} {'max|dG|/max|G|':>15s}")
    for name, s, res in cases:
        for rmax in rmaxes:
            if name.startswith("rattled") and rmax > 30:
                continue
            r = np.round(np.arange(int(round(RMIN / DR)), int(round(rmax / DR)) + 1) * DR, 10)
            table = PairTable.build(s, rmax, qmax=QMAX, resolution=res)
            st = settings if s.name.startswith("NaCl") else settings.replace(uiso={})
            calc_gr(table, r, st)  # warm-up (a first numba call would compile here)
            evals = []
            for _ in range(5 if table.npairs > 10000 else 20):
                t0 = time.perf_counter()
                g = calc_gr(table, r, st)
                evals.append(time.perf_counter() - t0)
            repeats = 1 if (args.quick or s.natoms > 100) else 3
            variables = s.replace(uiso=[st.uiso.get(e, u) for e, u in zip(s.elements, s.uiso, strict=True)])
            t_pf, g_pf = pdffit2_time(variables, r, repeats)
            t_me = statistics.median(evals)
            err = np.max(np.abs(g - g_pf)) / np.max(np.abs(g_pf))
            print(f"{name:18s} {res:6.0e} {rmax:5.0f} {t_pf:10.4f} {table.build_seconds:8.3f} {table.npairs:8d} "
                  f"{1e3 * t_me:8.3f} {t_pf / t_me:8.0f}x {err:15.2e}", flush=True)


if __name__ == "__main__":
    main()
