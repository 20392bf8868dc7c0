"""Timing of ``refine pdf calc`` on an MD-sized trajectory, with PDFfit2's time for one frame in the same run.

Run from the repository root: ``python benchmarks/bench_pdf_calc.py [--repeats 3] [--frames 200] [--atoms 700]``.

Work: a seeded synthetic trajectory (default 700 atoms, Na/V/O on a 10x10x7 simple-cubic rock-salt-like grid of
2.1 Å spacing, each frame the sites displaced by Gaussian noise of 0.1 Å, 200 frames, extended XYZ written once
into a temporary folder), G(r) to rmax 30 Å with Qmax 25 Å⁻¹, Qdamp 0.03, Uiso 0.005 Å², x-ray, partials
included: refine reads and averages all frames (``refine.pdf_calc``; reading included), and PDFfit2 1.5.1
calculates the first frame alone (``calc()``, structure set-up included). Best of the repeats, each program back
to back. numba's threads follow NUMBA_NUM_THREADS (2 on the CI machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

QMAX, QDAMP, UISO, RMAX = 25.0, 0.03, 0.005, 30.0


def make_trajectory(path: Path, natoms: int, nframes: int, seed: int = 17) -> None:
    """Write a seeded extended-XYZ trajectory of ``natoms`` (10x10x7 grid = 700; fewer take the first sites)."""
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(seed)
    nx, ny, nz = 10, 10, max(1, int(np.ceil(natoms / 100)))
    grid = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"), -1).reshape(-1, 3)
    grid = grid[:natoms]
    spacing = 2.1
    cell = np.diag([nx, ny, nz]) * spacing
    anion = grid.sum(axis=1) % 2 == 1
    symbols = np.where(anion, "O", "Na")
    cations = np.flatnonzero(~anion)
    symbols[rng.choice(cations, size=int(0.4 * len(cations)), replace=False)] = "V"
    frames = [Atoms(symbols=list(symbols), positions=grid * spacing + rng.normal(0, 0.1, (len(grid), 3)), cell=cell,
                    pbc=True) for _ in range(nframes)]
    write(path, frames, format="extxyz")


def refine_time(path: Path) -> tuple[float, float, object]:
    """Wall and CPU seconds (all threads of the process) of ``refine.pdf_calc`` on every frame, and its result."""
    from refine.api.calculation import pdf_calc

    t0, c0 = time.perf_counter(), time.process_time()
    result = pdf_calc(str(path), qmax=QMAX, qdamp=QDAMP, uiso=UISO, rmax=RMAX, rmin=0.01)
    return time.perf_counter() - t0, time.process_time() - c0, result


def pdffit2_time(path: Path) -> float:
    from ase.io import read
    from diffpy.pdffit2 import PdfFit, redirect_stdout
    from diffpy.structure import Atom, Lattice, Structure

    atoms = read(path, index=0)
    t0 = time.perf_counter()
    lat = Lattice(*atoms.cell.cellpar())
    stru = Structure([Atom(s, x, U=np.eye(3) * UISO) for s, x in
                      zip(atoms.get_chemical_symbols(), atoms.get_scaled_positions(), strict=True)], lattice=lat)
    with open(os.devnull, "w") as sink:
        redirect_stdout(sink)
        pf = PdfFit()
        pf.add_structure(stru)
        pf.alloc("X", QMAX, QDAMP, 0.01, RMAX, 3000)
        pf.calc()
        pf.getpdf_fit()
        redirect_stdout(sys.stdout)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--atoms", type=int, default=700)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traj.xyz"
        make_trajectory(path, args.atoms, args.frames)
        refine_time(path)  # load (or compile) numba's kernels once, outside the timing
        ours, cpu, theirs = [], [], []
        for _ in range(args.repeats):
            seconds, cpu_seconds, result = refine_time(path)
            ours.append(seconds)
            cpu.append(cpu_seconds)
            theirs.append(pdffit2_time(path))
    import numba

    best, peer = min(ours), min(theirs)
    print(f"trajectory: {args.atoms} atoms x {args.frames} frames, rmax {RMAX} A, qmax {QMAX}, "
          f"{numba.get_num_threads()} numba threads, best of {args.repeats}")
    print(f"refine pdf_calc, all frames (reading included): {best:.2f} s = {1e3 * best / args.frames:.1f} ms/frame "
          f"(CPU {min(cpu):.2f} s over its threads)")
    print(f"PDFfit2 1.5.1 calc(), one frame:               {peer:.2f} s = {1e3 * peer:.1f} ms/frame")
    print(f"per-frame ratio PDFfit2 / refine: {peer / (best / args.frames):.0f}x; partials: {len(result.partials)}")


if __name__ == "__main__":
    main()
