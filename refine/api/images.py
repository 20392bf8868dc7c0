"""``refine.integrate`` and ``refine.calibrate``: 2D detector images (pyFAI)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from refine.api._inputs import as_list, check_files
from refine.api.options import CalibrateOptions, IntegrateOptions
from refine.errors import InputError


def integrate(images: Any, *, poni: Any, output: str | os.PathLike | None = None, **options: Any):
    """Integrate 2D images into 1D patterns (x, I, sigma).

    Parameters
    ----------
    images
        One or a list of image files (tif, cbf, edf, HDF5; multi-frame files give one pattern per frame) or 2D
        arrays.
    poni
        pyFAI PONI geometry file (or a pyFAI AzimuthalIntegrator).
    output
        Folder: write one ``.xye`` per frame there (resumable) instead of returning the patterns.
    **options
        The options of ``refine integrate`` (:class:`refine.api.options.IntegrateOptions`): ``mask``, ``dark``,
        ``flat``, ``npt=2000``, ``unit="2th_deg"``, ``polarization``, ``method``, ``flip``, ``error_model``,
        ``no_solid_angle``, ``range``, ``overwrite``, ``no_progress``, ``detector`` (pyFAI name: its gaps are
        masked), ``mask_invalid`` (negative, non-finite, overflowing pixels), ``sigma_clip`` (σ); with
        ``output`` also ``series_file`` (write every frame into this one HDF5 file, :mod:`refine.io.series_file`,
        instead of one ``.xye`` per frame), ``scan_times`` (START, STEP: frame times instead of those of the headers
        or files), ``cake=(NPT_RAD, NPT_AZIM)`` (one HDF5 cake and figure per frame,
        :mod:`refine.integrate.cake`; χ is pyFAI's on the flipped image) and ``sectors=[(CHI0, CHI1), ...]``
        (one ``.xye`` per frame and sector in ``output/chiCHI0_CHI1/``) and ``spottiness=THRESHOLD`` (per-ring
        azimuthal RMS/mean and the series' texture flag in ``output/spottiness.json``,
        :mod:`refine.integrate.spottiness`; 0.15 is the usual threshold); ``follow`` (live mode: keep integrating
        frames as they land, :mod:`refine.api.live`, until ``idle`` seconds, default 60, pass without one);
        ``workers`` (N local Dask worker processes) or ``scheduler`` (``tcp://HOST:PORT`` of a Dask scheduler):
        frames integrated there in chunks (:mod:`refine.integrate.distributed`; the files at the same paths).

    Returns
    -------
    Pattern | list[Pattern] | list[FrameOutput]
        Without ``output``: the pattern of a single frame, else one per frame in order. With ``output``: one
        record per frame (``.output`` path, ``.skipped``, ``.error`` of a frame that failed).
    """
    from refine.integrate import integrate_series

    opts = IntegrateOptions.from_options(options)
    if output is not None:
        check_files({}, {"output": output})
    integrator = integrator_for(poni, opts)
    if output is None and (opts.cake or opts.sectors or opts.spottiness is not None):
        raise InputError("output", "cake, sectors and spottiness are written to an output folder: give output "
                                   "(in memory: refine.integrate.cake.integrate_cake, refine.integrate.spottiness)")
    if opts.follow:
        check_follow(output, opts)
        from refine.api.live import wait_for_first
        from refine.operando.schedule import poll_interval

        wait_for_first(images, idle=opts.idle, poll=poll_interval(opts.idle))
    items = image_paths(images)
    if output is not None:
        paths = [os.fspath(i) for i in items]
        with _executor(opts) as pool:
            results = integrate_series(paths, integrator, output, resume=not opts.overwrite,
                                       progress=not opts.no_progress, series_file=opts.series_file,
                                       scan_times=opts.scan_times, executor=pool)
        if opts.follow:
            from refine.api.live import follow_frames

            return follow_frames(images, integrator, Path(output), results, scan_times=opts.scan_times,
                                 idle=opts.idle)
        return results + _extras(paths, integrator, output, opts)
    if opts.series_file is not None or opts.workers > 1 or opts.scheduler:
        name = "series_file" if opts.series_file is not None else "workers" if opts.workers > 1 else "scheduler"
        raise InputError(name, "needs an output folder (output=)")
    patterns = []
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            patterns.extend(integrator.integrate_file(item))
        else:
            patterns.append(integrator.integrate(item))
    return patterns[0] if len(patterns) == 1 else patterns


@contextlib.contextmanager
def _executor(opts: IntegrateOptions) -> Iterator[Any]:
    """The Dask workers of ``workers`` / ``scheduler`` for the block, or None (in this process)."""
    from refine.executor import ExecutorSpec, open_executor

    spec = ExecutorSpec(workers=opts.workers, scheduler=opts.scheduler, preload=("refine.integrate.distributed",))
    if not spec.distributed:
        yield None
        return
    with open_executor(spec) as pool:
        yield pool


def check_follow(output: Any, opts: IntegrateOptions) -> None:
    """Live mode writes one ``.xye`` per frame into an output folder, and nothing else."""
    if output is None:
        raise InputError("follow", "live mode writes patterns as frames land: give output")
    for name in ("series_file", "cake", "sectors", "spottiness"):
        if getattr(opts, name) not in (None, ()):
            raise InputError(name, "live mode (follow) writes one .xye per frame only")
    if opts.idle <= 0:
        raise InputError("idle", f"must be a positive number of seconds, got {opts.idle}")
    if opts.workers > 1 or opts.scheduler:
        raise InputError("workers" if opts.workers > 1 else "scheduler", "live mode integrates in this process")


def integrator_for(poni: Any, opts: IntegrateOptions) -> Any:
    """The :class:`refine.integrate.Integrator` of ``poni`` with the integration settings of ``opts``."""
    from refine.integrate import IntegrationSettings, Integrator

    settings = IntegrationSettings(
        npt=opts.npt, unit=opts.unit, method=opts.method, polarization_factor=opts.polarization,
        solid_angle=not opts.no_solid_angle, dark=opts.dark, flat=opts.flat, mask=opts.mask, flip=opts.flip,
        error_model=None if opts.error_model == "none" else opts.error_model, radial_range=opts.range,
        detector=opts.detector, mask_invalid=opts.mask_invalid, sigma_clip=opts.sigma_clip)
    return Integrator(poni, settings)


def image_paths(images: Any) -> list:
    """The images as a list: a glob (``"run/*.cbf"``) expands to its files in natural order (an error when it
    matches none); paths and arrays pass through."""
    import glob

    from refine.operando.series import natural_sort

    out: list = []
    for item in as_list(images):
        text = os.fspath(item) if isinstance(item, (str, os.PathLike)) else None
        if text is not None and "::" not in text and glob.has_magic(text):
            matched = glob.glob(text)
            if not matched:
                raise InputError(text, "no image file matches this pattern")
            out.extend(str(p) for p in natural_sort(matched))
        else:
            out.append(item)
    return out


def _extras(paths: list[str], integrator: Any, output: Any, opts: IntegrateOptions) -> list:
    """Sector patterns (one folder per χ range) and cakes of every frame, as FrameOutput records."""
    from refine.integrate import integrate_series
    from refine.integrate.cake import SectorIntegrators, write_cakes

    results: list = []
    if opts.sectors:
        sectors = SectorIntegrators(integrator, opts.sectors)
        for sector, one in zip(sectors.sectors, sectors.integrators, strict=True):
            results += integrate_series(paths, one, Path(output) / sectors.label(sector), resume=not opts.overwrite,
                                        progress=not opts.no_progress)
    if opts.cake:
        from refine.plot.cake import plot_cake

        results += write_cakes(paths, integrator, output, opts.cake, resume=not opts.overwrite, figure=plot_cake)
    if opts.spottiness is not None:
        from refine.fit.result import write_document
        from refine.integrate.spottiness import spottiness_series

        if not opts.spottiness > 0:
            raise InputError("spottiness", f"threshold must be positive, got {opts.spottiness}")
        report = spottiness_series(paths, integrator, float(opts.spottiness))
        write_document({"schema": "refine.spottiness/1", **report}, Path(output) / "spottiness.json")
    return results


_UNITS = {"dist": ("mm", 1e3), "poni1": ("mm", 1e3), "poni2": ("mm", 1e3), "rot1": ("rad", 1.0),
          "rot2": ("rad", 1.0), "rot3": ("rad", 1.0), "wavelength": ("Å", 1e10)}


def calibrate(image: Any, *, calibrant: str, wavelength: float, output: str | os.PathLike | None = None,
              **options: Any):
    """Refine the detector geometry on a calibrant image.

    Parameters
    ----------
    image
        Calibrant image file (first frame used) or a 2D array.
    calibrant
        pyFAI calibrant name (CeO2, LaB6, Si ...) or a d-spacing file (Å).
    wavelength
        Wavelength (Å).
    output
        PONI file to write the refined geometry to (only when given).
    **options
        The options of ``refine calibrate`` (:class:`refine.api.options.CalibrateOptions`): the start (``poni``,
        or ``distance`` (mm) + ``center`` (x, y px) + ``detector`` or ``pixel_size`` (µm)), ``mask``, ``rings``,
        ``max_rings``, ``refine``, ``flip``, ``max_rms`` (px), and the files ``plot`` and ``json``. Without
        ``poni``, ``distance`` and ``center`` are optional: what is missing comes from the image (beam centre
        from the rings' symmetry, distance from their radii).

    Returns
    -------
    CalibrationResult
        Refined geometry (``.geometry``, ``.esd``), control points, residuals, the pyFAI integrator (``.ai``).
    """
    from refine.integrate.calibrate import CalibrationOptions
    from refine.integrate.calibrate import calibrate as run_calibration
    from refine.io.images import iter_frames

    opts = CalibrateOptions.from_options(options)
    check_files({"output": output, "plot": opts.plot, "json": opts.json})
    start = _start(opts)
    cal = CalibrationOptions(rings=opts.rings, max_rings=opts.max_rings, refine=opts.refine, mask=opts.mask,
                             flip=opts.flip, max_rms_px=opts.max_rms)
    source = os.fspath(image) if isinstance(image, (str, os.PathLike)) else None
    frame = next(iter(iter_frames(image)))[1] if source is not None else image
    result = run_calibration(frame, calibrant=calibrant, wavelength=wavelength, start=start, options=cal,
                             source=source)
    if output is not None:
        from refine.io.poni import write_poni

        write_poni(output, result.ai, {"calibrant": calibrant, "image": source, "flip": opts.flip,
                                       "rms_2th_deg": f"{result.rms_tth_deg:.6g}"})
    if opts.json:
        settings = {"image": source, "calibrant": calibrant, "wavelength": wavelength, "output": output,
                    **opts.settings()}
        _write_json(opts.json, source, settings, result, output)
    if opts.plot:
        from refine.plot.calibration import plot_result

        plot_result(result, frame, opts.plot, cal)
    return result


def _start(opts: CalibrateOptions):
    from refine.integrate.calibrate import StartGeometry

    guess = (opts.distance, opts.center)
    if opts.poni is not None:
        if any(v is not None for v in (*guess, opts.detector, opts.pixel_size)):
            raise InputError("poni", "give either poni or distance/center/detector, not both")
        return opts.poni
    if (opts.detector is None) == (opts.pixel_size is None):
        raise InputError("detector", "give one of detector and pixel_size (without poni)")
    return StartGeometry(distance_mm=opts.distance, center_px=opts.center, detector=opts.detector,
                         pixel_size_um=opts.pixel_size)


def calibration_report(result: Any) -> str:
    """The refined geometry with esds, the Fit2D view, control points and the RMS residual (printable)."""
    lines = ["refined geometry (esd):"]
    for name, value in result.geometry.items():
        unit, scale = _UNITS[name]
        esd = result.esd.get(name)
        err = f" ({esd * scale:.2g})" if esd is not None else " (fixed)"
        lines.append(f"  {name:<10} {value * scale:.6f} {unit}{err}")
    f2d = result.fit2d
    lines.append(f"  Fit2D: distance {f2d['directDist']:.3f} mm, centre x={f2d['centerX']:.3f} y={f2d['centerY']:.3f} "
                 f"px, tilt {f2d['tilt']:.3f} deg, tilt-plane rotation {f2d['tiltPlanRotation']:.3f} deg")
    counts = ", ".join(f"{k}:{v}" for k, v in result.points_per_ring.items())
    lines.append(f"  control points {len(result.control_points)} on {len(result.points_per_ring)} rings ({counts})")
    lines.append(f"  RMS residual {result.rms_tth_deg:.5f} deg 2theta = {result.rms_px:.3f} px, "
                 f"{result.rings_used} rings used")
    if result.starts:
        lines.append(f"  starts refined: {len(result.starts)} (" + "; ".join(
            f"{s['start']}: {s['distance_mm']:.2f} mm, x={s['center_x']:.1f} y={s['center_y']:.1f} px"
            + (f" -> RMS {s['rms_px']:.2f} px on {s['rings']} rings" if "rms_px" in s else " -> failed")
            + (" [kept]" if s.get("chosen") else "") for s in result.starts) + ")")
    return "\n".join(lines)


def _write_json(path: Any, image: str | None, settings: dict, result: Any, poni: Any) -> None:
    """The calibration's ``refine.result/1`` document (:meth:`CalibrationResult.to_dict`), written atomically."""
    from refine.fit.result import write_document

    files = (image, settings.get("poni"), settings.get("mask"), settings.get("calibrant"))
    inputs = [p for p in files if p and Path(p).is_file()]
    doc = result.to_dict(data=image, inputs=inputs, settings=settings, poni=None if poni is None else os.fspath(poni))
    write_document(doc, path)
