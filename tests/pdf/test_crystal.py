"""Crystalline PDF phases with crystal-system lattices, site-symmetry positions and ADPs: against PDFfit2 at moved
coordinates and cells, and parameters recovered from a synthetic G(r)."""

from __future__ import annotations

import numpy as np
import pytest

from refine.data import Pattern
from refine.examples import EXAMPLE_DATA
from refine.fit import Dataset, Objective, run_fit
from refine.pdf.crystal import CrystalPhase, polar_axes
from refine.pdf.model import Experiment
from tests.conftest import data_file
from tests.pdf._pdffit2 import pdffit2_gr

CDSE = "CdSe_wurtzite.stru"


def _wurtzite(isotropic: bool = True):
    """A PDFgui-style wurtzite model (tests/data); by default with isotropic ADPs (Ueq of the file's tensors), as
    after constraining."""
    import dataclasses

    phase = CrystalPhase.load(data_file(CDSE), "cdse")
    if not isotropic:
        return phase
    sites = tuple(dataclasses.replace(s, uaniso=None) for s in phase.structure.sites)
    return CrystalPhase("cdse", phase.structure.replace(sites=sites))


def test_wurtzite_parameters_follow_site_symmetry():
    phase = _wurtzite()
    params = phase.parameters()
    # P6_3mc: a = b, c free, gamma 120; Cd and Se on 2b (1/3, 2/3, z): only z is free, and z floats (polar axis).
    assert params["cdse_b"].expr == "cdse_a" and params["cdse_c"].vary and params["cdse_gamma"].value == 120
    assert "cdse_Se1_z" in params and "cdse_Se1_x" not in params
    assert polar_axes(phase.atoms, params) == ["z"]
    assert not params["cdse_Cd1_z"].vary and params["cdse_Se1_z"].vary
    assert params["cdse_Cd1_uiso"].vary and params["cdse_Se1_uiso"].vary
    # The file's tensors (anisotropic in this hexagonal cell): on the 3m site only U11 and U33 are free.
    aniso = _wurtzite(isotropic=False).parameters()
    assert aniso["cdse_Se1_u11"].vary and aniso["cdse_Se1_u33"].vary
    assert aniso["cdse_Se1_u22"].expr and aniso["cdse_Se1_u12"].expr
    assert "cdse_Se1_u13" not in aniso and "cdse_Se1_uiso" not in aniso  # U13 = U23 = 0 on the 3-fold axis


@pytest.mark.parametrize("radiation", ["xray", "neutron"])
def test_moved_structure_matches_pdffit2(radiation):
    """Se z, c and the ADPs changed away from the file: G(r) equals PDFfit2's for the same structure."""
    phase = _wurtzite()
    params = phase.parameters()
    params["cdse_a"].set(value=4.31)
    params["cdse_c"].set(value=7.03)
    params["cdse_Se1_z"].set(value=0.382)
    params["cdse_Cd1_uiso"].set(value=0.011)
    params["cdse_Se1_uiso"].set(value=0.018)
    params["cdse_delta2"].set(value=1.7)
    r = np.round(np.arange(1.0, 20.0 + 1e-9, 0.01), 6)
    qmax, qdamp = 14.0, 0.05
    experiment = Experiment(radiation=radiation, qmax=qmax)
    params.add("qdamp", value=qdamp)
    ours = phase.gr(params, r, experiment)
    # The same changes made independently on the file's four atoms (diffpy.structure), then PDFfit2.
    from diffpy.structure import loadStructure

    stru = loadStructure(str(data_file(CDSE)))
    stru.lattice.setLatPar(a=4.31, b=4.31, c=7.03)
    for atom in stru:
        if atom.element.capitalize() == "Se":
            atom.xyz[2] += 0.382 - 0.375
        atom.anisotropy = False  # isotropic ADPs, as the refine model has them
        atom.Uisoequiv = 0.011 if atom.element.capitalize() == "Cd" else 0.018
    ref = pdffit2_gr(stru, radiation, qmax, qdamp, r, {"delta2": 1.7})
    assert np.max(np.abs(ours - ref)) <= 1e-3 * np.max(np.abs(ref))
    # and the positions really moved: the file's structure gives a different G(r)
    start = phase.gr(phase.parameters(), r, experiment)
    assert np.max(np.abs(start - ours)) > 0.05 * np.max(np.abs(ref))


def test_parameters_recovered_from_synthetic_gr():
    """Wurtzite G(r) at known a, c, Se z, Uiso, delta2 with Gaussian noise (seeded): a perturbed start refines back to
    within 3 esd of every true value."""
    phase = _wurtzite()
    truth = phase.parameters()
    for name, value in (("cdse_a", 4.299), ("cdse_c", 7.012), ("cdse_Se1_z", 0.3772), ("cdse_Cd1_uiso", 0.0125),
                        ("cdse_Se1_uiso", 0.0160), ("cdse_delta2", 2.2), ("cdse_scale", 0.9)):
        truth[name].set(value=value)
    truth["cdse_delta2"].set(vary=True)
    truth.add("qdamp", value=0.05, vary=False)
    experiment = Experiment(radiation="xray", qmax=14.0)
    r = np.round(np.arange(1.5, 20.0 + 1e-9, 0.01), 6)
    g = phase.gr(truth, r, experiment)
    sigma = np.full_like(r, 0.01 * np.max(np.abs(g)))
    gobs = g + np.random.default_rng(5).normal(0.0, sigma)
    pattern = Pattern(x=r, y=gobs, sigma=sigma, unit="r_A", sigma_source="file", radiation="xray")
    start = truth.copy()
    for name, value in (("cdse_a", 4.31), ("cdse_c", 7.00), ("cdse_Se1_z", 0.372), ("cdse_Cd1_uiso", 0.008),
                        ("cdse_Se1_uiso", 0.010), ("cdse_delta2", 1.0), ("cdse_scale", 1.0)):
        start[name].set(value=value)
    dataset = Dataset("gr", pattern, lambda p: phase.gr(p, r, experiment), kind="pdf")
    res = run_fit(Objective.single(dataset), start, kind="pdf")
    assert res.converged
    for name in ("cdse_a", "cdse_c", "cdse_Se1_z", "cdse_Cd1_uiso", "cdse_Se1_uiso", "cdse_delta2", "cdse_scale"):
        assert abs(res.value(name) - truth[name].value) < 3 * res.esd(name), (name, res.value(name), res.esd(name))
    assert res.statistics.chi2_red == pytest.approx(1.0, abs=0.15)


def test_cli_refine_structure_writes_result_and_cif(tmp_path, capsys):
    """`refine pdf fit --refine-structure` on a synthetic wurtzite G(r): cell and Se z recovered within 3 esd, the
    result file carries the cell esds and volume esd, and the refined structure is written as CIF."""
    import json

    from refine.cli.main import main
    from refine.io import write_pattern
    from refine.io.structures import read_structure

    phase = _wurtzite()
    truth = phase.parameters()
    truth["cdse_a"].set(value=4.299)
    truth["cdse_c"].set(value=7.012)
    truth["cdse_Se1_z"].set(value=0.3772)
    truth["cdse_delta2"].set(value=2.0)
    truth["cdse_scale"].set(value=0.9)
    truth.add("qdamp", value=0.05)
    r = np.round(np.arange(1.5, 16.0 + 1e-9, 0.01), 6)
    g = phase.gr(truth, r, Experiment(radiation="xray", qmax=14.0))
    sigma = np.full_like(r, 0.01 * np.max(np.abs(g)))
    obs = Pattern(x=r, y=g + np.random.default_rng(8).normal(0.0, sigma), sigma=sigma, unit="r_A",
                  sigma_source="file", radiation="xray")
    write_pattern(obs, tmp_path / "w.gr")
    out, cif = tmp_path / "w.json", tmp_path / "w.cif"
    code = main(["pdf", "fit", str(tmp_path / "w.gr"), "--phase", str(data_file(CDSE)), "--qmax", "14",
                 "--qdamp", "0.05", "--refine-structure", "--json", str(out), "--cif-out", str(cif)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    ph = doc["phases"][0]
    for name, value in (("a", 4.299), ("c", 7.012)):
        assert abs(ph[name] - value) < 3 * ph["esd"][name]
    assert ph["esd"]["volume"] > 0 and ph["space_group"] == "P63mc"
    se = next(s for s in read_structure(cif).sites if s.label == "Se1")
    assert abs(se.xyz[2] - 0.3772) < 3 * doc["parameters"]["cdse_Se1_z"]["esd"]


def test_crystalline_and_fixed_phases_in_one_fit(tmp_path):
    """A refined-structure phase (wurtzite) and a fixed supercell (the bundled distorted rock salt) fitted together:
    the wurtzite cell and Se z come back within 3 esd, the phase scales (summing to 1) to their truth."""

    from refine.pdf.calculate import PDFSettings, calc_gr
    from refine.pdf.fitting import PDFFitSettings, PhaseInput, fit_pdf
    from refine.pdf.pairs import PairTable
    from refine.pdf.structure import PDFStructure

    supercell = EXAMPLE_DATA / "drs_supercell.cif"
    cif = tmp_path / "wurtzite.cif"
    from refine.io.structures import write_cif

    write_cif(_wurtzite().structure, cif)
    wurtzite = CrystalPhase.load(cif, "wurtzite")
    truth = wurtzite.parameters()
    for name, value in (("wurtzite_a", 4.299), ("wurtzite_c", 7.012), ("wurtzite_Se1_z", 0.3772),
                        ("wurtzite_scale", 0.6), ("wurtzite_delta2", 2.0)):
        truth[name].set(value=value)
    truth.add("qdamp", value=0.04)
    r = np.round(np.arange(1.5, 15.0 + 1e-9, 0.01), 6)
    experiment = Experiment(radiation="xray", qmax=20.0)
    g = wurtzite.gr(truth, r, experiment)
    table = PairTable.build(PDFStructure.load(supercell), 25.0, qmax=20.0)
    g = g + calc_gr(table, r, PDFSettings(scale=0.4, qdamp=0.04, qmax=20.0))
    sigma = np.full_like(r, 0.01 * np.max(np.abs(g)))
    obs = Pattern(x=r, y=g + np.random.default_rng(11).normal(0.0, sigma), sigma=sigma, unit="r_A",
                  sigma_source="file", radiation="xray")
    settings = PDFFitSettings(qmax=20.0, qdamp=0.04, sharpening="delta2")
    res = fit_pdf(obs, [PhaseInput.load(cif, refine_structure=True), PhaseInput.load(supercell, fixed=True)],
                  settings)
    assert res.converged
    for name, value in (("wurtzite_a", 4.299), ("wurtzite_c", 7.012), ("wurtzite_Se1_z", 0.3772)):
        assert abs(res.value(name) - value) < 3 * res.esd(name), (name, res.value(name), res.esd(name))
    ph = res.phases["wurtzite"]
    assert ph.space_group == "P63mc" and ph.volume.esd > 0
    assert ph.scale.value == pytest.approx(0.6, abs=3 * ph.scale.esd)
    assert "wurtzite" in res.extra["structures"]


def test_a_cell_that_leaves_the_space_groups_metric_uses_the_full_pair_list():
    """Corundum with b freed from a by the user (b = 1.01 a, γ still 120°): the O atoms related by the 3-fold axis
    are no longer equivalent, so G(r) must be the full double sum's (the symmetry-reduced list, still valid for
    its distances, gives another one); with b = a the reduced list is used and gives the full sum's curve."""
    from refine.pdf.calculate import direct_gr

    phase = CrystalPhase.load(data_file("Al2O3_corundum.cif"), "t")
    params = phase.parameters()
    r = np.round(np.arange(150, 1201) * 0.01, 10)
    exp = Experiment(radiation="xray", qmax=20.0)
    s = phase.settings(params, exp)
    symmetric = phase.gr(params, r, exp)
    assert phase.neighbours.reduced and phase.neighbours.builds == 1
    full = direct_gr(phase.pdf_structure(params), r, s)
    assert np.max(np.abs(symmetric - full)) <= 1e-12 * np.max(np.abs(full))
    params["t_b"].set(expr=None, value=1.01 * params["t_a"].value)
    broken = phase.gr(params, r, exp)
    full = direct_gr(phase.pdf_structure(params), r, s)
    assert np.max(np.abs(broken - full)) <= 1e-12 * np.max(np.abs(full))
    assert phase.neighbours.builds == 1  # the reduced list was not used for the broken cell


def test_a_site_moved_off_its_special_position_is_not_taken_as_symmetric():
    """Rutile with the O site's y freed from x by the user (y = x + 0.01): the mirror that fixed the site no longer
    does, so the phase stops using the symmetry-reduced pair list (here the 4₂ screw still relates the four O
    atoms, so both lists happen to give the same curve, which the test also checks)."""
    from refine.pdf.calculate import direct_gr

    phase = CrystalPhase.load(data_file("TiO2_rutile.cif"), "t")
    params = phase.parameters()
    assert phase._keeps_symmetry(phase.pdf_structure(params))
    params["t_O1_y"].set(expr=None, value=params["t_O1_x"].value + 0.01)
    moved = phase.pdf_structure(params)
    assert not phase._keeps_symmetry(moved)
    params["t_O1_y"].set(value=params["t_O1_x"].value + 1e-8)  # within the files' precision: still the site
    assert phase._keeps_symmetry(phase.pdf_structure(params))
    params["t_O1_y"].set(value=params["t_O1_x"].value + 0.01)
    r = np.round(np.arange(150, 1201) * 0.01, 10)
    exp = Experiment(radiation="xray", qmax=20.0)
    full = direct_gr(moved, r, phase.settings(params, exp))
    assert np.max(np.abs(phase.gr(params, r, exp) - full)) <= 1e-12 * np.max(np.abs(full))
