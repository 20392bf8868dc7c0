"""``refine pdf SUBCOMMAND``: PDF reduction (``reduce``) and, from other modules, fitting (``fit``).

``pdf`` holds its own registry :data:`PDF_COMMANDS`; a module listed in :data:`_PDF_COMMAND_MODULES` registers
its sub-command there on import (e.g. ``refine.cli.pdf_fit`` adds ``fit``)."""

from __future__ import annotations

import argparse

from refine.cli.main import COMMANDS, EXIT_BAD_INPUT, EXIT_OK, Command, add_subcommands, load_modules, split_list
from refine.errors import InputError
from refine.registry import Registry

#: Sub-commands of ``refine pdf``.
PDF_COMMANDS: Registry[Command] = Registry("pdf sub-command")
_PDF_COMMAND_MODULES = ("refine.cli.pdf_fit", "refine.cli.pdf_diff")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``pdf`` sub-sub-commands."""
    load_modules(_PDF_COMMAND_MODULES)
    add_subcommands(parser, PDF_COMMANDS, dest="pdf_command", metavar="PDFCOMMAND", run_key="_pdf_run")
    parser.set_defaults(_pdf_parser=parser)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen ``pdf`` sub-command."""
    sub_run = getattr(args, "_pdf_run", None)
    if sub_run is None:
        args._pdf_parser.print_help()
        return EXIT_BAD_INPUT
    return int(sub_run(args))


COMMANDS.register("pdf", Command(help="pair distribution functions: reduce I(Q) to G(r); fit G(r); differential G(r)",
                                 configure=configure, run=run))


# -- refine pdf reduce -------------------------------------------------------------------------------------
def _bgscale(text: str) -> float | str:
    if text.lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _outputs(text: str) -> tuple[str, ...]:
    kinds = tuple(k.lower() for k in split_list(text))
    from refine.pdf.reduce import OUTPUT_KINDS

    bad = [k for k in kinds if k not in OUTPUT_KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"expected a comma list of {','.join(OUTPUT_KINDS)}, got {text!r}")
    return kinds


def configure_reduce(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine pdf reduce``."""
    parser.add_argument("inputs", nargs="+", metavar="IQ",
                        help="integrated I(Q) or I(2theta) pattern(s) (.chi, .xy, .xye, ...); with several, -o is a "
                             "folder and they are reduced in parallel with one configuration (resumable)")
    parser.add_argument("--config", metavar="CFG",
                        help="PDFgetX3 configuration (pdfgetx3.cfg, or a PDFgetX3/xPDFsuite .gr whose header holds "
                             "one): its settings, background file and outputtype; options given here win")
    parser.add_argument("--section", help="with --config: the section to read (default [PDF], else [DEFAULT])")
    parser.add_argument("--composition", help="chemical formula, e.g. Na3V2O5 or 'Pb 1 Ti 1/2 O 3'")
    parser.add_argument("--qmax", type=float, help="upper Q of the sine transform (1/A)")
    parser.add_argument("--qmin", type=float, default=None, help="lower Q of the sine transform and fit (default 0)")
    parser.add_argument("--qmaxinst", type=float, default=None,
                        help="upper Q of reliable data and of the polynomial fit (default: last data point)")
    parser.add_argument("--rpoly", type=float, default=None,
                        help="r limit of the correction polynomial, degree round(rpoly*qmaxinst/pi) (default 0.9)")
    parser.add_argument("--background", metavar="FILE", help="container/Kapton background pattern")
    parser.add_argument("--bgscale", type=_bgscale, default=None,
                        help="background scale, or 'auto' (largest keeping I - b*B >= 0 at high Q; default 1)")
    parser.add_argument("--wavelength", type=float, default=None, help="wavelength (A) for I(2theta) input")
    parser.add_argument("--lorch", action="store_true", help="apply the Lorch modification function")
    parser.add_argument("--scale", type=float, default=None,
                        help="fixed divisor of F(Q) (default: self-scattering rule, see the header)")
    parser.add_argument("--rmin", type=float, default=None, help="first r of G(r) (A, default 0)")
    parser.add_argument("--rmax", type=float, default=None, help="last r of G(r) (A, default 30)")
    parser.add_argument("--rstep", type=float, default=None, help="r step of G(r) (A, default 0.01)")
    parser.add_argument("--output", dest="outputs", type=_outputs, default=None, metavar="gr,sq,fq,iq",
                        help="curves to write (default gr); others go beside -o with their own extension")
    parser.add_argument("--poni", help="IQ (and --background) are 2D images: integrate them in Q with this geometry "
                                       "first (frames of a multi-frame file are averaged)")
    parser.add_argument("--mask", help="with --poni: detector mask (image, .npy or Dioptas .mask)")
    parser.add_argument("--polarization", type=float, default=0.99,
                        help="with --poni: pyFAI polarization factor (default 0.99, horizontal synchrotron beam)")
    parser.add_argument("--npt", type=int, default=3000, help="with --poni: number of Q bins (default 3000)")
    parser.add_argument("--plot", metavar="OUT.png", help="figure with I(Q), S(Q), F(Q) and G(r)")
    parser.add_argument("-o", dest="out", required=True, metavar="OUT.gr",
                        help="output G(r) file (a folder when several inputs are given)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes for several inputs (default 2)")


def image_reader(args: argparse.Namespace):
    """A reader that integrates a 2D image to I(Q) with the PONI (frames averaged, sigma propagated)."""
    from refine.integrate.integrator import Integrator
    from refine.integrate.settings import IntegrationSettings

    settings = IntegrationSettings(npt=args.npt, unit="q_A^-1", polarization_factor=args.polarization, mask=args.mask)
    integrator = Integrator(args.poni, settings)

    def read(path):
        import numpy as np

        frames = integrator.integrate_file(path)
        if len(frames) == 1:
            return frames[0]
        y = np.mean([f.y for f in frames], axis=0)
        sigma = np.sqrt(np.sum([f.sigma**2 for f in frames], axis=0)) / len(frames)
        return frames[0].replace(y=y, sigma=sigma).with_metadata(frames_averaged=len(frames))

    return read


def _run_series(args: argparse.Namespace, config) -> int:
    from refine.pdf.reduce import reduce_series

    if args.poni or args.plot:
        raise InputError("--poni" if args.poni else "--plot", "works with one input at a time")
    done = reduce_series(args.inputs, config, args.out, background=args.background, outputs=args.outputs,
                         workers=max(args.workers, 1))
    for src, paths in done.items():
        print(f"{src} -> {', '.join(str(p) for p in paths)}")
    return EXIT_OK


_DEFAULTS = {"qmin": 0.0, "rpoly": 0.9, "bgscale": 1.0, "rmin": 0.0, "rmax": 30.0, "rstep": 0.01}
_UNITS = {"QA": "q_A^-1", "Qnm": "q_nm^-1", "twotheta": "2th_deg"}


def _merge_config(args: argparse.Namespace) -> tuple[dict, str | None]:
    """ReductionConfig keywords: the options given, else the --config file's, else the defaults; fills
    ``args.background`` and ``args.outputs`` the same way. Returns (keywords, the file's dataformat)."""
    from refine.io.pdfgetx_config import read_pdfgetx_config

    cfg = read_pdfgetx_config(args.config, section=args.section) if args.config else None
    found = dict(cfg.settings) if cfg else {}
    keys = ("composition", "qmax", "qmin", "qmaxinst", "rpoly", "bgscale", "rmin", "rmax", "rstep", "wavelength")
    kwargs = {}
    for key in keys:
        value = getattr(args, key)
        kwargs[key] = value if value is not None else found.get(key, _DEFAULTS.get(key))
    for key, option in (("composition", "--composition"), ("qmax", "--qmax")):
        if kwargs[key] is None:
            raise InputError(option, "is required (give it, or a --config that sets it)")
    if args.background is None and cfg is not None and cfg.background is not None:
        args.background = str(cfg.background)
    if args.outputs is None:
        args.outputs = cfg.outputs if cfg is not None and cfg.outputs else ("gr",)
    return kwargs, (cfg.dataformat if cfg else None)


def _dataformat_reader(dataformat: str):
    """Read a pattern with its x column taken as PDFgetX3's ``dataformat`` says; a file header naming another
    unit is bad input rather than silently overridden."""
    from refine import units
    from refine.io import read_pattern

    unit = _UNITS[dataformat]

    def read(path):
        plain = read_pattern(path)
        wanted = units.normalize_unit(unit)[0]
        if plain.metadata.get("unit_from") == "header" and plain.unit != wanted:
            raise InputError(path, f"the header says x is {plain.unit} but the configuration says dataformat = "
                                   f"{dataformat}")
        return read_pattern(path, unit=unit)

    return read


def run_reduce(args: argparse.Namespace) -> int:
    """Reduce one pattern (or image, with --poni) and write the requested curves."""
    from refine.io.paths import check_outputs
    from refine.pdf.reduce import ReductionConfig, reduce_file, write_results

    several = len(args.inputs) > 1
    check_outputs(files={"--plot": args.plot, **({} if several else {"-o": args.out})},
                  folders={"-o": args.out} if several else {})
    kwargs, dataformat = _merge_config(args)
    config = ReductionConfig(**kwargs, lorch=args.lorch, scale=args.scale)
    if len(args.inputs) > 1:
        if dataformat not in (None, "QA"):
            raise InputError("--config", f"dataformat = {dataformat} works with one input at a time")
        return _run_series(args, config)
    reader = image_reader(args) if args.poni else (_dataformat_reader(dataformat) if dataformat else None)
    result = reduce_file(args.inputs[0], config, args.background, reader=reader)
    if args.config:
        from dataclasses import replace

        from refine.io.atomic import sha256_of

        result = replace(result, notes=(f"settings from {args.config} (sha256={sha256_of(args.config)}); options "
                                        "given on the command line win", *result.notes))
    for path in write_results(result, args.out, args.outputs):
        print(f"wrote {path}")
    for note in result.notes:
        print(f"note: {note}")
    if args.plot:
        from refine.plot.pdf import plot_reduction

        plot_reduction(result, args.plot)
        print(f"wrote {args.plot}")
    return EXIT_OK


PDF_COMMANDS.register("reduce", Command(help="reduce I(Q) to S(Q), F(Q), G(r) (PDFgetX3-style ad hoc corrections)",
                                        configure=configure_reduce, run=run_reduce))
