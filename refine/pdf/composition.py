"""Chemical composition strings as PDFgetX3 accepts them.

Supported forms (PDFgetX3 manual, ``composition``): ``"PbTi0.5Zr0.5O3"``, ``"Pb 1 Ti 1/2 Zr 1/2 O 3"``,
``"CH3 (CH2)3 OH"``, ``"Na3V2O5"``. Elements may repeat, counts may be fractions or decimals, groups in
parentheses may carry a multiplier; spaces are ignored and the element symbols are case-sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType

from refine.crystal.scattering import is_element
from refine.errors import InputError

_TOKEN = re.compile(r"\s*(?:(?P<el>[A-Z][a-z]?)|(?P<open>\()|(?P<close>\))|(?P<num>\d+(?:\.\d*)?(?:/\d+)?|\.\d+))")


def _number(text: str) -> float:
    return float(Fraction(text)) if "/" in text else float(text)


def parse_composition(text: str, *, source: str = "composition") -> Mapping[str, float]:
    """Parse a composition string into ``{element: count}`` (insertion order of first appearance).

    Parameters
    ----------
    text
        The formula, e.g. ``"Na3V2O5"`` or ``"Pb 1 Ti 1/2 Zr 1/2 O 3"``.
    source
        Name used in the error message (option or file).

    Raises
    ------
    InputError
        When the text is empty, holds an unknown element symbol, unbalanced parentheses, a stray number or a
        non-positive total.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(source, "composition is empty")
    stack: list[dict[str, float]] = [{}]
    pos = 0
    last: dict[str, float] | str | None = None  # what a following count multiplies
    stripped = text.strip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if not match or match.end() == pos:
            raise InputError(source, f"cannot parse composition {text!r} at {stripped[pos:pos + 10]!r}")
        pos = match.end()
        if match.group("el"):
            symbol = match.group("el")
            if not is_element(symbol, isotopes=False):
                raise InputError(source, f"unknown element {symbol!r} in composition {text!r}")
            stack[-1][symbol] = stack[-1].get(symbol, 0.0) + 1.0
            last = symbol
        elif match.group("open"):
            stack.append({})
            last = None
        elif match.group("close"):
            if len(stack) == 1:
                raise InputError(source, f"unbalanced ')' in composition {text!r}")
            group = stack.pop()
            for el, n in group.items():
                stack[-1][el] = stack[-1].get(el, 0.0) + n
            last = group
        else:
            count = _number(match.group("num"))
            if isinstance(last, str):  # element count replaces the implicit 1
                stack[-1][last] += count - 1.0
            elif isinstance(last, dict):  # group multiplier: the group was added once already
                for el, n in last.items():
                    stack[-1][el] += n * (count - 1.0)
            else:
                raise InputError(source, f"number {match.group('num')!r} without an element in {text!r}")
            last = None
    if len(stack) != 1:
        raise InputError(source, f"unbalanced '(' in composition {text!r}")
    counts = {el: n for el, n in stack[0].items() if n != 0.0}
    if not counts or any(n < 0 for n in counts.values()):
        raise InputError(source, f"composition {text!r} has no positive amounts")
    return MappingProxyType(counts)


def atomic_fractions(composition: Mapping[str, float] | str) -> Mapping[str, float]:
    """Mole fractions c_i (sum 1) of a composition string or mapping."""
    counts = parse_composition(composition) if isinstance(composition, str) else composition
    total = float(sum(counts.values()))
    if total <= 0:
        raise InputError("composition", "total amount must be positive")
    return MappingProxyType({el: n / total for el, n in counts.items()})


def format_composition(composition: Mapping[str, float]) -> str:
    """A compact formula string, e.g. ``Na3V2O5`` or ``Na0.5V0.5O``."""
    parts = []
    for el, n in composition.items():
        parts.append(el if n == 1 else f"{el}{n:g}")
    return "".join(parts)
