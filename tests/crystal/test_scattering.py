"""Form factors against xraydb, anomalous terms against Chantler/International Tables, neutron lengths."""

from __future__ import annotations

import numpy as np
import periodictable
import pytest
import xraydb

from refine.crystal.scattering import (
    HC_EV_ANGSTROM,
    ScatteringTable,
    anomalous,
    energy_ev,
    form_factor,
    neutron_length,
    parse_species,
    xray_species,
)
from refine.errors import InputError

STOL = np.linspace(0.0, 2.0, 81)  # sinθ/λ up to 2 Å⁻¹ (xraydb's q argument)


@pytest.mark.parametrize("species", ["O", "O2-", "Na", "Na1+", "V", "V3+", "V5+", "Ni", "Ni2+", "P", "Pb2+", "Cl1-"])
def test_form_factor_equals_xraydb(species: str) -> None:
    # xraydb.f0(ion, q) takes q = sinθ/λ (its docstring); the acceptance is 1e-6 electrons.
    np.testing.assert_allclose(form_factor(species, STOL), xraydb.f0(species, STOL), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("given", "expected"), [
    ("V3+", ("V", 3)), ("V+3", ("V", 3)), ("O2-", ("O", -2)), ("O-2", ("O", -2)), ("Na+", ("Na", 1)),
    ("Na1+", ("Na", 1)), ("Si0+", ("Si", 0)), ("fe", ("Fe", 0)), ("Cl-", ("Cl", -1)),
])
def test_parse_species(given: str, expected: tuple[str, int]) -> None:
    assert parse_species(given) == expected


def test_cif_charge_spellings_give_xraydb_ion() -> None:
    np.testing.assert_allclose(form_factor("V+3", STOL), xraydb.f0("V3+", STOL), atol=1e-6)
    np.testing.assert_allclose(form_factor("Na+", STOL), xraydb.f0("Na1+", STOL), atol=1e-6)
    # ions=False: the neutral atom even when the ion is tabulated.
    np.testing.assert_allclose(form_factor("O2-", STOL, ions=False), xraydb.f0("O", STOL), atol=1e-6)


@pytest.mark.parametrize("species", ["O", "O2-", "Na1+", "V3+", "V5+", "Ti4+", "Cl1-", "Ni", "Pb2+"])
def test_forward_scattering_counts_electrons(species: str) -> None:
    # f0(0) = Z - charge; the Waasmaier-Kirfel fits reproduce it to ~0.01 e (their stated fit accuracy at s=0).
    element, charge = parse_species(species)
    z = periodictable.elements.symbol(element).number
    assert form_factor(species, 0.0) == pytest.approx(z - charge, abs=0.02)


def test_untabulated_ion_falls_back_to_atom_and_is_recorded() -> None:
    assert xray_species("P5+") == "P"
    table = ScatteringTable.build(["P5+", "O2-"], wavelength=1.5406, dispersion=False)
    assert table.used == ("P", "O2-")
    assert table.substitutions == (("P5+", "P"),)


def test_chantler_f1_is_f_prime_not_total() -> None:
    # Far above every edge f′ -> 0 (a total f1 would be ~Z = 28 for Ni).
    f1_high, _ = anomalous("Ni", HC_EV_ANGSTROM / 100e3)
    assert abs(f1_high) < 0.1
    # Ni at Cu Kα1 (just below the Ni K edge, 8333 eV): the Cromer-Liberman values of International Tables
    # vol. C (Table 4.2.6.8) are f′ ≈ -3.00, f″ ≈ 0.51; Chantler's differ from them by a few 0.01 e.
    f1, f2 = anomalous("Ni", 1.540562)
    assert f1 == pytest.approx(-3.0029, abs=0.1)
    assert f2 == pytest.approx(0.5091, abs=0.05)
    assert f1 == pytest.approx(xraydb.f1_chantler("Ni", energy_ev(1.540562)), abs=1e-12)


def test_table_evaluate_matches_pieces() -> None:
    wl = 0.7093  # Mo Kα1
    table = ScatteringTable.build(["Na1+", "V3+", "O2-"], wavelength=wl)
    stol = np.array([0.0, 0.1, 0.37, 1.2])
    out = table.evaluate(stol)
    assert out.shape == (4, 3)
    for col, sp in enumerate(["Na1+", "V3+", "O2-"]):
        f1, f2 = anomalous(sp, wl)
        np.testing.assert_allclose(out[:, col], xraydb.f0(sp, stol) + f1 + 1j * f2, atol=1e-6)
    assert table.index("V+3") == 1


@pytest.mark.parametrize("element", ["Ni", "Na", "V", "O"])
def test_neutron_lengths_equal_periodictable(element: str) -> None:
    b = neutron_length(element)
    assert b.real == periodictable.elements.symbol(element).neutron.b_c
    table = ScatteringTable.build([element + "+" if element == "Na" else element], radiation="neutron")
    np.testing.assert_array_equal(table.evaluate([0.0, 0.5, 1.0]), np.full((3, 1), b))


def test_neutron_vanadium_is_nearly_invisible() -> None:
    # V's b_c = -0.38 to -0.44 fm (Sears 1992): why V sites are refined from X-ray data.
    assert -0.5 < neutron_length("V").real < -0.3


@pytest.mark.parametrize("bad", ["Xx", "Q2+", "", "O2-3", "12"])
def test_unknown_element_is_input_error(bad: str) -> None:
    with pytest.raises(InputError):
        ScatteringTable.build([bad], wavelength=1.54)


def test_xray_dispersion_needs_wavelength_and_bad_radiation() -> None:
    with pytest.raises(InputError, match="wavelength"):
        ScatteringTable.build(["O"])
    with pytest.raises(InputError, match="radiation"):
        ScatteringTable.build(["O"], radiation="electron")
    with pytest.raises(InputError, match="wavelength"):
        energy_ev(0.0)


def test_deuterium_scatters_xrays_as_hydrogen_and_neutrons_as_deuterium() -> None:
    np.testing.assert_allclose(form_factor("D", STOL), xraydb.f0("H", STOL), atol=1e-6)
    assert neutron_length("D").real == periodictable.elements.symbol("D").neutron.b_c
    assert neutron_length("D").real > 6 > 0 > neutron_length("H").real  # 6.67 vs -3.74 fm
