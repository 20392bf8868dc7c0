"""Local-structure descriptors over an MD-sized trajectory: 700 atoms × 200 frames (goal under 10 s on two cores).

Run from the repository root: ``python benchmarks/bench_descriptors.py``. The frames are a 7 × 5 × 5 rock-salt NaCl
cell (700 atoms) with seeded Gaussian displacements of 0.1 Å per frame, generated in memory; bonds Na–Cl within
3.3 Å, with bond angles. ASE's neighbour list (bond lengths only, no angles) runs on the same frames as the peer.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def frames(n_frames: int = 200, seed: int = 5):
    from ase.build import bulk

    base = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((7, 5, 5))
    rng = np.random.default_rng(seed)
    for _ in range(n_frames):
        atoms = base.copy()
        atoms.positions += rng.normal(0.0, 0.1, atoms.positions.shape)
        yield atoms


def main() -> None:
    from ase.neighborlist import neighbor_list

    from refine.pdf.descriptors import local_structure

    start = time.perf_counter()
    result = local_structure(frames(), cutoffs={"Na-Cl": 3.3}, cutoff=0.5)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    count = sum(len(neighbor_list("d", atoms, {("Na", "Cl"): 3.3})) for atoms in frames())
    ase_time = time.perf_counter() - start
    lengths = result.bond_lengths["Cl-Na"]
    print(f"700 atoms x {result.frames} frames: refine descriptors (lengths, CN, angles, distortion) {ours:.1f} s "
          f"(goal < 10 s); ASE neighbour list alone {ase_time:.1f} s; ratio {ase_time / ours:.2f}; "
          f"{len(lengths)} bonds (ASE {count // 2}), mean {lengths.mean():.4f} A, CN(Na-Cl) "
          f"{result.coordination['Na-Cl'].mean():.3f}")


if __name__ == "__main__":
    main()
