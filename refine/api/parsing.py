"""Text forms of the facade's options, shared with the command line: ``"LO:HI"``, ``"NAME=EXPR"``, ``"a,b,c"`` ...

Each parser takes the text (or the value already parsed) and returns the value, or raises ``ValueError`` whose
message is the problem in one line; :mod:`refine.api.options` names the option in an ``InputError`` and the
command line turns it into an argparse error on the flag.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from refine.notation import parse_range  # noqa: F401 - one of the text forms, kept by the core for the plots


def split_list(text: str | Sequence[str]) -> tuple[str, ...]:
    """The non-empty items of a comma list ('cell, zero,W' -> ('cell', 'zero', 'W')); a sequence is kept."""
    items = text.split(",") if isinstance(text, str) else text
    return tuple(str(item).strip() for item in items if str(item).strip())


def parse_constraint(text: str | Sequence[str]) -> tuple[str, str]:
    """``NAME=EXPR`` (an lmfit constraint), or a (name, expr) pair."""
    if isinstance(text, str):
        name, sep, expr = text.partition("=")
    else:
        name, expr = (list(text) + ["", ""])[:2] if len(text) == 2 else ("", "")
        sep = "="
    if not sep or not str(name).strip() or not str(expr).strip():
        raise ValueError(f"expected NAME=EXPR, got {text!r}")
    return str(name).strip(), str(expr).strip()


def parse_count(text: str | int) -> int:
    """A whole number >= 0."""
    try:
        value = int(text) if not isinstance(text, float) or text.is_integer() else -1
    except (ValueError, TypeError):
        value = -1
    if value < 0:
        raise ValueError(f"expected a whole number >= 0, got {text!r}")
    return value


def parse_hkl(text: str | Sequence[float]) -> tuple[float, float, float]:
    """Three numbers ``"h k l"`` (spaces or commas), not all zero."""
    try:
        values = tuple(float(v) for v in (text.replace(",", " ").split() if isinstance(text, str) else text))
    except (ValueError, TypeError):
        values = ()
    if len(values) != 3 or not any(values) or not all(math.isfinite(v) for v in values):
        raise ValueError(f"expected three numbers 'h k l' (not all zero), got {text!r}")
    return values


def parse_background(text: Any):
    """``KIND[:N]`` (chebyshev:6, shifted_chebyshev:N, power:N) or a ``Background``."""
    from refine.powder.background import BACKGROUNDS, Background

    if isinstance(text, Background):
        return text
    kind, _, n = str(text).partition(":")
    if kind not in BACKGROUNDS:
        raise ValueError(f"unknown background {kind!r}; known: {', '.join(BACKGROUNDS.names())}")
    try:
        return Background(kind=kind, nterms=int(n) if n else 6)
    except ValueError as exc:
        raise ValueError(getattr(exc, "problem", str(exc))) from None


def _target(text: str, what: str) -> tuple[str, float, float]:
    left, sep, right = text.rpartition("=")
    target, colon, sigma = right.partition(":")
    try:
        values = float(target), float(sigma)
    except ValueError:
        values = ()
    if not sep or not left.strip() or not colon or len(values) != 2 or not values[1] > 0:
        raise ValueError(f"expected {what}=TARGET:SIGMA with SIGMA > 0, got {text!r}")
    return left.strip(), values[0], values[1]


def parse_restraint(text: str | Sequence[Any]) -> tuple[str, float, float]:
    """``EXPR=TARGET:SIGMA`` (or an (expr, target, sigma) triple)."""
    if not isinstance(text, str):
        expr, target, sigma = text
        return parse_restraint(f"{expr}={target}:{sigma}")
    return _target(text, "EXPR")


def parse_bond(text: str | Sequence[Any]) -> tuple[tuple[str, str], float, float]:
    """``SITE1-SITE2=D:SIGMA`` (or a ((site1, site2), d, sigma) triple)."""
    if not isinstance(text, str):
        (first, second), target, sigma = text
        return parse_bond(f"{first}-{second}={target}:{sigma}")
    pair, target, sigma = _target(text, "SITE1-SITE2")
    first, dash, second = pair.partition("-")
    if not dash or not first.strip() or not second.strip():
        raise ValueError(f"expected SITE1-SITE2=D:SIGMA, got {text!r}")
    return (first.strip(), second.strip()), target, sigma


def parse_bond_cutoff(text: str | Sequence[Any]) -> tuple[str, float]:
    """``A-B:D`` (species pair and bond cut-off in Å, e.g. ``V-O:2.4``) or an ("A-B", d) pair."""
    if not isinstance(text, str):
        pair, cutoff = text
        return parse_bond_cutoff(f"{pair}:{cutoff}")
    pair, colon, value = text.rpartition(":")
    first, dash, second = pair.partition("-")
    if not colon or not dash or not first.strip() or not second.strip():
        raise ValueError(f"expected A-B:D (species pair and cut-off in A, e.g. V-O:2.4), got {text!r}")
    try:
        cutoff = float(value)
    except ValueError:
        raise ValueError(f"expected A-B:D with D a number of A, got {text!r}") from None
    if not (cutoff > 0 and cutoff < 1e3):
        raise ValueError(f"a bond cut-off must be > 0 A, got {text!r}")
    return f"{first.strip()}-{second.strip()}", cutoff


def parse_pdf_phase(text: str | Sequence[Any]) -> tuple[str, bool]:
    """``STRUCT`` or ``STRUCT,fixed`` (a G(r) fit phase: path and whether its positions are fixed)."""
    if not isinstance(text, str):
        path, fixed = text
        return str(path), bool(fixed)
    path, _, flag = text.partition(",")
    flag = flag.strip().lower()
    if flag not in ("", "fixed") or not path:
        raise ValueError(f"expected STRUCT or STRUCT,fixed, got {text!r}")
    return path, flag == "fixed"


def parse_pdf_phase_spec(text: str | Sequence[Any]) -> tuple[str, bool, str | None]:
    """``STRUCT``, ``STRUCT,fixed`` or ``TRAJ,fixed,frames=START:STOP:STEP`` (a frame-averaged MD trajectory):
    path, whether positions are fixed, and the frames (None: not a trajectory phase)."""
    if not isinstance(text, str):
        items = tuple(text)
        return str(items[0]), bool(items[1]), (None if len(items) < 3 or items[2] is None else str(items[2]))
    path, *flags = [part.strip() for part in text.split(",")]
    fixed, frames = False, None
    for flag in flags:
        if flag.lower() == "fixed":
            fixed = True
        elif flag.lower().startswith("frames="):
            frames = flag.split("=", 1)[1].strip()
        else:
            raise ValueError(f"expected STRUCT or STRUCT,fixed (or TRAJ,fixed,frames=START:STOP:STEP), got {text!r}")
    if not path or (frames is not None and not frames):
        raise ValueError(f"expected STRUCT or STRUCT,fixed (or TRAJ,fixed,frames=START:STOP:STEP), got {text!r}")
    if frames is not None and not fixed:
        raise ValueError(f"a trajectory phase keeps its positions: write {path},fixed,frames={frames}")
    return path, fixed, frames


def parse_presence(text: Any):
    """``NAME:FIRST[:LAST]`` scan indices of a phase that appears or vanishes (or a ``Presence``)."""
    from refine.operando.sequential import Presence

    if isinstance(text, Presence):
        return text
    name, _, rest = str(text).partition(":")
    first, _, last = rest.partition(":")
    try:  # FIRST is required: 'NVP1' or 'NVP1:' would be a rule that restricts nothing (a range left out)
        bounds = (int(first), int(last) if last else None)
    except ValueError:
        raise ValueError(f"expected NAME:FIRST[:LAST] scan indices, got {text!r}") from None
    return Presence(name=name, first=bounds[0], last=bounds[1])  # its own message for FIRST > LAST


def float_pair(text: str | Sequence[float], separator: str, form: str) -> tuple[float, float]:
    """Two numbers joined by ``separator`` (``form`` names them in the message, e.g. 'X,Y')."""
    try:
        first, second = (float(v) for v in (text.split(separator) if isinstance(text, str) else text))
    except (ValueError, TypeError):
        raise ValueError(f"expected {form}, got {text!r}") from None
    return first, second


def parse_scan_times(text: str | Sequence[float]) -> tuple[float, float]:
    """``START:STEP``: scan i at START + i·STEP seconds on the cycler's clock (STEP > 0, both finite)."""
    start, step = float_pair(text, ":", "START:STEP (seconds)")
    if not (math.isfinite(start) and math.isfinite(step)) or step <= 0:
        raise ValueError(f"expected START:STEP with a STEP > 0 seconds, got {text!r}")
    return start, step


def parse_bgscale(text: str | float) -> float | str:
    """A number or ``auto``."""
    if isinstance(text, str) and text.lower() == "auto":
        return "auto"
    try:
        return float(text)
    except (ValueError, TypeError):
        raise ValueError(f"expected a number or 'auto', got {text!r}") from None


def parse_trend(text: Any):
    """``PHASE:PARAM[:ORDER[:VARIABLE]]`` (e.g. ``nvp:a:1:x``): cell parameter PARAM of PHASE as a polynomial of
    ORDER (default 1) in VARIABLE (default the scan index; or an electrochemistry column) (or a ``Trend``)."""
    from refine.operando.parametric import Trend

    if isinstance(text, Trend):
        return text
    parts = [p.strip() for p in str(text).split(":")]
    if not 2 <= len(parts) <= 4 or not all(parts):
        raise ValueError(f"expected PHASE:PARAM[:ORDER[:VARIABLE]], got {text!r}")
    try:
        order = int(parts[2]) if len(parts) > 2 else 1
    except ValueError:
        raise ValueError(f"ORDER must be a whole number in {text!r}") from None
    return Trend(parts[0], parts[1], order, parts[3] if len(parts) > 3 else "index")


def parse_constant_volume(text: Any):
    """``PHASE[:DEPENDENT]`` (DEPENDENT a, b or c, default c; or a ``ConstantVolume``)."""
    from refine.operando.parametric import ConstantVolume

    if isinstance(text, ConstantVolume):
        return text
    parts = [p.strip() for p in str(text).split(":")]
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ValueError(f"expected PHASE[:a|b|c], got {text!r}")
    return ConstantVolume(parts[0], parts[1] if len(parts) > 1 else "c")


# -- typed values given as text (fields without a text form of their own) ------------------------------------
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def coerce(kind: str, value: Any) -> Any:
    """A value of a field typed ``int``, ``float`` or ``bool`` (or those ``| None``) given as text or as another
    number type, as the command line would read it (``workers="2"``, ``idle="5"``, ``restart_each="no"``); other
    fields' values as they are."""
    base = kind.removesuffix("| None").strip()
    if value is None or base not in ("int", "float", "bool"):
        return value
    if base == "bool":
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, numbers.Integral) and int(value) in (0, 1):  # True, False, numpy.bool_ too
            return bool(value)
        raise ValueError(f"expected true or false, got {value!r}")
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value) if isinstance(value, (str, numbers.Real)) else math.nan
    except ValueError:
        number = math.nan
    if base == "float":
        if isinstance(value, (str, numbers.Real)) and not math.isnan(number):
            return number
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if math.isfinite(number) and number.is_integer():
        return int(number)
    raise ValueError(f"expected a whole number, got {value!r}")


def positive_number(what: str) -> Callable[[Any], float]:
    """A parser of a finite number > 0 (``what`` names it in the message)."""

    def parse(value: Any) -> float:
        number = coerce("float", value)
        if not number > 0 or not math.isfinite(number):
            raise ValueError(f"{what} must be a positive number, got {value!r}")
        return number

    return parse


def whole_number_at_least(minimum: int, what: str) -> Callable[[Any], int]:
    """A parser of a whole number >= ``minimum`` (``what`` names it in the message; 2.5 is refused, not cut)."""

    def parse(value: Any) -> int:
        number = coerce("int", value)
        if number < minimum:
            raise ValueError(f"{what} must be >= {minimum}, got {number}")
        return number

    return parse
