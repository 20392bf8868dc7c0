"""Plain column files: ``.xy``, ``.xye``, ``.chi``, ``.dat``, ``.gr``, ``.iq``/``.sq``/``.fq``.

Two to four whitespace- (or comma-) separated columns: x, y, [sigma] or, for PDFgetX3/PDFgui ``.gr``,
r, G, [dr, dG] (the fourth column is dG). Everything before the first data line, and every line starting
with ``#``, ``!`` or ``;``, is header. The x unit comes from the ``unit=`` argument, else the header, else
the extension; ``metadata['unit_from']`` records which.

Refused with an :class:`~refine.errors.InputError` naming the file and line: no data line; a non-finite value
(NaN, inf) in any column; x that is not strictly monotonic (repeated or going back); a data line with fewer
columns than the others; a last line cut mid-number. A file cut while it was written is an error, never read
short: its last line has fewer columns than the others, or, when the file does not end with a line break, the
last value of the last line is shorter than every other value of its column (end a complete last line with a
line break if its value really is shorter).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import numpy as np

from refine import units
from refine.data import Pattern
from refine.errors import InputError
from refine.io.atomic import atomic_open
from refine.io.fields import shorter_than_rest
from refine.io.registries import PATTERN_READERS, PATTERN_WRITERS

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


def _tokens(line: str) -> list[str]:
    return [t for t in _SPLIT.split(line.strip()) if t]


def _numbers(line: str, min_columns: int = 2) -> list[float] | None:
    """The numbers of a data line (``min_columns`` to 6 of them), None when the line is not one."""
    tokens = _tokens(line)
    if not min_columns <= len(tokens) <= 6:
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
        value *= 1e10
    elif scale == "nm":
        value *= 10.0
    return value if np.isfinite(value) else None  # 1e300 m overflows: no usable wavelength


_TIME = re.compile(r"^#\s*time:\s*(\S+)\s*\(([^)]*)\)\s*$")


def header_time(path: str | Path) -> tuple[float, str] | None:
    """The time stamp that ``refine integrate`` writes into a pattern's header (``# time: VALUE (SOURCE)``, SOURCE
    ``header``, ``file``, ``scan_times`` ...) with its source; None when the file has none (other writers, binary
    files) or cannot be read. Only the leading ``#`` lines are looked at."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16384)
    except OSError:
        return None
    for raw in head.splitlines():
        line = raw.decode("utf-8", "replace")
        if not line.startswith("#"):
            break
        match = _TIME.match(line.strip())
        if match:
            try:
                value = float(match.group(1))
            except ValueError:
                return None
            return (value, match.group(2).strip()) if np.isfinite(value) else None
    return None


_START_DATA = re.compile(r"^\s*#+\s*start\s+data", re.IGNORECASE)
_START_DATA_ANYWHERE = re.compile(r"#\s*start\s+data", re.IGNORECASE)  # cheap test before the line loop


def _common_columns(path: Path, rows: list[list[float]], linenos: list[int]) -> tuple[list[list[float]], int]:
    """Rows cut to the column count most rows have. Fortran writers sometimes append columns (e.g. zero dr, dG) to a
    few lines (zero dr, dG: PDFgui-era .gr files); extra values are dropped and counted, as long as they are zeros or
    on at most 5 % of the lines. A row with fewer columns than most is an error."""
    ncol = int(np.argmax(np.bincount([len(r) for r in rows])))
    ragged = informative = 0
    out = []
    for row, lineno in zip(rows, linenos, strict=True):
        if len(row) < ncol:
            cut = " (file cut mid-line?)" if lineno == linenos[-1] else ""
            raise InputError(path, f"line {lineno} has {len(row)} columns, most data lines {ncol}{cut}")
        ragged += len(row) > ncol
        informative += any(v != 0.0 for v in row[ncol:])
        out.append(row[:ncol])
    if informative > 0.05 * len(rows):  # not stray lines or zero padding: which columns are data is unclear
        first = next(n for r, n in zip(rows, linenos, strict=True) if len(r) > ncol)
        raise InputError(path, f"line {first} has more columns than most data lines ({ncol}), and so do "
                               f"{ragged} of {len(rows)} lines: inconsistent columns")
    return out, ragged


def _data_lines(path: Path, lines: list[str]) -> tuple[list[str], list[list[float]], list[int]]:
    """Header lines, data rows and their 1-based line numbers."""
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
            if rows and _numbers(stripped, min_columns=1):  # one number after the data started: a cut line
                raise InputError(path, f"line {lineno} has 1 column, the data line before it {len(rows[-1])}")
            if rows:
                raise InputError(path, f"line {lineno} is not numeric after data started: {stripped[:60]!r}")
            header.append(line)
            continue
        rows.append(values)
        linenos.append(lineno)
    if not rows:
        raise InputError(path, "no numeric data columns found")
    return header, rows, linenos


def _check_values(path: Path, data: np.ndarray, lines: list[str], linenos: list[int]) -> None:
    """Every value finite, x strictly monotonic (either way); the first offending line is named."""
    bad = ~np.isfinite(data)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        text = _tokens(lines[linenos[row] - 1])[col]
        raise InputError(path, f"line {linenos[row]}: non-finite value {text[:30]} in column {col + 1}")
    step = np.diff(data[:, 0])
    if step.size and not (np.all(step > 0) or np.all(step < 0)):
        sign = 1.0 if step[0] > 0 else -1.0
        row = int(np.argmax(~(sign * step > 0))) + 1
        what = "repeats" if step[row - 1] == 0 else "goes back from"
        raise InputError(path, f"line {linenos[row]}: x {data[row, 0]:g} {what} {data[row - 1, 0]:g} on line "
                               f"{linenos[row - 1]}; the x column is not monotonic")


def _check_cut_short(path: Path, text: str, lines: list[str], linenos: list[int], ncol: int) -> None:
    """A file cut mid-number: no final line break and the last value shorter than every other of its column."""
    if text.endswith(("\n", "\r")) or linenos[-1] != len(lines):
        return
    rows = [_tokens(lines[n - 1]) for n in linenos]
    if len(rows[-1]) != ncol:  # extra (ignored) columns: the cut value is not one that is read
        return
    if shorter_than_rest([row[ncol - 1] for row in rows]):
        raise InputError(path, f"line {linenos[-1]}: the last value {rows[-1][-1]!r} is shorter than every other "
                               f"value of column {ncol} and the file ends without a line break: file cut "
                               "mid-number? (end the line with a line break if it is complete)")


def _checked_table(path: Path, text: str, lines: list[str]) -> tuple[list[str], np.ndarray, int]:
    """Header, data and the count of rows with extra (dropped) columns, line by line: every rule of the module
    docstring checked, the first offending line named."""
    header, rows, linenos = _data_lines(path, lines)
    rows, ragged = _common_columns(path, rows, linenos)
    data = np.asarray(rows, dtype=float)
    _check_values(path, data, lines, linenos)
    _check_cut_short(path, text, lines, linenos, data.shape[1])
    return header, data, ragged


def _data_start(text: str, lines: list[str]) -> int:
    """Index of the line after the last '#### start data' marker (0 without one)."""
    if not _START_DATA_ANYWHERE.search(text):
        return 0
    return max((i + 1 for i, line in enumerate(lines) if _START_DATA.match(line)), default=0)


def _fast_table(text: str, lines: list[str]) -> tuple[list[str], np.ndarray] | None:
    """Header and data of a well-formed file parsed in one numpy call, or None when anything is unusual (then
    :func:`_checked_table` reads it line by line and names what is wrong).

    Well-formed: the file ends with a line break; after the header every line is a data line of the same 2 to 6
    numbers (whitespace or commas between them) with no blank or comment line among them; every value is finite
    and x strictly monotonic. On such a file the line-by-line reader gives the same header and values."""
    if not text.endswith(("\n", "\r")):  # a last line possibly cut mid-number: checked line by line
        return None
    start = _data_start(text, lines)
    first = None
    for k in range(start, len(lines)):
        stripped = lines[k].strip()
        if stripped and not stripped.startswith(_COMMENT) and _numbers(stripped) is not None:
            first = k
            break
    if first is None:
        return None
    block = lines[first:]
    ncol = len(_tokens(block[0]))
    joined = "\n".join(block)
    if any(mark in joined for mark in _COMMENT):
        return None
    if "," in joined:
        block = joined.replace(",", " ").split("\n")
    try:
        data = np.loadtxt(block, dtype=float, comments=None, ndmin=2)
    except ValueError:
        return None
    if data.shape != (len(block), ncol):  # a blank line skipped, or columns differing
        return None
    if not np.all(np.isfinite(data)):
        return None
    step = np.diff(data[:, 0])
    if step.size and not (np.all(step > 0) or np.all(step < 0)):
        return None
    return lines[:start] + [line for line in lines[start:first] if line.strip()], data


@PATTERN_READERS.register("columns")
def read_columns(path: Path, *, unit: str | None = None, wavelength: float | None = None,
                 radiation: str | None = None) -> Pattern:
    """Read a column file; see the module docstring for the rules."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    # UTF-8 (a byte-order mark dropped: it would hide the first data line in the header) or BOM-marked UTF-16
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    text = raw.decode("utf-16" if utf16 else "utf-8-sig", errors="replace")
    lines = text.splitlines()
    fast = _fast_table(text, lines)
    if fast is not None:
        header, data = fast
        ragged = 0
    else:
        header, data, ragged = _checked_table(path, text, lines)
    ncol = data.shape[1]
    ext = path.suffix.lower()
    head = "\n".join(header)
    internal, factor, unit_from = _unit_from(head, ext, unit)
    x = data[:, 0] * factor
    y = data[:, 1]
    if ncol >= 4:  # PDFgetX3 / PDFgui: r G dr dG
        sigma, sigma_source = data[:, 3], "file"
    elif ncol == 3:
        sigma, sigma_source = data[:, 2], "file"
    else:
        sigma, sigma_source = np.ones_like(y), "unit"
    if sigma_source == "file" and np.all(sigma == 0):  # a zero column: no uncertainties (PDFgui writes dG = 0)
        sigma, sigma_source = np.ones_like(y), "unit"
    if not np.all(np.isfinite(x)):  # finite numbers times a unit factor (q_nm^-1 -> q_A^-1) can still overflow
        raise InputError(path, "x column holds non-finite values after the unit conversion")
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
