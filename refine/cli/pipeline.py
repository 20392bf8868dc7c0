"""The configuration file of ``refine run`` (schema ``refine.config/1``, described in :mod:`refine.cli.run`): read
and checked into a :class:`Pipeline` of :class:`Step` (schema, keys, value types, the ``[cluster]`` table; the
commands and their options are checked by :mod:`refine.cli.run` against each command's own parser)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from refine.batch_cluster import ClusterConfig
from refine.errors import InputError

CONFIG_SCHEMA = "refine.config/1"
_TOP_KEYS = ("schema", "defaults", "step", "cluster")
_STEP_KEYS = ("name", "command", "inputs", "options")
#: An option value of a configuration (or one item of a list of them).
Scalar = str | int | float | bool


@dataclass(frozen=True)
class Step:
    """One ``[[step]]``: its 1-based position, label, command words, positional inputs and options."""

    index: int
    name: str | None
    command: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    options: Mapping[str, Scalar | list] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The step's name, else its command (for messages)."""
        return self.name or " ".join(self.command)


@dataclass(frozen=True)
class Pipeline:
    """A parsed configuration: its file, checksum, ``[defaults]`` and steps."""

    path: Path
    sha256: str
    defaults: Mapping[str, Scalar | list]
    steps: tuple[Step, ...]
    cluster: ClusterConfig | None = None


def _load_toml(path: Path) -> dict:
    """The TOML document; a syntax error is bad input naming the file and line."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    from refine.io.paths import check_regular_file

    check_regular_file(path, kind="config")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # tomllib refuses a byte-order mark as 'Invalid statement'
    except OSError as exc:
        raise InputError(path, f"cannot read the configuration ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(path, "the configuration is not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message ends with "(at line L, column C)"
        raise InputError(path, f"TOML syntax error: {exc}") from None


def _check_options(path: Path, where: str, options: object) -> dict:
    """Options must be a table of scalars or lists of scalars (no nested tables, no dates)."""
    if not isinstance(options, dict):
        raise InputError(path, f"{where} must be a table of option = value")
    for key, value in options.items():
        items = value if isinstance(value, list) else [value]
        if isinstance(value, dict) or any(isinstance(v, (dict, list)) for v in items):
            raise InputError(path, f"{where}: option {key!r} holds a nested table or list; give a value or a list "
                                   "of values")
        if not all(isinstance(v, Scalar) for v in items):
            raise InputError(path, f"{where}: option {key!r} has a value of unsupported type "
                                   f"{type(items[0]).__name__}")
    return dict(options)


def _parse_step(path: Path, index: int, table: object) -> Step:
    if not isinstance(table, dict):
        raise InputError(path, f"step {index} is not a table (write each step as [[step]])")
    unknown = sorted(set(table) - set(_STEP_KEYS))
    if unknown:
        raise InputError(path, f"step {index}: unknown key {unknown[0]!r}; a step has {', '.join(_STEP_KEYS)}")
    command = table.get("command")
    if not isinstance(command, str) or not command.split():
        raise InputError(path, f"step {index}: 'command' (a refine sub-command, e.g. \"pdf reduce\") is required")
    inputs = table.get("inputs", [])
    inputs = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise InputError(path, f"step {index}: 'inputs' must be a path or a list of paths")
    name = table.get("name")
    if name is not None and not isinstance(name, str):
        raise InputError(path, f"step {index}: 'name' must be a string")
    options = _check_options(path, f"step {index} ({name or command!r}) options", table.get("options", {}))
    return Step(index=index, name=name, command=tuple(command.split()), inputs=tuple(inputs), options=options)


def read_pipeline(path: str | os.PathLike) -> Pipeline:
    """Read and check a ``refine.config/1`` file (schema, keys, value types; not yet the commands)."""
    from refine.io.atomic import sha256_of

    path = Path(path).resolve()
    doc = _load_toml(path)
    schema = doc.get("schema")
    if schema is None:
        raise InputError(path, f"no schema; the first line should be schema = \"{CONFIG_SCHEMA}\"")
    if schema != CONFIG_SCHEMA:
        raise InputError(path, f"unknown schema {schema!r}; this refine reads {CONFIG_SCHEMA!r}")
    unknown = sorted(set(doc) - set(_TOP_KEYS))
    if unknown:
        raise InputError(path, f"unknown key {unknown[0]!r}; the file holds {', '.join(_TOP_KEYS)}")
    raw_steps = doc.get("step", [])
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InputError(path, "no steps; add one or more [[step]] tables")
    steps = tuple(_parse_step(path, i, t) for i, t in enumerate(raw_steps, start=1))
    names = [s.name for s in steps if s.name]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise InputError(path, f"two steps are named {duplicate!r}; give each a distinct 'name'")
    defaults = _check_options(path, "[defaults]", doc.get("defaults", {}))
    cluster = None
    if "cluster" in doc:
        from refine.batch_cluster import cluster_config

        if not isinstance(doc["cluster"], dict):
            raise InputError(path, "'cluster' must be a table ([cluster])")
        cluster = cluster_config(doc["cluster"], str(path))
    return Pipeline(path=path, sha256=sha256_of(path) or "", defaults=defaults, steps=steps, cluster=cluster)
