"""pyFAI PONI geometry files.

pyFAI itself accepts almost any text as a PONI (missing keys silently default, e.g. a 1 m distance and no
pixel size), so :func:`read_poni` checks that the file names a complete geometry before trusting it:
distance, PONI and the three rotations, a pixel size (directly or through a named detector) and a wavelength.
Lengths in a PONI file are metres; :func:`geometry_metadata` reports them with the wavelength also in Å.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from refine.errors import InputError
from refine.io.paths import check_regular_file

_REQUIRED = ("distance", "poni1", "poni2", "rot1", "rot2", "rot3")


def _keys(text: str) -> set[str]:
    """Lower-cased keys of the ``key: value`` lines of a PONI file (JSON PONI files too)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            return set()
        keys = {str(k).lower() for k in data}
        return keys | ({"distance"} if "dist" in keys else set())
    keys = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        keys.add(line.split(":", 1)[0].strip().lower())
    return keys


def _integrator(path: Path) -> Any:
    """The integrator of a PONI file, built from pyFAI's PoniFile. ``AzimuthalIntegrator.load`` would do the same
    and then reset the integrator's caches with a full ``gc.collect()`` (0.1-0.2 s in a process holding many
    objects, for an integrator that has no caches yet)."""
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    from pyFAI.io.ponifile import PoniFile

    poni = PoniFile(str(path))
    values = {k: getattr(poni, k) for k in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "detector", "wavelength")}
    ai = AzimuthalIntegrator(**{k: v for k, v in values.items() if v is not None})
    if getattr(poni, "parallax", None):  # PONI version 3 (pyFAI >= 2025)
        ai.enable_parallax()
    return ai


def read_poni(path: str | os.PathLike):
    """Read a PONI file into a pyFAI ``AzimuthalIntegrator`` (geometry + detector + wavelength).

    Raises
    ------
    InputError
        When the file is missing, does not parse, lacks a geometry key, pixel size or wavelength, or holds
        non-physical values (distance or pixel size not positive).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such PONI file")
    check_regular_file(path, kind="PONI")  # a folder, a device such as /dev/zero, a pipe, a huge file
    try:
        text = path.read_text(errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read as a PONI text file ({exc})") from None
    keys = _keys(text)
    missing = [k for k in _REQUIRED if k not in keys]
    if missing:
        raise InputError(path, f"not a PONI file: missing {', '.join(missing)}")
    if "wavelength" not in keys:
        raise InputError(path, "PONI file has no Wavelength (needed for 2theta/Q in Å)")
    try:
        ai = _integrator(path)
    except Exception as exc:  # pyFAI raises ValueError, KeyError, json errors ... on malformed values
        first = (str(exc).strip().splitlines() or [""])[0]  # pyFAI goes on with every detector name it knows
        raise InputError(path, f"PONI file does not parse ({type(exc).__name__}: {first[:200]})") from None
    checks = (("Distance", ai.dist), ("PixelSize1", ai.detector.pixel1), ("PixelSize2", ai.detector.pixel2),
              ("Wavelength", ai.wavelength))
    for name, value in checks:
        if value is None or not math.isfinite(value) or value <= 0:
            raise InputError(path, f"PONI {name} must be a positive number, got {value!r}")
    for name in ("poni1", "poni2", "rot1", "rot2", "rot3"):
        if not math.isfinite(getattr(ai, name)):
            raise InputError(path, f"PONI {name} is not a finite number")
    return ai


def geometry_metadata(ai: Any) -> dict[str, Any]:
    """The geometry of an integrator as plain JSON-able values (metres and radians as in PONI files)."""
    detector = ai.detector
    return {
        "detector": detector.name,
        "detector_shape": None if detector.shape is None else [int(n) for n in detector.shape],
        "pixel1_m": float(detector.pixel1),
        "pixel2_m": float(detector.pixel2),
        "dist_m": float(ai.dist),
        "poni1_m": float(ai.poni1),
        "poni2_m": float(ai.poni2),
        "rot1_rad": float(ai.rot1),
        "rot2_rad": float(ai.rot2),
        "rot3_rad": float(ai.rot3),
        "wavelength_m": float(ai.wavelength),
        "wavelength_A": float(f"{ai.wavelength * 1e10:.12g}"),  # Å; drop the float noise of the m->Å step
    }


def write_poni(path: str | os.PathLike, ai: Any, comments: dict[str, str] | None = None) -> Path:
    """Write the geometry of ``ai`` as a pyFAI PONI file (pyFAI's own serialiser, wavelength in metres),
    atomically; ``comments`` become ``# key: value`` lines. Returns the path."""
    from pyFAI.io.ponifile import PoniFile

    from refine import __version__
    from refine.io.atomic import atomic_open

    poni = PoniFile(ai)
    poni.extra.update(comments or {})
    poni.extra["written by"] = f"refine {__version__}"  # the mark of refine.io.outputs.written_by_refine
    with atomic_open(path, "w") as fh:
        poni.write(fh)
    return Path(path)
