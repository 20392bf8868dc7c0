"""G(r) of a structure or of an MD trajectory without fitting (``refine pdf calc``, :func:`refine.pdf_calc`).

The definitions are PDFfit2's (:mod:`refine.pdf.calculate`): a trajectory and a large structure with isotropic ADPs
go through binned pair histograms (:mod:`refine.pdf.histogram`; the frames' multiplicities and 1/V averaged), small
structures and anisotropic ADPs through the exact :meth:`PairTable.build`. Element-pair partials carry their share
of the baseline (:func:`refine.pdf.calculate.partial_gr`), so they sum to the total.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from refine.errors import InputError
from refine.pdf.calculate import PDFSettings, calc_gr, calc_grid, partial_gr
from refine.pdf.pairs import PairTable, element_of
from refine.pdf.structure import PDFStructure

#: Structures with more atoms (and isotropic ADPs) go through the compiled histogram kernel; smaller ones through
#: numpy's exact pair table (0.05 s for the 64-atom demo supercell, with no numba start-up or first compilation).
HISTOGRAM_MIN_ATOMS = 200


@dataclass(frozen=True)
class PDFCalcSettings:
    """What G(r) is calculated with (PDFfit2 names; Å, Å⁻¹, Å²).

    ``qmax`` 0 means no termination; ``spdiameter`` 0 bulk; ``uiso`` None keeps the file's ADPs; ``sratio`` scales
    the peak widths of pairs closer than ``rcut`` (PDFfit2's low-r sharpening).
    """

    radiation: str = "xray"
    qmax: float = 0.0
    qdamp: float = 0.0
    qbroad: float = 0.0
    delta1: float = 0.0
    delta2: float = 0.0
    sratio: float = 1.0
    rcut: float = 0.0
    spdiameter: float = 0.0
    uiso: float | None = None
    rmin: float = 0.0
    rmax: float = 30.0
    rstep: float = 0.01

    def __post_init__(self) -> None:
        if not (self.rstep > 0 and self.rmax > self.rmin >= 0):
            raise InputError("rmax", f"need 0 <= rmin < rmax and rstep > 0, got {self.rmin}, {self.rmax}, "
                                     f"{self.rstep}")
        if (self.rmax - self.rmin) / self.rstep > 1e6:
            raise InputError("rstep", "gives more than 10^6 r points")
        if self.uiso is not None and not (np.isfinite(self.uiso) and self.uiso > 0):
            raise InputError("uiso", f"must be > 0 Å², got {self.uiso}")
        self.peak_settings()  # validates the rest

    def peak_settings(self) -> PDFSettings:
        return PDFSettings(radiation=self.radiation, qmax=self.qmax, qdamp=self.qdamp, qbroad=self.qbroad,
                           delta1=self.delta1, delta2=self.delta2, sratio=self.sratio, rcut=self.rcut,
                           spdiameter=self.spdiameter)

    @property
    def r(self) -> np.ndarray:
        n = int(np.floor((self.rmax - self.rmin) / self.rstep + 1e-9)) + 1
        return np.round(self.rmin + self.rstep * np.arange(n), 10)


@dataclass(frozen=True, eq=False)
class PDFCalcResult:
    """A calculated G(r): ``r`` (Å), ``G`` (Å⁻²), element-pair ``partials`` ({"Na-O": G_NaO, ...}, summing to G),
    the ``source``, the frames used (``frames``: their count; ``frame_range`` START:STOP:STEP or None), the
    settings and the files written."""

    r: np.ndarray
    G: np.ndarray
    partials: Mapping[str, np.ndarray]
    source: str
    natoms: int
    frames: int = 1
    frame_range: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    written: tuple[str, ...] = ()
    descriptors: Any = None  # a refine.pdf.descriptors.LocalStructure when asked for

    def __post_init__(self) -> None:
        for arr in (self.r, self.G, *self.partials.values()):
            arr.flags.writeable = False
        object.__setattr__(self, "partials", MappingProxyType(dict(self.partials)))
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))

    def to_dict(self) -> dict[str, Any]:
        """Plain values (lists for the curves), e.g. for JSON."""
        return {"kind": "pdf_calc", "source": self.source, "natoms": self.natoms, "frames": self.frames,
                "frame_range": self.frame_range, "settings": dict(self.settings), "r": self.r.tolist(),
                "G": self.G.tolist(), "partials": {k: v.tolist() for k, v in self.partials.items()},
                "notes": list(self.notes), "written": list(self.written),
                "descriptors": self.descriptors.table() if self.descriptors is not None else None}

    def plot(self):
        """Total and partial G(r) as a :class:`matplotlib.figure.Figure` (made without pyplot)."""
        from refine.plot.pdf_calc import pdf_calc_figure

        return pdf_calc_figure(self)


def load_table(source: Any, settings: PDFCalcSettings, frames: Any = None, *, dmax: float | None = None
               ) -> tuple[PairTable, int, str | None, str, tuple[str, ...]]:
    """The pair table of a structure file / PDFStructure, or the frame-averaged table of a trajectory file.

    Returns (table, number of frames, frame range text or None, source name, notes). ``dmax`` defaults to what
    the r grid needs (its end, the Qmax extension and 1 Å).
    """
    from refine.io.trajectory import FrameRange, iter_frames, trajectory_format
    from refine.pdf.histogram import frames_table, structure_table

    if dmax is None:
        dmax = calc_grid(settings.r, settings.qmax).rcmax + 1.0 + 1e-6
    if isinstance(source, (str, os.PathLike)) and trajectory_format(source) is not None:
        selection = FrameRange.parse(frames)
        table, n = frames_table(iter_frames(source, selection), settings.uiso, dmax)
        return table, n, selection.text, os.fspath(source), ()
    if frames is not None:
        raise InputError("frames", "frames select from a trajectory (extended .xyz, XDATCAR, LAMMPS dump), "
                                   f"not from {source}")
    structure = _structure(source)
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else (structure.name or "structure")
    if settings.uiso is not None:
        structure = structure.replace(uiso=np.full(structure.natoms, settings.uiso))
    zero = int(np.sum(structure.uiso <= 0))
    if zero:
        raise InputError(name, f"{zero} of {structure.natoms} sites have no ADP (Uiso 0): give uiso")
    if np.all(structure.isotropic) and structure.natoms > HISTOGRAM_MIN_ATOMS:
        return structure_table(structure, dmax), 1, None, name, ()
    return (PairTable.build(structure, settings.rmax, qmax=settings.qmax, dmax=dmax), 1, None, name,
            ("anisotropic ADPs: exact pair sum",))


def _structure(source: Any) -> PDFStructure:
    from refine.crystal.structure import CrystalStructure

    if isinstance(source, PDFStructure):
        return source
    if isinstance(source, CrystalStructure):
        return PDFStructure.from_crystal(source)
    if isinstance(source, (str, os.PathLike)):
        return PDFStructure.load(source)
    raise InputError("structure", f"expected a structure or trajectory file, got {type(source).__name__}")


def pair_names(table: PairTable) -> list[tuple[str, str]]:
    """Element pairs (sorted) of a table's classes."""
    elements = sorted({element_of(e) for e in table.class_element})
    return list(itertools.combinations_with_replacement(elements, 2))


def calculate(source: Any, settings: PDFCalcSettings, frames: Any = None) -> PDFCalcResult:
    """G(r) and element-pair partials of a structure or trajectory (see :func:`load_table`)."""
    table, n, frame_range, name, notes = load_table(source, settings, frames)
    r = settings.r
    s = settings.peak_settings()
    g = calc_gr(table, r, s)
    partials = {f"{a}-{b}": partial_gr(table, r, s, a, b) for a, b in pair_names(table)}
    return PDFCalcResult(r=r, G=g, partials=partials, source=name, natoms=int(table.structure.natoms), frames=n,
                         frame_range=frame_range, settings=asdict(settings), notes=notes)


def write_outputs(result: PDFCalcResult, output: str | os.PathLike) -> list[str]:
    """``OUT.gr`` (r and G, ``#`` header) and ``OUT.partials.csv`` (r and one named column per pair)."""
    from pathlib import Path

    from refine.io.atomic import atomic_open

    out = Path(output)
    header = [f"refine pdf calc: G(r) of {result.source}", f"atoms: {result.natoms}, frames: {result.frames}"
              + (f" ({result.frame_range})" if result.frame_range else "")]
    header += [f"{k}: {v}" for k, v in result.settings.items()]
    with atomic_open(out, "w", encoding="utf-8") as fh:
        fh.writelines(f"# {line}\n" for line in header)
        fh.write("# r  G\n")
        np.savetxt(fh, np.column_stack([result.r, result.G]), fmt="%.10g", delimiter="  ")
    csv = out.with_name(out.stem + ".partials.csv")
    names = list(result.partials)
    with atomic_open(csv, "w", encoding="utf-8") as fh:
        fh.write(",".join(["r", *names]) + "\n")
        np.savetxt(fh, np.column_stack([result.r, *result.partials.values()]), fmt="%.10g", delimiter=",")
    return [str(out), str(csv)]
