"""Where refine may write, and how to tell a file refine wrote from one it did not.

Every result file refine writes says so: JSON documents carry ``"schema": "refine.…"``, pattern and curve files a
``# refine pattern;`` / ``# refine curves:`` first line, CIF and PONI files a ``# written by refine`` comment,
instrument files ``#refine:`` lines, figures a ``Software: refine`` PNG text chunk, the sequential table and the
reflection list (``--hkl``) their column headers. :func:`written_by_refine` reads that mark.

An :class:`OutputPolicy` (set for a block with :func:`output_policy`; ``refine run`` sets one for its steps)
keeps outputs inside a folder and refuses to replace files refine did not write; :func:`check_output` applies it
and every writer (:func:`refine.io.atomic.atomic_open`, figures) calls it first. Outside such a block anything
may be written, as the user asked on the command line.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from refine.errors import InputError

_HEAD_BYTES = 1 << 16
_TEXT_MARK = re.compile(rb"^(?:# refine (?:pattern|curves)[;:]|# written by:? refine\b|#refine:)", re.MULTILINE)
_JSON_MARK = re.compile(rb'\A\s*\{\s*"schema"\s*:\s*"refine\.')
#: Start of the header row of the sequential per-scan table (refine.operando.sequential.write_csv).
_CSV_MARK = re.compile(rb"\Aindex,file,(?:[^\r\n]*,)?converged,status,Rwp,Rp,Rexp,GOF,chi2_red,Rw\b"
                       # the reflection list (refine.powder.reflection_table.write_reflections)
                       rb"|\Aphase,(?:dataset,)?h,k,l,mult,d\[A\],2theta\[deg\],intensity\[y\*deg\]")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The figure writer's PNG ``Software`` text; see :func:`refine.plot.figures.save_figure`.
PNG_SOFTWARE = "refine"


def _png_software(head: bytes) -> str | None:
    """The ``Software`` value of a PNG's text chunks within ``head`` (None when there is none)."""
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(head):
        length = int.from_bytes(head[pos:pos + 4], "big")
        kind = head[pos + 4:pos + 8]
        data = head[pos + 8:pos + 8 + length]
        if kind == b"tEXt" and data.startswith(b"Software\0"):
            return data[len(b"Software\0"):].decode("latin-1")
        if kind in (b"IDAT", b"IEND"):
            return None
        pos += 12 + length
    return None


def written_by_refine(path: str | os.PathLike) -> bool:
    """True when ``path`` is a regular file carrying refine's mark (see the module docstring); False for any
    other file, a file that cannot be read, or no file at all."""
    try:
        with open(path, "rb") as fh:
            if not os.path.isfile(path):
                return False
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return False
    if head.startswith(_PNG_SIGNATURE):
        software = _png_software(head)
        return software is not None and software.split(" ", 1)[0] == PNG_SOFTWARE
    return bool(_JSON_MARK.match(head) or _TEXT_MARK.search(head) or _CSV_MARK.match(head))


@dataclass(frozen=True)
class OutputPolicy:
    """Rules for the files a block may write.

    Attributes
    ----------
    root
        Outputs must resolve (symbolic links and ``..`` followed) inside this folder; None: anywhere.
    replace_foreign
        Whether an existing file that refine did not write (:func:`written_by_refine`) may be replaced.
    option
        The option that lifts each rule, for messages (``refine run``: ``--allow-outside``,
        ``--replace-foreign``).
    """

    root: Path | None = None
    replace_foreign: bool = True
    allow_option: str = "--allow-outside"
    replace_option: str = "--replace-foreign"


_PERMISSIVE = OutputPolicy()
_POLICY: contextvars.ContextVar[OutputPolicy | None] = contextvars.ContextVar("refine_output_policy", default=None)


@contextlib.contextmanager
def output_policy(policy: OutputPolicy) -> Iterator[OutputPolicy]:
    """Apply ``policy`` to every write in the block (this thread or task; threads started inside must run in a
    copy of the context, as the integration writer does)."""
    token = _POLICY.set(policy)
    try:
        yield policy
    finally:
        _POLICY.reset(token)


def current_policy() -> OutputPolicy:
    """The policy in force (the permissive default outside :func:`output_policy`)."""
    return _POLICY.get() or _PERMISSIVE


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """True when ``path`` resolves (links and ``..`` followed) to ``root`` or below it."""
    real, top = Path(path).resolve(), Path(root).resolve()
    return real == top or top in real.parents


def check_output(path: str | os.PathLike, *, source: str | None = None, folder: bool = False,
                 policy: OutputPolicy | None = None) -> None:
    """Refuse to write ``path`` when the policy forbids it (outside the root; an existing file refine did not
    write). ``folder``: ``path`` is a folder refine writes into (only the root rule applies). ``source`` names
    the option in the message (default: the path)."""
    policy = policy or current_policy()
    where = source or os.fspath(path)
    what = f"{os.fspath(path)!r} " if source else ""
    if policy.root is not None and not inside(path, policy.root):
        raise InputError(where, f"{what}is outside {policy.root}; outputs stay in that folder unless "
                                f"{policy.allow_option} is given")
    if folder or policy.replace_foreign:
        return
    target = Path(path)
    if target.is_file() and not written_by_refine(target):
        raise InputError(where, f"{what}exists and was not written by refine; not replacing it (remove it, choose "
                                f"another name, or give {policy.replace_option})")
    if target.is_symlink() and not target.exists():
        raise InputError(where, f"{what}is a dangling symbolic link; not replacing it")
