"""Electrochemistry attached to a series: the ion content x from the charge passed, and the per-scan cycler rows.

x = x₀ − 3.6·Q·M/(F·m·10⁻³) with Q the net charge passed since the start of the log (mAh, positive on charge, so
the sign follows the current: Na⁺ leaves a cathode on charge), m the active mass (mg), M the molar mass of the
formula (g/mol, from :mod:`periodictable`, never typed in), F = 96 485 C/mol: 3.6·Q coulombs are 3.6·Q/F mol of
electrons, one Na each, per m·10⁻³/M mol of formula units.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from refine.errors import InputError
from refine.io.echem import EchemTable

#: Faraday constant (C/mol), as the brief's formula writes it.
FARADAY = 96485.0


def molar_mass(formula: str) -> float:
    """Molar mass (g/mol) of a chemical formula such as ``Na3V2(PO4)3`` or ``NaVPO4F`` (periodictable)."""
    import periodictable
    from pyparsing import ParseBaseException  # periodictable's formula parser raises it on malformed text

    try:
        mass = float(periodictable.formula(formula).mass)
    except (ValueError, TypeError, KeyError, AttributeError, ParseBaseException) as exc:
        raise InputError("formula", f"cannot read chemical formula {formula!r} ({exc})") from None
    if not mass > 0:
        raise InputError("formula", f"formula {formula!r} has no mass")
    return mass


@dataclass(frozen=True)
class IonContent:
    """What turns a charge into an ion content: ``x0`` at the start of the log, the active mass (mg) and formula."""

    x0: float
    active_mass: float
    formula: str

    def __post_init__(self) -> None:
        if not (np.isfinite(self.active_mass) and self.active_mass > 0):
            raise InputError("active_mass", f"must be a positive mass in mg, got {self.active_mass}")
        if not np.isfinite(self.x0):
            raise InputError("x0", f"must be a finite number, got {self.x0}")

    def x(self, capacity_mah: np.ndarray) -> np.ndarray:
        """x for net charges ``capacity_mah`` (mAh, positive on charge: x falls on charge)."""
        per_mah = 3.6 * molar_mass(self.formula) / (FARADAY * self.active_mass * 1e-3)
        return self.x0 - per_mah * np.asarray(capacity_mah, dtype=float)


def net_charge(table: EchemTable) -> np.ndarray:
    """The net charge passed (mAh, the ``capacity`` column); a one-line error naming the columns found when the
    file has neither a capacity nor current and time."""
    return table.require("capacity", "the ion content x needs the charge passed: a capacity column, or current and "
                                     "time")


def with_ion_content(table: EchemTable, content: IonContent) -> EchemTable:
    """``table`` with an ``x`` column (and ``capacity`` from a specific capacity times the active mass when the file
    gives only mAh/g)."""
    columns = dict(table.columns)
    origin = dict(table.origin)
    if "capacity" not in columns and "specific_capacity" in columns:
        columns["capacity"] = columns["specific_capacity"] * content.active_mass * 1e-3
        origin["capacity"] = f"{origin.get('specific_capacity', 'specific capacity')} x active mass"
        table = EchemTable(columns=columns, source=table.source, format=table.format, origin=origin,
                           headers=table.headers, start=table.start, notes=table.notes, lines=table.lines)
    q = net_charge(table)
    columns = dict(table.columns)
    if "x" in columns:  # EC-Lab's own x column (its insertion coefficient) is kept, not overwritten
        columns["x_as_read"] = columns["x"]
    columns["x"] = content.x(q)
    origin = dict(table.origin)
    origin["x"] = f"x0 - 3.6*Q*M/(F*m*1e-3), M({content.formula}) = {molar_mass(content.formula):.4f} g/mol"
    return EchemTable(columns=columns, source=table.source, format=table.format, origin=origin, headers=table.headers,
                      start=table.start, notes=table.notes, lines=table.lines)


def scan_times(n: int, start_step: tuple[float, float] | None = None, times: Sequence[float] | None = None
               ) -> list[float]:
    """Time stamps of ``n`` scans on the cycler's clock: ``times`` as given, or START + i·STEP."""
    if times is not None:
        if len(times) != n:
            raise InputError("scan_times", f"need {n} scan time stamps, got {len(times)}")
        return [float(t) for t in times]
    if start_step is None:
        raise InputError("scan_times", "matching by time needs scan_times START:STEP")
    t0, step = start_step
    return [t0 + i * step for i in range(n)]


def cycler_clock(stamps: Sequence[dt.datetime | float], table: EchemTable) -> list[float]:
    """Absolute scan time stamps (datetimes, or POSIX seconds as frame headers give them) on the cycler's clock:
    seconds since the log's acquisition start (:attr:`EchemTable.start`, naive times in the same zone)."""
    if table.start is None:
        raise InputError(table.source, "the file records no acquisition start: give the scan times on the cycler's "
                                       "clock (--scan-times START:STEP)")
    start = table.start
    out = []
    for stamp in stamps:
        when = stamp if isinstance(stamp, dt.datetime) else dt.datetime.fromtimestamp(float(stamp))
        if when.tzinfo is not None:
            when = when.astimezone().replace(tzinfo=None)
        out.append((when - start).total_seconds())
    return out
