"""The reflection list of one phase in one fitted pattern (:class:`ReflectionTable`) and its CSV file: result data,
filled by the powder engines (:mod:`refine.powder.reflection_table` says how each one fills it) and read back
from result files (:meth:`refine.fit.phase_result.PhaseResult.from_dict`)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from refine.io.atomic import atomic_open

#: Unit of |F|² by radiation (CSV header).
F2_UNITS = {"xray": "e^2", "neutron": "fm^2"}
_OPTIONAL = ("intensity_esd", "fo2", "fc2")


@dataclass(frozen=True, eq=False)
class ReflectionTable:
    """The reflection list of one phase in one fitted pattern (arrays read-only, one entry per line).

    Attributes
    ----------
    phase
        Phase name.
    prefix
        The phase's parameter prefix.
    radiation
        'xray' or 'neutron' (|F|² in electrons² or fm²).
    wavelength
        Kα1 / monochromatic wavelength (Å) at which ``two_theta`` is given.
    hkl
        (n, 3) Miller indices.
    multiplicity, d, two_theta
        Line multiplicity, d (Å), observed Kα1 position (deg 2θ).
    intensity
        Integrated intensity of the line's Kα1 peak (pattern units × deg): partitioned, refined or calculated.
    intensity_esd
        esd of ``intensity`` where the fit gives one (Pawley), else None.
    fo2, fc2
        Rietveld only: Fo² (NaN where unobserved) and unscaled Fc².
    dataset
        The pattern's dataset name in a joint fit, None for a single pattern.
    """

    phase: str
    prefix: str
    radiation: str
    wavelength: float
    hkl: np.ndarray
    multiplicity: np.ndarray
    d: np.ndarray
    two_theta: np.ndarray
    intensity: np.ndarray
    intensity_esd: np.ndarray | None = None
    fo2: np.ndarray | None = None
    fc2: np.ndarray | None = None
    dataset: str | None = None

    def __post_init__(self) -> None:
        hkl = np.array(self.hkl, dtype=np.int64).reshape(-1, 3)
        n = len(hkl)
        arrays = {"hkl": hkl, "multiplicity": np.array(self.multiplicity, dtype=np.int64)}
        for name in ("d", "two_theta", "intensity", *_OPTIONAL):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.array(value, dtype=float)
        for name, arr in arrays.items():
            if len(arr) != n or (name != "hkl" and arr.ndim != 1):
                raise ValueError(f"{name} must have {n} entries, got shape {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.hkl)

    def __repr__(self) -> str:
        where = f" in {self.dataset}" if self.dataset else ""
        return f"ReflectionTable({self.phase}{where}: {len(self)} lines)"

    @property
    def is_rietveld(self) -> bool:
        """True when the table carries Fo² and Fc²."""
        return self.fc2 is not None

    def strongest(self, n: int) -> np.ndarray:
        """Indices of the ``n`` lines of largest ``intensity`` (largest first)."""
        order = np.argsort(-np.nan_to_num(self.intensity, nan=-np.inf), kind="stable")
        return order[:max(int(n), 0)]

    def columns(self) -> list[tuple[str, str, np.ndarray]]:
        """(JSON key, CSV header with unit, values) of every column this table has."""
        f2 = F2_UNITS.get(self.radiation, "F^2 units")
        cols = [("h", "h", self.hkl[:, 0]), ("k", "k", self.hkl[:, 1]), ("l", "l", self.hkl[:, 2]),
                ("mult", "mult", self.multiplicity), ("d", "d[A]", self.d),
                ("two_theta", "2theta[deg]", self.two_theta), ("intensity", "intensity[y*deg]", self.intensity)]
        if self.intensity_esd is not None:
            cols.append(("intensity_esd", "intensity_esd[y*deg]", self.intensity_esd))
        if self.fo2 is not None and self.fc2 is not None:
            cols += [("Fo2", f"Fo2[{f2}]", self.fo2), ("Fc2", f"Fc2[{f2}]", self.fc2)]
        return cols

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per line (JSON keys of :meth:`columns`, plus ``dataset`` in a joint fit); NaN becomes None."""
        cols = self.columns()
        rows = []
        for i in range(len(self)):
            row: dict[str, Any] = {} if self.dataset is None else {"dataset": self.dataset}
            row.update({key: _plain(values[i]) for key, _, values in cols})
            rows.append(row)
        return rows

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write this table alone as CSV (see :func:`write_reflections`)."""
        return write_reflections([self], path)


def _plain(value: Any) -> int | float | None:
    if isinstance(value, (np.integer, int)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def _cell(value: Any) -> str:
    plain = _plain(value)
    if plain is None:
        return ""
    return str(plain) if isinstance(plain, int) else format(plain, ".8g")


def write_reflections(tables: Iterable[ReflectionTable], path: str | os.PathLike) -> Path:
    """One CSV row per line of every table, atomically: ``phase`` (and ``dataset`` in a joint fit), h, k, l, mult,
    d[A], 2theta[deg], intensity[y*deg], then intensity_esd (Pawley) or Fo2, Fc2 (Rietveld) with their unit in the
    header; empty cells where a value does not apply."""
    tables = list(tables)
    with_dataset = any(t.dataset is not None for t in tables)
    headers: list[str] = []
    for table in tables:
        for _, header, _ in table.columns():
            if header not in headers:
                headers.append(header)
    # One unit per column: a joint X-ray + neutron fit has e^2 and fm^2 columns side by side, each filled by its rows.
    lead = ["phase", *(["dataset"] if with_dataset else [])]
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(lead + headers) + "\n")
        for table in tables:
            cols = {header: values for _, header, values in table.columns()}
            for i in range(len(table)):
                cells = [_quote(table.phase), *([_quote(table.dataset or "")] if with_dataset else [])]
                cells += [_cell(cols[h][i]) if h in cols else "" for h in headers]
                fh.write(",".join(cells) + "\n")
    return Path(path)


def _quote(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text
