"""refine.powder.rietveld_stages: the refine groups a user names, and the order of a staged Rietveld refinement
(scales, then cell/zero, then profile, then positions, then ADPs), on the NASICON structure."""

import numpy as np
import pytest

from refine.errors import InputError
from refine.instrument import Instrument
from refine.io.structures import read_structure
from refine.powder.model import PowderModel
from refine.powder.rietveld import RietveldEngine, RietveldOptions
from refine.powder.rietveld_stages import mark_refined, staged
from tests.conftest import data_file
from tests.powder.synthetic import simulate


@pytest.fixture(scope="module")
def engine():
    structure = read_structure(data_file("Na3V2PO43_NASICON.cif")).replace(name="nvp")
    x = np.arange(8.0, 30.0, 0.01)
    pattern = simulate(np.array([12.0]), np.array([1.0]), x, wavelength=0.72,
                       profile={"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.002}, counts=1000,
                       background=10, seed=3)
    return RietveldEngine(PowderModel(pattern, [structure], Instrument.synchrotron(0.72)), RietveldOptions())


def test_groups_set_vary_on_their_parameters_only(engine):
    params = mark_refined(engine.parameters(), engine, ["scale", "cell", "positions"])
    varied = {n for n, p in params.items() if p.vary}
    positions = {n for a in engine.atoms for n in a.free_names("positions")}
    assert positions and positions <= varied
    assert "nvp_scale" in varied and {"nvp_a", "nvp_c"} <= varied
    assert not any(n.endswith("_uiso") for n in varied)  # adp not asked for


def test_stages_nest_in_the_order_a_user_refines(engine):
    params = mark_refined(engine.parameters(), engine, ["scale", "cell", "zero", "W", "positions", "adp"])
    varied = {n for n, p in params.items() if p.vary}
    stages = staged(varied, engine)
    assert len(stages) == 5 and stages[0] == {"nvp_scale"}
    assert all(a < b for a, b in zip(stages, stages[1:], strict=False)) and stages[-1] == varied  # nested
    new = [b - a for a, b in zip([set(), *stages], stages, strict=False)]
    assert {"nvp_a", "nvp_c", "zero"} <= new[1] and "W" in new[2]
    assert all(n.endswith(("_x", "_y", "_z")) for n in new[3]) and all("uiso" in n for n in new[4])


def test_unknown_group_names_the_known_ones(engine):
    with pytest.raises(InputError, match="unknown parameter or group 'shape'; groups: scale, background"):
        mark_refined(engine.parameters(), engine, ["shape"])
