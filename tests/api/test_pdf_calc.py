"""``refine.pdf_calc``: the typed frozen result, its files (.gr with r and G only, partials CSV, figure) and the
option checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import refine
from refine.errors import InputError
from refine.examples import EXAMPLE_DATA
from refine.io import read_pattern

SUPERCELL = EXAMPLE_DATA / "drs_supercell.cif"


def test_result_files_and_to_dict(tmp_path):
    out = tmp_path / "sc.gr"
    res = refine.pdf_calc(SUPERCELL, qmax=22.0, qdamp=0.04, delta2=2.0, rmax=12.0, output=out,
                          plot=tmp_path / "sc.png")
    assert set(res.partials) == {"Na-Na", "Na-O", "Na-V", "O-O", "O-V", "V-V"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.G = None
    with pytest.raises(ValueError):
        res.G[0] = 1.0  # read-only arrays
    gr = read_pattern(out)
    np.testing.assert_allclose(gr.x, res.r, atol=1e-9)
    np.testing.assert_allclose(gr.y, res.G, rtol=1e-9, atol=1e-12)
    assert not gr.has_sigma  # r and G only: a third column would be read as dG
    table = np.loadtxt(tmp_path / "sc.partials.csv", delimiter=",", skiprows=1)
    header = (tmp_path / "sc.partials.csv").read_text().splitlines()[0].split(",")
    assert header == ["r", *res.partials]
    np.testing.assert_allclose(table[:, 1:].sum(axis=1), res.G, atol=1e-8 * np.abs(res.G).max())
    assert (tmp_path / "sc.png").stat().st_size > 10_000
    d = res.to_dict()
    assert d["kind"] == "pdf_calc" and d["natoms"] == 64 and d["frames"] == 1 and len(d["G"]) == len(res.r)
    assert d["settings"]["qmax"] == 22.0 and [str(out), str(tmp_path / "sc.partials.csv"),
                                             str(tmp_path / "sc.png")] == d["written"]


def test_sphere_envelope_damps_g():
    bulk = refine.pdf_calc(SUPERCELL, qmax=22.0, rmin=1.0, rmax=20.0)
    sphere = refine.pdf_calc(SUPERCELL, qmax=22.0, rmin=1.0, rmax=20.0, envelope="sphere", spdiameter=15.0)
    tail = bulk.r > 16.0
    assert np.abs(sphere.G[tail]).max() < 0.05 * np.abs(bulk.G[tail]).max()  # 1 - 3x/2 + x³/2 -> 0 at D = 15 Å


@pytest.mark.parametrize(("options", "name"), [
    ({"spdiameter": 30.0}, "spdiameter"), ({"envelope": "sphere"}, "spdiameter"), ({"frames": "0:2"}, "frames"),
    ({"uiso": -0.1}, "uiso"), ({"rmin": 5.0, "rmax": 2.0}, "rmax"), ({"radiation": "electron"}, "radiation"),
    ({"bogus": 1}, "bogus")])
def test_bad_options(options, name):
    with pytest.raises(InputError) as err:
        refine.pdf_calc(SUPERCELL, **options)
    assert err.value.source == name
