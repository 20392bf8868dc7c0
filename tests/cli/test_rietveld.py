"""`refine rietveld` command line: result file with R_Bragg and weight fractions, refined CIF, figure, bond
table, exit codes (synthetic rock-salt pattern from pymatgen intensities, Poisson noise, fixed seed)."""

import json

import numpy as np
import pytest

from refine.cli.main import main
from refine.io import write_pattern
from refine.io.structures import read_structure
from tests.powder.synthetic import drs_structure, pymatgen_peaks, simulate

PROFILE = {"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.0}
LAM = 0.1173


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    pytest.importorskip("pymatgen.core")
    from pymatgen.io.cif import CifWriter

    folder = tmp_path_factory.mktemp("rietveld_cli")
    truth = drs_structure()
    pos, inten = pymatgen_peaks(truth, LAM, (0.5, 13.5))
    pattern = simulate(pos, inten, np.arange(1.0, 13.0, 0.002), wavelength=LAM, profile=PROFILE, counts=20000,
                       background=300, seed=5)
    data = folder / "drs.xye"
    write_pattern(pattern, data)
    CifWriter(drs_structure(a=4.65), symprec=0.01).write_file(folder / "drs.cif")
    return data, folder / "drs.cif"


def test_rietveld_writes_result_cif_figure(files, tmp_path, capsys):
    data, cif = files
    out, fig, cif_out = tmp_path / "r.json", tmp_path / "r.png", tmp_path / "r.cif"
    code = main(["rietveld", str(data), "--phase", str(cif), "--wavelength", str(LAM), "--refine",
                 "scale,cell,W,X,Y,adp", "--bonds", "O2", "--json", str(out), "--plot", str(fig),
                 "--cif-out", str(cif_out)])
    text = capsys.readouterr().out
    assert code == 0, text
    doc = json.loads(out.read_text())
    assert doc["kind"] == "rietveld" and doc["converged"]
    phase = doc["phases"][0]
    assert abs(phase["a"] - 4.642) < 3 * phase["esd"]["a"], phase
    assert 0 < phase["R_Bragg"] < 0.05 and phase["weight_fraction"] == pytest.approx(1.0)
    assert doc["statistics"]["GOF"] < 1.5
    assert fig.stat().st_size > 0
    refined = read_structure(cif_out)
    assert refined.lattice.a == pytest.approx(phase["a"], abs=1e-5)
    assert "(" in cif_out.read_text()  # esds written
    # Rock salt: O on 4b has six cation neighbours (4a is Na/V mixed) at a/2.
    assert f"{phase['a'] / 2:.4f} A" in text


def test_rietveld_bad_input_exit_2(files, tmp_path, capsys):
    data, cif = files
    assert main(["rietveld", str(data), "--phase", str(tmp_path / "missing.cif"), "--wavelength", "0.1"]) == 2
    assert main(["rietveld", str(data), "--wavelength", "0.1"]) == 2
    assert main(["rietveld", str(data), "--phase", str(cif), "--wavelength", str(LAM), "--refine", "nonsense"]) == 2
    common = ["rietveld", str(data), "--phase", str(cif), "--wavelength", str(LAM)]
    assert main([*common, "--refine", "scale,texture"]) == 2  # texture needs --texture ORDER
    assert main([*common, "--refine", "scale,roughness"]) == 2  # a Debye-Scherrer wavelength-only instrument
    with pytest.raises(SystemExit) as exc:
        main([*common, "--po-axis", "0 0 0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--refine" in err and "--phase" in err and "texture" in err and "Bragg-Brentano" in err
