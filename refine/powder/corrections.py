"""Rietveld intensity corrections: pure functions of 2θ (degrees) and a few parameters, multiplied into I_calc.

* Lorentz-polarization: the powder Lorentz factor 1/(sin²θ cosθ) is the same for Debye-Scherrer, Bragg-Brentano
  and flat-plate transmission (Klug & Alexander 1974, ch. 6; GSAS-II uses it for every constant-wavelength
  geometry); the geometry enters through absorption. The polarization factor is GSAS-II's
  (:func:`refine.instrument.gsas_polarization_correction`), a monochromator entering through its ``Polariz.``
  (:func:`refine.instrument.monochromator_polarization`), and it is skipped for neutrons or when the pattern was
  already polarization-corrected upstream (``'polarization' in pattern.corrections``, e.g. by pyFAI).
* Absorption: Debye-Scherrer cylinder (Lobanov & Alte da Veiga 1998 fit, as in GSAS-II), flat plate in
  transmission (coin/pouch cells; normal incidence or symmetric), thick Bragg-Brentano (constant).
* Bragg-Brentano surface roughness (Suortti 1972, J. Appl. Cryst. 5, 325, as in GSAS-II).
* March-Dollase preferred orientation (Dollase 1986, J. Appl. Cryst. 19, 267), averaged over the members of
  each powder line; a symmetrised spherical-harmonics texture (:class:`HarmonicTexture`) for any Laue class.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from refine.crystal.lattice import Lattice
from refine.crystal.reflections import ReflectionList
from refine.crystal.spacegroup import SpaceGroup
from refine.errors import InputError
from refine.instrument import Instrument, gsas_polarization_correction

GEOMETRIES = ("debye_scherrer", "bragg_brentano", "transmission")


def _theta(two_theta: ArrayLike) -> np.ndarray:
    tth = np.asarray(two_theta, dtype=float)
    if np.any((tth <= 0) | (tth >= 180)):
        raise InputError("two_theta", "Lorentz and absorption factors need 0 < 2θ < 180 degrees")
    return np.radians(tth / 2.0)


def lorentz(two_theta: ArrayLike) -> np.ndarray:
    """Powder Lorentz factor 1/(sin²θ cosθ) (Klug & Alexander 1974; = 2/(sinθ sin2θ))."""
    th = _theta(two_theta)
    return 1.0 / (np.sin(th) ** 2 * np.cos(th))


def lorentz_polarization(two_theta: ArrayLike, *, polarization: float = 0.5, azimuth: float = 0.0,
                         radiation: str = "xray", polarization_applied: bool = False) -> np.ndarray:
    """Lorentz × polarization factor.

    Parameters
    ----------
    polarization, azimuth
        GSAS-II ``Polariz.`` (0.5 unpolarized tube; a monochromator gives ``monochromator_polarization(2θm)``;
        ~0.99 synchrotron) and ``Azimuth`` (deg).
    radiation
        'neutron' gives the Lorentz factor alone.
    polarization_applied
        True when the data were already divided by the polarization factor upstream: Lorentz factor alone.
    """
    lor = lorentz(two_theta)
    if radiation == "neutron" or polarization_applied:
        return lor
    if not 0.0 <= polarization <= 1.0:
        raise InputError("polarization", f"GSAS-II Polariz. must be in [0, 1], got {polarization}")
    return lor * gsas_polarization_correction(polarization, two_theta, azimuth)


def instrument_lorentz_polarization(instrument: Instrument, two_theta: ArrayLike, *,
                                    corrections: Collection[str] = frozenset()) -> np.ndarray:
    """:func:`lorentz_polarization` for an :class:`Instrument` and a pattern's ``corrections`` set."""
    return lorentz_polarization(two_theta, polarization=instrument.polarization, azimuth=instrument.azimuth,
                                radiation=instrument.radiation, polarization_applied="polarization" in corrections)


def _under3(mu_r: float, s2: np.ndarray) -> np.ndarray:
    # Lobanov & Alte da Veiga (1998, 6th EPDIC, abstract P12-16): ln A = -Σ_n T_n(sin²θ) (μR)^n for μR <= 3.
    t1 = 16.0 / (3.0 * np.pi)
    t2 = (25.99978 - 0.01911 * s2**0.25) * np.exp(-0.024551 * s2) + 0.109561 * np.sqrt(s2) - 26.04556
    t3 = -0.02489 - 0.39499 * s2 + 1.219077 * s2**1.5 - 1.31268 * s2**2 + 0.871081 * s2**2.5 - 0.2327 * s2**3
    t4 = 0.003045 + 0.018167 * s2 - 0.03305 * s2**2
    return np.exp(-t1 * mu_r - t2 * mu_r**2 - t3 * mu_r**3 - t4 * mu_r**4)


def _over3(mu_r: float, s2: np.ndarray) -> np.ndarray:
    # Lobanov & Alte da Veiga (1998): A = (T1 - T4)/(1 + T2 (μR - 3))^T3 + T4 (in %) for μR > 3.
    t1 = 1.433902 + 11.07504 * s2 - 8.77629 * s2**2 + 10.02088 * s2**3 - 3.36778 * s2**4
    t2 = ((0.013869 - 0.01249 * s2) * np.exp(3.27094 * s2)
          + (0.337894 + 13.77317 * s2) / (1.0 + 11.53544 * s2) ** 1.555039)
    t3 = 1.933433 / (1.0 + 23.12967 * s2) ** 1.686715 - 0.13576 * np.sqrt(s2) + 1.163198
    t4 = 0.044365 - 0.04259 / (1.0 + 0.41051 * s2) ** 148.4202
    return ((t1 - t4) / (1.0 + t2 * (mu_r - 3.0)) ** t3 + t4) / 100.0


def cylinder_absorption(two_theta: ArrayLike, mu_r: float) -> np.ndarray:
    """Transmission factor A(2θ) of a fully bathed cylinder (capillary) of μR, A = 1 at μR = 0.

    Lobanov & Alte da Veiga (1998) analytic fit to the exact integral (the GSAS-II ``Cylinder`` absorption).
    """
    if not 0.0 <= mu_r < 30.0:
        raise InputError("mu_r", f"cylinder μR must be in [0, 30), got {mu_r}")
    s2 = np.sin(_theta(two_theta)) ** 2
    return _under3(mu_r, s2) if mu_r <= 3.0 else _over3(mu_r, s2)


def flat_plate_transmission(two_theta: ArrayLike, mu_t: float, *, symmetric: bool = False) -> np.ndarray:
    """Absorption × illuminated-volume factor of a flat plate of thickness t in transmission (coin/pouch cells).

    Normal incidence (plate ⟂ beam, the usual cell holder): the ray scattered at depth z travels z + (t - z)/cos2θ,
    so A = [exp(-μt/cos2θ) - exp(-μt)] / [μt (1 - 1/cos2θ)] (→ exp(-μt) as 2θ → 0; defined for 2θ < 90°).
    Symmetric transmission (plate normal bisecting the beams): every path is t/cosθ and the illuminated volume
    grows as 1/cosθ, so A = exp(-μt/cosθ)/cosθ. Both as in GSAS-II's 'Fixed flat plate' and 'Tilting flat
    plate in transmission'; μt is the linear absorption coefficient times the full thickness.
    """
    if not 0.0 <= mu_t < 50.0:
        raise InputError("mu_t", f"flat-plate μt must be in [0, 50), got {mu_t}")
    th = _theta(two_theta)
    if symmetric:
        return np.exp(-mu_t / np.cos(th)) / np.cos(th)
    c2 = np.cos(2.0 * th)
    if np.any(c2 <= 0):
        raise InputError("two_theta", "a plate normal to the beam transmits only below 2θ = 90 degrees")
    k = 1.0 / c2 - 1.0  # extra path per unit depth on the way out
    with np.errstate(invalid="ignore", divide="ignore"):
        general = np.exp(-mu_t) * -np.expm1(-mu_t * k) / (mu_t * k)
    return np.where(mu_t * k > 1e-12, general, np.exp(-mu_t) * (1.0 - 0.5 * mu_t * k))


def sample_absorption(geometry: str, two_theta: ArrayLike, mu: float) -> np.ndarray:
    """Absorption factor for an :class:`Instrument` geometry: μR (cylinder radius), μt (plate thickness);
    a thick Bragg-Brentano sample gives a constant 1/(2μ), absorbed into the scale (ones)."""
    if geometry == "debye_scherrer":
        return cylinder_absorption(two_theta, mu)
    if geometry == "transmission":
        return flat_plate_transmission(two_theta, mu)
    if geometry == "bragg_brentano":
        return np.ones_like(np.asarray(two_theta, dtype=float))
    raise InputError("geometry", f"must be one of {GEOMETRIES}, got {geometry!r}")


def surface_roughness(two_theta: ArrayLike, p: float, q: float) -> np.ndarray:
    """Suortti (1972) Bragg-Brentano surface roughness SR = [p + (1-p) e^(-q/sinθ)] / [p + (1-p) e^(-q)].

    SR = 1 at 2θ = 180° and falls at low angle for q > 0, p < 1 (GSAS-II's SurfRoughA = p, SurfRoughB = q).
    """
    sin_th = np.sin(_theta(two_theta))
    denom = p + (1.0 - p) * np.exp(-q)
    if denom <= 0:
        raise InputError("surface_roughness", f"p = {p}, q = {q} give a non-positive normalisation")
    return (p + (1.0 - p) * np.exp(-q / sin_th)) / denom


def march_dollase_function(cos_alpha: ArrayLike, ratio: float) -> np.ndarray:
    """P(α) = (r² cos²α + sin²α / r)^(-3/2) (Dollase 1986): r < 1 plates, r > 1 needles along the axis."""
    if not ratio > 0:
        raise InputError("march_dollase", f"ratio must be > 0, got {ratio}")
    c2 = np.clip(np.asarray(cos_alpha, dtype=float) ** 2, 0.0, 1.0)
    return (ratio**2 * c2 + (1.0 - c2) / ratio) ** -1.5


def line_members(hkl: ArrayLike, space_group: SpaceGroup) -> np.ndarray:
    """The distinct reflections ±h R of one line (the point group and Friedel mates), shape (m, 3)."""
    h = np.asarray(hkl, dtype=np.int64)
    members = np.concatenate([h @ space_group.point_rotations, -(h @ space_group.point_rotations)])
    return np.unique(members, axis=0)


def march_dollase(reflections: ReflectionList, lattice: Lattice, space_group: SpaceGroup, axis: ArrayLike,
                  ratio: float) -> np.ndarray:
    """March-Dollase factor of each powder line, averaged over all its members ±h R (Dollase 1986, eq. 17).

    ``axis`` is the preferred-orientation direction as a reciprocal-lattice vector (hkl, e.g. (0, 0, 1) for
    platelets with c* along the plate normal), as in GSAS-II and FullProf.
    """
    gstar = lattice.reciprocal_metric
    a = np.asarray(axis, dtype=float)
    a_len = float(np.sqrt(a @ gstar @ a))
    if a.shape != (3,) or not a_len > 0:
        raise InputError("march_dollase", f"axis must be a non-zero hkl triple, got {axis!r}")
    out = np.empty(len(reflections))
    for i, h in enumerate(reflections.hkl):
        members = line_members(h, space_group).astype(float)
        cos_alpha = (members @ gstar @ a) / (np.sqrt(np.einsum("mi,ij,mj->m", members, gstar, members)) * a_len)
        out[i] = np.mean(march_dollase_function(cos_alpha, ratio))
    return out


def _real_harmonics(order: int, u: np.ndarray) -> np.ndarray:
    """Orthonormal real spherical harmonics of one order l at unit vectors u (n, 3): shape (n, 2l+1)."""
    from scipy.special import sph_harm_y

    polar = np.arccos(np.clip(u[:, 2], -1.0, 1.0))
    azimuth = np.arctan2(u[:, 1], u[:, 0])
    cols = [sph_harm_y(order, 0, polar, azimuth).real]
    for m in range(1, order + 1):
        y = sph_harm_y(order, m, polar, azimuth)
        cols += [np.sqrt(2.0) * y.real, np.sqrt(2.0) * y.imag]
    return np.stack(cols, axis=1)


def _fibonacci_sphere(n: int) -> np.ndarray:
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5.0**0.5) * k
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


@dataclass(frozen=True, eq=False)
class HarmonicTexture:
    """Symmetrised spherical-harmonics texture for a sample with cylindrical symmetry about the diffraction vector
    (Bragg-Brentano, or a capillary/transmission sample with fibre texture along it; Bunge 1982, Von Dreele 1997
    J. Appl. Cryst. 30, 517): the line factor is 1 + Σ_k c_k K_k(ĥ), the K_k even-order real harmonics invariant
    under the crystal's Laue group, normalised to mean square 1 over the sphere, so the factor averages to 1.

    Build with :meth:`build`; :attr:`orders` gives the order l of each coefficient.
    """

    orders: tuple[int, ...]
    reciprocal_basis: np.ndarray = field(repr=False)  # columns a*, b*, c* in Cartesian axes
    combinations: tuple[np.ndarray, ...] = field(repr=False)  # per even l >= 2: (2l+1, n_invariants)

    @classmethod
    def build(cls, lattice: Lattice, space_group: SpaceGroup, max_order: int) -> HarmonicTexture:
        """Invariant harmonics of orders 2, 4, ..., ``max_order`` for ``space_group``'s Laue class."""
        if max_order < 2 or max_order > 20 or max_order % 2:
            raise InputError("texture", f"harmonic order must be even, 2 to 20, got {max_order}")
        recip = np.linalg.inv(lattice.cartesian).T
        # Cartesian action of h -> h R on q = B hᵀ: q -> B Rᵀ B⁻¹ q; with -1 added for the Laue group.
        mats = [recip @ r.T @ np.linalg.inv(recip) for r in space_group.point_rotations.astype(float)]
        mats += [-m for m in mats]
        u = _fibonacci_sphere(max(600, 6 * (max_order + 1) ** 2))
        orders, combos = [], []
        for order in range(2, max_order + 1, 2):
            y = _real_harmonics(order, u)
            averaged = np.mean([_real_harmonics(order, u @ m.T) for m in mats], axis=0)
            projector = np.linalg.lstsq(y, averaged, rcond=None)[0]
            values, vectors = np.linalg.eigh(0.5 * (projector + projector.T))
            keep = vectors[:, values > 0.5]
            combos.append(keep)
            orders += [order] * keep.shape[1]
        return cls(orders=tuple(orders), reciprocal_basis=recip, combinations=tuple(combos))

    def basis_at(self, unit_vectors: ArrayLike) -> np.ndarray:
        """K_k at Cartesian unit vectors (n, 3), shape (n, n_coefficients)."""
        u = np.asarray(unit_vectors, dtype=float).reshape(-1, 3)
        cols = [np.sqrt(4.0 * np.pi) * _real_harmonics(2 * (i + 1), u) @ c for i, c in enumerate(self.combinations)]
        return np.concatenate(cols, axis=1) if cols else np.zeros((len(u), 0))

    def basis(self, hkl: ArrayLike) -> np.ndarray:
        """K_k at the directions of reflections hkl (n, 3), shape (n, n_coefficients)."""
        q = np.asarray(hkl, dtype=float).reshape(-1, 3) @ self.reciprocal_basis.T
        return self.basis_at(q / np.linalg.norm(q, axis=1, keepdims=True))

    def factor(self, reflections: ReflectionList, coefficients: ArrayLike) -> np.ndarray:
        """Texture factor 1 + Σ c_k K_k(ĥ) of each line (every member of a line has the same value)."""
        c = np.asarray(coefficients, dtype=float).reshape(-1)
        if c.size != len(self.orders):
            raise InputError("texture", f"need {len(self.orders)} coefficients for orders {self.orders}, got {c.size}")
        return 1.0 + self.basis(reflections.hkl) @ c
