"""TCH pseudo-Voigt, FCJ asymmetry and the sparse peak matrix against direct numerical references."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import voigt_profile

from refine.powder.peaks import WindowOptions, profile_matrix
from refine.powder.peakshape import (
    fcj_kernel,
    fcj_kernels,
    gaussian_variance,
    lorentzian_fwhm,
    microstrain_percent,
    pseudo_voigt,
    scherrer_size_nm,
    tch_fwhm_eta,
)


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
def test_pseudo_voigt_unit_area_and_fwhm(eta):
    area = 2 * sum(quad(lambda t: pseudo_voigt(t, 0.05, eta), a, b, limit=500)[0]
                   for a, b in ((0, 0.5), (0.5, np.inf)))
    assert area == pytest.approx(1.0, abs=1e-6)
    peak = pseudo_voigt(0.0, 0.05, eta)
    assert pseudo_voigt(0.025, 0.05, eta) == pytest.approx(peak / 2, rel=1e-12)


def test_tch_limits_and_voigt_width():
    # Pure Gauss / pure Lorentz limits.
    fw, eta = tch_fwhm_eta(sigma2=100.0, gamma=0.0)
    assert fw == pytest.approx(np.sqrt(8 * np.log(2) * 100) / 100) and eta == pytest.approx(0.0, abs=1e-12)
    fw, eta = tch_fwhm_eta(sigma2=1e-12, gamma=5.0)
    assert fw == pytest.approx(0.05, rel=1e-4) and eta == pytest.approx(1.0, abs=2e-4)
    # The TCH FWHM approximates the true Voigt FWHM to a few 0.1 % (TCH 1987; Ida et al. 2000): check against
    # scipy's exact Voigt; a wrong coefficient or unit (centideg vs deg, σ² vs σ) would be off by far more.
    sigma_deg, gamma_deg = 0.02, 0.03
    fw, _ = tch_fwhm_eta(sigma2=(sigma_deg * 100) ** 2, gamma=gamma_deg * 100)
    v = lambda t: voigt_profile(t, sigma_deg, gamma_deg / 2)  # noqa: E731
    half = v(0.0) / 2
    grid = np.linspace(0, 0.2, 200001)
    hwhm = grid[np.argmin(np.abs(v(grid) - half))]
    assert fw == pytest.approx(2 * hwhm, rel=5e-3)


def test_caglioti_and_lorentz_terms():
    tth = np.array([10.0, 60.0])
    t = np.tan(np.radians(tth / 2))
    np.testing.assert_allclose(gaussian_variance(tth, U=2.0, V=-1.0, W=3.0), 2 * t**2 - t + 3)
    c = np.cos(np.radians(tth / 2))
    np.testing.assert_allclose(lorentzian_fwhm(tth, X=1.5, Y=2.0), 1.5 / c + 2 * t)


def test_scherrer_and_strain():
    # X = 18000 K λ/(π p): a 30 nm crystallite at 1.5406 Å
    X = 18000 * 0.9 * 1.5406 / (np.pi * 300.0)
    assert scherrer_size_nm(X, 1.5406) == pytest.approx(30.0)
    assert scherrer_size_nm(0.0, 1.5406) is None
    assert microstrain_percent(18000 / np.pi) == pytest.approx(100.0)


def _fcj_monte_carlo(tth, sh_l):
    """Offsets of observed angles from a Monte-Carlo of the axial geometry, independent of the kernel formula.

    Sample height z_s and detector-slit height z_d uniform in ±H = ±S = ±L·SH/L/2; the Debye cone of 2θ reaches a
    point at height difference Δz = z_d − z_s at the equatorial angle 2φ with cos 2φ = cos 2θ·sqrt(1 + (Δz/L)²)
    (FCJ 1994, eq. 4). Lengths in units of L.
    """
    rng = np.random.default_rng(0)
    h = sh_l / 2
    zs = rng.uniform(-h, h, 400000)
    zd = rng.uniform(-h, h, 400000)
    c = np.cos(np.radians(tth)) * np.sqrt(1 + (zd - zs) ** 2)
    phi = np.degrees(np.arccos(np.clip(c, -1, 1)))
    return phi - tth


def test_fcj_kernel_matches_monte_carlo_geometry():
    """The kernel's mean shift and spread agree with a Monte-Carlo of the axial geometry (FCJ's model)."""
    tth, sh_l = 8.0, 0.02
    off, w = fcj_kernel(tth, sh_l, nodes=48)
    assert np.all(off <= 0) and w.sum() == pytest.approx(1.0)
    mc = _fcj_monte_carlo(tth, sh_l)
    assert np.sum(w * off) == pytest.approx(mc.mean(), rel=0.03)
    assert np.sqrt(np.sum(w * off**2)) == pytest.approx(np.sqrt(np.mean(mc**2)), rel=0.03)
    # Asymmetry vanishes at 90 deg and mirrors above it.
    off90, _ = fcj_kernel(90.0, sh_l)
    assert np.allclose(off90, 0.0)
    off_hi, _ = fcj_kernel(150.0, sh_l)
    assert np.all(off_hi >= 0)


def test_profile_matrix_areas_and_sparsity():
    x = np.arange(2.0, 40.0, 0.002)
    pos = np.array([5.0, 10.0, 10.02, 30.0])
    sig2 = gaussian_variance(pos, U=1.0, V=-0.5, W=0.8)
    gam = lorentzian_fwhm(pos, X=0.5, Y=0.3)
    fwhm, eta = tch_fwhm_eta(sig2, gam)
    P = profile_matrix(x, pos, fwhm, eta, sh_l=0.01, options=WindowOptions(cutoff=1e-4))
    areas = np.asarray(P.sum(axis=1)).ravel() * 0.002
    # Truncation at 1e-4 of the maximum loses < 1 % of a Lorentzian-rich peak's area.
    np.testing.assert_allclose(areas, 1.0, atol=0.01)
    assert P.nnz < 0.2 * P.shape[0] * P.shape[1]
    # Same matrix entries as a dense direct evaluation (no asymmetry) inside the windows.
    P0 = profile_matrix(x, pos, fwhm, eta).toarray()
    dense = pseudo_voigt(x[None, :] - pos[:, None], fwhm[:, None], eta[:, None])
    inside = P0 != 0
    np.testing.assert_allclose(P0[inside], dense[inside], rtol=1e-12)
    assert np.all(dense[~inside] < 1.01e-3 * dense.max(axis=1, keepdims=True).repeat(x.size, 1)[~inside])


def test_vectorised_fcj_equals_scalar_kernel():
    tth = np.array([3.0, 20.0, 60.0, 120.0])
    off, w = fcj_kernels(tth, 0.02, 16)
    for i, t in enumerate(tth):
        o1, w1 = fcj_kernel(t, 0.02, nodes=16)
        np.testing.assert_allclose(off[i], o1, atol=1e-12)
        np.testing.assert_allclose(w[i], w1, atol=1e-12)


def test_profile_matrix_asymmetric_matches_dense_convolution():
    """Sparse FCJ peaks equal a dense convolution of the pseudo-Voigt with a finely sampled kernel."""
    x = np.arange(4.0, 6.0, 0.0005)
    pos, fwhm, eta = np.array([5.0]), np.array([0.03]), np.array([0.4])
    P = profile_matrix(x, pos, fwhm, eta, sh_l=0.03, options=WindowOptions(cutoff=1e-5, fcj_nodes=64)).toarray()[0]
    off, w = fcj_kernel(5.0, 0.03, nodes=400)
    dense = np.sum(w[:, None] * pseudo_voigt(x[None, :] - 5.0 - off[:, None], 0.03, 0.4), axis=0)
    assert np.max(np.abs(P - dense)) < 2e-3 * dense.max()
