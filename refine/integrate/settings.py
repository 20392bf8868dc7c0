"""Integration settings (one frozen object per run) and validation of pyFAI method names."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

from refine import units
from refine.errors import InputError

#: Output units of an integration (refine's internal names, which are also pyFAI's).
UNITS = (units.TTH_DEG, units.Q_A)
FLIPS = ("ud", "lr")
ERROR_MODELS = ("poisson", "azimuthal")
#: pyFAI's default 1D method: bounding-box pixel splitting, CSR sparse matrix, Cython (OpenMP) engine.
DEFAULT_METHOD = ("bbox", "csr", "cython")

_SPLITS = ("no", "bbox", "pseudo", "full")
_ALGOS = ("histogram", "lut", "csr", "csc")
_IMPLS = ("python", "cython", "opencl")
# pyFAI's one-word spellings (tokens joined by "_", e.g. "full_csr", "csr_ocl"); see pyFAI.method_registry.
_TOKEN_ALIASES = {"splitpixel": ("split", "full"), "nosplit": ("split", "no"), "histo": ("algo", "histogram"),
                  "numpy": ("impl", "python"), "ocl": ("impl", "opencl")}


def resolve_method(method: str | tuple[str, ...] | list[str]) -> tuple[str, str, str]:
    """Turn a pyFAI method (``"csr"``, ``"full_csr"``, ``"bbox,csr,cython"`` or a 3-tuple) into the
    concrete ``(split, algo, impl)`` pyFAI will run.

    pyFAI quietly falls back to a slow pure-Python histogram for names it does not know; here an unknown
    or unavailable method is an :class:`InputError` on ``method``.
    """
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator  # noqa: F401  (fills pyFAI's method registry)
    from pyFAI.method_registry import IntegrationMethod

    fields: dict[str, str] = {}
    if isinstance(method, str) and "," in method:
        method = tuple(part.strip() for part in method.split(","))
    if isinstance(method, (tuple, list)):
        if len(method) != 3:
            raise InputError("method", f"a pyFAI method tuple is (split, algo, impl), got {method!r}")
        slots = (("split", _SPLITS), ("algo", _ALGOS), ("impl", _IMPLS))
        for (name, allowed), value in zip(slots, method, strict=True):
            value = str(value).lower()
            value = _TOKEN_ALIASES.get(value, (name, value))[1]
            if value not in allowed:
                raise InputError("method", f"unknown {name} {value!r}; one of {', '.join(allowed)}")
            fields[name] = value
    elif isinstance(method, str):
        for token in method.lower().split("_"):
            if token in _SPLITS:
                fields["split"] = token
            elif token in _ALGOS:
                fields["algo"] = token
            elif token in _IMPLS:
                fields["impl"] = token
            elif token in _TOKEN_ALIASES:
                key, value = _TOKEN_ALIASES[token]
                fields[key] = value
            else:
                raise InputError("method", f"unknown pyFAI method {method!r} (e.g. csr, full_csr, bbox,csr,cython)")
    else:
        raise InputError("method", f"a pyFAI method is a string or a 3-tuple, got {method!r}")
    request = (fields.get("split", "bbox"), fields.get("algo", "csr" if "split" not in fields else "histogram"),
               fields.get("impl", "cython"))
    found = IntegrationMethod.select_one_available(request, dim=1, degradable=False)
    if found is None:
        raise InputError("method", f"pyFAI method {request} is not available in this installation")
    return (found.split_lower, found.algo_lower, found.impl_lower)


@dataclasses.dataclass(frozen=True)
class IntegrationSettings:
    """Everything that decides how a 2D frame becomes a 1D pattern (the geometry is in the PONI).

    Parameters
    ----------
    npt
        Number of radial bins.
    unit
        ``2th_deg`` or ``q_A^-1``.
    method
        pyFAI method (string or ``(split, algo, impl)``); default bounding-box splitting with the CSR engine.
    polarization_factor
        pyFAI convention, -1..1 (1: fully polarised in the horizontal/synchrotron plane, 0: unpolarised);
        None applies no polarization correction.
    solid_angle
        Apply pyFAI's solid-angle correction (intensity per solid angle, normalised at the PONI).
    dark, flat, mask
        Image files (dark current subtracted, flat field divided; mask: nonzero = excluded), or None.
        Pixels whose flat is not positive or whose dark is not finite are masked as well.
    flip
        ``ud`` or ``lr`` flips every image (and dark, flat, mask) as read, before integration, e.g. to match
        the orientation a PONI was calibrated in (Dioptas used ``ud``); None keeps the file orientation.
    error_model
        ``poisson`` (variance = counts) or ``azimuthal`` (variance from the scatter within each ring), both
        propagated by pyFAI; None gives unit sigma.
    radial_range
        (lo, hi) in ``unit``; None integrates the full detector.
    azimuth_range
        (lo, hi) in degrees of pyFAI's χ (see :mod:`refine.integrate.cake`): a sector; None: all azimuths.
    detector
        A pyFAI detector name (``Pilatus1M`` ...): its definition replaces the PONI's plain detector (pixel sizes
        must agree), so its module gaps are masked.
    mask_invalid
        Exclude, frame by frame, non-finite, negative (Pilatus gap values) and overflowing pixels (the maximum of
        an integer image type), as pyFAI dummies (the cached engine is kept).
    sigma_clip
        Reject azimuthal outliers (spots on rings) beyond this many σ, iteratively (pyFAI ``sigma_clip_ng``, no
        pixel splitting, at most 5 iterations); None: plain averaging.
    """

    npt: int = 2000
    unit: str = units.TTH_DEG
    method: str | tuple[str, str, str] = DEFAULT_METHOD
    polarization_factor: float | None = None
    solid_angle: bool = True
    dark: str | None = None
    flat: str | None = None
    mask: str | None = None
    flip: str | None = None
    error_model: str | None = "poisson"
    radial_range: tuple[float, float] | None = None
    azimuth_range: tuple[float, float] | None = None
    detector: str | None = None
    mask_invalid: bool = False
    sigma_clip: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.npt, bool) or not isinstance(self.npt, int) or self.npt < 2:
            raise InputError("npt", f"number of bins must be an integer >= 2, got {self.npt!r}")
        if self.unit not in UNITS:
            raise InputError("unit", f"integration unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if isinstance(self.method, list):
            object.__setattr__(self, "method", tuple(self.method))
        p = self.polarization_factor
        if p is not None and (not isinstance(p, (int, float)) or not -1.0 <= p <= 1.0 or math.isnan(p)):
            raise InputError("polarization", f"polarization factor must be in [-1, 1] or None, got {p!r}")
        if self.flip not in (None, *FLIPS):
            raise InputError("flip", f"flip must be 'ud', 'lr' or None, got {self.flip!r}")
        if self.error_model not in (None, *ERROR_MODELS):
            raise InputError("error_model", f"error model must be 'poisson', 'azimuthal' or None, "
                                            f"got {self.error_model!r}")
        for name in ("dark", "flat", "mask"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, os.fspath(value))
        if self.radial_range is not None:
            try:
                lo, hi = (float(v) for v in self.radial_range)
            except (TypeError, ValueError):
                raise InputError("radial_range", f"expected (lo, hi), got {self.radial_range!r}") from None
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise InputError("radial_range", f"need finite lo < hi, got {self.radial_range!r}")
            object.__setattr__(self, "radial_range", (lo, hi))
        if self.sigma_clip is not None and not (isinstance(self.sigma_clip, (int, float)) and self.sigma_clip > 0):
            raise InputError("sigma_clip", f"need a positive number of sigma, got {self.sigma_clip!r}")
        if self.azimuth_range is not None:
            try:
                lo, hi = (float(v) for v in self.azimuth_range)
            except (TypeError, ValueError):
                raise InputError("azimuth_range", f"expected (lo, hi), got {self.azimuth_range!r}") from None
            if not (-360.0 <= lo < hi <= 360.0):
                raise InputError("azimuth_range", f"need -360 <= lo < hi <= 360 degrees, got {self.azimuth_range!r}")
            object.__setattr__(self, "azimuth_range", (lo, hi))

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able values of every setting."""
        out = dataclasses.asdict(self)
        out["method"] = list(self.method) if isinstance(self.method, tuple) else self.method
        out["radial_range"] = None if self.radial_range is None else list(self.radial_range)
        # settings at their defaults are left out so that fingerprints of older outputs hold
        for name, default in (("azimuth_range", None), ("detector", None), ("mask_invalid", False),
                              ("sigma_clip", None)):
            if out[name] == default:
                out.pop(name)
        if self.azimuth_range is not None:
            out["azimuth_range"] = list(self.azimuth_range)
        return out
