"""Acceptance: the Dioptas CeO2 Pilatus 1M pattern, reproduced from its image and PONI.

Settings from ../shared/data/images_2d/dioptas_CeO2_Pilatus1M/README.md: rows flipped up-down, 1512 bins,
2th_deg, bounding-box splitting, solid angle on, polarization 0.99, no mask, dark or flat.
"""

from __future__ import annotations

import numpy as np

from refine.integrate import IntegrationSettings, Integrator
from refine.io.images import iter_frames
from tests.conftest import shared_path

FOLDER = ("images_2d", "dioptas_CeO2_Pilatus1M")
SETTINGS = IntegrationSettings(npt=1512, unit="2th_deg", method=("bbox", "histogram", "cython"),
                               polarization_factor=0.99, solid_angle=True, flip="ud", error_model=None)


def reference() -> np.ndarray:
    return np.loadtxt(shared_path(*FOLDER, "CeO2_Pilatus1M.xy"))


def check_against_reference(x: np.ndarray, y: np.ndarray) -> None:
    ref = reference()
    assert x.shape == ref[:, 0].shape
    np.testing.assert_allclose(x, ref[:, 0], rtol=1e-6)
    strong = ref[:, 1] > 5
    assert strong.sum() > 1400
    np.testing.assert_allclose(y[strong], ref[strong, 1], rtol=1e-3)


def test_ceo2_pilatus_reproduces_dioptas():
    integrator = Integrator(shared_path(*FOLDER, "CeO2_Pilatus1M.poni"), SETTINGS)
    (_, image), = list(iter_frames(shared_path(*FOLDER, "CeO2_Pilatus1M.tif")))
    pattern = integrator.integrate(image)
    check_against_reference(pattern.x, pattern.y)
    assert pattern.corrections == {"polarization", "solid_angle"}
    assert pattern.wavelength == 0.4066


def test_csr_engine_gives_the_same_pattern():
    # The default sparse-matrix engine with the same (bbox) splitting is the same estimator as the histogram.
    integrator = Integrator(shared_path(*FOLDER, "CeO2_Pilatus1M.poni"),
                            IntegrationSettings(npt=1512, method="bbox,csr,cython", polarization_factor=0.99,
                                                flip="ud"))
    (_, image), = list(iter_frames(shared_path(*FOLDER, "CeO2_Pilatus1M.tif")))
    pattern = integrator.integrate(image)
    check_against_reference(pattern.x, pattern.y)
