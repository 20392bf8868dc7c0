"""GSAS powder data files (old GSAS text format): constant-wavelength banks in STD, ESD, FXY and FXYE layouts.

File structure (GSAS manual, "Powder data files"; GSAS-II ``G2pwd_fxye.py`` reads the same):

* line 1: title (goes to ``metadata['header']``); an optional line 2 ``Instrument parameter file: NAME``;
  ``#`` lines are comments anywhere in the file.
* ``BANK ibank nchan nrec bintyp bcoef1 bcoef2 bcoef3 bcoef4 [layout]`` starts each bank. For constant-wavelength
  data ``bintyp`` is ``CONST`` (``CONS`` is accepted), bcoef1 = first 2θ and bcoef2 = step, both in centidegrees.
  ``layout`` is ``STD`` (the default when absent), ``ESD``, ``FXY`` or ``FXYE``.
* STD: records of ten 8-character fields ``(I2, F6.0)`` (read until ``nchan`` values, not trusting ``nrec``):
  an optional number of counters ``ncts`` (blank means 1) and the intensity, which is the average of ``ncts``
  counters, so its variance is ``I / ncts``.
* ESD: records of five 16-character fields ``(F8.0, F8.0)``: intensity and its esd.
* FXY / FXYE: one point per line, free format: 2θ in centidegrees, intensity[, esd].

Sigma: ESD and FXYE carry esds (``sigma_source='file'``); STD and FXY hold counts (``'poisson'``), sigma =
sqrt(I / ncts). Points GSAS gives zero weight are dropped and counted in ``metadata['dropped_points']``: esd <= 0
in ESD/FXYE, intensity <= 0 in STD/FXY (zero counts in constant-wavelength GSAS files mark channels without data,
such as the zero padding of a last record; a fit must not see them as measured zeros).

A file cut while it was written is refused, never read short: fewer points than the BANK line declares, or, when
the file ends without a line break, a last field shorter than its fixed width (STD/ESD) or a last value shorter
than every other of its column (FXY/FXYE). Non-finite numbers and 2θ that does not increase are refused naming
the line.

Only 2θ data are read; time-of-flight (``TIME_MAP``, ``SLOG``, ``RALF``, ``ALT``) and energy-dispersive (``EDS``)
banks raise :class:`~refine.errors.InputError`, as does a ``CONST`` bank whose x range leaves ±180° (which is
TOF in disguise: GSAS itself tells CW from TOF only through the instrument parameter file).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from refine import units
from refine.data import Pattern
from refine.errors import InputError
from refine.io.atomic import atomic_open
from refine.io.columns import _wavelength_from
from refine.io.fields import finite_float, shorter_than_rest
from refine.io.registries import PATTERN_READERS, PATTERN_WRITERS

LAYOUTS = ("STD", "ESD", "FXY", "FXYE")
_TOF_BINTYPES = ("TIME_MAP", "SLOG", "RALF")
_CW_BINTYPES = ("CONST", "CONS")
_COUNTS_LAYOUTS = ("STD", "FXY")
#: Comment written by :func:`write_gsas_fxye` when the esd column holds unit weights, not uncertainties.
_RADIATION = re.compile(r"^#\s*radiation\s*[:=]\s*(xray|neutron)\s*$", re.IGNORECASE | re.MULTILINE)
_UNIT_SIGMA_TAG = "# refine: esd column holds unit weights (sigma_source=unit)"


@dataclasses.dataclass(frozen=True)
class GsasBank:
    """One ``BANK`` record of a GSAS file and the data lines after it (comments removed)."""

    number: int
    nchan: int
    nrec: int
    bintyp: str
    bcoef: tuple[float, ...]
    layout: str
    line: str
    lineno: int
    lines: tuple[tuple[int, str], ...]  # (line number, text)
    unterminated: int | None = None  # number of the file's last line when it ends without a line break


@dataclasses.dataclass(frozen=True)
class _Parsed:
    title: str
    header: tuple[str, ...]
    banks: tuple[GsasBank, ...]
    time_map: bool


def _bank_record(path: Path, line: str, lineno: int) -> tuple[int, int, int, str, tuple[float, ...], str]:
    tokens = line.split()
    if len(tokens) < 5:
        raise InputError(path, f"line {lineno}: BANK line needs 'BANK ibank nchan nrec bintyp ...': {line[:60]!r}")
    try:
        number, nchan, nrec = int(tokens[1]), int(tokens[2]), int(tokens[3])
    except ValueError:
        raise InputError(path, f"line {lineno}: BANK number, nchan and nrec must be integers: {line[:60]!r}") from None
    if nchan < 1 or nrec < 1:
        raise InputError(path, f"line {lineno}: BANK line declares nchan={nchan}, nrec={nrec}")
    bintyp = tokens[4].upper()
    rest = tokens[5:]
    layout = "STD"
    if rest and rest[-1].upper() in LAYOUTS + ("ALT",):
        layout = rest[-1].upper()
        rest = rest[:-1]
    bcoef = []
    for tok in rest:
        try:
            bcoef.append(float(tok))
        except ValueError:
            raise InputError(path, f"line {lineno}: BANK coefficient {tok!r} is not a number") from None
    return number, nchan, nrec, bintyp, tuple(bcoef), layout


def parse_gsas(path: str | Path, text: str) -> _Parsed:
    """Split a GSAS powder data file into title, header lines and banks (no data conversion yet)."""
    path = Path(path)
    lines = text.splitlines()
    if not lines:
        raise InputError(path, "empty file")
    title = lines[0].rstrip()
    header = [title]
    banks: list[GsasBank] = []
    current: dict | None = None
    time_map = False
    for lineno, line in enumerate(lines[1:], 2):
        if line.startswith("#"):
            header.append(line.rstrip())
            continue
        if lineno == 2 and line[:4].lower() == "inst" and ":" in line:
            header.append(line.rstrip())
            continue
        if line.startswith("BANK"):
            if current is not None:
                banks.append(GsasBank(**current))
            number, nchan, nrec, bintyp, bcoef, layout = _bank_record(path, line, lineno)
            current = dict(number=number, nchan=nchan, nrec=nrec, bintyp=bintyp, bcoef=bcoef, layout=layout,
                           line=line.rstrip(), lineno=lineno, lines=[])
            continue
        if line.startswith("TIME_MAP"):
            time_map = True
            continue
        if current is None:
            if line.strip():
                header.append(line.rstrip())
            continue
        if line.startswith("Monitor") or "\x1a" in line:  # monitor counts; DOS end-of-file marker
            continue
        if line.strip():
            current["lines"].append((lineno, line))
    if current is not None:
        banks.append(GsasBank(**current))
    if not banks:
        raise InputError(path, "no BANK line found: not a GSAS powder data file")
    unterminated = None if text.endswith(("\n", "\r")) else len(lines)
    banks = [dataclasses.replace(b, lines=tuple(b.lines), unterminated=unterminated) for b in banks]
    return _Parsed(title=title, header=tuple(header), banks=tuple(banks), time_map=time_map)


def _field(path: Path, lineno: int, text: str, what: str) -> float:
    text = text.strip()
    return finite_float(path, text, f"line {lineno}: {what} field") if text else 0.0


def _fixed_records(path: Path, bank: GsasBank, width: int, per_line: int) -> list[tuple[int, str]]:
    """The fixed-width fields of a STD/ESD bank, in order, as (line number, field text); at most nchan."""
    fields: list[tuple[int, str]] = []
    for lineno, line in bank.lines:  # nrec is not trusted: read until nchan values are found
        line = line.rstrip("\r\n")
        for i in range(per_line):
            chunk = line[i * width:(i + 1) * width]
            if not chunk.strip():
                break
            if len(chunk) < width and lineno == bank.unterminated and len(fields) < bank.nchan:
                raise InputError(path, f"line {lineno}: the last field {chunk.strip()!r} is {len(chunk)} of {width} "
                                       "characters and the file ends without a line break: file cut mid-number?")
            fields.append((lineno, chunk.ljust(width)))
        if len(fields) >= bank.nchan:
            break
    if len(fields) < bank.nchan:
        raise InputError(path, f"bank {bank.number}: BANK line declares {bank.nchan} points, the file holds "
                               f"{len(fields)} (truncated?)")
    return fields[: bank.nchan]


def _read_std(path: Path, bank: GsasBank) -> tuple[np.ndarray, np.ndarray]:
    """Intensities and number of counters of a STD bank (fields ``I2, F6.0``)."""
    fields = _fixed_records(path, bank, 8, 10)  # checks nchan against the file before allocating
    y = np.empty(bank.nchan)
    ncts = np.empty(bank.nchan)
    for i, (lineno, field) in enumerate(fields):
        counters = _field(path, lineno, field[:2], "counter-number")
        if counters != int(counters) or counters < 0:
            raise InputError(path, f"line {lineno}: counter number {field[:2]!r} is not a non-negative integer")
        ncts[i] = max(counters, 1.0)  # blank or 0 means one counter
        y[i] = _field(path, lineno, field[2:], "intensity")
    return y, ncts


def _read_esd(path: Path, bank: GsasBank) -> tuple[np.ndarray, np.ndarray]:
    """Intensities and esds of an ESD bank (fields ``F8.0, F8.0``)."""
    fields = _fixed_records(path, bank, 16, 5)
    y = np.empty(bank.nchan)
    e = np.empty(bank.nchan)
    for i, (lineno, field) in enumerate(fields):
        y[i] = _field(path, lineno, field[:8], "intensity")
        e[i] = _field(path, lineno, field[8:], "esd")
    return y, e


def _read_free(path: Path, bank: GsasBank, ncol: int) -> tuple[np.ndarray, list[int]]:
    """The free-format FXY (ncol=2) or FXYE (ncol=3) rows of a bank and their line numbers."""
    rows = []
    linenos = []
    last = []  # texts of the last column read
    for lineno, line in bank.lines:
        tokens = line.split()
        if len(tokens) < ncol:
            raise InputError(path, f"line {lineno}: {bank.layout} needs {ncol} numbers per line: {line[:60]!r}")
        try:
            values = [float(t) for t in tokens[:ncol]]
        except ValueError:
            raise InputError(path, f"line {lineno}: not numeric: {line[:60]!r}") from None
        if not all(np.isfinite(values)):
            raise InputError(path, f"line {lineno}: non-finite value: {line[:60]!r}")
        rows.append(values)
        linenos.append(lineno)
        last.append(tokens[ncol - 1])
        if len(rows) == bank.nchan:
            break
    if len(rows) < bank.nchan:
        raise InputError(path, f"bank {bank.number}: BANK line declares {bank.nchan} points, the file holds "
                               f"{len(rows)} (truncated?)")
    if linenos[-1] == bank.unterminated and len(tokens) == ncol and shorter_than_rest(last):
        raise InputError(path, f"line {linenos[-1]}: the last value {last[-1]!r} is shorter than every other value "
                               f"of column {ncol} and the file ends without a line break: file cut mid-number? (end "
                               "the line with a line break if it is complete)")
    return np.asarray(rows, dtype=float), linenos


def _check_cw(path: Path, bank: GsasBank, time_map: bool) -> None:
    if bank.bintyp in _TOF_BINTYPES or time_map or bank.layout == "ALT":
        raise InputError(path, f"bank {bank.number} is time-of-flight data ({bank.bintyp} {bank.layout}); "
                               "only constant-wavelength 2θ banks are supported")
    if bank.bintyp == "EDS":
        raise InputError(path, f"bank {bank.number} is energy-dispersive (EDS) data; only 2θ banks are supported")
    if bank.bintyp not in _CW_BINTYPES:
        raise InputError(path, f"bank {bank.number}: unknown binning type {bank.bintyp!r} (expected CONST)")


def bank_option(path: Path, bank: int | str | None) -> int | None:
    """The ``bank=`` option as an integer (it may arrive as text from a command line or config file)."""
    if bank is None or isinstance(bank, int):
        return bank
    try:
        return int(str(bank).strip())
    except ValueError:
        raise InputError("bank", f"{path}: bank must be an integer, got {bank!r}") from None


def _select(path: Path, parsed: _Parsed, bank: int | str | None) -> GsasBank:
    bank = bank_option(path, bank)
    if bank is None:
        return parsed.banks[0]
    numbers = [b.number for b in parsed.banks]
    if bank not in numbers:
        raise InputError("bank", f"{path}: no bank {bank}; the file has banks {numbers}")
    return parsed.banks[numbers.index(bank)]


def _bank_data(path: Path, bank: GsasBank) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, int]:
    """x (degrees 2θ), y, sigma, sigma_source and the number of dropped points of one CW bank."""
    if bank.layout in ("STD", "ESD"):
        if len(bank.bcoef) < 2 or not (np.isfinite(bank.bcoef[0]) and 0 < bank.bcoef[1] < np.inf):
            raise InputError(path, f"line {bank.lineno}: CONST bank needs start and a positive step: {bank.line!r}")
        if bank.layout == "STD":
            y, ncts = _read_std(path, bank)
            sigma, source = None, "poisson"
        else:
            y, sigma = _read_esd(path, bank)
            source = "file"
        # bcoef1, bcoef2 are the first 2θ and the step in centidegrees (GSAS manual, BANK record)
        x = (bank.bcoef[0] + bank.bcoef[1] * np.arange(bank.nchan)) / 100.0
        linenos = None
    else:
        data, linenos = _read_free(path, bank, 3 if bank.layout == "FXYE" else 2)
        x = data[:, 0] / 100.0  # centidegrees
        y = data[:, 1]
        if bank.layout == "FXYE":
            sigma, source = data[:, 2], "file"
        else:
            sigma, source, ncts = None, "poisson", np.ones_like(y)
    if source == "poisson":
        # GSAS excludes points with intensity <= 0 (zero weight): in CW data they mark missing channels, e.g.
        # the padding of FAP.XRA's last record. Variance of an average over ncts counters is I/ncts.
        keep = y > 0
        sigma = np.sqrt(np.where(keep, y, 1.0) / ncts)
        what = "intensity"
    else:
        keep = sigma > 0  # GSAS gives points with esd <= 0 zero weight
        what = "esd"
    dropped = int(np.count_nonzero(~keep))
    if dropped == keep.size:
        raise InputError(path, f"bank {bank.number}: no point has a positive {what}")
    x, y, sigma = x[keep], y[keep], sigma[keep]
    if not np.all(np.abs(x) <= 180.0):
        raise InputError(path, f"bank {bank.number}: x runs from {x[0]:g} to {x[-1]:g}, beyond ±180° 2θ; "
                               "time-of-flight banks are not supported")
    if x.size > 1 and not np.all(np.diff(x) > 0):
        i = int(np.argmax(np.diff(x) <= 0)) + 1
        where = "" if linenos is None else f"line {np.asarray(linenos)[keep][i]}: "
        raise InputError(path, f"bank {bank.number}: {where}2θ {x[i]:g} does not increase from {x[i - 1]:g}: "
                               "2θ values are not strictly increasing")
    return x, y, sigma, source, dropped


@PATTERN_READERS.register("gsas")
def read_gsas(path: Path, *, bank: int | str | None = None, wavelength: float | None = None,
              radiation: str | None = None) -> Pattern:
    """Read one constant-wavelength bank of a GSAS powder data file.

    Parameters
    ----------
    path
        The file (``.gsas``, ``.gsa``, ``.fxye``, ``.xra``, ``.cwn``, text ``.raw``).
    bank
        The bank number as written on its ``BANK`` line; default the first bank in the file.
    wavelength
        Wavelength in Å; GSAS data files do not hold it (the instrument parameter file does), so the default is
        a ``wavelength = ...`` comment in the file, else None.
    radiation
        ``xray``, ``neutron`` or None (unknown).

    Returns
    -------
    Pattern
        x in degrees 2θ; ``metadata`` holds ``format='gsas'``, ``gsas_layout``, ``bank``, ``banks`` (all bank
        numbers in the file), ``header`` (title, instrument-file line and comments) and ``dropped_points``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    if "\x00" in text:
        raise InputError(path, "binary content (NUL bytes): not a GSAS text file")
    parsed = parse_gsas(path, text)
    chosen = _select(path, parsed, bank)
    _check_cw(path, chosen, parsed.time_map)
    x, y, sigma, source, dropped = _bank_data(path, chosen)
    comments = "\n".join(parsed.header[1:])
    if _UNIT_SIGMA_TAG in parsed.header and source == "file":
        source = "unit"
    if radiation is None:
        match = _RADIATION.search(comments)
        radiation = match.group(1).lower() if match else None
    if wavelength is None:
        wavelength = _wavelength_from(comments)
        if wavelength is not None and not (np.isfinite(wavelength) and wavelength > 0):
            wavelength = None
    metadata = {"source": str(path), "header": list(parsed.header), "format": "gsas",
                "gsas_layout": chosen.layout, "bank": chosen.number, "banks": [b.number for b in parsed.banks],
                "bank_line": chosen.line, "dropped_points": dropped}
    return Pattern(x=x, y=y, sigma=sigma, unit=units.TTH_DEG, sigma_source=source, radiation=radiation,
                   wavelength=wavelength, metadata=metadata)


@PATTERN_WRITERS.register("gsas")
def write_gsas_fxye(pattern: Pattern, path: Path, *, title: str | None = None, bank: int = 1) -> None:
    """Write a 2θ pattern as one GSAS FXYE bank (x in centidegrees, intensity, esd).

    A pattern without real sigma (``sigma_source='unit'``) is written with its unit esds and a comment saying
    so, which :func:`read_gsas` honours. The wavelength, when known, goes into a comment (GSAS itself takes it
    from the instrument parameter file).
    """
    path = Path(path)
    if pattern.unit != units.TTH_DEG:
        raise InputError(path, f"GSAS FXYE holds 2θ data; convert the pattern from {pattern.unit} first")
    if len(pattern) == 0:
        raise InputError(path, "cannot write an empty pattern")
    if not np.all(pattern.sigma > 0):
        raise InputError(path, "GSAS FXYE needs positive esds; the pattern has sigma <= 0")
    if not np.all(np.abs(pattern.x) <= 180.0) or np.any(np.diff(pattern.x) <= 0):
        raise InputError(path, "GSAS FXYE needs strictly increasing 2θ within ±180°")
    header = pattern.metadata.get("header") if pattern.metadata.get("format") == "gsas" else None
    head = title or (header[0] if header else None) or f"refine pattern from {pattern.source or 'memory'}"
    head = str(head).replace("\r", " ").replace("\n", " ").rstrip()[:80]  # one line; GSAS records are 80 wide
    x = pattern.x * 100.0
    step = float(np.mean(np.diff(x))) if x.size > 1 else 0.0
    lines = [head]
    if pattern.wavelength:
        lines.append(f"# wavelength = {pattern.wavelength!r} A")
    if pattern.radiation:
        lines.append(f"# radiation = {pattern.radiation}")
    if not pattern.has_sigma:
        lines.append(_UNIT_SIGMA_TAG)
    lines.append(f"BANK {bank} {x.size} {x.size} CONS {x[0]:.6f} {step:.6f} 0 0 FXYE")
    with atomic_open(path, "w", encoding="latin-1") as fh:
        for line in lines:
            fh.write(line + "\n")
        np.savetxt(fh, np.column_stack([x, pattern.y, pattern.sigma]), fmt="%.10g", delimiter=" ")
