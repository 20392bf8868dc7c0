"""``refine.lebail`` and ``refine.pawley``: whole-pattern fits of one or more phases."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from refine.api._inputs import as_powder_pattern, as_structures, check_files, source_of
from refine.api.options import LebailOptions, PawleyOptions


def lebail(pattern: Any, phases: Any, *, wavelength: float | None = None, instrument: Any = None,
           **options: Any):
    """Le Bail fit of one or more phases.

    Parameters
    ----------
    pattern
        Powder pattern in 2θ: a file (.xye, .xy, .gsas, .fxye, .raw ...) or a :class:`~refine.data.Pattern`.
    phases
        One or a list of structure files (CIF, .stru, .EXP ...), CrystalStructures, or :func:`refine.phase`.
    wavelength, instrument
        A monochromatic wavelength (Å), or an instrument (GSAS .prm / GSAS-II .instprm file or an Instrument);
        neither: the pattern file's own wavelengths.
    **options
        The options of ``refine lebail`` (:class:`refine.api.options.LebailOptions`): ``range="LO:HI"``,
        ``exclude``, ``background``, ``exclude_phase``, ``constrain``, ``refine="cell,zero,W,X,Y"``, and the
        files written only when given: ``json``, ``plot`` (with ``plot_hkl``), ``hkl``, ``write_instrument``.

    Returns
    -------
    FitResult
        ``extra["notes"]`` says how the instrument was chosen; ``extra["written"]`` lists (kind, path) of the
        files written.
    """
    return whole_pattern_fit("lebail", pattern, phases, wavelength, instrument, LebailOptions.from_options(options))


def pawley(pattern: Any, phases: Any, *, wavelength: float | None = None, instrument: Any = None,
           **options: Any):
    """Pawley fit of one or more phases; arguments and options as :func:`lebail`."""
    return whole_pattern_fit("pawley", pattern, phases, wavelength, instrument, PawleyOptions.from_options(options))


def whole_pattern_fit(kind: str, pattern: Any, phases: Any, wavelength: float | None, instrument: Any,
                      opts: LebailOptions):
    """Read the inputs, fit (Le Bail or Pawley) and write the files asked for."""
    from refine.powder.lebail import fit_lebail
    from refine.powder.pawley import fit_pawley
    from refine.powder.setup import instrument_for, powder_options

    check_files({"json": opts.json, "plot": opts.plot, "write_instrument": opts.write_instrument, "hkl": opts.hkl})
    observed = as_powder_pattern(pattern, bank=opts.bank)
    structures = as_structures(phases)
    inst, notes = instrument_for(observed, wavelength=wavelength, instrument=instrument)
    powder = powder_options(opts, inst, observed)
    fitter = fit_lebail if kind == "lebail" else fit_pawley
    result = with_noted_warnings(fitter(observed, structures, inst, refine=list(opts.refine), options=powder), notes)
    settings = {"command": kind, "phases": [source_of(p) or getattr(p, "name", None) for p in _list(phases)],
                "wavelength": wavelength, "instrument": source_of(instrument), **opts.settings(),
                "refine": list(opts.refine), "background": str(powder.background), "notes": notes}
    written = write_powder_files(result, opts, data=source_of(pattern) or observed.source, settings=settings,
                                 instrument=inst)
    if opts.write_instrument:
        from refine.io.instprm import write_instrument
        from refine.powder.wholepattern import instrument_from

        write_instrument(instrument_from(result.params, model=result.extra["model"]), opts.write_instrument)
        written.append(("instrument", str(opts.write_instrument)))
    return with_extra(result, notes=notes, written=written)


def _list(items: Any) -> list:
    from refine.api._inputs import as_list

    return as_list(items)


def write_powder_files(result, opts: Any, *, data: Any, settings: dict, instrument, title: str | None = None,
                       structures: Any = None) -> list[tuple[str, str]]:
    """Write the files a powder fit's options ask for, in the command line's order: result (``json``), refined
    structures (``cif_out``), reflections (``hkl``), figure (``plot``). Returns (kind, path) of each."""
    written: list[tuple[str, str]] = []
    if opts.json:
        from refine.fit import write_result

        write_result(result, opts.json, data=data, settings=settings)
        written.append(("result", str(opts.json)))
    if getattr(opts, "cif_out", None) and structures:
        from refine.api._inputs import numbered
        from refine.io.structures import write_cif

        for i, structure in enumerate(structures):
            write_cif(structure, numbered(opts.cif_out, i))
            written.append(("structure", str(numbered(opts.cif_out, i))))
    if opts.hkl:
        from refine.powder.reflection_table import tables_of, write_reflections

        write_reflections(tables_of(result), opts.hkl)
        written.append(("reflections", str(opts.hkl)))
    if opts.plot:
        from refine.plot import plot_fit

        wavelength = None if title else instrument.wavelength
        plot_fit(result, opts.plot, title=title, hkl_labels=opts.plot_hkl,
                 **({"wavelength": wavelength} if wavelength is not None else {}))
        written.append(("figure", str(opts.plot)))
    return written


def with_noted_warnings(result, notes: list[str]):
    """The result with the ``warning: ...`` notes of its set-up (a wavelength the file contradicts) among its own
    warnings, so that its result file holds them and ``--strict`` counts them."""
    from refine.notation import note_warnings

    extra = tuple(note_warnings(notes))
    return replace(result, warnings=(*result.warnings, *extra)) if extra else result


def with_extra(result, **items: Any):
    """The result with ``items`` added to its ``extra`` mapping (notes, files written)."""
    return replace(result, extra={**result.extra, **items})
