"""Synthetic lab Mo Kα patterns of phase mixtures drawn from a library of CIFs, with known truth (search–match tests
and benchmarks/bench_identify.py).

The library: the COD structures the ``crystals`` package ships (GPL: a test extra only) and, when present,
../shared/data/cif. A draw takes 2 or 3 phases, never two of one structure type within 3 % in cell, each with an
isotropic strain up to ±1 % and a weight fraction of at least 10 %; the pattern is refine's Rietveld model of the
mixture (Hill & Howard scales S_i ∝ W_i/(ZMV)_i) on a curved background, with Poisson noise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refine.crystal.lattice import Lattice
from refine.data import Pattern
from refine.errors import InputError
from refine.instrument import Instrument, Profile
from refine.io.structures import read_structure
from refine.powder.calculated import calculated_peaks
from refine.powder.phase_index import PhaseIndex
from refine.powder.quantitative import zmv
from refine.powder.search_match import same_type

#: A lab Mo tube diffractometer (Kα1/Kα2, Bragg–Brentano, a typical GSAS profile).
MO_LAB = Instrument(radiation="xray", wavelength=0.709300, wavelength2=0.713590, ka2_ratio=0.5, polarization=0.5,
                    geometry="bragg_brentano", profile=Profile(U=2.0, V=-2.0, W=4.0, X=0.5, Y=2.0, sh_l=0.002),
                    source="test:Mo")
TWO_THETA = np.arange(5.0, 50.0, 0.01)


@dataclass(frozen=True, eq=False)
class Mixture:
    """A drawn case: the pattern and the truth."""

    pattern: Pattern
    names: tuple[str, ...]
    weight_fractions: tuple[float, ...]
    strains: tuple[float, ...]


def make_library(folder: Path, shared_cif: Path | None = None) -> Path:
    """Links to the crystals package's CIFs (and ../shared/data/cif) in ``folder``."""
    import crystals

    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((Path(crystals.__file__).parent / "cifs").glob("*.cif"))
    if shared_cif is not None and shared_cif.is_dir():
        sources += sorted(shared_cif.glob("*.cif"))
    for source in sources:
        target = folder / source.name
        if not target.exists():
            os.symlink(source, target)
    return folder


def _peaks(structure) -> np.ndarray:
    try:
        return calculated_peaks(TWO_THETA, [structure], MO_LAB)
    except InputError:  # Chantler has no f', f'' beyond U
        return calculated_peaks(TWO_THETA, [structure], MO_LAB, dispersion=False)


def draw(index: PhaseIndex, rng: np.random.Generator, n_phases: int, *, peak_counts: float = 20000.0) -> Mixture:
    """A mixture of ``n_phases`` distinct structure types from the index, simulated with noise."""
    while True:
        picks = rng.choice(len(index), n_phases, replace=False)
        entries = [index.entries[i] for i in picks]
        if not any(same_type(a, b) for k, a in enumerate(entries) for b in entries[k + 1:]):
            break
    fractions = 0.1 + (1 - 0.1 * n_phases) * rng.dirichlet(np.ones(n_phases))
    strains = rng.uniform(-0.01, 0.01, n_phases)
    y = np.zeros_like(TWO_THETA)
    for entry, fraction, strain in zip(entries, fractions, strains, strict=True):
        structure = read_structure(entry.path)
        lat, s = structure.lattice, 1 + strain
        structure = structure.replace(lattice=Lattice(lat.a * s, lat.b * s, lat.c * s, lat.alpha, lat.beta,
                                                      lat.gamma))
        y += fraction / zmv(structure) * _peaks(structure)
    background = 300.0 + 150.0 * np.exp(-(TWO_THETA - 5.0) / 8.0)
    counts = rng.poisson(y / y.max() * peak_counts + background).astype(float)
    pattern = Pattern(x=TWO_THETA, y=counts, sigma=np.sqrt(np.maximum(counts, 1.0)), sigma_source="poisson",
                      radiation="xray", wavelength=MO_LAB.wavelength)
    return Mixture(pattern=pattern, names=tuple(e.name for e in entries),
                   weight_fractions=tuple(float(f) for f in fractions), strains=tuple(float(s) for s in strains))
