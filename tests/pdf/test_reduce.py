"""PDF reduction: PDFgetX3 reference G(r) of Ni, a Debye-equation Na-V-O cluster, synthetic transforms, errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from refine.data import Pattern
from refine.errors import InputError
from refine.io import read_pattern
from refine.pdf.formfactors import xray_form_factor
from refine.pdf.reduce import (
    ReductionConfig,
    auto_background_scale,
    polynomial_degree,
    reduce_file,
    reduce_pattern,
    reduce_series,
    sine_transform,
    write_results,
)
from tests.conftest import shared_path

NI_DIR = ("pdf_reduction", "pdfttp_ch04_Ni_pdfgetx3")
REFERENCES = ("Ni.gr", "Ni-hires.gr", "Ni-lownoise.gr")


# -- PDFgetX3 references ------------------------------------------------------------------------------------
def _pdfgetx3_gr(path: Path) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """Settings (``key = value`` lines of the config header) and the r, G columns of a PDFgetX3 .gr file."""
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


def _case_insensitive(folder: Path, name: str) -> Path:
    # The hires/lownoise headers say Kapton.chi; the file is kapton.chi.
    matches = [p for p in folder.iterdir() if p.name.lower() == name.lower()]
    assert matches, f"{name} not found in {folder}"
    return matches[0]


def _config_from_header(settings: dict[str, str], **changes) -> ReductionConfig:
    assert settings["mode"] == "xray" and settings["dataformat"] == "QA"
    kwargs = dict(composition=settings["composition"], qmax=float(settings["qmax"]), qmin=float(settings["qmin"]),
                  qmaxinst=float(settings["qmaxinst"]), rpoly=float(settings["rpoly"]),
                  bgscale=float(settings["bgscale"]), rmin=float(settings["rmin"]), rmax=float(settings["rmax"]),
                  rstep=float(settings["rstep"]))
    kwargs.update(changes)
    return ReductionConfig(**kwargs)


def _reduce_reference(name: str, **changes):
    folder = shared_path(*NI_DIR, name).parent
    settings, r_ref, g_ref = _pdfgetx3_gr(folder / name)
    config = _config_from_header(settings, **changes)
    result = reduce_file(_case_insensitive(folder, settings["inputfile"]), config,
                         _case_insensitive(folder, settings["backgroundfile"]))
    np.testing.assert_allclose(result.gr.x, r_ref, atol=1e-9)
    g = result.gr.y
    scale = float(g @ g_ref / (g @ g))
    return result, r_ref, g_ref, scale


def _deviation(r, g, g_ref, scale, lo, hi):
    sel = (r >= lo) & (r <= hi)
    return float(np.max(np.abs(scale * g[sel] - g_ref[sel])) / np.max(np.abs(g_ref)))


@pytest.mark.parametrize("name", REFERENCES)
def test_pdfgetx3_ni_shape(name):
    """Same G(r) shape as PDFgetX3 within 1 % of max|G| over 1-30 A, 2 % below 1 A (one LSQ scale)."""
    result, r, g_ref, scale = _reduce_reference(name)
    assert result.degree == polynomial_degree(0.9, float(result.settings["qmaxinst"]))
    assert _deviation(r, result.gr.y, g_ref, scale, 1.0, 30.0) < 0.01
    assert _deviation(r, result.gr.y, g_ref, scale, 0.0, 1.0) < 0.02
    assert any("interpolated" in n for n in result.notes)  # kapton.chi misses three Q points of Ni.chi


@pytest.mark.parametrize("name", ["Ni.gr", "Ni-hires.gr"])
def test_pdfgetx3_degree_rule_matters(name):
    """A polynomial one degree off misses PDFgetX3's G(r) by several percent: the rule is tested, not fitted."""
    settings, _, _ = _pdfgetx3_gr(shared_path(*NI_DIR, name))
    n = polynomial_degree(float(settings["rpoly"]), float(settings["qmaxinst"]))
    for off in (-1, 1):
        rpoly = (n + off) * np.pi / float(settings["qmaxinst"])  # rpoly that gives degree n+off
        result, r, g_ref, scale = _reduce_reference(name, rpoly=rpoly)
        assert result.degree == n + off
        assert _deviation(r, result.gr.y, g_ref, scale, 1.0, 30.0) > 0.02


@pytest.mark.xfail(strict=True, reason="PDFgetX3's absolute-scale rule is not stated in its paper abstract or "
                                       "manual; the self-scattering rule gives G 1.44x (bgscale 0.4) to 2.08x "
                                       "(bgscale 1) PDFgetX3's; rules tried: refine/pdf/reduce.py docstring")
@pytest.mark.parametrize("name", REFERENCES)
def test_pdfgetx3_ni_absolute_scale(name):
    _, _, _, scale = _reduce_reference(name)
    assert abs(scale - 1.0) < 0.10


@pytest.mark.parametrize("name", ["Ni.gr", "Ni-hires.gr"])
def test_pdfgetx3_ni_fq_differs_by_one_constant(name):
    """In Q space too: F(Q) recovered from PDFgetX3's G(r) (F(Q) = ∫ G(r) sin(Qr) dr over its 0-60 A) is ours times
    one constant to 1 % in every 2 1/A window from 2 1/A to qmax - 3 1/A. So the open absolute-scale question is a
    single number, not a Q-dependent normalisation (dividing by the smooth polynomial P(Q)/Q instead would
    drift by 14-85 % over the same windows)."""
    result, r, g_ref, _ = _reduce_reference(name)
    q, fq = result.fq.x, result.fq.y
    qmax = float(result.settings["qmax"])
    dr = r[1] - r[0]
    ratios = []
    for q0 in np.arange(2.0, qmax - 3.0, 2.0):
        sel = (q >= q0 - 1.0) & (q < q0 + 1.0)
        f_ref = np.sin(np.outer(q[sel], r)) @ g_ref * dr
        ratios.append(float(fq[sel] @ f_ref / (f_ref @ f_ref)))
    ratios = np.asarray(ratios)
    assert np.all(ratios > 0)
    assert np.ptp(ratios) / np.median(ratios) < 0.01


def test_polynomial_degree_rule():
    assert polynomial_degree(0.9, 29.0) == 8       # 8.31
    assert polynomial_degree(0.9, 31.26) == 9      # 8.955
    assert polynomial_degree(0.9, np.pi * 10 / 0.9) == 10
    assert polynomial_degree(0.0, 30.0) == 0


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
    assert result.scale == pytest.approx(1.0, rel=0.01)  # no Compton in the model: the self-scattering rule is exact
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
        assert amplitudes[r0] == pytest.approx(1.0, abs=0.05)
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
    assert not a.notes and any("interpolated" in n for n in b.notes)
    np.testing.assert_allclose(b.gr.y, a.gr.y, atol=1e-9 * np.abs(a.gr.y).max())


def test_written_files_read_back_with_header(tmp_path):
    q = np.arange(0.5, 20.0, 0.02)
    y = _synthetic_iq(q)
    src = _write_xy(tmp_path / "s.chi", q, y, np.sqrt(y), header="Q (A^-1)")
    config = ReductionConfig(composition="Na3V2O5", qmax=18.0, qmin=0.5, rmax=15.0, lorch=True)
    result = reduce_file(src, config)
    written = write_results(result, tmp_path / "out" / "s.gr", ("gr", "sq", "fq", "iq"))
    assert [p.suffix for p in written] == [".gr", ".sq", ".fq", ".iq"]
    gr = read_pattern(written[0])
    assert gr.unit == "r_A" and gr.sigma_source == "file"
    np.testing.assert_allclose(gr.y, result.gr.y, rtol=1e-8, atol=1e-12)
    for path in written[1:]:
        assert read_pattern(path).unit == "q_A^-1"
    header = "\n".join(gr.metadata["header"])
    for key in ("composition = Na3V2O5", "qmax = 18.0", "qmin = 0.5", "qmaxinst = ", "rpoly = 0.9",
                "lorch = True", "rstep = 0.01", "polynomial degree", "sha256=", "scale divisor"):
        assert key in header


def test_reduce_series_parallel_and_resumable(tmp_path):
    q = np.arange(0.5, 20.0, 0.02)
    paths = [_write_xy(tmp_path / f"scan{i}.chi", q, _synthetic_iq(q) * (1 + 0.1 * i), header="Q (A^-1)")
             for i in range(3)]
    config = ReductionConfig(composition="Ni", qmax=18.0, qmin=0.5, rmax=10.0)
    out = reduce_series(paths, config, tmp_path / "gr", outputs=("gr", "fq"), workers=2)
    assert list(out) == [str(p) for p in paths]
    first = out[str(paths[0])][0]
    assert first.name == "scan0.gr" and read_pattern(first).unit == "r_A"
    stamp = os.stat(first).st_mtime_ns
    os.unlink(out[str(paths[2])][0])  # an interrupted run: one output missing
    again = reduce_series(paths, config, tmp_path / "gr", outputs=("gr", "fq"), workers=2)
    assert os.stat(first).st_mtime_ns == stamp  # complete outputs are not redone
    assert again[str(paths[2])][0].exists()
    assert not list((tmp_path / "gr").glob("*.part"))
