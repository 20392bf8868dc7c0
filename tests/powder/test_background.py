"""Background bases against independent evaluations (numpy's chebval, direct formulas)."""

import numpy as np
import pytest
from numpy.polynomial import chebyshev as npcheb

from refine.errors import InputError, UnknownNameError
from refine.powder.background import Background


def test_chebyshev_matches_numpy_chebval():
    x = np.linspace(5, 45, 301)
    c = np.array([100.0, -20.0, 7.0, 3.0, -1.0])
    y = Background("chebyshev", nterms=5).evaluate(x, c)
    xs = (x - 5) / 20 - 1
    np.testing.assert_allclose(y, npcheb.chebval(xs, c), rtol=1e-12)
    # T_2(x') = 2x'^2 - 1 written out
    np.testing.assert_allclose(Background("chebyshev", nterms=3).basis(x)[:, 2], 2 * xs**2 - 1, atol=1e-12)


def test_shifted_equals_chebyshev_space_and_power_is_monomials():
    x = np.linspace(1, 2, 50)
    a = Background("shifted_chebyshev", nterms=4).basis(x)
    b = Background("chebyshev", nterms=4).basis(x)
    np.testing.assert_allclose(a, b, atol=1e-12)
    p = Background("power", nterms=3).basis(x)
    xs = 2 * (x - 1) - 1
    np.testing.assert_allclose(p, np.column_stack([np.ones_like(xs), xs, xs**2]), atol=1e-12)


def test_fixed_points_pass_through_heights():
    knots = (10.0, 20.0, 35.0, 50.0)
    heights = np.array([5.0, 3.0, 4.0, 2.0])
    for kind in ("spline", "linear_interpolation"):
        bg = Background(kind, knots=knots)
        np.testing.assert_allclose(bg.evaluate(np.array(knots), heights), heights, atol=1e-12)
    lin = Background("linear_interpolation", knots=knots).evaluate([15.0], heights)
    assert lin[0] == pytest.approx(4.0)


def test_linear_solve_recovers_coefficients():
    x = np.linspace(3, 30, 500)
    bg = Background("chebyshev", nterms=6, domain=(3, 30))
    truth = np.array([50, -10, 4, 2, -1, 0.5])
    coef, *_ = np.linalg.lstsq(bg.basis(x), bg.evaluate(x, truth), rcond=None)
    np.testing.assert_allclose(coef, truth, rtol=1e-9)
    assert bg.names("drs_")[:2] == ["drs_bkg_0", "drs_bkg_1"]


def test_bad_backgrounds():
    with pytest.raises(UnknownNameError):
        Background("fourier")
    with pytest.raises(InputError):
        Background("spline", knots=(3.0,))
    with pytest.raises(InputError):
        Background("chebyshev", nterms=3).evaluate([1.0, 2.0], [1.0])
