"""``refine demo``: the package's main job on the bundled example data (``make demo``).

Steps (each one the library call a user would make; the command-line equivalent is printed):
1. integrate the simulated 2D image of a DRS Na3V2O5-like electrode (with a Cu phase) to I(2θ) with pyFAI;
2. Le Bail fit of the integrated pattern with two phases (DRS rock salt + Cu);
3. Rietveld fit of the same pattern from the two CIFs (cells, Uiso, size, weight fractions);
4. two-phase PDF fit of a simulated G(r): crystalline rock salt + a fixed distorted supercell;
5. G(r) and element-pair partials of the supercell without fitting (``refine pdf calc``);
6. simulated powder pattern of the two phases;
7. an operando series (12 simulated scans whose rock-salt cell follows the charge, written by
   ``make_example_series.py`` with its cycler log): sequential Rietveld fits with the cycler's columns matched by
   time, the per-scan table and the operando figure.
Every step writes its result (JSON, curves, figure) into the output folder.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from refine.cli.main import COMMANDS, EXIT_NOT_CONVERGED, EXIT_OK, Command
from refine.examples import EXAMPLE_DATA as EXAMPLE
from refine.notation import format_esd, format_percent


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``refine demo``."""
    parser.add_argument("-o", "--output", default="demo_output", help="output folder (default demo_output)")
    parser.add_argument("--data", default=str(EXAMPLE), help="folder with the example data (default: bundled)")


def _say(lines: list[str], text: str) -> None:
    print(text, flush=True)
    lines.append(text)


def _integrate(data: Path, out: Path, lines: list[str]) -> Path:
    from refine.api import integrate

    image, poni, mask = (data / f"drs_na3v2o5_cu{s}" for s in (".tif", ".poni", "_mask.npy"))
    _say(lines, f"$ refine integrate {image} --poni {poni} --mask {mask} --polarization 0.99 --npt 3000 "
                f"-o {out / 'integrated'}")
    outputs = integrate(image, poni=poni, output=out / "integrated", mask=str(mask), polarization=0.99, npt=3000,
                        overwrite=True, no_progress=True)
    _say(lines, f"  pattern: {outputs[0].output}")
    return outputs[0].output


def _lebail(pattern_path: Path, out: Path, lines: list[str]) -> bool:
    from refine.api import lebail, phase

    _say(lines, f"$ refine lebail {pattern_path} --spacegroup Fm-3m --cell '4.65 4.65 4.65 90 90 90' --name drs "
                "--spacegroup Fm-3m --cell '3.62 3.62 3.62 90 90 90' --name cu --range 1:11.8 "
                "--background chebyshev:8 --refine cell,zero,W,Y,size --json lebail.json --plot lebail.png")
    phases = [phase("Fm-3m", "4.65 4.65 4.65 90 90 90", name="drs"),
              phase("Fm-3m", "3.62 3.62 3.62 90 90 90", name="cu")]
    result = lebail(pattern_path, phases, range="1:11.8", background="chebyshev:8", refine="cell,zero,W,Y,size",
                    json=out / "lebail.json", plot=out / "lebail.png")
    s = result.statistics
    state = "converged" if result.converged else "NOT converged"
    _say(lines, f"  Rwp {format_percent(s.Rwp)}, GOF {s.GOF:.2f}, {state}")
    for ph in (p.to_dict(reflections=False) for p in result.phases.values()):
        size = f", size {ph['size_nm']:.1f} nm" if ph.get("size_nm") else ""
        _say(lines, f"  {ph['name']}: a = {format_esd(ph['a'], ph['esd']['a'])} Å{size}  (simulated: "
                    f"{'4.642' if ph['name'] == 'drs' else '3.615'} Å)")
    _say(lines, "  (size: the simulation adds a 15 nm Scherrer width to the instrument's in quadrature inside a "
                "fixed-eta pseudo-Voigt, which the refined Lorentzian size term does not map one to one)")
    for warning in result.warnings:
        _say(lines, f"  warning: {warning}")
    _say(lines, f"  result: {out / 'lebail.json'}, figure: {out / 'lebail.png'}")
    return result.converged


def _rietveld(pattern_path: Path, data: Path, out: Path, lines: list[str]) -> bool:
    from refine.api import rietveld

    drs, cu = data / "drs_rocksalt.cif", data / "cu.cif"
    refine = ("scale", "cell", "zero", "W", "Y", "size", "uiso")
    _say(lines, f"$ refine rietveld {pattern_path} --phase {drs} --phase {cu} --range 1:11.8 "
                f"--background chebyshev:8 --refine {','.join(refine)} --json rietveld.json --plot rietveld.png")
    result = rietveld(pattern_path, [drs, cu], range="1:11.8", background="chebyshev:8", refine=refine,
                      json=out / "rietveld.json", plot=out / "rietveld.png")
    s = result.statistics
    state = "converged" if result.converged else "NOT converged"
    _say(lines, f"  Rwp {format_percent(s.Rwp)}, GOF {s.GOF:.2f}, {state} "
                "(the simulation's pseudo-Voigt rings are not TCH profiles)")
    for ph in (p.to_dict(reflections=False) for p in result.phases.values()):
        uiso = [v for n, v in result.params.valuesdict().items() if n.startswith(ph["name"]) and n.endswith("_uiso")]
        _say(lines, f"  {ph['name']}: a = {format_esd(ph['a'], ph['esd']['a'])} Å, Uiso {uiso[0]:.4f} Å², "
                    f"R_Bragg {format_percent(ph['R_Bragg'])}, weight fraction "
                    f"{format_esd(ph['weight_fraction'], ph.get('weight_fraction_esd'))}")
    _say(lines, "  (simulated: a = 4.642 / 3.615 Å, Uiso = B/8pi^2 = 0.0127 / 0.0076 A^2)")
    for warning in result.warnings:
        _say(lines, f"  warning: {warning}")
    _say(lines, f"  result: {out / 'rietveld.json'}, figure: {out / 'rietveld.png'}")
    return result.converged


def _pdf(data: Path, out: Path, lines: list[str]) -> bool:
    from refine.api import pdf_fit

    gr, avg, sup = data / "drs_two_phase.gr", data / "drs_rocksalt.cif", data / "drs_supercell.cif"
    _say(lines, f"$ refine pdf fit {gr} --phase {avg} --phase {sup},fixed --qmax 22 --qdamp 0.04 "
                "--json pdf.json --plot pdf.png")
    result = pdf_fit(gr, [avg, f"{sup},fixed"], qmax=22.0, qdamp=0.04, json=out / "pdf.json", plot=out / "pdf.png")
    _say(lines, f"  Rw {format_percent(result.statistics.Rw)}, "
                f"{'converged' if result.converged else 'NOT converged'}")
    for ph in (p.to_dict(reflections=False) for p in result.phases.values()):
        wf = ph.get("weight_fraction")
        _say(lines, f"  {ph['name']}: a = {ph['a']:.5f} Å, scale {ph['scale']:.3f}"
                    + (f", mass fraction {wf:.3f}" if wf is not None else ""))
    _say(lines, "  (simulated: rock salt a = 4.642 Å, scales 0.7 / 0.3)")
    for warning in result.warnings:
        _say(lines, f"  warning: {warning}")
    _say(lines, f"  result: {out / 'pdf.json'}, figure: {out / 'pdf.png'}")
    return result.converged


def _pdf_calc(data: Path, out: Path, lines: list[str]) -> None:
    import numpy as np

    from refine.api import pdf_calc

    sup = data / "drs_supercell.cif"
    _say(lines, f"$ refine pdf calc {sup} --qmax 22 --qdamp 0.04 --delta2 2 --rmax 20 -o supercell.gr "
                "--plot supercell_gr.png")
    start = time.perf_counter()
    result = pdf_calc(sup, qmax=22.0, qdamp=0.04, delta2=2.0, rmax=20.0, output=out / "supercell.gr",
                      plot=out / "supercell_gr.png")
    near = result.r < 3.0
    first = result.r[near][np.argmax(result.G[near])]
    _say(lines, f"  {result.natoms} atoms, nearest-neighbour (cation-O) peak at r = {first:.2f} Å, partials "
                f"{', '.join(result.partials)} ({time.perf_counter() - start:.2f} s)")
    _say(lines, f"  G(r): {out / 'supercell.gr'}, partials: {out / 'supercell.partials.csv'}, "
                f"figure: {out / 'supercell_gr.png'}")


def _simulate(data: Path, out: Path, lines: list[str]) -> None:
    import numpy as np

    from refine.api import simulate

    drs, cu = data / "drs_rocksalt.cif", data / "cu.cif"
    _say(lines, f"$ refine simulate {drs} {cu} --wavelength 0.1173 --range 1:11.8 --step 0.004 --fwhm 0.03 "
                "-o simulated.xye")
    pattern = simulate([drs, cu], wavelength=0.1173, range="1:11.8", step=0.004, fwhm=0.03,
                       output=out / "simulated.xye")
    y = pattern.y
    peaks = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > 0.05 * y.max())) + 1
    strongest = peaks[np.argsort(y[peaks])[::-1][:3]]
    _say(lines, f"  {len(peaks)} peaks above 5 % of the strongest; strongest at 2θ "
                + ", ".join(f"{pattern.x[i]:.3f}°" for i in sorted(strongest)))
    _say(lines, f"  pattern: {out / 'simulated.xye'} (the phases' Rietveld intensities, Gaussian peaks, no noise)")


def _operando(data: Path, out: Path, lines: list[str]) -> bool:
    from refine.api import sequential
    from refine.example_data import make_example_series as gen

    made = gen.make(out / "series_input")
    drs, cu = data / "drs_rocksalt.cif", data / "cu.cif"
    scans, fits = made["series"] / "*.xye", out / "operando"
    _say(lines, f"$ python -m refine.example_data.make_example_series {out / 'series_input'}")
    _say(lines, f"$ refine sequential '{scans}' --kind rietveld --phase {drs} --phase {cu} --wavelength 0.1173 "
                f"--background chebyshev:8 --echem {made['echem']} --echem-match time --scan-times 0:600 "
                f"-o {fits} --plot operando.png")
    result = sequential(str(scans), [drs, cu], kind="rietveld", output=fits, wavelength=0.1173,
                        background="chebyshev:8", echem=made["echem"], echem_match="time", scan_times=(0.0, 600.0),
                        plot=out / "operando.png")
    records, truth = result.records, gen.truth()
    converged = sum(bool(r["converged"]) for r in records)
    if converged < len(records):
        _say(lines, f"  {len(records)} scans, only {converged} converged: see {fits / 'sequential.csv'}")
        return False
    cells = [next(p for p in r["phases"] if p["name"] == "drs_rocksalt") for r in records]
    off = [abs(c["a"] - t["a"]) / c["esd"]["a"] for c, t in zip(cells, truth, strict=True)]
    v0 = cells[0]["volume"]
    low = min(range(len(cells)), key=lambda i: cells[i]["volume"])
    first, top = (format_esd(c["a"], c["esd"]["a"]) for c in (cells[0], cells[low]))
    _say(lines, f"  {len(records)} scans, all converged; drs_rocksalt a from {first} Å to {top} Å "
                f"at the top of charge (scan {low}, {records[low]['voltage']:.2f} V, ΔV/V0 "
                f"{100 * (cells[low]['volume'] / v0 - 1):+.2f} %)")
    _say(lines, f"  (simulated: a = 4.642 Å - 0.030 Å x charge passed / 0.667 mAh; every scan within "
                f"{max(off):.1f} esd of it)")
    _say(lines, f"  table: {fits / 'sequential.csv'}, figure: {out / 'operando.png'}")
    return True


def run(args: argparse.Namespace) -> int:
    """Run every demo step; exit 3 if a fit did not converge."""
    data = Path(args.data)
    from refine.io.paths import check_output_folder

    out = check_output_folder(args.output, "-o")
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    start = time.perf_counter()
    _say(lines, f"refine demo: example data in {data}, results in {out.resolve()}")
    _say(lines, "\n[1/7] integrate the 2D image (pyFAI)")
    pattern = _integrate(data, out, lines)
    _say(lines, "\n[2/7] Le Bail fit, two phases")
    ok = _lebail(pattern, out, lines)
    _say(lines, "\n[3/7] Rietveld fit, two phases from CIFs")
    ok = _rietveld(pattern, data, out, lines) and ok
    _say(lines, "\n[4/7] PDF fit, crystalline rock salt + fixed distorted supercell")
    ok = _pdf(data, out, lines) and ok
    _say(lines, "\n[5/7] G(r) of the supercell without fitting, with element-pair partials")
    _pdf_calc(data, out, lines)
    _say(lines, "\n[6/7] simulate the two phases' pattern at the same wavelength")
    _simulate(data, out, lines)
    _say(lines, "\n[7/7] operando series: sequential Rietveld fits with the cycler log, table and figure")
    ok = _operando(data, out, lines) and ok
    _say(lines, f"\ndone in {time.perf_counter() - start:.1f} s; summary: {out.resolve() / 'summary.txt'}")
    (out / "summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return EXIT_OK if ok else EXIT_NOT_CONVERGED


COMMANDS.register("demo", Command(help="run the main job on the bundled example data", configure=configure, run=run))
