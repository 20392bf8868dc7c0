"""Instrument and Profile: validation, constructors, polarization conventions (checked against pyFAI), serialization."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import xraydb
from hypothesis import given
from hypothesis import strategies as st

from refine.errors import InputError
from refine.instrument import (
    SCHEMA,
    Instrument,
    Profile,
    gsas_polarization,
    gsas_polarization_correction,
    monochromator_polarization,
    pyfai_polarization_factor,
)

HC_EV_A = 12398.419843320026  # h c in eV Å (CODATA 2018)


# --- profile ------------------------------------------------------------------------------------------------
def test_profile_widths_by_hand():
    p = Profile(U=0.0, V=0.0, W=100.0, X=3.0, Y=0.0, Z=0.0)
    # sigma^2 = W = 100 centideg^2 -> sigma = 0.1 deg -> FWHM = 0.1 * sqrt(8 ln 2) = 0.235482 deg at any angle
    assert np.allclose(p.gaussian_fwhm([10.0, 90.0, 150.0]), 0.2354820045, rtol=1e-9)
    # gamma = X / cos(theta): at 2theta = 120, cos 60 = 1/2 -> 6 centideg = 0.06 deg
    assert p.lorentzian_fwhm(120.0) == pytest.approx(0.06, rel=1e-12)
    q = Profile(U=4.0, V=0.0, W=0.0, Y=2.0)
    # 2theta = 90: tan 45 = 1 -> sigma^2 = U = 4 centideg^2; gamma = Y = 2 centideg
    assert q.gaussian_fwhm(90.0) == pytest.approx(0.02 * math.sqrt(8 * math.log(2)), rel=1e-12)
    assert q.lorentzian_fwhm(90.0) == pytest.approx(0.02, rel=1e-12)


def test_profile_rejects_bad_values():
    with pytest.raises(InputError, match="SH/L"):
        Profile(sh_l=-0.1)
    with pytest.raises(InputError, match="finite"):
        Profile(U=float("nan"))
    with pytest.raises(InputError, match="unknown profile"):
        Profile.from_dict({"Q": 1.0})


# --- polarization ---------------------------------------------------------------------------------------------
def test_gsas_polarization_unpolarized_is_thomson_factor():
    tth = np.linspace(1, 170, 50)
    for azm in (0.0, 37.0, 90.0):
        assert np.allclose(gsas_polarization_correction(0.5, tth, azm), (1 + np.cos(np.radians(tth)) ** 2) / 2,
                           rtol=1e-12)


def test_gsas_polarization_fully_polarized_limits():
    tth = np.linspace(1, 170, 50)
    # p = 1, psi = 0: E perpendicular to the scattering plane -> no 2theta dependence
    assert np.allclose(gsas_polarization_correction(1.0, tth, 0.0), 1.0)
    # p = 1, psi = 90: E in the scattering plane -> cos^2 2theta
    assert np.allclose(gsas_polarization_correction(1.0, tth, 90.0), np.cos(np.radians(tth)) ** 2)


def _pyfai_geometry():
    from pyFAI.detectors import Detector
    from pyFAI.geometry import Geometry

    det = Detector(pixel1=1e-3, pixel2=1e-3, max_shape=(160, 160))
    # poni at the centre of a 16 cm detector 5 cm away: 2theta up to ~66 deg, all chi
    return Geometry(dist=0.05, poni1=0.08, poni2=0.08, detector=det, wavelength=1e-10)


@pytest.mark.parametrize("polariz", [0.5, 0.7, 0.95, 0.99, 1.0, 0.25])
def test_pyfai_factor_gives_the_same_correction_as_gsas(polariz):
    geo = _pyfai_geometry()
    tth = np.degrees(geo.center_array(unit="2th_rad"))
    chi = np.degrees(geo.center_array(unit="chi_rad"))
    pyfai = np.asarray(geo.polarization(factor=pyfai_polarization_factor(polariz), path="numpy"), dtype=float)
    # GSAS-II's azimuth is measured from the plane of polarization: psi = chi - 90 (GSASIIimage uses azm-90)
    gsas = gsas_polarization_correction(polariz, tth, chi - 90.0)
    ratio = pyfai / gsas
    assert tth.max() > 60 and np.ptp(chi) > 300
    # same factor up to a constant; the constant is in fact 1 (pyFAI computes in float32: 1e-6)
    assert np.ptp(ratio) < 1e-6
    assert np.allclose(ratio, 1.0, atol=1e-6)
    assert gsas_polarization(pyfai_polarization_factor(polariz)) == pytest.approx(polariz, abs=1e-15)


def test_pyfai_disagrees_without_the_azimuth_offset():
    # the check above can fail: without the 90 deg offset a polarized beam gives a different correction
    geo = _pyfai_geometry()
    tth = np.degrees(geo.center_array(unit="2th_rad"))
    chi = np.degrees(geo.center_array(unit="chi_rad"))
    pyfai = np.asarray(geo.polarization(factor=pyfai_polarization_factor(0.99), path="numpy"), dtype=float)
    assert np.ptp(pyfai / gsas_polarization_correction(0.99, tth, chi)) > 0.1


def test_monochromator_polarization_matches_azaroff_factor():
    tth_m = 26.57  # graphite (002) for Cu Ka
    p = monochromator_polarization(tth_m)
    tth = np.linspace(5, 160, 40)
    k = math.cos(math.radians(tth_m)) ** 2
    azaroff = (1 + k * np.cos(np.radians(tth)) ** 2) / (1 + k)
    ratio = gsas_polarization_correction(p, tth, 0.0) / azaroff
    assert np.ptp(ratio) < 1e-12
    assert Instrument.lab("Cu", monochromator_angle=tth_m).polarization == pytest.approx(p, rel=1e-15)


# --- constructors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("anode", ["Cu", "Mo", "Co", "Cr", "Fe", "Ag"])
def test_lab_wavelengths_agree_with_xraydb(anode):
    ins = Instrument.lab(anode)
    lines = xraydb.xray_lines(anode, "K")
    # xraydb's Elam line energies are good to ~2 eV: 5e-4 relative on the wavelength
    assert ins.wavelength == pytest.approx(HC_EV_A / lines["Ka1"].energy, rel=5e-4)
    assert ins.wavelength2 == pytest.approx(HC_EV_A / lines["Ka2"].energy, rel=5e-4)
    assert ins.wavelength2 > ins.wavelength
    # I(Ka2)/I(Ka1): 0.5 by the 2p level weights; Elam's transition probabilities give 0.49-0.53
    assert ins.ka2_ratio == 0.5
    assert ins.ka2_ratio == pytest.approx(lines["Ka2"].intensity / lines["Ka1"].intensity, abs=0.04)
    assert ins.geometry == "bragg_brentano" and ins.polarization == 0.5 and ins.radiation == "xray"


def test_lab_cu_matches_gsas_file_values():
    # the GSAS INST_XRY.PRM files in ../shared use Cu 1.5405 / 1.5443 A (4-5 digits)
    ins = Instrument.lab("cu")
    assert ins.wavelength == pytest.approx(1.5405, abs=1e-4)
    assert ins.wavelength2 == pytest.approx(1.5443, abs=1e-4)
    mono = Instrument.lab("Cu", ka2=False)
    assert mono.wavelength2 is None and mono.ka2_ratio == 0.0 and not mono.is_doublet
    assert mono.lines == ((ins.wavelength, 1.0),)
    assert ins.lines == ((ins.wavelength, 1.0), (ins.wavelength2, 0.5))


def test_lab_unknown_anode():
    with pytest.raises(InputError, match="anode"):
        Instrument.lab("Xx")


def test_synchrotron_and_neutron():
    syn = Instrument.synchrotron(0.413259)
    assert syn.polarization == 0.99 and syn.pyfai_polarization_factor == pytest.approx(0.98)
    assert syn.geometry == "debye_scherrer" and syn.wavelength2 is None
    neu = Instrument.neutron(1.909)
    assert neu.pyfai_polarization_factor is None
    assert np.all(neu.polarization_correction([10.0, 90.0, 150.0]) == 1.0)


# --- validation -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("changes", "word"), [
    ({"radiation": "electron"}, "radiation"),
    ({"wavelength": -1.0}, "wavelength"),
    ({"wavelength": float("inf")}, "finite"),
    ({"wavelength": "abc"}, "number"),
    ({"ka2_ratio": 0.5}, "without wavelength2"),
    ({"polarization": 1.2}, "Polariz"),
    ({"geometry": "reflection"}, "geometry"),
    ({"monochromator_angle": 200.0}, "monochromator"),
    ({"profile": {"U": 1.0}}, "profile"),
])
def test_bad_values_raise_input_error(changes, word):
    fields = {"radiation": "xray", "wavelength": 1.0, **changes}
    with pytest.raises(InputError, match=word):
        Instrument(**fields)


def test_replace_and_equality():
    ins = Instrument.synchrotron(0.7, profile=Profile(U=1.0, V=-0.1, W=0.05))
    other = ins.replace(zero=0.01, profile={"W": 0.2})
    assert (other.zero, other.profile.W, other.profile.U) == (0.01, 0.2, 1.0)
    assert (ins.zero, ins.profile.W) == (0.0, 0.05)  # the original is unchanged
    assert ins.replace(source="elsewhere") == ins  # source and metadata are not physics
    with pytest.raises(InputError):
        ins.replace(wavelength=0.0)
    with pytest.raises(InputError):
        ins.replace(nonsense=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ins.zero = 1.0  # type: ignore[misc]


# --- serialization --------------------------------------------------------------------------------------------
finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
positive = st.floats(min_value=0.05, max_value=5.0)


@st.composite
def instruments(draw):
    doublet = draw(st.booleans())
    profile = Profile(U=draw(finite), V=draw(finite), W=draw(finite), X=draw(finite), Y=draw(finite),
                      Z=draw(finite), sh_l=draw(st.floats(0, 0.1)))
    return Instrument(
        radiation=draw(st.sampled_from(["xray", "neutron"])), wavelength=draw(positive),
        wavelength2=draw(positive) if doublet else None, ka2_ratio=draw(st.floats(0, 1)) if doublet else 0.0,
        polarization=draw(st.floats(0, 1)), azimuth=draw(st.floats(-360, 360)),
        geometry=draw(st.sampled_from(["debye_scherrer", "bragg_brentano", "transmission"])),
        zero=draw(st.floats(-1, 1)), monochromator_angle=draw(st.none() | st.floats(0, 90)), profile=profile)


@given(instruments())
def test_dict_round_trip_through_json(ins):
    data = json.loads(json.dumps(ins.to_dict()))
    assert data["schema"] == SCHEMA
    assert Instrument.from_dict(data) == ins


def test_from_dict_rejects_other_schemas():
    data = Instrument.synchrotron(0.5).to_dict()
    with pytest.raises(InputError, match="schema"):
        Instrument.from_dict({**data, "schema": "refine.instrument/99"})
    with pytest.raises(InputError, match="unknown"):
        Instrument.from_dict({**data, "colour": "red"})
    data.pop("wavelength")
    with pytest.raises(InputError, match="incomplete"):
        Instrument.from_dict(data)


@pytest.mark.parametrize("bad", [-0.72, 0.0, float("nan"), "x"])
def test_synchrotron_names_a_bad_wavelength(bad):
    """A bare wavelength (--wavelength, wavelength=) is the field at fault, not the instrument."""
    with pytest.raises(InputError) as info:
        Instrument.synchrotron(bad)
    assert info.value.source == "wavelength"
