"""``refine run CONFIG.toml``: a saved, versioned pipeline of refine commands, re-run step by step.

The configuration carries no second parameter system: each ``[[step]]`` names an existing sub-command and its
positional ``inputs`` and ``options``, which are turned into that command's argument list and run in-process
through :func:`refine.cli.main.main`. Example::

    schema = "refine.config/1"
    [defaults]                      # added to every step whose command accepts the option
    wavelength = 0.1173
    [[step]]
    name = "integrate"
    command = "integrate"
    inputs = ["frames/*.tif"]
    options = { poni = "det.poni", mask = "det.mask", polarization = 0.99, o = "patterns/" }
    [[step]]
    command = "sequential"
    inputs = ["patterns/*.xye"]
    options = { phase = ["NVP.cif"], kind = "lebail", o = "seq/" }

Rules: option keys become ``--key`` (``_`` -> ``-``; a single letter becomes ``-k``); ``true`` is a bare flag,
``false`` omits the option; a list repeats the option once per item. Every step runs with the configuration's
folder as the working directory (restored afterwards), so relative paths in inputs, options and globs are
relative to the configuration file wherever ``refine run`` is started. Inputs containing glob characters are
expanded when their step starts (so a step can read what an earlier one wrote), in natural order of the path;
a glob matching nothing is bad input. A step returning 2 (bad input) or any code other than 0 and 3 stops the
run with that code; a step returning 3 (fit not converged) lets the run go on, which then exits 3. ``run.json``
(schema ``refine.run/1``) records the configuration's path and sha256 and every step's argv, exit code and
duration; it is rewritten atomically after each step.

A configuration is not trusted to write anywhere: every output (each output option, checked before anything
runs, and every file a step writes, checked when it is written) must resolve — links and ``..`` followed — inside
the configuration's folder unless ``--allow-outside`` is given, globs may not reach outside it either, and a file
refine did not write (:func:`refine.io.outputs.written_by_refine`) is never replaced without
``--replace-foreign``. Each step's inputs follow a ``--`` so that a file name starting with ``-`` is not read as
an option. The configuration's folder is locked for the run (:func:`refine.io.lock.folder_lock`).

A ``[cluster]`` table describes a batch cluster (dask-jobqueue; ``kind = "slurm"``, ``jobs`` batch jobs of
``cores`` and ``memory`` each, and SLURMCluster's other arguments: ``queue``, ``account``, ``walltime``,
``job_extra_directives`` ...). It is started (its scheduler here, ``jobs`` jobs submitted) before the first step
that takes ``--scheduler`` and sets neither ``scheduler`` nor ``workers``; such steps get ``--scheduler`` with its
address, and it is closed when the run ends::

    [cluster]
    kind = "slurm"
    jobs = 4
    cores = 8
    memory = "16GB"
    queue = "normal"
    walltime = "02:00:00"
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import glob
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from refine import __version__
from refine.batch_cluster import ClusterConfig
from refine.cli.main import COMMANDS, EXIT_BAD_INPUT, EXIT_NOT_CONVERGED, EXIT_OK, Command
from refine.cli.pipeline import CONFIG_SCHEMA, Pipeline, Scalar, Step, read_pipeline
from refine.errors import InputError

LOG_SCHEMA = "refine.run/1"


# -- from a step to an argument list -------------------------------------------------------------------------
def option_flag(key: str) -> str:
    """``o`` -> ``-o``, ``max_nfev`` -> ``--max-nfev``."""
    key = key.replace("_", "-")
    return f"-{key}" if len(key) == 1 else f"--{key}"


def option_args(key: str, value: Scalar | list) -> list[str]:
    """The command-line words of one option: true -> flag, false -> nothing, list -> repeated option."""
    flag = option_flag(key)
    out: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if item is True:
            out.append(flag)
        elif item is not False and item is not None:
            out += [flag, str(item)]
    return out


def _sub_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-command parsers of ``parser`` (argparse keeps them in its _SubParsersAction)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_parser(root: argparse.ArgumentParser, step: Step, source: Path) -> argparse.ArgumentParser:
    """The parser of the step's (sub-)command; unknown or incomplete commands are bad input."""
    parser, said = root, []
    for word in step.command:
        choices = _sub_parsers(parser)
        if word == "run" and parser is root:
            raise InputError(source, f"step {step.index} ({step.label!r}): a pipeline cannot call 'run'")
        if word not in choices:
            known = ", ".join(sorted(choices)) or "none"
            raise InputError(source, f"step {step.index} ({step.label!r}): unknown command "
                                     f"{' '.join([*said, word])!r}; known: {known}")
        parser, said = choices[word], [*said, word]
    choices = _sub_parsers(parser)
    if choices:
        raise InputError(source, f"step {step.index} ({step.label!r}): {' '.join(said)!r} needs a sub-command: "
                                 f"{', '.join(sorted(choices))}")
    return parser


def _accepted(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def _excluded_by(parser: argparse.ArgumentParser, flags: set[str]) -> set[str]:
    """Options that may not be combined with any of ``flags`` (argparse mutually exclusive groups)."""
    out: set[str] = set()
    for group in parser._mutually_exclusive_groups:
        strings = [set(a.option_strings) for a in group._group_actions]
        if any(s & flags for s in strings):
            out |= {o for s in strings if not s & flags for o in s}
    return out


def step_options(step: Step, defaults: Mapping, parser: argparse.ArgumentParser, source: Path) -> dict:
    """The step's options plus the ``[defaults]`` its command accepts (the step's own value wins; a default
    excluded by an option the step gives, e.g. --wavelength beside --instrument, is left out)."""
    accepted = _accepted(parser)
    for key in step.options:
        if option_flag(key) not in accepted:
            raise InputError(source, f"step {step.index} ({step.label!r}): 'refine {' '.join(step.command)}' has no "
                                     f"option {option_flag(key)}")
    excluded = _excluded_by(parser, {option_flag(k) for k in step.options})
    extra = {k: v for k, v in defaults.items()
             if k not in step.options and option_flag(k) in accepted and option_flag(k) not in excluded}
    return {**extra, **step.options}


def expand_inputs(step: Step, source: Path, *, strict: bool = True, root: Path | None = None) -> list[str]:
    """Inputs with globs expanded in the current directory, natural order; a glob matching nothing is bad
    input (``strict``) or, for a dry run, kept as written. With ``root``, a glob matching anything outside that
    folder is bad input (the message names the pattern, never what it matched)."""
    from refine.io.outputs import inside
    from refine.operando.series import natural_parts  # lazy: refine.operando imports lmfit (~1 s)

    out: list[str] = []
    for item in step.inputs:
        if not glob.has_magic(item):
            out.append(item)
            continue
        # digit runs as numbers over the whole path: scan_2 before scan_10, run2/ before run10/
        found = sorted(glob.glob(item, recursive=True), key=lambda p: (natural_parts(p), p))
        if root is not None and not all(inside(p, root) for p in found):
            raise InputError(source, f"step {step.index} ({step.label!r}): the glob {item!r} reaches outside "
                                     f"{root}; globs stay in the configuration's folder unless --allow-outside "
                                     "is given")
        if not found and strict:
            raise InputError(source, f"step {step.index} ({step.label!r}): {item!r} matches no file in "
                                     f"{Path.cwd()}")
        out += found or [item]
    return out


def _input_count(parser: argparse.ArgumentParser) -> tuple[int, float]:
    """How many positional inputs the command takes (least, most)."""
    low, high = 0, 0.0
    for action in parser._actions:
        if action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        fixed = {None: 1, "?": 0}.get(action.nargs) if not isinstance(action.nargs, int) else action.nargs
        low += 1 if action.nargs == "+" else (fixed or 0)
        high += fixed if fixed is not None else float("inf")
    return low, high


def check_input_count(step: Step, parser: argparse.ArgumentParser, inputs: Sequence[str], source: Path) -> None:
    """A glob that matched more (or fewer) files than the command takes is bad input, said without listing
    the files (argparse would print every one as an unrecognized argument)."""
    if not any(glob.has_magic(item) for item in step.inputs):
        return
    low, high = _input_count(parser)
    if not low <= len(inputs) <= high:
        takes = f"{low}" if low == high else f"{low} or more"
        raise InputError(source, f"step {step.index} ({step.label!r}): the inputs give {len(inputs)} file(s); "
                                 f"'refine {' '.join(step.command)}' takes {takes}")


def step_argv(step: Step, options: Mapping, inputs: Sequence[str]) -> list[str]:
    """Command words, the options, then ``--`` and the positional inputs (an input starting with ``-`` stays an
    input)."""
    words = [w for k, v in options.items() for w in option_args(k, v)]
    return [*step.command, *words, *(["--", *inputs] if inputs else [])]


# -- where a step writes ---------------------------------------------------------------------------------------
#: Destinations of options that name a file or folder a command writes (metavars OUT…, DIR, DIFF… likewise).
OUTPUT_DESTS = frozenset({"output", "out", "json", "plot", "csv", "cif_out", "write_instrument", "log", "hkl"})


def output_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options of a command that name something it writes."""
    return [a for a in parser._actions if a.option_strings and a.nargs != 0
            and (a.dest in OUTPUT_DESTS or str(a.metavar or "").startswith(("OUT", "DIR", "DIFF")))]


def check_step_outputs(step: Step, options: Mapping, parser: argparse.ArgumentParser, source: Path,
                       policy) -> None:
    """Every output option of the step obeys ``policy`` (inside the folder; no file refine did not write),
    relative to the configuration's folder; checked before any step runs."""
    from refine.io.outputs import check_output

    flags = {option_flag(k): k for k in options}
    for action in output_actions(parser):
        key = next((flags[f] for f in action.option_strings if f in flags), None)
        if key is None:
            continue
        value = options[key]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool) or item is None:
                continue
            try:
                check_output(source.parent / str(item), policy=policy)
            except InputError as exc:
                raise InputError(source, f"step {step.index} ({step.label!r}): {option_flag(key)} {str(item)!r} "
                                         f"{exc.problem}") from None


# -- running ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run the block in ``path`` and restore the previous working directory, whatever happens."""
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def call_refine(argv: Sequence[str]) -> int:
    """``refine.cli.main.main(argv)`` in-process; an argparse exit (usage error) becomes its exit code."""
    from refine.cli.main import main

    try:
        return int(main(list(argv)))
    except SystemExit as exc:
        code = exc.code
        return 0 if code is None else code if isinstance(code, int) else 1


def _write_log(path: Path, pipeline: Pipeline, started: str, start_from: str | None, records: list[dict],
               exit_code: int | None) -> None:
    from refine.io.atomic import atomic_open

    doc = {"schema": LOG_SCHEMA, "config": str(pipeline.path), "sha256": pipeline.sha256,
           "refine_version": __version__, "working_directory": str(pipeline.path.parent), "started": started,
           "from": start_from, "steps": records, "exit_code": exit_code}
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")


def _first_step(pipeline: Pipeline, name: str | None) -> int:
    if name is None:
        return 0
    for i, step in enumerate(pipeline.steps):
        if step.name == name or (name.isdigit() and int(name) == step.index):
            return i
    names = ", ".join(repr(s.label) for s in pipeline.steps)
    raise InputError("--from", f"no step {name!r} in {pipeline.path}; steps: {names}")


@dataclass(frozen=True)
class RunOptions:
    """How ``refine run`` runs a pipeline: the first step, dry run, tracebacks, --strict for every step, and the
    output rules lifted."""

    start_from: str | None = None
    dry_run: bool = False
    debug: bool = False
    allow_outside: bool = False
    replace_foreign: bool = False
    strict: bool = False


def run_pipeline(pipeline: Pipeline, *, log: Path | None, start_from: str | None = None, dry_run: bool = False,
                 debug: bool = False, options: RunOptions | None = None) -> int:
    """Run (or with ``dry_run`` only print) the steps; returns the run's exit code. ``options`` (a
    :class:`RunOptions`) replaces the three keywords when given."""
    from refine.io.lock import folder_lock

    run = options or RunOptions(start_from=start_from, dry_run=dry_run, debug=debug)
    if run.dry_run:
        return _run_steps(pipeline, log=None, run=run)
    with folder_lock(pipeline.path.parent, command="run"):
        return _run_steps(pipeline, log=log, run=run)


def _run_steps(pipeline: Pipeline, *, log: Path | None, run: RunOptions) -> int:
    from refine.cli.main import build_parser
    from refine.io.outputs import OutputPolicy, output_policy

    folder = pipeline.path.parent
    policy = OutputPolicy(root=None if run.allow_outside else folder, replace_foreign=run.replace_foreign)
    root = build_parser()
    first = _first_step(pipeline, run.start_from)
    steps = pipeline.steps[first:]
    parsers = {s.index: command_parser(root, s, pipeline.path) for s in steps}  # every command checked up front
    options = {s.index: step_options(s, pipeline.defaults, parsers[s.index], pipeline.path) for s in steps}
    for s in steps:
        check_step_outputs(s, options[s.index], parsers[s.index], pipeline.path, policy)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    records: list[dict] = []
    final = EXIT_OK
    start_from, dry_run = run.start_from, run.dry_run
    print(f"refine run: {pipeline.path} ({len(steps)} step(s), working directory {folder})")
    cluster = _LazyCluster(pipeline.cluster, dry_run)
    with working_directory(folder), contextlib.closing(cluster):
        for step in steps:
            if cluster.wanted(step, parsers[step.index]):
                options[step.index] = {**options[step.index], "scheduler": cluster.address()}
            print(f"\n[{step.index}/{len(pipeline.steps)}] {step.label}", flush=True)
            record = {"index": step.index, "name": step.name, "command": " ".join(step.command)}
            try:
                inputs = expand_inputs(step, pipeline.path, strict=not dry_run, root=policy.root)
                if not dry_run:
                    check_input_count(step, parsers[step.index], inputs, pipeline.path)
                argv = ["--strict"] * run.strict + step_argv(step, options[step.index], inputs)  # run's --strict
            except InputError as exc:
                records.append({**record, "argv": None, "exit_code": EXIT_BAD_INPUT, "error": str(exc)})
                if log is not None and not dry_run:
                    _write_log(log, pipeline, started, start_from, records, EXIT_BAD_INPUT)
                raise
            print(f"$ refine {shlex.join(argv)}", flush=True)
            if dry_run:
                continue
            tic = time.perf_counter()
            try:
                with output_policy(policy):
                    code = call_refine(["--debug", *argv] if run.debug else argv)
            except BaseException as exc:  # a bug in the step: record it, then let it surface
                records.append({**record, "argv": argv, "exit_code": None, "error": repr(exc),
                                "duration_s": round(time.perf_counter() - tic, 3)})
                if log is not None:
                    _write_log(log, pipeline, started, start_from, records, None)
                raise
            records.append({**record, "argv": argv, "exit_code": code,
                            "duration_s": round(time.perf_counter() - tic, 3)})
            stop = code not in (EXIT_OK, EXIT_NOT_CONVERGED)
            final = code if stop else max(final, code)
            if log is not None:
                _write_log(log, pipeline, started, start_from, records, final if stop or step is steps[-1] else None)
            if stop:
                print(f"refine run: step {step.index} ({step.label!r}) exited {code}; stopping", file=sys.stderr)
                return code
    if not dry_run:
        print(f"\nrefine run: {len(steps)} step(s) done, exit {final}" + (f"; log {log}" if log else ""))
    return final


class _LazyCluster:
    """The ``[cluster]`` of a pipeline, started when the first step wants it, closed at the end of the run."""

    def __init__(self, config: ClusterConfig | None, dry_run: bool) -> None:
        self.config, self.dry_run, self.cluster = config, dry_run, None

    def wanted(self, step: Step, parser: argparse.ArgumentParser) -> bool:
        return (self.config is not None and "--scheduler" in _accepted(parser)
                and not {"scheduler", "workers"} & set(step.options))

    def address(self) -> str:
        if self.dry_run:
            return f"<{self.config.kind} cluster, {self.config.jobs} job(s)>"
        if self.cluster is None:
            from refine.batch_cluster import make_cluster

            self.cluster = make_cluster(self.config)
            self.cluster.scale(jobs=self.config.jobs)
            print(f"refine run: {self.config.kind} cluster, {self.config.jobs} job(s), scheduler "
                  f"{self.cluster.scheduler_address}", flush=True)
        return str(self.cluster.scheduler_address)

    def close(self) -> None:
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()
            self.cluster = None


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine run``."""
    parser.add_argument("config", metavar="CONFIG.toml", help=f"pipeline configuration (schema {CONFIG_SCHEMA})")
    parser.add_argument("--dry-run", action="store_true", help="print each step's command line, run nothing")
    parser.add_argument("--from", dest="start_from", metavar="NAME",
                        help="start at the step with this name (or 1-based number)")
    parser.add_argument("--log", metavar="PATH", help="run record (default: run.json beside the configuration)")
    parser.add_argument("--allow-outside", action="store_true",
                        help="let steps write (and globs read) outside the configuration's folder")
    parser.add_argument("--replace-foreign", action="store_true",
                        help="let steps replace existing files that refine did not write")


def run(args: argparse.Namespace) -> int:
    """Read the configuration and run its steps."""
    from refine.io.outputs import OutputPolicy, check_output
    from refine.io.paths import check_output_file

    if args.log:
        check_output_file(args.log, "--log")
    pipeline = read_pipeline(args.config)
    log = Path(args.log).resolve() if args.log else pipeline.path.parent / "run.json"
    if not args.dry_run:  # the record is the user's own choice of place, but never replaces a foreign file
        check_output(log, source="--log", policy=OutputPolicy(replace_foreign=args.replace_foreign))
    options = RunOptions(start_from=args.start_from, dry_run=args.dry_run, debug=getattr(args, "debug", False),
                         allow_outside=args.allow_outside, replace_foreign=args.replace_foreign,
                         strict=getattr(args, "strict", False))
    return run_pipeline(pipeline, log=None if args.dry_run else log, options=options)


COMMANDS.register("run", Command(help="run a saved pipeline of refine commands (CONFIG.toml)", configure=configure,
                                 run=run))
