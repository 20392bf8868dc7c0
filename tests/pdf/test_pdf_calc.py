"""``pdf calc``'s G(r): against PDFfit2 1.5.1 (fcc Ni, a 640-atom rock-salt supercell, LaMnO3 with sratio/rcut),
partials summing to the total, frame averages of rigidly translated frames, and the histogram tables against the
exact pair table (a triclinic cell)."""

from __future__ import annotations

import numpy as np
import pytest

from refine.errors import InputError
from refine.pdf.calculate import PDFSettings, calc_gr
from refine.pdf.derivatives import gr_derivatives
from refine.pdf.histogram import structure_table
from refine.pdf.pairs import PairTable
from refine.pdf.pdf_calc import PDFCalcSettings, calculate
from refine.pdf.structure import PDFStructure
from tests.conftest import shared_path
from tests.pdf._pdffit2 import pdffit2_gr
from tests.pdf.conftest import rocksalt_diffpy, to_diffpy
from tests.pdf.test_calculate import fcc_ni

# the acceptance: max|G - G_PDFfit2| <= 1e-3 max|G|
TOL = 1e-3


def rel_err(calc: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(calc - ref)) / np.max(np.abs(ref)))


def rocksalt_640() -> PDFStructure:
    """4 x 4 x 5 conventional NaCl cells (640 atoms), Uiso 0.010 (Na) and 0.006 (Cl) Å²."""
    return PDFStructure.from_diffpy(rocksalt_diffpy()).supercell(4, 4, 5)


@pytest.mark.parametrize("radiation", ["xray", "neutron"])
@pytest.mark.parametrize(("make", "rmax"), [(fcc_ni, 30.0), (rocksalt_640, 20.0)], ids=["Ni", "NaCl640"])
def test_total_matches_pdffit2(make, rmax, radiation):
    structure = make()
    settings = PDFCalcSettings(radiation=radiation, qmax=26.0, qdamp=0.03, delta2=2.0, rmin=0.5, rmax=rmax)
    result = calculate(structure, settings)
    ref = pdffit2_gr(to_diffpy(structure), radiation, 26.0, 0.03, result.r, {"delta2": 2.0})
    assert rel_err(result.G, ref) < TOL
    total = sum(result.partials.values())
    assert np.max(np.abs(total - result.G)) < 1e-10 * np.max(np.abs(result.G))


def test_lamno3_sratio_rcut_matches_pdffit2():
    """PDFfit2's low-r sharpening: sigma *= sratio for pairs closer than rcut (libpdffit2/pdf.cc)."""
    from diffpy.structure import loadStructure

    stru = shared_path("sequential", "pdfgui_LaMnO3_temperature_series_neutron_PDF", "LaMnO3.stru")
    settings = PDFCalcSettings(radiation="neutron", qmax=32.0, qdamp=0.02, delta2=1.5, sratio=0.7, rcut=3.5,
                               rmin=1.0, rmax=20.0)
    result = calculate(stru, settings)
    ref = pdffit2_gr(loadStructure(str(stru)), "neutron", 32.0, 0.02, result.r,
                     {"delta2": 1.5, "sratio": 0.7, "rcut": 3.5})
    assert rel_err(result.G, ref) < TOL
    plain = calculate(stru, PDFCalcSettings(radiation="neutron", qmax=32.0, qdamp=0.02, delta2=1.5, rmin=1.0,
                                            rmax=20.0))
    assert rel_err(plain.G, ref) > 10 * TOL  # the sharpening is visible: the test could fail without it


def test_translated_frames_give_the_single_frame(tmp_path):
    ase_io = pytest.importorskip("ase.io")
    from ase import Atoms

    s = rocksalt_640()
    rng = np.random.default_rng(11)
    # decimal positions and shifts the file's 8 decimals hold exactly: the frames differ by the translation only
    pos = np.round(s.positions + rng.normal(0, 0.05, s.positions.shape), 6)
    base = Atoms(s.elements, positions=pos, cell=s.base, pbc=True)
    frames = []
    for _ in range(10):
        atoms = base.copy()
        atoms.positions = pos + np.round(rng.uniform(-20, 20, 3), 2)  # rigid translation, atoms leave the cell
        frames.append(atoms)
    ase_io.write(tmp_path / "one.xyz", [base], format="extxyz")
    ase_io.write(tmp_path / "ten.xyz", frames, format="extxyz")
    settings = PDFCalcSettings(qmax=25.0, qdamp=0.03, uiso=0.006, rmin=0.5, rmax=25.0)
    one = calculate(tmp_path / "one.xyz", settings)
    ten = calculate(tmp_path / "ten.xyz", settings, "0:10")
    assert ten.frames == 10 and one.frames == 1
    assert np.max(np.abs(ten.G - one.G)) < 1e-12 * np.max(np.abs(one.G))


def test_triclinic_histogram_table_equals_exact_table():
    """The histogram kernel's image enumeration in a skewed cell: same G(r) as the exact PairTable.build."""
    rng = np.random.default_rng(5)
    s = PDFStructure(lattice=(5.1, 6.3, 7.2, 71.0, 98.0, 113.0), xyz=rng.random((12, 3)),
                     elements=("Na", "V", "O", "O") * 3, occupancy=np.ones(12),
                     u=np.array([0.008, 0.005, 0.01, 0.01] * 3))
    r = np.round(np.arange(50, 2001) * 0.01, 10)
    settings = PDFSettings(qmax=24.0, qdamp=0.02, delta2=1.0)
    exact = calc_gr(PairTable.build(s, 20.0, qmax=24.0), r, settings)
    binned = calc_gr(structure_table(s, 20.0 + 6 * 2 * np.pi / 24.0 + 1.01), r, settings)
    assert rel_err(binned, exact) < 1e-5  # third-order binning error, 0.005 Å bins against sigma >= 0.1 Å


def test_sratio_derivative_matches_finite_difference():
    table = PairTable.build(fcc_ni(), 12.0, qmax=25.0)
    r = np.round(np.arange(100, 1201) * 0.01, 10)
    s = PDFSettings(qmax=25.0, sratio=0.8, rcut=3.0, delta2=1.0)
    _, der = gr_derivatives(table, r, s, ["sratio"])
    h = 1e-6
    fd = (calc_gr(table, r, s.replace(sratio=0.8 + h)) - calc_gr(table, r, s.replace(sratio=0.8 - h))) / (2 * h)
    assert np.max(np.abs(der["sratio"] - fd)) < 1e-6 * np.max(np.abs(fd))
    bare = s.replace(qmax=0.0)  # without the (global) Qmax filter only the peaks of pairs below rcut move
    fd0 = (calc_gr(table, r, bare.replace(sratio=0.8 + h)) - calc_gr(table, r, bare.replace(sratio=0.8 - h))) / (2 * h)
    assert np.max(np.abs(fd0)) > 1.0 and np.max(np.abs(fd0[r > 3.0])) == 0.0


def test_missing_adps_and_misplaced_frames_are_bad_input():
    ni = fcc_ni(u=0.0)
    with pytest.raises(InputError, match="no ADP"):
        calculate(ni, PDFCalcSettings())
    assert calculate(ni, PDFCalcSettings(uiso=0.004, rmax=5.0)).G.shape == (501,)
    with pytest.raises(InputError, match="frames"):
        calculate(fcc_ni(), PDFCalcSettings(rmax=5.0), "0:3")
