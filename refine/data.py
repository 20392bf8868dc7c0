"""Frozen data objects: :class:`Pattern`, the one container every reader returns and every fit takes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refine import units
from refine.errors import InputError
from refine.frozen import PicklableProxies

#: Corrections an upstream step may have applied to the intensities; a fit never applies one twice.
CORRECTIONS = frozenset({"polarization", "solid_angle", "dark", "flat", "background", "absorption"})
#: Where the sigma of a pattern came from.
SIGMA_SOURCES = frozenset({"file", "poisson", "propagated", "unit"})
#: The radiations refine models (the one definition; instrument, scattering and the PDF engine import it).
RADIATIONS = ("xray", "neutron")


def _frozen_array(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.array(values, dtype=float, copy=True)
    if arr.ndim != 1:
        raise InputError(name, f"must be one-dimensional, got shape {arr.shape}")
    arr.flags.writeable = False
    return arr


def _freeze_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@dataclasses.dataclass(frozen=True, eq=False)
class Pattern(PicklableProxies):
    """A one-dimensional diffraction pattern or PDF, immutable.

    Parameters
    ----------
    x, y, sigma
        Abscissa, intensity and its standard uncertainty (same length). ``sigma`` is always an array; how
        it was obtained is in ``sigma_source``.
    unit
        One of :data:`refine.units.INTERNAL_UNITS` (``2th_deg``, ``q_A^-1``, ``d_A``, ``r_A``).
    sigma_source
        ``file`` (read from the file), ``poisson`` (sqrt of raw counts, only for formats that hold counts),
        ``propagated`` (integration error model) or ``unit`` (no uncertainty known: unit weights; esds of
        a fit to this pattern are not meaningful).
    radiation
        ``xray``, ``neutron`` or None when unknown.
    wavelength
        Wavelength in Å, or None when unknown (Q- and r-space data need none).
    corrections
        Corrections already applied to ``y`` (subset of :data:`CORRECTIONS`).
    metadata
        Anything else: ``source`` (file path), ``header`` (list of header lines), ``geometry`` (dict), ...
    """

    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray
    unit: str = units.TTH_DEG
    sigma_source: str = "unit"
    radiation: str | None = None
    wavelength: float | None = None
    corrections: frozenset[str] = frozenset()
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        src = self.metadata.get("source") if self.metadata else None
        x = _frozen_array(self.x, "x")
        y = _frozen_array(self.y, "y")
        sigma = _frozen_array(self.sigma, "sigma")
        if not (x.size == y.size == sigma.size):
            raise InputError(src, f"x, y and sigma differ in length ({x.size}, {y.size}, {sigma.size})")
        if self.unit not in units.INTERNAL_UNITS:
            raise InputError(src, f"pattern unit must be one of {units.INTERNAL_UNITS}, got {self.unit!r}")
        if self.sigma_source not in SIGMA_SOURCES:
            raise InputError(src, f"sigma_source must be one of {sorted(SIGMA_SOURCES)}")
        if self.radiation is not None and self.radiation not in RADIATIONS:
            raise InputError(src, f"radiation must be one of {sorted(RADIATIONS)} or None")
        corrections = frozenset(self.corrections)
        unknown = corrections - CORRECTIONS
        if unknown:
            raise InputError(src, f"unknown corrections {sorted(unknown)}; known: {sorted(CORRECTIONS)}")
        wavelength = None if self.wavelength is None else float(self.wavelength)
        for name, value in (("x", x), ("y", y), ("sigma", sigma), ("corrections", corrections),
                            ("wavelength", wavelength), ("metadata", _freeze_mapping(self.metadata))):
            object.__setattr__(self, name, value)

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, x: ArrayLike, y: ArrayLike, sigma: ArrayLike | None = None, **kwargs: Any) -> Pattern:
        """Build a pattern; without ``sigma`` the pattern gets unit weights and says so."""
        if sigma is None:
            sigma = np.ones_like(np.asarray(y, dtype=float))
            kwargs["sigma_source"] = "unit"
        return cls(x=x, y=y, sigma=sigma, **kwargs)

    def replace(self, **changes: Any) -> Pattern:
        """A copy with some fields changed (the pattern itself never changes)."""
        return dataclasses.replace(self, **changes)

    # -- views --------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.x.size)

    @property
    def source(self) -> str | None:
        """The file the pattern came from, if any."""
        return self.metadata.get("source")

    @property
    def has_sigma(self) -> bool:
        """True when sigma carries real uncertainties (not unit weights)."""
        return self.sigma_source != "unit"

    def to_unit(self, unit: str) -> Pattern:
        """The same pattern with x in another reciprocal-space unit, sorted by increasing x.

        Points that cannot be reached (e.g. Q beyond 4π/λ when going to 2θ) are dropped.
        """
        target, _ = units.normalize_unit(unit)
        if target == self.unit:
            return self
        if self.unit == units.TTH_DEG or target == units.TTH_DEG:
            if self.wavelength is None:
                raise InputError(self.source, f"cannot convert {self.unit} to {target}: wavelength unknown")
        x = units.convert(self.x, from_unit=self.unit, to_unit=target, wavelength=self.wavelength)
        keep = np.isfinite(x)
        order = np.argsort(x[keep], kind="stable")
        return self.replace(x=x[keep][order], y=self.y[keep][order], sigma=self.sigma[keep][order],
                            unit=target)

    def crop(self, lo: float | None = None, hi: float | None = None) -> Pattern:
        """Points with lo <= x <= hi (either bound may be None)."""
        keep = np.ones(self.x.size, dtype=bool)
        if lo is not None:
            keep &= self.x >= lo
        if hi is not None:
            keep &= self.x <= hi
        return self.replace(x=self.x[keep], y=self.y[keep], sigma=self.sigma[keep])

    def with_metadata(self, **items: Any) -> Pattern:
        """A copy whose metadata has ``items`` added or replaced."""
        meta = dict(self.metadata)
        meta.update(items)
        return self.replace(metadata=meta)
