"""Timing of a structure-refining PDF fit: refine (``refine pdf fit --refine-structure``) against PDFfit2.

Run from the repository root: ``python benchmarks/bench_pdf_structure.py [--repeats 3] [--tol 1e-8]``.

Work: the LaMnO3 300 K neutron G(r) of the PDFgui temperature series (shared data, Qmax 32 Å⁻¹, r 1.5-20 Å, dG
weights) with the Pbnm ``LaMnO3.stru`` (20 atoms, 4 sites), refined to convergence by both programs with the same
15-parameter model from the same start: scale, a, b, c, the 7 free Pbnm coordinates (La x y, O1 x y, O2 x y z), one
isotropic U per element (La, Mn, O: refine makes one Uiso per site, so its second O site is constrained to the
first), delta2; Qdamp = Qbroad = 0.  Both stop on a relative chi² change below 1e-8 (PDFfit2's ``toler``, refine's
ftol/xtol, as ``bench_pdf.py --fit``).  Each program runs in a fresh interpreter; "process s" is its whole wall
time (imports included), "fit s" the time from reading the files to the refined values (after the imports: refine's
include numba, which compiles its kernels, and periodictable, as PDFfit2's include its extension).  Medians of the
repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERIES = ROOT / ".." / "shared" / "data" / "sequential" / "pdfgui_LaMnO3_temperature_series_neutron_PDF"
GR, STRU = SERIES / "300K.gr", SERIES / "LaMnO3.stru"
QMAX, RMIN, RMAX = 32.0, 1.5, 20.0
TOL = 1e-8  # PDFfit2 refine()'s default toler, and refine's PDF_FIT_OPTIONS
PREFIX = "lamno3"
#: refine makes one Uiso per site; one per element needs the second O site tied to the first
CONSTRAINTS = ((f"{PREFIX}_O5_uiso", f"{PREFIX}_O1_uiso"),)
#: start of delta2 in both programs: refine's default (refine.pdf.fitting.build_model; the .stru's sharp line is 0)
DELTA2_START = 2.0


def _refine_fit(tol: float) -> dict:
    import numba  # noqa: F401 - the compiled kernels' compiler, imported by the first G(r)
    import periodictable  # noqa: F401 - neutron scattering lengths, imported when the first weights are made

    from refine.fit import FitOptions, Objective, run_fit
    from refine.io.patterns import read_pattern
    from refine.pdf.fitting import PDFFitSettings, PhaseInput, build_model

    t0 = time.perf_counter()  # after the imports (as PDFfit2's, its extension included): reading, parameters, fit
    settings = PDFFitSettings(qmax=QMAX, radiation="neutron", rmin=RMIN, rmax=RMAX, constraints=CONSTRAINTS)
    fm = build_model(read_pattern(GR), [PhaseInput.load(STRU, prefix=PREFIX, refine_structure=True)], settings)
    if fm.params[f"{PREFIX}_delta2"].value != DELTA2_START:
        raise RuntimeError("refine's delta2 start changed: update DELTA2_START so PDFfit2 starts from the same value")
    start_scale = fm.params[f"{PREFIX}_scale"].value
    res = run_fit(Objective.single(fm.dataset()), fm.params, kind="pdf", options=FitOptions(ftol=tol, xtol=tol))
    seconds = time.perf_counter() - t0
    return {"Rw": res.statistics.Rw, "fit_seconds": seconds, "nfev": res.nfev, "converged": res.converged,
            "start_scale": start_scale, "nvary": res.statistics.nvary, "npoints": res.statistics.npoints,
            **{k: res.value(f"{PREFIX}_{k}") for k in ("a", "b", "c", "delta2", "scale")},
            **{f"U_{el}": res.value(f"{PREFIX}_{site}_uiso") for el, site in (("La", "La1"), ("Mn", "Mn1"),
                                                                                ("O", "O1"))}}


def _pdffit2_fit(tol: float) -> dict:
    import numpy as np
    from diffpy.pdffit2 import PdfFit, redirect_stdout
    from diffpy.structure import loadStructure
    from diffpy.structure.spacegroups import GetSpaceGroup
    from diffpy.structure.symmetryutilities import SymmetryConstraints

    t0 = time.perf_counter()  # after the imports
    stru = loadStructure(str(STRU))
    symmetry = SymmetryConstraints(GetSpaceGroup(stru.pdffit["spcgr"]), stru.xyz)
    with open(os.devnull, "w") as sink:
        redirect_stdout(sink)
        pf = PdfFit()
        pf.read_struct(str(STRU))
        pf.read_data(str(GR), "N", QMAX, 0.0)
        pf.pdfrange(1, RMIN, RMAX)
        for i in (1, 2, 3):  # orthorhombic: a, b, c free
            pf.constrain(pf.lat(i), f"@{i}")
            pf.setpar(i, stru.lattice.abcABG()[i - 1])
        upar = {"La": 4, "Mn": 5, "O": 6}  # one isotropic U per element, started at its first site's value
        for k, atom in enumerate(stru, start=1):
            for u in (pf.u11, pf.u22, pf.u33):
                pf.constrain(u(k), f"@{upar[atom.element]}")
        for el, p in upar.items():
            pf.setpar(p, next(a.Uisoequiv for a in stru if a.element == el))
        pf.constrain(pf.delta2, "@7")
        pf.setpar(7, DELTA2_START)
        pf.constrain(pf.dscale, "@8")
        first = 10  # free coordinates of the asymmetric unit as @10.. with every atom's Pbnm formula
        for k, (_, value) in enumerate(symmetry.pospars):
            pf.setpar(first + k, float(value))
        formulas = symmetry.positionFormulas([f"@{first + k}" for k in range(len(symmetry.pospars))])
        for k, formula in enumerate(formulas, start=1):
            for axis, coordinate in zip("xyz", (pf.x, pf.y, pf.z), strict=True):
                if "@" in formula[axis]:
                    pf.constrain(coordinate(k), formula[axis].replace(" ", ""))
        pf.setpar(8, 1.0)
        pf.calc()  # start the scale at the least-squares multiplier of the start model, as refine does
        gc, go = np.array(pf.getpdf_fit()), np.array(pf.getpdf_obs())
        start_scale = float(np.dot(gc, go) / np.dot(gc, gc))
        pf.setpar(8, start_scale)
        pf.refine(toler=tol)
        out = {"Rw": pf.getrw(), "fit_seconds": time.perf_counter() - t0, "start_scale": start_scale,
               "npoints": len(gc), "a": pf.getpar(1), "b": pf.getpar(2), "c": pf.getpar(3), "delta2": pf.getpar(7),
               "scale": pf.getpar(8), "U_La": pf.getpar(4), "U_Mn": pf.getpar(5), "U_O": pf.getpar(6),
               "nvary": 8 + len(symmetry.pospars)}
        redirect_stdout(sys.stdout)
    return out


def _run_worker(program: str, tol: float) -> dict:
    """One program's fit in a fresh interpreter; its JSON result plus the process wall time."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", program, "--tol", repr(tol)],
                         capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t0
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    return result


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def varied_names() -> list[str]:
    """refine's varied parameters for this .stru with ``--refine-structure`` (before the U constraint)."""
    from refine.pdf.crystal import CrystalPhase

    return [n for n, p in CrystalPhase.load(STRU, PREFIX).parameters().items() if p.vary]


def compare(repeats: int, tol: float) -> None:
    """Alternate the two programs ``repeats`` times and print medians, Rw and the refined cell of each."""
    print(f"refine --refine-structure varies ({len(varied_names())} + delta2): {' '.join(varied_names())}")
    print(f"constraints added for one U per element: {CONSTRAINTS}")
    runs: dict[str, list[dict]] = {"refine": [], "pdffit2": []}
    for _ in range(repeats):
        for program in runs:
            runs[program].append(_run_worker(program, tol))
    print(f"LaMnO3 300 K neutron G(r), Pbnm (20 atoms), Qmax {QMAX}, r {RMIN}-{RMAX} Å, tolerance {tol:g}, "
          f"median of {repeats} fresh processes per program; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"{'':8s} {'fit s':>7s} {'process s':>10s} {'Rw':>9s} {'a':>9s} {'b':>9s} {'c':>9s} {'delta2':>7s} "
          f"{'U_La':>8s} {'U_Mn':>8s} {'U_O':>8s} {'nvary':>5s}  runs (fit s)")
    for program, rs in runs.items():
        last = rs[-1]
        row = " ".join(f"{last[k]:9.5f}" for k in ("a", "b", "c"))
        us = " ".join(f"{last[k]:8.5f}" for k in ("U_La", "U_Mn", "U_O"))
        print(f"{program:8s} {_median(rs, 'fit_seconds'):7.2f} {_median(rs, 'process_seconds'):10.2f} "
              f"{last['Rw']:9.6f} {row} {last['delta2']:7.4f} {us} {last['nvary']:5d}  "
              + " ".join(f"{r['fit_seconds']:.2f}" for r in rs))
    me, pf = runs["refine"][-1], runs["pdffit2"][-1]
    print(f"refine: {me['nfev']} function evaluations (analytic Jacobian of the crystalline phase), "
          f"converged: {me['converged']}; fitted points refine {me['npoints']}, PDFfit2 {pf['npoints']}")
    print(f"start scale refine {me['start_scale']:.5f}, PDFfit2 {pf['start_scale']:.5f}")
    print(f"Rw relative difference {abs(me['Rw'] - pf['Rw']) / pf['Rw']:.1e}; "
          f"max |Δcell| {max(abs(me[k] - pf[k]) for k in 'abc'):.1e} Å")
    fit = _median(runs["pdffit2"], "fit_seconds") / _median(runs["refine"], "fit_seconds")
    proc = _median(runs["pdffit2"], "process_seconds") / _median(runs["refine"], "process_seconds")
    print(f"speed-up of refine over PDFfit2 (PDFfit2 time / refine time; < 1 means slower): fit {fit:.2f}x, "
          f"whole process {proc:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process runs per program (median reported)")
    parser.add_argument("--tol", type=float, default=TOL, help="relative chi2 change at which both stop")
    parser.add_argument("--worker", choices=("refine", "pdffit2"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (GR.is_file() and STRU.is_file()):
        print(f"skipped: shared data not found ({GR} and {STRU}); the benchmark needs the PDFgui LaMnO3 series")
        return
    if args.worker:
        print(json.dumps(_refine_fit(args.tol) if args.worker == "refine" else _pdffit2_fit(args.tol)))
        return
    compare(args.repeats, args.tol)


if __name__ == "__main__":
    main()
