"""``refine calibrate IMAGE --calibrant C --wavelength Å (--poni P | --distance MM --center X,Y --detector D)``.

Refines the detector geometry on a calibrant image with pyFAI (refine.integrate.calibrate) and writes a PONI
file, optionally a figure (``--plot``) and a JSON summary (``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from refine.cli.main import COMMANDS, EXIT_OK, Command, float_pair
from refine.errors import InputError

_UNITS = {"dist": ("mm", 1e3), "poni1": ("mm", 1e3), "poni2": ("mm", 1e3), "rot1": ("rad", 1.0),
          "rot2": ("rad", 1.0), "rot3": ("rad", 1.0), "wavelength": ("Å", 1e10)}


parse_center = float_pair(",", "X,Y in pixels")


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine calibrate``."""
    parser.add_argument("image", metavar="IMAGE", help="calibrant image (tif, cbf, edf, HDF5; first frame used)")
    parser.add_argument("--calibrant", required=True,
                        help="pyFAI calibrant name (CeO2, LaB6, Si, alpha_Al2O3 ...) or a d-spacing file (Å)")
    parser.add_argument("--wavelength", type=float, required=True, help="wavelength (Å)")
    start = parser.add_argument_group("start geometry (a PONI file, or distance + centre + detector)")
    start.add_argument("--poni", help="starting PONI file")
    start.add_argument("--distance", type=float, metavar="MM", help="sample-detector distance (mm)")
    start.add_argument("--center", type=parse_center, metavar="X,Y", help="beam centre, column,row (pixels)")
    start.add_argument("--detector", help="pyFAI detector name (e.g. Pilatus1M)")
    start.add_argument("--pixel-size", type=float, metavar="UM", help="pixel size (µm) instead of --detector")
    parser.add_argument("--mask", help="mask (image, .npy or Dioptas .mask; nonzero = excluded)")
    parser.add_argument("--rings", type=int, default=3, help="rings of the first passes (default 3)")
    parser.add_argument("--max-rings", type=int, default=None, help="rings in the end (default: all on the image)")
    parser.add_argument("--refine", default="dist,poni1,poni2,rot1,rot2",
                        help="parameters refined (default dist,poni1,poni2,rot1,rot2; add rot3, wavelength)")
    parser.add_argument("--flip", choices=("ud", "lr"), default=None, help="flip the image (and mask) first")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.poni", help="refined PONI file")
    parser.add_argument("--plot", metavar="OUT.png", help="image with control points and refined rings")
    parser.add_argument("--json", metavar="OUT.json", help="refined geometry, esds and residuals as JSON")


def _start(args: argparse.Namespace):
    from refine.integrate.calibrate import StartGeometry

    guess = (args.distance, args.center)
    if args.poni is not None:
        if any(v is not None for v in (*guess, args.detector, args.pixel_size)):
            raise InputError("--poni", "give either --poni or --distance/--center/--detector, not both")
        return args.poni
    if any(v is None for v in guess) or (args.detector is None) == (args.pixel_size is None):
        raise InputError("--distance", "without --poni, --distance, --center and one of --detector/--pixel-size "
                                       "are needed")
    return StartGeometry(distance_mm=args.distance, center_px=args.center, detector=args.detector,
                         pixel_size_um=args.pixel_size)


def _report(result: Any) -> str:
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
    lines.append(f"  RMS residual {result.rms_tth_deg:.5f} deg 2theta = {result.rms_px:.3f} px")
    return "\n".join(lines)


def _write_json(path: str, args: argparse.Namespace, result: Any) -> None:
    from refine import __version__
    from refine.fit.result import json_safe
    from refine.integrate.calibrate import result_dict
    from refine.io.atomic import atomic_open, sha256_of

    inputs = [p for p in (args.image, args.poni, args.mask, args.calibrant) if p and Path(p).is_file()]
    doc = {"schema": "refine.result/1", "kind": "calibration", "data": args.image, "converged": True,
           **result_dict(result),
           "provenance": {"package": "refine", "version": __version__,
                          "inputs": [{"path": p, "sha256": sha256_of(p)} for p in inputs],
                          "settings": {k: v for k, v in vars(args).items() if not k.startswith("_")},
                          "poni": args.output}}
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(json_safe(doc), fh, indent=2, default=str, allow_nan=False)
        fh.write("\n")


def run(args: argparse.Namespace) -> int:
    """Calibrate; returns the exit code."""
    from refine.cli.integrate import _quiet_libraries

    with _quiet_libraries(not getattr(args, "debug", False)):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from refine.integrate.calibrate import CalibrationOptions, calibrate
    from refine.io.images import iter_frames
    from refine.io.paths import check_outputs
    from refine.io.poni import write_poni

    check_outputs(files={"-o": args.output, "--plot": args.plot, "--json": args.json})
    start = _start(args)
    refine = tuple(p.strip() for p in args.refine.split(",") if p.strip())
    options = CalibrationOptions(rings=args.rings, max_rings=args.max_rings, refine=refine, mask=args.mask,
                                 flip=args.flip)
    _, image = next(iter(iter_frames(args.image)))
    result = calibrate(image, calibrant=args.calibrant, wavelength=args.wavelength, start=start, options=options,
                       source=args.image)
    write_poni(args.output, result.ai, {"calibrant": args.calibrant, "image": args.image,
                                        "flip": args.flip, "rms_2th_deg": f"{result.rms_tth_deg:.6g}"})
    print(_report(result), file=sys.stdout)
    print(f"refine calibrate: wrote {args.output}", file=sys.stdout)
    if args.json:
        _write_json(args.json, args, result)
    if args.plot:
        from refine.plot.calibration import plot_result

        plot_result(result, image, args.plot, options)
    return EXIT_OK


COMMANDS.register("calibrate", Command(help="refine the detector geometry on a calibrant image (pyFAI)",
                                       configure=configure, run=run))
