"""Write a simulated operando series: 12 powder patterns of the DRS cathode (+ Cu current collector) whose rock-salt
lattice parameter follows the state of charge, and the cycler's electrochemistry table.

    python refine/example_data/make_example_series.py OUT_DIR
    python -m refine.example_data.make_example_series OUT_DIR   # the same, from an installed refine

Seeded and deterministic. Model (the truth):

* the cell is charged at +0.5 mA for 80 min, then discharged at -0.5 mA; the cycler logs every 60 s from 0 to
  7200 s (``cycler.txt``, tab-separated like an EC-Lab export: ``time/s``, ``Ewe/V``, ``<I>/mA``, ``Q-Qo/mA.h``);
* one pattern every 600 s on the cycler's clock, scan i at t = 600 i s (``series/scan_00.xye`` ... ``scan_11.xye``);
* the DRS rock salt (make_example_data.py's phase: Fm-3m, Na0.6V0.4 / O, B 1.0 Å²) contracts linearly with the
  charge passed, a = 4.642 Å − 0.030 Å · Q/Q_top (Q_top = 0.667 mAh, the top of charge): 4.642 → 4.612 → 4.627 Å;
  the Cu phase (a = 3.615 Å, 5 % of the strongest DRS ring) does not change;
* each pattern is the example's 1D model (pseudo-Voigt rings with the Caglioti width and 15 nm Scherrer
  broadening, Debye-Scherrer Lorentz factor, air-scatter background) at λ = 0.1173 Å on 2θ = 1-11.4° in 0.005°
  steps, as integrated and polarization-corrected counts (strongest DRS peak about 20 000), Poisson noise,
  sigma = sqrt(counts).

Fit it with (the cycler rows are matched to the scans by time)::

    refine sequential OUT_DIR/series/*.xye --phase refine/example_data/drs_rocksalt.cif \\
        --phase refine/example_data/cu.cif --wavelength 0.1173 --background chebyshev:8 \\
        --echem OUT_DIR/cycler.txt --echem-match time --scan-times 0:600 -o OUT_DIR/fits
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from refine.example_data import make_example_data as base

SEED = 20261205
NSCANS = 12
SCAN_STEP_S = 600.0  # scan i at t = i * SCAN_STEP_S on the cycler's clock
LOG_STEP_S = 60.0
END_S = 7200.0
CURRENT_MA = 0.5
CHARGE_END_S = 4800.0
A0, DA = base.DRS["a"], 0.030  # Å: a = A0 - DA * Q / Q_TOP
Q_TOP = CURRENT_MA * CHARGE_END_S / 3600.0  # mAh at the top of charge
WAVELENGTH_A = base.WAVELENGTH_A
TTH = (1.0, 11.4, 0.005)  # first, last, step (degrees); 11.4 lies between rings for every scan
PEAK_COUNTS = 20000.0


def capacity(t: np.ndarray) -> np.ndarray:
    """Charge passed (mAh) at time t (s): +CURRENT_MA up to CHARGE_END_S, then -CURRENT_MA."""
    t = np.asarray(t, dtype=float)
    return CURRENT_MA * (np.minimum(t, CHARGE_END_S) - np.maximum(t - CHARGE_END_S, 0.0)) / 3600.0


def current(t: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(t) < CHARGE_END_S, CURRENT_MA, -CURRENT_MA)


def voltage(t: np.ndarray) -> np.ndarray:
    """Cell voltage (V): an open-circuit curve of the state of charge plus 50 mV of polarization with the current."""
    x = capacity(t) / Q_TOP
    ocv = 2.2 + 1.6 * x + 0.15 * np.tanh((x - 0.5) / 0.15)
    return ocv + 0.05 * np.sign(current(t))


def lattice(t: np.ndarray) -> np.ndarray:
    """True DRS lattice parameter (Å) at time t (s)."""
    return A0 - DA * capacity(t) / Q_TOP


def scan_times() -> np.ndarray:
    return SCAN_STEP_S * np.arange(NSCANS)


def truth() -> list[dict[str, float]]:
    """Per scan: index, time (s), a (Å), voltage (V), current (mA), capacity (mAh) (what a fit should recover)."""
    t = scan_times()
    return [{"index": i, "time": float(t[i]), "a": float(lattice(t[i])), "voltage": float(voltage(t[i])),
             "current": float(current(t[i])), "capacity": float(capacity(t[i]))} for i in range(NSCANS)]


def two_theta() -> np.ndarray:
    first, last, step = TTH
    return np.round(first + step * np.arange(int(round((last - first) / step)) + 1), 6)


def ideal_pattern(a: float, tth: np.ndarray) -> np.ndarray:
    """Expected counts: the example's DRS (at lattice ``a``) + Cu model and background."""
    drs = {**base.DRS, "a": a}
    rings = base.pattern(tth, float(tth[-1]), phases=((drs, 1.0), (base.CU, base.CU_FRACTION)),
                         wavelength=WAVELENGTH_A)
    return PEAK_COUNTS * (rings + base.background(tth))


def write_cycler(path: Path) -> None:
    """The cycler log, tab-separated with an EC-Lab-like header."""
    t = np.arange(0.0, END_S + LOG_STEP_S / 2, LOG_STEP_S)
    rows = np.column_stack([t, voltage(t), current(t), capacity(t)])
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("time/s\tEwe/V\t<I>/mA\tQ-Qo/mA.h\n")
        np.savetxt(fh, rows, fmt=("%.1f", "%.5f", "%.4f", "%.6f"), delimiter="\t")


def make(folder: str | Path) -> dict[str, Path]:
    """Write ``series/scan_00.xye`` ... ``scan_11.xye`` and ``cycler.txt`` into ``folder``.

    Returns
    -------
    dict
        ``{"series": <folder of the scans>, "echem": <cycler table>, "scan_00": ..., ..., "scan_11": ...}``.
    """
    from refine.data import Pattern
    from refine.io import write_pattern

    folder = Path(folder)
    series = folder / "series"
    series.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"series": series, "echem": folder / "cycler.txt"}
    write_cycler(paths["echem"])
    rng = np.random.default_rng(SEED)
    tth = two_theta()
    for row in truth():
        counts = rng.poisson(ideal_pattern(row["a"], tth)).astype(float)
        pattern = Pattern(x=tth, y=counts, sigma=np.sqrt(np.maximum(counts, 1.0)), sigma_source="file",
                          radiation="xray", wavelength=WAVELENGTH_A, corrections=frozenset({"polarization"}))
        name = f"scan_{row['index']:02d}"
        paths[name] = series / f"{name}.xye"
        write_pattern(pattern, paths[name], header=[
            f"simulated operando scan {row['index']} of {NSCANS} (make_example_series.py; seeded)",
            f"time {row['time']:.0f} s on the cycler clock; truth: DRS a = {row['a']:.5f} A, Cu a = 3.615 A"])
    return paths


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python make_example_series.py OUT_DIR")
    paths = make(args[0])
    print(f"series: {paths['series']} ({NSCANS} scans)\nechem: {paths['echem']}")


if __name__ == "__main__":
    main()
