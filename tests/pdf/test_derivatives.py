"""Analytic derivatives of G(r) against central finite differences of calc_gr (the exact path)."""

from __future__ import annotations

import numpy as np
import pytest

from refine.errors import InputError
from refine.pdf import kernels
from refine.pdf.calculate import PDFSettings, calc_gr
from refine.pdf.derivatives import gr_derivatives
from refine.pdf.pairs import PairTable
from refine.pdf.structure import PDFStructure

R = np.round(np.arange(100, 1001) * 0.01, 10)


def _drs() -> PDFStructure:
    xyz, el, occ = [], [], []
    for f in [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]:
        xyz += [f, f, tuple(np.mod(np.add(f, 0.5), 1.0))]
        el += ["Na", "V", "O"]
        occ += [0.6, 0.4, 1.0]
    return PDFStructure(lattice=(4.64,) * 3 + (90.0,) * 3, xyz=xyz, elements=tuple(el), occupancy=occ,
                        u=[0.01] * 12, name="DRS")


def _rattled() -> PDFStructure:
    """A 2x2x2 rock-salt supercell with 0.05 Å random displacements: thousands of distinct distances."""
    rng = np.random.default_rng(7)
    fcc = np.array([(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)])
    cat = np.vstack([(fcc + s) / 2 for s in np.ndindex(2, 2, 2)])
    xyz = np.vstack([cat, np.mod(cat + 0.25, 1.0)])
    el = tuple(["Na"] * 20 + ["V"] * 12 + ["O"] * 32)
    xyz = xyz + rng.normal(0, 0.05, xyz.shape) / 9.2
    return PDFStructure(lattice=(9.2,) * 3 + (90.0,) * 3, xyz=xyz, elements=el, occupancy=np.ones(64),
                        u=[0.005] * 64, name="rattled")


SETTINGS = PDFSettings(scale=0.8, delta1=0.3, delta2=2.0, qdamp=0.04, qbroad=0.01, qmax=25.0, lattice_scale=1.003,
                       spdiameter=40.0, sratio=0.9, rcut=2.5)


def _finite_difference(table: PairTable, s: PDFSettings, name: str, monkeypatch) -> np.ndarray:
    """Central difference (step 1e-7 relative) of calc_gr with every peak's 5-sigma window frozen at the central
    point: PDFfit2's truncation makes G jump by ~4e-6 of a peak when a window edge passes a grid point, which no
    derivative sees and which would swamp a finite difference of a few thousand peaks."""
    if name.startswith("uiso:"):
        c = name[5:]
        v = s.uiso[c]

        def at(x):
            return s.replace(uiso={**s.uiso, c: x})
    else:
        v = getattr(s, name)

        def at(x):
            return s.replace(**{name: x})
    frozen: list = []
    original = kernels.windows

    def windows(n, r0, dr, d, sigma):
        if not frozen:
            frozen.append(original(n, r0, dr, d, sigma))
        assert len(frozen[0][0]) == len(d), "a peak entered or left the calculation range"
        return frozen[0]

    monkeypatch.setattr(kernels, "windows", windows)
    calc_gr(table, R, at(v), backend="numpy")  # records the central windows
    h = 1e-7 * max(abs(v), 1e-2)
    out = (calc_gr(table, R, at(v + h), backend="numpy") - calc_gr(table, R, at(v - h), backend="numpy")) / (2 * h)
    monkeypatch.setattr(kernels, "windows", original)
    return out


@pytest.mark.parametrize(("structure", "classes", "backend", "resolution"),
                         [(_drs, None, "numpy", 1e-3), (_rattled, "species", "numba", 1e-3),
                          (_rattled, "species", "numpy", 1e-3), (_rattled, "species", "numpy", 1e-2)])
def test_derivatives_match_central_differences(structure, classes, backend, resolution, monkeypatch):
    """Also with coarse merging (0.01 Å bins), where the merged entries' distance spread, which scales with the
    lattice, is a sizeable part of sigma² and of its lattice_scale derivative."""
    s0 = structure()
    labels = s0.elements if classes == "species" else None
    table = PairTable.build(s0, R[-1], qmax=25.0, classes=labels, resolution=resolution)
    if resolution > 1e-3:
        assert np.max(table.spread) > 1e-6  # the spread term is exercised
    s = SETTINGS.replace(uiso={"Na": 0.011, "V": 0.004, "O": 0.009})
    wrt = ["scale", "lattice_scale", "delta1", "delta2", "qbroad", "qdamp", "spdiameter", "uiso:Na", "uiso:V",
           "uiso:O"]
    g, der = gr_derivatives(table, R, s, wrt, backend=backend)
    assert np.max(np.abs(g - calc_gr(table, R, s))) <= 1e-12 * np.max(np.abs(g))  # same G in the same pass
    for name in wrt:
        fd = _finite_difference(table, s, name, monkeypatch)
        err = np.max(np.abs(der[name] - fd)) / np.max(np.abs(fd))
        assert err < 1e-6, (name, err)


def test_unknown_derivative_is_an_input_error():
    table = PairTable.build(_drs(), R[-1], qmax=25.0)
    with pytest.raises(InputError, match="with respect to"):
        gr_derivatives(table, R, SETTINGS, ["uiso:Cl"])
    with pytest.raises(InputError, match="spdiameter"):
        gr_derivatives(table, R, SETTINGS.replace(spdiameter=0.0), ["spdiameter"])
