"""Parametric (surface) refinement of the synthetic NASICON series: a linear trend of a and c with scan index
recovers the true slopes within 3 esd, with smaller esds than the sequential fits give; the second phase, held at
constant volume, keeps V0 in every scan to 1e-9 relative."""

import numpy as np
import pytest

from refine.crystal.lattice import Lattice
from refine.data import Pattern
from refine.errors import InputError
from refine.io import read_pattern
from refine.io.structures import structure_from_cell
from refine.operando.parametric import ConstantVolume, ParametricSettings, Trend, fit_parametric
from refine.operando.sequential import Presence
from refine.powder.background import Background
from refine.powder.model import PowderOptions
from tests.operando import series_data as sd
from tests.operando.conftest import instrument, phases

OPTIONS = PowderOptions(background=Background("chebyshev", nterms=4))


@pytest.fixture(scope="module")
def parametric(sequential_run, series_paths):
    records = sequential_run[0].records
    start = [{k: v["value"] for k, v in r["parameters"].items()} for r in records]
    settings = ParametricSettings(powder=OPTIONS, trends=(Trend("nvp", "a"), Trend("nvp", "c")),
                                  constant_volume=(ConstantVolume("nvp2"),),
                                  presence=(Presence("nvp2", sd.SECOND_FROM),))
    patterns = [read_pattern(p) for p in series_paths]
    return fit_parametric(patterns, phases(), instrument(), settings, start=start), records


def _weighted_slope(t, y, esd):
    """Slope and its esd of a weighted straight line (what a user does with sequential results)."""
    w = 1.0 / np.asarray(esd) ** 2
    tm = np.sum(w * t) / np.sum(w)
    sxx = np.sum(w * (t - tm) ** 2)
    return float(np.sum(w * (t - tm) * (y - np.sum(w * y) / np.sum(w))) / sxx), float(1.0 / np.sqrt(sxx))


@pytest.mark.parametrize(("key", "true_slope"), [("a", -sd.A0 * sd.CHANGE / (sd.NSCANS - 1)),
                                                 ("c", sd.C0 * sd.CHANGE / (sd.NSCANS - 1))])
def test_linear_trend_slope_within_3_esd_and_tighter_than_sequential(parametric, key, true_slope):
    result, records = parametric
    assert result.converged
    slope, esd = result.coefficients[f"nvp_{key}_p1"]
    assert abs(slope - true_slope) < 3 * esd, (slope, esd, true_slope)
    t = np.array([r["index"] for r in records], dtype=float)
    y = np.array([r["phases"][0][key] for r in records])
    e = np.array([r["phases"][0]["esd"][key] for r in records])
    seq_slope, seq_esd = _weighted_slope(t, y, e)
    assert abs(seq_slope - true_slope) < 3 * seq_esd
    assert esd < seq_esd, (esd, seq_esd)
    for scan, rec in zip(result.scans, records, strict=True):  # every scan's cell: closer to the truth, tighter
        value = getattr(scan["phases"]["nvp"], key)
        true = sd.truth(scan["index"])[0 if key == "a" else 1]
        assert abs(value.value - true) < 3 * value.esd
        assert value.esd < rec["phases"][0]["esd"][key]


def test_constant_volume_holds_in_every_scan(parametric):
    result, _ = parametric
    v0, v0_esd = result.coefficients["nvp2_V0"]
    held = [s["phases"]["nvp2"] for s in result.scans if s["index"] >= sd.SECOND_FROM]
    assert len(held) == sd.NSCANS - sd.SECOND_FROM
    for ph in held:
        assert abs(ph.volume.value / v0 - 1.0) < 1e-9
        assert abs(ph.a.value - sd.A2) < 3 * ph.a.esd
    assert abs(v0 - Lattice(sd.A2, sd.A2, sd.C2, 90, 90, 120).volume) < 3 * v0_esd


def test_orthorhombic_constant_volume_expression():
    """The NaVPO4F Pna21 constraint c = V0/(a·b): a and b free per scan, c follows (no fit needed to check it)."""
    from refine.operando.parametric import _apply_constant_volume, _Builder

    phase = structure_from_cell("Pna21", [12.7547, 6.2716, 10.64, 90, 90, 90], name="nvpf")
    x = np.arange(10.0, 12.0, 0.01)
    pat = Pattern.from_arrays(x, np.ones_like(x) + 1.0, np.ones_like(x), wavelength=0.72)
    builder = _Builder([pat, pat], [phase], instrument(), ParametricSettings(
        constant_volume=(ConstantVolume("nvpf"),)))
    _apply_constant_volume(builder)
    params = builder.params
    params["s1_nvpf_a"].set(value=12.5)
    params["s1_nvpf_b"].set(value=6.4)
    params.update_constraints()
    for i in (0, 1):
        v = params[f"s{i}_nvpf_a"].value * params[f"s{i}_nvpf_b"].value * params[f"s{i}_nvpf_c"].value
        assert abs(v / params["nvpf_V0"].value - 1.0) < 1e-12
    assert params["s1_nvpf_c"].expr and not params["s1_nvpf_c"].vary



@pytest.mark.parametrize(("sg", "cell", "dependent", "moved"), [
    ("R-3c", [8.7, 8.7, 21.8, 90, 90, 120], "a", "c"),  # b = a by symmetry: a = sqrt(V0/(c·F))
    ("P4/mmm", [4.0, 4.0, 6.0, 90, 90, 90], "a", "c"),
    ("Fm-3m", [10.0, 10.0, 10.0, 90, 90, 90], "a", None),  # a = cbrt(V0)
])
def test_constant_volume_with_a_length_the_symmetry_ties(sg, cell, dependent, moved):
    """The dependent length may be one that other lengths equal by symmetry (hexagonal a = b): it is then the k-th
    root, not a cycle of expressions (lmfit recursed forever before)."""
    from refine.operando.parametric import _apply_constant_volume, _Builder

    phase = structure_from_cell(sg, cell, name="h")
    x = np.arange(10.0, 12.0, 0.01)
    pat = Pattern.from_arrays(x, np.ones_like(x) + 1.0, np.ones_like(x), wavelength=0.72)
    builder = _Builder([pat, pat], [phase], instrument(), ParametricSettings(
        constant_volume=(ConstantVolume("h", dependent),)))
    _apply_constant_volume(builder)
    params = builder.params
    if moved:
        params[f"s1_h_{moved}"].set(value=params[f"s1_h_{moved}"].value * 1.02)
    params.update_constraints()
    for i in (0, 1):
        cell_i = Lattice(*(params[f"s{i}_h_{n}"].value for n in ("a", "b", "c", "alpha", "beta", "gamma")))
        assert abs(cell_i.volume / params["h_V0"].value - 1.0) < 1e-12
    assert params["s1_h_a"].value == params["s1_h_b"].value
    if moved:
        assert abs(params["s1_h_a"].value / params["s0_h_a"].value - 1.02 ** -0.5) < 1e-12


def test_user_constraints_in_single_fit_names_apply_to_every_scan():
    """``constrain`` names a phase parameter as in a single fit (nvpf_c = V/(nvpf_a*nvpf_b)): it holds in every
    scan with that scan's parameters; a joint-fit name (s1_nvpf_b = s0_nvpf_b) ties across scans; a name of no
    scan is refused naming ``constrain``."""
    from refine.operando.parametric import _apply_user_constraints, _Builder

    phase = structure_from_cell("Pna21", [12.7547, 6.2716, 10.64, 90, 90, 90], name="nvpf")
    x = np.arange(10.0, 12.0, 0.01)
    pat = Pattern.from_arrays(x, np.ones_like(x) + 1.0, np.ones_like(x), wavelength=0.72)
    volume = 12.7547 * 6.2716 * 10.64
    constraints = (("nvpf_c", f"{volume!r}/(nvpf_a*nvpf_b)"), ("s1_nvpf_b", "s0_nvpf_b"))
    builder = _Builder([pat, pat], [phase], instrument(), ParametricSettings(
        powder=PowderOptions(constraints=constraints)))
    _apply_user_constraints(builder)
    params = builder.params
    params["s0_nvpf_b"].set(value=6.3)
    params["s1_nvpf_a"].set(value=12.6)
    params.update_constraints()
    assert params["s1_nvpf_b"].value == 6.3 and not params["s1_nvpf_b"].vary
    for i in (0, 1):
        v = params[f"s{i}_nvpf_a"].value * params[f"s{i}_nvpf_b"].value * params[f"s{i}_nvpf_c"].value
        assert abs(v / volume - 1.0) < 1e-12
    with pytest.raises(InputError, match="no parameter 'foo_c'") as info:
        _apply_user_constraints(_Builder([pat], [phase], instrument(), ParametricSettings(
            powder=PowderOptions(constraints=(("foo_c", "10"),)))))
    assert info.value.source == "constrain"

def test_bad_trend_and_constraint_are_input_errors():

    x = np.arange(10.0, 12.0, 0.01)
    pat = Pattern.from_arrays(x, np.ones_like(x) + 1.0, np.ones_like(x), wavelength=0.72)
    hexa = structure_from_cell("R-3c", [8.7, 8.7, 21.8, 90, 90, 120], name="h")
    mono = structure_from_cell("P2/m", [5.0, 6.0, 7.0, 90, 100, 90], name="m")
    with pytest.raises(InputError, match="b is not a free cell parameter"):
        fit_parametric([pat, pat], [hexa], instrument(), ParametricSettings(trends=(Trend("h", "b"),)))
    with pytest.raises(InputError, match="unknown variable 'capacity'"):
        fit_parametric([pat, pat], [hexa], instrument(),
                       ParametricSettings(trends=(Trend("h", "a", variable="capacity"),)))
    with pytest.raises(InputError, match=r"'capacity' is not a finite number .*: none in scan\(s\) 2 \(a scan out"):
        fit_parametric([pat, pat, pat], [hexa], instrument(), ParametricSettings(
            trends=(Trend("h", "a", variable="capacity"),)), variables={"capacity": [0.0, 0.1, float("nan")]})
    for settings, option in ((ParametricSettings(trends=(Trend("foo", "a"),)), "trend"),
                             (ParametricSettings(constant_volume=(ConstantVolume("foo"),)), "constant_volume")):
        with pytest.raises(InputError, match="no scan holds phase 'foo' [(]phases: h[)]") as info:
            fit_parametric([pat, pat], [hexa], instrument(), settings)
        assert info.value.source == option
    with pytest.raises(InputError, match="fixed angles"):
        fit_parametric([pat, pat], [mono], instrument(), ParametricSettings(constant_volume=(ConstantVolume("m"),)))


def test_a_phase_is_found_by_its_name_or_its_parameter_prefix():
    """The CSV columns use the parameter prefix (lower case): --trend, --constant-volume and --present accept it as
    well as the phase's name."""
    from refine.operando.parametric import _Builder
    from refine.operando.sequential import phases_for

    phase = structure_from_cell("Pna21", [12.7547, 6.2716, 10.64, 90, 90, 90], name="NVPF_Pna21")
    x = np.arange(10.0, 12.0, 0.01)
    pat = Pattern.from_arrays(x, np.ones_like(x) + 1.0, np.ones_like(x), wavelength=0.72)
    builder = _Builder([pat, pat], [phase], instrument(), ParametricSettings())
    assert builder.scans_with("nvpf_pna21", "trend") == builder.scans_with("NVPF_Pna21", "trend")
    assert [len(phases_for(i, [phase], (Presence("nvpf_pna21", 1),))) for i in (0, 1)] == [0, 1]
