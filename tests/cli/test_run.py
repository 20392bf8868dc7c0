"""``refine run CONFIG.toml``: a pipeline gives the same files as its commands run directly; dry run, exit codes,
bad configurations, glob expansion, and the bundled example pipeline against the simulation's truth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from refine.cli.main import COMMANDS, main
from refine.cli.run import option_args, read_pipeline
from refine.errors import InputError
from refine.examples import EXAMPLE_DATA as EXAMPLE
from tests.conftest import shared_path


def _ni_steps() -> tuple[list[str], list[str]]:
    """`pdf reduce` of the PDFgetX3 Ni data, then `pdf fit` of the written G(r) with the Ni CIF (Qmax 25)."""
    folder = shared_path("pdf_reduction", "pdfttp_ch04_Ni_pdfgetx3")
    cif = shared_path("cif", "Ni_Fm-3m.cif")
    reduce = ["pdf", "reduce", str(folder / "Ni.chi"), "--composition", "Ni", "--qmax", "25", "--qmin", "0.85",
              "--qmaxinst", "29", "--background", str(folder / "kapton.chi"), "--bgscale", "0.4", "--rmax", "20",
              "-o", "out/Ni.gr"]
    fit = ["pdf", "fit", "out/Ni.gr", "--qmax", "25", "--phase", str(cif), "--qdamp", "0.05", "--rmin", "1.5",
           "--rmax", "20", "--json", "out/ni.json"]
    return reduce, fit


def _ni_config(tmp_path: Path, *, fit_extra: str = "") -> Path:
    folder = shared_path("pdf_reduction", "pdfttp_ch04_Ni_pdfgetx3")
    cif = shared_path("cif", "Ni_Fm-3m.cif")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "ni.toml"
    path.write_text(f"""schema = "refine.config/1"
[defaults]
qmax = 25            # both pdf commands take --qmax
[[step]]
name = "reduce"
command = "pdf reduce"
inputs = ["{folder / 'Ni.chi'}"]
[step.options]
composition = "Ni"
qmin = 0.85
qmaxinst = 29
background = "{folder / 'kapton.chi'}"
bgscale = 0.4
rmax = 20
o = "out/Ni.gr"
[[step]]
name = "fit"
command = "pdf fit"
inputs = ["out/*.gr"]
options = {{ phase = ["{cif}"], qdamp = 0.05, rmin = 1.5, rmax = 20, json = "out/ni.json"{fit_extra} }}
""", encoding="utf-8")
    return path


def test_run_is_registered():
    assert "run" in COMMANDS


def test_pipeline_equals_direct_commands(tmp_path, monkeypatch, capsys):
    """Outputs are byte-identical to the same two commands run through main(); run.json records each step; the
    working directory of the caller does not matter and is restored."""
    config = _ni_config(tmp_path / "pipe")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", str(config)]) == 0
    assert Path.cwd() == elsewhere and not any(elsewhere.iterdir())
    out = capsys.readouterr().out
    reduce, fit = _ni_steps()
    assert "$ refine pdf fit out/Ni.gr --qmax 25 --phase" in out  # the printed, equivalent command line

    direct = tmp_path / "direct"
    direct.mkdir()
    monkeypatch.chdir(direct)
    assert main(reduce) == 0 and main(fit) == 0
    written = sorted(p.name for p in (config.parent / "out").iterdir())
    assert written == sorted(p.name for p in (direct / "out").iterdir())
    assert {"Ni.gr", "ni.json"} <= set(written)
    for name in written:
        assert (config.parent / "out" / name).read_bytes() == (direct / "out" / name).read_bytes(), name

    log = json.loads((config.parent / "run.json").read_text())
    assert log["schema"] == "refine.run/1" and log["config"] == str(config.resolve())
    assert len(log["sha256"]) == 64 and log["exit_code"] == 0
    assert [s["exit_code"] for s in log["steps"]] == [0, 0]
    assert all(s["duration_s"] >= 0 for s in log["steps"])
    assert sorted(log["steps"][0]["argv"]) == sorted(reduce)  # [defaults] qmax placed first, same arguments
    assert sorted(log["steps"][1]["argv"]) == sorted(fit)
    # the fit itself is sane: Ni is fcc with a = 3.524 A at room temperature (PDFgui on this sample: 3.52392)
    (phase,) = json.loads((config.parent / "out" / "ni.json").read_text())["phases"]
    assert phase["a"] == pytest.approx(3.524, abs=0.005)


def test_dry_run_writes_nothing(tmp_path, capsys):
    config = _ni_config(tmp_path)
    assert main(["run", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "$ refine pdf reduce" in out and "$ refine pdf fit 'out/*.gr'" in out  # glob not yet matched: as written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ni.toml"]


def test_not_converged_continues_and_exits_3(tmp_path, capsys):
    config = _ni_config(tmp_path, fit_extra=", max_nfev = 3")
    cif = shared_path("cif", "Ni_Fm-3m.cif")
    config.write_text(config.read_text() + f'[[step]]\nname = "again"\ncommand = "pdf fit"\ninputs = ["out/Ni.gr"]\n'
                      f'options = {{ phase = ["{cif}"], rmin = 1.5, rmax = 10, json = "out/again.json" }}\n')
    assert main(["run", str(config), "--log", str(tmp_path / "log" / "my.json")]) == 3
    log = json.loads((tmp_path / "log" / "my.json").read_text())
    assert [s["exit_code"] for s in log["steps"]] == [0, 3, 0] and log["exit_code"] == 3
    assert not (tmp_path / "run.json").exists()


def test_bad_input_stops_with_2(tmp_path, capsys):
    config = _ni_config(tmp_path)
    text = config.read_text().replace('composition = "Ni"', 'composition = "Qz"')  # unknown element in step 1
    config.write_text(text)
    assert main(["run", str(config)]) == 2
    assert "unknown element" in capsys.readouterr().err
    log = json.loads((tmp_path / "run.json").read_text())
    assert [s["exit_code"] for s in log["steps"]] == [2] and log["exit_code"] == 2
    assert not (tmp_path / "out" / "ni.json").exists()


def test_from_starts_at_named_step(tmp_path, capsys):
    config = _ni_config(tmp_path)
    assert main(["run", str(config), "--from", "fit"]) == 2  # nothing reduced yet: the glob matches nothing
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(config) in err and "'out/*.gr' matches no file" in err
    assert main(["run", str(config)]) == 0
    (tmp_path / "out" / "ni.json").unlink()
    assert main(["run", str(config), "--from", "fit"]) == 0
    assert [s["name"] for s in json.loads((tmp_path / "run.json").read_text())["steps"]] == ["fit"]
    assert main(["run", str(config), "--from", "nope"]) == 2


@pytest.mark.parametrize(("text", "message"), [
    ('[[step]]\ncommand = "integrate"\n', "no schema"),
    ('schema = "refine.config/2"\n[[step]]\ncommand = "integrate"\n', "unknown schema 'refine.config/2'"),
    ('schema = "refine.config/1"\n', "no steps"),
    ('schema = "refine.config/1"\n[[step]]\ncommand = "integrat"\n', "unknown command 'integrat'"),
    ('schema = "refine.config/1"\n[[step]]\ncommand = "pdf reduse"\n', "unknown command 'pdf reduse'"),
    ('schema = "refine.config/1"\n[[step]]\ncommand = "pdf"\n', "needs a sub-command"),
    ('schema = "refine.config/1"\n[[step]]\ncommand = "run"\n', "cannot call 'run'"),
    ('schema = "refine.config/1"\n[[step]]\ncommand = "lebail"\noptions = { range = { lo = 1 } }\n', "nested table"),
    ('schema = "refine.config/1"\n[[step]]\ncommand = "lebail"\noptions = { rang = "1:2" }\n', "no option --rang"),
    ('schema = "refine.config/1"\n[[step]]\ncommand = "lebail"\nparams = 1\n', "unknown key 'params'"),
    ('schema = "refine.config/1"\n\n[[step]]\ncommand = = "lebail"\n', "TOML syntax error: Invalid value (at line 4"),
    ('schema = "refine.config/1"\n[[step]]\nname = "a"\ncommand = "lebail"\n[[step]]\nname = "a"\ncommand = "pawley"\n',
     "two steps are named 'a'"),
])
def test_bad_configuration_exits_2_naming_the_file(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(config) in err and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # checked before anything runs


def test_glob_natural_sort_and_option_words(tmp_path, capsys):
    for name in ("scan_10.xy", "scan_2.xy", "scan_1.xy", "other.dat"):
        (tmp_path / name).write_text("1 2\n")
    config = tmp_path / "g.toml"
    config.write_text('schema = "refine.config/1"\n[defaults]\nwavelength = 0.1173\n[[step]]\ncommand = "lebail"\n'
                      'inputs = ["scan_*.xy"]\noptions = { instrument = "x.instprm", exclude = ["1:2", "3:4"] }\n'
                      '[[step]]\ncommand = "pdf reduce"\ninputs = ["scan_*.xy"]\noptions = { lorch = true, '
                      'qmin = false, o = "x/" }\n')
    assert main(["run", str(config), "--dry-run"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("$")]
    # --wavelength from [defaults] is left out where --instrument excludes it, added where accepted
    assert lines == ["$ refine lebail scan_1.xy scan_2.xy scan_10.xy --instrument x.instprm --exclude 1:2 "
                     "--exclude 3:4",
                     "$ refine pdf reduce scan_1.xy scan_2.xy scan_10.xy --wavelength 0.1173 --lorch -o x/"]
    assert option_args("max_nfev", 3) == ["--max-nfev", "3"] and option_args("o", "d") == ["-o", "d"]


def test_read_pipeline_rejects_non_utf8(tmp_path):
    path = tmp_path / "b.toml"
    path.write_bytes(b"schema = \"\xff\"\n")
    with pytest.raises(InputError, match="UTF-8"):
        read_pipeline(path)


def test_example_pipeline(tmp_path, capsys):
    """example_data/pipeline.toml: integrate the bundled image and Le Bail fit it with the demo's two phases; the
    cells come back to the simulation's (make_example_data.py: a = 4.642 and 3.615 A)."""
    data = tmp_path / "example_data"
    data.mkdir()
    for path in [*EXAMPLE.glob("drs_na3v2o5_cu*"), EXAMPLE / "pipeline.toml"]:
        shutil.copy(path, data)  # bundled example files (in the repo), copied so the run writes under tmp_path
    assert main(["run", str(data / "pipeline.toml")]) == 0
    doc = json.loads((tmp_path / "pipeline_output" / "lebail.json").read_text())
    a = {ph["name"]: ph["a"] for ph in doc["phases"]}
    assert a["drs"] == pytest.approx(4.642, abs=0.002) and a["cu"] == pytest.approx(3.615, abs=0.002)
    assert doc["statistics"]["Rwp"] < 0.05
    log = json.loads((data / "run.json").read_text())
    assert [s["name"] for s in log["steps"]] == ["integrate", "lebail"] and log["exit_code"] == 0
