"""``refine identify``: search–match of a pattern against a folder of CIFs from the command line (exit 2 on bad
input)."""

from __future__ import annotations

import json
import shutil

import pytest

import refine
from refine.cli.main import main
from tests.conftest import data_file

LIBRARY = ("Na3V2PO43_NASICON.cif", "NaCl.cif", "Ni.cif", "PbSO4.cif", "Si.cif", "TiO2_anatase.cif",
           "TiO2_rutile.cif", "Al2O3_corundum.cif")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A library of 8 CIFs and a synchrotron pattern of NaCl + rutile (Gaussian peaks, Poisson noise)."""
    root = tmp_path_factory.mktemp("identify")
    lib = root / "lib"
    lib.mkdir()
    for name in LIBRARY:
        shutil.copy(data_file(name), lib / name)
    nacl = refine.simulate(lib / "NaCl.cif", wavelength=0.5, range="3:30", step=0.005, fwhm=0.03)
    rutile = refine.simulate(lib / "TiO2_rutile.cif", wavelength=0.5, range="3:30", step=0.005, fwhm=0.03)
    import numpy as np

    counts = np.random.default_rng(4).poisson(0.6 * nacl.y + 0.4 * rutile.y * 3 + 50).astype(float)
    pattern = nacl.replace(y=counts, sigma=np.sqrt(np.maximum(counts, 1)), sigma_source="poisson")
    path = root / "mix.xye"
    refine.io.write_pattern(pattern, path)
    return lib, path, root


def test_identify_ranks_the_two_phases_first_and_writes_json(case, capsys):
    lib, path, root = case
    out = root / "id.json"
    assert main(["identify", str(path), "--library", str(lib), "--wavelength", "0.5", "--index",
                 str(root / "index.npz"), "--fit", "lebail", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "8 library phases compared" in text
    document = json.loads(out.read_text())
    assert document["schema"] == "refine-identify/1" and document["kind"] == "identify"
    mixture = [m["name"] for m in document["search"]["matches"] if m["in_mixture"]]
    assert sorted(mixture) == ["NaCl", "TiO2_rutile"]
    assert document["fit"]["kind"] == "lebail"


def test_elements_filter_and_no_fit(case, capsys):
    lib, path, root = case
    assert main(["identify", str(path), "--library", str(lib), "--wavelength", "0.5", "--elements", "Ti,O",
                 "--index", str(root / "index.npz"), "--fit", "none"]) == 0
    text = capsys.readouterr().out
    assert "2 library phases compared" in text  # rutile and anatase: the phases made of Ti and O only
    assert "NaCl" not in text


@pytest.mark.parametrize("args, message", [
    (["--library", "missing-folder"], "missing-folder: the library must be a folder"),
    (["--library", "LIB", "--max-phases", "0"], "--max-phases: must be 1 to 8"),
    (["--library", "LIB", "--fit", "rietveld", "--strain", "0.5"], "--strain: must be >= 0 and < 0.2"),
])
def test_bad_input_is_one_line_exit_2(case, capsys, args, message):
    lib, path, root = case
    args = [str(lib) if a == "LIB" else a for a in args]
    assert main(["identify", str(path), "--wavelength", "0.5", "--index", str(root / "index.npz"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err, err
