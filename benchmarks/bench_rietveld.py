"""Timing of full Rietveld refinements.

Run from the repository root: ``python benchmarks/bench_rietveld.py``. Prints the wall-clock time of
(1) a full NASICON (R-3c) refinement on 10 000 points (synthetic: pymatgen intensities, refine's profile, Poisson
noise; scale, cell, W X Y, free coordinates, Uiso and the Na2 occupancy, staged), goal < 10 s on two cores, and
(2) the X-ray-only PbSO4 CPD round-robin fit (GSAS-II's steps, 16-153°), when ../shared/data is present, and
(3) the crystallographic building blocks on NASICON: the reflection list to d_min 0.8 Å (goal < 50 ms) and one
evaluation of the line intensities of ~1000 lines × 126 atoms (goal < 100 ms), medians of 5 after a warm-up.
Numba compilation is excluded by a warm-up evaluation. Timings are noisy on a shared machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
NASICON_CIF = ROOT / "tests" / "data" / "Na3V2PO43_NASICON.cif"


def _median_seconds(fn, repeat: int = 5) -> float:
    fn()  # warm-up (numba compilation, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def crystal() -> None:
    from refine.crystal.reflections import generate_reflections
    from refine.crystal.structure_factors import StructureFactorModel, scattering_table
    from refine.io.structures import read_structure

    structure = read_structure(NASICON_CIF)
    lat, sg = structure.lattice, structure.space_group
    t_refl = _median_seconds(lambda: generate_reflections(lat, sg, d_min=0.8))
    refl = generate_reflections(lat, sg, 0.55)
    model = StructureFactorModel.prepare(refl, scattering_table(structure, wavelength=1.5406))
    atoms = structure.expand()
    t_sf = _median_seconds(lambda: model.line_intensities(structure, atoms))
    print(f"NASICON reflections to d_min 0.8 A: {t_refl * 1e3:.1f} ms (goal < 50 ms); line intensities of "
          f"{len(refl)} lines x {len(atoms)} atoms: {t_sf * 1e3:.1f} ms per evaluation (goal < 100 ms)")


def nasicon() -> None:
    from refine.powder.model import PowderModel
    from refine.powder.rietveld import RietveldEngine, fit_rietveld
    from tests.powder.synthetic import pymatgen_peaks, simulate
    from tests.powder.test_rietveld import (
        LAM,
        NO_DISPERSION,
        OPTIONS,
        PROFILE,
        _instrument,
        _nasicon_pymatgen,
        _nasicon_start,
    )

    cif = NASICON_CIF
    pos, inten = pymatgen_peaks(_nasicon_pymatgen(cif), LAM, (4.0, 46.0))
    x = np.arange(5.0, 45.0, 0.004)
    pattern = simulate(pos, inten, x, wavelength=LAM, profile=PROFILE, counts=20000, background=300, seed=7)
    start = _nasicon_start(cif, na2_occ=0.5, cell_factors=(1.0008, 0.9993))
    engine = RietveldEngine(PowderModel(pattern, [start], _instrument(), options=OPTIONS), NO_DISPERSION)
    p = engine.parameters()
    engine.freeze(p)
    engine.calculate(p)  # numba warm-up
    t0 = time.perf_counter()
    n = 50
    for _ in range(n):
        engine.calculate(p)
    per_eval = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    res = fit_rietveld(pattern, [start], _instrument(),
                       refine=("scale", "cell", "W", "X", "Y", "positions", "adp", "nvp_Na2_occ"), options=OPTIONS,
                       rietveld=NO_DISPERSION)
    dt = time.perf_counter() - t0
    print(f"NASICON 10 000 points, {res.statistics.nvary} parameters: {dt:.1f} s "
          f"({per_eval * 1e3:.1f} ms per model evaluation), Rwp {res.statistics.Rwp:.4f}, "
          f"Na2 occ {res.value('nvp_Na2_occ'):.3f}, a {res.value('nvp_a'):.5f} c {res.value('nvp_c'):.5f}")


def pbso4() -> None:
    from refine.io import read_pattern
    from refine.io.instprm import read_instrument
    from refine.io.structures import read_structure
    from refine.powder.background import Background
    from refine.powder.model import PowderOptions
    from refine.powder.rietveld import fit_rietveld

    folder = DATA / "powder_rietveld" / "gsas2_PbSO4_CPD_xray_neutron"
    if not folder.exists():
        print("PbSO4: data not found, skipped")
        return
    pattern = read_pattern(folder / "PBSO4.XRA")
    structure, instrument = read_structure(folder / "PbSO4-Wyckoff.cif"), read_instrument(folder / "INST_XRY.PRM")
    t0 = time.perf_counter()
    res = fit_rietveld(pattern, [structure], instrument,
                       refine=("scale", "cell", "shift", "size", "strain", "U", "V", "W", "positions", "uiso"),
                       options=PowderOptions(fit_range=(16.0, 153.0), background=Background("chebyshev", nterms=6)))
    dt = time.perf_counter() - t0
    print(f"PbSO4 X-ray {int(res.statistics.npoints)} points, {res.statistics.nvary} parameters: {dt:.1f} s, "
          f"Rwp {res.statistics.Rwp:.4f}, a b c {res.value('pbso4_a'):.5f} {res.value('pbso4_b'):.5f} "
          f"{res.value('pbso4_c'):.5f}")


if __name__ == "__main__":
    crystal()
    nasicon()
    pbso4()
