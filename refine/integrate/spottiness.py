"""Is a powder a powder? Per-ring azimuthal spottiness from a cake, and a series-level texture flag.

For every ring (a peak of the azimuthally averaged profile, Σ_χ signal / Σ_χ normalisation of the cake,
over a rolling-minimum background: prominence above 5 σ and height at least 2 % of the strongest ring) the
background-subtracted ring intensity is averaged over its radial window (± the half width at half maximum, at
least one bin) in each azimuthal bin that the detector covers fully (normalisation ≥ ½ the median over χ): a(χ).
Reported per ring:

* ``rms_over_mean`` — RMS / mean of a(χ) over χ (the plain number a user asks for), and
* ``excess`` — the same with the counting noise removed, sqrt(max(var_χ a − ⟨σ²_a⟩, 0)) / mean, σ²_a from
  pyFAI's propagated variance (or the raw counts, Poisson, without an error model).

A ring is **spotty** when its excess exceeds ``threshold`` (default 0.15: 15 % azimuthal scatter beyond
counting statistics; an ideal powder gives 0, a few large crystallites ≫ 1). A series is flagged **textured**
when at least half of its frames have a spotty ring. Smooth azimuthal trends (uncorrected polarization,
absorption) count as scatter too: apply the polarization correction when judging spottiness.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from refine.integrate.cake import Cake, cake_to_1d, integrate_cake
from refine.integrate.integrator import Integrator

DEFAULT_THRESHOLD = 0.15


@dataclass(frozen=True)
class RingSpottiness:
    """One ring of one frame: its position (radial unit), χ bins used, RMS/mean, excess over noise, flag."""

    position: float
    chi_bins: int
    mean: float
    rms_over_mean: float
    excess: float
    spotty: bool


def _background(profile: np.ndarray, width: int) -> np.ndarray:
    from scipy import ndimage

    filled = np.where(np.isfinite(profile), profile, np.nanmax(profile[np.isfinite(profile)]))
    low = ndimage.minimum_filter1d(filled, size=width, mode="nearest")
    return ndimage.uniform_filter1d(low, size=width, mode="nearest")


def ring_spottiness(cake: Cake, threshold: float = DEFAULT_THRESHOLD, min_chi_bins: int = 8,
                    min_height: float = 0.02) -> list[RingSpottiness]:
    """Spottiness of every ring found in a cake (see the module docstring); rings lower than ``min_height`` of
    the strongest are not considered."""
    from scipy.signal import find_peaks, peak_widths

    profile = cake_to_1d(cake)
    ok = np.isfinite(profile)
    if np.count_nonzero(ok) < 10:
        return []
    norm_r = cake.sum_normalization.sum(axis=0)
    var_r = (cake.sum_variance if cake.sum_variance is not None else np.clip(cake.sum_signal, 0, None)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma_r = np.where(norm_r > 0, np.sqrt(var_r) / norm_r, np.inf)
    bg = _background(profile, max(5, profile.size // 20))
    net = np.where(ok, profile - bg, 0.0)
    peaks, props = find_peaks(net, prominence=1e-12)
    floor = min_height * float(np.max(net))
    peaks = [p for p, prom in zip(peaks, props["prominences"], strict=True)
             if np.isfinite(sigma_r[p]) and prom > 5 * sigma_r[p] and net[p] > floor]
    if not peaks:
        return []
    _, _, left, right = peak_widths(net, peaks, rel_height=0.5)
    var_k_r = cake.sum_variance if cake.sum_variance is not None else np.clip(cake.sum_signal, 0, None)
    rings = []
    for p, lo, hi in zip(peaks, left, right, strict=True):
        window = slice(max(int(np.floor(lo)), p - 50, 0), min(int(np.ceil(hi)) + 1, p + 51, profile.size))
        signal = cake.sum_signal[:, window] - bg[window] * cake.sum_normalization[:, window]
        norm = cake.sum_normalization[:, window].sum(axis=1)
        full = norm >= 0.5 * np.median(norm[norm > 0]) if np.any(norm > 0) else norm > 0
        if np.count_nonzero(full) < min_chi_bins:
            continue
        a = signal.sum(axis=1)[full] / norm[full]
        var_a = var_k_r[:, window].sum(axis=1)[full] / norm[full] ** 2
        mean = float(np.mean(a))
        if not mean > 0:
            continue
        rms = float(np.sqrt(np.mean((a - mean) ** 2)))
        excess = float(np.sqrt(max(np.var(a) - np.mean(var_a), 0.0)) / mean)
        rings.append(RingSpottiness(position=float(cake.radial[p]), chi_bins=int(np.count_nonzero(full)), mean=mean,
                                    rms_over_mean=rms / mean, excess=excess, spotty=excess > threshold))
    return rings


def frame_spottiness(integrator: Integrator, image: np.ndarray, npt_azim: int = 72,
                     threshold: float = DEFAULT_THRESHOLD, source: str | os.PathLike | None = None
                     ) -> list[RingSpottiness]:
    """Rings and their spottiness of one frame, from a cake with the integrator's radial bins."""
    cake = integrate_cake(integrator, image, integrator.settings.npt, npt_azim, source=source)
    return ring_spottiness(cake, threshold)


def series_report(frames: list[dict[str, Any]], threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """The series' texture flag from per-frame records ({"source", "frame", "rings": [RingSpottiness...]})."""
    spotty = [f for f in frames if any(r.spotty for r in f["rings"])]
    return {"threshold": threshold, "frames": len(frames), "frames_with_spotty_rings": len(spotty),
            "textured": bool(frames) and 2 * len(spotty) >= len(frames),
            "per_frame": [{"source": f["source"], "frame": f["frame"], "rings": [asdict(r) for r in f["rings"]]}
                          for f in frames]}


def spottiness_series(paths: list[str], integrator: Integrator, threshold: float = DEFAULT_THRESHOLD,
                      npt_azim: int = 72) -> dict[str, Any]:
    """:func:`series_report` of every frame of every file (files that cannot be read are left out and named)."""
    from refine.errors import InputError
    from refine.io.images import ImageFile

    frames: list[dict[str, Any]] = []
    errors: list[str] = []
    for source in paths:
        try:
            with ImageFile(source) as image:
                for index in range(image.nframes):
                    rings = frame_spottiness(integrator, image.frame(index), npt_azim, threshold, source)
                    frames.append({"source": source, "frame": index if image.nframes > 1 else None, "rings": rings})
        except InputError as exc:
            errors.append(str(exc))
    report = series_report(frames, threshold)
    report["errors"] = errors
    return report
