"""Write the bundled example: a simulated 2D synchrotron image of a disordered rock-salt (DRS) Na3V2O5-like
cathode with a weak Cu current-collector phase, its PONI and a mask.

    python refine/example_data/make_example_data.py            # rewrites the three files next to this script

Seeded: running it again gives the same pixels and mask (only the TIFF header time stamp changes).
Model (all values are the simulation's truth):

* DRS phase: Fm-3m, a = 4.642 Å, cations Na0.6V0.4 on 4a (0,0,0) (Na3V2O5 = 5 cations per 5 O), O on 4b,
  B_iso = 1.0 Å²; structure factor F = 4(f_cation ± f_O) for hkl all even / all odd.
* Cu phase: Fm-3m, a = 3.615 Å, Cu on 4a, B_iso = 0.6 Å²; its strongest ring has 5 % of the integrated
  intensity of the strongest DRS ring.
* λ = 0.1173 Å (105.7 keV), Perkin-Elmer-like 512 x 512 detector, 200 µm pixels, 0.35 m, small tilts.
* Powder intensity per solid angle: m |F|² exp(-2B s²) · L, with the Debye-Scherrer Lorentz factor
  L = 1/(sin²θ cosθ) (Warren, X-ray Diffraction, 1969, ch. 4), pseudo-Voigt rings (Caglioti instrumental
  width + Scherrer size broadening of 15 nm domains), a smooth background; then multiplied by pyFAI's
  polarization factor (0.99, horizontal) and relative solid angle, Poisson counts.
* Beam stop (disc + arm) transmits 2 %; 25 hot pixels; the mask covers the beam stop, its arm and the hot
  pixels.

Integrate it with: ``refine integrate refine/example_data/drs_na3v2o5_cu.tif
--poni refine/example_data/drs_na3v2o5_cu.poni
--mask refine/example_data/drs_na3v2o5_cu_mask.npy --polarization 0.99 -o OUT``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STEM = "drs_na3v2o5_cu"
SEED = 20260521

WAVELENGTH_A = 0.1173
SHAPE = (512, 512)
PIXEL_M = 200e-6
GEOMETRY = {"dist": 0.35, "poni1": 0.0502, "poni2": 0.0518, "rot1": 0.004, "rot2": -0.003, "rot3": 0.0}
POLARIZATION = 0.99
CU_FRACTION = 0.05
PEAK_COUNTS = 20000.0  # counts in a pixel at the top of the strongest ring
DOMAIN_A = 150.0  # crystallite size for Scherrer broadening (Å)
CAGLIOTI_DEG2 = (0.0004, -0.0002, 0.0006)  # U, V, W of the instrumental Gaussian FWHM², deg²
ETA = 0.4  # pseudo-Voigt Lorentzian fraction

# (atom, occupancy, fractional position) per phase; Fm-3m adds the F-centring translations.
DRS = {"a": 4.642, "B": 1.0, "sites": (("Na", 0.6, (0, 0, 0)), ("V", 0.4, (0, 0, 0)), ("O", 1.0, (0.5, 0.5, 0.5)))}
CU = {"a": 3.615, "B": 0.6, "sites": (("Cu", 1.0, (0, 0, 0)),)}
F_CENTRING = ((0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0))


def reflections(phase: dict, tth_max: float, wavelength: float = WAVELENGTH_A) -> list[tuple[float, float]]:
    """(2θ in degrees, m|F|² e^{-2Bs²}) of every reflection family below ``tth_max``.

    ``phase`` holds ``a`` (Å), ``B`` (Å²) and ``sites`` (atom, occupancy, fractional position) of an F-centred
    cubic structure (the F-centring translations are added here).
    """
    from refine import units
    from refine.crystal.scattering import form_factor

    a = phase["a"]
    hmax = int(np.ceil(2 * a / wavelength * np.sin(np.radians(tth_max / 2))))
    sums: dict[int, float] = {}
    f0: dict[tuple[str, int], float] = {}
    for h, k, l_ in itertools.product(range(-hmax, hmax + 1), repeat=3):
        n = h * h + k * k + l_ * l_
        if n == 0:
            continue
        d = a / np.sqrt(n)
        s = 1.0 / (2.0 * d)  # sinθ/λ
        if not units.d_to_tth(d=d, wavelength=wavelength) <= tth_max:  # NaN beyond 180 degrees
            continue
        F = 0j
        for atom, occ, (x, y, z) in phase["sites"]:
            if (atom, n) not in f0:
                f0[atom, n] = float(form_factor(atom, s, ions=False))
            f = f0[atom, n]
            for tx, ty, tz in F_CENTRING:
                F += occ * f * np.exp(2j * np.pi * (h * (x + tx) + k * (y + ty) + l_ * (z + tz)))
        # Summing |F|² over all (h,k,l) with the same h²+k²+l² includes the multiplicity.
        sums[n] = sums.get(n, 0.0) + abs(F) ** 2 * np.exp(-2 * phase["B"] * s * s)
    out = []
    for n, intensity in sorted(sums.items()):
        if intensity < 1e-6 * max(sums.values()):
            continue  # systematically absent
        tth = float(units.d_to_tth(d=a / np.sqrt(n), wavelength=wavelength))
        out.append((tth, intensity))
    return out


def ring_profile(tth: np.ndarray, centre: float, wavelength: float = WAVELENGTH_A,
                 domain_a: float = DOMAIN_A) -> np.ndarray:
    """Unit-area pseudo-Voigt (per degree) of a ring at ``centre`` (2θ degrees): Caglioti instrumental FWHM and
    Scherrer size broadening of ``domain_a`` (Å) added in quadrature, Lorentzian fraction ETA."""
    theta = np.radians(centre / 2)
    u, v, w = CAGLIOTI_DEG2
    inst = np.sqrt(u * np.tan(theta) ** 2 + v * np.tan(theta) + w)
    size = np.degrees(0.9 * wavelength / (domain_a * np.cos(theta)))  # Scherrer, radians -> deg
    fwhm = np.hypot(inst, size)
    dx = (tth - centre) / fwhm
    gauss = np.sqrt(4 * np.log(2) / np.pi) / fwhm * np.exp(-4 * np.log(2) * dx**2)
    lorentzian = 2 / (np.pi * fwhm) / (1 + 4 * dx**2)
    return ETA * lorentzian + (1 - ETA) * gauss


def pattern(tth: np.ndarray, tth_max: float, phases: tuple[tuple[dict, float], ...] = ((DRS, 1.0), (CU, CU_FRACTION)),
            wavelength: float = WAVELENGTH_A, domain_a: float = DOMAIN_A) -> np.ndarray:
    """Intensity per solid angle (no polarization) at 2θ (degrees); the strongest ring of the first phase peaks
    at 1. ``phases``: (phase, fraction) pairs; a phase's strongest ring has ``fraction`` of the integrated
    intensity of the first phase's strongest ring. ``domain_a``: crystallite size (Å) of the rings' Scherrer
    width."""
    total = np.zeros_like(tth)
    strongest = None
    for phase, fraction in phases:
        refl = [(t, i / (np.sin(np.radians(t / 2)) ** 2 * np.cos(np.radians(t / 2))))  # Lorentz factor
                for t, i in reflections(phase, tth_max + 1.0, wavelength)]
        top = max(i for _, i in refl)
        strongest = top if strongest is None else strongest
        scale = fraction * strongest / top  # Cu: its strongest ring has 5 % of the strongest DRS ring's area
        for centre, intensity in refl:
            total += scale * intensity * ring_profile(tth, centre, wavelength, domain_a)  # unit-area pseudo-Voigt
    return total / total.max()


def background(tth: np.ndarray) -> np.ndarray:
    """Smooth air/amorphous scattering per solid angle, relative to the strongest ring."""
    return 0.01 + 0.015 * np.exp(-(((tth - 3.5) / 2.5) ** 2))


def integrator(geometry: dict = GEOMETRY, wavelength: float = WAVELENGTH_A, oversample: int = 1):
    """pyFAI integrator of the simulated 512 x 512, 200 µm-pixel detector at ``geometry`` (pyFAI names, m/rad);
    ``oversample`` k > 1 splits each pixel into k x k sub-pixels (same physical detector)."""
    from pyFAI.detectors import Detector
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    pixel, shape = PIXEL_M / oversample, (SHAPE[0] * oversample, SHAPE[1] * oversample)
    return AzimuthalIntegrator(detector=Detector(pixel, pixel, max_shape=shape), wavelength=wavelength * 1e-10,
                               **geometry)


def beamstop(geometry: dict = GEOMETRY) -> np.ndarray:
    """Shadow of the beam stop (disc of 14 px radius around the PONI) and its arm (to the top edge)."""
    rows, cols = np.indices(SHAPE)
    r0, c0 = geometry["poni1"] / PIXEL_M - 0.5, geometry["poni2"] / PIXEL_M - 0.5
    disc = (rows - r0) ** 2 + (cols - c0) ** 2 < 14**2
    arm = (np.abs(cols - c0) < 4) & (rows < r0)
    return disc | arm


def render(ai, profile, rng: np.random.Generator, *, peak_counts: float = PEAK_COUNTS,
           geometry: dict = GEOMETRY) -> tuple[np.ndarray, np.ndarray]:
    """(Poisson counts int32, beam-stop mask) of ``profile(2θ degrees, 2θ max)`` (intensity per solid angle,
    peak 1) times pyFAI's polarization (POLARIZATION) and relative solid angle; the beam stop transmits 2 %.
    An oversampled ``ai`` (see :func:`integrator`) is averaged over each pixel's sub-pixels."""
    shape = tuple(ai.detector.max_shape)
    tth = np.degrees(ai.center_array(shape, unit="2th_rad", scale=False))
    ideal = profile(tth, float(tth.max())) * ai.polarization(shape, factor=POLARIZATION)
    ideal *= ai.solidAngleArray(shape) * peak_counts
    k = shape[0] // SHAPE[0]
    if k > 1:
        ideal = ideal.reshape(SHAPE[0], k, SHAPE[1], k).mean(axis=(1, 3))
    shadow = beamstop(geometry)
    ideal = np.where(shadow, 0.02 * ideal, ideal)
    return rng.poisson(ideal).astype(np.int32), shadow


def simulate() -> tuple[np.ndarray, np.ndarray]:
    """(counts image int32, mask bool)."""
    rng = np.random.default_rng(SEED)
    counts, shadow = render(integrator(), lambda tth, tth_max: pattern(tth, tth_max) + background(tth), rng)
    hot = rng.choice(counts.size, size=25, replace=False)
    counts.flat[hot] = 2**20
    mask = shadow.copy()
    mask.flat[hot] = True
    return counts, mask


def poni_text(geometry: dict = GEOMETRY, wavelength: float = WAVELENGTH_A,
              comment: str = "Simulated example geometry written by make_example_data.py") -> str:
    """PONI file text (pyFAI 2.1) of the simulated detector at ``geometry``."""
    g = geometry
    return (f"# {comment}\nponi_version: 2.1\n"
            f'Detector: Detector\nDetector_config: {{"pixel1": {PIXEL_M}, "pixel2": {PIXEL_M}, '
            f'"max_shape": [{SHAPE[0]}, {SHAPE[1]}], "orientation": 3}}\n'
            f"Distance: {g['dist']}\nPoni1: {g['poni1']}\nPoni2: {g['poni2']}\nRot1: {g['rot1']}\n"
            f"Rot2: {g['rot2']}\nRot3: {g['rot3']}\nWavelength: {wavelength * 1e-10}\n")


def cu_cif_text() -> str:
    """The Cu phase as a CIF for the demo's Rietveld step: a start 0.14 % off the simulated a = 3.615 Å and the
    simulated B = 0.6 Å² as Uiso = B/8π² rounded to 0.008 Å² (the fit refines both)."""
    return "\n".join([
        "data_cu", "_symmetry_space_group_name_H-M 'F m -3 m'", "_symmetry_Int_Tables_number 225",
        *(f"_cell_length_{k} 3.620" for k in "abc"), *(f"_cell_angle_{k} 90" for k in ("alpha", "beta", "gamma")),
        "loop_", "_atom_site_label", "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y",
        "_atom_site_fract_z", "_atom_site_occupancy", "_atom_site_U_iso_or_equiv", "Cu1 Cu 0 0 0 1.0 0.008", ""])


def main(folder: Path = HERE) -> None:
    """Write the image, PONI, mask and cu.cif into ``folder`` (default: beside this script)."""
    from fabio.tifimage import TifImage

    folder = Path(folder)
    counts, mask = simulate()
    TifImage(data=counts).write(str(folder / f"{STEM}.tif"))
    (folder / f"{STEM}.poni").write_text(poni_text())
    (folder / "cu.cif").write_text(cu_cif_text())
    np.save(folder / f"{STEM}_mask.npy", mask)
    print(f"wrote {STEM}.tif, {STEM}.poni, {STEM}_mask.npy, cu.cif in {folder} ({int(mask.sum())} masked pixels)")


if __name__ == "__main__":
    main()
