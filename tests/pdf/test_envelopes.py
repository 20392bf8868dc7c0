"""Particle envelopes against their geometric definitions (overlap of a shape with its displaced copy)."""

from __future__ import annotations

import numpy as np
import pytest

from refine.errors import UnknownNameError
from refine.pdf.envelopes import qdamp_envelope, shape_envelope, sheet_envelope, sphere_envelope


def test_sphere_is_the_normalised_lens_volume():
    d = 40.0
    R = d / 2
    r = np.linspace(0, 45, 91)
    lens = np.where(r < d, np.pi * (4 * R + r) * (2 * R - r) ** 2 / 12, 0.0)  # overlap of two spheres
    np.testing.assert_allclose(sphere_envelope(r, d), lens / (4 / 3 * np.pi * R**3), atol=1e-12)


def test_sheet_is_the_orientation_averaged_slab_overlap():
    t = 12.0
    cos = (np.arange(20000) + 0.5) / 20000  # midpoint rule over |cos(theta)| in [0, 1]
    for r in (0.5, 6.0, 11.9, 12.1, 30.0):
        overlap = np.mean(np.clip(1 - r * cos / t, 0, None))
        assert sheet_envelope(np.array([r]), t)[0] == pytest.approx(overlap, abs=1e-6)


def test_products_switches_and_unknown_names():
    r = np.linspace(0, 50, 11)
    both = shape_envelope(r, (("sphere", 30.0), ("stepcut", 20.0)))
    np.testing.assert_allclose(both, sphere_envelope(r, 30.0) * (r <= 20.0))
    np.testing.assert_array_equal(shape_envelope(r, (("sphere", 0.0),)), np.ones_like(r))
    np.testing.assert_allclose(qdamp_envelope(r, 0.05), np.exp(-((0.05 * r) ** 2) / 2))
    with pytest.raises(UnknownNameError):
        shape_envelope(r, (("cube", 10.0),))
