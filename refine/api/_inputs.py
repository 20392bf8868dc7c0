"""Inputs of the facade: a path or an object (Pattern, CrystalStructure, Instrument), each turned into the object."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from refine.data import Pattern
from refine.errors import InputError

PathLike = str | os.PathLike


def source_of(item: Any) -> str | None:
    """The path of an input given as a path (for result files and messages), else None."""
    return os.fspath(item) if isinstance(item, (str, os.PathLike)) else None


def as_powder_pattern(pattern: PathLike | Pattern, *, bank: int | None = None) -> Pattern:
    """A powder pattern in 2θ from a file (``bank`` of a multi-bank file) or a Pattern."""
    if isinstance(pattern, Pattern):
        return pattern
    from refine.io import read_powder_pattern

    return read_powder_pattern(pattern, bank=bank)


def as_list(items: Any) -> list:
    """One input or a list of them, as a list (a single path or object is a list of one)."""
    if isinstance(items, (str, os.PathLike)) or not isinstance(items, Sequence):
        return [items]
    return list(items)


def as_structures(phases: Any, *, need_atoms: str | None = None) -> list:
    """CrystalStructures from paths (named after the file when it has no name) or structures; ``need_atoms`` names
    the command for which a phase without atoms is bad input."""
    from refine.crystal.structure import CrystalStructure
    from refine.io.structures import read_structure

    out = []
    for item in as_list(phases):
        if isinstance(item, CrystalStructure):
            structure = item
        elif isinstance(item, (str, os.PathLike)):
            structure = read_structure(item)
            structure = structure if structure.name else structure.replace(name=Path(item).stem)
            if need_atoms and not structure.sites:
                raise InputError(item, f"the structure has no atoms: {need_atoms} needs them (use refine lebail)")
        else:
            raise InputError("phases", f"expected a structure file or a CrystalStructure, got {type(item).__name__}")
        out.append(structure)
    if not out:
        raise InputError("phases", "give at least one phase (a structure file or refine.phase(...))")
    return out


def check_files(files: Mapping[str, Any], folders: Mapping[str, Any] | None = None) -> None:
    """Check the output files (option name -> path or None) before any work is done."""
    from refine.io.paths import check_outputs

    check_outputs(files={k: v for k, v in files.items() if v is not None},
                  folders={k: v for k, v in (folders or {}).items() if v is not None})


def numbered(path: PathLike, index: int) -> Path:
    """``OUT.cif`` for the first structure, ``OUT.2.cif``, ``OUT.3.cif`` ... for the next."""
    out = Path(path)
    return out if index == 0 else out.with_name(f"{out.stem}.{index + 1}{out.suffix}")
