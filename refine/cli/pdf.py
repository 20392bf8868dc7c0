"""``refine pdf SUBCOMMAND``: PDF reduction (``reduce``) and, from other modules, fitting (``fit``).

``pdf`` holds its own registry :data:`PDF_COMMANDS`; a module listed in :data:`_PDF_COMMAND_MODULES` registers
its sub-command there on import (e.g. ``refine.cli.pdf_fit`` adds ``fit``)."""

from __future__ import annotations

import argparse

from refine.api import parsing
from refine.api.options import PdfReduceOptions
from refine.cli.main import (
    COMMANDS,
    EXIT_BAD_INPUT,
    EXIT_OK,
    Command,
    add_subcommands,
    argument_type,
    load_modules,
    options_of,
)
from refine.registry import Registry

#: Sub-commands of ``refine pdf``.
PDF_COMMANDS: Registry[Command] = Registry("pdf sub-command")
_PDF_COMMAND_MODULES = ("refine.cli.pdf_fit", "refine.cli.pdf_diff", "refine.cli.pdf_calc")


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
_bgscale = argument_type(parsing.parse_bgscale)
_outputs = argument_type(lambda text: PdfReduceOptions(outputs=text).outputs)


def configure_reduce(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine pdf reduce``."""
    parser.add_argument("inputs", nargs="+", metavar="IQ",
                        help="integrated I(Q) or I(2theta) pattern(s) (.chi, .xy, .xye, ...); with several, -o is a "
                             "folder and they are reduced in parallel with one configuration (resumable)")
    parser.add_argument("--config", metavar="CFG",
                        help="PDFgetX3/PDFgetN3 configuration (pdfgetx3.cfg, pdfgetn3.cfg, or a PDFgetX3/xPDFsuite .gr "
                             "whose header holds one): its settings, background file, dataformat and outputtype; "
                             "options given here win")
    parser.add_argument("--section", help="with --config: the section to read (default [PDF], else [DEFAULT])")
    parser.add_argument("--composition", help="chemical formula, e.g. Na3V2O5 or 'Pb 1 Ti 1/2 O 3'")
    parser.add_argument("--qmax", type=float, help="upper Q of the sine transform (1/A)")
    parser.add_argument("--qmin", type=float, default=None, help="lower Q of the sine transform and fit (default 0)")
    parser.add_argument("--qmaxinst", type=float, default=None,
                        help="upper Q of reliable data and of the polynomial fit (default: last data point)")
    parser.add_argument("--rpoly", type=float, default=None,
                        help="r limit of the correction polynomial, fractional degree rpoly*(Qhi-Qlo)/pi "
                             "(default 0.9)")
    parser.add_argument("--background", metavar="FILE", help="container/Kapton background pattern")
    parser.add_argument("--bgscale", type=_bgscale, default=None,
                        help="background scale, or 'auto' (largest keeping I - b*B >= 0 at high Q; default 1)")
    parser.add_argument("--wavelength", type=float, default=None, help="wavelength (A) for I(2theta) input")
    parser.add_argument("--twothetazero", type=float, default=None,
                        help="zero of the diffractometer's 2theta (degrees), subtracted from I(2theta) input "
                             "(default 0)")
    parser.add_argument("--mode", choices=("xray", "neutron"), default=None,
                        help="xray (form factors, PDFgetX3) or neutron (scattering lengths from periodictable, "
                             "PDFgetN3); default xray")
    parser.add_argument("--lorch", action="store_true", help="apply the Lorch modification function")
    parser.add_argument("--scale", type=float, default=None,
                        help="fixed intensity scale k (default: least squares of k*I/<f>^2 onto <f^2>/<f>^2; "
                             "recorded in the header)")
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
    parser.add_argument("-o", dest="output", required=True, metavar="OUT.gr",
                        help="output G(r) file (a folder when several inputs are given)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes for several inputs (default 2)")
    parser.set_defaults(**PdfReduceOptions.cli_defaults())


def run_reduce(args: argparse.Namespace) -> int:
    """Reduce through :func:`refine.api.pdf_reduce` and say what was written."""
    from refine.api.pdf import pdf_reduce

    options = options_of(PdfReduceOptions, args)
    result = pdf_reduce(args.inputs, composition=args.composition, qmax=args.qmax, **options)
    if isinstance(result, dict):  # several inputs: {input: [outputs]}
        for src, paths in result.items():
            print(f"{src} -> {', '.join(str(p) for p in paths)}")
        return EXIT_OK
    written = list(result.written)
    for path in written[:len(written) - bool(args.plot)]:
        print(f"wrote {path}")
    for note in result.notes:
        print(f"note: {note}")
    if args.plot:
        print(f"wrote {args.plot}")
    return EXIT_OK


PDF_COMMANDS.register("reduce", Command(help="reduce I(Q) to S(Q), F(Q), G(r) as PDFgetX3 / PDFgetN3 do",
                                        configure=configure_reduce, run=run_reduce))
