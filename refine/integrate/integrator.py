"""Azimuthal integration of 2D frames into 1D :class:`~refine.data.Pattern` objects with pyFAI.

An :class:`Integrator` is built once per run (geometry, mask, dark, flat read and checked once) and reused for
every frame. pyFAI keeps its sparse-matrix (CSR) engine on the ``AzimuthalIntegrator`` and rebuilds it only
when the image size, bins, unit, mask checksum or ranges change; every call here passes identical arguments
and arrays so the engine is built on the first frame and hit on all others.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from refine import units
from refine.data import Pattern
from refine.errors import InputError
from refine.integrate.settings import IntegrationSettings, resolve_method
from refine.io.images import check_frame, read_image
from refine.io.masks import check_shape, read_mask
from refine.io.poni import geometry_metadata, read_poni

#: Value given to invalid pixels (``mask_invalid``); pyFAI skips pixels within 0.5 of it.
DUMMY = -1.0e9


def flip_image(data: np.ndarray, flip: str | None) -> np.ndarray:
    """``ud`` reverses the rows, ``lr`` the columns, None leaves the array as it is."""
    if flip == "ud":
        return np.flipud(data)
    if flip == "lr":
        return np.fliplr(data)
    return data


def _digest(arrays: list[np.ndarray | None]) -> str:
    h = hashlib.sha256()
    for arr in arrays:
        h.update(b"none" if arr is None else np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


class Integrator:
    """Integrate frames with one geometry and one set of :class:`IntegrationSettings`.

    Parameters
    ----------
    poni
        A PONI file or a pyFAI ``AzimuthalIntegrator`` (used as is; it then caches the engine).
    settings
        How to integrate.

    Attributes
    ----------
    ai
        The pyFAI ``AzimuthalIntegrator``.
    method
        The concrete pyFAI ``(split, algo, impl)`` run.
    shape
        Detector shape (rows, columns): from the detector definition, the mask, dark or flat, else fixed by
        the first frame integrated. Every frame must have it.
    """

    def __init__(self, poni: str | os.PathLike | Any, settings: IntegrationSettings | None = None) -> None:
        self.settings = settings = settings or IntegrationSettings()
        if isinstance(poni, (str, os.PathLike)):
            self.poni_path: str | None = os.fspath(poni)
            self.ai = read_poni(poni)
        else:
            self.poni_path = None
            self.ai = poni
        self.method = resolve_method(settings.method)
        if settings.detector is not None:
            self._use_detector(settings.detector)
        detector_shape = self.ai.detector.shape
        self.shape: tuple[int, int] | None = None if detector_shape is None else tuple(int(n) for n in detector_shape)
        self._shape_from = "detector " + str(self.ai.detector.name)
        self.dark = self._read_correction(settings.dark, "dark")
        self.flat = self._read_correction(settings.flat, "flat")
        if self.flat is not None and not np.any(self.flat > 0):
            raise InputError(settings.flat, "flat field has no positive pixel")
        masks = []
        if settings.mask is not None:
            masks.append(flip_image(read_mask(settings.mask, self.shape), settings.flip))
            self._fix_shape(masks[-1].shape, settings.mask, "mask")
        # Pixels no correction can rescue: a flat <= 0 or non-finite (division), a non-finite dark.
        if self.flat is not None:
            masks.append(~(np.isfinite(self.flat) & (self.flat > 0)))
        if self.dark is not None:
            masks.append(~np.isfinite(self.dark))
        self.mask = None
        if masks:
            mask = np.logical_or.reduce(masks)
            # pyFAI uses an explicit mask instead of the detector's own (e.g. module gaps): keep both.
            own = self.ai.detector.mask
            if own is not None and own.shape == mask.shape:
                mask = mask | (own != 0)
            self.mask = np.ascontiguousarray(mask, dtype=np.int8)
        self.corrections = frozenset(
            name for name, applied in (("polarization", settings.polarization_factor is not None),
                                       ("solid_angle", settings.solid_angle), ("dark", self.dark is not None),
                                       ("flat", self.flat is not None)) if applied)
        self.geometry = geometry_metadata(self.ai)
        self.radial: np.ndarray | None = None
        self._arrays_digest = _digest([self.mask, self.dark, self.flat])
        self._pyfai_unit = {units.TTH_DEG: "2th_deg", units.Q_A: "q_A^-1"}[settings.unit]

    # -- set-up ---------------------------------------------------------------------------------------
    def _use_detector(self, name: str) -> None:
        """Put pyFAI's named detector (with its gap mask) under the PONI geometry; the pixel sizes must agree."""
        from refine.integrate.masking import named_detector

        detector = named_detector(name)
        mine = (float(self.ai.detector.pixel1), float(self.ai.detector.pixel2))
        theirs = (float(detector.pixel1), float(detector.pixel2))
        if not np.allclose(mine, theirs, rtol=1e-6):
            raise InputError("detector", f"{name} has {theirs[0] * 1e6:g} x {theirs[1] * 1e6:g} µm pixels, the PONI "
                                         f"{mine[0] * 1e6:g} x {mine[1] * 1e6:g} µm")
        self.ai.detector = detector
        self.ai.reset()

    def _fix_shape(self, shape: tuple[int, ...], source: str, what: str) -> None:
        if self.shape is None:
            self.shape, self._shape_from = (int(shape[0]), int(shape[1])), f"{what} {source}"
        else:
            check_shape(source, tuple(shape), self.shape, what)

    def _read_correction(self, path: str | None, what: str) -> np.ndarray | None:
        if path is None:
            return None
        data = flip_image(read_image(path), self.settings.flip)
        self._fix_shape(data.shape, path, what)
        return np.ascontiguousarray(data, dtype=np.float32)

    # -- provenance -----------------------------------------------------------------------------------
    def settings_metadata(self) -> dict[str, Any]:
        """Every setting, the resolved pyFAI method, the pyFAI version and checksums of mask/dark/flat."""
        import pyFAI

        out = self.settings.as_dict()
        out.update(method_resolved=list(self.method), pyfai_version=pyFAI.version, poni=self.poni_path,
                   detector_shape=None if self.shape is None else list(self.shape),
                   arrays_sha256=self._arrays_digest)
        return out

    def fingerprint(self) -> str:
        """A short hash of geometry + settings + correction arrays: equal fingerprints, equal outputs."""
        meta = self.settings_metadata()
        # The geometry values count, not where they were read from; a shape mismatch fails anyway.
        meta.pop("poni", None)
        meta.pop("detector_shape", None)
        text = json.dumps({"geometry": self.geometry, "settings": meta}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _provenance(self) -> tuple[dict[str, Any], str]:
        """:meth:`settings_metadata` and :meth:`fingerprint`, computed once per detector shape (not per frame)."""
        cached = getattr(self, "_provenance_cache", None)
        if cached is None or cached[0] != self.shape:
            cached = (self.shape, self.settings_metadata(), self.fingerprint())
            self._provenance_cache = cached
        return dict(cached[1]), cached[2]

    @property
    def engine(self) -> Any:
        """pyFAI's cached integration engine for :attr:`method` (None before the first frame)."""
        from pyFAI.method_registry import IntegrationMethod

        method = IntegrationMethod.select_one_available(self.method, dim=1)
        engine = self.ai.engines.get(method)
        return None if engine is None else engine.engine

    # -- integration ----------------------------------------------------------------------------------
    def integrate(self, image: np.ndarray, *, source: str | os.PathLike | None = None,
                  frame: int | None = None) -> Pattern:
        """Integrate one 2D frame (as read from its file; the configured flip is applied here).

        Parameters
        ----------
        image
            2D array of counts.
        source, frame
            Where the frame came from (for messages and metadata).

        Returns
        -------
        Pattern
            x in the settings' unit, azimuthally averaged intensity, sigma propagated by pyFAI's error model
            (``sigma_source='propagated'``) or unit sigma without one. Bins that no pixel reaches (masked,
            off the detector, outside the radial range) are dropped, and so are bins whose error model gives
            no positive sigma; ``metadata['bins_dropped']`` counts them.
        """
        name = os.fspath(source) if source is not None else "image"
        data = check_frame(image, name, frame)
        where = "" if frame is None else f" frame {frame}"
        if self.shape is None:
            self._fix_shape(data.shape, name, "image")
        elif data.shape != self.shape:
            raise InputError(name, f"image{where} shape {data.shape} does not match the detector shape "
                                   f"{self.shape} (from {self._shape_from})")
        data, dummy = self.prepare(data)
        s = self.settings
        common = dict(unit=self._pyfai_unit, correctSolidAngle=s.solid_angle, polarization_factor=s.polarization_factor,
                      radial_range=s.radial_range, azimuth_range=s.azimuth_range, mask=self.mask, dark=self.dark,
                      flat=self.flat, **dummy)
        if s.sigma_clip is not None:
            result = self.ai.sigma_clip_ng(data, s.npt, method=("no", *self.method[1:]), thres=float(s.sigma_clip),
                                           max_iter=5, error_model=s.error_model or "poisson", **common)
        else:
            result = self.ai.integrate1d(data, s.npt, method=self.method, error_model=s.error_model, **common)
        x = np.asarray(result.radial, dtype=float)
        self.radial = x  # the full grid (before bins are dropped): the same for every frame of a run
        y = np.asarray(result.intensity, dtype=float)
        count = getattr(result, "count", None)
        keep = np.ones(x.size, dtype=bool) if count is None else np.asarray(count) > 0
        if s.error_model is not None:
            sigma, sigma_source = np.asarray(result.sigma, dtype=float), "propagated"
            # e.g. the azimuthal model in a bin holding a single pixel: no uncertainty estimate, no point
            keep &= np.isfinite(sigma) & (sigma > 0)
        else:
            sigma, sigma_source = np.ones_like(y), "unit"
        if not np.any(keep):
            raise InputError(name, f"image{where}: no unmasked pixel falls in the radial range")
        settings_meta, fingerprint = self._provenance()
        metadata = {"source": None if source is None else name, "frame": frame, "format": "image",
                    "geometry": self.geometry, "integration": settings_meta,
                    "fingerprint": fingerprint, "bins_dropped": int(np.count_nonzero(~keep))}
        return Pattern(x=x[keep], y=y[keep], sigma=sigma[keep], unit=s.unit, sigma_source=sigma_source,
                       radiation="xray", wavelength=self.geometry["wavelength_A"], corrections=self.corrections,
                       metadata=metadata)

    def prepare(self, data: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """The frame flipped as configured and, with ``mask_invalid``, its invalid pixels set to a pyFAI dummy
        value (returned as the ``dummy``/``delta_dummy`` keywords)."""
        data = flip_image(data, self.settings.flip)
        if not self.settings.mask_invalid:
            return data, {}
        from refine.integrate.masking import invalid_pixels

        bad = invalid_pixels(data)
        out = np.where(bad, DUMMY, data).astype(np.float32)
        return out, {"dummy": DUMMY, "delta_dummy": 0.5}

    def integrate_file(self, path: str | os.PathLike) -> list[Pattern]:
        """Every frame of one image file, integrated."""
        from refine.io.images import iter_frames

        path = Path(path)
        frames = list(iter_frames(path))
        multi = len(frames) > 1
        return [self.integrate(data, source=path, frame=index if multi else None) for index, data in frames]
