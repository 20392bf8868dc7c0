"""2D "cake" (radial × azimuthal) integration and azimuthal sectors, with pyFAI, reusing one geometry.

**χ (azimuth) convention** — pyFAI's, on the image *after* ``--flip``: χ = atan2(d₁, d₂) in degrees, (-180, 180],
where d₂ is the distance from the PONI along the columns (array axis 1, x) and d₁ along the rows (array axis 0,
y); χ = 0 points along increasing column index, χ = +90° along increasing row index (counter-clockwise when the
image is shown with row 0 at the bottom, ``origin="lower"``; clockwise with row 0 at the top). This is stated in
every cake file (attributes ``chi_origin``, ``chi_direction``).

The cake keeps pyFAI's per-bin sums: Σ signal over χ divided by Σ normalisation over χ is the 1D azimuthal
average of the same radial bin (:func:`cake_to_1d`). Sector patterns are 1D integrations restricted to
χ ranges, each with its own pyFAI engine built once and reused for every frame (:class:`SectorIntegrators`).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from refine.errors import InputError
from refine.integrate.integrator import Integrator
from refine.io.images import check_frame

CHI_ORIGIN = "chi = 0 along +columns (axis 1) from the PONI, image after --flip"
CHI_DIRECTION = "chi = +90 deg along +rows (axis 0); pyFAI convention, range (-180, 180]"


@dataclasses.dataclass(frozen=True, eq=False)
class Cake:
    """A 2D integration: arrays are (npt_azim, npt_rad).

    Attributes
    ----------
    radial
        Bin centres in ``unit`` (npt_rad,).
    chi
        Azimuth bin centres, degrees (npt_azim,).
    intensity, sigma
        Mean corrected intensity and its propagated sigma (NaN/0 where no pixel falls).
    sum_signal, sum_normalization, count
        pyFAI's per-bin sums (signal, normalisation = solid angle × polarization × flat share, pixel count).
    unit
        Radial unit.
    sum_variance
        pyFAI's per-bin propagated variance of the signal (None without an error model).
    """

    radial: np.ndarray
    chi: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    sum_signal: np.ndarray
    sum_normalization: np.ndarray
    count: np.ndarray
    unit: str
    sum_variance: np.ndarray | None = None


def _method_2d(method: tuple[str, str, str]) -> Any:
    from pyFAI.method_registry import IntegrationMethod

    found = IntegrationMethod.select_one_available(method, dim=2, degradable=True)
    if found is None:
        raise InputError("method", f"pyFAI method {method} has no 2D implementation here")
    return found


def integrate_cake(integrator: Integrator, image: np.ndarray, npt_rad: int, npt_azim: int,
                   source: str | os.PathLike | None = None) -> Cake:
    """The cake of one frame with the integrator's geometry, corrections, mask and radial range.

    Parameters
    ----------
    integrator
        A configured :class:`Integrator` (its flip, dark, flat, mask, polarization, solid angle, error model).
    image
        The frame as read from its file.
    npt_rad, npt_azim
        Radial and azimuthal bins (the azimuthal bins span -180 … 180°, or the settings' azimuth range).
    """
    name = os.fspath(source) if source is not None else "image"
    if npt_rad < 2 or npt_azim < 2:
        raise InputError("cake", f"need at least 2 radial and 2 azimuthal bins, got {npt_rad},{npt_azim}")
    data = check_frame(image, name, None)
    if integrator.shape is not None and data.shape != integrator.shape:
        raise InputError(name, f"image shape {data.shape} does not match the detector shape {integrator.shape}")
    data, dummy = integrator.prepare(data)
    s = integrator.settings
    result = integrator.ai.integrate2d_ng(
        data, npt_rad, npt_azim, unit=integrator._pyfai_unit, method=_method_2d(integrator.method),
        correctSolidAngle=s.solid_angle, polarization_factor=s.polarization_factor, error_model=s.error_model,
        radial_range=s.radial_range, azimuth_range=s.azimuth_range, mask=integrator.mask, dark=integrator.dark,
        flat=integrator.flat, **dummy)
    sigma = result.sigma if result.sigma is not None else np.zeros_like(result.intensity)
    return Cake(radial=np.asarray(result.radial, float), chi=np.asarray(result.azimuthal, float),
                intensity=np.asarray(result.intensity, float), sigma=np.asarray(sigma, float),
                sum_signal=np.asarray(result.sum_signal, float).reshape(npt_azim, npt_rad),
                sum_normalization=np.asarray(result.sum_normalization, float).reshape(npt_azim, npt_rad),
                count=np.asarray(result.count, float).reshape(npt_azim, npt_rad), unit=s.unit,
                sum_variance=None if result.sum_variance is None
                else np.asarray(result.sum_variance, float).reshape(npt_azim, npt_rad))


def cake_to_1d(cake: Cake) -> np.ndarray:
    """Σ_χ signal / Σ_χ normalisation per radial bin (NaN where nothing falls): the 1D azimuthal average."""
    norm = cake.sum_normalization.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, cake.sum_signal.sum(axis=0) / norm, np.nan)


def write_cake(path: str | os.PathLike, cake: Cake, metadata: dict[str, Any] | None = None) -> Path:
    """HDF5 with datasets ``radial`` (unit attribute), ``chi`` (deg), ``intensity``, ``sigma``, ``sum_signal``,
    ``sum_normalization``, ``count`` ((npt_azim, npt_rad), axes attribute) and the χ convention as attributes."""
    import h5py

    from refine.io.atomic import atomic_open

    path = Path(path)
    with atomic_open(path, "wb") as fh, h5py.File(fh, "w") as f:
        f.attrs["kind"] = "refine.cake/1"
        f.attrs["chi_origin"] = CHI_ORIGIN
        f.attrs["chi_direction"] = CHI_DIRECTION
        for key, value in (metadata or {}).items():
            f.attrs[key] = value if isinstance(value, (int, float, str)) else str(value)
        f.create_dataset("radial", data=cake.radial).attrs["unit"] = cake.unit
        f.create_dataset("chi", data=cake.chi).attrs["unit"] = "deg"
        for name in ("intensity", "sigma", "sum_signal", "sum_normalization", "count"):
            ds = f.create_dataset(name, data=getattr(cake, name), compression="gzip", compression_opts=4)
            ds.attrs["axes"] = "chi,radial"
    return path


def read_cake(path: str | os.PathLike) -> Cake:
    """A cake written by :func:`write_cake`."""
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != "refine.cake/1":
            raise InputError(path, "not a refine cake file (attribute kind != refine.cake/1)")
        arrays = {k: np.asarray(f[k]) for k in ("radial", "chi", "intensity", "sigma", "sum_signal",
                                                 "sum_normalization", "count")}
        unit = str(f["radial"].attrs["unit"])
    return Cake(unit=unit, **arrays)


def parse_sectors(text: str | Any) -> tuple[tuple[float, float], ...]:
    """``"CHI0:CHI1,CHI0:CHI1"`` (degrees) or a sequence of pairs -> ((lo, hi), ...)."""
    if isinstance(text, str):
        items = [part.strip() for part in text.split(",") if part.strip()]
        pairs = []
        for item in items:
            try:
                lo, hi = (float(v) for v in item.split(":"))
            except ValueError:
                raise InputError("sectors", f"expected CHI0:CHI1 in degrees, got {item!r}") from None
            pairs.append((lo, hi))
    else:
        pairs = [tuple(float(v) for v in pair) for pair in text]
    if not pairs:
        raise InputError("sectors", "no sector given")
    for lo, hi in pairs:
        if not (-360.0 <= lo < hi <= 360.0):
            raise InputError("sectors", f"need -360 <= CHI0 < CHI1 <= 360 degrees, got {lo:g}:{hi:g}")
    return tuple(pairs)


def parse_cake(text: str | Any) -> tuple[int, int]:
    """``"NPT_RAD,NPT_AZIM"`` or a pair -> (npt_rad, npt_azim)."""
    try:
        parts = text.split(",") if isinstance(text, str) else list(text)
        npt_rad, npt_azim = (int(v) for v in parts)
    except (TypeError, ValueError):
        raise InputError("cake", f"expected NPT_RAD,NPT_AZIM (two whole numbers), got {text!r}") from None
    if npt_rad < 2 or npt_azim < 2:
        raise InputError("cake", f"need at least 2 radial and 2 azimuthal bins, got {npt_rad},{npt_azim}")
    return npt_rad, npt_azim


class SectorIntegrators:
    """One :class:`Integrator` per χ range, sharing the base integrator's settings, mask and corrections; each
    holds its own pyFAI integrator (a copy of the geometry) so each builds its engine once for all frames."""

    def __init__(self, base: Integrator, sectors: tuple[tuple[float, float], ...]) -> None:
        self.sectors = sectors
        self.integrators = []
        for lo, hi in sectors:
            one = copy.copy(base)
            one.ai = copy.deepcopy(base.ai)
            one.settings = dataclasses.replace(base.settings, azimuth_range=(lo, hi))
            one.ai.reset()
            self.integrators.append(one)

    @staticmethod
    def label(sector: tuple[float, float]) -> str:
        """File-name suffix of a sector, e.g. ``chi-45_45``."""
        return f"chi{sector[0]:g}_{sector[1]:g}"

    def integrate(self, image: np.ndarray, **kwargs: Any) -> list:
        """One Pattern per sector."""
        return [integ.integrate(image, **kwargs) for integ in self.integrators]


def cake_path(out_dir: str | os.PathLike, source: str | os.PathLike, frame: int | None) -> Path:
    """``DIR/stem_cake.h5`` (``DIR/stem_00012_cake.h5`` for frame 12 of a multi-frame file)."""
    from refine.integrate.series import output_path

    one = output_path(out_dir, source, frame)
    return one.with_name(f"{one.stem}_cake.h5")


def _cake_done(path: Path, fingerprint: str) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("fingerprint") == fingerprint and "intensity" in f
    except (OSError, ValueError):
        return False


def write_cakes(paths: list[str], integrator: Integrator, out_dir: str | os.PathLike, npt: tuple[int, int], *,
                resume: bool = True, max_figures: int = 20, figure: Any = None) -> list:
    """A cake file (:func:`write_cake`) per frame of every file in ``out_dir`` and, with ``figure`` (a callable
    ``figure(cake, png_path, title)``, e.g. :func:`refine.plot.cake.plot_cake`), a figure beside it for the first
    ``max_figures`` frames; a frame that fails is recorded (its error) and the others go on.

    Returns
    -------
    list of refine.integrate.series.FrameOutput
    """
    from refine.integrate.series import FrameOutput
    from refine.io.images import ImageFile
    from refine.io.lock import folder_lock

    fingerprint = f"{integrator.fingerprint()}-cake{npt[0]}x{npt[1]}"
    results = []
    figures = 0
    with folder_lock(out_dir, command="integrate"):
        for source in paths:
            try:
                image = ImageFile(source)
            except InputError as exc:
                results.append(FrameOutput(source=source, frame=None, output=cake_path(out_dir, source, None),
                                           skipped=False, error=str(exc)))
                continue
            with image:
                n = image.nframes
                for index in range(n):
                    frame = index if n > 1 else None
                    out = cake_path(out_dir, source, frame)
                    if resume and _cake_done(out, fingerprint):
                        results.append(FrameOutput(source=source, frame=frame, output=out, skipped=True, error=None))
                        continue
                    try:
                        cake = integrate_cake(integrator, image.frame(index), *npt, source=source)
                        write_cake(out, cake, {"source": source, "frame": -1 if frame is None else frame,
                                               "fingerprint": fingerprint, "geometry": integrator.geometry})
                        if figure is not None and figures < max_figures:
                            figures += 1
                            figure(cake, out.with_suffix(".png"), out.stem)
                    except InputError as exc:
                        results.append(FrameOutput(source=source, frame=frame, output=out, skipped=False,
                                                   error=str(exc)))
                        continue
                    results.append(FrameOutput(source=source, frame=frame, output=out, skipped=False, error=None))
    return results
