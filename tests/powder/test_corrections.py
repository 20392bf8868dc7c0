"""Intensity corrections against textbook formulas and independent numerical integrations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from refine.crystal.lattice import Lattice
from refine.crystal.reflections import generate_reflections
from refine.crystal.spacegroup import space_group
from refine.errors import InputError
from refine.instrument import Instrument, monochromator_polarization
from refine.powder.corrections import (
    HarmonicTexture,
    cylinder_absorption,
    flat_plate_transmission,
    instrument_lorentz_polarization,
    line_members,
    lorentz,
    lorentz_polarization,
    march_dollase,
    march_dollase_function,
    sample_absorption,
    surface_roughness,
)

TTH = np.linspace(5.0, 170.0, 34)


def test_unpolarized_lp_is_the_textbook_formula() -> None:
    th = np.radians(TTH / 2)
    textbook = (1 + np.cos(2 * th) ** 2) / (np.sin(th) ** 2 * np.cos(th))  # e.g. Klug & Alexander, pymatgen
    np.testing.assert_allclose(2 * lorentz_polarization(TTH, polarization=0.5), textbook, rtol=1e-12)


def test_monochromator_lp_is_azaroff() -> None:
    # Azaroff (1955): LP ∝ (1 + cos²2θm cos²2θ) / ((1 + cos²2θm) sin²θ cosθ), graphite 002 at Cu Kα: 2θm = 26.6°.
    tth_m = 26.6
    cm2 = np.cos(np.radians(tth_m)) ** 2
    th = np.radians(TTH / 2)
    azaroff = (1 + cm2 * np.cos(2 * th) ** 2) / ((1 + cm2) * np.sin(th) ** 2 * np.cos(th))
    lp = lorentz_polarization(TTH, polarization=monochromator_polarization(tth_m))
    np.testing.assert_allclose(lp, azaroff, rtol=1e-12)


def test_polarization_skipped_for_neutrons_and_corrected_data() -> None:
    np.testing.assert_array_equal(lorentz_polarization(TTH, radiation="neutron"), lorentz(TTH))
    np.testing.assert_array_equal(lorentz_polarization(TTH, polarization=0.99, polarization_applied=True),
                                  lorentz(TTH))
    synch = Instrument.synchrotron(0.2)
    # A vertical scattering plane with a horizontally polarized beam: (almost) no 2θ dependence.
    np.testing.assert_allclose(instrument_lorentz_polarization(synch, TTH) / lorentz(TTH),
                               0.99 + 0.01 * np.cos(np.radians(TTH)) ** 2, rtol=1e-12)
    np.testing.assert_array_equal(
        instrument_lorentz_polarization(synch, TTH, corrections=frozenset({"polarization", "dark"})), lorentz(TTH))
    with pytest.raises(InputError):
        lorentz(np.array([0.0, 10.0]))


def _cylinder_numeric(two_theta: float, mu_r: float) -> float:
    """Mean of exp(-μ(l_in + l_out)) over a unit disk (beam along +x), Gauss-Legendre in r, midpoint in φ."""
    xr, wr = np.polynomial.legendre.leggauss(120)
    r, wr = (xr + 1) / 2, wr / 2
    phi = (np.arange(480) + 0.5) * 2 * np.pi / 480
    rr, pp = np.meshgrid(r, phi)
    x, y = rr * np.cos(pp), rr * np.sin(pp)
    l_in = x + np.sqrt(1 - y * y)
    ux, uy = np.cos(np.radians(two_theta)), np.sin(np.radians(two_theta))
    pu = x * ux + y * uy
    l_out = -pu + np.sqrt(pu * pu - rr * rr + 1)
    integrand = np.exp(-mu_r * (l_in + l_out)) * rr
    return float(np.sum(integrand * wr[None, :]) * (2 * np.pi / 480) / np.pi)


@pytest.mark.parametrize("mu_r", [0.1, 0.5, 1.0, 2.0, 3.0, 4.0, 8.0])
def test_cylinder_absorption_against_numerical_integration(mu_r: float) -> None:
    # The Lobanov-Alte da Veiga fit reproduces the exact cylinder integral to about 1 % (their stated accuracy);
    # measured worst here 1.3 % (μR = 3, 2θ = 170°).
    tths = np.array([5.0, 30.0, 60.0, 90.0, 120.0, 150.0, 170.0])
    exact = np.array([_cylinder_numeric(t, mu_r) for t in tths])
    np.testing.assert_allclose(cylinder_absorption(tths, mu_r), exact, rtol=0.015)


def test_cylinder_absorption_limits() -> None:
    np.testing.assert_allclose(cylinder_absorption(TTH, 0.0), 1.0)
    # Thin-sample limit: A ≈ 1 - (16/3π) μR for any angle (mean path 16R/3π, as the fit's first term).
    np.testing.assert_allclose(cylinder_absorption(TTH, 1e-4), 1 - 16 / (3 * np.pi) * 1e-4, rtol=1e-7)
    # Back-scattering suffers less absorption than forward scattering in a strongly absorbing capillary.
    a = cylinder_absorption(TTH, 2.0)
    assert np.all(np.diff(a) > 0)
    with pytest.raises(InputError):
        cylinder_absorption(TTH, -1.0)


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("mu_t", [0.05, 0.5, 2.0])
def test_flat_plate_against_depth_integration(symmetric: bool, mu_t: float) -> None:
    tths = np.array([2.0, 20.0, 45.0, 70.0, 85.0])
    got = flat_plate_transmission(tths, mu_t, symmetric=symmetric)
    for tth, value in zip(tths, got, strict=True):
        th = np.radians(tth / 2)
        cos_in, cos_out = (np.cos(th), np.cos(th)) if symmetric else (1.0, np.cos(2 * th))

        def path(z: float, cos_in: float = cos_in, cos_out: float = cos_out) -> float:
            # depth z (fraction of t) along the plate normal: in z/cos_in, out (1 - z)/cos_out
            return np.exp(-mu_t * (z / cos_in + (1 - z) / cos_out))

        exact = integrate.quad(path, 0.0, 1.0, epsabs=0, epsrel=1e-12)[0] / cos_in  # volume ∝ 1/cos_in
        assert value == pytest.approx(exact, rel=1e-9)


def test_flat_plate_limits_and_dispatch() -> None:
    np.testing.assert_allclose(flat_plate_transmission(TTH[TTH < 90], 0.0), 1.0)
    np.testing.assert_allclose(flat_plate_transmission([1e-3], 0.7), np.exp(-0.7), rtol=1e-6)
    with pytest.raises(InputError, match="90"):
        flat_plate_transmission([100.0], 0.5)
    np.testing.assert_array_equal(sample_absorption("bragg_brentano", TTH, 3.0), 1.0)
    np.testing.assert_array_equal(sample_absorption("debye_scherrer", TTH, 1.0), cylinder_absorption(TTH, 1.0))
    with pytest.raises(InputError):
        sample_absorption("reflection", TTH, 1.0)


def test_surface_roughness_suortti() -> None:
    sr = surface_roughness(TTH, 0.6, 0.3)
    assert surface_roughness([179.999], 0.6, 0.3)[0] == pytest.approx(1.0, abs=1e-9)
    assert np.all(np.diff(sr) > 0) and sr[0] < 0.7
    np.testing.assert_allclose(surface_roughness(TTH, 1.0, 0.3), 1.0)
    np.testing.assert_allclose(surface_roughness(TTH, 0.2, 0.0), 1.0)


@pytest.mark.parametrize("ratio", [0.5, 0.8, 1.0, 1.3, 2.5])
def test_march_dollase_is_normalised_over_the_sphere(ratio: float) -> None:
    # (1/4π) ∫ P dΩ = (1/2) ∫_{-1}^{1} P(cosα) dcosα = 1 for any r (Dollase 1986): no intensity created.
    total = integrate.quad(lambda c: march_dollase_function(c, ratio), -1, 1, epsabs=0, epsrel=1e-12)[0] / 2
    assert total == pytest.approx(1.0, rel=1e-9)


def test_march_dollase_line_average_cubic_and_identity() -> None:
    sg = space_group("Fm-3m")
    lat = Lattice(4.0, 4.0, 4.0)
    refl = generate_reflections(lat, sg, 0.9)
    np.testing.assert_allclose(march_dollase(refl, lat, sg, (0, 0, 1), 1.0), 1.0, rtol=1e-12)
    r = 0.7
    po = march_dollase(refl, lat, sg, (0, 0, 1), r)
    i200 = next(i for i, h in enumerate(refl.hkl) if sorted(abs(h)) == [0, 0, 2])
    # {200}: 2 members along the axis (cosα = ±1, P = r^-3), 4 perpendicular (P = r^1.5).
    assert po[i200] == pytest.approx((2 * r**-3 + 4 * r**1.5) / 6, rel=1e-12)
    i111 = next(i for i, h in enumerate(refl.hkl) if sorted(abs(h)) == [1, 1, 1])
    c2 = 1 / 3
    assert po[i111] == pytest.approx((r**2 * c2 + (1 - c2) / r) ** -1.5, rel=1e-12)
    assert len(line_members(refl.hkl[i111], sg)) == refl.multiplicity[i111] == 8


def test_march_dollase_hexagonal_basal_plates() -> None:
    # Platelets with c* normal: basal (00l) lines enhanced for r < 1, (hk0) lines reduced.
    sg = space_group("P6_3/mmc")
    lat = Lattice(3.2, 3.2, 5.2, 90, 90, 120)
    refl = generate_reflections(lat, sg, 1.2)
    po = march_dollase(refl, lat, sg, (0, 0, 1), 0.8)
    basal = (refl.h == 0) & (refl.k == 0)
    prism = refl.l == 0
    np.testing.assert_allclose(po[basal], 0.8**-3, rtol=1e-12)
    np.testing.assert_allclose(po[prism], 0.8**1.5, rtol=1e-12)
    with pytest.raises(InputError):
        march_dollase(refl, lat, sg, (0, 0, 0), 0.8)
    with pytest.raises(InputError):
        march_dollase_function(0.5, 0.0)


@pytest.mark.parametrize(("symbol", "lattice", "counts"), [
    # Number of symmetrised harmonics per even order l (Bunge 1982, Texture Analysis, table 14.1):
    ("Fm-3m", Lattice(4.0, 4.0, 4.0), {4: 1, 6: 1, 8: 1, 10: 1, 12: 2}),
    ("P6_3/mmc", Lattice(3.2, 3.2, 5.2, 90, 90, 120), {2: 1, 4: 1, 6: 2, 8: 2, 10: 2, 12: 3}),
    ("R-3c", Lattice(4.76, 4.76, 12.99, 90, 90, 120), {2: 1, 4: 2, 6: 3, 8: 3, 10: 4, 12: 5}),
    ("Pnma", Lattice(8.48, 5.40, 6.96), {2: 2, 4: 3, 6: 4, 8: 5, 10: 6, 12: 7}),
    ("P2_1/c", Lattice(5.0, 6.0, 7.0, 90, 100, 90), {2: 3, 4: 5, 6: 7, 8: 9, 10: 11, 12: 13}),
])
def test_harmonic_texture_invariant_counts_and_symmetry(symbol: str, lattice: Lattice, counts: dict) -> None:
    from collections import Counter

    sg = space_group(symbol)
    tex = HarmonicTexture.build(lattice, sg, 12)
    assert dict(Counter(tex.orders)) == counts
    # every member ±hR of a line has the same basis values (symmetry invariance)
    refl = generate_reflections(lattice, sg, 1.3)
    for h in refl.hkl[:12]:
        values = tex.basis(line_members(h, sg))
        np.testing.assert_allclose(values, np.broadcast_to(values[0], values.shape), atol=1e-8)


def test_harmonic_texture_is_normalised_over_the_sphere() -> None:
    # Gauss-Legendre in cosθ × uniform φ integrates these polynomials exactly: <K_k K_j> = δ_kj, <1 + c·K> = 1.
    tex = HarmonicTexture.build(Lattice(3.2, 3.2, 5.2, 90, 90, 120), space_group("P6_3/mmc"), 8)
    x, w = np.polynomial.legendre.leggauss(24)
    phi = np.arange(48) * 2 * np.pi / 48
    ct, pp = np.meshgrid(x, phi)
    st = np.sqrt(1 - ct**2)
    u = np.stack([st * np.cos(pp), st * np.sin(pp), ct], axis=-1).reshape(-1, 3)
    weights = np.broadcast_to(w, ct.shape).reshape(-1) / (2 * 48)
    k = tex.basis_at(u)
    np.testing.assert_allclose((k * weights[:, None]).T @ k, np.eye(len(tex.orders)), atol=1e-10)
    coeffs = np.linspace(-0.3, 0.4, len(tex.orders))
    assert np.sum(weights * (1 + k @ coeffs)) == pytest.approx(1.0, abs=1e-12)
    refl = generate_reflections(Lattice(3.2, 3.2, 5.2, 90, 90, 120), space_group("P6_3/mmc"), 1.2)
    np.testing.assert_allclose(tex.factor(refl, np.zeros(len(tex.orders))), 1.0)
    with pytest.raises(InputError):
        tex.factor(refl, [0.1])
