"""``refine.rietveld``: Rietveld refinement of one or more phases, alone, with a G(r) of the same sample
(``pdf=``), or jointly with more patterns (``joint=``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from refine.api._inputs import as_list, as_powder_pattern, as_structures, check_files, source_of
from refine.api.options import RietveldCommandOptions
from refine.api.powder import with_extra, with_noted_warnings, write_powder_files
from refine.errors import InputError


def rietveld(pattern: Any, phases: Any, *, wavelength: float | None = None, instrument: Any = None,
             **options: Any):
    """Rietveld refinement of one or more phases with atoms.

    Parameters
    ----------
    pattern
        Powder pattern in 2θ (a file or a Pattern).
    phases
        One or a list of structure files (CIF, .stru, .EXP, a supercell) or CrystalStructures, with atoms.
    wavelength, instrument
        A monochromatic wavelength (Å), or an instrument (.prm / .instprm file or an Instrument).
    **options
        The options of ``refine rietveld`` (:class:`refine.api.options.RietveldCommandOptions`): ``range``,
        ``exclude``, ``background``, ``refine``, ``no_dispersion``, ``po_axis``, ``texture``, ``restrain``,
        ``restrain_bond``; ``pdf=GR`` with ``pdf_qmax`` co-refines a G(r); ``joint=[PATTERN2 ...]`` with
        ``joint_instrument`` refines more patterns together; files written only when given: ``json``, ``plot``,
        ``hkl``, ``cif_out``.

    Returns
    -------
    FitResult
        With ``extra["structures"]`` (the refined structures), ``extra["notes"]`` and ``extra["written"]``.
    """
    from refine.powder.setup import instrument_for, powder_options

    opts = RietveldCommandOptions.from_options(options)
    check_files({"json": opts.json, "plot": opts.plot, "cif_out": opts.cif_out, "hkl": opts.hkl})
    observed = as_powder_pattern(pattern, bank=opts.bank)
    structures = as_structures(phases, need_atoms="Rietveld")
    inst, notes = instrument_for(observed, wavelength=wavelength, instrument=instrument)
    powder = powder_options(opts, inst, observed)
    run = _Run(source_of(pattern) or observed.source, [source_of(p) or p.name for p in as_list(phases)], notes,
               wavelength, source_of(instrument))
    if opts.joint or opts.joint_instrument or opts.joint_range or opts.joint_refine:
        if opts.pdf:
            raise InputError("pdf", "co-refinement with a PDF and joint patterns cannot be combined yet")
        return _joint(opts, observed, structures, inst, powder, run)
    if opts.pdf or opts.pdf_qmax is not None:
        return _bragg_pdf(opts, observed, structures, inst, powder, run)
    return _single(opts, observed, structures, inst, powder, run)


class _Run:
    """What the result file records about the inputs."""

    def __init__(self, data: str, phases: list, notes: list[str], wavelength: float | None,
                 instrument: str | None) -> None:
        self.data, self.phases, self.notes = data, phases, notes
        self.wavelength, self.instrument = wavelength, instrument


def _rietveld_options(opts: RietveldCommandOptions, restraints: tuple = ()):
    from refine.powder.rietveld import RietveldOptions

    return RietveldOptions(dispersion=not opts.no_dispersion, po_axis=opts.po_axis, texture_order=opts.texture,
                           restraints=restraints)


def _single(opts, pattern, phases, instrument, powder, run: _Run):
    from refine.powder.rietveld import fit_rietveld
    from refine.powder.setup import check_restraints, restraints_for

    restraints = restraints_for(opts.restrain, opts.restrain_bond, phases)
    if restraints:
        from refine.powder.model import PowderModel
        from refine.powder.rietveld import RietveldEngine

        check_restraints(restraints, RietveldEngine(PowderModel(pattern, phases, instrument, options=powder))
                         .parameters())
    result = fit_rietveld(pattern, phases, instrument, refine=list(opts.refine), options=powder,
                          rietveld=_rietveld_options(opts, restraints))
    settings = {"command": "rietveld", "phases": run.phases, "wavelength": run.wavelength,
                "instrument": run.instrument, **opts.settings(), "refine": list(opts.refine),
                "background": str(powder.background), "dispersion": not opts.no_dispersion,
                "po_axis": list(opts.po_axis), "texture_order": opts.texture, "notes": run.notes}
    result = with_noted_warnings(result, run.notes)
    written = write_powder_files(result, opts, data=run.data, settings=settings, instrument=instrument,
                                 structures=list(result.extra["structures"].values()))
    return with_extra(result, notes=run.notes, written=written)


def _bragg_pdf(opts, pattern, phases, instrument, powder, run: _Run):
    """Rietveld of the pattern and a real-space fit of ``pdf``, one structure (refine.bragg_pdf)."""
    import os

    from refine.bragg_pdf import fit_bragg_pdf
    from refine.io import read_pattern
    from refine.pdf.fitting import PDFFitSettings
    from refine.powder.setup import restraints_for

    if not opts.pdf:
        raise InputError("pdf_qmax", "goes with pdf (a G(r) file)")
    if opts.pdf_qmax is None:
        raise InputError("pdf_qmax", "pdf needs the Qmax of its G(r)")
    if len(phases) != 1:
        raise InputError("phases", f"co-refinement with a PDF takes one phase, got {len(phases)}")
    if not opts.pdf_qdamp >= 0:
        raise InputError("pdf_qdamp", f"must be >= 0 (a Q resolution), got {opts.pdf_qdamp}")
    if not os.path.isfile(opts.pdf):
        raise InputError(opts.pdf, "file not found")
    gr = read_pattern(opts.pdf)
    if gr.unit != "r_A":
        raise InputError(opts.pdf, f"read as {gr.unit}, not G(r): give the file a .gr extension")
    settings = PDFFitSettings(qmax=opts.pdf_qmax, radiation=instrument.radiation, qdamp=opts.pdf_qdamp,
                              rmin=opts.pdf_rmin, rmax=opts.pdf_rmax)
    result = fit_bragg_pdf(pattern, gr, phases[0], instrument, pdf=settings, refine=list(opts.refine),
                           options=powder,
                           rietveld=_rietveld_options(opts, restraints_for(opts.restrain, opts.restrain_bond, phases)),
                           pdf_weight=opts.pdf_weight)
    run_settings = {"command": "rietveld", "pdf": opts.pdf, "pdf_qmax": opts.pdf_qmax, "pdf_qdamp": opts.pdf_qdamp,
                    "pdf_weight": opts.pdf_weight, "phases": run.phases, "refine": list(opts.refine),
                    "notes": run.notes}
    name = next(iter(result.phases.values())).structure
    result = with_noted_warnings(result, run.notes)
    written = write_powder_files(result, opts, data=run.data, settings=run_settings, instrument=instrument,
                                 title=f"Rietveld + PDF: {name}", structures=[result.extra["structure"]])
    return with_extra(result, notes=run.notes, written=written)


def _joint(opts, pattern, phases, instrument, powder, run: _Run):
    """Joint Rietveld of the pattern and the ``joint`` patterns (refine.powder.joint)."""
    from refine.io import read_powder_pattern
    from refine.io.instprm import read_instrument
    from refine.powder.joint import SHARED_GROUPS, HistogramOptions, fit_rietveld_joint
    from refine.powder.setup import radiation_prefixes

    n = len(opts.joint)
    if n == 0:
        raise InputError("joint", "the joint_* options need at least one joint pattern")
    if len(opts.joint_instrument) != n:
        raise InputError("joint_instrument", f"give one per joint pattern ({n}), got {len(opts.joint_instrument)}")
    for option, given in (("joint_range", opts.joint_range), ("joint_refine", opts.joint_refine)):
        if given and len(given) != n:
            raise InputError(option, f"give none or one per joint pattern ({n}), got {len(given)}")
    patterns, instruments = [pattern], [instrument]
    for path, prm in zip(opts.joint, opts.joint_instrument, strict=True):
        patterns.append(read_powder_pattern(path))
        instruments.append(read_instrument(prm))
    prefixes = radiation_prefixes([inst.radiation for inst in instruments])
    shared = [g for g in opts.refine if g in SHARED_GROUPS]
    own = tuple(g for g in opts.refine if g not in SHARED_GROUPS)
    histograms = [HistogramOptions(prefixes[0], powder, refine=own)]
    from refine.api.parsing import split_list

    for i in range(n):
        hist_refine = split_list(opts.joint_refine[i] if opts.joint_refine else "scale,zero,W,X,Y")
        hist_options = replace(powder, fit_range=opts.joint_range[i] if opts.joint_range else None, exclusions=())
        histograms.append(HistogramOptions(prefixes[i + 1], hist_options, refine=hist_refine))
    result = fit_rietveld_joint(patterns, phases, instruments, histograms=histograms, refine=shared,
                                rietveld=_rietveld_options(opts))
    settings = {"command": "rietveld", "phases": run.phases, "patterns": [run.data, *opts.joint],
                "instruments": [run.instrument or run.wavelength, *opts.joint_instrument],
                "prefixes": prefixes, "shared": shared, "refine": [list(h.refine) for h in histograms],
                "notes": run.notes}
    result = with_noted_warnings(result, run.notes)
    written = write_powder_files(result, opts, data=run.data, settings=settings, instrument=instrument,
                                 title="joint Rietveld: " + ", ".join(prefixes),
                                 structures=list(result.extra["structures"].values()))
    return with_extra(result, notes=run.notes, written=written)
