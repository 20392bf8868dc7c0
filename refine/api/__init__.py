"""The facade: one function per workflow, with the command line's option names and defaults.

The modules are named apart from the functions (``images`` holds ``integrate``) so that importing a module never
hides a function of the same name on this package.

``import refine`` exposes these lazily (``refine.lebail`` ...); each module imports its engine only when called.
"""

from __future__ import annotations

#: Facade function -> module of refine.api that defines it.
FUNCTIONS = {
    "read_pattern": "io", "read_structure": "io", "phase": "io",
    "integrate": "images", "calibrate": "images",
    "lebail": "powder", "pawley": "powder", "rietveld": "rietveld_fit", "simulate": "simulation",
    "pdf_reduce": "pdf", "pdf_fit": "pdf", "pdf_diff": "pdf", "pdf_calc": "calculation", "sequential": "series",
    "identify": "phase_search",
    "operando": "stack",
    "parametric": "parametric_fit",
}

__all__ = sorted(FUNCTIONS)


def __getattr__(name: str):
    if name in FUNCTIONS:
        import importlib

        return getattr(importlib.import_module(f"refine.api.{FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'refine.api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *FUNCTIONS})
