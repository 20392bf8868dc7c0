"""Bragg + PDF co-refinement (refine.bragg_pdf): one rock-salt structure against a synthetic powder pattern
(pymatgen intensities, Poisson noise) and a synthetic G(r) (refine's exact pair sum, Gaussian noise of known dG)
made from the same truth. The shared cell and ADPs come back within 3 esd, with an esd no larger than the better
single-dataset fit's, and each dataset keeps its own statistics."""

import dataclasses

import numpy as np
import pytest

from refine.bragg_pdf import fit_bragg_pdf
from refine.crystal.lattice import Lattice
from refine.data import Pattern
from refine.instrument import Instrument, Profile
from refine.io.structures import read_structure
from refine.pdf.calculate import PDFSettings, direct_gr
from refine.pdf.fitting import PDFFitSettings, PhaseInput, fit_pdf
from refine.pdf.structure import PDFStructure
from refine.powder.background import Background
from refine.powder.model import PowderOptions
from refine.powder.rietveld import RietveldOptions, fit_rietveld
from tests.powder.synthetic import simulate

A, U_NA, U_CL = 5.6402, 0.012, 0.010
LAM = 0.72
PROFILE = {"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.002}


def _nacl(a, u_na, u_cl):
    mg = pytest.importorskip("pymatgen.core")
    s = mg.Structure.from_spacegroup("Fm-3m", mg.Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return s, {"Na": u_na, "Cl": u_cl}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.io.cif import CifWriter

    folder = tmp_path_factory.mktemp("bragg_pdf")
    truth, _ = _nacl(A, U_NA, U_CL)
    # pymatgen's XRD takes Debye-Waller B = 8 pi^2 U per species
    calc = XRDCalculator(wavelength=LAM, debye_waller_factors={"Na": 8 * np.pi**2 * U_NA, "Cl": 8 * np.pi**2 * U_CL})
    pat = calc.get_pattern(truth, scaled=False, two_theta_range=(4.0, 46.0))
    powder = simulate(np.asarray(pat.x), np.asarray(pat.y), np.arange(5.0, 45.0, 0.004), wavelength=LAM,
                      profile=PROFILE, counts=20000, background=300, seed=12)
    start_mg, _ = _nacl(A * 1.002, 0.008, 0.008)
    CifWriter(start_mg, symprec=0.01).write_file(str(folder / "nacl.cif"))
    start = read_structure(folder / "nacl.cif").replace(name="nacl")
    start = start.replace(sites=tuple(dataclasses.replace(s, uiso=0.008) for s in start.sites))
    cell = PDFStructure.from_crystal(start.replace(
        lattice=Lattice(A, A, A, 90, 90, 90),
        sites=tuple(dataclasses.replace(s, uiso=U_NA if s.element.startswith("Na") else U_CL) for s in start.sites)))
    r = np.round(np.arange(150, 2001) * 0.01, 10)
    sigma = np.full(r.size, 0.02)
    g = direct_gr(cell, r, PDFSettings(qmax=25.0, qdamp=0.03, delta2=1.5)) + np.random.default_rng(3).normal(0, 0.02,
                                                                                                              r.size)
    gr = Pattern(x=r, y=g, sigma=sigma, unit="r_A", sigma_source="file", metadata={"source": "synthetic"})
    inst = Instrument.synchrotron(LAM, polarization=0.5, profile=Profile(U=1.0, V=-0.3, W=0.6, X=0.4, Y=1.2,
                                                                         sh_l=0.002))
    return powder, gr, start, inst


def test_joint_cell_and_adps(data):
    powder, gr, start, inst = data
    options = PowderOptions(background=Background("chebyshev", nterms=4))
    refine = ("scale", "cell", "W", "X", "Y", "uiso")
    pdf = PDFFitSettings(qmax=25.0, qdamp=0.03)
    res = fit_bragg_pdf(powder, gr, start, inst, pdf=pdf, refine=refine, options=options,
                        rietveld=RietveldOptions(dispersion=False))
    assert res.converged, res.message
    assert abs(res.value("nacl_a") - A) < 3 * res.esd("nacl_a"), (res.value("nacl_a"), res.esd("nacl_a"))
    names = [n for n in res.params if n.startswith("nacl_") and n.endswith("_uiso") and res.params[n].vary]
    assert len(names) == 2  # one Uiso per site (Na, Cl): the loop below must not be empty
    for name in names:
        truth = U_NA if "Na" in name else U_CL
        assert abs(res.value(name) - truth) < 3 * res.esd(name), (name, res.value(name), res.esd(name))
        assert res.params[f"pdf_{name}"].expr == name  # one ADP for both datasets
    assert set(res.dataset_statistics) == {"pattern", "gr"}
    assert res.dataset_statistics["gr"].Rw is not None and res.dataset_statistics["pattern"].Rwp is not None
    # combining the datasets cannot make the cell less certain than the better one alone
    bragg = fit_rietveld(powder, [start], inst, refine=refine, options=options,
                         rietveld=RietveldOptions(dispersion=False))
    local = fit_pdf(gr, [PhaseInput(PDFStructure.from_crystal(start), prefix="nacl", refine_structure=True,
                                    crystal=start)], pdf)
    assert res.esd("nacl_a") <= 1.05 * min(bragg.esd("nacl_a"), local.esd("nacl_a"))


def test_command_line(data, tmp_path, capsys):
    """``refine rietveld PATTERN --phase CIF --pdf GR --pdf-qmax Q``: result file with both datasets' statistics,
    figure, CIF; --pdf without --pdf-qmax, or two phases, exit 2."""
    import json

    from refine.cli.main import main
    from refine.io.columns import write_columns
    from refine.io.instprm import write_instprm
    from refine.io.patterns import write_pattern
    from refine.io.structures import write_cif

    powder, gr, start, inst = data
    write_pattern(powder, tmp_path / "p.xye")
    write_columns(gr, tmp_path / "g.gr")
    write_instprm(inst, tmp_path / "i.instprm")
    write_cif(start, tmp_path / "nacl.cif")
    base = ["rietveld", str(tmp_path / "p.xye"), "--phase", str(tmp_path / "nacl.cif"), "--instrument",
            str(tmp_path / "i.instprm"), "--no-dispersion", "--background", "chebyshev:4",
            "--refine", "scale,cell,W,X,Y,uiso"]
    out = tmp_path / "r.json"
    assert main([*base, "--pdf", str(tmp_path / "g.gr"), "--pdf-qmax", "25", "--pdf-qdamp", "0.03",
                 "--json", str(out), "--plot", str(tmp_path / "r.png"), "--cif-out", str(tmp_path / "o.cif")]) == 0
    doc = json.loads(out.read_text())
    (phase,) = doc["phases"]
    assert doc["kind"] == "bragg_pdf" and phase["a"] == pytest.approx(A, abs=3 * phase["esd"]["a"])
    assert (tmp_path / "r.png").stat().st_size > 10_000 and (tmp_path / "o.cif").is_file()
    assert "G(r): Rw" in capsys.readouterr().out
    assert main([*base, "--pdf", str(tmp_path / "g.gr")]) == 2
    assert main([*base, "--phase", str(tmp_path / "nacl.cif"), "--pdf", str(tmp_path / "g.gr"),
                 "--pdf-qmax", "25"]) == 2
    err = capsys.readouterr().err
    assert "--pdf-qmax" in err and "one phase" in err
