"""Side-by-side timing of refine's PDF engine and PDFfit2 on the same structures and settings.

Run from the repository root: ``python benchmarks/bench_pdf.py [--quick]``; ``--fit`` times instead a full
two-phase refinement (disordered rock salt + an 81-atom distorted supercell with fixed positions, 11 parameters)
to convergence, each program in a fresh process (imports, pair tables and numba compilation included).

Default mode: for each structure (fcc Ni, 64- and 640-atom rock-salt supercells) and rmax (20/30/50 Å) it prints
PDFfit2's calc() time, refine's one-off pair-table build time, the time of one G(r) evaluation from the table (what
a fit pays per function call), their ratio, and max|dG|/max|G| between the two programs.  Timings are wall-clock
medians and noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from refine.pdf.calculate import PDFSettings, calc_gr
from refine.pdf.pairs import PairTable
from refine.pdf.structure import PDFStructure

QMAX, QDAMP, DELTA2, DR, RMIN = 25.0, 0.03, 2.0, 0.01, 0.5


def rocksalt(a: float = 5.64) -> PDFStructure:
    xyz, el = [], []
    for f in [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]:
        xyz += [f, tuple(np.mod(np.add(f, 0.5), 1.0))]
        el += ["Na", "Cl"]
    return PDFStructure(lattice=(a, a, a, 90, 90, 90), xyz=xyz, elements=tuple(el), occupancy=np.ones(8),
                        u=[0.010, 0.006] * 4, name="NaCl")


def fcc_ni(a: float = 3.52) -> PDFStructure:
    return PDFStructure(lattice=(a, a, a, 90, 90, 90), xyz=[(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)],
                        elements=("Ni",) * 4, occupancy=np.ones(4), u=np.full(4, 0.0025), name="Ni")


def pdffit2_time(structure: PDFStructure, r: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    from diffpy.pdffit2 import PdfFit, redirect_stdout
    from diffpy.structure import Atom, Lattice, Structure

    stru = Structure([Atom(e, x, occupancy=o, U=u) for e, x, o, u in
                      zip(structure.elements, structure.xyz, structure.occupancy, structure.u, strict=True)],
                     lattice=Lattice(*structure.lattice))
    with open(os.devnull, "w") as sink:
        redirect_stdout(sink)
        pf = PdfFit()
        pf.add_structure(stru)
        pf.alloc("X", QMAX, QDAMP, float(r[0]), float(r[-1]), len(r))
        pf.setvar("delta2", DELTA2)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            pf.calc()
            times.append(time.perf_counter() - t0)
        g = np.array(pf.getpdf_fit())
        redirect_stdout(sys.stdout)
    return statistics.median(times), g


def rattled(structure: PDFStructure, rms: float, seed: int = 0) -> PDFStructure:
    """Random Gaussian displacements (Å rms per axis): a relaxed-supercell-like model with few equal distances."""
    rng = np.random.default_rng(seed)
    return structure.replace(xyz=structure.xyz + rng.normal(0, rms, structure.xyz.shape) / structure.lattice[:3])


def numba_first_call_seconds(cache_dir: str | None) -> float:
    """Wall time of the first numba kernel call in a fresh interpreter (compilation, or loading numba's cache)."""
    code = ("import time, numpy as np; from refine.pdf.kernels import add_peaks_numba as f; t = time.perf_counter(); "
            "f(np.zeros(10), 0.0, 0.1, np.array([0.5]), np.array([0.1]), np.array([1.0])); "
            "print(time.perf_counter() - t)")
    env = dict(os.environ)
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip())

# ------------------------------------------------------------------------------------------- two-phase fit
FIT_R = (1.5, 20.0, 0.01)
FIT_QMAX, FIT_QDAMP = 25.0, 0.04
#: truth and start values of the 11 refined parameters (same for both programs)
FIT_TRUTH = {"rs_scale": 0.7, "dscale": 1.0, "rs_a": 4.66, "rs_u_cat": 0.011, "rs_u_O": 0.009, "rs_delta2": 2.0,
             "sc_lat": 0.997, "sc_u_Na": 0.006, "sc_u_V": 0.004, "sc_u_O": 0.007, "sc_delta2": 3.0}
FIT_START = {"rs_scale": 0.65, "dscale": 0.95, "rs_a": 4.67, "rs_u_cat": 0.009, "rs_u_O": 0.008, "rs_delta2": 1.5,
             "sc_lat": 1.0, "sc_u_Na": 0.007, "sc_u_V": 0.005, "sc_u_O": 0.008, "sc_delta2": 2.5}


def drs_rocksalt(a: float = 4.642) -> PDFStructure:
    """Disordered rock salt Na0.6V0.4O: Na/V on 4a, O on 4b (12 partially occupied sites)."""
    xyz, el, occ = [], [], []
    for f in [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]:
        xyz += [f, f, tuple(np.mod(np.add(f, 0.5), 1.0))]
        el += ["Na", "V", "O"]
        occ += [0.6, 0.4, 1.0]
    return PDFStructure(lattice=(a, a, a, 90, 90, 90), xyz=xyz, elements=tuple(el), occupancy=occ,
                        u=[0.01] * 12, name="DRS")


def distorted_supercell(seed: int = 5, a: float = 4.60) -> PDFStructure:
    """Na25V16O40 (81 atoms): 5x2x1 rock-salt cell with 24 Na/16 V ordered at random, one interstitial Na on a
    tetrahedral site, every atom displaced 0.05-0.1 Å in a random direction (a DFT-relaxed-like model)."""
    rng = np.random.default_rng(seed)
    reps = np.array([5, 2, 1])
    fcc = np.array([(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)])
    shifts = np.array(list(np.ndindex(*reps)))
    cat = ((fcc[None] + shifts[:, None]) / reps).reshape(-1, 3)
    oxy = ((np.mod(fcc + 0.5, 1)[None] + shifts[:, None]) / reps).reshape(-1, 3)
    el = ["Na"] * 24 + ["V"] * 16
    rng.shuffle(el)
    xyz = np.vstack([cat, oxy, [np.array([0.25, 0.25, 0.25]) / reps]])
    el = el + ["O"] * 40 + ["Na"]
    cell = a * reps
    step = rng.normal(size=xyz.shape)
    step *= (rng.uniform(0.05, 0.1, len(xyz)) / np.linalg.norm(step, axis=1))[:, None]
    return PDFStructure(lattice=(*cell, 90, 90, 90), xyz=np.mod(xyz + step / cell, 1.0), elements=tuple(el),
                        occupancy=np.ones(len(el)), u=[0.005] * len(el), name="Na25V16O40")


def _fit_grid() -> np.ndarray:
    lo, hi, dr = FIT_R
    return np.round(np.arange(int(round(lo / dr)), int(round(hi / dr)) + 1) * dr, 10)


def _synthetic_two_phase(path: str) -> None:
    t = FIT_TRUTH
    r = _fit_grid()
    common = dict(qmax=FIT_QMAX, qdamp=FIT_QDAMP)
    rs, sc = drs_rocksalt(), distorted_supercell()
    g = calc_gr(PairTable.build(rs, r[-1], qmax=FIT_QMAX), r, PDFSettings(
        scale=t["dscale"] * t["rs_scale"], lattice_scale=t["rs_a"] / rs.lattice[0], delta2=t["rs_delta2"],
        uiso={"Na": t["rs_u_cat"], "V": t["rs_u_cat"], "O": t["rs_u_O"]}, **common))
    g += calc_gr(PairTable.build(sc, r[-1], qmax=FIT_QMAX), r, PDFSettings(
        scale=t["dscale"] * (1 - t["rs_scale"]), lattice_scale=t["sc_lat"], delta2=t["sc_delta2"],
        uiso={"Na": t["sc_u_Na"], "V": t["sc_u_V"], "O": t["sc_u_O"]}, **common))
    g += np.random.default_rng(1).normal(0, 0.02, len(r))
    np.savetxt(path, np.column_stack([r, g]))


def _fit_refine(r: np.ndarray, g: np.ndarray) -> dict:
    from refine.data import Pattern
    from refine.fit import FitOptions, Objective, run_fit
    from refine.pdf.fitting import PDFFitSettings, PhaseInput, build_model

    t0 = time.perf_counter()  # after the imports: pair tables, numba compilation and the fit

    pat = Pattern(x=r, y=g, sigma=np.ones_like(r), unit="r_A", sigma_source="unit")
    fm = build_model(pat, [PhaseInput(drs_rocksalt(), prefix="rs"), PhaseInput(distorted_supercell(), fixed=True,
                                                                               prefix="sc")],
                     PDFFitSettings(qmax=FIT_QMAX, qdamp=FIT_QDAMP))
    names = {"rs_scale": "rs_scale", "dscale": "dscale", "rs_a": "rs_a", "rs_u_cat": "rs_uiso_Na",
             "rs_u_O": "rs_uiso_O", "rs_delta2": "rs_delta2", "sc_lat": "sc_lattice_scale", "sc_u_Na": "sc_uiso_Na",
             "sc_u_V": "sc_uiso_V", "sc_u_O": "sc_uiso_O", "sc_delta2": "sc_delta2"}
    for key, name in names.items():
        fm.params[name].set(value=FIT_START[key])
    fm.params["rs_uiso_V"].set(expr="rs_uiso_Na")
    # PDFfit2 stops when chi2 changes by less than toler = 1e-8 (relative): the same criterion as ftol
    res = run_fit(Objective.single(fm.dataset()), fm.params, kind="pdf", options=FitOptions(ftol=1e-8, xtol=1e-8))
    t_fit = time.perf_counter() - t0
    return {"Rw": res.statistics.Rw, "nfev": res.nfev, "converged": res.converged, "fit_seconds": t_fit,
            "numba": "numba" in sys.modules, "sc_entries": fm.phases[1].table.npairs,
            **{k: res.value(n) for k, n in names.items()}}


def _fit_pdffit2(r: np.ndarray, g: np.ndarray) -> dict:
    from diffpy.pdffit2 import PdfFit, redirect_stdout

    from tests.pdf.conftest import to_diffpy

    t0 = time.perf_counter()  # after the imports
    s0 = FIT_START
    with open(os.devnull, "w") as sink:
        redirect_stdout(sink)
        pf = PdfFit()
        pf.add_structure(to_diffpy(drs_rocksalt()))
        for i in (1, 2, 3):
            pf.constrain(pf.lat(i), "@1")
        pf.setpar(1, s0["rs_a"])
        for k, el in enumerate(drs_rocksalt().elements, start=1):
            for u in (pf.u11, pf.u22, pf.u33):
                pf.constrain(u(k), "@2" if el != "O" else "@3")
        pf.setpar(2, s0["rs_u_cat"])
        pf.setpar(3, s0["rs_u_O"])
        pf.constrain(pf.delta2, "@4")
        pf.setpar(4, s0["rs_delta2"])
        pf.constrain(pf.pscale, "@5")
        pf.setpar(5, s0["rs_scale"])
        sc = distorted_supercell()
        pf.add_structure(to_diffpy(sc))
        for i in (1, 2, 3):
            pf.constrain(pf.lat(i), f"@11*{sc.lattice[i - 1]!r}")
        pf.setpar(11, s0["sc_lat"])
        par = {"Na": 12, "V": 13, "O": 14}
        for k, el in enumerate(sc.elements, start=1):
            for u in (pf.u11, pf.u22, pf.u33):
                pf.constrain(u(k), f"@{par[el]}")
        for el, p in par.items():
            pf.setpar(p, s0[f"sc_u_{el}"])
        pf.constrain(pf.delta2, "@15")
        pf.setpar(15, s0["sc_delta2"])
        pf.constrain(pf.pscale, "1-@5")
        pf.read_data_lists("X", FIT_QMAX, FIT_QDAMP, list(r), list(g))
        pf.constrain(pf.dscale, "@20")
        pf.setpar(20, s0["dscale"])
        pf.pdfrange(1, float(r[0]), float(r[-1]))
        pf.refine()
        out = {"Rw": pf.getrw(), "rs_scale": pf.getpar(5), "dscale": pf.getpar(20), "rs_a": pf.getpar(1),
               "rs_u_cat": pf.getpar(2), "rs_u_O": pf.getpar(3), "rs_delta2": pf.getpar(4), "sc_lat": pf.getpar(11),
               "sc_u_Na": pf.getpar(12), "sc_u_V": pf.getpar(13), "sc_u_O": pf.getpar(14),
               "sc_delta2": pf.getpar(15), "fit_seconds": time.perf_counter() - t0}
        redirect_stdout(sys.stdout)
    return out


def fit_worker(program: str, data: str) -> None:
    """Run one program's refinement in this (fresh) process and print a JSON line with its fit time."""
    import json

    r, g = np.loadtxt(data, unpack=True)
    print(json.dumps((_fit_refine if program == "refine" else _fit_pdffit2)(r, g)))


def _run_worker(program: str, data: str, cache_dir: str | None) -> dict:
    import json

    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--fit-worker", program, data],
                         capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t0
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    return result


def compare_fits() -> None:
    """Both refinements from the same start on the same synthetic data, each in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "two_phase.gr")
        _synthetic_two_phase(data)
        cold = _run_worker("refine", data, os.path.join(tmp, "numba-cache"))  # empty cache: compiles
        warm = _run_worker("refine", data, None)
        pdffit = _run_worker("pdffit2", data, None)
    print(f"two-phase fit: DRS rock salt (12 sites) + Na25V16O40 supercell (81 atoms, fixed), r {FIT_R[0]}-"
          f"{FIT_R[1]} Å step {FIT_R[2]}, Qmax {FIT_QMAX}, 11 parameters, same start values")
    print("fit s: structures to refined values after the imports (refine: pair tables, the supercell's merged in\n"
          "0.01 Å bins keeping each group's first and second moments, and the fit with analytic derivatives; the\n"
          "peak sums are small enough that numpy beats numba's one-off ~0.6 s import + cache load or ~2 s\n"
          "compilation, so both rows normally run numpy); process s: the whole fresh interpreter (import lmfit\n"
          "~1.3 s, of it scipy.stats ~0.3 s, unavoidable: lmfit/__init__ imports it).\n"
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}: on a loaded machine a "
          "threaded OpenBLAS spends ~0.1 s per small SVD\nof the trust-region step (7 per fit); set it to 1.")
    print(f"{'':26s} {'fit s':>8s} {'process s':>10s} {'Rw':>9s}  parameters")
    for label, res in (("refine (numba cache empty)", cold), ("refine (numba cache warm)", warm), ("pdffit2", pdffit)):
        pars = " ".join(f"{k}={res[k]:.5g}" for k in FIT_TRUTH)
        print(f"{label:26s} {res['fit_seconds']:8.2f} {res['process_seconds']:10.2f} {res['Rw']:9.6f}  {pars}")
    print("truth" + " " * 53 + " ".join(f"{k}={v:.5g}" for k, v in FIT_TRUTH.items()))
    print(f"refine: supercell pair-table entries {warm['sc_entries']}, numba loaded: {warm['numba']}, "
          f"function evaluations {warm['nfev']}")
    for label, res in (("compiling", cold), ("cached", warm)):
        print(f"speed-up, whole process, refine {label}: {pdffit['process_seconds'] / res['process_seconds']:.1f}x "
              f"(fit only {pdffit['fit_seconds'] / res['fit_seconds']:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="rmax 20 and 30 only, one PDFfit2 repeat")
    parser.add_argument("--fit", action="store_true", help="time the two-phase refinement instead")
    parser.add_argument("--fit-worker", nargs=2, metavar=("PROGRAM", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fit_worker:
        fit_worker(*args.fit_worker)
        return
    if args.fit:
        compare_fits()
        return
    cases = [("Ni fcc (4)", fcc_ni(), 1e-4), ("NaCl 2x2x2 (64)", rocksalt().supercell(2, 2, 2), 1e-4),
             ("NaCl 4x4x5 (640)", rocksalt().supercell(4, 4, 5), 1e-4),
             ("rattled 640", rattled(rocksalt().supercell(4, 4, 5), 0.05), 1e-4),
             ("rattled 640", rattled(rocksalt().supercell(4, 4, 5), 0.05), 1e-3)]
    with tempfile.TemporaryDirectory() as empty:
        cold = numba_first_call_seconds(empty)
    warm = numba_first_call_seconds(None)
    print(f"numba kernel, first call in a fresh process: {cold:.2f} s compiling (empty cache), {warm:.2f} s with "
          "numba's on-disk cache; paid once per process, only when numba is loaded already or a sum's numpy cost\n"
          "is large (refine.pdf.kernels.default_backend; the times below run the default backend after a warm-up)")
    rmaxes = (20.0, 30.0) if args.quick else (20.0, 30.0, 50.0)
    settings = PDFSettings(qmax=QMAX, qdamp=QDAMP, delta2=DELTA2, uiso={"Na": 0.011, "Cl": 0.007})
    print(f"x-ray, Qmax {QMAX}, Qdamp {QDAMP}, delta2 {DELTA2}, dr {DR} Å, r from {RMIN} Å")
    head = f"{'structure':18s} {'res Å':>6s} {'rmax':>5s} {'pdffit2 s':>10s} {'build s':>8s} {'entries':>8s} "
    head += f"{'eval ms':>8s} "
    print(head + f"{'speed-up':>9s} {'max|dG|/max|G|':>15s}")
    for name, s, res in cases:
        for rmax in rmaxes:
            if name.startswith("rattled") and rmax > 30:
                continue
            r = np.round(np.arange(int(round(RMIN / DR)), int(round(rmax / DR)) + 1) * DR, 10)
            table = PairTable.build(s, rmax, qmax=QMAX, resolution=res)
            st = settings if s.name.startswith("NaCl") else settings.replace(uiso={})
            calc_gr(table, r, st)  # warm-up (a first numba call would compile here)
            evals = []
            for _ in range(5 if table.npairs > 10000 else 20):
                t0 = time.perf_counter()
                g = calc_gr(table, r, st)
                evals.append(time.perf_counter() - t0)
            repeats = 1 if (args.quick or s.natoms > 100) else 3
            variables = s.replace(uiso=[st.uiso.get(e, u) for e, u in zip(s.elements, s.uiso, strict=True)])
            t_pf, g_pf = pdffit2_time(variables, r, repeats)
            t_me = statistics.median(evals)
            err = np.max(np.abs(g - g_pf)) / np.max(np.abs(g_pf))
            print(f"{name:18s} {res:6.0e} {rmax:5.0f} {t_pf:10.4f} {table.build_seconds:8.3f} {table.npairs:8d} "
                  f"{1e3 * t_me:8.3f} {t_pf / t_me:8.0f}x {err:15.2e}", flush=True)


if __name__ == "__main__":
    main()
