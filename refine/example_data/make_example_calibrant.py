"""Write a simulated CeO2 calibrant image with a known geometry, its true PONI and a beam-stop mask.

    python refine/example_data/make_example_calibrant.py OUT_DIR
    python -m refine.example_data.make_example_calibrant OUT_DIR   # the same, from an installed refine

Seeded and deterministic (only the TIFF header time stamp changes between runs). The geometry is the one of the
bundled DRS example (make_example_data.py: λ = 0.1173 Å, 512 x 512 detector of 200 µm pixels, 0.35 m, small tilts):
this is the calibrant image a user would have calibrated to obtain ``drs_na3v2o5_cu.poni``. Model (the truth):

* CeO2 (NIST SRM 674b cell of pyFAI's ``CeO2`` calibrant): Fm-3m, a = 5.411651 Å, Ce on 4a, O on 8c,
  B_iso = 0.5 Å²; ring intensities m|F|² e^{-2Bs²} with the Debye-Scherrer Lorentz factor; pseudo-Voigt rings with
  the example's Caglioti instrumental width and 200 nm crystallites (instrument-limited rings);
* computed on 3 x 3 sub-pixels and averaged (the rings are narrower than a pixel), then pyFAI's polarization
  (0.99) and relative solid angle, the example's air-scatter background, Poisson counts (strongest ring about
  20 000 counts); the beam stop (disc + arm) transmits 2 % and is masked in ``ceo2_mask.npy``.

Calibrate it with, e.g., a start 5 % off in distance and a few pixels off in centre::

    refine calibrate OUT_DIR/ceo2.tif --calibrant CeO2 --wavelength 0.1173 --distance 367.5 --center 255,244 \\
        --pixel-size 200 --mask OUT_DIR/ceo2_mask.npy -o calibrated.poni

and compare with ``OUT_DIR/ceo2_true.poni``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from refine.example_data import make_example_data as base

SEED = 20261203
#: pyFAI's CeO2 calibrant cell (NIST SRM 674b), Å.
A_CEO2 = 5.411651
CEO2 = {"a": A_CEO2, "B": 0.5,
        "sites": (("Ce", 1.0, (0, 0, 0)), ("O", 1.0, (0.25, 0.25, 0.25)), ("O", 1.0, (0.75, 0.75, 0.75)))}
DOMAIN_A = 2000.0  # crystallite size of the calibrant (Å): rings at the instrumental width
OVERSAMPLE = 3
#: The true geometry (pyFAI names; metres and radians): the bundled example's.
GEOMETRY = dict(base.GEOMETRY)
WAVELENGTH_A = base.WAVELENGTH_A


def profile(tth: np.ndarray, tth_max: float) -> np.ndarray:
    """CeO2 rings (strongest peaks at 1) plus the example's air-scatter background, per solid angle."""
    rings = base.pattern(tth, tth_max, phases=((CEO2, 1.0),), wavelength=WAVELENGTH_A, domain_a=DOMAIN_A)
    return rings + base.background(tth)


def simulate() -> tuple[np.ndarray, np.ndarray]:
    """(counts image int32, beam-stop mask bool)."""
    rng = np.random.default_rng(SEED)
    ai = base.integrator(GEOMETRY, WAVELENGTH_A, oversample=OVERSAMPLE)
    return base.render(ai, profile, rng, geometry=GEOMETRY)


def make(folder: str | Path) -> dict[str, Path]:
    """Write ``ceo2.tif`` (fabio TIFF, int32 counts), ``ceo2_true.poni`` and ``ceo2_mask.npy`` into ``folder``.

    Returns
    -------
    dict
        ``{"image": ..., "poni": ..., "mask": ...}`` paths.
    """
    from fabio.tifimage import TifImage

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts, mask = simulate()
    paths = {"image": folder / "ceo2.tif", "poni": folder / "ceo2_true.poni", "mask": folder / "ceo2_mask.npy"}
    TifImage(data=counts).write(str(paths["image"]))
    paths["poni"].write_text(base.poni_text(GEOMETRY, WAVELENGTH_A,
                                            comment="True geometry of the simulated CeO2 image "
                                                    "(make_example_calibrant.py)"))
    np.save(paths["mask"], mask)
    return paths


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python make_example_calibrant.py OUT_DIR")
    for kind, path in make(args[0]).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
