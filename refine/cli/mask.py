"""``refine mask [IMAGE] [--detector D] [--invalid] [--hot-dead NSIGMA] [--polygon "x,y x,y ..."]... [--combine M]...
-o OUT``: build a detector mask and save it as a Dioptas ``.mask`` (TIFF), pyFAI ``.edf`` or ``.npy``.

The parts are joined (union); each part's count of masked pixels is printed. Coordinates and orientation are those
of the image file (``refine integrate --flip`` flips the mask with the images)."""

from __future__ import annotations

import argparse
import sys

from refine.cli.main import COMMANDS, EXIT_OK, Command


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine mask``."""
    from refine.integrate.masking import parse_polygon

    parser.add_argument("image", nargs="?", default=None, metavar="IMAGE",
                        help="image (first frame) for --invalid / --hot-dead and the shape")
    parser.add_argument("--detector", help="pyFAI detector name: mask its module gaps (e.g. Pilatus1M)")
    parser.add_argument("--invalid", action="store_true", help="mask negative, non-finite and overflowing pixels")
    parser.add_argument("--hot-dead", type=float, default=None, metavar="NSIGMA",
                        help="mask isolated hot/dead pixels beyond NSIGMA of a 3x3 median (e.g. 8)")
    parser.add_argument("--polygon", action="append", default=[], type=_polygon(parse_polygon),
                        metavar='"x,y x,y x,y ..."', help="mask the inside of a polygon (pixels; repeatable)")
    parser.add_argument("--combine", action="append", default=[], metavar="MASK",
                        help="add a mask file (Dioptas .mask, pyFAI .edf, .npy, any image; repeatable)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="mask to write: .mask/.tif (Dioptas), .edf (pyFAI) or .npy")


def _polygon(parse):
    def convert(text: str):
        from refine.errors import InputError

        try:
            return parse(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None

    return convert


def run(args: argparse.Namespace) -> int:
    """Build and write the mask; returns the exit code."""
    from refine.cli.integrate import _quiet_libraries

    with _quiet_libraries(not getattr(args, "debug", False)):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from refine.integrate.masking import MaskRecipe, build_mask
    from refine.io.images import iter_frames
    from refine.io.masks import write_mask

    image = next(iter(iter_frames(args.image)))[1] if args.image else None
    recipe = MaskRecipe(detector=args.detector, invalid=args.invalid, hot_dead=args.hot_dead,
                        polygons=tuple(args.polygon), combine=tuple(args.combine))
    mask, counts = build_mask(recipe, image)
    write_mask(args.output, mask)
    parts = ", ".join(f"{name}: {n}" for name, n in counts.items()) or "nothing"
    print(f"refine mask: {int(mask.sum())} of {mask.size} pixels masked ({parts}) -> {args.output}", file=sys.stdout)
    return EXIT_OK


COMMANDS.register("mask", Command(help="build a detector mask (gaps, invalid, hot/dead pixels, polygons)",
                                  configure=configure, run=run))
