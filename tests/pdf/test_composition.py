"""Composition strings (PDFgetX3 forms) and the X-ray form-factor averages of the PDF normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from refine.errors import InputError
from refine.pdf.composition import atomic_fractions, format_composition, parse_composition
from refine.pdf.formfactors import form_factor_averages, xray_form_factor


@pytest.mark.parametrize(("text", "expected"), [
    ("Ni", {"Ni": 1}),
    ("Na3V2O5", {"Na": 3, "V": 2, "O": 5}),
    ("PbTi0.5Zr0.5O3", {"Pb": 1, "Ti": 0.5, "Zr": 0.5, "O": 3}),
    ("Pb 1 Ti 1/2 Zr 1/2 O 3", {"Pb": 1, "Ti": 0.5, "Zr": 0.5, "O": 3}),
    ("CH3 (CH2)3 OH", {"C": 4, "H": 10, "O": 1}),
    ("CH3 CH3", {"C": 2, "H": 6}),
    ("Na3.2V1.5Cr0.1Mn0.1Fe0.1Al0.1Mg0.1(PO4)3",
     {"Na": 3.2, "V": 1.5, "Cr": 0.1, "Mn": 0.1, "Fe": 0.1, "Al": 0.1, "Mg": 0.1, "P": 3, "O": 12}),
])
def test_parse_composition(text, expected):
    parsed = parse_composition(text)
    assert list(parsed) == list(expected)  # order of first appearance
    for el, n in expected.items():
        assert parsed[el] == pytest.approx(n, rel=1e-12)


@pytest.mark.parametrize("text", ["", "   ", "Xx2", "na3", "3Na", "(Na", "Na)", "Na-2", "NaCl*2"])
def test_bad_composition_raises(text):
    with pytest.raises(InputError):
        parse_composition(text)


def test_fractions_and_format():
    fr = atomic_fractions("Na3V2O5")
    assert sum(fr.values()) == pytest.approx(1.0)
    assert fr["O"] == pytest.approx(0.5)
    assert format_composition(parse_composition("Na3V2O5")) == "Na3V2O5"
    assert format_composition(parse_composition("Na0.5 V 1/2 O")) == "Na0.5V0.5O"


def test_form_factor_argument_convention():
    """xraydb takes sin(θ)/λ = Q/4π: f(0) = Z for neutral atoms and the Cromer-Mann values agree (2 %)."""
    from periodictable.cromermann import fxrayatq

    assert xray_form_factor("Ni", np.array([0.0]))[0] == pytest.approx(28.0, abs=0.05)
    assert xray_form_factor("O", np.array([0.0]))[0] == pytest.approx(8.0, abs=0.05)
    q = np.linspace(0.5, 24.0, 40)  # Cromer-Mann fits hold to sin(θ)/λ = 2, Q = 25
    for el in ("Ni", "Na", "V", "O"):
        np.testing.assert_allclose(xray_form_factor(el, q), fxrayatq(el, q), rtol=0.02, atol=0.05)


def test_form_factor_averages():
    q = np.linspace(0.0, 25.0, 11)
    favg2, f2avg = form_factor_averages("Ni", q)
    fni = xray_form_factor("Ni", q)
    np.testing.assert_allclose(favg2, fni**2)
    np.testing.assert_allclose(f2avg, fni**2)
    favg2, f2avg = form_factor_averages("NaCl", q)
    fna, fcl = xray_form_factor("Na", q), xray_form_factor("Cl", q)
    np.testing.assert_allclose(favg2, (0.5 * fna + 0.5 * fcl) ** 2)
    np.testing.assert_allclose(f2avg, 0.5 * fna**2 + 0.5 * fcl**2)
    assert np.all(f2avg >= favg2)  # Laue: <f^2> - <f>^2 = variance >= 0
