"""Write a simulated X-ray total-scattering I(Q) of the DRS rock salt and of its empty container, for
``refine pdf reduce``.

    python refine/example_data/make_example_iq.py OUT_DIR [COMPOSITION]     # default composition Na3V2O5
    python -m refine.example_data.make_example_iq OUT_DIR [COMPOSITION]   # the same, from an installed refine

Seeded and deterministic. Model (the truth):

* Disordered rock salt (Fm-3m, a = 4.642 Å): every element of the composition except O shares the cation site 4a
  in proportion to its amount, O on 4b (so the composition must have as much O as cations, e.g. Na3V2O5, LiMnO2,
  Li1.2Mn0.4Ti0.4O2); Uiso 0.010 (cations) / 0.012 Å² (O); 6 nm spherical particles; Q resolution Qdamp 0.02 Å⁻¹.
  Its G(r) comes from refine's own PDF engine (the engine tests compare with PDFfit2), on r = 0-60 Å in 0.01 Å
  steps, and F(Q) = Q[S(Q) − 1] = ∫ G(r) sin(Qr) dr (the particle envelope takes G to 0 at 60 Å, so the sine
  transform has no truncation ripples).
* Coherent intensity per atom ⟨f²⟩ + ⟨f⟩²[S(Q) − 1] with Waasmaier-Kirfel form factors and the composition's
  atomic fractions (the x-ray convention of PDF reduction), plus Compton scattering per atom
  Σ c_i (Z_i − f_i(Q)²/Z_i) (independent-electron approximation);
* the sample sits in a polyimide (Kapton, C22H10N2O5) capillary: the container file is the empty capillary
  (its own ⟨f²⟩ + Compton and three broad amorphous maxima at 0.45, 1.25 and 2.9 Å⁻¹) measured for the same time,
  so ``--bgscale 1`` is right; the sample file holds sample + container;
* Q = 0.5 to 25 Å⁻¹ in 0.01 Å⁻¹ steps (λ = 0.1173 Å, 2θ up to 28°), Poisson counts (about 10⁶ per bin at high Q),
  sigma = sqrt(counts).

Reduce it with (``make`` returns the paths; the composition must be the one given here)::

    refine pdf reduce OUT_DIR/drs_iq.chi --composition Na3V2O5 --qmax 24 --background OUT_DIR/container_iq.chi \\
        -o drs.gr

The first G(r) peaks then sit at the rock-salt distances a/2 = 2.321 Å (cation-O) and a/√2 = 3.282 Å.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from refine.errors import InputError
from refine.example_data import make_example_pdf as pdf_example

SEED = 20261204
A = pdf_example.A  # 4.642 Å, the bundled example's rock salt
WAVELENGTH_A = 0.1173
SPDIAMETER = 60.0  # Å
QDAMP = 0.02  # Å⁻¹
Q_GRID = (0.5, 25.0, 0.01)  # first, last, step (Å⁻¹)
R_STEP = 0.01  # Å; the narrowest G(r) peak has σ ≈ 0.14 Å: the r sum is exact far beyond Q = 25
SAMPLE_SCALE = 1.0e5  # counts per electron² per atom
CONTAINER = "C22H10N2O5"  # Kapton
CONTAINER_SCALE = 2.0e4
#: Broad maxima of the amorphous polymer (centre, width in Å⁻¹, height relative to its ⟨f⟩²).
CONTAINER_HUMPS = ((0.45, 0.15, 1.2), (1.25, 0.30, 0.9), (2.9, 0.6, 0.3))
DEFAULT_COMPOSITION = "Na3V2O5"


def cation_sites(composition: str) -> tuple[tuple[str, float], ...]:
    """(element, occupancy) of the rock-salt cation site: every element but O, in proportion to its amount.

    Raises :class:`~refine.errors.InputError` (source ``composition``) when the formula has no O, no cation, or
    not as much O as cations (no rock salt).
    """
    from refine.pdf.composition import parse_composition

    counts = parse_composition(composition)
    oxygen = counts.get("O", 0.0)
    cations = {el: n for el, n in counts.items() if el != "O"}
    total = sum(cations.values())
    if not oxygen or not cations or abs(total - oxygen) > 1e-6 * oxygen:
        raise InputError("composition", f"{composition!r} is not a rock salt: it needs as much O as cations "
                                        f"(cations {total:g}, O {oxygen:g})")
    return tuple((el, n / total) for el, n in cations.items())


def structure_fq(cif: Path, q: np.ndarray) -> np.ndarray:
    """F(Q) = ∫ G(r) sin(Qr) dr of the structure in ``cif`` as 6 nm particles (refine's PDF engine for G)."""
    from refine.pdf.calculate import PDFSettings, calc_gr
    from refine.pdf.pairs import PairTable
    from refine.pdf.structure import PDFStructure

    r = np.round(np.arange(1, int(round(SPDIAMETER / R_STEP)) + 1) * R_STEP, 6)  # G(0) = G(SPDIAMETER) = 0
    table = PairTable.build(PDFStructure.load(cif), r[-1] + 1.0)
    g = calc_gr(table, r, PDFSettings(qdamp=QDAMP, spdiameter=SPDIAMETER), backend="numpy")  # no JIT wait
    chunks = [np.sin(np.outer(part, r)) @ g for part in np.array_split(q, max(1, len(q) // 256))]
    return np.concatenate(chunks) * R_STEP


def compton(q: np.ndarray, fractions: Mapping[str, float]) -> np.ndarray:
    """Incoherent scattering per atom, Σ c_i (Z_i − f_i(Q)²/Z_i) (electron units)."""
    import xraydb

    from refine.pdf.formfactors import xray_form_factor

    out = np.zeros_like(q)
    for element, c in fractions.items():
        z = xraydb.atomic_number(element)
        out += c * (z - xray_form_factor(element, q) ** 2 / z)
    return out


def sample_intensity(q: np.ndarray, composition: str, fq: np.ndarray) -> np.ndarray:
    """Coherent + Compton intensity per atom (electron units) of the sample with F(Q) ``fq``."""
    from refine.pdf.composition import atomic_fractions
    from refine.pdf.formfactors import form_factor_averages

    f_avg2, f2_avg = form_factor_averages(composition, q)
    return f2_avg + f_avg2 * fq / q + compton(q, atomic_fractions(composition))


def container_intensity(q: np.ndarray) -> np.ndarray:
    """Intensity per atom (electron units) of the empty polyimide capillary: ⟨f²⟩ + Compton + amorphous maxima."""
    from refine.pdf.composition import atomic_fractions
    from refine.pdf.formfactors import form_factor_averages

    f_avg2, f2_avg = form_factor_averages(CONTAINER, q)
    humps = sum(h * np.exp(-0.5 * ((q - c) / w) ** 2) for c, w, h in CONTAINER_HUMPS)
    return f2_avg + f_avg2 * humps + compton(q, atomic_fractions(CONTAINER))


def q_grid() -> np.ndarray:
    first, last, step = Q_GRID
    return np.round(first + step * np.arange(int(round((last - first) / step)) + 1), 6)


def _write(path: Path, q: np.ndarray, counts: np.ndarray, header: list[str]) -> None:
    from refine.data import Pattern
    from refine.io import write_pattern

    pattern = Pattern(x=q, y=counts, sigma=np.sqrt(np.maximum(counts, 1.0)), unit="q_A^-1", sigma_source="file",
                      radiation="xray", wavelength=WAVELENGTH_A)
    write_pattern(pattern, path, header=header)


def make(folder: str | Path, composition: str = DEFAULT_COMPOSITION) -> dict[str, Path]:
    """Write ``drs_iq.chi`` (sample in its container), ``container_iq.chi`` (empty container) and the rock-salt
    CIF they were computed from (``drs_iq_rocksalt.cif``) into ``folder``.

    Parameters
    ----------
    folder
        Output folder (created).
    composition
        Formula of the rock salt (as much O as cations); pass the same to ``refine pdf reduce --composition``.

    Returns
    -------
    dict
        ``{"iq": ..., "background": ..., "structure": ...}`` paths.
    """
    sites = cation_sites(composition)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"iq": folder / "drs_iq.chi", "background": folder / "container_iq.chi",
             "structure": folder / "drs_iq_rocksalt.cif"}
    pdf_example.rocksalt_cif(paths["structure"], cations=sites, title="drs_iq_rocksalt")
    q = q_grid()
    rng = np.random.default_rng(SEED)
    container = CONTAINER_SCALE * container_intensity(q)
    ideal = SAMPLE_SCALE * sample_intensity(q, composition, structure_fq(paths["structure"], q)) + container
    truth = f"truth: Fm-3m a = {A} A, {composition}, {SPDIAMETER / 10:g} nm particles, qdamp {QDAMP}"
    _write(paths["iq"], q, rng.poisson(ideal).astype(float),
           [f"simulated sample in a Kapton capillary (make_example_iq.py; seeded); composition {composition}", truth])
    _write(paths["background"], q, rng.poisson(container).astype(float),
           ["simulated empty Kapton capillary, same exposure as the sample (make_example_iq.py; seeded)"])
    return paths


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        raise SystemExit("usage: python make_example_iq.py OUT_DIR [COMPOSITION]")
    for kind, path in make(*args).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
