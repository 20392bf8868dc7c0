"""The diffractometer: radiation, wavelength(s), polarization, geometry, zero and instrumental profile.

One frozen :class:`Instrument` describes the instrument for every powder fit and series. Its parameters and
units are GSAS-II's, so that a GSAS-II ``.instprm`` file maps one to one (see :mod:`refine.io.instprm`):

* ``wavelength`` (Å; Kα1 for a doublet), ``wavelength2`` (Kα2 or ``None``), ``ka2_ratio`` = I(Kα2)/I(Kα1)
  (``Lam``/``Lam1``, ``Lam2``, ``I(L2)/I(L1)``);
* ``polarization`` is GSAS-II's ``Polariz.`` and ``azimuth`` its ``Azimuth`` (deg), see
  :func:`gsas_polarization_correction`;
* ``zero`` (deg 2θ, GSAS-II ``Zero``: a peak of Bragg angle 2θ is seen at 2θ + zero);
* ``profile``: :class:`Profile` with ``U V W`` (centideg²), ``X Y Z`` (centideg) and ``sh_l`` (``SH/L``).

Constant wavelength only: time-of-flight and energy-dispersive instruments are out of scope.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refine.data import RADIATIONS
from refine.errors import InputError
from refine.frozen import PicklableProxies

SCHEMA = "refine.instrument/1"
GEOMETRIES = ("debye_scherrer", "bragg_brentano", "transmission")

# I(Kα2)/I(Kα1) = 1/2: statistical weights of the 2p1/2 (2 electrons) and 2p3/2 (4 electrons) levels; the
# value GSAS and GSAS-II use for lab tubes (xraydb's Elam transition probabilities give 0.51 for Cu).
KA2_KA1_RATIO = 0.5
# GSAS-II's default axial-divergence SH/L when a file gives none (G2fil.SetPowderInstParms).
DEFAULT_SH_L = 0.002
_LAB_ANODES = ("Cr", "Fe", "Co", "Cu", "Mo", "Ag")


def _jsonable(value: Any) -> bool:
    scalar = (str, int, float, bool, type(None))
    return isinstance(value, scalar) or (isinstance(value, (tuple, list)) and all(isinstance(v, scalar) for v in value))


def _finite(value: Any, name: str, source: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(source, f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise InputError(source, f"{name} must be finite, got {out}")
    return out


@dataclasses.dataclass(frozen=True)
class Profile:
    """GSAS-II constant-wavelength pseudo-Voigt instrumental profile (Thompson-Cox-Hastings + FCJ asymmetry).

    Gaussian variance σ² = U tan²θ + V tanθ + W (centideg²); Lorentzian FWHM γ = X / cosθ + Y tanθ + Z
    (centideg); ``sh_l`` = (S + H)/L, the Finger-Cox-Jephcoat axial divergence (GSAS-II ``SH/L``).
    Names and units are those of a GSAS-II ``.instprm`` file.
    """

    U: float = 0.0
    V: float = 0.0
    W: float = 0.0
    X: float = 0.0
    Y: float = 0.0
    Z: float = 0.0
    sh_l: float = DEFAULT_SH_L

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _finite(getattr(self, f.name), f"profile {f.name}", "instrument"))
        if self.sh_l < 0:
            raise InputError("instrument", f"profile SH/L must be >= 0, got {self.sh_l}")

    def gaussian_fwhm(self, two_theta: ArrayLike) -> np.ndarray:
        """Gaussian FWHM (deg) at ``two_theta`` (deg): sqrt(8 ln2 σ²)/100 as in GSAS-II ``G2pwd.getWidthsCW``."""
        tan_t = np.tan(np.radians(np.asarray(two_theta, dtype=float) / 2))
        var = self.U * tan_t**2 + self.V * tan_t + self.W
        return np.sqrt(8 * np.log(2) * np.maximum(var, 0.0)) / 100.0

    def lorentzian_fwhm(self, two_theta: ArrayLike) -> np.ndarray:
        """Lorentzian FWHM (deg) at ``two_theta`` (deg): (X/cosθ + Y tanθ + Z)/100."""
        theta = np.radians(np.asarray(two_theta, dtype=float) / 2)
        return (self.X / np.cos(theta) + self.Y * np.tan(theta) + self.Z) / 100.0

    def to_dict(self) -> dict[str, float]:
        """Plain mapping with GSAS-II's key names (``SH/L`` for ``sh_l``)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["SH/L"] = out.pop("sh_l")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Inverse of :meth:`to_dict` (``sh_l`` is also accepted)."""
        items = dict(data)
        if "SH/L" in items:
            items["sh_l"] = items.pop("SH/L")
        unknown = set(items) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InputError("instrument", f"unknown profile parameters {sorted(unknown)}")
        return cls(**items)


def gsas_polarization_correction(polarization: float, two_theta: ArrayLike, azimuth: ArrayLike = 0.0) -> np.ndarray:
    """GSAS-II's X-ray polarization factor (``G2pwd.Polarization``), multiplied into calculated intensities.

    P(2θ, ψ) = [(1-p) cos²ψ + p sin²ψ] cos²2θ + (1-p) sin²ψ + p cos²ψ, with p = ``Polariz.``. p = 0.5 gives
    the unpolarized (1 + cos²2θ)/2; p → 1 at ψ = 0 gives no 2θ dependence: p is the fraction of the beam
    polarized perpendicular to the scattering plane at ψ = 0 (GSAS-II measures ψ from the plane of
    polarization, i.e. image azimuth - 90° with the image azimuth counted from the horizontal).
    """
    p = float(polarization)
    tth = np.radians(np.asarray(two_theta, dtype=float))
    azm = np.radians(np.asarray(azimuth, dtype=float))
    c2, s2 = np.cos(azm) ** 2, np.sin(azm) ** 2
    return ((1 - p) * c2 + p * s2) * np.cos(tth) ** 2 + (1 - p) * s2 + p * c2


def pyfai_polarization_factor(polarization: float) -> float:
    """pyFAI's ``polarization_factor`` (-1..1, 0 unpolarized) for GSAS-II's ``Polariz.`` (0..1, 0.5 unpolarized).

    Expanding :func:`gsas_polarization_correction` gives (1 + cos²2θ - (1 - 2p) cos2ψ sin²2θ)/2; pyFAI's
    ``Geometry.polarization`` is (1 + cos²2θ - f cos2χ sin²2θ)/2 with χ counted from the horizontal. With
    GSAS-II's ψ = χ - 90° (cos2ψ = -cos2χ) the two agree exactly for f = 2p - 1.
    """
    return 2.0 * float(polarization) - 1.0


def gsas_polarization(pyfai_factor: float) -> float:
    """Inverse of :func:`pyfai_polarization_factor`: GSAS-II ``Polariz.`` = (1 + f)/2."""
    return (1.0 + float(pyfai_factor)) / 2.0


def monochromator_polarization(two_theta_m: float) -> float:
    """GSAS-II ``Polariz.`` equivalent to a monochromator at Bragg angle 2θm (deg) in the scattering plane.

    The monochromator LP factor (Azaroff 1955) is ∝ 1 + cos²2θm cos²2θ; GSAS-II's factor at ψ = 0 is
    p + (1 - p) cos²2θ ∝ 1 + ((1-p)/p) cos²2θ, so p = 1 / (1 + cos²2θm).
    """
    return 1.0 / (1.0 + math.cos(math.radians(two_theta_m)) ** 2)


@dataclasses.dataclass(frozen=True)
class Instrument(PicklableProxies):
    """A constant-wavelength powder diffractometer.

    Parameters
    ----------
    radiation
        ``'xray'`` or ``'neutron'``.
    wavelength
        Wavelength in Å (Kα1 for a doublet).
    wavelength2
        Kα2 wavelength in Å, or ``None`` for a monochromatic beam.
    ka2_ratio
        I(Kα2)/I(Kα1); 0 when monochromatic.
    polarization
        GSAS-II ``Polariz.``: fraction of the beam polarized perpendicular to the scattering plane at
        ``azimuth`` 0 (0.5 unpolarized lab tube, ~0.99 synchrotron with a vertical scattering plane). See
        :func:`gsas_polarization_correction`; :attr:`pyfai_polarization_factor` gives pyFAI's equivalent.
        Not used for neutrons. For data already polarization-corrected (e.g. by pyFAI, ``'polarization'`` in
        ``Pattern.corrections``) use 1.0 with ``azimuth`` 0, which makes GSAS-II's factor exactly 1.
    azimuth
        GSAS-II ``Azimuth`` (deg) of the detector around the beam, measured from the plane of polarization.
    geometry
        ``'debye_scherrer'`` (capillary), ``'bragg_brentano'`` (reflection) or ``'transmission'`` (flat plate,
        coin/pouch cells).
    zero
        Zero shift in deg 2θ (GSAS-II ``Zero``).
    monochromator_angle
        Lab monochromator Bragg angle 2θm (deg), ``None`` if none; recorded with the polarization it implies.
    profile
        Instrumental :class:`Profile`.
    source
        Where it came from (a file path, ``'lab:Cu'``, ...); not part of equality.
    metadata
        Anything else read from the file; not part of equality.
    """

    radiation: str
    wavelength: float
    wavelength2: float | None = None
    ka2_ratio: float = 0.0
    polarization: float = 0.5
    azimuth: float = 0.0
    geometry: str = "debye_scherrer"
    zero: float = 0.0
    monochromator_angle: float | None = None
    profile: Profile = dataclasses.field(default_factory=Profile)
    source: str | None = dataclasses.field(default=None, compare=False)
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        src = self.source or "instrument"
        put = object.__setattr__
        if self.radiation not in RADIATIONS:
            raise InputError(src, f"radiation must be one of {RADIATIONS}, got {self.radiation!r}")
        if self.geometry not in GEOMETRIES:
            raise InputError(src, f"geometry must be one of {GEOMETRIES}, got {self.geometry!r}")
        put(self, "wavelength", _finite(self.wavelength, "wavelength", src))
        if self.wavelength <= 0:
            raise InputError(src, f"wavelength must be > 0 Å, got {self.wavelength}")
        if self.wavelength2 is not None:
            put(self, "wavelength2", _finite(self.wavelength2, "wavelength2", src))
            if self.wavelength2 <= 0:
                raise InputError(src, f"wavelength2 must be > 0 Å or None, got {self.wavelength2}")
        put(self, "ka2_ratio", _finite(self.ka2_ratio, "ka2_ratio", src))
        if self.ka2_ratio < 0:
            raise InputError(src, f"ka2_ratio must be >= 0, got {self.ka2_ratio}")
        if self.wavelength2 is None and self.ka2_ratio != 0:
            raise InputError(src, f"ka2_ratio {self.ka2_ratio} given without wavelength2")
        for name in ("polarization", "azimuth", "zero"):
            put(self, name, _finite(getattr(self, name), name, src))
        if not 0.0 <= self.polarization <= 1.0:
            raise InputError(src, f"polarization (GSAS-II Polariz.) must be in [0, 1], got {self.polarization}")
        if self.monochromator_angle is not None:
            put(self, "monochromator_angle", _finite(self.monochromator_angle, "monochromator_angle", src))
            if not 0.0 <= self.monochromator_angle < 180.0:
                raise InputError(src, f"monochromator_angle must be in [0, 180) deg, got {self.monochromator_angle}")
        if not isinstance(self.profile, Profile):
            raise InputError(src, f"profile must be a Profile, got {type(self.profile).__name__}")
        put(self, "metadata", MappingProxyType(dict(self.metadata or {})))

    # --- constructors -------------------------------------------------------------------------------------
    @classmethod
    def synchrotron(cls, wavelength: float, *, polarization: float = 0.99, geometry: str = "debye_scherrer",
                    azimuth: float = 0.0, zero: float = 0.0, profile: Profile | None = None) -> Instrument:
        """A monochromatic synchrotron X-ray beam (horizontal polarization, vertical scattering plane); a bad
        ``wavelength`` is an InputError naming it (it came as a bare number, not from an instrument file)."""
        if not _finite(wavelength, "wavelength", "wavelength") > 0:
            raise InputError("wavelength", f"must be > 0 Å, got {wavelength}")
        return cls(radiation="xray", wavelength=wavelength, polarization=polarization, geometry=geometry,
                   azimuth=azimuth, zero=zero, profile=profile or Profile(), source="synchrotron")

    @classmethod
    def neutron(cls, wavelength: float, *, geometry: str = "debye_scherrer", zero: float = 0.0,
                profile: Profile | None = None) -> Instrument:
        """A constant-wavelength neutron diffractometer (no polarization correction)."""
        return cls(radiation="neutron", wavelength=wavelength, polarization=0.5, geometry=geometry, zero=zero,
                   profile=profile or Profile(), source="neutron")

    @classmethod
    def lab(cls, anode: str = "Cu", *, ka2: bool = True, monochromator_angle: float | None = None,
            polarization: float | None = None, geometry: str = "bragg_brentano", zero: float = 0.0,
            profile: Profile | None = None) -> Instrument:
        """A lab tube: Kα1 (and Kα2 at I(Kα2)/I(Kα1) = 0.5 unless ``ka2=False``) of ``anode``.

        Wavelengths come from pymatgen's table of lab X-ray lines (``pymatgen.analysis.diffraction.xrd.
        WAVELENGTHS``). ``polarization`` defaults to 0.5 (no monochromator) or to
        :func:`monochromator_polarization` of ``monochromator_angle``.
        """
        try:  # lazy and optional: pymatgen is large and slow to import; only this convenience needs it
            from pymatgen.analysis.diffraction.xrd import WAVELENGTHS
        except ImportError:
            raise InputError("anode", "Instrument.lab needs pymatgen's table of X-ray lines (pip install pymatgen); "
                             "or give the wavelengths: Instrument(radiation='xray', wavelength=..., "
                             "wavelength2=..., ka2_ratio=0.5)") from None

        name = str(anode).strip().capitalize()
        if name not in _LAB_ANODES or f"{name}Ka1" not in WAVELENGTHS:
            raise InputError("anode", f"unknown anode {anode!r}; known: {', '.join(_LAB_ANODES)}")
        if polarization is None:
            polarization = 0.5 if monochromator_angle is None else monochromator_polarization(monochromator_angle)
        return cls(radiation="xray", wavelength=WAVELENGTHS[f"{name}Ka1"],
                   wavelength2=WAVELENGTHS[f"{name}Ka2"] if ka2 else None, ka2_ratio=KA2_KA1_RATIO if ka2 else 0.0,
                   polarization=polarization, geometry=geometry, zero=zero, monochromator_angle=monochromator_angle,
                   profile=profile or Profile(), source=f"lab:{name}", metadata={"anode": name})

    # --- derived quantities ---------------------------------------------------------------------------------
    @property
    def is_doublet(self) -> bool:
        """True when a Kα2 line contributes."""
        return self.wavelength2 is not None and self.ka2_ratio > 0

    @property
    def lines(self) -> tuple[tuple[float, float], ...]:
        """((wavelength Å, relative intensity), ...): Kα1 with weight 1, then Kα2 with ``ka2_ratio``."""
        if self.is_doublet:
            return ((self.wavelength, 1.0), (self.wavelength2, self.ka2_ratio))
        return ((self.wavelength, 1.0),)

    @property
    def pyfai_polarization_factor(self) -> float | None:
        """pyFAI's polarization_factor for this beam (``None`` for neutrons: no correction)."""
        return None if self.radiation == "neutron" else pyfai_polarization_factor(self.polarization)

    def polarization_correction(self, two_theta: ArrayLike, azimuth: ArrayLike | None = None) -> np.ndarray:
        """GSAS-II polarization factor at ``two_theta`` (deg); ones for neutrons. ``azimuth`` defaults to ours."""
        tth = np.asarray(two_theta, dtype=float)
        if self.radiation == "neutron":
            return np.ones_like(tth)
        return gsas_polarization_correction(self.polarization, tth, self.azimuth if azimuth is None else azimuth)

    # --- copies and serialization -------------------------------------------------------------------------
    def replace(self, **changes: Any) -> Instrument:
        """A copy with some fields changed; ``profile`` may be a :class:`Profile` or a mapping of changes."""
        if isinstance(changes.get("profile"), Mapping):
            changes["profile"] = dataclasses.replace(self.profile, **changes["profile"])
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as exc:
            raise InputError("instrument", f"cannot replace: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping with ``"schema": "refine.instrument/1"``."""
        out: dict[str, Any] = {"schema": SCHEMA}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "profile":
                value = value.to_dict()
            elif f.name == "metadata":
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items() if _jsonable(v)}
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Instrument:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, Mapping):
            raise InputError("instrument", f"expected a mapping, got {type(data).__name__}")
        items = dict(data)
        schema = items.pop("schema", None)
        if schema != SCHEMA:
            raise InputError("instrument", f"schema must be {SCHEMA!r}, got {schema!r}")
        unknown = set(items) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InputError("instrument", f"unknown instrument fields {sorted(unknown)}")
        if "profile" in items:
            if not isinstance(items["profile"], Mapping):
                raise InputError("instrument", "profile must be a mapping")
            items["profile"] = Profile.from_dict(items["profile"])
        try:
            return cls(**items)
        except TypeError as exc:
            raise InputError("instrument", f"incomplete instrument: {exc}") from None
