"""``refine`` entry point: sub-commands register themselves in :data:`COMMANDS`.

Exit codes (CONVENTIONS.md): 0 converged / done; 3 fit finished without converging (result still written);
2 bad input, one line naming the file and the problem (traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from refine import __version__
from refine.api import parsing
from refine.errors import InputError, RefineError, UnknownNameError
from refine.notation import WARNING_NOTE, note_warnings
from refine.registry import Registry

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3


@dataclass(frozen=True)
class Command:
    """A sub-command: ``configure`` adds its arguments, ``run`` does the work and returns the exit code."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: Registry[Command] = Registry("sub-command")

# Modules whose import registers sub-commands; a module missing from an install is skipped.
_COMMAND_MODULES = ("refine.cli.integrate", "refine.cli.demo", "refine.cli.powder", "refine.cli.pdf",
                    "refine.cli.rietveld", "refine.cli.sequential", "refine.cli.calibrate", "refine.cli.run",
                    "refine.cli.simulate", "refine.cli.identify", "refine.cli.operando", "refine.cli.parametric",
                    "refine.cli.mask")


def argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a parser of :mod:`refine.api.parsing` (its ValueError becomes the argparse error)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(getattr(exc, "problem", None) or str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def float_pair(separator: str, form: str):
    """An argparse type for two numbers joined by ``separator`` (``form`` names them in the error, e.g. 'X,Y')."""
    return argument_type(lambda text: parsing.float_pair(text, separator, form))


class LazyChoices:
    """argparse ``choices`` read from a registry on first use, so building the parser of every command does not
    import the (heavy) module that holds the registry; pair it with a ``metavar``, which argparse would otherwise
    build from the choices at once."""

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        self._names = names

    def __contains__(self, item: object) -> bool:
        return item in self._names()

    def __iter__(self):
        return iter(self._names())


split_list = parsing.split_list
parse_range = argument_type(parsing.parse_range)
parse_constraint = argument_type(parsing.parse_constraint)


#: Library option names (``refine.api.options``) whose flag is not ``--`` + the name with ``_`` -> ``-``.
FLAG_OF = {"output": "-o", "outputs": "--output", "phases": "--phase"}
#: Further names the library uses as the source of an InputError about an option (besides the facade's options).
_LIBRARY_NAMES = ("wavelength", "instrument", "qmax", "composition", "calibrant", "kind", "spacegroup", "cell",
                  "trend", "constant_volume", "max_nfev", "restrain", "restrain_bond", "bonds")


def flag_of(source: str | None) -> str | None:
    """The command-line flag of an option named by the library (``range`` -> ``--range``, ``output`` -> ``-o``);
    any other source (a file path, a flag already) is returned as it is."""
    if source is None or source.startswith("-"):
        return source
    if source in FLAG_OF:
        return FLAG_OF[source]
    from refine.api.options import option_names

    if source in option_names() or source in _LIBRARY_NAMES:
        return "--" + source.replace("_", "-")
    return source


def cli_message(exc: InputError) -> str:
    """The one-line message of a library error with the option named by its flag ("--range: ...")."""
    flag = flag_of(exc.source)
    return str(exc) if flag == exc.source else str(InputError(flag, exc.problem))


def options_of(cls: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The facade keyword options of ``cls`` (a ``refine.api.options`` dataclass) from the parsed arguments."""
    return {name: getattr(args, name) for name in cls.names()}


STRICT_HELP = ("exit 3 when a fit finishes with any warning (undetermined parameters, a parameter on a bound, "
               "|correlation| > 0.9, poor fit, no sigma); results are written either way")
CONSTRAIN_HELP = "lmfit constraint on a parameter, e.g. 'b_uiso=a_uiso' (repeatable; names as in the fit report)"


def print_warnings(warnings: Sequence[str], command: str) -> None:
    """One ``refine COMMAND: warning: ...`` line on stderr per warning of a result."""
    for text in warnings:
        print(f"refine {command}: warning: {text}", file=sys.stderr)


def print_notes(notes: Sequence[str], command: str) -> int:
    """A run's notes: plain ones on stdout, ``warning: ...`` ones on stderr as warnings; returns how many warnings
    (they count under ``--strict``)."""
    warned = note_warnings(notes)
    for note in notes:
        if not note.startswith(WARNING_NOTE):
            print(note)
    print_warnings(warned, command)
    return len(warned)


def fit_exit_code(result, command: str, *, strict: bool = False) -> int:
    """Print the result's warnings on stderr (one line each) and return the exit code: 0 for a converged fit; 3
    when it did not converge, or under ``strict`` when it carries any warning (its results are written, flagged;
    CONVENTIONS.md)."""
    print_warnings(result.warnings, command)
    if not result.converged:
        print(f"refine {command}: fit did not converge ({result.message}); result written and flagged",
              file=sys.stderr)
        return EXIT_NOT_CONVERGED
    if strict and result.warnings:
        print(f"refine {command}: {len(result.warnings)} warning(s) under --strict; result written and flagged",
              file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def load_modules(names: Sequence[str]) -> None:
    """Import the modules that register sub-commands; one missing from an install is skipped, but an import error
    inside a module that exists is raised."""
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors are bad input: exit 2, one line (no usage block)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


@contextlib.contextmanager
def quiet_third_party(debug: bool, command: str = "") -> Iterator[None]:
    """While a command runs (unless ``--debug``): no log records of other libraries (fabio, PIL, pyFAI print
    whole detector lists at ERROR level) and no Python warnings but refine's own notes, each printed as one line
    ``refine COMMAND: warning: ...``, so that stderr holds refine's one-line messages. Restored on exit; nothing is
    changed at import."""
    if debug:
        yield
        return

    def one_line(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ARG001 - the hook
        print(f"refine {command}: warning: {message}".replace("refine : ", "refine: "), file=sys.stderr)

    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        with warnings.catch_warnings():  # restores the filters and showwarning on exit
            warnings.simplefilter("ignore")
            warnings.filterwarnings("default", category=UserWarning, module=r"refine(\.|$)")
            warnings.showwarning = one_line
            yield
    finally:
        logging.disable(previous)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all registered sub-commands)."""
    load_modules(_COMMAND_MODULES)
    parser = _Parser(prog="refine", description="Powder diffraction and PDF refinement.")
    parser.add_argument("--version", action="version", version=f"refine {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
    add_subcommands(parser, COMMANDS, dest="command", metavar="SUBCOMMAND", run_key="_run")
    return parser


def add_subcommands(parser: argparse.ArgumentParser, commands: Registry[Command], *, dest: str, metavar: str,
                    run_key: str) -> None:
    """One sub-parser per registered command (each with its own --debug), its run function stored as ``run_key``."""
    sub = parser.add_subparsers(dest=dest, metavar=metavar, parser_class=type(parser))
    for name in commands:
        cmd = commands.get(name)
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        p.add_argument("--strict", action="store_true", default=argparse.SUPPRESS, help=STRICT_HELP)
        cmd.configure(p)
        p.set_defaults(**{run_key: cmd.run})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    with quiet_third_party(bool(args.debug), args.command):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command; bad input is one line on stderr and exit 2."""
    try:
        return int(args._run(args))
    except (InputError, UnknownNameError) as exc:
        if args.debug:
            raise
        message = cli_message(exc) if isinstance(exc, InputError) else str(exc)
        print(f"refine {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RefineError as exc:
        if args.debug:
            raise
        print(f"refine {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("refine: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped (| head): the results are written; quiet
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python's own recipe: no flush error at exit
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
