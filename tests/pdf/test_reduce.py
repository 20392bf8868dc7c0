"""PDF reduction: PDFgetX3 / PDFgetN3 reference outputs in scale and shape, a Debye-equation Na-V-O cluster,
synthetic transforms, the scale and polynomial rules, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import refine.pdf.reduce as reduce_module
from refine.api.pdf import pdf_reduce
from refine.data import Pattern
from refine.errors import InputError
from refine.pdf.formfactors import xray_form_factor
from refine.pdf.reduce import (
    ReductionConfig,
    auto_background_scale,
    fit_correction_polynomial,
    intensity_scale,
    polynomial_degree,
    reduce_pattern,
    regular_grid,
    scattering_averages,
    sine_transform,
)
from refine.pdf.reduce_files import reduce_file
from tests.conftest import shared_path

CH04 = ("pdf_reduction", "pdfttp_ch04_Ni_pdfgetx3")
EXAMPLES = ("pdf_reduction", "pdfgetx3_examples")
#: Acceptance cases: (id, input, configuration, PDFgetX3's G(r)). The ch04 settings are the .gr headers themselves
#: (their backgroundfile says Kapton.chi, the file is kapton.chi); the examples run with their pdfgetx3.cfg.
CASES = {
    "ch04-Ni": (CH04, "Ni.chi", "Ni.gr", "Ni.gr"),
    "ch04-Ni-hires": (CH04, "Ni.chi", "Ni-hires.gr", "Ni-hires.gr"),
    "ch04-Ni-lownoise": (CH04, "Ni.chi", "Ni-lownoise.gr", "Ni-lownoise.gr"),
    "example-Ni": ((*EXAMPLES, "Ni"), "ni300mesh_300k_nor_1-5.chi", "pdfgetx3.cfg",
                   "ni300mesh_300k_nor_1-5-pdfgetx3.gr"),
    "example-Pt": ((*EXAMPLES, "Pt"), "Pt_bulk-00055.chi", "pdfgetx3.cfg", "Pt_bulk-00055-pdfgetx3.gr"),
    "example-Si90Ni10": ((*EXAMPLES, "Si90Ni10"), "si90ni10_300k_nor_1-6.chi", "pdfgetx3.cfg",
                         "si90ni10_300k_nor_1-6-pdfgetx3.gr"),
}
R_LO, R_HI = 1.0, 30.0


# -- PDFgetX3 references ------------------------------------------------------------------------------------
def _pdfgetx3_columns(path: Path) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """Settings (``key = value`` lines of the config header) and the first two data columns of a PDFgetX3 output."""
    settings: dict[str, str] = {}
    rows = []
    in_data = False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("#### start data"):
            in_data = True
        elif not in_data and "=" in line and not line.lstrip().startswith("#"):
            key, value = (t.strip() for t in line.split("=", 1))
            settings[key] = value
        elif in_data and line.strip() and not line.startswith("#"):
            rows.append([float(v) for v in line.split()[:2]])
    data = np.asarray(rows)
    return settings, data[:, 0], data[:, 1]


def _reduce_case(case: str):
    """refine's reduction of one acceptance case (pdf_reduce with ``config``, as ``refine pdf reduce --config``)
    and PDFgetX3's G(r) on the same r grid."""
    folder, chi, cfg, expected = CASES[case]
    folder = shared_path(*folder, expected).parent
    _, r_ref, g_ref = _pdfgetx3_columns(folder / expected)
    result = pdf_reduce(folder / chi, config=str(folder / cfg))
    np.testing.assert_allclose(result.gr.x, r_ref, atol=1e-9)
    return result, r_ref, g_ref


def _ratio(r, g, g_ref, lo=R_LO, hi=R_HI):
    """Least-squares ratio reference/ours over lo <= r <= hi: the scale that would have to be applied to ours."""
    sel = (r >= lo) & (r <= hi)
    return float(g[sel] @ g_ref[sel] / (g[sel] @ g[sel]))


def _deviation(r, g, g_ref, scale, lo, hi):
    sel = (r >= lo) & (r <= hi)
    return float(np.max(np.abs(scale * g[sel] - g_ref[sel])) / np.max(np.abs(g_ref)))


@pytest.mark.parametrize("case", CASES)
def test_pdfgetx3_absolute_scale(case):
    """No free scale: PDFgetX3's G / ours, least squares over 1-30 A, is 1 within 1 % (measured 0.9992-0.9994)."""
    result, r, g_ref = _reduce_case(case)
    assert _ratio(r, result.gr.y, g_ref) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("case", CASES)
def test_pdfgetx3_shape(case):
    """After that ratio, |G_PDFgetX3 - ratio * G| <= 0.25 % of max|G_PDFgetX3| at every r in 1-30 A (measured
    0.03-0.11 %)."""
    result, r, g_ref = _reduce_case(case)
    assert _deviation(r, result.gr.y, g_ref, _ratio(r, result.gr.y, g_ref), R_LO, R_HI) <= 0.0025


@pytest.mark.parametrize("case", ["ch04-Ni", "example-Ni", "example-Si90Ni10"])
def test_pdfgetx3_fractional_degree_matters(case, monkeypatch):
    """Negative control: the polynomial degree rounded to an integer (no blend) misses these three by 0.44 %,
    2.8 % and 1.0 % of max|G|, and one degree more or less by over 2.5 % in every case: the rule is what is tested."""
    exact = polynomial_degree
    for changed in (lambda *a: float(round(exact(*a))), lambda *a: exact(*a) + 1, lambda *a: exact(*a) - 1):
        monkeypatch.setattr(reduce_module, "polynomial_degree", changed)
        result, r, g_ref = _reduce_case(case)
        assert _deviation(r, result.gr.y, g_ref, _ratio(r, result.gr.y, g_ref), R_LO, R_HI) > 0.0025


def test_compound_scale_needs_the_mean_square_form_factor(monkeypatch):
    """Negative control on the compound: scaling onto <f>^2/<f>^2 = 1 instead of <f^2>/<f>^2 (and subtracting <f>^2)
    puts Si0.95Ni0.05 14 % off PDFgetX3's scale; pure Ni cannot tell the two apart."""
    exact = scattering_averages
    monkeypatch.setattr(reduce_module, "scattering_averages", lambda c, q, m: (exact(c, q, m)[0],) * 2)
    result, r, g_ref = _reduce_case("example-Si90Ni10")
    assert abs(_ratio(r, result.gr.y, g_ref) - 1.0) > 0.05


def test_scale_recorded_in_the_header(tmp_path):
    result, _, _ = _reduce_case("ch04-Ni")
    assert result.scale == pytest.approx(6.97241e-4, rel=1e-4)  # k of Ni.chi - kapton.chi, bgscale 1
    from refine.pdf.reduce_files import header_lines

    assert f"scale k = {result.scale:.10g}" in "\n".join(header_lines(result, "gr"))


# -- PDFgetN3: neutron sapphire ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sapphire(tmp_path_factory):
    folder = shared_path(*EXAMPLES, "n-Sapphire", "pdfgetn3.cfg").parent
    out = tmp_path_factory.mktemp("sapphire") / "sapphire755.gr"
    result = pdf_reduce(folder / "sapphire755.dat", config=str(folder / "pdfgetn3.cfg"), output=out)
    return folder, result


@pytest.mark.parametrize("kind", ["fq", "gr"])
def test_pdfgetn3_sapphire(sapphire, kind):
    """mode = neutron, twothetazero = -0.38, Al2O3 lengths from periodictable: F(Q) (measured ratio 1.00004,
    residual 3e-4 % of max, the grid from Q = 0 included) and G(r) (0.99989, 0.022 %) of PDFgetN3, within 1 % in
    scale and 0.5 % of max in shape."""
    folder, result = sapphire
    _, x_ref, y_ref = _pdfgetx3_columns(folder / f"sapphire755-expected.{kind}")
    curve = result.curve(kind)
    assert curve.x.size == x_ref.size
    np.testing.assert_allclose(curve.x, x_ref, rtol=5e-6, atol=1e-5)  # the reference prints 6 significant digits
    lo, hi = (0.0, np.inf) if kind == "fq" else (R_LO, 20.0)
    ratio = _ratio(curve.x, curve.y, y_ref, lo, hi)
    assert ratio == pytest.approx(1.0, abs=0.01)
    assert _deviation(curve.x, curve.y, y_ref, ratio, lo, hi) <= 0.005
    assert curve.radiation == "neutron"


def test_neutron_lengths_come_from_periodictable():
    import periodictable

    q = np.linspace(0, 10, 3)
    favg2, f2avg = scattering_averages("Al2O3", q, "neutron")
    b_al, b_o = periodictable.Al.neutron.b_c, periodictable.O.neutron.b_c
    np.testing.assert_allclose(favg2, ((2 * b_al + 3 * b_o) / 5) ** 2, rtol=1e-12)
    np.testing.assert_allclose(f2avg, (2 * b_al**2 + 3 * b_o**2) / 5, rtol=1e-12)


def test_neutron_element_without_length_is_bad_input():
    with pytest.raises(InputError, match=r"^composition: periodictable has no neutron scattering length for 'Po'"):
        ReductionConfig(composition="PoO2", qmax=10.0, mode="neutron")
    assert ReductionConfig(composition="PoO2", qmax=10.0).mode == "xray"  # X-ray form factors exist for Po
    with pytest.raises(InputError, match="^mode: must be one of xray, neutron"):
        ReductionConfig(composition="Ni", qmax=10.0, mode="electron")


# -- the rules on their own -----------------------------------------------------------------------------------
def test_polynomial_degree_is_fractional():
    assert polynomial_degree(0.9, 0.0, 31.26) == pytest.approx(8.9553, abs=1e-4)
    assert polynomial_degree(0.9, 0.86, 29.0) == pytest.approx(0.9 * 28.14 / np.pi, rel=1e-12)
    assert polynomial_degree(0.0, 0.0, 30.0) == 0.0


def test_polynomial_blend_of_two_fits():
    """Degree 2.25: 0.75 x the quadratic fit + 0.25 x the cubic fit, neither with a constant term."""
    q = np.linspace(0.0, 20.0, 400)
    fm = np.sin(q) + 0.3 * q - 0.01 * q**3
    coef, poly = fit_correction_polynomial(q, fm, 2.25)
    fits = []
    for m in (2, 3):
        design = q[:, None] ** np.arange(1, m + 1)
        c, *_ = np.linalg.lstsq(design, fm, rcond=None)
        fits.append(design @ c)
    np.testing.assert_allclose(poly, 0.75 * fits[0] + 0.25 * fits[1], atol=1e-9 * np.abs(fm).max())
    assert coef.size == 3 and poly[0] == 0.0


def test_intensity_scale_is_least_squares():
    """k minimises sum (k y - t)^2 (checked against a brute-force scan); I = (<f^2> + oscillations)/7 gives k near 7."""
    q = np.linspace(0.5, 25.0, 1200)
    favg2, f2avg = scattering_averages("Na3V2O5", q)
    intensity = (f2avg + 0.2 * favg2 * np.sin(3.0 * q) * np.exp(-0.02 * q * q)) / 7.0
    y, t = intensity / favg2, f2avg / favg2
    ks = np.linspace(6.0, 8.0, 20001)
    best = ks[np.argmin([np.sum((k * y - t) ** 2) for k in ks])]
    assert intensity_scale(intensity, favg2, f2avg) == pytest.approx(best, abs=1e-4)
    assert best == pytest.approx(7.0, rel=0.01)
    with pytest.raises(InputError, match="^scale: "):
        intensity_scale(-intensity, favg2, f2avg)


def test_regular_grid_rule():
    """Points with qmin < Q <= qmaxinst set the mean step; the grid is its multiples from qmin up to the last point."""
    q = np.sort(np.random.default_rng(3).uniform(1.0, 11.0, 500))
    grid, used, step = regular_grid(q, 0.0, 10.0)
    assert step == pytest.approx((q[used][-1] - q[used][0]) / (used.sum() - 1), rel=1e-14)
    assert grid[0] == 0.0 and grid[-1] <= q[used][-1] + 1e-9 and grid[-1] > q[used][-1] - step
    np.testing.assert_allclose(np.diff(grid), step, rtol=1e-9)
    grid, used, step = regular_grid(np.arange(0.0, 31.5, 0.02), 0.85, 29.0)
    assert grid[0] == pytest.approx(0.86) and grid[-1] == pytest.approx(29.0) and step == pytest.approx(0.02)


def test_intensity_units_do_not_matter_and_sigma_follows_k():
    """A pattern 1000x brighter (sigma too) gives the same F, G and dF, dG: k absorbs the factor, and sigma(F) is
    propagated with the same k."""
    q = np.arange(0.1, 25.0, 0.02)
    favg2, f2avg = scattering_averages("Na3V2O5", q)
    y = 3.0 * (f2avg + favg2 * 0.3 * np.sin(2.3 * q) * np.exp(-0.01 * q * q)) + 40.0 * np.exp(-q / 4)
    config = ReductionConfig(composition="Na3V2O5", qmax=22.0, rmax=10.0)
    a = reduce_pattern(Pattern(x=q, y=y, sigma=np.sqrt(y), unit="q_A^-1", sigma_source="poisson"), config)
    b = reduce_pattern(Pattern(x=q, y=1e3 * y, sigma=1e3 * np.sqrt(y), unit="q_A^-1", sigma_source="poisson"), config)
    assert b.scale == pytest.approx(a.scale / 1e3, rel=1e-10)
    for kind in ("fq", "gr"):
        np.testing.assert_allclose(b.curve(kind).y, a.curve(kind).y, atol=1e-9 * np.abs(a.curve(kind).y).max())
        np.testing.assert_allclose(b.curve(kind).sigma, a.curve(kind).sigma, rtol=1e-9)
    expected = a.fq.x * a.scale * np.interp(a.fq.x, q, np.sqrt(y)) / scattering_averages("Na3V2O5", a.fq.x)[0]
    np.testing.assert_allclose(a.fq.sigma, expected, rtol=1e-9)


# -- synthetic truth ----------------------------------------------------------------------------------------
def test_sine_transform_gaussian_peak():
    """F(Q) = sin(Q r0) exp(-s^2 Q^2/2) transforms to (1/(s sqrt(2 pi))) [N(r-r0) - N(r+r0)]."""
    q = np.arange(0.0, 40.0, 0.005)
    r0, s = 2.5, 0.1
    f = np.sin(q * r0) * np.exp(-0.5 * (s * q) ** 2)
    r = np.linspace(0.5, 5.0, 451)
    g, dg = sine_transform(q, f, r)
    expected = (np.exp(-0.5 * ((r - r0) / s) ** 2) - np.exp(-0.5 * ((r + r0) / s) ** 2)) / (s * np.sqrt(2 * np.pi))
    assert dg is None
    assert np.max(np.abs(g - expected)) < 1e-3 * expected.max()


def test_dg_matches_monte_carlo():
    """Propagated dG equals the spread of G over noisy realisations of F (200 draws, 10 %)."""
    rng = np.random.default_rng(7)
    q = np.arange(0.5, 20.0, 0.02)
    sigma = 0.05 + 0.01 * q
    r = np.array([1.0, 2.5, 7.0])
    _, dg = sine_transform(q, np.zeros_like(q), r, sigma)
    draws = np.array([sine_transform(q, rng.normal(0, sigma), r)[0] for _ in range(200)])
    np.testing.assert_allclose(draws.std(axis=0), dg, rtol=0.10)


def test_auto_bgscale_recovers_container_fraction():
    """Sample = signal >= 0 touching zero + 0.37 * container: auto finds 0.37 and I - bB stays >= 0."""
    q = np.arange(0.5, 25.0, 0.01)
    container = 100.0 + 50.0 * np.exp(-q / 5)
    signal = 40.0 * (1.0 + np.cos(2.0 * q))  # zeros at Q = pi/2 + k pi
    b = auto_background_scale(q, signal + 0.37 * container, container, qlo=12.0, qhi=25.0)
    assert b == pytest.approx(0.37, abs=2e-4)
    assert np.all(signal + 0.37 * container - b * container >= -1e-9)


# -- composition weighting: Debye-equation Na-V-O rock-salt cluster -----------------------------------------
A_ROCKSALT = 4.642
SIGMA_PAIR = 0.07  # A, pair-distance spread (Debye-Waller-like damping of every pair term)


def _rocksalt_cluster(ncell: int = 7, seed: int = 1):
    """(2 ncell)^3 sites of a cube of rock salt: O on one sublattice, Na/V at random 3:2 on the other."""
    rng = np.random.default_rng(seed)
    n = 2 * ncell
    idx = np.stack(np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 3)
    anion = idx.sum(axis=1) % 2 == 1
    species = np.where(anion, "O", "Na").astype("<U2")
    cations = np.flatnonzero(~anion)
    species[rng.choice(cations, size=int(round(0.4 * cations.size)), replace=False)] = "V"
    return idx * (A_ROCKSALT / 2), species


def _pair_shells(xyz, species, elements):
    """{(a, b): (distances, number of unordered pairs)} from a histogram of exact lattice distances."""
    shells = {}
    for i, a in enumerate(elements):
        for b in elements[i:]:
            pa, pb = xyz[species == a], xyz[species == b]
            parts = []
            for s in range(0, len(pa), 400):
                d = np.sqrt(((pa[s:s + 400, None, :] - pb[None, :, :]) ** 2).sum(-1)).ravel()
                parts.append(np.round(d[d > 1e-6], 5))
            dist, count = np.unique(np.concatenate(parts), return_counts=True)
            shells[(a, b)] = (dist, count // 2 if a == b else count)
    return shells


def _partial_f(q, shells, pairs, weights_f, natoms, which=None):
    """Σ over pair types of (2/N) f_a f_b/<f>^2 Σ_shells n sin(Q r)/r e^{-σ²Q²/2}; optionally one shell only."""
    damp = np.exp(-0.5 * (SIGMA_PAIR * q) ** 2)
    total = np.zeros_like(q)
    for (a, b) in pairs:
        dist, count = shells[(a, b)]
        keep = np.ones(dist.size, bool) if which is None else np.abs(dist - which) < 1e-3
        if not keep.any():
            continue
        s = np.sin(np.outer(q, dist[keep])) / dist[keep]
        total += 2.0 * weights_f(a, b) / natoms * damp * (s @ count[keep])
    return total


@pytest.fixture(scope="module")
def navo_cluster():
    xyz, species = _rocksalt_cluster()
    elements = ("Na", "V", "O")
    counts = {e: int(np.count_nonzero(species == e)) for e in elements}
    natoms = species.size
    shells = _pair_shells(xyz, species, elements)
    q = np.arange(0.02, 28.0 + 1e-9, 0.02)
    f = {e: xray_form_factor(e, q) for e in elements}
    # Debye equation per atom: I(Q) = <f^2> + (2/N) Σ_{i<j} f_i f_j sin(Q r_ij)/(Q r_ij), damped per pair.
    intensity = sum(counts[e] * f[e] ** 2 for e in elements) / natoms
    damp = np.exp(-0.5 * (SIGMA_PAIR * q) ** 2)
    for (a, b), (dist, count) in shells.items():
        intensity = intensity + 2.0 * f[a] * f[b] / natoms * damp * (np.sinc(np.outer(q, dist) / np.pi) @ count)
    favg = sum(counts[e] * f[e] for e in elements) / natoms
    return dict(q=q, intensity=intensity, counts=counts, natoms=natoms, shells=shells, f=f, favg=favg)


def test_debye_cluster_peaks_and_weights(navo_cluster):
    """Reduced G(r) of a Na-V-O rock-salt cluster: peaks at a/2 and a/sqrt2 (0.01 A), weighted areas (5 %).

    Each measured peak is fitted as A * (that shell's expected G, made from the partial F of the shell with
    the X-ray weights f_a f_b/<f>^2 through the same Q window) + c0 + c1 r; the linear terms take the
    finite-size baseline -4 pi rho0 r gamma0(r) explicitly. The small-angle peak of the 32 A cube lies below
    qmin = 1.0 (its first zero is at 2 pi/L = 0.19 1/A). A = 1 means the composition weighting is right.
    """
    c = navo_cluster
    q, counts = c["q"], c["counts"]
    composition = "".join(f"{e}{n}" for e, n in counts.items())
    config = ReductionConfig(composition=composition, qmax=25.0, qmin=1.0, qmaxinst=28.0, rpoly=0.9,
                             rmin=1.5, rmax=4.0, rstep=0.002)
    pattern = Pattern(x=q, y=c["intensity"], sigma=np.ones_like(q), unit="q_A^-1", sigma_source="unit")
    result = reduce_pattern(pattern, config)
    # The intensities are in electron units per atom, yet k is not 1: PDFgetX3's k is the least-squares fit of k*y
    # onto t, and the oscillation of y = I/<f>^2 about t adds to sum(y^2), so k = 1/(1 + its relative variance).
    # The polynomial then removes the smooth (k - 1)Q<f^2>/<f>^2 and F(Q) is k times the normalised F: each shell's
    # amplitude below is k (0.80), not 1.
    assert 0.7 < result.scale < 0.9
    r, g = result.gr.x, result.gr.y
    window_q = (q >= config.qmin) & (q <= config.qmax)
    pairs = list(c["shells"])

    def xray_weight(a, b):
        return c["f"][a] * c["f"][b] / c["favg"] ** 2

    def fitted_amplitude(r0, weight):
        f_shell = _partial_f(q, c["shells"], pairs, weight, c["natoms"], which=r0)
        g_shell, _ = sine_transform(q[window_q], f_shell[window_q], r)
        sel = np.abs(r - r0) <= 0.3
        design = np.column_stack([g_shell[sel], np.ones(sel.sum()), r[sel]])
        coef, *_ = np.linalg.lstsq(design, g[sel], rcond=None)
        return coef[0]

    amplitudes = {}
    for r0 in (A_ROCKSALT / 2, A_ROCKSALT / np.sqrt(2)):
        sel = np.abs(r - r0) <= 0.15
        peak = r[sel][np.argmax(g[sel])]
        assert abs(peak - r0) < 0.01
        amplitudes[r0] = fitted_amplitude(r0, xray_weight)
        assert amplitudes[r0] == pytest.approx(result.scale, rel=0.05)
    ratio = amplitudes[A_ROCKSALT / np.sqrt(2)] / amplitudes[A_ROCKSALT / 2]
    assert ratio == pytest.approx(1.0, abs=0.05)
    # Negative control: equal weights for every pair type (no composition weighting) fail the same test.
    unweighted = fitted_amplitude(A_ROCKSALT / np.sqrt(2), lambda a, b: np.ones_like(q)) / fitted_amplitude(
        A_ROCKSALT / 2, lambda a, b: np.ones_like(q))
    assert abs(unweighted - 1.0) > 0.05


# -- input handling and files -------------------------------------------------------------------------------
def _synthetic_iq(q):
    return 1000.0 * (1.0 + 0.3 * np.sin(2.5 * q) * np.exp(-0.01 * q * q)) + 50.0 * q


def _write_xy(path, x, y, sigma=None, header=""):
    cols = [x, y] + ([sigma] if sigma is not None else [])
    np.savetxt(path, np.column_stack(cols), header=header)
    return path


def test_twotheta_input_matches_q_input(tmp_path):
    """I(2θ) with the wavelength gives the same G(r) as the same data on Q."""
    wavelength = 0.1835957
    q = np.arange(0.5, 25.0, 0.02)
    tth = np.degrees(2 * np.arcsin(q * wavelength / (4 * np.pi)))
    y = _synthetic_iq(q)
    config = ReductionConfig(composition="Ni", qmax=22.0, qmin=0.5, rmax=20.0)
    res_q = reduce_file(_write_xy(tmp_path / "a.chi", q, y, header="Q (A^-1)  I"), config)
    res_t = reduce_file(_write_xy(tmp_path / "b.xy", tth, y, header="2theta  I"),
                        ReductionConfig(composition="Ni", qmax=22.0, qmin=0.5, rmax=20.0, wavelength=wavelength))
    np.testing.assert_allclose(res_t.gr.y, res_q.gr.y, atol=1e-6 * np.abs(res_q.gr.y).max())
    with pytest.raises(InputError, match="wavelength"):
        reduce_file(tmp_path / "b.xy", config)


def test_bad_inputs(tmp_path):
    q = np.arange(0.5, 20.0, 0.02)
    good = _write_xy(tmp_path / "s.chi", q, _synthetic_iq(q), header="Q (A^-1)")
    with pytest.raises(InputError, match="composition"):
        ReductionConfig(composition="Nq3", qmax=15.0)
    with pytest.raises(InputError, match="above the data"):
        reduce_file(good, ReductionConfig(composition="Ni", qmax=25.0))
    with pytest.raises(InputError, match="qmaxinst"):
        ReductionConfig(composition="Ni", qmax=15.0, qmaxinst=12.0)
    padded = _write_xy(tmp_path / "pad.chi", q, np.where(q > 18.0, 0.0, _synthetic_iq(q)), header="Q (A^-1)")
    with pytest.raises(InputError, match="last measured Q 1[78]"):  # zero padding is not data
        reduce_file(padded, ReductionConfig(composition="Ni", qmax=19.0))
    assert reduce_file(padded, ReductionConfig(composition="Ni", qmax=17.0)).settings["qmaxinst"] == pytest.approx(
        18.0, abs=0.021)
    empty = tmp_path / "empty.chi"
    empty.write_text("# nothing here\n")
    with pytest.raises(InputError, match="no numeric data"):
        reduce_file(empty, ReductionConfig(composition="Ni", qmax=15.0))
    bad = tmp_path / "zigzag.chi"
    _write_xy(bad, np.array([1.0, 2.0, 1.5, 3.0]), np.ones(4), header="Q (A^-1)")
    with pytest.raises(InputError, match="monotonic"):
        reduce_file(bad, ReductionConfig(composition="Ni", qmax=2.0))
    short_bg = _write_xy(tmp_path / "bg.chi", q[q < 10], np.ones(np.count_nonzero(q < 10)), header="Q (A^-1)")
    with pytest.raises(InputError, match="does not span"):
        reduce_file(good, ReductionConfig(composition="Ni", qmax=15.0, qmin=0.5), short_bg)


def test_background_on_other_grid_is_interpolated(tmp_path):
    """A smooth background on a coarser grid gives the same result as the background on the sample grid."""
    q = np.arange(0.5, 20.0, 0.02)
    qb = np.arange(0.4, 20.2, 0.05)
    bg = lambda x: 300.0 + 20.0 * x  # noqa: E731 - linear, so interpolation is exact
    sample = _write_xy(tmp_path / "s.chi", q, _synthetic_iq(q) + 0.5 * bg(q), header="Q (A^-1)")
    same = _write_xy(tmp_path / "b1.chi", q, bg(q), header="Q (A^-1)")
    other = _write_xy(tmp_path / "b2.chi", qb, bg(qb), header="Q (A^-1)")
    config = ReductionConfig(composition="Ni", qmax=18.0, qmin=0.5, bgscale=0.5, rmax=20.0)
    a, b = reduce_file(sample, config, same), reduce_file(sample, config, other)
    assert not any("background" in n for n in a.notes) and any("background interpolated" in n for n in b.notes)
    np.testing.assert_allclose(b.gr.y, a.gr.y, atol=1e-9 * np.abs(a.gr.y).max())
