"""``refine rietveld --restrain EXPR=T:S`` and ``--restrain-bond A-B=D:S``: a restraint is one more observation,
so the refined value is the inverse-variance mean of the unrestrained estimate and the target (checked on a
synthetic rock salt, pymatgen intensities, Poisson noise); a bond restraint on Na-O (= a/2) acts as the same
restraint on a with twice the sigma; typos exit 2."""

import json

import numpy as np
import pytest

from refine.cli.main import main
from refine.io.patterns import write_pattern
from tests.powder.synthetic import drs_structure, pymatgen_peaks, simulate

LAM = 0.72
PROFILE = {"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.002}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from pymatgen.io.cif import CifWriter

    folder = tmp_path_factory.mktemp("restraints")
    pos, inten = pymatgen_peaks(drs_structure(), LAM, (4.0, 36.0))
    pat = simulate(pos, inten, np.arange(5.0, 35.0, 0.004), wavelength=LAM, profile=PROFILE, counts=3000,
                   background=300, seed=6)
    write_pattern(pat, folder / "drs.xye")
    CifWriter(drs_structure(4.645), symprec=0.01).write_file(str(folder / "drs.cif"))
    return folder


def _fit(files, tmp_path, *extra):
    out = tmp_path / "fit.json"
    assert main(["rietveld", str(files / "drs.xye"), "--phase", str(files / "drs.cif"), "--wavelength", str(LAM),
                 "--no-dispersion", "--refine", "scale,cell,W,X,Y", "--json", str(out), *extra]) == 0
    doc = json.loads(out.read_text())
    a = doc["parameters"]["drs_a"]
    return float(a["value"]), float(a["esd"] / np.sqrt(doc["statistics"]["chi2_red"]))


def test_restraint_is_an_inverse_variance_weighted_observation(files, tmp_path):
    a_free, s_free = _fit(files, tmp_path)
    target, sigma = a_free + 4 * s_free, s_free  # as uncertain as the data, 4 sigma away
    expected = (a_free / s_free**2 + target / sigma**2) / (1 / s_free**2 + 1 / sigma**2)
    a_expr, _ = _fit(files, tmp_path, "--restrain", f"drs_a={target!r}:{sigma!r}")
    assert a_expr == pytest.approx(expected, abs=0.1 * s_free)
    a_bond, _ = _fit(files, tmp_path, "--restrain-bond", f"Na0-O2={target / 2!r}:{sigma / 2!r}")
    assert a_bond == pytest.approx(expected, abs=0.1 * s_free)


@pytest.mark.parametrize("extra, message", [
    (["--restrain", "drs_q=1:0.1"], "drs_q"),
    (["--restrain-bond", "Na0-X9=2.3:0.01"], "X9"),
])
def test_bad_restraints_exit_2(files, tmp_path, capsys, extra, message):
    assert main(["rietveld", str(files / "drs.xye"), "--phase", str(files / "drs.cif"), "--wavelength", str(LAM),
                 *extra]) == 2
    assert message in capsys.readouterr().err


def test_malformed_restraint_is_rejected_by_the_parser(files):
    with pytest.raises(SystemExit) as exc:
        main(["rietveld", str(files / "drs.xye"), "--phase", str(files / "drs.cif"), "--wavelength", str(LAM),
              "--restrain", "drs_a=4.6"])
    assert exc.value.code == 2
