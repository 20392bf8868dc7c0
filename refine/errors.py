"""Exceptions raised by refine.

Every problem with a user's input raises :class:`InputError`, whose message names the file (or option) and
the problem in one line; the command line turns it into exit code 2.
"""

from __future__ import annotations

import os
import re


class RefineError(Exception):
    """Base class of every error refine raises on purpose."""


class InputError(RefineError, ValueError):
    """Bad input: a file that cannot be read, an option out of range, data that do not fit together.

    Parameters
    ----------
    source
        The file path or option name the problem is about.
    problem
        One line saying what is wrong.
    """

    def __init__(self, source: str | os.PathLike | None, problem: str) -> None:
        self.source = None if source is None else os.fspath(source)
        # one line always: third-party texts quoted in a problem (fabio's XML parser, pyFAI) may hold line breaks
        self.problem = problem = re.sub(r"\s*[\r\n]+\s*", " ", problem).strip()
        super().__init__(f"{self.source}: {problem}" if self.source else problem)


class UnknownNameError(RefineError, KeyError):
    """A name looked up in a registry (format, backend, unit, ...) that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
