"""Issue 3 benchmark: one powder model evaluation and one full Le Bail fit of NASICON Na3V2(PO4)3 (R-3c).

Run from the repository root: ``python benchmarks/bench_powder.py [--repeat N] [--fits N] [--no-fresh] [--baseline]
[--large]``.

Setup (the one of tests/powder/test_lebail.py::test_nasicon_r3c_hexagonal_cell): 10 000 points 3–33° 2θ at
0.72 Å, TCH/FCJ profile U V W X Y SH/L = 1, −0.3, 0.5, 0.5, 1, 0.002, Poisson noise (seed 11) on a sloped
background; peak positions and intensities from pymatgen and tests/data/Na3V2PO43_NASICON.cif when pymatgen is
available, otherwise the cell a = 8.728, c = 21.804 Å with seeded random intensities. The Le Bail fit starts
from a and b 0.3 % long and c 0.3 % short and refines cell, zero, W, X, Y (four-term Chebyshev background).

Printed: the median wall time of (1) the peak positions/widths from the parameters (``PowderModel._peaks``),
(2) the sparse peak matrix (compiled fast path and the numpy reference), (3) one model evaluation
``peak_matrix(params, layout).T @ I`` both ways, (4) one full ``fit_lebail`` (with its function-evaluation count),
and, in fresh interpreters, (5) the one-off cost of the first compiled call (numba import plus compilation into an
empty cache, or plus loading the on-disk cache). Timings are wall-clock medians and noisy on a shared machine.
``--large`` also times the peak matrix of a large real case, the 11-BM sucrose pattern of ../shared/data (23 000
points, 972 reflections, FCJ on every peak), with one thread, with ``WindowOptions(parallel=True)`` and with numpy.

The fit time depends strongly on OpenBLAS threading: scipy's least_squares takes an SVD of the (npoints × nvary)
Jacobian at every iteration, and on a busy two-core machine a multi-threaded SVD of that tall matrix is several
times slower than a single-threaded one. Compare ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_powder.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from refine.crystal.lattice import Lattice
from refine.data import Pattern
from refine.instrument import Instrument, Profile
from refine.io.structures import read_structure, structure_from_cell
from refine.powder.background import Background
from refine.powder.lebail import LeBailOptions, fit_lebail
from refine.powder.model import PowderModel, PowderOptions
from refine.powder.peaks import WindowOptions, profile_matrix, profile_matrix_reference
from refine.powder.peakshape import gaussian_variance, lorentzian_fwhm, tch_fwhm_eta

CIF = Path(__file__).resolve().parents[1] / "tests" / "data" / "Na3V2PO43_NASICON.cif"
LAMBDA = 0.72
PROFILE = Profile(U=1.0, V=-0.3, W=0.5, X=0.5, Y=1.0, sh_l=0.002)
OPTIONS = PowderOptions(background=Background("chebyshev", nterms=4))
REFINE = ("cell", "zero", "W", "X", "Y")


def nasicon():
    """(structure, peak positions, intensities, source): from the CIF and pymatgen if possible."""
    x_range = (2.5, 33.5)
    if CIF.exists():
        try:
            from pymatgen.analysis.diffraction.xrd import XRDCalculator
            from pymatgen.core import Structure

            pat = XRDCalculator(wavelength=LAMBDA).get_pattern(Structure.from_file(str(CIF)), scaled=False,
                                                               two_theta_range=x_range)
            return read_structure(CIF), np.asarray(pat.x), np.asarray(pat.y), f"{CIF.name} + pymatgen"
        except ImportError:
            pass
    phase = structure_from_cell("R-3c", [8.728, 8.728, 21.804, 90, 90, 120], name="nvp")
    from refine.crystal.reflections import generate_reflections

    refl = generate_reflections(phase.lattice, phase.space_group, LAMBDA / (2 * np.sin(np.radians(x_range[1] / 2))))
    tth = refl.two_theta(LAMBDA)
    inten = refl.multiplicity * np.random.default_rng(0).uniform(0.05, 1.0, tth.size)
    return phase, tth, inten, "cell a = 8.728, c = 21.804 Å, random intensities"


def simulate(pos: np.ndarray, inten: np.ndarray, x: np.ndarray, seed: int = 11) -> Pattern:
    """Untruncated peaks (tails to 1e-6) scaled to 20 000 counts, sloped background 300, Poisson noise."""
    p = PROFILE
    fwhm, eta = tch_fwhm_eta(gaussian_variance(pos, U=p.U, V=p.V, W=p.W), lorentzian_fwhm(pos, X=p.X, Y=p.Y))
    peaks = profile_matrix_reference(x, pos, fwhm, eta, sh_l=p.sh_l,
                                     options=WindowOptions(cutoff=1e-6, max_fwhm=1000.0)).T @ inten
    truth = peaks * 20000.0 / peaks.max() + 300.0 * (1.0 + 0.3 * (x - x[0]) / (x[-1] - x[0]))
    y = np.random.default_rng(seed).poisson(truth).astype(float)
    return Pattern.from_arrays(x, y, np.sqrt(np.maximum(y, 1.0)), sigma_source="poisson", wavelength=LAMBDA,
                               radiation="xray")


def median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def count_evaluations(pattern: Pattern, start, instrument: Instrument) -> int:
    """Peak matrices built by one Le Bail fit (an untimed run with a counting subclass of PowderModel)."""
    import refine.powder.lebail as lebail

    calls = []

    class Counting(PowderModel):
        def peak_matrix(self, params, layout=None):
            calls.append(1)
            return super().peak_matrix(params, layout)

    original, lebail.PowderModel = lebail.PowderModel, Counting
    try:
        fit_lebail(pattern, [start], instrument, refine=REFINE, options=OPTIONS)
    finally:
        lebail.PowderModel = original
    return len(calls)


def first_call_seconds(cache_dir: str | None) -> float:
    """Wall time of the first peak-matrix call in a fresh interpreter (numba import + compile or cache load)."""
    code = ("import time, numpy as np; from refine.powder.peaks import profile_matrix as f; t = time.perf_counter(); "
            "f(np.linspace(5, 10, 500), np.array([6.0, 8.0]), np.array([0.05, 0.05]), np.array([0.5, 0.5]), "
            "sh_l=0.01); print(time.perf_counter() - t)")
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def large(repeat: int) -> None:
    """Peak-matrix timings on the 11-BM sucrose pattern (P21, 1–24° at 0.413 Å, SH/L refined: FCJ on every peak)."""
    folder = CIF.parents[1] / "powder_rietveld" / "gsas2_sucrose_LeBail_11BM"
    if not folder.exists():
        print("sucrose: ../shared/data absent, skipped")
        return
    from refine.io import read_pattern
    from refine.io.instprm import read_instrument

    pattern = read_pattern(folder / "11bmb_8716.fxye")
    phase = structure_from_cell("P21", "10.8 8.66 7.72 90 103.0 90", name="sucrose")
    options = PowderOptions(fit_range=(1.0, 24.0), background=Background("chebyshev", nterms=14))
    model = PowderModel(pattern, [phase], read_instrument(folder / "11bmb_8716.prm"), options=options)
    params = model.parameters()
    params["SH_L"].set(vary=True)
    layout = model.layout(params)
    pos, fwhm, eta, rows = model._peaks(params)
    kw = {"sh_l": params["SH_L"].value, "rows": rows, "layout": layout}
    work = int(np.sum((layout.i1 - layout.i0) * np.maximum(layout.nodes, 1)))
    print(f"sucrose 11-BM: {model.x_fit.size} points, {rows.nrows} reflections, {work} point evaluations per matrix")
    for name, fn in (("one thread", lambda: profile_matrix(model.x_fit, pos, fwhm, eta, **kw)),
                     ("parallel=True", lambda: profile_matrix(model.x_fit, pos, fwhm, eta, **kw,
                                                             options=WindowOptions(parallel=True))),
                     ("numpy reference", lambda: profile_matrix_reference(model.x_fit, pos, fwhm, eta, **kw))):
        print(f"  peak matrix, {name:<44s} {median_time(fn, max(repeat // 10, 5)) * 1e3:8.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300, help="evaluations timed (median)")
    parser.add_argument("--fits", type=int, default=3, help="Le Bail fits timed (median)")
    parser.add_argument("--no-fresh", action="store_true", help="skip the fresh-interpreter first-call timings")
    parser.add_argument("--large", action="store_true", help="also time the 11-BM sucrose peak matrix")
    parser.add_argument("--baseline", action="store_true",
                        help="also time the fit as before issue 3's work: numpy peak matrix, no Le Bail cycle bound")
    args = parser.parse_args()

    phase, pos, inten, source = nasicon()
    x = np.arange(3.0, 33.0, 0.003)
    pattern = simulate(pos, inten, x)
    instrument = Instrument.synchrotron(LAMBDA, profile=PROFILE)
    model = PowderModel(pattern, [phase.replace(name="nvp")], instrument, options=OPTIONS)
    params = model.parameters()
    layout = model.layout(params)
    peaks = model._peaks(params)
    sh_l = params["SH_L"].value
    intensities = np.ones(int(model.offsets[-1]))
    mat = model.peak_matrix(params, layout)
    print(f"{os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"NASICON R-3c ({source}); {x.size} points, {mat.shape[0]} reflections, {mat.nnz} stored values, "
          f"FCJ nodes per peak {sorted(set(layout.nodes.tolist()))}")

    def fast():
        return profile_matrix(model.x_fit, peaks[0], peaks[1], peaks[2], sh_l=sh_l, rows=peaks[3], layout=layout)

    def reference():
        return profile_matrix_reference(model.x_fit, peaks[0], peaks[1], peaks[2], sh_l=sh_l, rows=peaks[3],
                                        layout=layout)

    ref = reference()
    dev = np.max(np.abs(fast().toarray() - ref.toarray())) / np.max(np.abs(ref.data))
    rows = [("positions and widths (_peaks)", median_time(lambda: model._peaks(params), args.repeat)),
            ("peak matrix, compiled", median_time(fast, args.repeat)),
            ("peak matrix, numpy reference", median_time(reference, args.repeat)),
            ("model evaluation peak_matrix(p, layout).T @ I", median_time(
                lambda: model.peak_matrix(params, layout).T @ intensities, args.repeat)),
            ("model evaluation with the numpy reference", median_time(
                lambda: profile_matrix_reference(model.x_fit, *model._peaks(params)[:3], sh_l=sh_l,
                                                 rows=peaks[3], layout=layout).T @ intensities, args.repeat))]
    for name, seconds in rows:
        print(f"  {name:<48s} {seconds * 1e3:8.3f} ms")
    print(f"  max |compiled - reference| / max value: {dev:.1e}")

    a, b, c, al, be, ga = phase.lattice.as_tuple()
    start = phase.replace(lattice=Lattice(a * 1.003, b * 1.003, c * 0.997, al, be, ga), name="nvp")
    times, result = [], None
    for _ in range(args.fits):
        t0 = time.perf_counter()
        result = fit_lebail(pattern, [start], instrument, refine=REFINE, options=OPTIONS)
        times.append(time.perf_counter() - t0)
    if args.baseline:
        import refine.powder.model as model_module

        model_module.profile_matrix = profile_matrix_reference
        try:
            before = []
            for _ in range(args.fits):
                t0 = time.perf_counter()
                fit_lebail(pattern, [start], instrument, refine=REFINE, options=OPTIONS,
                           lebail=LeBailOptions(cycle_evaluations=None))
                before.append(time.perf_counter() - t0)
        finally:
            model_module.profile_matrix = profile_matrix
        print(f"Le Bail fit, baseline (numpy matrix, unbounded cycles): median {statistics.median(before):.3f} s "
              f"over {args.fits} (min {min(before):.3f} s)")
    (p,) = result.phases.values()
    print(f"Le Bail fit from a cell 0.3 % off: median {statistics.median(times):.3f} s over {args.fits} "
          f"(min {min(times):.3f} s); {count_evaluations(pattern, start, instrument)} peak-matrix evaluations, "
          f"{len(result.extra['rwp_history'])} cycles")
    print(f"  a = {p.a:.5f}({p.a.esd:.1e}) vs {a:.5f}, c = {p.c:.5f}({p.c.esd:.1e}) vs {c:.5f}, "
          f"Rwp {result.statistics.Rwp:.4f}, GOF {result.statistics.GOF:.3f}")

    if args.large:
        large(args.repeat)
    if not args.no_fresh:
        with tempfile.TemporaryDirectory() as empty:
            compile_s = first_call_seconds(empty)
        cached_s = first_call_seconds(None)
        print(f"first compiled call in a fresh interpreter: {compile_s:.2f} s with an empty numba cache (compile), "
              f"{cached_s:.2f} s with the on-disk cache")


if __name__ == "__main__":
    main()
