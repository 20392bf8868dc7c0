"""A simulated operando detector stack: NASICON Na3V2(PO4)3 (R-3c) whose cell follows a known path, as Eiger-style
HDF5 (a master file linking data files of up to ``FRAMES_PER_FILE`` frames, bitshuffle/LZ4 through hdf5plugin),
frames made with pyFAI from a 1D pattern. Seeded: the same arguments give the same counts.

* 1D truth per frame: refine.simulate (Rietveld intensities of tests/data/Na3V2PO43_NASICON.cif, Gaussian peaks
  of FWHM 0.08 deg, λ = 0.72 Å) at the frame's cell: a falls and c rises linearly by ``CHANGE`` over the series
  (a charge-like drift), volume accordingly.
* 2D: intensity per pixel = I(2θ of the pixel) + background, times pyFAI's polarization factor (0.99) and
  relative solid angle (the geometry's own arrays, so integration with the same PONI undoes them); Poisson
  counts (``PEAK_COUNTS`` at the strongest ring), int32; the detector's module gaps set to -1.
* Detector: any pyFAI detector name (default Pilatus1M, 1043 x 981 px of 172 µm), 0.30 m, beam centre near a
  corner so that the rings reach ~35 deg.
* Per-frame times in the master file: ``entry/instrument/detector/detectorSpecific/data_collection_date`` and
  ``frame_time`` (the Eiger convention), so frame times come from the header.

    python benchmarks/operando_stack.py OUT_DIR --frames 1000 [--detector Pilatus1M]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CIF = ROOT / "tests" / "data" / "Na3V2PO43_NASICON.cif"
WAVELENGTH_A = 0.72
A0, C0 = 8.728, 21.804
CHANGE = 0.01  # relative change of a (down) and c (up) over the series
FWHM_DEG = 0.08
PEAK_COUNTS = 2000.0
BACKGROUND = 0.08  # relative to the strongest peak
POLARIZATION = 0.99
FRAMES_PER_FILE = 100
FRAME_TIME_S = 30.0
START = "2026-12-03T08:00:00"
SEED = 20261203


@dataclass(frozen=True)
class Stack:
    """What :func:`write_stack` wrote: the master file, the PONI, the CIF and the true cells."""

    master: Path
    poni: Path
    cif: Path
    cells: np.ndarray  # (frames, 2): a, c


def true_cell(index: int, frames: int) -> tuple[float, float]:
    """(a, c) of frame ``index``."""
    t = index / max(frames - 1, 1)
    return A0 * (1.0 - CHANGE * t), C0 * (1.0 + CHANGE * t)


def _geometry(detector: str):
    from pyFAI.detectors import detector_factory
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    det = detector_factory(detector)
    ny, nx = det.shape
    return AzimuthalIntegrator(dist=0.30, poni1=0.06 * ny * det.pixel1, poni2=0.08 * nx * det.pixel2, rot1=0.0,
                               rot2=0.0, rot3=0.0, detector=det, wavelength=WAVELENGTH_A * 1e-10)


def _pattern(a: float, c: float, x: np.ndarray) -> np.ndarray:
    from refine.api.simulation import simulate
    from refine.crystal.lattice import Lattice
    from refine.io.structures import read_structure

    base = read_structure(CIF)
    phase = base.replace(lattice=Lattice(a, a, c, 90, 90, 120))
    p = simulate(phase, wavelength=WAVELENGTH_A, range=(float(x[0]), float(x[-1])), step=float(x[1] - x[0]),
                 fwhm=FWHM_DEG)
    return np.interp(x, p.x, p.y / p.y.max())


def write_stack(out_dir: str | Path, frames: int, *, detector: str = "Pilatus1M", seed: int = SEED) -> Stack:
    """Write ``out_dir/stack_master.h5`` (+ ``stack_data_00000N.h5``), ``stack.poni``; returns the paths."""
    import h5py
    import hdf5plugin

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ai = _geometry(detector)
    poni = out / "stack.poni"
    poni.unlink(missing_ok=True)  # pyFAI appends to an existing file
    ai.write(str(poni))
    tth = ai.center_array(unit="2th_deg")
    factor = ai.polarization(factor=POLARIZATION) * ai.solidAngleArray()
    gaps = ai.detector.mask
    grid = np.arange(max(tth.min() - 0.2, 0.5), tth.max() + 0.2, 0.005)
    rng = np.random.default_rng(seed)
    cells = np.array([true_cell(i, frames) for i in range(frames)])
    nfiles = (frames + FRAMES_PER_FILE - 1) // FRAMES_PER_FILE
    shape = tth.shape
    for n in range(nfiles):
        lo, hi = n * FRAMES_PER_FILE, min(frames, (n + 1) * FRAMES_PER_FILE)
        with h5py.File(out / f"stack_data_{n + 1:06d}.h5", "w") as fh:
            dset = fh.create_dataset("entry/data/data", shape=(hi - lo, *shape), dtype="int32",
                                     chunks=(1, *shape), **hdf5plugin.Bitshuffle(cname="lz4"))
            dset.attrs.update(image_nr_low=lo + 1, image_nr_high=hi)
            for i in range(lo, hi):
                profile = _pattern(*cells[i], grid) + BACKGROUND
                mean = PEAK_COUNTS * np.interp(tth, grid, profile) * factor
                counts = rng.poisson(mean).astype(np.int32)
                if gaps is not None:
                    counts[gaps != 0] = -1
                dset[i - lo] = counts
    with h5py.File(out / "stack_master.h5", "w") as fh:
        data = fh.create_group("entry/data")
        for n in range(nfiles):
            data[f"data_{n + 1:06d}"] = h5py.ExternalLink(f"stack_data_{n + 1:06d}.h5", "entry/data/data")
        det = fh.create_group("entry/instrument/detector")
        det["frame_time"] = FRAME_TIME_S
        det["count_time"] = FRAME_TIME_S - 0.001
        det.create_group("detectorSpecific")["data_collection_date"] = START
        det["detectorSpecific/nimages"] = frames
    return Stack(master=out / "stack_master.h5", poni=poni, cif=CIF, cells=cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--detector", default="Pilatus1M")
    args = parser.parse_args()
    stack = write_stack(args.out_dir, args.frames, detector=args.detector)
    print(f"wrote {stack.master} ({args.frames} frames), {stack.poni}")


if __name__ == "__main__":
    main()
