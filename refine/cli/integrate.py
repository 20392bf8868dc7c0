"""``refine integrate IMAGE... --poni P -o DIR``: one ``.xye`` per image frame (CONVENTIONS.md).

A file or frame that cannot be read or integrated gets one stderr line and the others go on: exit 3 when some
failed (the rest written), 2 when every one failed."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator

from refine.api import parsing
from refine.api.options import IntegrateOptions
from refine.cli.main import (
    COMMANDS,
    EXIT_BAD_INPUT,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    Command,
    argument_type,
    options_of,
    parse_range,
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine integrate``."""
    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="image files (tif, cbf, edf, Eiger/NeXus HDF5; multi-frame files give one output "
                             "per frame; FILE.h5::/path picks an HDF5 dataset)")
    parser.add_argument("--poni", required=True, help="pyFAI PONI geometry file")
    parser.add_argument("--mask", help="mask (image, .npy or Dioptas .mask; nonzero = excluded)")
    parser.add_argument("--dark", help="dark image, subtracted (several frames are averaged)")
    parser.add_argument("--flat", help="flat-field image, divided")
    parser.add_argument("--npt", type=int, default=2000, help="number of radial bins (default 2000)")
    parser.add_argument("--unit", choices=("2th_deg", "q_A^-1"), default="2th_deg", help="x unit of the output")
    parser.add_argument("--polarization", type=float, default=None, metavar="P",
                        help="polarization factor, pyFAI convention (-1..1; 0.99 for a horizontal synchrotron "
                             "beam); default: no correction")
    parser.add_argument("--method", default="bbox,csr,cython",
                        help="pyFAI method: split,algo,impl or a pyFAI name such as csr, full_csr, bbox "
                             "(default bbox,csr,cython)")
    parser.add_argument("--flip", choices=("ud", "lr"), default=None,
                        help="flip images (and dark, flat, mask) before integration")
    parser.add_argument("--error-model", choices=("poisson", "azimuthal", "none"), default="poisson",
                        help="how sigma is obtained (default poisson: variance = counts, propagated)")
    parser.add_argument("--no-solid-angle", action="store_true", help="do not apply the solid-angle correction")
    parser.add_argument("--range", type=parse_range, default=None, metavar="LO:HI",
                        help="radial range in --unit (default: whole detector)")
    parser.add_argument("--detector", default=None,
                        help="pyFAI detector name (e.g. Pilatus1M): its module gaps are masked (pixel size must match "
                             "the PONI)")
    parser.add_argument("--mask-invalid", action="store_true",
                        help="mask, frame by frame, negative (gap), non-finite and overflowing pixels")
    parser.add_argument("--sigma-clip", type=float, default=None, metavar="NSIGMA",
                        help="reject azimuthal outliers (spots) beyond NSIGMA, iteratively (pyFAI sigma_clip_ng; "
                             "no pixel splitting)")
    parser.add_argument("--cake", metavar="NPT_RAD,NPT_AZIM", default=None,
                        help="also write the 2D cake of each frame (DIR/STEM_cake.h5 with axes, and a .png for the "
                             "first 20 frames); chi is pyFAI's, on the image after --flip: 0 along +columns, "
                             "+90 along +rows, (-180, 180]")
    parser.add_argument("--sectors", metavar="CHI0:CHI1,...", default=None,
                        help="also write one pattern per azimuthal range (degrees, pyFAI chi as for --cake) "
                             "into DIR/chiCHI0_CHI1/")
    parser.add_argument("--spottiness", type=float, nargs="?", const=0.15, default=None, metavar="THRESHOLD",
                        help="per-ring azimuthal RMS/mean and a series texture flag in DIR/spottiness.json; a ring "
                             "is spotty when its scatter beyond counting noise exceeds THRESHOLD (default 0.15)")
    parser.add_argument("--overwrite", action="store_true",
                        help="integrate every frame again (default: skip frames whose output is complete)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--follow", action="store_true",
                        help="live mode: keep integrating frames as they land (new files matching a quoted glob, "
                             "frames appended to an HDF5 file); one .xye per frame")
    parser.add_argument("--idle", type=float, default=60.0, metavar="SECONDS",
                        help="with --follow: stop after this many seconds without a new frame, and wait as long for "
                             "the first one (default 60)")
    parser.add_argument("--workers", type=int, default=1,
                        help="integrate the frames in chunks on a local Dask cluster of this many processes (default "
                             "1: in this process, which pyFAI already runs on every core)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="integrate the frames in chunks on a running Dask cluster (its scheduler address or "
                             "scheduler file); the workers must see the image, PONI, mask, dark and flat files at "
                             "the same paths")
    add_series_arguments(parser)
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    parser.set_defaults(**IntegrateOptions.cli_defaults())


def add_series_arguments(parser: argparse.ArgumentParser) -> None:
    """``--series-file`` and ``--scan-times`` (shared with ``refine operando``)."""
    parser.add_argument("--series-file", metavar="FILE.h5",
                        help="write every frame into this one HDF5 file (patterns, sigma, per-frame source and time; "
                             "a bare name goes into the output folder) instead of one .xye per frame; "
                             "refine sequential reads it like a folder of patterns")
    parser.add_argument("--scan-times", type=argument_type(parsing.parse_scan_times), metavar="START:STEP",
                        help="time of frame i = START + i*STEP in seconds on the cycler's clock (default: from the "
                             "image headers, else the file modification times)")


@contextlib.contextmanager
def _quiet_libraries(quiet: bool) -> Iterator[None]:
    """fabio and pyFAI log warnings for files refine reports itself; keep the one-line error contract."""
    loggers = [logging.getLogger(name) for name in ("fabio", "pyFAI")] if quiet else []
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def run(args: argparse.Namespace) -> int:
    """Integrate every frame; returns the exit code."""
    with _quiet_libraries(not getattr(args, "debug", False)):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from refine.api.images import integrate

    results = integrate(args.images, poni=args.poni, output=args.output, **options_of(IntegrateOptions, args))
    failed = [r for r in results if r.failed]
    for r in failed:  # one line per bad file or frame; the others are written
        print(f"refine integrate: error: {r.error}", file=sys.stderr)
    skipped = sum(r.skipped for r in results)
    where = args.output if args.series_file is None else str(results[0].output).rsplit("::", 1)[0]
    print(f"refine integrate: {len(results)} frame(s) -> {where} ({len(results) - skipped - len(failed)} "
          f"integrated, {skipped} already done, {len(failed)} failed)", file=sys.stdout)
    if args.spottiness is not None:
        _print_spottiness(args.output)
    if not failed:
        return EXIT_OK
    return EXIT_BAD_INPUT if len(failed) == len(results) else EXIT_NOT_CONVERGED


def _print_spottiness(output: str) -> None:
    import json
    from pathlib import Path

    report = json.loads((Path(output) / "spottiness.json").read_text())
    spotty = sorted({round(r["position"], 3) for f in report["per_frame"] for r in f["rings"] if r["spotty"]})
    where = f" (spotty rings at {', '.join(f'{p:g}' for p in spotty[:12])}{' ...' if len(spotty) > 12 else ''})"
    print(f"refine integrate: texture {'FLAGGED' if report['textured'] else 'not flagged'}: "
          f"{report['frames_with_spotty_rings']} of {report['frames']} frame(s) with spotty rings"
          f"{where if spotty else ''} -> {Path(output) / 'spottiness.json'}", file=sys.stdout)


COMMANDS.register("integrate", Command(help="integrate 2D images into 1D patterns (pyFAI)", configure=configure,
                                       run=run))
