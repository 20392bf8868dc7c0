"""``refine rietveld PATTERN --joint PATTERN2 --joint-instrument PRM``: a synthetic X-ray + neutron pair of one
rock-salt structure (X-ray intensities from pymatgen's XRDCalculator, neutron from its NDCalculator: independent
structure factors) refined jointly to the simulated cell; bad joint options exit 2."""

import csv
import json

import numpy as np
import pytest

from refine.cli.main import main
from refine.instrument import Instrument, Profile
from refine.io.instprm import write_instprm
from refine.io.patterns import write_pattern
from tests.powder.synthetic import drs_structure, simulate

PROFILE = {"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.002}
A_TRUE = 4.6455


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    calc = pytest.importorskip("pymatgen.analysis.diffraction.xrd")
    ncalc = pytest.importorskip("pymatgen.analysis.diffraction.neutron")
    from pymatgen.io.cif import CifWriter

    folder = tmp_path_factory.mktemp("joint")
    truth = drs_structure(A_TRUE)
    xp = calc.XRDCalculator(wavelength=0.72).get_pattern(truth, scaled=False, two_theta_range=(5, 46))
    npat = ncalc.NDCalculator(wavelength=1.54).get_pattern(truth, scaled=False, two_theta_range=(10, 130))
    x = simulate(np.asarray(xp.x), np.asarray(xp.y), np.arange(6.0, 45.0, 0.004), wavelength=0.72,
                 profile=PROFILE, counts=20000, background=300, seed=1)
    n = simulate(np.asarray(npat.x), np.asarray(npat.y), np.arange(12.0, 128.0, 0.05), wavelength=1.54,
                 profile={**PROFILE, "U": 60.0, "V": -40.0, "W": 40.0}, counts=5000, background=200, seed=2)
    n = n.replace(radiation="neutron")
    write_pattern(x, folder / "x.xye")
    write_pattern(n, folder / "n.xye")
    start = Profile(U=1.0, V=-0.3, W=0.6, X=0.4, Y=1.2, sh_l=0.002)
    write_instprm(Instrument.synchrotron(0.72, polarization=0.5, profile=start), folder / "x.instprm")
    write_instprm(Instrument.neutron(1.54, profile=Profile(U=50.0, V=-30.0, W=45.0, X=0.4, Y=1.2, sh_l=0.002)),
                  folder / "n.instprm")
    CifWriter(drs_structure(4.642), symprec=0.01).write_file(str(folder / "drs.cif"))
    return folder


def _args(folder, *extra):
    return ["rietveld", str(folder / "x.xye"), "--instrument", str(folder / "x.instprm"), "--phase",
            str(folder / "drs.cif"), "--refine", "scale,cell,W,X,Y", "--no-dispersion", *extra]


def test_joint_xray_neutron_cell(files, tmp_path, capsys):
    out, hkl = tmp_path / "joint.json", tmp_path / "joint.csv"
    code = main(_args(files, "--joint", str(files / "n.xye"), "--joint-instrument", str(files / "n.instprm"),
                      "--joint-refine", "scale,U,V,W", "--json", str(out), "--plot", str(tmp_path / "j.png"),
                      "--hkl", str(hkl), "--plot-hkl", "4"))
    assert code == 0
    doc = json.loads(out.read_text())
    (ph,) = doc["phases"]
    assert abs(ph["a"] - A_TRUE) < 3 * ph["esd"]["a"], (ph["a"], ph["esd"]["a"])
    assert set(doc["provenance"]["settings"]["prefixes"]) == {"x_", "n_"}
    stdout = capsys.readouterr().out
    assert "x: Rwp" in stdout and "n: Rwp" in stdout
    assert (tmp_path / "j.png").stat().st_size > 10_000
    # One reflection list per phase holding both patterns' lines; the CSV has a dataset column and |F|² in e² for
    # the X-ray rows, fm² for the neutron rows.
    assert {r["dataset"] for r in ph["reflections"]} == {"x", "n"}
    with open(hkl, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(ph["reflections"]) and list(rows[0])[:2] == ["phase", "dataset"]
    neutron = [r for r in rows if r["dataset"] == "n"]
    assert neutron and all(r["Fc2[fm^2]"] and not r["Fc2[e^2]"] for r in neutron)
    # Neutron Fc² by hand: F = 4(0.6 b_Na + 0.4 b_V ± b_O), + for all-even, - for all-odd hkl (no ADPs in the CIF).
    import periodictable

    b = {el: periodictable.elements.symbol(el).neutron.b_c for el in ("Na", "V", "O")}
    for r in neutron:
        sign = 1.0 if int(r["h"]) % 2 == 0 else -1.0
        expected = (4 * (0.6 * b["Na"] + 0.4 * b["V"] + sign * b["O"])) ** 2
        assert float(r["Fc2[fm^2]"]) == pytest.approx(expected, rel=1e-6), r


def test_joint_bad_options_exit_2(files, tmp_path, capsys):
    assert main(_args(files, "--joint", str(files / "n.xye"))) == 2  # no --joint-instrument
    assert main(_args(files, "--joint-instrument", str(files / "n.instprm"))) == 2  # no --joint
    assert main(_args(files, "--joint", str(files / "n.xye"), "--joint-instrument", str(files / "n.instprm"),
                      "--joint-range", "10:20", "--joint-range", "30:40")) == 2
    err = capsys.readouterr().err
    assert "--joint-instrument" in err and "--joint" in err and "--joint-range" in err
