"""Atomic scattering: X-ray form factors, anomalous dispersion and neutron scattering lengths.

* X-ray f0(s), s = sinθ/λ = 1/(2d) = Q/(4π) (Å⁻¹): the Waasmaier & Kirfel (1995, Acta Cryst. A51, 416)
  five-Gaussian fits f0 = c + Σ a_i exp(-b_i s²) for neutral atoms and the ions they tabulate, read from xraydb.
* Anomalous f′, f″ at the photon energy E = hc/λ from Chantler's tables (Chantler 1995, J. Phys. Chem. Ref.
  Data 24, 71) through xraydb. ``xraydb.f1_chantler`` returns f′ itself (→ 0 far above the edges, about -3.0
  for Ni at Cu Kα), not f0 + f′; it is added to f0 as is.
* Neutron coherent scattering lengths b_c (fm) from periodictable (Sears 1992, Neutron News 3, 26), with the
  imaginary part of strongly absorbing nuclei (Gd, B, ...) where tabulated.

Species are element symbols with an optional CIF charge: 'O', 'O2-', 'O-2', 'Na+', 'Na1+', 'V+3', 'Si0+'.
An ion Waasmaier & Kirfel do not tabulate (e.g. 'P5+') is scattered as its neutral atom; the table records
that substitution in :attr:`ScatteringTable.substitutions` so the caller can report it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from numpy.typing import ArrayLike

from refine.data import RADIATIONS
from refine.errors import InputError

# hc in eV·Å (CODATA 2018: h c / e × 1e10).
HC_EV_ANGSTROM = 12398.419843320026

_SPECIES = re.compile(r"^([A-Za-z]{1,2})(?:(\d*)([+-])|([+-])(\d*))?$")


def parse_species(species: str, *, source: str = "element") -> tuple[str, int]:
    """(element symbol, charge) of a CIF-style species: 'V3+' and 'V+3' -> ('V', 3), 'O2-' -> ('O', -2).

    Raises
    ------
    InputError
        Not an element symbol with an optional charge, or an element unknown to the periodic table.
    """
    text = str(species).strip()
    match = _SPECIES.fullmatch(text)
    if not match:
        raise InputError(source, f"{species!r} is not an element symbol with an optional charge ('O', 'V3+')")
    letters, num_after, sign_after, sign_before, num_before = match.groups()
    symbol = letters[:1].upper() + letters[1:].lower()
    if symbol not in _element_symbols():
        raise InputError(source, f"unknown element {symbol!r} in species {species!r}")
    sign = sign_after or sign_before
    digits = num_after if sign_after else num_before
    charge = 0 if sign is None else (int(digits) if digits else 1) * (1 if sign == "+" else -1)
    return symbol, charge


def species_name(element: str, charge: int) -> str:
    """Canonical name of a species, in xraydb's spelling: ('V', 3) -> 'V3+', ('O', 0) -> 'O'."""
    if charge == 0:
        return element
    return f"{element}{abs(charge)}{'+' if charge > 0 else '-'}"


def is_element(symbol: str, *, isotopes: bool = True) -> bool:
    """True for an element symbol spelled as the periodic table does ('Na', not 'NA'); 'D' and 'T' count only
    with ``isotopes``."""
    return symbol in _element_symbols() and (isotopes or symbol not in ("D", "T"))


@cache
def _element_symbols() -> frozenset[str]:
    import periodictable

    return frozenset(el.symbol for el in periodictable.elements if el.number > 0) | {"D", "T"}


def _waasmaier() -> dict[str, tuple[float, tuple[float, ...], tuple[float, ...]]]:
    """Waasmaier-Kirfel coefficients by species: (c, (a1..a5), (b1..b5)), xraydb's (through its disk copy)."""
    from refine.crystal.xraydb_cache import waasmaier

    return waasmaier()


def xray_species(species: str, *, ions: bool = True, source: str = "element") -> str:
    """The Waasmaier-Kirfel entry used for ``species``: the ion if tabulated (and ``ions``), else the atom."""
    element, charge = parse_species(species, source=source)
    if element in ("D", "T"):  # hydrogen isotopes have hydrogen's electrons
        element = "H"
    table = _waasmaier()
    name = species_name(element, charge)
    if ions and name in table:
        return name
    if element not in table:
        raise InputError(source, f"no X-ray form factor for {element!r} (Waasmaier-Kirfel covers H-Cf)")
    return element


def form_factor(species: str, stol: ArrayLike, *, ions: bool = True, source: str = "element") -> np.ndarray:
    """X-ray f0 (electrons) at s = sinθ/λ (Å⁻¹): c + Σ a_i exp(-b_i s²) (Waasmaier & Kirfel 1995).

    The one X-ray form-factor lookup of refine (structure factors, PDF normalisation); ``source`` names the
    option or file an unknown species came from."""
    c, a, b = _waasmaier()[xray_species(species, ions=ions, source=source)]
    s2 = np.asarray(stol, dtype=float)[..., None] ** 2
    return c + np.sum(np.asarray(a) * np.exp(-np.asarray(b) * s2), axis=-1)


def energy_ev(wavelength: float) -> float:
    """Photon energy (eV) of an X-ray wavelength (Å): E = hc/λ."""
    if not wavelength > 0:
        raise InputError("wavelength", f"must be > 0 Å, got {wavelength}")
    return HC_EV_ANGSTROM / float(wavelength)


def anomalous(species: str, wavelength: float) -> tuple[float, float]:
    """(f′, f″) in electrons at ``wavelength`` (Å) from Chantler's tables via xraydb (through its disk copy)."""
    from refine.crystal.xraydb_cache import chantler_store

    element, _ = parse_species(species)
    if element in ("D", "T"):
        element = "H"
    energy = energy_ev(wavelength)
    if not 10.0 <= energy <= 1e6:
        raise InputError("wavelength", f"{wavelength} Å ({energy:.4g} eV) is outside Chantler's 10 eV-1 MeV range")
    try:
        f1, f2 = chantler_store().get(element, energy)
    except (IndexError, KeyError, ValueError):  # Chantler's tables end at U (Z = 92)
        raise InputError(species, f"Chantler's tables (xraydb) have no f'/f'' for {element}; refine without "
                                  "anomalous dispersion (--no-dispersion)") from None
    return f1, f2


def scattering_power(species: str, radiation: str) -> float:
    """Q = 0 scattering power of a species: electrons Z - charge for X-rays (f(0), as PDFfit2 weights its pairs),
    the real coherent length b_c (fm) for neutrons."""
    if radiation not in RADIATIONS:
        raise InputError("radiation", f"must be one of {RADIATIONS}, got {radiation!r}")
    if radiation == "neutron":
        return neutron_length(species).real
    import periodictable

    element, charge = parse_species(species)
    return float(periodictable.elements.symbol(element).number - charge)


def atomic_mass(species: str) -> float:
    """Atomic mass (u) of the element of a species (natural isotopic mixture; 'D' and 'T' their isotopes)."""
    import periodictable

    return float(periodictable.elements.symbol(parse_species(species)[0]).mass)


def neutron_length(species: str) -> complex:
    """Coherent neutron scattering length b_c (fm) of the element (natural isotopic mixture; 'D' for ²H).

    The imaginary part is periodictable's ``b_c_i`` where tabulated (absorbing nuclei), else 0.
    """
    import periodictable

    element, _ = parse_species(species)
    neutron = periodictable.elements.symbol(element).neutron
    if neutron is None or neutron.b_c is None:
        raise InputError("element", f"no neutron scattering length tabulated for {element!r}")
    return complex(neutron.b_c, neutron.b_c_i or 0.0)


@dataclass(frozen=True, eq=False)
class ScatteringTable:
    """Scattering of each species of a phase at one wavelength, evaluated fast over many s = sinθ/λ.

    Build it once per phase per radiation/wavelength with :meth:`build`; :meth:`evaluate` gives the complex
    scattering factor of every species at every s (one column per species, in :attr:`species` order).

    Attributes
    ----------
    species
        Species as given (normalised spelling: 'V3+').
    radiation
        'xray' or 'neutron'.
    wavelength
        Å (None when dispersion is off and the radiation is neutron).
    used
        The Waasmaier-Kirfel entry used per species (X-ray) or the element (neutron).
    substitutions
        (species, used) pairs where an untabulated ion was replaced by its neutral atom.
    """

    species: tuple[str, ...]
    radiation: str
    wavelength: float | None
    used: tuple[str, ...]
    substitutions: tuple[tuple[str, str], ...]
    constant: np.ndarray = field(repr=False)  # (n,) complex: c + f′ + i f″ (X-ray) or b (neutron)
    gauss_a: np.ndarray = field(repr=False)  # (n, 5)
    gauss_b: np.ndarray = field(repr=False)  # (n, 5)

    @classmethod
    def build(cls, species: tuple[str, ...] | list[str], *, radiation: str = "xray",
              wavelength: float | None = None, dispersion: bool = True, ions: bool = True) -> ScatteringTable:
        """Table for ``species`` (e.g. the distinct ``Site.element`` values of a phase).

        Parameters
        ----------
        radiation
            'xray' (f0 + f′ + i f″, electrons) or 'neutron' (b_c, fm).
        wavelength
            Å; needed for X-ray anomalous dispersion.
        dispersion
            Add f′ + i f″ (X-ray only); False gives the bare f0 (as pymatgen's calculator does).
        ions
            Use ionic form factors where Waasmaier & Kirfel tabulate them; False uses neutral atoms.
        """
        if radiation not in RADIATIONS:
            raise InputError("radiation", f"must be one of {RADIATIONS}, got {radiation!r}")
        names = tuple(species_name(*parse_species(s)) for s in species)
        n = len(names)
        const = np.zeros(n, dtype=complex)
        ga, gb = np.zeros((n, 5)), np.zeros((n, 5))
        used, subs = [], []
        if radiation == "neutron":
            for i, name in enumerate(names):
                const[i] = neutron_length(name)
                used.append(parse_species(name)[0])
        else:
            if dispersion and wavelength is None:
                raise InputError("wavelength", "X-ray anomalous dispersion needs the wavelength (or dispersion=False)")
            for i, name in enumerate(names):
                entry = xray_species(name, ions=ions)
                c, a, b = _waasmaier()[entry]
                const[i], ga[i], gb[i] = c, a, b
                if dispersion:
                    f1, f2 = anomalous(name, wavelength)
                    const[i] += complex(f1, f2)
                used.append(entry)
                if ions and entry != name:
                    subs.append((name, entry))
        for arr in (const, ga, gb):
            arr.setflags(write=False)
        return cls(species=names, radiation=radiation, wavelength=None if wavelength is None else float(wavelength),
                   used=tuple(used), substitutions=tuple(subs), constant=const, gauss_a=ga, gauss_b=gb)

    def index(self, species: str) -> int:
        """Column of ``species`` (any CIF spelling) in :meth:`evaluate`'s output."""
        name = species_name(*parse_species(species))
        try:
            return self.species.index(name)
        except ValueError:
            raise InputError("element", f"species {species!r} is not in this scattering table {self.species}") from None

    def evaluate(self, stol: ArrayLike) -> np.ndarray:
        """Complex scattering factors, shape (len(stol), n_species), at s = sinθ/λ = 1/(2d) (Å⁻¹)."""
        s2 = np.asarray(stol, dtype=float).reshape(-1)[:, None, None] ** 2
        gauss = np.sum(self.gauss_a[None] * np.exp(-self.gauss_b[None] * s2), axis=2)
        return gauss + self.constant[None, :]
