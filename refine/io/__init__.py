"""Readers and writers, dispatched by name through registries.

``read_pattern(path)`` picks the reader from the file extension (or ``format=``); every reader returns a
:class:`refine.data.Pattern` and raises :class:`refine.errors.InputError` naming the file on bad input.
"""

from refine.io.patterns import PATTERN_READERS, PATTERN_WRITERS, read_pattern, read_powder_pattern, write_pattern

__all__ = ["PATTERN_READERS", "PATTERN_WRITERS", "read_pattern", "read_powder_pattern", "write_pattern"]
