"""A G(r) fit phase made of an MD trajectory: the frame-averaged pair table of chosen frames with fixed positions
(``refine pdf fit --phase traj.xyz,fixed,frames=0:200:5``).

The phase is a fixed :class:`~refine.pdf.model.Phase` whose table comes from :func:`refine.pdf.histogram.frames_table`
(frames read one at a time, :mod:`refine.io.trajectory`): refined are its scale, an isotropic lattice scale and one
Uiso per species (added to the frames' own disorder), with delta1/delta2, sratio and the sphere envelope as for any
phase. The table is built once to cover the lattice scale's lower bound (0.9), so it is never rebuilt from a single
frame during the fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from refine.errors import InputError
from refine.fit.phase_result import PhaseResult
from refine.pdf.calculate import NRIPPLES, PDFSettings, calc_grid
from refine.pdf.model import Phase, PhaseCache
from refine.pdf.pairs import PairTable
from refine.pdf.structure import PDFStructure

#: smallest lattice scale of a fixed phase (refine.pdf.model.Phase.add_parameters) the table must cover
MIN_LATTICE_SCALE = 0.9
#: Uiso (Å²) per species at the start when the trajectory carries none
DEFAULT_UISO = 0.005


def first_frame_structure(path: str | os.PathLike, frames: str) -> PDFStructure:
    """The first selected frame as a P1 structure (the phase's reference cell and composition)."""
    from refine.io.trajectory import FrameRange, iter_frames
    from refine.pdf.histogram import cell_lattice

    selection = FrameRange.parse(frames)
    frame = next(iter_frames(path, FrameRange(selection.start, selection.start + 1)))
    u = frame.uiso if frame.uiso is not None else np.full(frame.natoms, DEFAULT_UISO)
    return PDFStructure(lattice=cell_lattice(frame.cell), xyz=frame.fractional, elements=frame.symbols,
                        occupancy=np.ones(frame.natoms), u=u, name=os.path.basename(path))


@dataclass(frozen=True, eq=False)
class TrajectoryPhase(Phase):
    """A fixed phase whose pair table averages the frames ``frame_range`` of a trajectory (``frames`` of them)."""

    frames: int = 0
    frame_range: str = ""

    @classmethod
    def from_trajectory(cls, prefix: str, path: str | os.PathLike, frames: str, rmax: float, qmax: float = 0.0
                        ) -> TrajectoryPhase:
        """Average the frames into one table covering r up to rmax (with the Qmax extension) at lattice scale 0.9."""
        from refine.io.trajectory import FrameRange, iter_frames
        from refine.pdf.histogram import frames_table

        selection = FrameRange.parse(frames)
        ext = NRIPPLES * 2 * np.pi / qmax if qmax > 0 else 0.0
        dmax = (rmax + ext + 1.0) / MIN_LATTICE_SCALE + 0.1
        table, n = frames_table(iter_frames(path, selection), None, dmax, fallback=DEFAULT_UISO)
        return cls(prefix, table, fixed=True, frames=n, frame_range=selection.text)

    def table_for(self, settings: PDFSettings, r: np.ndarray, cache: PhaseCache | None = None) -> PairTable:
        """The frame-averaged table (it covers the lattice scale's bound; a single frame cannot replace it)."""
        need = (calc_grid(r, settings.qmax).rcmax + 1.0) / settings.lattice_scale
        if self.table.dmax < need:
            raise InputError("phases", f"trajectory phase {self.prefix}: the table covers {self.table.dmax:.1f} Å, "
                                       f"the fit needs {need:.1f} Å")
        return self.table

    def entry(self, result: Any) -> PhaseResult:
        entry = super().entry(result)
        return entry.replace(extra={**entry.extra, "frames": self.frames, "frame_range": self.frame_range})
