"""Search–match speed: building the library index and one query (refine identify's search, without the fit).

Run from the repository root: ``python benchmarks/bench_identify.py [--n 1000]``. Two libraries: the COD CIFs the
``crystals`` package ships (+ ../shared/data/cif), and N CIFs made from them by scaling the cell (±5 %, isotropic) and
substituting elements (each element of a structure by a random other of the library's elements), written with
refine's CIF writer. For each: a cold index build (no cache), a warm build (cache, nothing changed), and the search
of a synthetic Mo Kα mixture of two library phases (median of 3). Goals: build under a minute, query under 5 s on
two cores. No peer program runs here (search–match programs are GUI or commercial); the figures are refine's own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _variants(library: Path, out: Path, n: int, seed: int = 7) -> Path:
    from refine.crystal.lattice import Lattice
    from refine.crystal.structure import Site
    from refine.io.structures import read_structure, write_cif

    rng = np.random.default_rng(seed)
    structures = [read_structure(p) for p in sorted(library.glob("*.cif"))]
    elements = sorted({s.element for st in structures for s in st.sites if s.element.isalpha()})
    out.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        base = structures[k % len(structures)]
        s = np.full(3, rng.uniform(0.95, 1.05))  # isotropic: the variant keeps its space group's metric
        lat = base.lattice
        swap = {el: str(rng.choice(elements)) for el in {site.element for site in base.sites}}
        sites = tuple(Site(label=f"{swap.get(site.element, site.element)}{i}", element=swap.get(site.element,
                                                                                                site.element),
                           xyz=site.xyz, occupancy=site.occupancy, uiso=site.uiso) for i, site in enumerate(base.sites))
        variant = base.replace(name=f"v{k:04d}", sites=sites,
                               lattice=Lattice(lat.a * s[0], lat.b * s[1], lat.c * s[2], lat.alpha, lat.beta,
                                               lat.gamma))
        try:
            write_cif(variant, out / f"v{k:04d}.cif")
        except Exception as exc:  # noqa: BLE001 - a variant the writer refuses is left out and counted
            print(f"  variant {k} not written: {exc}")
    return out


def _measure(folder: Path, label: str) -> None:
    from refine.powder.phase_index import build_index
    from refine.powder.search_match import SearchOptions, search_match
    from tests.powder.mixtures import MO_LAB, draw

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "index.npz"
        t0 = time.perf_counter()
        index = build_index(folder, cache=cache)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_index(folder, cache=cache)
        warm = time.perf_counter() - t0
    rng = np.random.default_rng(3)
    times = []
    for _ in range(3):
        mixture = draw(index, rng, 2)
        t0 = time.perf_counter()
        result = search_match(mixture.pattern, index, MO_LAB, SearchOptions())
        times.append(time.perf_counter() - t0)
        found = [m.name for m in result.matches[:3]]
        print(f"  truth {mixture.names} -> top 3 {found}")
    print(f"{label}: {len(index)} phases ({len(index.skipped)} skipped); index build {cold:.1f} s cold, "
          f"{warm:.2f} s from the cache (goal < 60 s); query median {np.median(times):.1f} s (goal < 5 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="CIFs made by straining and substituting (default 1000)")
    args = parser.parse_args()
    from tests.powder.mixtures import make_library

    with tempfile.TemporaryDirectory() as tmp:
        library = make_library(Path(tmp) / "cod", ROOT.parent / "shared" / "data" / "cif")
        _measure(library, "COD library (crystals + shared)")
        big = _variants(library, Path(tmp) / "variants", args.n)
        _measure(big, f"{args.n} strained/substituted CIFs")


if __name__ == "__main__":
    main()
