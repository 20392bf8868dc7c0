"""Settings a sequential run cannot fit any scan with are bad input for the whole run, found before the first fit.

Each fit kind's ``check(pattern, phases, instrument, settings)`` builds what its fit would build from the settings
(model, parameters, refined and constrained names, fit range) and lets :class:`~refine.errors.InputError` through;
:func:`check_first` runs it once on the first scan, as ``refine pdf fit`` refuses the same settings on one file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from refine.errors import InputError

if TYPE_CHECKING:
    from refine.data import Pattern
    from refine.instrument import Instrument
    from refine.operando.sequential import FitKind, SequentialSettings
    from refine.operando.series import Scan


def check_powder(pattern: Pattern, phases: list, instrument: Instrument, settings: SequentialSettings) -> None:
    """Le Bail / Pawley: the model, the refined names, the constraints and enough points for the unknowns."""
    from refine.powder.model import PowderModel
    from refine.powder.wholepattern import check_enough_points, set_vary

    model = PowderModel(pattern, phases, instrument, options=settings.powder)
    check_enough_points([model], set_vary(model.parameters(), model, settings.refine))


def check_rietveld(pattern: Pattern, phases: list, instrument: Instrument, settings: SequentialSettings) -> None:
    """Rietveld: as :func:`check_powder`, with the structures' atoms and the Rietveld groups."""
    from refine.powder.model import PowderModel
    from refine.powder.rietveld import RietveldEngine
    from refine.powder.rietveld_stages import mark_refined
    from refine.powder.wholepattern import check_enough_points

    engine = RietveldEngine(PowderModel(pattern, phases, instrument, options=settings.powder))
    check_enough_points([engine.model], mark_refined(engine.parameters(), engine, settings.refine))


def check_pdf(pattern: Pattern, phases: list, instrument: None, settings: SequentialSettings) -> None:
    """G(r) fits: the fit model of the PDF settings (range, constraints, phases)."""
    from refine.operando.pdf_kind import gr_parameters

    if settings.pdf is None:
        raise InputError("qmax", "kind pdf needs PDF settings (SequentialSettings.pdf; on the command line --qmax)")
    gr_parameters(pattern, phases, instrument, settings.pdf)


def check_first(kind: FitKind, scan: Scan, phases: Sequence[Any], instrument: Instrument | None,
                settings: SequentialSettings) -> Pattern | None:
    """Run ``kind.check`` on the first scan with every phase (InputError goes through) and return the pattern read
    (so that the fit does not read the file again). A first file that cannot be read is that scan's failure, not
    the settings': then None."""
    try:
        pattern = kind.read(scan, settings)
    except InputError:
        return None
    kind.check(pattern, list(phases), instrument, settings)
    return pattern
