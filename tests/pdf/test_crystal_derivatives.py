"""Analytic Jacobian of crystalline PDF phases (cell, free coordinates, ADPs, sharpening, damping, envelope, scales)
against central finite differences of the model, column by column: ‖ΔJ‖/‖J‖ ≤ 1e-5."""

from __future__ import annotations

import numpy as np
import pytest

from refine.data import Pattern
from refine.io.patterns import read_pattern
from refine.pdf import calculate, crystal, kernels
from refine.pdf.crystal_derivatives import direct_derivatives, structure_tangents
from refine.pdf.fitting import PDFFitSettings, PhaseInput, build_model
from tests.conftest import data_file, shared_path

TOLERANCE = 1e-5  # per column, ‖analytic - central difference‖ / ‖central difference‖
SERIES = ("sequential", "pdfgui_LaMnO3_temperature_series_neutron_PDF")


class _FrozenWindows:
    """Record every peak window of one model evaluation, then replay them: PDFfit2's 5-sigma truncation makes G jump
    by ~4e-6 of a peak when a window edge passes a grid point, which no derivative sees and which would swamp a
    finite difference over tens of thousands of pairs."""

    def __init__(self) -> None:
        self.recorded: list = []
        self.replay: int | None = None

    def __call__(self, n, r0, dr, d, sigma):
        if self.replay is None:
            self.recorded.append(kernels.windows.__wrapped__(n, r0, dr, d, sigma))
            return self.recorded[-1]
        out = self.recorded[self.replay]
        assert len(out[0]) == len(d), "a pair entered or left the calculation range"
        self.replay += 1
        return out


@pytest.fixture
def frozen(monkeypatch):
    """Every G(r) by the numpy reference kernel, its windows recorded or replayed."""
    windows = _FrozenWindows()
    windows_fn = kernels.windows
    monkeypatch.setattr(windows, "__wrapped__", windows_fn, raising=False)
    monkeypatch.setattr(kernels, "windows", windows)
    direct = calculate.direct_gr
    monkeypatch.setattr(crystal, "direct_gr", lambda *a, **kw: direct(*a, **{**kw, "backend": "numpy"}))
    return windows


def _central_differences(fm, params, names, windows) -> np.ndarray:
    cols = []
    for name in names:
        v = params[name].value
        h = 1e-6 * max(abs(v), 0.1)
        windows.recorded.clear()
        windows.replay = None
        fm.model(params)  # the windows at the central point
        out = []
        for x in (v + h, v - h):
            params[name].value = x
            params.update_constraints()
            windows.replay = 0
            out.append(fm.model(params))
        params[name].value = v
        params.update_constraints()
        cols.append((out[0] - out[1]) / (2 * h))
    windows.replay = None
    return np.array(cols).T


def _check(fm, params, frozen) -> list[str]:
    varying = [n for n, p in params.items() if p.vary]
    jac = fm.jacobian(params)
    fd = _central_differences(fm, params, varying, frozen)
    for k, name in enumerate(varying):
        err = np.linalg.norm(jac[:, k] - fd[:, k]) / np.linalg.norm(fd[:, k])
        assert err <= TOLERANCE, (name, err)
    return varying


def _vary_everything(params, prefix: str, rng) -> None:
    """Switch on the closed-form terms and move the coordinates off their file values (no accidental zeros)."""
    params[f"{prefix}_delta1"].set(value=0.3, vary=True)
    params[f"{prefix}_delta2"].set(value=1.5, vary=True)
    params[f"{prefix}_spdiameter"].set(value=60.0, vary=True)
    params["qdamp"].set(value=0.04, vary=True)
    params["qbroad"].set(value=0.01, vary=True)
    for name, par in params.items():
        if par.vary and name.endswith(("_x", "_y", "_z")):
            par.set(value=par.value + rng.normal(0.0, 0.003))


def test_lamno3_pbnm_every_parameter(frozen):
    """LaMnO3 Pbnm (20 atoms, isotropic U) on the 300 K neutron grid: scale, a b c, 7 coordinates, 4 Uiso, delta1,
    delta2, spdiameter, qdamp, qbroad."""
    folder = shared_path(*SERIES)
    settings = PDFFitSettings(qmax=32.0, radiation="neutron", rmin=1.5, rmax=12.0)
    fm = build_model(read_pattern(folder / "300K.gr"),
                     [PhaseInput.load(folder / "LaMnO3.stru", prefix="p", refine_structure=True)], settings)
    _vary_everything(fm.params, "p", np.random.default_rng(1))
    varying = _check(fm, fm.params, frozen)
    assert {"p_a", "p_b", "p_c", "p_O5_z", "p_Mn1_uiso", "p_delta2", "qdamp"} <= set(varying)


def test_anisotropic_hexagonal_cell_through_constraints(frozen):
    """Wurtzite CdSe, P6₃mc: b = a and the site-symmetry U_ij (u22 = u11, u12 = u11/2) by constraints (chained),
    anisotropic U (u33 ≠ u11: the pair direction's change enters the projected msd), a polar axis; x-ray
    weights."""
    r = np.round(np.arange(150, 1201) * 0.01, 10)
    pattern = Pattern.from_arrays(r, np.zeros_like(r), unit="r_A")
    settings = PDFFitSettings(qmax=22.0, radiation="xray", rmin=1.5, rmax=12.0)
    fm = build_model(pattern, [PhaseInput.load(data_file("CdSe_wurtzite.stru"), prefix="c", refine_structure=True)],
                     settings)
    params = fm.params
    rng = np.random.default_rng(2)
    _vary_everything(params, "c", rng)
    for name, par in params.items():
        if name.endswith(("_u11", "_u33")):
            par.set(value=par.value * (1.0 + 0.3 * rng.random()) + 0.002, vary=True)
    varying = _check(fm, params, frozen)
    assert {"c_a", "c_c"} <= set(varying) and params["c_b"].expr
    assert {"c_Cd1_u11", "c_Cd1_u33", "c_Se1_z"} <= set(varying) and params["c_Cd1_u12"].expr
    assert not fm.phases[0].pdf_structure(params).isotropic.all()


def test_same_curve_as_direct_gr():
    """The value pass of the derivative sum is direct_gr's G(r)."""
    structure = crystal.CrystalPhase.load(data_file("CdSe_wurtzite.stru"), "c")
    params = structure.parameters()
    s = calculate.PDFSettings(scale=0.7, delta2=1.0, qdamp=0.03, qmax=20.0, spdiameter=50.0)
    r = np.round(np.arange(100, 1001) * 0.01, 10)
    values = params.valuesdict()
    tangents = structure_tangents(structure._structure_at, values, ["c_a", "c_Cd1_u11"])
    g, der = direct_derivatives(structure.pdf_structure(params), r, s, tangents, ["scale", "qdamp"])
    ref = calculate.direct_gr(structure.pdf_structure(params), r, s)
    assert np.max(np.abs(g - ref)) <= 1e-12 * np.max(np.abs(ref))
    assert set(der) == {"c_a", "c_Cd1_u11", "scale", "qdamp"}
