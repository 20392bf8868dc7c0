"""``refine.sequential`` from Python: a glob or a list, and nothing written without ``output``."""

import numpy as np

import refine
from refine.crystal.lattice import Lattice
from refine.examples import example_path

LAM = 0.1173


def test_a_series_without_output_writes_nothing(tmp_path):
    truth = refine.read_structure(example_path("drs_rocksalt.cif"))
    cells = [4.642, 4.646, 4.650]
    for i, a in enumerate(cells):
        structure = truth.replace(lattice=Lattice.from_sequence([a] * 3 + [90.0] * 3))
        refine.simulate(structure, wavelength=LAM, range="2:10", step=0.005, noise=5000, seed=i, background=100,
                        output=tmp_path / f"scan_{i}.xye")
    before = sorted(tmp_path.iterdir())
    result = refine.sequential(str(tmp_path / "scan_*.xye"), example_path("drs_rocksalt.cif"), wavelength=LAM)
    assert sorted(tmp_path.iterdir()) == before
    assert len(result.records) == 3 and all(r["converged"] for r in result.records)
    fitted = [next(p["a"] for p in r["phases"]) for r in result.records]
    assert np.allclose(fitted, cells, atol=5e-4)
    same = refine.sequential(sorted(str(p) for p in before), [example_path("drs_rocksalt.cif")], wavelength=LAM)
    assert [r["file"] for r in same.records] == [r["file"] for r in result.records]
