"""The compiled peak-matrix fill equals the plain numpy definition (``profile_matrix_reference``, the oracle) to
1e-12 relative, entry by entry and in its sparsity pattern, on layouts covering every branch: no asymmetry, FCJ
with several node counts, narrow low-angle synchrotron peaks, back-reflection (mirrored FCJ), a layout frozen with
FCJ nodes evaluated at SH/L = 0, Kα1/Kα2 rows with overlapping and disjoint windows, empty windows and unreachable
reflections."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refine.data import Pattern
from refine.instrument import Instrument, Profile
from refine.io.structures import structure_from_cell
from refine.powder.kernels import csr_structure
from refine.powder.model import PowderModel, PowderOptions
from refine.powder.peaks import RowMap, WindowOptions, peak_layout, profile_matrix, profile_matrix_reference
from refine.powder.peakshape import gaussian_variance, lorentzian_fwhm, tch_fwhm_eta

RTOL = 1e-12  # rounding only: the two paths evaluate the same formulas in a different order


def _widths(pos, U=1.0, V=-0.3, W=0.5, X=0.5, Y=1.0):
    return tch_fwhm_eta(gaussian_variance(pos, U=U, V=V, W=W), lorentzian_fwhm(np.minimum(pos, 179.0), X=X, Y=Y))


def _assert_same(fast, ref):
    ref = ref.tocsr()
    ref.sort_indices()
    assert fast.shape == ref.shape
    np.testing.assert_array_equal(fast.indptr, ref.indptr)
    np.testing.assert_array_equal(fast.indices, ref.indices)
    np.testing.assert_allclose(fast.data, ref.data, rtol=RTOL, atol=0.0)
    assert fast.nnz > 0 and np.all(np.isfinite(fast.data))


def _both(x, pos, fwhm, eta, **kw):
    return profile_matrix(x, pos, fwhm, eta, **kw), profile_matrix_reference(x, pos, fwhm, eta, **kw)


@pytest.mark.parametrize("sh_l", [0.0, 0.002, 0.02, 0.08])
def test_equals_reference_with_and_without_fcj(sh_l):
    x = np.arange(2.0, 160.0, 0.01)
    # Low angle (wide FCJ kernels, many nodes), middle, and above 90° (mirrored asymmetry); one point on 90°.
    pos = np.array([3.0, 4.1, 7.5, 25.0, 60.0, 90.0, 118.0, 150.0])
    fwhm, eta = _widths(pos)
    layout = peak_layout(x, pos, fwhm, eta, sh_l=sh_l, margin=1.5)
    if sh_l > 0:
        assert len(np.unique(layout.nodes)) >= 2  # several node counts are exercised
    _assert_same(*_both(x, pos, fwhm, eta, sh_l=sh_l, layout=layout))
    # Without a layout each path builds its own (the same one).
    _assert_same(*_both(x, pos, fwhm, eta, sh_l=sh_l))


@pytest.mark.parametrize("sh_l", [0.0002, 0.001, 0.002])
def test_synchrotron_low_angle_narrow_peaks(sh_l):
    """11-BM-like: 23 000 points of 0.001° from 1° to 24°, FWHM 0.005–0.012°, small SH/L. The FCJ span is here a
    difference of two nearly equal angles, so its rounding is amplified ~10⁴ times: the fast path must use the same
    FCJ nodes as the reference (FCJ nodes computed with libm's cos/arccos instead of numpy's were off by 1–3e-12)."""
    x = np.arange(1.0, 24.0, 0.001)
    pos = np.linspace(1.5, 23.5, 300)
    fwhm, eta = 0.005 + 0.0003 * pos, np.full(pos.size, 0.65)
    layout = peak_layout(x, pos, fwhm, eta, sh_l=sh_l, margin=2.0, min_nodes=2)
    _assert_same(*_both(x, pos, fwhm, eta, sh_l=sh_l, layout=layout))


@pytest.mark.parametrize("eta_value", [-0.2, 0.0, 1e-9, 1e-3, 0.5, 1.0 - 1e-9, 1.0, 1.3])
def test_far_tails_at_every_lorentzian_fraction(eta_value):
    """Windows to 1e-9 of the maximum: the fast path skips the Gaussian term where it is below 2⁻⁵³ of the
    Lorentzian one; every point, out to the far tails, must still match the oracle (also for η outside [0, 1],
    which TCH never gives but the function accepts)."""
    x = np.arange(5.0, 60.0, 0.002)
    pos = np.array([6.0, 20.0, 33.3, 58.0])
    fwhm, eta = np.array([0.01, 0.05, 0.2, 0.03]), np.full(4, eta_value)
    options = WindowOptions(cutoff=1e-9, max_fwhm=400.0)
    layout = peak_layout(x, pos, fwhm, eta, sh_l=0.004, options=options, margin=3.0)
    _assert_same(*_both(x, pos, fwhm, eta, sh_l=0.004, options=options, layout=layout))


def test_threads_give_the_same_values(monkeypatch):
    """The threaded fill (rows in blocks) equals the one-thread fill bit for bit, and the oracle to 1e-12."""
    import refine.powder.kernels as kernels

    x = np.arange(1.0, 24.0, 0.002)
    pos = np.linspace(1.5, 23.5, 200)
    fwhm, eta = 0.008 + 0.0003 * pos, np.full(pos.size, 0.5)
    rows = RowMap(row=np.tile(np.arange(100), 2), weight=np.r_[np.ones(100), np.full(100, 0.5)], nrows=100)
    layout = peak_layout(x, pos, fwhm, eta, sh_l=0.002, margin=2.0, min_nodes=2)
    monkeypatch.setattr(kernels, "PARALLEL_WORK", 0)
    one = profile_matrix(x, pos, fwhm, eta, sh_l=0.002, rows=rows, layout=layout)
    threads = profile_matrix(x, pos, fwhm, eta, sh_l=0.002, rows=rows, layout=layout,
                             options=WindowOptions(parallel=True))
    np.testing.assert_array_equal(threads.data, one.data)
    _assert_same(threads, profile_matrix_reference(x, pos, fwhm, eta, sh_l=0.002, rows=rows, layout=layout))


def test_frozen_fcj_layout_at_zero_asymmetry_and_moved_peaks():
    """A layout frozen with FCJ nodes, then evaluated at SH/L = 0 (equal-weight fallback) and with the peaks
    moved and broadened inside their windows (as during a fit)."""
    x = np.arange(2.0, 40.0, 0.004)
    pos = np.array([3.2, 5.0, 12.0, 30.0])
    fwhm, eta = _widths(pos)
    layout = peak_layout(x, pos, fwhm, eta, sh_l=0.03, margin=2.0, min_nodes=2)
    assert np.all(layout.nodes >= 2)
    _assert_same(*_both(x, pos, fwhm, eta, sh_l=0.0, layout=layout))
    moved, (f2, e2) = pos + 0.3 * fwhm, _widths(pos, W=2.0, X=1.5)
    _assert_same(*_both(x, moved, f2, e2, sh_l=0.035, layout=layout))


def test_doublet_rows_empty_windows_and_unreachable_reflections():
    x = np.arange(5.0, 50.0, 0.005)
    refl = np.array([6.0, 20.0, 20.05, 45.0, 49.99, 60.0])  # 60° lies beyond the grid: empty window
    ka2 = refl + np.array([0.016, 0.06, 0.06, 0.15, 0.17, 0.2])  # overlapping windows; 49.99+0.17 leaves x
    far = 1e9  # unreachable by the second line: empty window, zero weight (as PowderModel does)
    ka2[0] = far
    pos = np.concatenate([refl, ka2])
    fwhm, eta = _widths(np.minimum(pos, 179.0))
    weight = np.concatenate([np.ones(6), np.where(ka2 < far, 0.5, 0.0)])
    rows = RowMap(row=np.tile(np.arange(6), 2), weight=weight, nrows=7)  # row 6: no peak at all
    for sh_l in (0.0, 0.01):
        layout = peak_layout(x, pos, fwhm, eta, sh_l=sh_l, margin=2.0)
        assert layout.i0[5] == layout.i1[5] == x.size and layout.i0[6] == layout.i1[6]
        fast, ref = _both(x, pos, fwhm, eta, sh_l=sh_l, rows=rows, layout=layout)
        _assert_same(fast, ref)
        assert fast.indptr[5] == fast.indptr[7]  # rows 5 and 6 are empty
    # Disjoint Kα1/Kα2 windows in one row: the row's columns are two separate runs.
    narrow = WindowOptions(cutoff=0.1)
    layout = peak_layout(x, pos, fwhm, eta, options=narrow)
    fast, ref = _both(x, pos, fwhm, eta, rows=rows, layout=layout, options=narrow)
    _assert_same(fast, ref)
    cols = fast.indices[fast.indptr[3]:fast.indptr[4]]
    assert np.any(np.diff(cols) > 1)


def test_no_peaks_and_bad_layouts():
    x = np.linspace(1.0, 2.0, 11)
    empty = profile_matrix(x, np.array([]), np.array([]), np.array([]), rows=RowMap(np.array([], int),
                                                                                     np.array([]), 3))
    assert empty.shape == (3, 11) and empty.nnz == 0
    pos, fwhm, eta = np.array([1.5]), np.array([0.1]), np.array([0.5])
    layout = peak_layout(np.linspace(1.0, 2.0, 101), pos, fwhm, eta)
    with pytest.raises(ValueError, match="beyond"):
        profile_matrix(x, pos, fwhm, eta, layout=layout)  # layout from a longer grid
    with pytest.raises(ValueError, match="rows"):
        csr_structure(np.array([0]), np.array([2]), np.array([3]), 3, 11)


def test_cached_pattern_survives_in_place_changes():
    x = np.arange(1.0, 10.0, 0.01)
    pos = np.array([2.0, 5.0, 8.0])
    fwhm, eta = _widths(pos)
    layout = peak_layout(x, pos, fwhm, eta, sh_l=0.01)
    first = profile_matrix(x, pos, fwhm, eta, sh_l=0.01, layout=layout)
    first.data[first.data < 0.5 * first.data.max()] = 0.0
    first.eliminate_zeros()  # modifies indices/indptr in place
    _assert_same(profile_matrix(x, pos, fwhm, eta, sh_l=0.01, layout=layout),
                 profile_matrix_reference(x, pos, fwhm, eta, sh_l=0.01, layout=layout))


@settings(max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), sh_l=st.sampled_from([0.0, 0.004, 0.05]),
       doublet=st.booleans())
def test_random_layouts(seed, sh_l, doublet):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(1.0, 170.0, 3000))  # uneven steps
    n = int(rng.integers(1, 30))
    pos = rng.uniform(-5.0, 180.0, n)
    fwhm = rng.uniform(0.02, 2.0, n)
    eta = rng.uniform(0.0, 1.0, n)
    rows = None
    if doublet:
        pos, fwhm, eta = np.r_[pos, pos + 0.3], np.r_[fwhm, fwhm], np.r_[eta, eta]
        rows = RowMap(row=np.tile(rng.permutation(n), 2), weight=np.r_[np.ones(n), np.full(n, 0.5)], nrows=n)
    layout = peak_layout(x, pos, fwhm, eta, sh_l=sh_l, margin=float(rng.uniform(0, 3)))
    fast, ref = _both(x, pos, fwhm, eta, sh_l=sh_l, rows=rows, layout=layout)
    if ref.nnz:
        _assert_same(fast, ref)
    else:
        assert fast.nnz == 0


def test_powder_model_matrix_two_phases_with_doublet():
    """PowderModel.peak_matrix (Kα1 + Kα2 rows, two phases, reflections beyond the range) equals the oracle."""
    x = np.arange(10.0, 100.0, 0.01)
    pat = Pattern.from_arrays(x, np.ones_like(x), np.ones_like(x), sigma_source="unit", wavelength=1.5406,
                              radiation="xray")
    inst = Instrument.lab("Cu").replace(profile=Profile(U=2.0, V=-0.5, W=1.0, X=1.0, Y=2.0, sh_l=0.01))
    phases = [structure_from_cell("R-3c", [8.728, 8.728, 21.804, 90, 90, 120], name="nvp"),
              structure_from_cell("Fm-3m", [4.642] * 3 + [90] * 3, name="drs")]
    model = PowderModel(pat, phases, inst, options=PowderOptions())
    params = model.parameters()
    params["SH_L"].set(vary=True)
    layout = model.layout(params)
    params["nvp_a"].set(value=8.74)
    params["W"].set(value=1.5)
    pos, fwhm, eta, rows = model._peaks(params)
    assert np.any(layout.i0 == layout.i1)  # reflections generated beyond the range have empty windows
    kw = {"sh_l": params["SH_L"].value, "options": model.options.window, "rows": rows, "layout": layout}
    _assert_same(model.peak_matrix(params, layout), profile_matrix_reference(model.x_fit, pos, fwhm, eta, **kw))
