"""Electrochemistry (cycler) files: BioLogic EC-Lab ``.mpt`` text and ``.mpr`` (galvani), Neware ``.nda``/``.ndax``
(NewareNDA), Arbin and other CSV/text exports, read into one table of named columns.

Columns are recognised by their usual names, with or without units (``Ewe/V``, ``voltage_V``, ``Voltage(V)``,
``time/s``, ``Test_Time(s)``, ``<I>/mA``, ``Current(A)``, ``(Q-Qo)/mA.h``, ``Charge_Capacity(Ah)`` ...) and
converted to the units of the results: ``time`` s, ``voltage`` V, ``current`` mA, ``capacity`` mAh. ``capacity`` is
the net charge passed since the start of the log, positive on charge (oxidation, positive current): EC-Lab's
``(Q-Qo)`` as it is; a charge/discharge pair (Arbin, Neware) or an unsigned per-half-cycle capacity accumulated with
the sign of the current; else the current integrated over time. Every other numeric column is kept under its
cleaned name (``charge_capacity``, ``cycle_number``), in those units when its unit is one of a time, voltage,
current or capacity (Arbin's ``Charge_Capacity(Ah)`` in mAh); text columns (a step's status) are listed in
``notes``.

The binary formats need the optional readers (``pip install 'refine[echem]'``: galvani, GPL; NewareNDA, BSD);
refine contains no binary parser of its own.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refine.errors import InputError
from refine.io.fields import is_number, shorter_than_rest
from refine.io.paths import check_regular_file
from refine.registry import Registry

#: Canonical columns and, in order of preference, the cleaned names (units removed) that supply them.
CANONICAL: dict[str, tuple[str, ...]] = {
    "time": ("time", "test_time", "total_time", "elapsed_time", "elapsed", "t", "time_s"),
    "voltage": ("ewe", "voltage", "ecell", "potential", "cell_voltage", "e", "u", "v", "volt"),
    "current": ("i", "current", "i_mean"),
    "capacity": ("q_qo", "qqo", "capacity", "q", "cap", "net_capacity"),
    "specific_capacity": ("specific_capacity",),
    "index": ("index", "scan"),
}
#: Cleaned names of charge/discharge capacity pairs (each non-negative, reset at each step or half cycle).
CAPACITY_PAIRS = (("charge_capacity", "discharge_capacity"), ("q_charge", "q_discharge"),
                  ("chg_capacity", "dchg_capacity"))
#: Unit factors to the canonical unit of each quantity (lower-case unit text, ``µ`` written ``u``).
UNITS: dict[str, dict[str, float]] = {
    "time": {"s": 1.0, "sec": 1.0, "ms": 1e-3, "min": 60.0, "h": 3600.0, "hr": 3600.0},
    "voltage": {"v": 1.0, "mv": 1e-3},
    "current": {"a": 1e3, "ma": 1.0, "ua": 1e-3, "na": 1e-6},
    "specific_capacity": {"mah/g": 1.0, "ah/kg": 1.0, "ma.h/g": 1.0, "a.h/kg": 1.0},
    "capacity": {"ah": 1e3, "a.h": 1e3, "mah": 1.0, "ma.h": 1.0, "uah": 1e-3, "ua.h": 1e-3, "c": 1 / 3.6,
                 "mc": 1e-3 / 3.6},
}
CANONICAL_UNITS = {"time": "s", "voltage": "V", "current": "mA", "capacity": "mAh", "specific_capacity": "mAh/g"}
_KNOWN_UNITS = {u for table in UNITS.values() for u in table} | {"%", "w", "w.h", "wh", "mwh", "ohm", "uf", "hz"}
_SPECIFIC = frozenset(UNITS["specific_capacity"])


@dataclass(frozen=True)
class EchemTable:
    """A cycler log: canonical and other numeric columns (equal lengths), where they came from and when it began.

    ``origin`` maps each canonical column to the header (or the rule) that gave it; ``start`` is the acquisition
    start when the file records it (time zero of ``time``); ``notes`` say what was derived or not attached.
    """

    columns: Mapping[str, np.ndarray]
    source: str
    format: str
    origin: Mapping[str, str] = field(default_factory=dict)
    headers: tuple[str, ...] = ()
    start: dt.datetime | None = None
    notes: tuple[str, ...] = ()
    lines: tuple[int, ...] = ()

    def where(self, row: int) -> str:
        """``line N`` of the file for data row ``row`` (0-based) of a text file, else ``row N`` (1-based)."""
        return f"line {self.lines[row]}" if len(self.lines) > row else f"row {row + 1}"

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def require(self, name: str, purpose: str) -> np.ndarray:
        """Column ``name``, or a one-line :class:`InputError` naming the columns the file has."""
        if name not in self.columns:
            raise InputError(self.source, f"no {name} column ({purpose}); columns found: {', '.join(self.headers)}")
        return self.columns[name]


@dataclass(frozen=True)
class EchemFormat:
    """A cycler file format: its name, file extensions and reader (path -> EchemTable)."""

    name: str
    extensions: tuple[str, ...]
    read: Callable[[Path], EchemTable]
    package: str | None = None


ECHEM_FORMATS: Registry[EchemFormat] = Registry("electrochemistry format")


# -- names and units ---------------------------------------------------------------------------------------------
def split_unit(header: str) -> tuple[str, str | None]:
    """(cleaned name, unit or None) of a column header: ``Voltage(V)``, ``Ewe/V``, ``(Q-Qo)/mA.h``, ``voltage_V``,
    ``Current [mA]`` -> ``("voltage", "V")``, ``("ewe", "V")``, ``("q_qo", "mA.h")`` ..."""
    text = header.strip().replace("µ", "u").replace("μ", "u")
    unit = None
    m = re.match(r"^(.*\S)\s*[\(\[]([^\)\]]*)[\)\]]$", text)
    if m and m.group(1).strip("(<"):
        text, unit = m.group(1), m.group(2).strip()
    elif "/" in text:
        head, tail = text.rsplit("/", 1)
        if head and tail.strip().lower() in _KNOWN_UNITS:
            text, unit = head, tail.strip()
    else:
        m = re.match(r"^(.*[a-z0-9])_([A-Za-z.]+)$", text)
        if m and m.group(2).lower() in _KNOWN_UNITS and m.group(1).lower() not in ("q", "i"):
            text, unit = m.group(1), m.group(2)
    name = text.strip().lower()
    name = re.sub(r"<\s*i\s*>", "i_mean", name)
    name = re.sub(r"[^0-9a-z]+", "_", name).strip("_")
    return name, unit


def _quantity_of(unit: str | None) -> str | None:
    """The quantity of :data:`UNITS` whose units include ``unit`` (None: no unit, or another kind)."""
    key = None if unit is None else unit.lower().replace(" ", "")
    return next((quantity for quantity, factors in UNITS.items() if key in factors), None)


def _factor(source: str, header: str, quantity: str, unit: str | None) -> float:
    if unit is None:
        return 1.0
    factors = UNITS[quantity]
    key = unit.lower().replace(" ", "")
    if key not in factors:
        raise InputError(source, f"column {header!r}: unit {unit!r} is not a unit of {quantity} (known: "
                                 f"{', '.join(sorted(factors))})")
    return factors[key]


def normalise(source: str, fmt: str, raw: Sequence[tuple[str, np.ndarray]], *, start: dt.datetime | None = None,
              notes: Sequence[str] = (), lines: Sequence[int] = ()) -> EchemTable:
    """The canonical table of raw ``(header, values)`` columns: units converted, net capacity derived."""
    headers = tuple(h for h, _ in raw)
    named: dict[str, tuple[str, str | None, np.ndarray]] = {}
    for header, values in raw:
        name, unit = split_unit(header)
        if not name:
            raise InputError(source, f"column {header!r} has no name")
        if name in named:
            if named[name][1] == unit or unit is None:
                raise InputError(source, f"column names must be distinct, got {header!r} twice (as {name!r}); "
                                         f"headers: {list(headers)}")
            name = f"{name}_{re.sub(r'[^0-9a-z]+', '', unit.lower())}"
        if name in CANONICAL["capacity"] and unit is not None and unit.lower().replace(" ", "") in _SPECIFIC:
            name = "specific_capacity"  # mAh/g: a capacity per gram of active material, not a charge
        named[name] = (header, unit, np.asarray(values, dtype=float))
    columns: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    used: set[str] = set()
    for quantity, names in CANONICAL.items():
        hit = next((n for n in names if n in named), None)
        if hit is None:
            continue
        header, unit, values = named[hit]
        factor = 1.0 if quantity == "index" else _factor(source, header, quantity, unit)
        columns[quantity] = values * factor
        origin[quantity] = header
        used.add(hit)
    for name, (header, unit, values) in named.items():
        if name not in used and name not in columns:
            # In the results' units when its unit is one of theirs: Arbin's Charge_Capacity(Ah) beside capacity
            # in mAh would otherwise read as mAh.
            quantity = _quantity_of(unit)
            columns[name] = values if quantity is None else values * _factor(source, header, quantity, unit)
    table_notes = list(notes)
    _net_capacity(source, named, columns, origin, table_notes)
    for name, values in columns.items():
        if not np.all(np.isfinite(values)):
            raise InputError(source, f"column {origin.get(name, name)!r}: a value is out of range (not finite after "
                                     "unit conversion or accumulation)")
    return EchemTable(columns=columns, source=source, format=fmt, origin=origin, headers=headers, start=start,
                      notes=tuple(table_notes), lines=tuple(lines))


def _increments(q: np.ndarray) -> np.ndarray:
    """Increments of a non-negative capacity that restarts from zero at each step: a drop is a new step."""
    d = np.diff(q, prepend=0.0)
    return np.where(d < 0, q, d)


def _net_capacity(source: str, named: Mapping[str, tuple], columns: dict[str, np.ndarray], origin: dict[str, str],
                  notes: list[str]) -> None:
    """Make ``capacity`` the net charge passed (mAh, positive on charge) when the file has it only in parts."""
    current = columns.get("current")
    if "capacity" in columns:
        q = columns["capacity"]
        header = origin["capacity"]
        unsigned = split_unit(header)[0] not in ("q_qo", "qqo") and q.size and np.all(q >= 0)
        if unsigned and current is not None and np.any(current < 0) and np.any(np.diff(q) < 0):
            columns[f"{split_unit(header)[0]}_as_read"] = q
            columns["capacity"] = np.cumsum(_increments(q) * np.sign(current))
            notes.append(f"capacity: {header!r} restarts each half cycle; accumulated with the sign of the current")
        return
    for charge, discharge in CAPACITY_PAIRS:
        if charge in named and discharge in named:
            h1, u1, q1 = named[charge]
            h2, u2, q2 = named[discharge]
            net = _increments(q1) * _factor(source, h1, "capacity", u1) - \
                _increments(q2) * _factor(source, h2, "capacity", u2)
            columns["capacity"] = np.cumsum(net)
            origin["capacity"] = f"{h1} - {h2} (accumulated)"
            notes.append(f"capacity: net charge from {h1!r} and {h2!r} accumulated over steps")
            return
    if current is not None and "time" in columns:
        t = columns["time"]
        steps = np.diff(t) * 0.5 * (current[1:] + current[:-1]) / 3600.0
        columns["capacity"] = np.concatenate([[0.0], np.cumsum(steps)])
        origin["capacity"] = f"integral of {origin['current']} over {origin['time']}"
        notes.append("capacity: the current integrated over time (the file has no capacity column)")


# -- text tables -------------------------------------------------------------------------------------------------
def _split(line: str, sep: str | None) -> list[str]:
    return [c.strip() for c in line.split(sep)] if sep else line.split()


def _parse_date(text: str) -> dt.datetime | None:
    text = text.strip()
    for fmt in ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M:%S", "%m/%d/%Y %H:%M"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def parse_rows(source: str, header: list[str], rows: Sequence[tuple[int, list[str]]], *, decimal_comma: bool = False
               ) -> tuple[list[tuple[str, np.ndarray]], list[str], dt.datetime | None]:
    """Numeric columns of text rows, the text columns' names, and the start time of a date column if any.

    A column whose every value is text (a date, a step name) is not numeric; one with a text value among numbers is
    an error naming the line, as is a non-finite value or a row with the wrong number of values."""
    if not rows:
        raise InputError(source, "electrochemistry table needs a header line and at least one row")
    for lineno, cells in rows:
        if len(cells) != len(header):
            raise InputError(source, f"line {lineno}: {len(cells)} values, header has {len(header)} columns")
    cells_by_col = list(zip(*(c for _, c in rows), strict=True))
    if decimal_comma:
        cells_by_col = [tuple(v.replace(",", ".") for v in col) for col in cells_by_col]
    linenos = [n for n, _ in rows]
    numeric: list[tuple[str, np.ndarray]] = []
    text: list[str] = []
    start = None
    for name, col in zip(header, cells_by_col, strict=True):
        ok = [is_number(v) for v in col]
        if not any(ok) and len(col) > 0:
            text.append(name)
            first = _parse_date(col[0])
            if first is not None and start is None:
                stamps = [_parse_date(v) for v in col]
                if all(s is not None for s in stamps):
                    start = first
                    numeric.append(("time_from_dates/s", np.array([(s - first).total_seconds() for s in stamps])))
            continue
        if not all(ok):
            bad = ok.index(False)
            raise InputError(source, f"line {linenos[bad]}: non-numeric value {col[bad][:40]!r} in column {name!r}")
        values = np.array([float(v) for v in col])
        if not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise InputError(source, f"line {linenos[bad]}: non-finite value in column {name!r}")
        numeric.append((name, values))
    if not numeric:
        raise InputError(source, f"no numeric column; columns found: {', '.join(header)}")
    return numeric, text, start


def read_table(path: Path) -> EchemTable:
    """A CSV, semicolon, tab or whitespace separated table with one header line (``#`` lines skipped): plain
    tables, Arbin/Maccor/Neware CSV exports."""
    source = str(path)
    text = _read_text(path)
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln and not ln.startswith("#")]
    if len(lines) < 2:
        raise InputError(source, "electrochemistry table needs a header line and at least one row")
    first = lines[0][1]
    sep = next((s for s in (",", ";", "\t") if s in first), None)
    header = _split(first, sep)
    if all(is_number(n) for n in header):
        raise InputError(source, f"line {lines[0][0]}: no header line (first line is numeric)")
    if any(not h for h in header):
        raise InputError(source, f"header line {lines[0][0]}: column names must be non-empty and distinct, got "
                                 f"{header}")
    rows = [(n, _split(ln, sep)) for n, ln in lines[1:]]
    _check_cut(source, text, lines, sep)
    numeric, text_cols, start = parse_rows(source, header, rows)
    notes = [f"text column {name!r} not attached" for name in text_cols]
    table = normalise(source, "table", numeric, start=start, notes=notes, lines=[n for n, _ in rows])
    return _with_time_from_dates(table)


def _with_time_from_dates(table: EchemTable) -> EchemTable:
    """A table whose only clock is a date column gets ``time`` (s since its first row) from it."""
    cols = dict(table.columns)
    dates = cols.pop("time_from_dates", None)
    if dates is None:
        return table
    origin = dict(table.origin)
    if "time" not in cols:
        cols["time"] = dates
        origin["time"] = "date column (s since the first row)"
    else:
        cols["time_from_dates"] = dates
    return EchemTable(columns=cols, source=table.source, format=table.format, origin=origin, headers=table.headers,
                      start=table.start, notes=table.notes, lines=table.lines)


def _read_text(path: Path) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read electrochemistry table ({exc.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # EC-Lab writes µ and ° in Windows-1252/latin-1


def _check_cut(source: str, text: str, lines: list[tuple[int, str]], sep: str | None) -> None:
    last_line_of_file = lines[-1][0] == len(text.splitlines()) and not text.endswith(("\n", "\r"))
    if last_line_of_file and shorter_than_rest([_split(line, sep)[-1] for _, line in lines[1:]]):
        raise InputError(source, f"line {lines[-1][0]}: the last value is shorter than every other of its column and "
                                 "the file ends without a line break: file cut mid-number? (end the line with a line "
                                 "break if it is complete)")


def read_mpt(path: Path) -> EchemTable:
    """BioLogic EC-Lab ASCII export (``.mpt``): ``EC-Lab ASCII FILE``, ``Nb header lines : N`` (N counts these two
    lines, the settings and the tab-separated column line), then tab-separated rows, decimal point or comma."""
    source = str(path)
    text = _read_text(path)
    lines = text.splitlines()
    if not lines or not lines[0].strip().endswith("ASCII FILE"):
        raise InputError(source, "not an EC-Lab text file: the first line is not 'EC-Lab ASCII FILE'")
    m = re.match(r"\s*Nb header lines\s*:\s*(\d+)", lines[1] if len(lines) > 1 else "")
    if not m:
        raise InputError(source, "line 2: expected 'Nb header lines : N'")
    nhead = int(m.group(1))
    if not 3 <= nhead <= len(lines):
        raise InputError(source, f"line 2: {nhead} header lines for a file of {len(lines)} lines")
    start = None
    for line in lines[2:nhead - 1]:
        s = re.match(r"\s*Acquisition started on\s*:\s*(.+)$", line)
        if s:
            start = _parse_date(s.group(1))
    header = [c.strip() for c in lines[nhead - 1].rstrip("\r\n").rstrip("\t").split("\t")]
    rows = [(i + 1, [c.strip() for c in ln.rstrip("\t").split("\t")]) for i, ln in enumerate(lines[nhead:], nhead)
            if ln.strip()]
    numeric, text_cols, _ = parse_rows(source, header, rows, decimal_comma=True)
    notes = [f"text column {name!r} not attached" for name in text_cols]
    return normalise(source, "mpt", numeric, start=start, notes=notes, lines=[n for n, _ in rows])


def read_mpr(path: Path) -> EchemTable:
    """BioLogic EC-Lab binary (``.mpr``) through galvani (``pip install 'refine[echem]'``, GPL)."""
    source = str(path)
    try:
        from galvani import BioLogic
    except ImportError:
        raise InputError(source, "reading EC-Lab .mpr files needs galvani: pip install 'refine[echem]' (or "
                                 "export the file as .mpt text from EC-Lab)") from None
    try:
        mpr = BioLogic.MPRfile(str(path))
    except (ValueError, KeyError, NotImplementedError, OSError, IndexError) as exc:
        raise InputError(source, f"not a readable EC-Lab .mpr file ({exc})") from None
    data = mpr.data
    raw = [(name, np.asarray(data[name], dtype=float)) for name in data.dtype.names]
    start = getattr(mpr, "timestamp", None)
    return normalise(source, "mpr", raw, start=start)


def read_neware(path: Path) -> EchemTable:
    """Neware ``.nda``/``.ndax`` through NewareNDA (``pip install 'refine[echem]'``). Its ``Time`` is the step
    time (kept as ``step_time``); ``time`` is counted from the first ``Timestamp``; ``Index`` is the record."""
    source = str(path)
    try:
        import NewareNDA
    except ImportError:
        raise InputError(source, "reading Neware .nda/.ndax files needs NewareNDA: pip install 'refine[echem]'") \
            from None
    try:
        with warnings.catch_warnings():  # pandas deprecations inside NewareNDA are not the user's concern
            warnings.simplefilter("ignore")
            df = NewareNDA.read(str(path), log_level="ERROR")
    except Exception as exc:  # noqa: BLE001 - the reader raises anything on a corrupt file
        raise InputError(source, f"not a readable Neware file ({type(exc).__name__}: {exc})") from None
    if len(df) == 0:
        raise InputError(source, "the Neware file holds no records")
    raw: list[tuple[str, np.ndarray]] = []
    notes: list[str] = []
    start = None
    rename = {"Time": "Step_Time(s)", "Index": "Record"}
    for name in df.columns:
        col = df[name]
        if name == "Timestamp":
            t = (col - col.iloc[0]).dt.total_seconds().to_numpy(dtype=float)
            raw.append(("Total_Time(s)", t))
            first = col.iloc[0]
            start = first.to_pydatetime().replace(tzinfo=None)
        elif col.dtype.kind in "fiub":
            raw.append((rename.get(name, name), col.to_numpy(dtype=float)))
        else:
            notes.append(f"text column {name!r} not attached")
    return normalise(source, "neware", raw, start=start, notes=notes)


ECHEM_FORMATS.register("mpt", EchemFormat("mpt", (".mpt",), read_mpt))
ECHEM_FORMATS.register("mpr", EchemFormat("mpr", (".mpr",), read_mpr, package="galvani"))
ECHEM_FORMATS.register("neware", EchemFormat("neware", (".nda", ".ndax"), read_neware, package="NewareNDA"))
ECHEM_FORMATS.register("table", EchemFormat("table", (".csv", ".txt", ".tsv", ".dat"), read_table))


def detect_format(path: Path) -> str:
    """The format of a cycler file from its extension, or from its first line for text files."""
    suffix = path.suffix.lower()
    for name in ECHEM_FORMATS:
        if suffix in ECHEM_FORMATS.get(name).extensions and name != "table":
            return name
    try:
        with open(path, "rb") as fh:
            first = fh.readline(64)
    except OSError:
        return "table"
    return "mpt" if first.strip().endswith(b"ASCII FILE") else "table"


def read_cycler(path: str | os.PathLike, *, format: str | None = None) -> EchemTable:  # noqa: A002
    """Read a cycler file into an :class:`EchemTable` (``format``: a name of :data:`ECHEM_FORMATS`, else from the
    extension and first line). Checks that time never goes back and that scan indices are distinct whole numbers."""
    check_regular_file(path, kind="table")
    path = Path(path)
    name = format or detect_format(path)
    if name not in ECHEM_FORMATS:
        raise InputError("echem_format", f"unknown electrochemistry format {name!r}; known: "
                                         f"{', '.join(ECHEM_FORMATS.names())}")
    table = ECHEM_FORMATS.get(name).read(path)
    _check_columns(table)
    return table


def _check_columns(table: EchemTable) -> None:
    """Time never decreases; scan indices are distinct whole numbers (each names one scan)."""
    cols = table.columns
    if "time" in cols:
        back = np.flatnonzero(np.diff(cols["time"]) < 0)
        if back.size:
            raise InputError(table.source, f"{table.where(int(back[0]) + 1)}: time column is not increasing "
                                           f"({table.origin.get('time', 'time')})")
    if "index" in cols:
        seen: dict[float, int] = {}
        for row, value in enumerate(cols["index"]):
            if value != round(value):
                raise InputError(table.source, f"{table.where(row)}: scan index {value:g} is not a whole number")
            if value in seen:
                where = table.where(seen[value]).split(" ", 1)
                raise InputError(table.source, f"{table.where(row)}: scan index {value:g} repeats {where[0]} "
                                               f"{where[1]}")
            seen[value] = row


def read_echem(path: str | os.PathLike, *, format: str | None = None) -> dict[str, np.ndarray]:  # noqa: A002
    """The columns of :func:`read_cycler` as a dict (canonical names ``time``, ``voltage``, ``current``,
    ``capacity``, ``index`` where present)."""
    return dict(read_cycler(path, format=format).columns)
