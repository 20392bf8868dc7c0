"""Plain column files: ``.xy``, ``.xye``, ``.chi``, ``.dat``, ``.gr``, ``.iq``/``.sq``/``.fq``.

Two to four whitespace- (or comma-) separated columns: x, y, [sigma] or, for PDFgetX3/PDFgui ``.gr``,
r, G, [dr, dG] (the fourth column is dG). Everything before the first data line, and every line starting
with ``#``, ``!`` or ``;``, is header. The x unit comes from the ``unit=`` argument, else the header, else
the extension; ``metadata['unit_from']`` records which.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from refine import units
from refine.data import Pattern
from refine.errors import InputError
from refine.io.atomic import atomic_open
from refine.io.patterns import PATTERN_READERS, PATTERN_WRITERS

_COMMENT = ("#", "!", ";", "%")
_SPLIT = re.compile(r"[,\s]+")

# Header hints, searched in order in the lower-cased header text.
_HEADER_UNITS = (
    (re.compile(r"q_nm\^-1|q\s*\(nm"), "q_nm^-1"),
    (re.compile(r"q_a\^-1|\bq\s*\(a|\bq\s*\(å|#l\s+q\b|integrationspace\s*=\s*qspace|dataformat\s*=\s*q"), "q_A^-1"),
    (re.compile(r"2th_rad"), "2th_rad"),
    (re.compile(r"2th_deg|2-theta|2theta|two.?theta|integrationspace\s*=\s*twotheta|dataformat\s*=\s*twotheta"),
     "2th_deg"),
    (re.compile(r"#l\s+r\b|\br\s*\(å\)|\br\s*\(a\)|\br_a\b"), "r_A"),  # r_A: refine's own writer
    (re.compile(r"d_a\b|d-spacing"), "d_A"),
)
_EXTENSION_UNITS = {".gr": "r_A", ".iq": "q_A^-1", ".sq": "q_A^-1", ".fq": "q_A^-1"}
_WAVELENGTH = re.compile(r"wavelength\s*[:=]\s*([0-9.eE+-]+)\s*(m\b|nm|a|å)?", re.IGNORECASE)


def _numbers(line: str) -> list[float] | None:
    tokens = [t for t in _SPLIT.split(line.strip()) if t]
    if not 2 <= len(tokens) <= 6:
        return None
    try:
        return [float(t) for t in tokens]
    except ValueError:
        return None


def _unit_from(header: str, ext: str, unit: str | None) -> tuple[str, float, str]:
    if unit is not None:
        internal, factor = units.normalize_unit(unit)
        return internal, factor, "argument"
    lines = header.lower().splitlines()
    # The column-label line just above the data is the best witness, then the extension of a PDF file
    # (a PDFgetX3 .gr header also mentions its Q-space input), then anything in the header.
    for text, strict_ext in (("\n".join(lines[-2:]), False), ("\n".join(lines), True)):
        if strict_ext and ext in _EXTENSION_UNITS:
            return _EXTENSION_UNITS[ext], 1.0, "extension"
        for pattern, name in _HEADER_UNITS:
            if pattern.search(text):
                internal, factor = units.normalize_unit(name)
                return internal, factor, "header"
    return units.TTH_DEG, 1.0, "default"


def _wavelength_from(header: str) -> float | None:
    match = _WAVELENGTH.search(header)
    if not match:
        return None
    try:
        value = float(match.group(1))
    except ValueError:  # e.g. "wavelength: -" in free text
        return None
    if not np.isfinite(value) or value <= 0:
        return None
    scale = (match.group(2) or "").lower()
    if scale == "m" or value < 1e-6:  # pyFAI writes metres
        return value * 1e10
    if scale == "nm":
        return value * 10.0
    return value


_START_DATA = re.compile(r"^\s*#+\s*start\s+data", re.IGNORECASE)


def _common_columns(path: Path, rows: list[list[float]], linenos: list[int]) -> tuple[list[list[float]], int]:
    """Rows cut to the column count most rows have. Fortran writers sometimes append columns (e.g. zero dr, dG) to a
    few lines (zero dr, dG: PDFgui-era .gr files); extra values are dropped and counted, as long as they are zeros or
    on at most 5 % of the lines. A row with fewer columns than most is an error."""
    ncol = int(np.argmax(np.bincount([len(r) for r in rows])))
    ragged = informative = 0
    out = []
    for row, lineno in zip(rows, linenos, strict=True):
        if len(row) < ncol:
            raise InputError(path, f"line {lineno} has {len(row)} columns, most data lines {ncol}")
        ragged += len(row) > ncol
        informative += any(v != 0.0 for v in row[ncol:])
        out.append(row[:ncol])
    if informative > 0.05 * len(rows):  # not stray lines or zero padding: which columns are data is unclear
        first = next(n for r, n in zip(rows, linenos, strict=True) if len(r) > ncol)
        raise InputError(path, f"line {first} has more columns than most data lines ({ncol}), and so do "
                               f"{ragged} of {len(rows)} lines: inconsistent columns")
    return out, ragged


@PATTERN_READERS.register("columns")
def read_columns(path: Path, *, unit: str | None = None, wavelength: float | None = None,
                 radiation: str | None = None) -> Pattern:
    """Read a column file; see the module docstring for the rules."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    lines = text.splitlines()
    # PDFgetN/PDFgetX2/PDFgetX3 files put free text (and numeric tables) in their header and mark the data with a
    # '#### start data' line, as PDFgui reads them: everything before the last such marker is header.
    start = max((i + 1 for i, line in enumerate(lines) if _START_DATA.match(line)), default=0)
    header: list[str] = lines[:start]
    rows: list[list[float]] = []
    linenos: list[int] = []
    for lineno, line in enumerate(lines[start:], start + 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(_COMMENT):
            header.append(line)
            continue
        values = _numbers(stripped)
        if values is None:
            if rows:
                raise InputError(path, f"line {lineno} is not numeric after data started: {stripped[:60]!r}")
            header.append(line)
            continue
        rows.append(values)
        linenos.append(lineno)
    if not rows:
        raise InputError(path, "no numeric data columns found")
    rows, ragged = _common_columns(path, rows, linenos)
    data = np.asarray(rows, dtype=float)
    ext = path.suffix.lower()
    head = "\n".join(header)
    internal, factor, unit_from = _unit_from(head, ext, unit)
    x = data[:, 0] * factor
    y = data[:, 1]
    ncol = data.shape[1]
    if ncol >= 4:  # PDFgetX3 / PDFgui: r G dr dG
        sigma, sigma_source = data[:, 3], "file"
    elif ncol == 3:
        sigma, sigma_source = data[:, 2], "file"
    else:
        sigma, sigma_source = np.ones_like(y), "unit"
    if sigma_source == "file" and np.all(sigma == 0):  # a zero column: no uncertainties (PDFgui writes dG = 0)
        sigma, sigma_source = np.ones_like(y), "unit"
    if not np.all(np.isfinite(x)):
        raise InputError(path, "x column holds non-finite values")
    if x.size > 1 and not (np.all(np.diff(x) > 0) or np.all(np.diff(x) < 0)):
        raise InputError(path, "x column is not monotonic")
    if x.size > 1 and x[0] > x[-1]:
        x, y, sigma = x[::-1], y[::-1], sigma[::-1]
    if wavelength is None:
        wavelength = _wavelength_from(head)
    return Pattern(x=x, y=y, sigma=sigma, unit=internal, sigma_source=sigma_source, radiation=radiation,
                   wavelength=wavelength,
                   metadata={"source": str(path), "header": header, "unit_from": unit_from,
                             "format": "columns", "ncolumns": ncol, "extra_columns_ignored_rows": ragged})


_COLUMN_NAMES = {"2th_deg": "2th_deg", "q_A^-1": "q_A^-1", "d_A": "d_A", "r_A": "r_A"}


@PATTERN_WRITERS.register("columns")
def write_columns(pattern: Pattern, path: Path, *, header: list[str] | None = None,
                  sigma: bool | None = None) -> None:
    """Write ``x y [sigma]`` with a ``#`` header; sigma is written when the pattern has real sigma.

    ``header`` lines are written after the standard lines (unit, wavelength, corrections, source).
    """
    path = Path(path)
    write_sigma = pattern.has_sigma if sigma is None else sigma
    lines = [
        f"refine pattern; unit: {pattern.unit}",
        f"wavelength: {pattern.wavelength} A" if pattern.wavelength else "wavelength: unknown",
        f"radiation: {pattern.radiation or 'unknown'}",
        f"corrections applied: {', '.join(sorted(pattern.corrections)) or 'none'}",
        f"sigma: {pattern.sigma_source}",
    ]
    if pattern.source:
        lines.append(f"source: {pattern.source}")
    lines.extend(header or [])
    ycol = "G" if pattern.unit == units.R_A else "I"
    cols = f"{_COLUMN_NAMES[pattern.unit]}  {ycol}" + ("  sigma" if write_sigma else "")
    arrays = [pattern.x, pattern.y] + ([pattern.sigma] if write_sigma else [])
    with atomic_open(path, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(f"# {line}\n")
        fh.write(f"# {cols}\n")
        np.savetxt(fh, np.column_stack(arrays), fmt="%.10g", delimiter="  ")
