"""Parsing single numeric fields of text files, with errors that name the file and the field."""

from __future__ import annotations

import math
import os

from refine.errors import InputError


def finite_float(path: str | os.PathLike, text: str, what: str) -> float:
    """``float(text)``; an InputError naming ``path`` and ``what`` when it is not a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(path, f"{what}: not a number: {text.strip()!r}") from None
    if not math.isfinite(value):
        raise InputError(path, f"{what}: not a finite number: {text.strip()!r}")
    return value


def is_number(text: str) -> bool:
    """True when ``float(text)`` works."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def shorter_than_rest(column: list[str]) -> bool:
    """True when the last of ``column`` (the texts of one column of a table) is shorter than every other value of
    the column (at least three values): in a file that ends without a line break, the mark of a last number cut
    while the file was written. A complete last line ending in such a value needs a final line break to be read."""
    if len(column) < 3:
        return False
    return len(column[-1].strip()) < min(len(value.strip()) for value in column[:-1])
