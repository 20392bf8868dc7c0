"""The ``pdf`` kind of sequential fits: one real-space G(r) fit per scan (a temperature or operando series of PDFs).

Each scan is fitted as ``refine pdf fit`` fits one file (:mod:`refine.pdf.fitting`: the phases' pair tables or
crystalline models, PDFfit2 parameters, PDF Rw). The sequential loop (:mod:`refine.operando.sequential`) hands in
``PhaseInput`` phases, ``PDFFitSettings`` as the options and no instrument; what is refined follows the settings
(sharpening, envelope, ``refine_structure``), so the loop's ``refine`` list does not apply.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import lmfit

from refine.data import Pattern
from refine.errors import InputError
from refine.fit import FitResult
from refine.io.atomic import sha256_of
from refine.pdf.fitting import PDFFitSettings, PhaseInput, build_model, fit_pdf


def read_gr(path: str | os.PathLike) -> Pattern:
    """An observed G(r) (r in Å); any other kind of file is refused."""
    from refine.io import read_pattern

    pattern = read_pattern(path)
    if pattern.unit != "r_A":
        raise InputError(str(path), f"read as {pattern.unit}, not G(r): kind pdf needs G(r) files (.gr)")
    return pattern


def gr_parameters(pattern: Pattern, phases: Sequence[PhaseInput], instrument: None,
                  options: PDFFitSettings) -> lmfit.Parameters:
    """The full starting parameter set of one scan's fit (as ``refine pdf fit`` would start it)."""
    return build_model(pattern, phases, options).params


def fit_gr(pattern: Pattern, phases: Sequence[PhaseInput], instrument: None, *, refine: Sequence[str] = (),
           options: PDFFitSettings, params: lmfit.Parameters | None = None) -> FitResult:
    """Fit one G(r); ``params`` (from :func:`gr_parameters`, values possibly carried over) gives the start values.

    ``instrument`` and ``refine`` are part of the kinds' common call and unused here: the settings decide.
    """
    # with params: values only (what varies and the constraints stay the model's own); without (first scan, or every
    # scan with restart_each): the user's start, its cells brought in reach by the start scan
    return fit_pdf(pattern, phases, options, params=params)


def describe_inputs(phases: Sequence[PhaseInput]) -> list:
    """The phases' part of a run's fingerprint: source file with its sha256, flags, cell and atom count."""
    return [[p.source, sha256_of(p.source) if p.source and os.path.isfile(p.source) else None, p.fixed,
             p.refine_structure, p.prefix, list(p.structure.lattice), p.structure.natoms] for p in phases]
