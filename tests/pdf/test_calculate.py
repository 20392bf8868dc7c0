"""G(r) against PDFfit2 (same structures and settings) and the fast table path against the direct sum."""

from __future__ import annotations

import numpy as np
import pytest

from refine.errors import InputError
from refine.pdf.calculate import PDFSettings, calc_gr, direct_gr, partial_gr, qmax_cutoff
from refine.pdf.pairs import PairTable
from refine.pdf.structure import PDFStructure
from tests.pdf._pdffit2 import pdffit2_gr
from tests.pdf.conftest import rocksalt_diffpy, to_diffpy

# acceptance criterion of issue 6: max|dG| <= 1e-3 max|G|; the implementations agree to ~1e-12 when the
# scattering tables agree, so a failure here is a real difference in definitions
TOL = 1e-3


def rel_err(calc: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(calc - ref)) / np.max(np.abs(ref)))


def fcc_ni(a: float = 3.52, u: float = 0.0025) -> PDFStructure:
    xyz = [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]
    return PDFStructure(lattice=(a, a, a, 90, 90, 90), xyz=xyz, elements=("Ni",) * 4, occupancy=np.ones(4),
                        u=np.full(4, u), name="Ni")


R20 = np.round(np.arange(50, 2001) * 0.01, 10)


@pytest.mark.parametrize("qmax", [0.0, 27.0])
@pytest.mark.parametrize("radiation", ["xray", "neutron"])
def test_fcc_ni_matches_pdffit2(qmax, radiation):
    ni = fcc_ni()
    settings = PDFSettings(qmax=qmax, qdamp=0.03, delta2=2.2, qbroad=0.01, scale=0.9, radiation=radiation)
    ref = pdffit2_gr(to_diffpy(ni), radiation, qmax, 0.03, R20, {"delta2": 2.2, "qbroad": 0.01, "dscale": 0.9})
    table = PairTable.build(ni, R20[-1], qmax=qmax)
    assert rel_err(calc_gr(table, R20, settings), ref) < TOL
    assert rel_err(direct_gr(ni, R20, settings), ref) < TOL


def test_ni_stru_file_and_sphere_envelope(ni_stru):
    ni = PDFStructure.from_diffpy(ni_stru)
    variables = {"delta1": 0.9, "spdiameter": 35.0, "sratio": 0.8, "rcut": 3.0}
    ref = pdffit2_gr(ni_stru, "xray", 30.0, 0.04, R20, variables)
    settings = PDFSettings(qmax=30.0, qdamp=0.04, delta1=0.9, spdiameter=35.0, sratio=0.8, rcut=3.0)
    assert rel_err(calc_gr(PairTable.build(ni, 20.0, qmax=30.0), R20, settings), ref) < TOL


@pytest.mark.parametrize("qmax", [0.0, 25.0])
def test_rocksalt_64_atoms_per_site_u(qmax):
    """2x2x2 NaCl supercell, every site its own Uiso, delta2 != 0, one anisotropic site, one partial site."""
    cell = PDFStructure.from_diffpy(rocksalt_diffpy())
    big = cell.supercell(2, 2, 2)
    rng = np.random.default_rng(6)
    u = rng.uniform(0.004, 0.015, big.natoms)[:, None, None] * np.eye(3)
    u[5] = [[0.012, 0.003, 0.0], [0.003, 0.008, 0.001], [0.0, 0.001, 0.02]]
    occ = big.occupancy.copy()
    occ[9] = 0.6
    big = big.replace(u=u, occupancy=occ)
    r = np.round(np.arange(100, 1201) * 0.01, 10)
    ref = pdffit2_gr(to_diffpy(big), "xray", qmax, 0.02, r, {"delta2": 1.8})
    settings = PDFSettings(qmax=qmax, qdamp=0.02, delta2=1.8)
    table = PairTable.build(big, r[-1], qmax=qmax)
    assert len(table.classes) == big.natoms  # every site is a class: per-site U is exact
    assert rel_err(calc_gr(table, r, settings), ref) < TOL


@pytest.mark.parametrize("qmax", [0.0, 25.0])
def test_rocksalt_640_atoms(qmax):
    """4x4x5 NaCl supercell (640 atoms) with per-species U overrides, a few odd sites and delta2."""
    big = PDFStructure.from_diffpy(rocksalt_diffpy()).supercell(4, 4, 5)
    u = big.u.copy()
    u[[3, 100, 401]] *= 1.7  # three sites with their own U
    big = big.replace(u=u)
    r = np.round(np.arange(100, 801) * 0.01, 10)
    odd = (3, 100, 401)
    classes = [f"site{i}" if i in odd else el for i, el in enumerate(big.elements)]
    table = PairTable.build(big, r[-1], qmax=qmax, classes=classes)
    assert len(table.classes) == 5
    uiso = {"Na": 0.0085, "Cl": 0.0070}
    variables = {"delta2": 2.5}
    for i, (el, ui) in enumerate(zip(big.elements, big.uiso, strict=True)):
        value = uiso[el] if i not in odd else ui
        for k in ("u11", "u22", "u33"):
            variables[f"{k}({i + 1})"] = value
    ref = pdffit2_gr(to_diffpy(big), "xray", qmax, 0.03, r, variables)
    settings = PDFSettings(qmax=qmax, qdamp=0.03, delta2=2.5, uiso=uiso)
    assert rel_err(calc_gr(table, r, settings), ref) < TOL


def test_lattice_scale_matches_pdffit2_lattice_change():
    cell = rocksalt_diffpy()
    table = PairTable.build(PDFStructure.from_diffpy(cell), 15.0)
    r = np.round(np.arange(100, 1501) * 0.01, 10)
    ref = pdffit2_gr(cell, "xray", 0.0, 0.0, r, {"lat(1)": 5.70, "lat(2)": 5.70, "lat(3)": 5.70})
    assert rel_err(calc_gr(table, r, PDFSettings(lattice_scale=5.70 / 5.64)), ref) < TOL


@pytest.mark.parametrize("pair", [("Na", "Na"), ("Na", "Cl"), ("Cl", "Cl")])
def test_partials_match_pdffit2_selections_and_sum_to_total(pair):
    cell = rocksalt_diffpy()
    table = PairTable.build(PDFStructure.from_diffpy(cell), 15.0, qmax=20.0)
    r = np.round(np.arange(100, 1501) * 0.01, 10)
    settings = PDFSettings(qmax=20.0, qdamp=0.03, delta2=1.0)
    ref = pdffit2_gr(cell, "xray", 20.0, 0.03, r, {"delta2": 1.0}, select=pair)
    part = partial_gr(table, r, settings, *pair)
    assert rel_err(part, ref) < TOL
    total = sum(partial_gr(table, r, settings, a, b) for a, b in [("Na", "Na"), ("Na", "Cl"), ("Cl", "Cl")])
    np.testing.assert_allclose(total, calc_gr(table, r, settings), atol=1e-12)


def test_table_equals_direct_sum_for_anisotropic_triclinic():
    """Low-symmetry cell, anisotropic ADPs, partial occupancy: both paths must agree to rounding."""
    rng = np.random.default_rng(1)
    n = 5
    a = rng.uniform(0.002, 0.01, (n, 3, 3))
    u = np.einsum("nij,nkj->nik", a, a) + 0.003 * np.eye(3)
    s = PDFStructure(lattice=(4.1, 5.3, 6.2, 81.0, 97.0, 104.0), xyz=rng.random((n, 3)),
                     elements=("V", "O", "O", "Na", "Li"), occupancy=[1, 1, 1, 0.5, 0.3], u=u)
    r = np.round(np.arange(80, 1201) * 0.01, 10)
    settings = PDFSettings(qmax=24.0, qdamp=0.02, delta1=0.5, qbroad=0.02, lattice_scale=1.01, spdiameter=60.0,
                           envelopes=(("sheet", 25.0),))
    table = PairTable.build(s, r[-1], qmax=24.0)
    np.testing.assert_allclose(calc_gr(table, r, settings), direct_gr(s, r, settings), rtol=0, atol=1e-9)
    ref = pdffit2_gr(to_diffpy(s), "xray", 24.0, 0.02, r, {"delta1": 0.5, "qbroad": 0.02, "spdiameter": 60.0})
    mine = calc_gr(table, r, settings.replace(lattice_scale=1.0, envelopes=()))
    assert rel_err(mine, ref) < TOL


def test_qmax_cutoff_removes_high_frequencies_only():
    r = np.arange(4000) * 0.01
    low, high = np.sin(5.0 * r), np.sin(40.0 * r)
    out = qmax_cutoff(low + high, 0.01, 20.0)
    interior = slice(500, 2500)  # away from the zero-padding edge
    assert np.max(np.abs(out[interior] - low[interior])) < 0.02


def test_uiso_overrides_equal_rebuilt_structure():
    cell = PDFStructure.from_diffpy(rocksalt_diffpy())
    r = np.round(np.arange(100, 1001) * 0.01, 10)
    table = PairTable.build(cell, 10.0)
    fast = calc_gr(table, r, PDFSettings(uiso={"Na": 0.02, "Cl": 0.004}, delta2=1.0))
    changed = cell.replace(uiso=[0.02 if e == "Na" else 0.004 for e in cell.elements])
    np.testing.assert_allclose(fast, direct_gr(changed, r, PDFSettings(delta2=1.0)), rtol=0, atol=1e-9)


def test_bad_inputs_raise_input_error():
    cell = PDFStructure.from_diffpy(rocksalt_diffpy())
    table = PairTable.build(cell, 10.0)
    good = np.linspace(1, 10, 901)
    with pytest.raises(InputError, match="equal steps"):
        calc_gr(table, np.array([1.0, 1.1, 1.3]), PDFSettings())
    with pytest.raises(InputError, match="larger rmax"):
        calc_gr(table, np.linspace(1, 20, 1901), PDFSettings())
    with pytest.raises(InputError, match="larger rmax"):
        calc_gr(table, good, PDFSettings(qmax=20.0))  # table was built without the Qmax extension
    with pytest.raises(InputError, match="unknown site class"):
        calc_gr(table, good, PDFSettings(uiso={"K": 0.01}))
    with pytest.raises(InputError, match="radiation"):
        PDFSettings(radiation="electron")
    with pytest.raises(InputError, match="qdamp"):
        PDFSettings(qdamp=-0.1)
    aniso = cell.replace(u=np.tile(np.diag([0.01, 0.02, 0.03]), (8, 1, 1)))
    with pytest.raises(InputError, match="anisotropic"):
        calc_gr(PairTable.build(aniso, 10.0), good, PDFSettings(uiso={"Na": 0.01}))


def test_numba_backend_and_coarse_resolution_on_a_rattled_supercell():
    """Relaxed-model case (no coincident distances): numba == numpy to rounding; merging distances within
    1e-3 Å changes G by < h²/(8 sigma²) relative (second-order error of merging, sigma >= 0.08 Å here)."""
    pytest.importorskip("numba")
    big = PDFStructure.from_diffpy(rocksalt_diffpy()).supercell(2, 2, 2)
    rng = np.random.default_rng(11)
    big = big.replace(xyz=big.xyz + rng.normal(0, 0.04, big.xyz.shape) / 11.28)
    r = np.round(np.arange(100, 1001) * 0.01, 10)
    settings = PDFSettings(qmax=25.0, qdamp=0.03, delta2=1.0)
    exact = PairTable.build(big, r[-1], qmax=25.0, resolution=1e-7)
    g_np = calc_gr(exact, r, settings, backend="numpy")
    np.testing.assert_allclose(calc_gr(exact, r, settings, backend="numba"), g_np, rtol=0, atol=1e-11)
    np.testing.assert_allclose(direct_gr(big, r, settings), g_np, rtol=0, atol=1e-11)
    coarse = PairTable.build(big, r[-1], qmax=25.0, resolution=1e-3)
    assert coarse.npairs < exact.npairs / 2
    assert rel_err(calc_gr(coarse, r, settings), g_np) < 1e-6 / (8 * 0.08**2)


def test_fixed_phase_merged_table_matches_pdffit2_and_the_exact_table():
    """The pair table of a fixed supercell (0.01 Å bins with exact first and second moments, FIXED_RESOLUTION)
    against PDFfit2 and the unmerged table, with sharp near-neighbour peaks (delta2 3 Å², U 0.004 Å²): within
    the 1e-4 max|G| budget, and the moment-keeping merge 10x closer than merging at the bin mean alone."""
    from refine.pdf.model import FIXED_RESOLUTION

    rng = np.random.default_rng(5)
    cell = PDFStructure.from_diffpy(rocksalt_diffpy(a=4.6)).supercell(2, 2, 2)
    step = rng.normal(size=cell.xyz.shape)
    step *= (rng.uniform(0.05, 0.1, cell.natoms) / np.linalg.norm(step, axis=1))[:, None]
    s = cell.replace(xyz=cell.xyz + step / 9.2, u=[np.eye(3) * 0.004] * cell.natoms)
    r = np.round(np.arange(150, 1201) * 0.01, 10)
    settings = PDFSettings(qmax=25.0, qdamp=0.04, delta2=3.0)
    ref = pdffit2_gr(to_diffpy(s), "xray", 25.0, 0.04, r, {"delta2": 3.0})
    merged = PairTable.build(s, r[-1], qmax=25.0, classes=s.elements, resolution=FIXED_RESOLUTION)
    exact = PairTable.build(s, r[-1], qmax=25.0, classes=s.elements, resolution=1e-9)
    assert merged.npairs < exact.npairs / 4
    g, g_exact = calc_gr(merged, r, settings), calc_gr(exact, r, settings)
    assert rel_err(g_exact, ref) < 1e-6
    assert rel_err(g, ref) < 1e-4
    mean_only = PairTable(**{**vars(merged), "spread": np.zeros(merged.npairs)})
    assert rel_err(calc_gr(mean_only, r, settings), ref) > 10 * rel_err(g, ref)


def test_backend_choice_by_cost(monkeypatch):
    """numpy for small sums and, while numba is not loaded, for sums whose numpy cost over a fit stays below
    numba's one-off per-process cost; numba once loaded (its one-off cost is paid) or for large sums."""
    import sys

    from refine.pdf.kernels import NUMPY_MAX_WORK, default_backend

    pytest.importorskip("numba")
    assert default_backend(100) == "numpy"
    assert default_backend(10_000, work=2 * NUMPY_MAX_WORK) == "numba"
    assert default_backend(10_000, work=0.5 * NUMPY_MAX_WORK) == "numba"  # numba is loaded now
    monkeypatch.delitem(sys.modules, "numba")
    assert default_backend(10_000, work=0.5 * NUMPY_MAX_WORK) == "numpy"


@pytest.mark.parametrize("compiled", [False, True])
def test_neighbour_list_gives_the_pairs_of_a_fresh_enumeration(compiled):
    """direct_gr through a kept NeighbourList equals the fresh pair enumeration (iter_pairs) to 1e-12 of max|G|
    for the start, after small atomic moves (no rebuild), after a cell strain and after a large move (rebuild),
    with anisotropic ADPs (pair directions matter)."""
    from refine.pdf.pairs import NeighbourList

    rng = np.random.default_rng(8)
    cell = PDFStructure.from_diffpy(rocksalt_diffpy()).supercell(2, 1, 1)
    u = np.array([np.diag([0.004, 0.007, 0.01]) for _ in range(cell.natoms)])
    cell = cell.replace(u=u)
    r = np.round(np.arange(100, 1501) * 0.01, 10)
    s = PDFSettings(qmax=25.0, qdamp=0.03, delta2=1.5)
    nl = NeighbourList(margin=0.5, compiled=compiled)
    steps = [cell,
             cell.replace(xyz=cell.xyz + rng.normal(0, 0.002, cell.xyz.shape)),
             cell.replace(lattice=tuple(v * 1.004 if k < 3 else v for k, v in enumerate(cell.lattice))),
             cell.replace(xyz=cell.xyz + rng.normal(0, 0.05, cell.xyz.shape))]
    builds = []
    for st in steps:
        ref = direct_gr(st, r, s)
        kept = direct_gr(st, r, s, neighbours=nl)
        assert np.max(np.abs(kept - ref)) < 1e-12 * np.max(np.abs(ref))
        builds.append(nl.builds)
    assert builds[0] == builds[1] == 1  # small moves reuse the list
    assert builds[-1] == builds[-2] + 1  # a 0.05-fractional shuffle (~0.5 A) forces a rebuild
