"""Synthetic Debye-Scherrer images with known truth, built with our own geometry formulas (not pyFAI's).

Flat detector perpendicular to the beam (no rotations), PONI = foot of the normal from the sample:
2θ = atan(ρ/L), relative solid angle (L/r)³ (pyFAI normalises it to 1 at the PONI), and the polarization
factor in pyFAI's convention P = ½[1 + cos²2θ − f cos2χ sin²2θ] with χ measured from the horizontal
(detector columns) axis; the image holds truth(2θ)·P·Ω.
"""

from __future__ import annotations

import dataclasses

import numpy as np

WAVELENGTH_A = 0.5


@dataclasses.dataclass(frozen=True)
class Geometry:
    shape: tuple[int, int] = (160, 200)
    pixel: float = 2e-4  # m
    dist: float = 0.08  # m
    poni1: float = 0.015  # m, along rows
    poni2: float = 0.022  # m, along columns

    def poni_text(self) -> str:
        return (f"PixelSize1: {self.pixel}\nPixelSize2: {self.pixel}\nDistance: {self.dist}\nPoni1: {self.poni1}\n"
                f"Poni2: {self.poni2}\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: {WAVELENGTH_A * 1e-10}\n")

    def pixel_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(2θ in degrees, relative solid angle, cos 2χ) at every pixel centre."""
        d1 = (np.arange(self.shape[0]) + 0.5)[:, None] * self.pixel - self.poni1
        d2 = (np.arange(self.shape[1]) + 0.5)[None, :] * self.pixel - self.poni2
        rho2 = d1**2 + d2**2
        r = np.sqrt(rho2 + self.dist**2)
        tth = np.degrees(np.arctan2(np.sqrt(rho2), self.dist))
        cos2chi = np.where(rho2 > 0, (d2**2 - d1**2) / np.where(rho2 > 0, rho2, 1.0), 1.0)
        return tth, (self.dist / r) ** 3, cos2chi


#: Ring positions (2θ degrees), heights and Gaussian sigmas (degrees) of the truth pattern.
RINGS = ((5.0, 800.0, 1.2), (10.0, 500.0, 1.5), (15.0, 300.0, 1.5))
BACKGROUND = 100.0


def truth(tth: np.ndarray) -> np.ndarray:
    """The 1D pattern (intensity per solid angle, polarization removed) the image was made from."""
    out = np.full_like(np.asarray(tth, dtype=float), BACKGROUND)
    for centre, height, width in RINGS:
        out = out + height * np.exp(-0.5 * ((tth - centre) / width) ** 2)
    return out


def image(geometry: Geometry, polarization: float | None = 0.95, solid_angle: bool = True) -> np.ndarray:
    """Noise-free image of :func:`truth` with polarization and solid angle applied."""
    tth, omega, cos2chi = geometry.pixel_arrays()
    out = truth(tth)
    if polarization is not None:
        s2 = np.sin(np.radians(tth)) ** 2
        out = out * 0.5 * (1.0 + (1.0 - s2) - polarization * cos2chi * s2)
    if solid_angle:
        out = out * omega
    return out
