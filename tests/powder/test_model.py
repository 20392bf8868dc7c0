"""The whole-pattern model refuses what cannot be fitted and drops points it cannot weight (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

from refine.data import Pattern
from refine.errors import InputError
from refine.examples import example_path
from refine.instrument import Instrument
from refine.io.structures import read_structure, structure_from_cell
from refine.powder.joint import HistogramOptions, JointModel
from refine.powder.model import PowderModel
from refine.powder.rietveld import RietveldOptions

CIF = example_path("drs_rocksalt.cif")


def _pattern(sigma: np.ndarray | None = None, source: str = "p.xye") -> Pattern:
    x = np.arange(2.0, 8.0, 0.01)
    return Pattern.from_arrays(x, 100.0 + x, np.ones_like(x) if sigma is None else sigma, sigma_source="file",
                               wavelength=0.1173, metadata={"source": source})


def test_points_with_sigma_le_0_leave_the_fit_and_weigh_nothing():
    sigma = np.ones(600)
    sigma[[10, 11, 300]] = (0.0, -2.0, np.nan)
    model = PowderModel(_pattern(sigma), [structure_from_cell("Fm-3m", "4.642 4.642 4.642 90 90 90")],
                        Instrument.synchrotron(0.1173))
    assert model.mask.sum() == 597 and not model.mask[[10, 11, 300]].any()
    assert np.all(model.weights[[10, 11, 300]] == 0) and np.all(np.isfinite(model.weights))
    assert model.notes == ("3 point(s) with σ ≤ 0 or a value not a number between 2θ 2.1 and 5 dropped from the "
                           "fit",)


def test_joint_datasets_carry_their_patterns_notes():
    sigma = np.ones(600)
    sigma[50] = 0.0
    structure = read_structure(CIF)
    joint = JointModel([_pattern(), _pattern(sigma, "n.xye")], [structure], [Instrument.synchrotron(0.1173)] * 2,
                       [HistogramOptions("x_"), HistogramOptions("n_")], RietveldOptions())
    first, second = joint.datasets()
    assert first.notes == () and second.notes[0].startswith("1 point(s) with σ ≤ 0")
    assert second.npoints == 599


def test_a_phase_without_a_reflection_in_range_or_with_too_many_is_named():
    phase = structure_from_cell("Fm-3m", "4.642 4.642 4.642 90 90 90", name="drs")
    with pytest.raises(InputError, match=r"^phase drs: no reflection in the fit range 2θ 2-7\.99° at λ = 100 Å"):
        PowderModel(_pattern(), [phase], Instrument.synchrotron(100.0))
    big = structure_from_cell("P1", "1e5 1e5 10 90 90 90", name="huge")
    with pytest.raises(InputError, match=r"^phase huge: about .* reflections .*more than 2e\+06"):
        PowderModel(_pattern(), [big], Instrument.synchrotron(0.1173))


def test_peak_curve_equals_the_peak_matrix_product():
    from refine.instrument import Profile
    from refine.powder.background import Background
    from refine.powder.model import PowderOptions

    rng = np.random.default_rng(3)
    x = np.arange(10.0, 60.0, 0.01)
    pattern = Pattern(x=x, y=np.ones_like(x), sigma=np.ones_like(x))
    phase = structure_from_cell("F m -3 m", "5.4 5.4 5.4 90 90 90")
    inst = Instrument.lab("Cu", profile=Profile(U=2.0, V=-0.5, W=1.0, X=1.0, Y=2.0, sh_l=0.03))
    model = PowderModel(pattern, [phase], inst, options=PowderOptions(background=Background("chebyshev", nterms=3)))
    params = model.parameters()
    layout = model.layout(params)
    inten = rng.uniform(0.5, 2.0, int(model.offsets[-1]))
    ref = model.peak_matrix(params, layout).T @ inten
    assert np.allclose(model.peak_curve(params, inten, layout), ref, rtol=1e-12, atol=1e-12 * ref.max())
