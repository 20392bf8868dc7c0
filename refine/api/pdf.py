"""``refine.pdf_reduce`` (I(Q) -> G(r)), ``refine.pdf_fit`` (real-space fit of one or more phases) and
``refine.pdf_diff`` (the differential G_B - G_A of two states)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from refine.api import parsing
from refine.api._inputs import as_list, check_files, numbered, source_of
from refine.api.options import PdfDiffOptions, PdfFitOptions, PdfReduceOptions, PdfSettingsOptions
from refine.api.powder import with_extra
from refine.errors import InputError

_DEFAULTS = {"qmin": 0.0, "rpoly": 0.9, "bgscale": 1.0, "rmin": 0.0, "rmax": 30.0, "rstep": 0.01, "mode": "xray",
             "twothetazero": 0.0}
_CONFIG_KEYS = ("composition", "qmax", "qmin", "qmaxinst", "rpoly", "bgscale", "rmin", "rmax", "rstep", "wavelength",
                "mode", "twothetazero")


# -- reduce ------------------------------------------------------------------------------------------------------
def pdf_reduce(iq: Any, *, composition: str | None = None, qmax: float | None = None, **options: Any):
    """Reduce an integrated I(Q) (or I(2θ) with ``wavelength``) to S(Q), F(Q) and G(r) as PDFgetX3 (X-rays) or
    PDFgetN3 (``mode="neutron"``) do, in scale and shape (:mod:`refine.pdf.reduce`).

    Parameters
    ----------
    iq
        Pattern file (.chi, .xy, .xye ...) or a Pattern; with ``poni``, a 2D image integrated in Q first. A list
        of files is reduced in parallel into the folder ``output`` (resumable).
    composition, qmax
        Chemical formula and the upper Q of the sine transform (1/Å); may come from a ``config`` file instead.
    **options
        :class:`refine.api.options.PdfReduceOptions`: ``config`` (pdfgetx3.cfg / pdfgetn3.cfg), ``qmin``,
        ``qmaxinst``, ``rpoly``, ``background`` (file), ``bgscale`` (number or "auto"), ``wavelength``,
        ``twothetazero``, ``mode`` ("xray" or "neutron"), ``lorch``, ``scale`` (fixed k), ``rmin``,
        ``rmax``, ``rstep``, ``poni`` ...; files written only when given: ``output`` (the G(r) file; ``outputs``
        = the curves written beside it, "gr,sq,fq,iq") and ``plot``.

    Returns
    -------
    ReductionResult | dict
        The curves (``.gr``, ``.sq``, ``.fq``, ``.iq`` Patterns) and how they were made (``extra`` files in
        ``.written``); for a list of inputs, {input: [written files]}.
    """
    from refine.pdf.reduce_files import DATAFORMAT_UNITS, reduce_file, unit_reader, write_results

    opts = PdfReduceOptions.from_options(options)
    inputs = as_list(iq)
    several = len(inputs) > 1
    if several and opts.output is None:
        raise InputError("output", "several inputs are reduced into a folder: give output")
    check_files({"plot": opts.plot, **({} if several else {"output": opts.output})},
                {"output": opts.output} if several else {})
    kwargs, dataformat, background, outputs = _merge_config(opts, composition, qmax)
    config = _reduction_config(kwargs, opts, composition)
    if several:
        return _reduce_series(inputs, opts, config, dataformat, background, outputs)
    reader = _image_reader(opts) if opts.poni else (unit_reader(DATAFORMAT_UNITS[dataformat]) if dataformat else None)
    if not isinstance(inputs[0], (str, os.PathLike)):
        pattern = inputs[0]
        reader, path = (lambda _: pattern), getattr(pattern, "source", None) or "pattern"
    else:
        path = inputs[0]
    result = reduce_file(path, config, background, reader=reader)
    if opts.config:
        from refine.io.atomic import sha256_of

        result = replace(result, notes=(f"settings from {opts.config} (sha256={sha256_of(opts.config)}); options "
                                        "given on the command line win", *result.notes))
    written = [str(p) for p in write_results(result, opts.output, outputs)] if opts.output else []
    if opts.plot:
        from refine.plot.pdf import plot_reduction

        plot_reduction(result, opts.plot)
        written.append(str(opts.plot))
    return replace(result, written=tuple(written))


def _reduction_config(kwargs: dict, opts: PdfReduceOptions, composition: str | None):
    """The ReductionConfig; a bad composition or mode that came from the ``config`` file (e.g. an element without a
    neutron scattering length in a pdfgetn3.cfg) is reported against that file."""
    from refine.pdf.reduce import ReductionConfig

    try:
        return ReductionConfig(**kwargs, lorch=opts.lorch, scale=opts.scale)
    except InputError as err:
        given = {"composition": composition, "mode": opts.mode}
        if opts.config and err.source in given and given[err.source] is None:
            raise InputError(opts.config, f"{err.source} = {kwargs[err.source]}: {err.problem}") from None
        raise


def _merge_config(opts: PdfReduceOptions, composition: str | None, qmax: float | None) -> tuple:
    """ReductionConfig keywords: the options given, else the ``config`` file's, else the defaults; the background
    file and the curves to write likewise. Returns (keywords, the file's dataformat, background, outputs)."""
    from refine.io.pdfgetx_config import read_pdfgetx_config

    cfg = read_pdfgetx_config(opts.config, section=opts.section) if opts.config else None
    found = dict(cfg.settings) if cfg else {}
    given = {"composition": composition, "qmax": qmax, **{k: getattr(opts, k) for k in _CONFIG_KEYS[2:]}}
    kwargs = {key: given[key] if given[key] is not None else found.get(key, _DEFAULTS.get(key))
              for key in _CONFIG_KEYS}
    for key in ("composition", "qmax"):
        if kwargs[key] is None:
            raise InputError(key, "is required (give it, or a config that sets it)")
    background = opts.background
    if background is None and cfg is not None and cfg.background is not None:
        background = str(cfg.background)
    outputs = opts.outputs or (cfg.outputs if cfg is not None and cfg.outputs else ("gr",))
    return kwargs, (cfg.dataformat if cfg else None), background, outputs


def _reduce_series(inputs: list, opts: PdfReduceOptions, config, dataformat, background, outputs) -> dict:
    from refine.pdf.reduce_files import DATAFORMAT_UNITS, reduce_series

    if opts.poni or opts.plot:
        raise InputError("poni" if opts.poni else "plot", "works with one input at a time")
    unit = DATAFORMAT_UNITS[dataformat] if dataformat else None
    return reduce_series([os.fspath(p) for p in inputs], config, opts.output, background=background,
                         outputs=outputs, unit=unit, workers=max(opts.workers, 1))


def _image_reader(opts: PdfReduceOptions):
    """A reader that integrates a 2D image to I(Q) with the PONI (frames averaged, sigma propagated)."""
    from refine.integrate.integrator import Integrator
    from refine.integrate.settings import IntegrationSettings

    settings = IntegrationSettings(npt=opts.npt, unit="q_A^-1", polarization_factor=opts.polarization, mask=opts.mask)
    integrator = Integrator(opts.poni, settings)

    def read(path):
        import numpy as np

        frames = integrator.integrate_file(path)
        if len(frames) == 1:
            return frames[0]
        y = np.mean([f.y for f in frames], axis=0)
        sigma = np.sqrt(np.sum([f.sigma**2 for f in frames], axis=0)) / len(frames)
        return frames[0].replace(y=y, sigma=sigma).with_metadata(frames_averaged=len(frames))

    return read


# -- fit ---------------------------------------------------------------------------------------------------------
def pdf_fit_settings(opts: PdfSettingsOptions, qmax: float | None):
    """``PDFFitSettings`` from the G(r) fit options."""
    import math

    from refine.pdf.fitting import PDFFitSettings

    if qmax is None:
        raise InputError("qmax", "the G(r) fit needs the Qmax of its Fourier transform (1/A)")
    if not (opts.spdiameter > 0 and math.isfinite(opts.spdiameter)):
        raise InputError("spdiameter", f"a particle diameter must be > 0 A, got {opts.spdiameter}")
    return PDFFitSettings(qmax=qmax, radiation=opts.radiation, qdamp=opts.qdamp, qbroad=opts.qbroad,
                          rmin=opts.rmin, rmax=opts.rmax, sharpening=opts.sharpening,
                          spdiameter=opts.spdiameter if opts.envelope == "sphere" else None,
                          constrain_scales=not opts.free_scales, refine_qdamp=opts.refine_qdamp,
                          refine_qbroad=opts.refine_qbroad, extend_below=not opts.pdfgui_range,
                          constraints=tuple(opts.constrain), sratio=opts.sratio, rcut=opts.rcut,
                          refine_sratio=opts.refine_sratio)


def pdf_phase_inputs(phases: Any, *, refine_structure: bool = False) -> list:
    """``PhaseInput`` s from paths, ``"path,fixed"`` strings, (path, fixed) pairs or PhaseInputs."""
    from refine.pdf.fitting import PhaseInput

    out = []
    for item in as_list(phases):
        if isinstance(item, PhaseInput):
            out.append(item)
            continue
        if isinstance(item, os.PathLike):
            item = os.fspath(item)
        try:
            path, fixed, frames = parsing.parse_pdf_phase_spec(item)
        except (ValueError, TypeError) as exc:
            problem = str(exc) if isinstance(exc, ValueError) and "trajectory" in str(exc) else \
                f"expected STRUCT or STRUCT,fixed (or TRAJ,fixed,frames=A:B:C, or a PhaseInput), got {item!r}"
            raise InputError("phases", problem) from None
        out.append(PhaseInput.load(path, fixed=fixed, refine_structure=refine_structure and not fixed, frames=frames))
    if not out:
        raise InputError("phases", "give at least one phase (STRUCT or STRUCT,fixed)")
    return out


def restricted_phases_note(inputs: Sequence[Any]) -> list[str]:
    """A note naming the phases the fast default model fits with one isotropic scale of a non-cubic cell and the
    file's atomic positions (not ``fixed``, no ``refine_structure``): what ``refine_structure`` would free."""
    from refine.pdf.fitting import phase_prefixes
    from refine.pdf.model import cubic_cell

    names = [prefix for prefix, ph in zip(phase_prefixes(inputs), inputs, strict=True)
             if not (ph.fixed or ph.refine_structure or ph.frames or cubic_cell(ph.structure.lattice))]
    if not names:
        return []
    return [f"{', '.join(names)}: non-cubic cell scaled as a whole (one lattice_scale) with the atoms at the file's "
            "positions, the fast default; refine_structure (--refine-structure) refines a, b, c by crystal system, "
            "the free coordinates and the ADPs"]


def read_gr(gr: Any):
    """An observed G(r) from a file (a .gr: r, G[, dG]) or a Pattern."""
    from refine.data import Pattern
    from refine.io.patterns import read_pattern

    if isinstance(gr, Pattern):
        pattern = gr
    else:
        if not os.path.isfile(gr):
            raise InputError(gr, "file not found")
        pattern = read_pattern(gr)
    if pattern.unit != "r_A":
        raise InputError(source_of(gr) or "gr", f"read as {pattern.unit}, not G(r): give the file a .gr extension")
    return pattern


def pdf_fit(gr: Any, phases: Any, *, qmax: float, **options: Any):
    """Real-space fit of a G(r) with one or more phases (PDFfit2 model).

    Parameters
    ----------
    gr
        Observed G(r): a .gr file (r, G[, dG]) or a Pattern in r.
    phases
        One or a list of structure files (CIF, .stru, .EXP, a supercell), ``"path,fixed"`` to keep a phase's
        positions fixed (one Uiso per species, isotropic lattice scale), or ``refine.pdf.fitting.PhaseInput`` s.
    qmax
        Qmax of the Fourier transform (1/Å).
    **options
        :class:`refine.api.options.PdfFitOptions`: ``radiation``, ``qdamp``, ``qbroad``, ``rmin``, ``rmax``,
        ``envelope="sphere"``, ``sharpening``, ``refine_structure``, ``constrain`` ...; files written only when
        given: ``json``, ``plot``, ``cif_out``.

    Returns
    -------
    FitResult
        ``extra["written"]`` lists (kind, path) of the files written.
    """
    from refine.fit import run_fit
    from refine.fit.objective import Objective
    from refine.pdf.fitting import PDF_FIT_OPTIONS, build_model, finish_result
    from refine.pdf.start import search_lattice

    opts = PdfFitOptions.from_options(options)
    check_files({"json": opts.json, "plot": opts.plot, "cif_out": opts.cif_out})
    fit_options = replace(PDF_FIT_OPTIONS, max_nfev=opts.max_nfev)
    pattern = read_gr(gr)
    settings = pdf_fit_settings(opts, qmax)
    inputs = pdf_phase_inputs(phases, refine_structure=opts.refine_structure)
    fm = search_lattice(build_model(pattern, inputs, settings))
    raw = run_fit(Objective.single(fm.dataset()), fm.params, kind="pdf", options=fit_options)
    result = finish_result(raw, fm)
    data = source_of(gr) or pattern.source
    written: list[tuple[str, str]] = []
    if opts.json:
        from refine.fit import write_result

        run_settings = {"input": data, "phases": [_phase_text(p) for p in as_list(phases)], "qmax": qmax,
                        **opts.settings()}
        write_result(result, opts.json, data=data, settings=run_settings)
        written.append(("result", str(opts.json)))
    if opts.plot:
        from refine.plot.pdf import plot_pdf_fit

        plot_pdf_fit(result, opts.plot, partials=_partials(fm, result.params),
                     title=os.path.basename(data) if data else None)
        written.append(("figure", str(opts.plot)))
    if opts.cif_out:
        from refine.io.structures import write_cif

        for k, structure in enumerate(result.extra.get("structures", {}).values()):
            write_cif(structure, numbered(opts.cif_out, k))
            written.append(("structure", str(numbered(opts.cif_out, k))))
    return with_extra(result, written=written, notes=restricted_phases_note(inputs))


def _phase_text(item: Any) -> Any:
    return item if isinstance(item, str) else (source_of(item) or getattr(item, "source", None) or str(item))


def _partials(fm, params) -> dict:
    """Element-pair partial PDFs of every pair-table phase (skipped beyond 12 curves: unreadable)."""
    import itertools

    from refine.pdf.calculate import partial_gr
    from refine.pdf.crystal import CrystalPhase
    from refine.pdf.pairs import element_of

    out = {}
    for ph in fm.phases:
        if isinstance(ph, CrystalPhase):  # partials come from pair tables; crystalline phases have none
            continue
        elements = sorted({element_of(e) for e in ph.table.class_element})
        settings = ph.settings(params, fm.settings.experiment)
        for e1, e2 in itertools.combinations_with_replacement(elements, 2):
            out[f"{ph.prefix} {e1}-{e2}"] = (ph, e1, e2, settings)
    if len(out) > 12:
        return {}
    return {k: partial_gr(fm.table(ph, s), fm.grid, s, e1, e2)[fm.lead:] for k, (ph, e1, e2, s) in out.items()}


# -- difference --------------------------------------------------------------------------------------------------
def pdf_diff(first: Any, second: Any, *, output: str | os.PathLike | None = None, **options: Any):
    """The differential PDF ΔG = G_B − G_A of two states (e.g. two states of charge) on A's r grid.

    B is interpolated onto A's grid with a cubic spline (G is band-limited); dG is propagated where the inputs
    carry it (:func:`refine.pdf.difference.difference_pattern`).

    Parameters
    ----------
    first, second
        G_A (the reference) and G_B: .gr files (r, G[, dG]) or Patterns in r.
    output
        File to write ΔG to (only when given).
    **options
        :class:`refine.api.options.PdfDiffOptions`: ``rmin``, ``rmax`` (keep that r range, Å) and the figure file
        ``plot`` (G_A, G_B and ΔG).

    Returns
    -------
    Pattern
        ΔG in r (``sigma_source`` "propagated" when an input has dG, else "unit").
    """
    from refine.pdf.difference import difference_pattern

    opts = PdfDiffOptions.from_options(options)
    check_files({"output": output, "plot": opts.plot})
    a, b = read_gr(first), read_gr(second)
    delta = difference_pattern(a, b)
    lo = delta.x[0] if opts.rmin is None else opts.rmin
    hi = delta.x[-1] if opts.rmax is None else opts.rmax
    delta = delta.crop(lo - 1e-9, hi + 1e-9)
    if len(delta) < 2:
        raise InputError("rmin" if opts.rmin is not None else "rmax",
                         f"no points of the difference between {lo:g} and {hi:g} A")
    if output is not None:
        from pathlib import Path

        from refine.io.columns import write_columns

        write_columns(delta, Path(output), header=_diff_header(first, second, delta))
    if opts.plot:
        from refine.plot.pdf import plot_difference

        plot_difference(a, b, delta, opts.plot)
    return delta


def _diff_header(first: Any, second: Any, delta) -> list[str]:
    from refine.io.atomic import sha256_of

    def named(item: Any, tag: str) -> str:
        path = source_of(item)
        return f"{path} sha256={sha256_of(path)}" if path else f"{getattr(item, 'source', None) or tag} (in memory)"

    return [f"differential PDF: G_B - G_A; A = {named(first, 'A')}",
            f"B = {named(second, 'B')} (cubic spline onto A's r grid)",
            f"dG: {'propagated from both files' if delta.has_sigma else 'none (no dG in the inputs)'}"]
