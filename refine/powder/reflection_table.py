"""Reflection lists of powder fit results: one :class:`ReflectionTable` per phase (and per pattern of a joint fit).

Each table holds the lines of one phase whose Kα1 position lies in the fitted 2θ range: hkl (one representative of
the line), multiplicity, d (Å, refined cell), 2θ (deg, Kα1, with zero, displacement and transparency as the model
places the peak) and the line's integrated intensity in the pattern (y × deg, the area of its Kα1 peak; a Kα2
peak adds ``ka2_ratio`` × this): partitioned (Le Bail), refined (Pawley, with esd) or calculated (Rietveld:
scale × multiplicity·Fc² × Lorentz–polarization × absorption, roughness, texture).

Rietveld tables add Fc² and Fo² per reflection: Fc² the unscaled |F|² of the cell (occupancies, ADPs, f0 + f′ + if″
as the model uses them; Friedel mates averaged, International Tables C 6.1.1.4), Fo² by the Rietveld partition
(Rietveld 1969; GSAS-II, FullProf): the background-subtracted observed counts shared among the overlapping lines in
the ratio of their calculated contributions, I_obs,k = I_calc,k Σ_i Φ_ik (y_i − b_i)/(y_calc,i − b_i), and put back
into |F|² units with the factors of I_calc,k: Fo² = Fc² I_obs,k / I_calc,k. Lines with less than half of their
profile over fitted points (excluded regions, range edges) have no Fo² (NaN; null in JSON, empty in CSV).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from refine.io.atomic import atomic_open

if TYPE_CHECKING:  # pragma: no cover
    import lmfit

    from refine.powder.model import PhaseBlock, PowderModel

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


def line_selection(model: PowderModel, params: lmfit.Parameters, block: PhaseBlock) -> tuple[np.ndarray, np.ndarray]:
    """(lines inside the fitted 2θ range, their Kα1 positions in deg) of one phase at ``params``."""
    tth = model.positions(params, block, model.instrument.wavelength)
    lo, hi = float(model.x_fit.min()), float(model.x_fit.max())
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(tth) & (tth >= lo) & (tth <= hi)
    return keep, tth


def phase_table(model: PowderModel, params: lmfit.Parameters, index: int, intensity: np.ndarray, *,
                intensity_esd: np.ndarray | None = None, fo2: np.ndarray | None = None,
                fc2: np.ndarray | None = None) -> ReflectionTable:
    """The table of phase ``index`` of ``model`` from per-line arrays over all its generated reflections (the rows
    of that phase in the peak matrix); the lines outside the fitted range are dropped."""
    block = model.phases[index]
    keep, tth = line_selection(model, params, block)
    refl = block.reflections
    d = model.lattice(params, block).d_spacing(refl.hkl)
    pick = (lambda a: None if a is None else np.asarray(a)[keep])  # noqa: E731 - local shorthand
    return ReflectionTable(phase=block.structure.name, prefix=block.prefix, radiation=model.instrument.radiation,
                           wavelength=model.instrument.wavelength, hkl=refl.hkl[keep],
                           multiplicity=refl.multiplicity[keep], d=d[keep], two_theta=tth[keep],
                           intensity=np.asarray(intensity)[keep], intensity_esd=pick(intensity_esd), fo2=pick(fo2),
                           fc2=pick(fc2))


def intensity_tables(model: PowderModel, params: lmfit.Parameters, intensities: np.ndarray,
                     esd: np.ndarray | None = None) -> tuple[ReflectionTable, ...]:
    """Le Bail / Pawley tables: ``intensities`` (and ``esd``) over all reflections of all phases (peak-matrix rows)."""
    out = []
    for i in range(len(model.phases)):
        rows = model.phase_rows(i)
        out.append(phase_table(model, params, i, intensities[rows], intensity_esd=None if esd is None else esd[rows]))
    return tuple(out)


def tables_of(result: Any) -> tuple[ReflectionTable, ...]:
    """The reflection tables of a fit result (``result.extra['reflections']``; empty when the fit has none)."""
    return tuple((getattr(result, "extra", None) or {}).get("reflections") or ())

