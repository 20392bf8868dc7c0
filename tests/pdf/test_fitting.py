"""PDF fits through refine.fit: PDFgui's Si+Ni "way 2" and Ni fits, phase fractions, fixed supercells, synthetic
two-phase recovery and differential PDFs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from refine.data import Pattern
from refine.errors import InputError
from refine.fit import Objective, run_fit
from refine.io.patterns import read_pattern
from refine.pdf.calculate import PDFSettings, direct_gr
from refine.pdf.difference import difference_dataset, difference_pattern
from refine.pdf.fitting import (
    PDFFitSettings,
    PhaseInput,
    build_model,
    fit_pdf,
    phase_fractions,
)
from refine.pdf.model import Phase, calc_model, make_parameters
from refine.pdf.structure import PDFStructure
from tests.conftest import data_file, shared_path
from tests.pdf._pdffit2 import pdffit2_fit_cubic

FOLDER = ("pdf_fits", "pdfttp_ch05_SiNi_two_phase")


def _esd_pdfgui(result, name: str) -> float:
    """PDFfit2 prints esds from the unscaled covariance; ours are scaled by sqrt(chi2_red) (CONVENTIONS.md)."""
    return result.esd(name) / np.sqrt(result.statistics.chi2_red)


def test_sini_way2_reproduces_pdfgui():
    pat = read_pattern(shared_path(*FOLDER, "sini.gr"))
    # PDFgui hands PDFfit2 only the fit-range points (no calculation below 1.49 Å): extend_below=False
    settings = PDFFitSettings(qmax=27.0, qdamp=0.05, rmin=1.49, rmax=50.0, sharpening="delta1", extend_below=False)
    inputs = [PhaseInput.load(shared_path(*FOLDER, name)) for name in ("Si_Fd-3m.cif", "Ni_Fm-3m.cif")]
    res = fit_pdf(pat, inputs, settings)
    assert res.converged and res.kind == "pdf"
    # README way2: a(Si) 5.4293(38), a(Ni) 3.52245(47), mass fraction Ni 0.113426(24), Rw 0.116006
    si, ni = res.phases["si"], res.phases["ni"]
    assert si.a.value == pytest.approx(5.4293, abs=3 * 0.00038)
    assert ni.a.value == pytest.approx(3.52245, abs=3 * 0.00047)
    assert ni.weight_fraction.value == pytest.approx(0.113, abs=0.01)
    assert si.weight_fraction.value + ni.weight_fraction.value == pytest.approx(1.0, abs=1e-12)
    assert res.statistics.Rw == pytest.approx(0.116006, abs=5e-7)  # PDFgui's printed digits
    assert res.value("si_scale") + res.value("ni_scale") == pytest.approx(1.0, abs=1e-12)
    # the same minimum to well inside PDFfit2's own convergence: every printed value within 0.01 esd
    for name, value, esd in (("dscale", 1.03826, 0.012), ("si_scale", 0.803292, 0.011), ("si_a", 5.4293, 0.00038),
                             ("ni_a", 3.52245, 0.00047), ("si_uiso_Si", 0.00995139, 0.00022),
                             ("ni_uiso_Ni", 0.00612196, 0.00026), ("si_delta1", 1.54956, 0.062),
                             ("ni_delta1", 1.58289, 0.062)):
        assert abs(res.value(name) - value) < max(0.01 * esd, 5e-6), (name, res.value(name), value)
    # Same minimum, so the unscaled esds must match PDFfit2's within their print precision (2 digits)
    assert _esd_pdfgui(res, "si_a") == pytest.approx(0.00038, rel=0.05)
    assert _esd_pdfgui(res, "ni_uiso_Ni") == pytest.approx(0.00026, rel=0.05)
    # Mass fraction esd through ni_scale = 1 - si_scale: |df/ds| = c_si c_ni / D², c = <m>/<b>² (Si 28.0855/14²,
    # Ni 58.6934/28²), D = s c_si + (1 - s) c_ni.  (PDFfit2 prints 0.0024 from the scales' esds taken as
    # independent; the constraint makes them fully anti-correlated.)
    c_si, c_ni, s = 28.0855 / 14**2, 58.6934 / 28**2, res.value("si_scale")
    d_f = c_si * c_ni / (s * c_si + (1 - s) * c_ni) ** 2 * res.esd("si_scale")
    assert ni.weight_fraction.esd == pytest.approx(d_f, rel=1e-3)
    assert si.space_group == "Fd-3m" and si.volume.value == pytest.approx(si.a.value ** 3, rel=1e-12)
    assert si.volume.esd == pytest.approx(3 * si.a.value ** 2 * si.a.esd, rel=1e-9)
    assert any("no uncertainties" in w for w in res.warnings)
    comps = res.curves["gr"].components
    np.testing.assert_allclose(comps["si"] + comps["ni"], res.curves["gr"].calculated, atol=1e-12)


def test_ni_alone_reproduces_pdfgui():
    pat = read_pattern(shared_path(*FOLDER, "ni.gr"))
    settings = PDFFitSettings(qmax=27.0, qdamp=0.05, rmin=1.49, rmax=20.0, sharpening="delta1", extend_below=False)
    res = fit_pdf(pat, [PhaseInput.load(shared_path(*FOLDER, "Ni_Fm-3m.cif"))], settings)
    assert res.converged
    ni = res.phases["ni"]
    assert ni.a.value == pytest.approx(3.52392, abs=5e-6)  # the printed digits
    assert res.value("ni_uiso_Ni") == pytest.approx(0.00688342, abs=0.01 * 0.000073)
    assert res.value("ni_delta1") == pytest.approx(1.24733, abs=0.01 * 0.038)
    assert res.value("ni_scale") == pytest.approx(1.00015, abs=0.01 * 0.0067)
    assert res.statistics.Rw == pytest.approx(0.0703243, abs=5e-8)
    # PDFfit2 itself, given the whole file and the fit range, calculates from 6*2pi/Qmax below 1.49 A (the default
    # here): the reference is PDFfit2's own refinement of the same model run here on the same file; the same
    # minimum, so every value within 0.01 of PDFgui's printed esd and Rw to 2e-6 (measured 6e-7 apart).
    extended = fit_pdf(pat, [PhaseInput.load(shared_path(*FOLDER, "Ni_Fm-3m.cif"))],
                       replace(settings, extend_below=True))
    from diffpy.structure import loadStructure

    ref = pdffit2_fit_cubic(loadStructure(str(shared_path(*FOLDER, "Ni_Fm-3m.cif"))), shared_path(*FOLDER, "ni.gr"),
                            "xray", 27.0, 0.05, (1.49, 20.0))
    for name, key, esd in (("ni_a", "a", 0.00016), ("ni_uiso_Ni", "uiso", 0.000073), ("ni_delta1", "delta1", 0.038),
                           ("ni_scale", "scale", 0.0067)):
        assert extended.value(name) == pytest.approx(ref[key], abs=0.01 * esd), (name, extended.value(name), ref)
    assert extended.statistics.Rw == pytest.approx(ref["Rw"], abs=2e-6)
    assert extended.statistics.Rw < res.statistics.Rw  # the extension lets the first peak be fitted whole
    assert ni.weight_fraction is None and ni.a.esd > 0
    assert res.curves["gr"].x[0] == pytest.approx(1.49, abs=1e-6)
    assert res.curves["gr"].x[-1] == pytest.approx(20.0, abs=1e-6)


def test_phase_fractions_match_pdfgui_way1():
    # PDFgui way1 scales 0.803477 / 0.196079 -> atoms 0.9423... not printed; mass Si 0.886919, Ni 0.113081 (README)
    # Only the compositions and cells matter: the hand-written Si and Ni CIFs have the data set's cells.
    si = Phase.from_structure("si", PDFStructure.load(data_file("Si.cif")), 5.0)
    ni = Phase.from_structure("ni", PDFStructure.load(data_file("Ni.cif")), 5.0)
    params = make_parameters([si, ni])
    params["si_scale"].set(value=0.803477)
    params["ni_scale"].set(value=0.196079)
    frac = phase_fractions(params, [si, ni], "xray")
    np.testing.assert_allclose(frac["mass"], [0.886919, 0.113081], atol=2e-6)


# ------------------------------------------------------------------------------------------- synthetic
def _rocksalt_drs(a: float = 4.642) -> PDFStructure:
    """Disordered rock salt: Na 0.6 / V 0.4 on 4a, O on 4b (Fm-3m conventional cell)."""
    fcc = [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]
    xyz, el, occ = [], [], []
    for f in fcc:
        xyz += [f, f, tuple(np.mod(np.add(f, 0.5), 1))]
        el += ["Na", "V", "O"]
        occ += [0.6, 0.4, 1.0]
    return PDFStructure(lattice=(a, a, a, 90, 90, 90), xyz=xyz, elements=tuple(el), occupancy=occ,
                        u=[0.01] * len(el), name="drs")


def _distorted_supercell(seed: int = 7, a: float = 4.60) -> PDFStructure:
    """2x2x2 ordered rock-salt supercell (Na/V 0.6/0.4 at random), every atom displaced by 0.05-0.1 Å."""
    rng = np.random.default_rng(seed)
    base = _rocksalt_drs(a)
    cations = [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]
    xyz = [(np.array(f) + s) / 2 for s in np.ndindex(2, 2, 2) for f in cations]
    xyz += [(np.mod(np.array(f) + 0.5, 1) + s) / 2 for s in np.ndindex(2, 2, 2) for f in cations]
    el = ["Na"] * 19 + ["V"] * 13
    rng.shuffle(el)
    el += ["O"] * 32
    step = rng.normal(size=(64, 3))
    step *= (rng.uniform(0.05, 0.1, 64) / np.linalg.norm(step, axis=1))[:, None]
    cell = 2 * base.lattice[0]
    frac = np.array(xyz) + step / cell
    return PDFStructure(lattice=(cell, cell, cell, 90, 90, 90), xyz=frac, elements=tuple(el),
                        occupancy=np.ones(64), u=[0.005] * 64, name="supercell")


def test_synthetic_two_phase_recovery():
    r = np.arange(1.5, 15.0 + 1e-9, 0.02)
    truth_rs = dict(scale=0.7, lattice_scale=1.004, delta2=2.0, uiso={"Na": 0.011, "V": 0.011, "O": 0.009})
    truth_sc = dict(scale=0.3, lattice_scale=0.997, delta2=3.0, uiso={"Na": 0.006, "V": 0.004, "O": 0.007})
    common = dict(qmax=25.0, qdamp=0.04, radiation="xray")
    g = (direct_gr(_rocksalt_drs(), r, PDFSettings(**truth_rs, **common))
         + direct_gr(_distorted_supercell(), r, PDFSettings(**truth_sc, **common)))
    sigma = 0.02 * np.ones_like(r)  # counting noise of S(Q) maps to r-independent noise in G(r)
    gobs = g + np.random.default_rng(3).normal(0.0, sigma)
    pat = Pattern(x=r, y=gobs, sigma=sigma, unit="r_A", sigma_source="file", metadata={"source": "synthetic"})
    inputs = [PhaseInput(_rocksalt_drs(), prefix="rs"), PhaseInput(_distorted_supercell(), fixed=True, prefix="sc")]
    fm = build_model(pat, inputs, PDFFitSettings(qmax=25.0, qdamp=0.04))
    assert set(fm.phases[1].table.classes) == {"Na", "V", "O"}  # fixed phase: one Uiso per species
    assert "sc_lattice_scale" in fm.params and "rs_a" in fm.params
    start = {"rs_a": 4.642 * 1.01, "sc_lattice_scale": 1.005, "rs_delta2": 1.0, "sc_delta2": 2.0,
             "rs_uiso_Na": 0.009, "rs_uiso_V": 0.009, "rs_uiso_O": 0.009, "sc_uiso_Na": 0.009, "sc_uiso_V": 0.009,
             "sc_uiso_O": 0.009, "rs_scale": 0.5}
    for name, value in start.items():
        fm.params[name].set(value=value)
    # Na and V share the 4a site of the disordered phase: one ADP for the site, as usual (separate ones swap
    # into an equally good minimum, correlation -0.98)
    fm.params["rs_uiso_V"].set(expr="rs_uiso_Na")
    res = run_fit(Objective.single(fm.dataset()), fm.params, kind="pdf")
    assert res.converged
    expect = {"rs_a": 4.642 * 1.004, "sc_lattice_scale": 0.997, "rs_delta2": 2.0, "sc_delta2": 3.0,
              "rs_scale": 0.7, "dscale": 1.0, **{f"rs_uiso_{k}": v for k, v in truth_rs["uiso"].items()},
              **{f"sc_uiso_{k}": v for k, v in truth_sc["uiso"].items()}}
    del expect["rs_uiso_V"]
    for name, value in expect.items():
        assert abs(res.value(name) - value) < 3 * res.esd(name), (name, res.value(name), value, res.esd(name))
    assert res.statistics.chi2_red == pytest.approx(1.0, abs=0.15)  # noise level recovered: model is complete


def test_difference_pdf_recovers_change():
    ni = PDFStructure(lattice=(3.52,) * 3 + (90.0,) * 3, xyz=[(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)],
                      elements=("Ni",) * 4, occupancy=np.ones(4), u=np.full(4, 0.006))
    s = PDFSettings(qmax=26.0, qdamp=0.03, delta2=2.0)
    ra = np.arange(1.5, 12.0, 0.01)
    rb = np.arange(1.4, 12.5, 0.02)  # another grid: B is interpolated onto A's
    ga = direct_gr(ni, ra, s)
    gb = direct_gr(ni, rb, s.replace(lattice_scale=1.003, uiso={"Ni": 0.0075}))
    rng = np.random.default_rng(11)
    sa, sb = np.full_like(ra, 0.005), np.full_like(rb, 0.005)
    pa = Pattern(x=ra, y=ga + rng.normal(0, sa), sigma=sa, unit="r_A", sigma_source="file")
    pb = Pattern(x=rb, y=gb + rng.normal(0, sb), sigma=sb, unit="r_A", sigma_source="file")
    delta = difference_pattern(pa, pb)
    assert delta.sigma_source == "propagated"
    np.testing.assert_allclose(delta.sigma, np.hypot(0.005, 0.005), rtol=1e-12)
    phase_a = Phase.from_structure("a", ni, 12.0, qmax=26.0)
    phase_b = Phase.from_structure("b", ni, 12.0, qmax=26.0)
    params = make_parameters([phase_a, phase_b], qdamp=0.03)
    for p in ("a", "b"):
        params[f"{p}_delta2"].set(value=2.0)
    for name in ("a_scale", "a_a", "a_uiso_Ni", "b_scale"):
        params[name].set(vary=False)  # state A known (a previous fit); only B's changes refine
    params["b_a"].set(value=3.52)
    params["b_uiso_Ni"].set(value=0.006)
    exp = PDFFitSettings(qmax=26.0).experiment
    ds = difference_dataset("delta", delta, lambda p: calc_model(p, [phase_a], delta.x, exp),
                            lambda p: calc_model(p, [phase_b], delta.x, exp))
    res = run_fit(Objective.single(ds), params, kind="pdf")
    assert abs(res.value("b_a") - 3.52 * 1.003) < 3 * res.esd("b_a")
    assert abs(res.value("b_uiso_Ni") - 0.0075) < 3 * res.esd("b_uiso_Ni")
    assert res.esd("b_a") < 5e-4  # the difference curve does constrain the change


def test_bad_inputs():
    with pytest.raises(InputError, match="qmax"):
        PDFFitSettings(qmax=0.0)
    with pytest.raises(InputError, match="sharpening"):
        PDFFitSettings(qmax=20.0, sharpening="delta3")
    pat = Pattern(x=np.arange(10.0), y=np.zeros(10), sigma=np.ones(10), unit="q_A^-1")
    with pytest.raises(InputError, match="r in Å"):
        build_model(pat, [PhaseInput(_rocksalt_drs())], PDFFitSettings(qmax=20.0))
    with pytest.raises(InputError, match="phase"):
        build_model(pat, [], PDFFitSettings(qmax=20.0))


def test_model_jacobian_matches_finite_differences_through_constraints():
    """PDFFitModel.jacobian (analytic, chained through rs_uiso_V = rs_uiso_Na and sc_scale = 1 - rs_scale) against
    central differences of the model; and a fit with it reaches the finite-difference fit's minimum."""
    r = np.round(np.arange(150, 701) * 0.01, 10)
    g = direct_gr(_rocksalt_drs(), r, PDFSettings(scale=0.7, qmax=25.0, qdamp=0.04, delta2=2.0))
    g += direct_gr(_distorted_supercell(), r, PDFSettings(scale=0.3, qmax=25.0, qdamp=0.04, delta2=3.0))
    pat = Pattern(x=r, y=g + np.random.default_rng(4).normal(0, 0.02, len(r)), sigma=np.full(len(r), 0.02),
                  unit="r_A", sigma_source="file", metadata={"source": "synthetic"})
    inputs = [PhaseInput(_rocksalt_drs(), prefix="rs"), PhaseInput(_distorted_supercell(), fixed=True, prefix="sc")]
    fm = build_model(pat, inputs, PDFFitSettings(qmax=25.0, qdamp=0.04, spdiameter=80.0))
    fm.params["rs_uiso_V"].set(expr="rs_uiso_Na")
    fm.params["qdamp"].set(vary=True)
    p0 = fm.params
    p0.update_constraints()
    varying = [n for n, p in p0.items() if p.vary]
    jac = fm.jacobian(p0)
    assert jac.shape == (len(r), len(varying))
    for j, name in enumerate(varying):
        h = 1e-7 * max(abs(p0[name].value), 1e-2)
        plus, minus = p0.copy(), p0.copy()
        plus[name].set(value=p0[name].value + h)
        minus[name].set(value=p0[name].value - h)
        plus.update_constraints()
        minus.update_constraints()
        fd = (fm.model(plus) - fm.model(minus)) / (plus[name].value - minus[name].value)
        # windows are not frozen here: a 5-sigma edge crossing costs up to ~1e-5 of max|dG|
        assert np.max(np.abs(jac[:, j] - fd)) < 2e-5 * np.max(np.abs(fd)), name
    analytic = run_fit(Objective.single(fm.dataset()), fm.params, kind="pdf")
    numeric = run_fit(Objective.single(replace(fm.dataset(), jacobian=None)), fm.params, kind="pdf")
    assert analytic.converged and numeric.converged
    assert analytic.nfev < numeric.nfev  # no finite-difference evaluations
    assert analytic.statistics.chi2 == pytest.approx(numeric.statistics.chi2, rel=1e-6)
    for name in varying:
        assert abs(analytic.value(name) - numeric.value(name)) < 0.01 * numeric.esd(name), name
        # the 2-point Jacobian (step ~1.5e-8 relative) carries ~1e-3 relative errors into the covariance
        assert analytic.esd(name) == pytest.approx(numeric.esd(name), rel=1e-2), name


def _pdffit2_ni_qdamp_refinement(stru: str, data: str, qmax: float, rmin: float, rmax: float) -> dict:
    """PDFfit2's own refinement of a, Uiso, delta2, data scale and Qdamp (values, Rw and the esd of a)."""
    import os
    import sys

    pdffit2 = pytest.importorskip("diffpy.pdffit2")
    with open(os.devnull, "w") as sink:
        pdffit2.redirect_stdout(sink)
        pf = pdffit2.PdfFit()
        pf.read_struct(stru)
        pf.read_data(data, "X", qmax, 0.03)
        pf.pdfrange(1, rmin, rmax)
        for i in (1, 2, 3):
            pf.constrain(pf.lat(i), "@1")
        for atom in range(1, pf.num_atoms() + 1):
            for u in (pf.u11, pf.u22, pf.u33):
                pf.constrain(u(atom), "@2")
        pf.constrain(pf.delta2(), "@3")
        pf.constrain(pf.dscale(), "@4")
        pf.constrain(pf.qdamp(), "@5")
        for i, start in enumerate((3.52, 0.005, 2.0, 1.0, 0.03), start=1):
            pf.setpar(i, start)
        pf.refine()
        out = {name: pf.getpar(i) for i, name in enumerate(("a", "uiso", "delta2", "dscale", "qdamp"), start=1)}
        out["Rw"] = pf.getrw()
        dcell = next(line for line in pf.save_struct_string(1).splitlines() if line.startswith("dcell"))
        out["a_esd"] = float(dcell.split()[1].rstrip(","))
        pf.reset()
        pdffit2.redirect_stdout(sys.stdout)
    return out


def test_refined_qdamp_matches_pdffit2_on_ni_xray():
    """Instrument calibration on a standard: Qdamp refined with a, Uiso, delta2 and the scale on the PDFgui tutorial's
    Ni x-ray G(r) gives PDFfit2's refinement of the same model on the same data (values within 0.05 esd, Rw to 1e-4
    relative, esd of a as PDFfit2's to 2 %; PDFfit2 gives a 3.53158, Qdamp 0.0630, as the GSAS-II PDFfit-I tutorial)."""
    folder = shared_path("pdf_fits", "pdfgui_Ni_xray_neutron", "Ni-xray.gr").parent
    ref = _pdffit2_ni_qdamp_refinement(str(folder / "Ni.stru"), str(folder / "Ni-xray.gr"), 28.0, 1.5, 20.0)
    pattern = read_pattern(folder / "Ni-xray.gr")
    settings = PDFFitSettings(qmax=28.0, qdamp=0.03, rmin=1.5, rmax=20.0, sharpening="delta2", refine_qdamp=True)
    result = fit_pdf(pattern, [PhaseInput.load(folder / "Ni.stru", prefix="ni")], settings)
    assert result.converged
    names = {"a": "ni_a", "uiso": "ni_uiso_Ni", "delta2": "ni_delta2", "dscale": "ni_scale", "qdamp": "qdamp"}
    for key, name in names.items():
        esd = _esd_pdfgui(result, name)
        assert abs(result.value(name) - ref[key]) < 0.05 * esd, (name, result.value(name), ref[key], esd)
    assert _esd_pdfgui(result, "ni_a") == pytest.approx(ref["a_esd"], rel=0.02)
    assert result.statistics.Rw == pytest.approx(ref["Rw"], rel=1e-4)


def test_refined_qdamp_qbroad_recovered_from_synthetic_data():
    """Qdamp and Qbroad refined from a zero start (moved to 0.04 / 0.01) come back to their truth within 3 esd."""
    ni = PDFStructure(lattice=(3.524,) * 3 + (90.0,) * 3, xyz=[(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)],
                      elements=("Ni",) * 4, occupancy=np.ones(4), u=np.full(4, 0.0055))
    r = np.round(np.arange(150, 3001) * 0.01, 10)
    truth = PDFSettings(qmax=26.0, qdamp=0.055, qbroad=0.02, delta2=2.2)
    sigma = np.full(r.size, 0.01)
    g = direct_gr(ni, r, truth) + np.random.default_rng(11).normal(0.0, sigma)
    pat = Pattern(x=r, y=g, sigma=sigma, unit="r_A", sigma_source="file", metadata={"source": "synthetic"})
    settings = PDFFitSettings(qmax=26.0, sharpening="delta2", refine_qdamp=True, refine_qbroad=True)
    result = fit_pdf(pat, [PhaseInput(ni, prefix="ni")], settings)
    assert result.converged
    for name, value in (("qdamp", 0.055), ("qbroad", 0.02), ("ni_delta2", 2.2), ("ni_a", 3.524)):
        assert abs(result.value(name) - value) < 3 * result.esd(name), (name, result.value(name), result.esd(name))


def test_both_phase_kinds_implement_the_phase_protocol():
    import inspect

    from refine.pdf.crystal import CrystalPhase
    from refine.pdf.model import PDFPhase

    wanted = {n for n, v in vars(PDFPhase).items()
              if not n.startswith("_") and (callable(v) or isinstance(v, property))}
    assert {"gr", "derivatives", "entry", "reference_structure", "analytic"} <= wanted
    for kind in (Phase, CrystalPhase):
        missing = {n for n in wanted if not hasattr(kind, n)}
        assert not missing, f"{kind.__name__} lacks {missing}"
        for name in wanted - {"analytic"}:
            assert list(inspect.signature(getattr(kind, name)).parameters) == \
                list(inspect.signature(getattr(PDFPhase, name)).parameters), (kind.__name__, name)


def test_fit_pdf_starts_from_given_params_without_a_start_scan():
    r = np.arange(1.5, 12.0 + 1e-9, 0.02)
    truth = dict(scale=1.0, lattice_scale=1.05, delta2=2.0, uiso={"Na": 0.01, "V": 0.01, "O": 0.008})
    g = direct_gr(_rocksalt_drs(), r, PDFSettings(**truth, qmax=25.0, qdamp=0.04, radiation="xray"))
    pat = Pattern(x=r, y=g, sigma=0.01 * np.ones_like(r), unit="r_A", sigma_source="file")
    inputs = [PhaseInput(_rocksalt_drs(), prefix="rs")]
    settings = PDFFitSettings(qmax=25.0, qdamp=0.04)
    scanned = fit_pdf(pat, inputs, settings)  # a = 4.642 is 5 % short: the start scan moves it
    assert any("a scan of" in w for w in scanned.warnings)
    assert scanned.value("rs_a") == pytest.approx(4.642 * 1.05, rel=1e-6)
    # From the converged values: no scan, no note, the same minimum; the phase scale starts where it was given.
    again = fit_pdf(pat, inputs, settings, params=scanned.params)
    assert not any("a scan of" in w for w in again.warnings)
    assert again.value("rs_a") == pytest.approx(scanned.value("rs_a"), rel=1e-8)
    assert again.statistics.Rw == pytest.approx(scanned.statistics.Rw, rel=1e-6, abs=1e-9)
    assert again.nfev < scanned.nfev
