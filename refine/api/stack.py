"""``refine.operando``: integrate a stack of detector frames and fit every scan, in one call.

It is :func:`refine.integrate` into ``OUTPUT/patterns`` (one ``.xye`` per frame, or one HDF5 series file with
``series_file``) followed by :func:`refine.sequential` on what was written, into ``OUTPUT``: the same files and
numbers as the two commands run one after the other, and it resumes the same way (frames already integrated and
scans already fitted with the same settings are not redone). With ``follow`` (live mode) frames are integrated as
they land (:mod:`refine.api.live`) while the fits follow the patterns folder, until ``idle`` seconds pass without
a new pattern.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from refine.api import parsing
from refine.api.options import IntegrateOptions, SequentialOptions, _opt
from refine.errors import InputError

#: Integration options taken as they are (``radial_range`` is integrate's ``range``; ``range`` is the fit's).
_INTEGRATE = ("mask", "dark", "flat", "npt", "polarization", "method", "flip", "error_model", "no_solid_angle",
              "overwrite", "no_progress", "series_file", "scan_times")
PATTERNS_DIR = "patterns"


@dataclass(frozen=True)
class OperandoOptions(SequentialOptions):
    """``refine operando`` / :func:`refine.operando`: the options of :class:`SequentialOptions` (``range`` is the
    fit range, ``scan_times`` the frame times), those of :class:`IntegrateOptions` (its ``range`` named
    ``radial_range``) and the heat-map ``windows`` of the figure."""

    command: ClassVar[str] = "operando"
    mask: str | None = None
    dark: str | None = None
    flat: str | None = None
    npt: int = IntegrateOptions.npt
    polarization: float | None = None
    method: str = "bbox,csr,cython"
    flip: str | None = None
    error_model: str = "poisson"
    no_solid_angle: bool = False
    radial_range: tuple[float, float] | None = _opt(None, parsing.parse_range)
    overwrite: bool = False
    no_progress: bool = False
    series_file: str | None = None
    windows: tuple[tuple[float, float], ...] = _opt(parse=parsing.parse_range, many=True)


def _integrate_options(opts: OperandoOptions) -> dict[str, Any]:
    out = {name: getattr(opts, name) for name in _INTEGRATE}
    out["range"] = opts.radial_range
    # On a running cluster the frames are integrated there too; local --workers serve the fits (this process's
    # integration already runs pyFAI on every core); live mode integrates here.
    out["scheduler"] = None if opts.follow else opts.scheduler
    return out


def _sequential_options(opts: OperandoOptions) -> dict[str, Any]:
    names = {f.name for f in fields(SequentialOptions)}
    out = {name: getattr(opts, name) for name in names}
    out["plot"] = None  # the operando figure is drawn here, with the windows
    out["scan_times"] = None  # the frames carry them (by frame number): attach_echem reads them there
    return out


def operando(images: Any, phases: Any, *, poni: Any, output: str | os.PathLike, kind: str = "lebail",
             **options: Any):
    """Integrate every frame of ``images`` and fit every scan (integration then sequential fits, one call).

    Parameters
    ----------
    images
        Image files or a glob (``"run/*.cbf"``; multi-frame HDF5/NeXus and Eiger master files give one scan per
        frame), in order.
    phases
        Structure files or CrystalStructures, as for :func:`refine.sequential`.
    poni
        pyFAI PONI geometry file.
    output
        Folder: ``patterns/`` (the integrated frames), ``scans/`` (a result file per scan), ``sequential.json``,
        ``sequential.csv``.
    kind
        ``lebail`` (default), ``pawley`` or ``rietveld``.
    **options
        :class:`OperandoOptions`: integration (``mask``, ``dark``, ``flat``, ``npt``, ``polarization``,
        ``method``, ``flip``, ``error_model``, ``no_solid_angle``, ``radial_range``, ``series_file``,
        ``scan_times``, ``overwrite``), fits (``wavelength`` or ``instrument`` (default: the PONI's wavelength),
        ``range``, ``exclude``, ``background``, ``refine``, ``present``, ``workers``, ``echem`` ...), live mode
        (``follow``, ``idle``: frames integrated and fitted as they land; one ``.xye`` per frame), files
        (``json``, ``csv``, ``plot`` with ``windows``).

    Returns
    -------
    SeriesResult
        As :func:`refine.sequential`, with ``frames`` (the integration's records, one per frame) and ``written``.
    """
    from refine.api.images import integrate
    from refine.api.series import cycler_curve, early_workers, sequential_with

    opts = OperandoOptions.from_options(options)
    if kind == "pdf":
        raise InputError("kind", "refine operando fits powder patterns (lebail, pawley, rietveld); integrate, reduce "
                                 "and fit G(r) with refine pdf")
    out = Path(output)
    integ = IntegrateOptions.from_options({**_integrate_options(opts), "follow": opts.follow, "idle": opts.idle})
    if opts.follow:
        from refine.api.images import check_follow
        from refine.api.live import wait_for_first
        from refine.operando.schedule import poll_interval

        check_follow(out, integ)
        wait_for_first(images, idle=integ.idle, poll=poll_interval(integ.idle))  # before workers that would idle
    fit_opts = SequentialOptions.from_options(_sequential_options(opts))
    from refine.api.series import check_echem_options, echem_table

    check_echem_options(opts, keep=("scan_times",))  # the frames' times, with or without a cycler file
    if opts.echem:  # bad cycler input stops the run before the frames are integrated
        echem_table(opts)
    # The fits' local workers start before the integration does: forked while this process has one thread (the
    # integration runs a reader and a writer thread, and a library may leave a thread behind: tqdm's monitor did),
    # they import during the integration and start with their libraries frozen (Dask's own start is the fallback).
    with early_workers(fit_opts) as started:
        frames = integrate(images, poni=poni, output=out / PATTERNS_DIR, **_integrate_options(opts))
        good = [f for f in frames if not f.failed]
        if not good:
            raise InputError(frames[0].source, f"no frame could be integrated ({frames[0].error})")
        patterns = ([str(good[0].output).rsplit("::", 1)[0]] if opts.series_file is not None
                    else [str(f.output) for f in good])
        if opts.follow:
            result, frames = _follow(images, poni, out, integ, frames, phases, kind, fit_opts, started)
        else:
            own = {"command": "operando", "poni": str(poni), "series_file": opts.series_file,
                   "scan_times": None if opts.scan_times is None else list(opts.scan_times)}  # the frames' times
            result = sequential_with(_numbered_series(patterns, good, opts), phases, kind, out, fit_opts, started,
                                     notes=_failed_frames(frames), provenance=own)
    written = list(getattr(result, "written", ()))
    if opts.plot:
        from refine.plot.operando import plot_operando

        plot_operando(result.records, opts.plot, windows=opts.windows or None, cycler=cycler_curve(opts))
        written.append(("figure", str(opts.plot)))
    for name, value in (("frames", tuple(frames)), ("written", tuple(written))):
        object.__setattr__(result, name, value)
    return result


def _numbered_series(patterns: list[str], good: list, opts: OperandoOptions):
    """The integrated frames as a series, in frame order, each scan numbered by its frame's position in the stack
    (a failed frame leaves a gap, so a table matched by index stays aligned with the frames)."""
    from refine.operando.series import Series

    series = Series.from_paths(patterns, sort=False)
    if opts.series_file is not None:  # the series file's row of a frame is its position
        numbers = [int(str(s.path).rsplit("::", 1)[1]) for s in series]
    else:
        numbers = [i if f.position is None else f.position for i, f in enumerate(good)]
    return series.numbered(numbers)


def _failed_frames(frames: list) -> list[str]:
    """A warning per frame that could not be integrated: its scan is missing from the series."""
    return [f"warning: frame {f.source}{'' if f.frame is None else f' #{f.frame}'} could not be integrated "
            f"({f.error}); the series has no scan for it" for f in frames if f.failed]


def _follow(images: Any, poni: Any, out: Path, integ: IntegrateOptions, first: list, phases: Any, kind: str,
            fit_opts: SequentialOptions, started: Any) -> tuple[Any, list]:
    """Live mode: frames integrated as they land (:class:`refine.api.live.FrameFeeder`, in a thread) while the
    fits follow the patterns folder, until ``idle`` seconds passed without a new pattern; (result, frame records)."""
    from refine.api.images import integrator_for
    from refine.api.live import FrameFeeder
    from refine.api.series import sequential_with
    from refine.integrate.series import OUTPUT_SUFFIX
    from refine.operando.schedule import NumberedFolder, poll_interval

    feeder = FrameFeeder(images, integrator_for(poni, integ), out / PATTERNS_DIR, scan_times=integ.scan_times,
                         poll=poll_interval(integ.idle))

    def failed_frames() -> list[str]:
        """The frames that could not be integrated, known when the fits end: warnings of the run, as without
        --follow (a frame caught half-written is integrated again by a later pass: only the last word counts)."""
        try:
            return _failed_frames(feeder.stop())
        except Exception:  # noqa: BLE001 - what ended the passes is raised by the stop() below, after the summary
            return []

    feeder.start(first)
    try:
        # the fits take the patterns the feeder wrote, each with its frame's number (a failed frame leaves a gap)
        patterns = NumberedFolder((str(out / PATTERNS_DIR / f"*{OUTPUT_SUFFIX}"),), feeder.number)
        result = sequential_with(patterns, phases, kind, out, fit_opts, started, notes=failed_frames)
    finally:
        frames = feeder.stop()
    return result, frames
