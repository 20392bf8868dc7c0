"""Analytic Jacobians of the powder model against central differences of the model itself (the oracle): every
column within ‖ΔJ‖/‖J‖ ≤ 1e-5, for every parameter kind, on PbSO4 (X-ray lab, Kα1/Kα2, FCJ asymmetry, Bragg–
Brentano), fluorapatite (hexagonal cell, March–Dollase and spherical-harmonics texture) and NASICON (R-3c, mixed
site with occupancy/coordinate expressions, a nonlinear user constraint, Debye–Scherrer absorption and offsets)."""

import dataclasses

import lmfit
import numpy as np
import pytest

from refine.crystal.structure import Site
from refine.data import Pattern
from refine.instrument import Instrument, Profile
from refine.io import read_pattern
from refine.io.gsas_exp import read_exp_phases
from refine.io.instprm import read_instrument
from refine.io.structures import read_structure
from refine.powder.background import Background
from refine.powder.model import PowderModel, PowderOptions
from refine.powder.peakshape import fcj_kernels, fcj_kernels_derivatives
from refine.powder.rietveld import RietveldEngine, RietveldOptions, fit_rietveld
from refine.powder.rietveld_stages import mark_refined
from tests.conftest import data_file, shared_path

TOL = 1e-5
PBSO4 = ("powder_rietveld", "gsas2_PbSO4_CPD_xray_neutron")
FAP = ("powder_rietveld", "gsas2_fluorapatite_lab_CuKa")
#: Typical size of each kind of parameter, for the finite-difference step (1e-5 of it, or of the value).
STEP_SCALE = {"shift": 100.0, "transparency": 100.0, "displace_x": 100.0, "displace_y": 100.0}


def _step(name: str, value: float) -> float:
    if name.rsplit("_", 1)[-1] in ("a", "b", "c"):  # lengths move every peak: a larger step shows the curvature
        return 1e-7 * abs(value)
    return 1e-5 * max(abs(value), STEP_SCALE.get(name, 0.1))


def _central_differences(engine: RietveldEngine, params: lmfit.Parameters, name: str) -> np.ndarray:
    work = params.copy()
    par = work[name]
    v0, h = par.value, _step(name, par.value)
    assert par.min < v0 - h and v0 + h < par.max, f"{name} too close to a bound for central differences"
    curves = []
    for v in (v0 + h, v0 - h):
        par.value = v
        work.update_constraints()
        curves.append(engine.model.full(engine.calculate(work)[0]))
    return (curves[0] - curves[1]) / (2.0 * h)


def _check(engine: RietveldEngine, params: lmfit.Parameters) -> dict[str, float]:
    """Relative column errors ‖J_analytic − J_numeric‖/‖J_numeric‖ of every varying parameter."""
    engine.freeze(params)
    jac = engine.jacobian(params)(params)
    varying = [n for n, p in params.items() if p.vary]
    assert jac.shape == (len(engine.model.pattern.x), len(varying))
    errors = {}
    for j, name in enumerate(varying):
        fd = _central_differences(engine, params, name)
        norm = np.linalg.norm(fd)
        assert norm > 0, f"{name} does not change the model: the check would be empty"
        errors[name] = float(np.linalg.norm(jac[:, j] - fd) / norm)
    return errors


def _assert_columns(errors: dict[str, float], expected: set[str]) -> None:
    missing = expected - set(errors)
    assert not missing, f"not varied: {sorted(missing)}"
    bad = {n: e for n, e in errors.items() if not e <= TOL}
    assert not bad, f"columns off by more than {TOL}: {bad}"


def _pbso4_engine(*, aniso: bool):
    folder = shared_path(*PBSO4)
    pattern = read_pattern(folder / "PBSO4.XRA")
    structure = read_structure(folder / "PbSO4-Wyckoff.cif")
    if aniso:  # Pb with a full tensor (the site symmetry of 4c leaves U11 U22 U33 U13)
        sites = [dataclasses.replace(s, uaniso=((0.012, 0.001, 0.002), (0.001, 0.015, 0.001), (0.002, 0.001, 0.011)))
                 if s.label == "Pb" else s for s in structure.sites]
        structure = structure.replace(sites=tuple(sites))
    instrument = read_instrument(folder / "INST_XRY.PRM")
    options = PowderOptions(fit_range=(16.0, 153.0), background=Background("chebyshev", nterms=6))
    return RietveldEngine(PowderModel(pattern, [structure], instrument, options=options))


def test_pbso4_instrument_profile_cell_structure_columns():
    engine = _pbso4_engine(aniso=False)
    groups = ("scale", "cell", "zero", "shift", "transparency", "size", "strain", "U", "V", "W", "X", "Y", "Z",
              "SH_L", "ka2_ratio", "positions", "uiso", "occupancy", "roughness")
    params = mark_refined(engine.parameters(), engine, groups)
    for name, value in (("shift", 5.0), ("transparency", 0.3), ("X", 1.0), ("Y", 2.0), ("Z", 0.5),
                        ("pbso4_LX", 0.4), ("pbso4_LY", 0.6), ("surf_p", 0.7), ("surf_q", 0.3)):
        params[name].set(value=value)
    assert params["SH_L"].value == pytest.approx(0.03)  # the file's asymmetry: FCJ kernels of up to 24 nodes
    engine.freeze(params)
    params = engine.initial_scales(params)
    errors = _check(engine, params)
    _assert_columns(errors, {"zero", "shift", "transparency", "U", "V", "W", "X", "Y", "Z", "SH_L", "ka2_ratio",
                             "pbso4_a", "pbso4_b", "pbso4_c", "pbso4_LX", "pbso4_LY", "pbso4_scale", "pbso4_Pb_x",
                             "pbso4_O3_y", "pbso4_S_uiso", "pbso4_O1_occ", "surf_p", "surf_q"})


def test_pbso4_anisotropic_adp_columns():
    engine = _pbso4_engine(aniso=True)
    params = mark_refined(engine.parameters(), engine, ("scale", "cell", "adp", "positions"))
    engine.freeze(params)
    errors = _check(engine, params)
    _assert_columns(errors, {"pbso4_Pb_u11", "pbso4_Pb_u22", "pbso4_Pb_u33", "pbso4_Pb_u13", "pbso4_a"})


def test_fluorapatite_hexagonal_cell_po_and_texture_columns():
    folder = shared_path(*FAP)
    pattern = read_pattern(folder / "FAP.XRA")
    structure = read_exp_phases(folder / "FAP.EXP")[0]
    instrument = read_instrument(folder / "INST_XRY.PRM")
    model = PowderModel(pattern, [structure], instrument,
                        options=PowderOptions(fit_range=(20.0, 120.0), background=Background("chebyshev", nterms=4)))
    engine = RietveldEngine(model, RietveldOptions(texture_order=4))
    ph = model.phases[0].prefix
    params = mark_refined(engine.parameters(), engine, ("scale", "cell", "zero", "W", "positions", "uiso", "po",
                                                        "texture"))
    params[f"{ph}_po_ratio"].set(value=0.85)
    tex = [n for n in params if n.startswith(f"{ph}_sh")]
    assert len(tex) >= 2
    for k, name in enumerate(tex):
        params[name].set(value=0.05 * (k + 1))
    errors = _check(engine, params)
    assert params[f"{ph}_b"].expr  # hexagonal: b follows a through an expression
    _assert_columns(errors, {f"{ph}_a", f"{ph}_c", f"{ph}_po_ratio", *tex, "zero", "W"})


def _nasicon_engine() -> tuple[RietveldEngine, lmfit.Parameters]:
    s = read_structure(data_file("Na3V2PO43_NASICON.cif"))
    sites = []
    for site in s.sites:
        if site.element == "V":  # a mixed site: shared coordinates, last occupancy = total − the others
            sites += [Site(label=f"{el}1", element=el, xyz=site.xyz, occupancy=0.5) for el in ("V", "Cr")]
        else:
            sites.append(site)
    structure = s.replace(name="nvp", sites=tuple(sites))
    x = np.arange(8.0, 40.0, 0.005)
    instrument = Instrument.synchrotron(0.72, profile=Profile(U=1.0, V=-0.3, W=0.5, X=0.5, Y=1.0, sh_l=0.004))
    options = PowderOptions(background=Background("chebyshev", nterms=4), constraints=(("nvp_c", "nvp_a**2/3.47"),))
    blank = Pattern(x=x, y=np.ones_like(x), sigma=np.ones_like(x))
    engine = RietveldEngine(PowderModel(blank, [structure], instrument, options=options))
    params = engine.parameters()
    engine.freeze(params)
    y = engine.calculate(params)[1] * 1e-3 + 200.0 + 30.0 * np.sin(x / 5.0)
    pattern = Pattern(x=x, y=y, sigma=np.sqrt(y))
    engine = RietveldEngine(PowderModel(pattern, [structure], instrument, options=options))
    return engine, engine.parameters()


def test_nasicon_mixed_site_constraints_absorption_and_offsets():
    engine, params = _nasicon_engine()
    params = mark_refined(params, engine, ("scale", "cell", "zero", "displace_x", "displace_y", "absorption", "U",
                                           "W", "X", "Y", "SH_L", "positions", "uiso", "occupancy"))
    assert params["nvp_c"].expr and not params["nvp_c"].vary  # the user constraint (nonlinear in nvp_a)
    assert params["nvp_Cr1_occ"].expr and params["nvp_Cr1_z"].expr  # the mixed site
    for name, value in (("displace_x", 20.0), ("displace_y", -10.0), ("absorption", 0.8)):
        params[name].set(value=value)
    params.update_constraints()
    errors = _check(engine, params)
    _assert_columns(errors, {"nvp_a", "zero", "displace_x", "displace_y", "absorption", "SH_L", "nvp_V1_occ",
                             "nvp_V1_z", "nvp_Na1_uiso", "nvp_scale"})


def _fcj_weights(tth, sh_l: float, nodes: int) -> np.ndarray:
    """The FCJ weights written out for complex arguments (the complex-step oracle of their derivatives)."""
    t2 = tth * (np.pi / 180.0)
    c = np.cos(t2)
    span = t2 - np.arccos(c * np.sqrt(sh_l * sh_l + 1.0))
    u, w = np.polynomial.legendre.leggauss(nodes)
    u, w = 0.5 * (u + 1.0), 0.5 * w
    cphi = np.cos(t2 - span * u * u)
    d = np.sqrt(cphi * cphi / (c * c) - 1.0)
    raw = (sh_l - d) / (d * cphi) * 2.0 * span * u * w
    return raw / raw.sum()


@pytest.mark.parametrize("nodes", [2, 8, 24])
def test_fcj_kernel_derivatives_agree_with_the_kernel(nodes):
    tth = np.array([12.0, 35.0, 70.0, 150.0])
    off, w, doff_t, doff_h, dw_t, dw_h = fcj_kernels_derivatives(tth, 0.03, nodes)
    ref_off, ref_w = fcj_kernels(tth, 0.03, nodes)
    assert np.array_equal(off, ref_off) and np.array_equal(w, ref_w)
    for h, d_off, args in ((1e-4, doff_t, lambda s: (tth + s, 0.03)), (1e-6, doff_h, lambda s: (tth, 0.03 + s))):
        num_off = (fcj_kernels(*args(h), nodes)[0] - fcj_kernels(*args(-h), nodes)[0]) / (2 * h)
        assert np.linalg.norm(d_off - num_off) <= 1e-6 * np.linalg.norm(num_off)
    # Weights: complex steps (central differences of the weights drown in rounding). Above 90° the kernel is the
    # mirror image, so ∂w/∂2θ changes sign.
    eps = 1e-30
    for i, t in enumerate(tth):
        sign, folded = (-1.0, 180.0 - t) if t > 90 else (1.0, t)
        ref_t = sign * _fcj_weights(folded + 1j * eps, 0.03, nodes).imag / eps
        ref_h = _fcj_weights(folded, 0.03 + 1j * eps, nodes).imag / eps
        # ∂w/∂2θ is a small difference of large terms (D² = cos²2φ/cos²2θ − 1): 1e-3 of itself
        assert np.linalg.norm(dw_t[i] - ref_t) <= 1e-3 * np.linalg.norm(ref_t)
        assert np.linalg.norm(dw_h[i] - ref_h) <= 1e-5 * np.linalg.norm(ref_h)


def test_analytic_and_numeric_fits_agree_on_pbso4():
    folder = shared_path(*PBSO4)
    pattern = read_pattern(folder / "PBSO4.XRA")
    structure = read_structure(folder / "PbSO4-Wyckoff.cif")
    instrument = read_instrument(folder / "INST_XRY.PRM")
    options = PowderOptions(fit_range=(16.0, 153.0), background=Background("chebyshev", nterms=6))
    refine = ("scale", "cell", "shift", "size", "strain", "U", "V", "W")
    results = [fit_rietveld(pattern, [structure], instrument, refine=refine, options=options,
                            rietveld=RietveldOptions(analytic=analytic)) for analytic in (True, False)]
    analytic, numeric = results
    assert analytic.statistics.Rwp == pytest.approx(numeric.statistics.Rwp, abs=1e-4)
    for k in "abc":
        assert analytic.value(f"pbso4_{k}") == pytest.approx(numeric.value(f"pbso4_{k}"), abs=1e-5)
        assert analytic.esd(f"pbso4_{k}") == pytest.approx(numeric.esd(f"pbso4_{k}"), rel=0.05)


@pytest.mark.parametrize("nodes", [2, 8, 24])
def test_compiled_fcj_derivatives_equal_the_numpy_definition(nodes):
    from refine.powder import _peak_jit
    from refine.powder.peakshape import _gauss_legendre01

    tth = np.array([5.0, 12.0, 35.0, 70.0, 89.9, 90.0, 110.0, 150.0, 175.0])
    u, w = _gauss_legendre01(nodes)
    out = np.empty((6, tth.size, nodes))
    _peak_jit.fcj_derivatives(tth, 0.03, u, w, out)
    for compiled, reference in zip(out, fcj_kernels_derivatives(tth, 0.03, nodes), strict=True):
        assert np.allclose(compiled, reference, rtol=1e-12, atol=1e-12 * np.abs(reference).max())


def test_lebail_columns_with_held_intensities():
    from refine.powder.lebail import _LeBailState
    from refine.powder.wholepattern import set_vary

    engine, _ = _nasicon_engine()
    model = engine.model
    state = _LeBailState(model)
    params = set_vary(model.parameters(), model, ("cell", "zero", "U", "V", "W", "X", "Y", "SH_L", "size",
                                                   "displacement"))
    params["displace_x"].set(value=15.0)
    params.update_constraints()
    state.freeze(params)
    state.partition(params, 3)
    jac = state.jacobian(params)(params)
    varying = [n for n, p in params.items() if p.vary]
    assert {"nvp_a", "zero", "SH_L", "nvp_LX", "displace_x"} <= set(varying)
    for j, name in enumerate(varying):
        work = params.copy()
        v0, h = work[name].value, _step(name, work[name].value)
        curves = []
        for v in (v0 + h, v0 - h):
            work[name].value = v
            work.update_constraints()
            curves.append(model.full(state.calculate(work)[0]))
        fd = (curves[0] - curves[1]) / (2 * h)
        assert np.linalg.norm(fd) > 0
        assert np.linalg.norm(jac[:, j] - fd) <= TOL * np.linalg.norm(fd), name
