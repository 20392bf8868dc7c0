"""Every file-format registry of :mod:`refine.io`, in one module that imports no format.

A format module (:mod:`refine.io.columns`, :mod:`refine.io.gsas_exp` ...) imports this module and registers its
readers and writers; the dispatchers (:func:`refine.io.read_pattern`, :func:`refine.io.structures.read_structure`,
:func:`refine.io.instprm.read_instrument`) call :func:`load_formats` first, which imports the format modules by
name (:data:`FORMAT_MODULES`). No format module imports a dispatcher's registry through the dispatcher, so there is
no import cycle, and importing a dispatcher stays cheap until a file is read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from refine.registry import Registry

Reader = Callable[..., Any]
Writer = Callable[..., None]

PATTERN_READERS: Registry[Reader] = Registry("pattern format")
PATTERN_WRITERS: Registry[Writer] = Registry("pattern output format")
STRUCTURE_READERS: Registry[Reader] = Registry("structure format")
INSTRUMENT_READERS: Registry[Reader] = Registry("instrument format")
INSTRUMENT_WRITERS: Registry[Writer] = Registry("instrument output format")

#: kind -> the modules that register its formats (imported on first use).
FORMAT_MODULES: dict[str, tuple[str, ...]] = {
    "pattern": ("refine.io.columns", "refine.io.gsas", "refine.io.bruker"),
    "structure": ("refine.io.structures", "refine.io.gsas_exp", "refine.io.ase_formats"),
    "instrument": ("refine.io.instprm",),
}


def load_formats(kind: str) -> None:
    """Import the modules registering the formats of ``kind`` ('pattern', 'structure', 'instrument')."""
    for name in FORMAT_MODULES[kind]:
        importlib.import_module(name)
