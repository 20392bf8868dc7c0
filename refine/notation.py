"""Numbers as the field prints them: a value with its esd in parentheses, ``4.64195(6)``, and R-factors in percent;
and the ``LO:HI`` text of a range as the command line and the facade take it (:func:`parse_range`).

The esd keeps one significant digit, or two when they read 10–19 (the IUCr "rule of 19", as GSAS-II and
FullProf print), and the value is rounded to the esd's last digit: 4.641953 ± 0.000062 → ``4.64195(6)``,
0.69183 ± 0.00184 → ``0.6918(18)``, 851.1234 ± 0.052 → ``851.12(5)``. An esd of 2 or more in the units' place is
printed in those units: 1234.5 ± 23 → ``1230(20)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def format_esd(value: float, esd: float | None, *, digits: int = 6) -> str:
    """``value(esd)`` in the field's notation; the value alone (``digits`` significant) when the esd is missing,
    zero or not finite."""
    if value is None or not math.isfinite(value):
        return str(value)
    if esd is None or not math.isfinite(esd) or esd <= 0:
        return f"{value:.{digits}g}"
    exponent = math.floor(math.log10(esd))
    if esd / 10.0**exponent < 2.0 - 1e-9:  # leading digit 1: two digits (rule of 19)
        exponent -= 1
    units = math.floor(esd / 10.0**exponent + 0.5)
    if units == 20:  # 19.5 and above rounds to 20: one digit, one place up
        exponent, units = exponent + 1, 2
    if exponent < 0:
        return f"{value:.{-exponent}f}({units})"
    scale = 10**exponent
    return f"{math.floor(value / scale + 0.5) * scale:d}({units * scale:d})"


def format_percent(fraction: float | None, *, decimals: int = 2) -> str:
    """An R-factor stored as a fraction (0.0978) printed in percent with its unit ('9.78 %')."""
    if fraction is None or not math.isfinite(fraction):
        return "n/a"
    return f"{100.0 * fraction:.{decimals}f} %"


#: How a run's note that is a warning begins (``warning: the given wavelength ...``).
WARNING_NOTE = "warning: "


def note_warnings(notes: object) -> list[str]:
    """The notes of a run that are warnings (:data:`WARNING_NOTE`), without the prefix."""
    return [n.removeprefix(WARNING_NOTE) for n in notes or () if isinstance(n, str) and n.startswith(WARNING_NOTE)]


def parse_range(text: str | Sequence[float]) -> tuple[float, float]:
    """``LO:HI`` (or a pair) with LO < HI; a ``ValueError`` saying what is wrong otherwise."""
    try:
        lo, hi = (float(v) for v in (text.split(":") if isinstance(text, str) else text))
    except (ValueError, TypeError):
        raise ValueError(f"expected LO:HI, got {text!r}") from None
    if not hi > lo:
        raise ValueError(f"empty range {text!r} (LO must be below HI)")
    return lo, hi
