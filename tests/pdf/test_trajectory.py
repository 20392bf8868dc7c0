"""Trajectory phases of a G(r) fit (``--phase traj.xyz,fixed,frames=A:B:C``) and PDFfit2's sratio/rcut refined:
a fit of G(r) calculated from the same model gives back its scales, lattice scale and Uiso."""

from __future__ import annotations

import numpy as np
import pytest

import refine
from refine.errors import InputError
from refine.examples import EXAMPLE_DATA

ase_io = pytest.importorskip("ase.io")


@pytest.fixture(scope="module")
def trajectory(tmp_path_factory):
    """Six frames of the bundled 64-atom supercell, every atom displaced by 0.05 Å Gaussian noise (seeded)."""
    atoms = ase_io.read(EXAMPLE_DATA / "drs_supercell.cif")
    rng = np.random.default_rng(8)
    frames = []
    for _ in range(6):
        frame = atoms.copy()
        frame.positions += rng.normal(0.0, 0.05, frame.positions.shape)
        frames.append(frame)
    path = tmp_path_factory.mktemp("traj") / "md.xyz"
    ase_io.write(path, frames, format="extxyz")
    return path


def _write_gr(path, r, g):
    np.savetxt(path, np.column_stack([r, g]), header="r G")
    return path


def test_md_ensemble_plus_average_phase(trajectory, tmp_path):
    """0.6 rock salt (CIF) + 0.4 frame-averaged MD cell: the two-phase fit returns the scales and the Uiso."""
    common = {"qmax": 22.0, "qdamp": 0.04, "rmin": 0.01, "rmax": 15.0}
    rs = refine.pdf_calc(EXAMPLE_DATA / "drs_rocksalt.cif", **common)
    md = refine.pdf_calc(trajectory, frames="0:6:2", uiso=0.004, **common)
    gr = _write_gr(tmp_path / "obs.gr", rs.r, 0.6 * rs.G + 0.4 * md.G)
    res = refine.pdf_fit(gr, [EXAMPLE_DATA / "drs_rocksalt.cif", f"{trajectory},fixed,frames=0:6:2"], qmax=22.0,
                         qdamp=0.04, rmin=1.0, sharpening="none")
    values = res.params.valuesdict()
    assert res.statistics.Rw < 2e-3
    assert values["drs_scale"] == pytest.approx(0.6, abs=2e-3)
    assert values["md_scale"] == pytest.approx(0.4, abs=2e-3)
    assert values["md_lattice_scale"] == pytest.approx(1.0, abs=1e-4)
    for species in ("Na", "V", "O"):
        assert values[f"md_uiso_{species}"] == pytest.approx(0.004, abs=3e-4)
    assert res.phases["md"].extra["frames"] == 3


def test_refined_sratio_recovered(tmp_path):
    ni = EXAMPLE_DATA / "cu.cif"
    obs = refine.pdf_calc(ni, qmax=25.0, qdamp=0.03, delta2=1.0, sratio=0.75, rcut=3.0, rmin=0.01, rmax=15.0)
    gr = _write_gr(tmp_path / "cu.gr", obs.r, obs.G)
    res = refine.pdf_fit(gr, ni, qmax=25.0, qdamp=0.03, rmin=1.5, rcut=3.0, sratio=1.0, refine_sratio=True)
    assert res.params["cu_sratio"].value == pytest.approx(0.75, abs=5e-3)
    assert res.params["cu_delta2"].value == pytest.approx(1.0, abs=0.1)
    with pytest.raises(InputError, match="rcut"):
        refine.pdf_fit(gr, ni, qmax=25.0, refine_sratio=True)


def test_trajectory_phase_must_be_fixed(trajectory, tmp_path):
    gr = _write_gr(tmp_path / "x.gr", np.arange(1, 500) * 0.02, np.zeros(499))
    with pytest.raises(InputError, match="keeps its positions"):
        refine.pdf_fit(gr, f"{trajectory},frames=0:2", qmax=22.0)
