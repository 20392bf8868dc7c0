"""Structure factors and powder line intensities of a crystal structure.

F(h) = Σ_j occ_j f_j(s) T_j(h) exp(2πi h·x_j) over every atom of the cell (``CrystalStructure.expand``, which
merges special-position images), with f_j = f0 + f′ + i f″ (X-ray, electrons) or b_c (neutron, fm) from a
:class:`~refine.crystal.scattering.ScatteringTable` and s = sinθ/λ = 1/(2d).

Debye-Waller factor: T_j(h) = exp(-2π² hᵀ N U_j N h) with the CIF U^ij and N = diag(a*, b*, c*) (Trueblood
et al. 1996, Acta Cryst. A52, 770); for an isotropic atom this is exp(-8π² U s²). Atoms without a U (NaN,
e.g. a CIF without displacement parameters) get U = 0, as in pymatgen's calculator.

Powder line: the reflections hR of the point group have one |F| (an operation of the space group only
re-labels the atoms), but with anomalous scattering a Friedel mate -h of a non-centrosymmetric structure does
not: the line holds the orbits of h and -h in equal numbers, so its intensity is multiplicity·(|F(h)|² +
|F(-h)|²)/2 (International Tables vol. C, 6.1.1.4; the Bijvoet-pair average).

Preparing a :class:`StructureFactorModel` evaluates the form factors once per line; each later call with
changed positions, occupancies or U costs two (lines × atoms) matrix products and the exponentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refine.crystal.reflections import ReflectionList
from refine.crystal.scattering import ScatteringTable, parse_species, species_name
from refine.crystal.structure import CrystalStructure, ExpandedAtoms
from refine.errors import InputError

# Upper-triangle index pairs of a symmetric 3x3 tensor, and their weights in hᵀ B h.
_PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
_PAIR_WEIGHT = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])


def scattering_table(structure: CrystalStructure, *, radiation: str = "xray", wavelength: float | None = None,
                     dispersion: bool = True, ions: bool = True) -> ScatteringTable:
    """A :class:`ScatteringTable` for the distinct species of ``structure``'s sites (see ``ScatteringTable.build``)."""
    names: list[str] = []
    for site in structure.sites:
        name = species_name(*parse_species(site.element, source=f"site {site.label}"))
        if name not in names:
            names.append(name)
    return ScatteringTable.build(names, radiation=radiation, wavelength=wavelength, dispersion=dispersion, ions=ions)


@dataclass(frozen=True, eq=False)
class StructureFactorModel:
    """Structure factors of one phase over one reflection list, with the form factors precomputed.

    Attributes
    ----------
    reflections
        The powder lines.
    table
        Scattering of the phase's species.
    factors
        Complex scattering factor per line and species, shape (n_lines, n_species).
    """

    reflections: ReflectionList
    table: ScatteringTable
    factors: np.ndarray = field(repr=False)
    _hh: np.ndarray = field(repr=False)
    _ihkl: np.ndarray = field(repr=False)

    @classmethod
    def prepare(cls, reflections: ReflectionList, table: ScatteringTable) -> StructureFactorModel:
        """Evaluate the form factors of ``table`` at every line's s = 1/(2d)."""
        hkl = reflections.hkl
        hh = np.stack([hkl[:, i] * hkl[:, j] for i, j in _PAIRS], axis=1) * _PAIR_WEIGHT
        factors = table.evaluate(0.5 / reflections.d)
        hh = hh.astype(float)
        for arr in (hh, factors):
            arr.setflags(write=False)
        return cls(reflections=reflections, table=table, factors=factors, _hh=hh, _ihkl=hkl)

    def with_reflections(self, reflections: ReflectionList) -> StructureFactorModel:
        """The same table on another reflection list (e.g. after the cell changed)."""
        return StructureFactorModel.prepare(reflections, self.table)

    def _species_matrix(self, atoms: ExpandedAtoms) -> np.ndarray:
        """(n_atoms, n_species) 0/1 matrix assigning each atom to its species column."""
        columns: dict[str, int] = {}
        index = np.empty(len(atoms), dtype=int)
        for j, element in enumerate(atoms.elements):
            if element not in columns:
                columns[element] = self.table.index(element)
            index[j] = columns[element]
        out = np.zeros((len(atoms), len(self.table.species)))
        out[np.arange(len(atoms)), index] = 1.0
        return out

    def _phases(self, xyz: np.ndarray) -> np.ndarray:
        """exp(2πi h·x), shape (lines, atoms), as a product of per-axis tables exp(2πi h_k x_k).

        The tables hold every integer index once per atom, so only 3·(2 h_max + 1)·n_atoms complex exponentials
        are evaluated instead of one cosine and one sine per line and atom.
        """
        out = None
        for axis in range(3):
            idx = self._ihkl[:, axis]
            top = int(np.abs(idx).max(initial=0))
            table = np.exp((2j * np.pi) * np.outer(np.arange(-top, top + 1), xyz[:, axis]))
            term = table[idx + top]
            out = term if out is None else out * term
        return out

    def structure_factors(self, atoms: ExpandedAtoms, lattice_reciprocal_lengths: np.ndarray) -> tuple[
            np.ndarray, np.ndarray]:
        """(F(h), F(-h)) for each line's representative h, complex arrays (n_lines,).

        Parameters
        ----------
        atoms
            All atoms of the cell (``CrystalStructure.expand()``).
        lattice_reciprocal_lengths
            a*, b*, c* (Å⁻¹) of the cell, for the anisotropic Debye-Waller factor.
        """
        if len(atoms) == 0:
            zero = np.zeros(len(self.reflections), dtype=complex)
            return zero, zero.copy()
        nstar = np.asarray(lattice_reciprocal_lengths, dtype=float)
        u = np.nan_to_num(atoms.uaniso, nan=0.0)
        beta = 2.0 * np.pi**2 * u * np.outer(nstar, nstar)  # β_ij = 2π² a*_i a*_j U^ij
        beta6 = np.stack([beta[:, i, j] for i, j in _PAIRS], axis=1)  # (atoms, 6)
        weight = np.exp(-(self._hh @ beta6.T)) * atoms.occupancy  # (lines, atoms)
        summed = (weight * self._phases(atoms.xyz)) @ self._species_matrix(atoms)  # (lines, species)
        cos_part, sin_part = summed.real, summed.imag
        f_plus = np.sum(self.factors * (cos_part + 1j * sin_part), axis=1)
        f_minus = np.sum(self.factors * (cos_part - 1j * sin_part), axis=1)
        return f_plus, f_minus

    def squared(self, structure: CrystalStructure, atoms: ExpandedAtoms | None = None) -> np.ndarray:
        """Mean |F|² over each line's reflections (Friedel mates averaged), shape (n_lines,).

        ``atoms`` may be passed to skip re-expanding ``structure``.
        """
        atoms = structure.expand() if atoms is None else atoms
        f_plus, f_minus = self.structure_factors(atoms, structure.lattice.reciprocal_lengths)
        return 0.5 * (np.abs(f_plus) ** 2 + np.abs(f_minus) ** 2)

    def line_intensities(self, structure: CrystalStructure, atoms: ExpandedAtoms | None = None) -> np.ndarray:
        """Powder line intensities multiplicity·<|F|²> (electrons² or fm²), shape (n_lines,)."""
        return self.reflections.multiplicity * self.squared(structure, atoms)


def line_intensities(structure: CrystalStructure, reflections: ReflectionList, *, radiation: str = "xray",
                     wavelength: float | None = None, dispersion: bool = True, ions: bool = True) -> np.ndarray:
    """multiplicity·<|F|²> of each line of ``reflections`` for ``structure`` (one-off; see StructureFactorModel).

    Raises
    ------
    InputError
        Unknown element, or X-ray dispersion requested without a wavelength.
    """
    if len(structure.sites) == 0:
        raise InputError(structure.name, "the phase has no atoms: structure factors need a structure")
    table = scattering_table(structure, radiation=radiation, wavelength=wavelength, dispersion=dispersion, ions=ions)
    return StructureFactorModel.prepare(reflections, table).line_intensities(structure)
