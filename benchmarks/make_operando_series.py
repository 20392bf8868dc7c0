"""Seeded synthetic operando series with a known truth, for the sequential/parametric tests and benchmarks.

    python benchmarks/make_operando_series.py OUT_DIR [--kind nasicon|biphasic|navpof|drift] [--nscans N]

Each series is a list of powder patterns (2θ, counts, σ = √counts) written as ``scan_<i>.xye`` plus
``truth.json`` (per scan: the cells, volumes and weight fractions used). Patterns are Rietveld patterns of refine's
own forward model (:func:`refine.api.simulation.calculated_peaks`, structures with atoms, each phase's scale set
from its weight fraction by Hill & Howard, W_i ∝ S_i·Z_iM_iV_i), a flat-plus-slope background and Poisson noise
from ``numpy.random.default_rng(seed + i)``. Kinds:

* ``nasicon``: Na3V2(PO4)3 (R-3c) along a hidden, non-linear path: a shrinks and c grows by
  ``0.4 % · s(t)`` with s a smooth step plus a small wiggle (t = i/(N−1)), so no polynomial of low order fits it.
* ``biphasic``: a two-phase stretch, Na3V2(PO4)3 and a smaller NASICON (Na1-like cell, a −2.4 %, c −0.8 %),
  fixed cells, the second phase's weight fraction rising linearly from 10 % to 70 %.
* ``navpof``: NaVPO4F-like two-phase series: phase 1 (NASICON) free per scan along the hidden path, phase 2
  (orthorhombic, the PbSO4 Pnma structure standing in) whose a and b change while c keeps its volume V0 constant.
* ``drift``: one NASICON phase whose a and c drift linearly by 1 % over the series (the Dask benchmark's series).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NASICON_CIF = ROOT / "tests" / "data" / "Na3V2PO43_NASICON.cif"
ORTHO_CIF = ROOT / "tests" / "data" / "PbSO4.cif"
WAVELENGTH = 0.72  # Å
PROFILE = {"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.002}
A0, C0 = 8.728, 21.804
#: Second NASICON of the biphasic stretch (Na1-like: smaller a).
A1, C1 = 8.518, 21.63
#: Orthorhombic stand-in of the NaVPO4F-like phase at constant volume.
ORTHO = (8.48, 5.398, 6.958)
PEAK_COUNTS = 20000.0
BACKGROUND = 300.0
SEED = 20261203
KINDS = ("nasicon", "biphasic", "navpof", "drift")


@dataclass(frozen=True)
class Grid:
    """The 2θ grid of the patterns (deg)."""

    start: float = 6.0
    stop: float = 22.0
    step: float = 0.008

    def x(self) -> np.ndarray:
        return np.arange(self.start, self.stop + self.step / 2, self.step)


def hidden_path(t: float) -> float:
    """s(t) in [0, 1]: a smooth step (tanh) with a small sinusoidal wiggle; s(0) = 0, s(1) = 1."""
    step = (np.tanh(6.0 * (t - 0.45)) - np.tanh(-2.7)) / (np.tanh(3.3) - np.tanh(-2.7))
    return float(step + 0.04 * np.sin(3.0 * np.pi * t))


def nasicon_cell(index: int, nscans: int, change: float = 0.004) -> tuple[float, float]:
    """(a, c) of Na3V2(PO4)3 in scan ``index`` along :func:`hidden_path`."""
    s = hidden_path(index / max(nscans - 1, 1))
    return A0 * (1.0 - change * s), C0 * (1.0 + change * s)


def drift_cell(index: int, nscans: int, change: float = 0.01) -> tuple[float, float]:
    """(a, c) drifting linearly by ``change`` (relative) over the series."""
    t = index / max(nscans - 1, 1)
    return A0 * (1.0 - change * t), C0 * (1.0 + change * t)


def ortho_cell(index: int, nscans: int) -> tuple[float, float, float]:
    """(a, b, c) of the constant-volume phase: a +0.5 %, b −0.3 % over the series, c = V0/(a·b)."""
    t = index / max(nscans - 1, 1)
    a, b = ORTHO[0] * (1 + 0.005 * t), ORTHO[1] * (1 - 0.003 * t)
    return a, b, ORTHO[0] * ORTHO[1] * ORTHO[2] / (a * b)


def instrument():
    from refine.instrument import Instrument, Profile

    return Instrument.synchrotron(WAVELENGTH, profile=Profile(U=PROFILE["U"], V=PROFILE["V"], W=PROFILE["W"],
                                                              X=PROFILE["X"], Y=PROFILE["Y"], sh_l=PROFILE["SH_L"]))


def structures(name: str):
    """The phases' starting structures (atoms from tests/data; cells replaced per scan)."""
    from refine.io.structures import read_structure

    return read_structure(NASICON_CIF if name != "ortho" else ORTHO_CIF).replace(name=name)


def _with_cell(structure, cell: Sequence[float]):
    from refine.crystal.lattice import Lattice

    if len(cell) == 2:
        return structure.replace(lattice=Lattice(cell[0], cell[0], cell[1], 90, 90, 120))
    return structure.replace(lattice=Lattice(cell[0], cell[1], cell[2], 90, 90, 90))


def scan_truth(kind: str, index: int, nscans: int) -> list[dict]:
    """Per phase of scan ``index``: name, cell (a, c) or (a, b, c), volume and weight fraction."""
    from refine.crystal.lattice import Lattice

    if kind == "nasicon":
        phases = [("nvp", nasicon_cell(index, nscans), 1.0)]
    elif kind == "drift":
        phases = [("nvp", drift_cell(index, nscans), 1.0)]
    elif kind == "biphasic":
        w2 = 0.10 + 0.60 * index / max(nscans - 1, 1)
        phases = [("nvp", (A0, C0), 1.0 - w2), ("nvp1", (A1, C1), w2)]
    elif kind == "navpof":
        phases = [("nvp", nasicon_cell(index, nscans), 0.6), ("ortho", ortho_cell(index, nscans), 0.4)]
    else:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    out = []
    for name, cell, w in phases:
        lat = Lattice(cell[0], cell[0], cell[1], 90, 90, 120) if len(cell) == 2 else Lattice(*cell, 90, 90, 90)
        out.append({"name": name, "cell": [float(v) for v in cell], "volume": float(lat.volume),
                    "weight_fraction": float(w)})
    return out


def simulate_scan(kind: str, index: int, nscans: int, *, grid: Grid = Grid(), seed: int = SEED):
    """(Pattern, truth) of scan ``index``: Rietveld scales S_i = W_i/(Z_iM_iV_i) · k, k giving PEAK_COUNTS."""
    from refine.api.simulation import calculated_peaks
    from refine.data import Pattern
    from refine.powder.quantitative import zmv

    truth = scan_truth(kind, index, nscans)
    x = grid.x()
    inst = instrument()
    curves, weights = [], []
    for ph in truth:
        structure = _with_cell(structures("ortho" if ph["name"] == "ortho" else "nvp").replace(name=ph["name"]),
                               ph["cell"])
        curves.append(calculated_peaks(x, [structure], inst))
        weights.append(ph["weight_fraction"] / zmv(structure))
    peaks = sum(w * c for w, c in zip(weights, curves, strict=True))
    # biphasic: one k for the whole series (scales comparable between scans); else the strongest peak PEAK_COUNTS
    k = _biphasic_k(nscans, grid) if kind == "biphasic" else PEAK_COUNTS / float(peaks.max())
    for ph, w in zip(truth, weights, strict=True):
        ph["scale"] = float(k * w)
    bkg = BACKGROUND * (1.0 + 0.02 * (x - x[0]))
    y = np.random.default_rng(seed + index).poisson(k * peaks + bkg).astype(float)
    pattern = Pattern(x=x, y=y, sigma=np.sqrt(np.maximum(y, 1.0)), sigma_source="poisson", radiation="xray",
                      wavelength=WAVELENGTH, metadata={"source": f"make_operando_series {kind} scan {index}"})
    return pattern, truth


def _biphasic_k(nscans: int, grid: Grid) -> float:
    from refine.api.simulation import calculated_peaks
    from refine.powder.quantitative import zmv

    truth = scan_truth("biphasic", 0, nscans)
    x = grid.x()
    total = 0.0
    for ph in truth:
        structure = _with_cell(structures("nvp").replace(name=ph["name"]), ph["cell"])
        total = total + ph["weight_fraction"] / zmv(structure) * calculated_peaks(x, [structure], instrument())
    return PEAK_COUNTS / float(np.max(total))


def write_series(folder: str | Path, kind: str = "nasicon", nscans: int = 6, *, grid: Grid = Grid(),
                 seed: int = SEED) -> tuple[list[Path], list[list[dict]]]:
    """Write ``scan_<i>.xye`` and ``truth.json`` into ``folder``; return the paths and the truth per scan."""
    from refine.io import write_pattern

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths, truths = [], []
    for i in range(nscans):
        pattern, truth = simulate_scan(kind, i, nscans, grid=grid, seed=seed)
        path = folder / f"scan_{i}.xye"
        write_pattern(pattern, path)
        paths.append(path)
        truths.append(truth)
    (folder / "truth.json").write_text(json.dumps({"kind": kind, "nscans": nscans, "seed": seed,
                                                   "wavelength": WAVELENGTH, "profile": PROFILE, "scans": truths},
                                                  indent=1))
    return paths, truths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder for scan_<i>.xye and truth.json")
    parser.add_argument("--kind", choices=KINDS, default="nasicon")
    parser.add_argument("--nscans", type=int, default=6)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    paths, _ = write_series(args.out, args.kind, args.nscans, seed=args.seed)
    print(f"{len(paths)} scans ({args.kind}) in {args.out}; truth in {Path(args.out) / 'truth.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
