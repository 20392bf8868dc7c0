"""refine: X-ray powder diffraction and PDF structure refinement."""

__version__ = "0.1.0"

from refine.data import Pattern  # noqa: E402
from refine.errors import InputError, RefineError  # noqa: E402

__all__ = ["Pattern", "InputError", "RefineError", "__version__"]
