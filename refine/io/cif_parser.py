"""diffpy.structure's CIF parser, made safe for untrusted files.

diffpy.structure (3.3 and earlier) turns each listed symmetry operation into numbers with Python's ``eval()`` on
the parts between x, y and z: a CIF whose ``_symmetry_equiv_pos_as_xyz`` holds ``__import__('os').system(...)``
runs that code when the file is read, and malformed operations ('1/0', '1..2') escape as ZeroDivisionError or
SyntaxError. :func:`cif_parser` gives a parser that checks every listed operation against the CIF grammar of
coordinate triplets (signed x, y, z and numbers or fractions, three comma-separated parts) before diffpy sees it,
and that reports as a StructureFormatError a cell diffpy cannot build (a zero length or angle divides by zero) and
an item diffpy meets as a list where it expects one value (a looped ``_cell_length_a``).
"""

from __future__ import annotations

import re
from typing import Any

CELL_KEYS = ("length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma")
SYMOP_TAGS = ("_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz")
# a coordinate, or a number or a fraction of at most 8 digits each (no zero divisor, no overflow); an integer has
# no leading zero ('01/2', '1/02' are SyntaxErrors to the eval() below, found by fuzzing), a decimal may
_TERM = r"(?:[xyz]|(?:\d{1,8}\.\d{0,8}|\.\d{1,8}|0{1,8}|[1-9]\d{0,7})(?:/[1-9]\d{0,7})?)"
_PART = re.compile(rf"[+-]?{_TERM}(?:[+-]{_TERM})*", re.IGNORECASE | re.ASCII)  # ASCII: '٠' is a \d too


def is_triplet(text: object) -> bool:
    """True when ``text`` is a coordinate triplet such as ``'-y+1/2, x, z+0.25'`` (blanks ignored)."""
    parts = str(text).replace(" ", "").split(",")
    return len(parts) == 3 and all(_PART.fullmatch(part) for part in parts)


def cif_parser() -> Any:
    """A diffpy ``P_cif`` parser that refuses (StructureFormatError) a symmetry operation that is not a triplet."""
    from diffpy.structure.parsers.p_cif import P_cif
    from diffpy.structure.structureerrors import StructureFormatError

    class SafeCif(P_cif):
        def _parse_space_group_symop_operation_xyz(self, block: Any) -> None:
            for tag in SYMOP_TAGS:
                if tag in block:
                    values = block[tag]
                    for op in [values] if isinstance(values, str) else values:
                        if not is_triplet(op):
                            raise StructureFormatError(f"{tag}: {str(op)[:60]!r} is not a symmetry operation "
                                                       "like '-y+1/2, x, z'")
            super()._parse_space_group_symop_operation_xyz(block)

        def _parse_lattice(self, block: Any) -> None:
            try:
                super()._parse_lattice(block)
            except (ArithmeticError, AttributeError, TypeError):  # 1/0, or an item in a loop (a list, no float)
                cell = " ".join(str(block.get(f"_cell_{k}", "?"))[:20] for k in CELL_KEYS)
                raise StructureFormatError(f"the cell a b c alpha beta gamma = {cell} makes no lattice") from None

        def _parseCifBlock(self, blockname: str) -> None:  # noqa: N802 (diffpy's name)
            try:
                super()._parseCifBlock(blockname)
            except (AttributeError, TypeError) as err:  # diffpy meets a looped item where it expects one value
                problem = " ".join(str(err).split())[:100]
                raise StructureFormatError(f"data_{blockname}: an item diffpy cannot use ({problem})") from None

    return SafeCif()
