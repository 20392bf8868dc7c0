"""The bundled example data (simulated inputs made by the seeded scripts beside them), shipped inside the package
so that ``refine demo`` works from any folder after ``pip install``."""

from __future__ import annotations

from pathlib import Path

#: Folder of the bundled example data (``refine/example_data`` in the source tree and in an installed wheel).
EXAMPLE_DATA = Path(__file__).resolve().parent / "example_data"


def example_path(*parts: str) -> Path:
    """Path of a file of the bundled example data, e.g. ``example_path("cu.cif")``."""
    return EXAMPLE_DATA.joinpath(*parts)
