"""``--constrain NAME=EXPR`` on the powder commands: an orthorhombic phase held at constant volume (as the
NaVPO4F Pna21 phase of the operando study) keeps V = V0 exactly while a and b refine; bad constraints exit 2."""

import json

import numpy as np
import pytest

from refine.cli.main import main
from refine.io.patterns import write_pattern
from tests.powder.synthetic import navpo4f_structure, pymatgen_peaks, simulate

LAM = 0.72
PROFILE = {"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.002}


@pytest.fixture(scope="module")
def pattern_file(tmp_path_factory):
    # truth: a, b shrink 0.2 %, c grows so that the volume stays 851.12 A^3
    a, b = 12.7547 * 0.998, 6.2716 * 0.998
    c = 851.12 / (a * b)
    pos, inten = pymatgen_peaks(navpo4f_structure(a, b, c), LAM, (4.5, 30.5))
    pat = simulate(pos, inten, np.arange(5.0, 30.0, 0.004), wavelength=LAM, profile=PROFILE, counts=20000,
                   background=300, seed=4)
    path = tmp_path_factory.mktemp("constrain") / "navpo4f.xye"
    write_pattern(pat, path)
    return path, (a, b, c)


def _args(path, out, *extra):
    return ["lebail", str(path), "--spacegroup", "Pna21", "--cell", "12.7547 6.2716 10.6400 90 90 90",
            "--name", "nvpf", "--wavelength", str(LAM), "--json", str(out), *extra]


def test_constant_volume(pattern_file, tmp_path):
    path, (a, b, c) = pattern_file
    out = tmp_path / "fit.json"
    assert main(_args(path, out, "--constrain", "nvpf_c=851.12/(nvpf_a*nvpf_b)")) == 0
    doc = json.loads(out.read_text())
    (ph,) = doc["phases"]
    assert ph["volume"] == pytest.approx(851.12, rel=1e-12)
    params = doc["parameters"]
    assert params["nvpf_c"]["vary"] is False and params["nvpf_a"]["vary"] is True
    for name, truth in (("nvpf_a", a), ("nvpf_b", b)):
        assert abs(params[name]["value"] - truth) < 3 * params[name]["esd"], name
    assert ph["c"] == pytest.approx(c, rel=3e-4)


@pytest.mark.parametrize("constraint, message", [("nvpf_q=1", "no parameter"), ("nvpf_c=nope*2", "nope"),
                                                 ("nvpf_c", "NAME=EXPR")])
def test_bad_constraints_exit_2(pattern_file, tmp_path, capsys, constraint, message):
    path, _ = pattern_file
    try:
        code = main(_args(path, tmp_path / "fit.json", "--constrain", constraint))
    except SystemExit as exc:  # argparse rejects a malformed NAME=EXPR
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("expr", ["zero+0*float(open('secret.txt').read())", "zero+[1 for _ in iter(int, 1)][0]",
                                  "(lambda: zero)()", "zero.__class__.__base__", "zero+__import__('os').getpid()"])
def test_expression_that_is_not_arithmetic_exits_2_and_reads_nothing(pattern_file, tmp_path, capsys, monkeypatch,
                                                                      expr):
    """The issue's leak (a 0600 file read into the result JSON) and hang (a loop): refused before lmfit runs."""
    path, _ = pattern_file
    (tmp_path / "secret.txt").write_text("7356.25\n")
    (tmp_path / "secret.txt").chmod(0o600)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "fit.json"
    assert main(_args(path, out, "--constrain", f"zero={expr}")) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and err.startswith("refine lebail: error: --constrain")
    assert "is not allowed" in err and "7356" not in captured.out + captured.err
    assert not out.exists()
