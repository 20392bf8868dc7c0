"""``refine run CONFIG.toml``: a pipeline gives the same files as its commands run directly; dry run, exit codes,
bad configurations, glob expansion, and the bundled example pipeline against the simulation's truth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from refine.cli.main import COMMANDS, main
from refine.cli.pipeline import read_pipeline
from refine.cli.run import option_args
from refine.errors import InputError
from refine.examples import EXAMPLE_DATA as EXAMPLE
from tests.conftest import data_file
from tests.pdf.synthetic import NI_A, Q_GRID, container, ni_cluster_iq, write_chi


def _ni_files(folder: Path) -> tuple[Path, Path, Path]:
    """(Ni I(Q), container I(Q), Ni CIF): a Debye-equation Ni cluster plus 0.4 × a container, and the container."""
    folder.mkdir(parents=True, exist_ok=True)
    sample = write_chi(folder / "Ni.chi", Q_GRID, ni_cluster_iq() + 0.4 * container(Q_GRID))
    background = write_chi(folder / "kapton.chi", Q_GRID, container(Q_GRID))
    return sample, background, data_file("Ni.cif")


def _ni_steps(folder: Path) -> tuple[list[str], list[str]]:
    """`pdf reduce` of the synthetic Ni I(Q) with its container, then `pdf fit` of the written G(r) (Qmax 25)."""
    sample, background, cif = _ni_files(folder)
    reduce = ["pdf", "reduce", str(sample), "--composition", "Ni", "--qmax", "25", "--qmin", "0.85",
              "--qmaxinst", "27", "--background", str(background), "--bgscale", "0.4", "--rmax", "20",
              "-o", "out/Ni.gr"]
    fit = ["pdf", "fit", "out/Ni.gr", "--qmax", "25", "--phase", str(cif), "--qdamp", "0.05", "--rmin", "1.5",
           "--rmax", "20", "--json", "out/ni.json"]
    return reduce, fit


def _ni_config(tmp_path: Path, *, fit_extra: str = "") -> Path:
    sample, background, cif = _ni_files(tmp_path.parent / f"{tmp_path.name}_data")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "ni.toml"
    path.write_text(f"""schema = "refine.config/1"
[defaults]
qmax = 25            # both pdf commands take --qmax
[[step]]
name = "reduce"
command = "pdf reduce"
inputs = ["{sample}"]
[step.options]
composition = "Ni"
qmin = 0.85
qmaxinst = 27
background = "{background}"
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
    reduce, fit = _ni_steps(tmp_path / "pipe_data")
    assert "$ refine pdf fit --qmax 25 --phase" in out and " -- out/Ni.gr\n" in out  # the equivalent command

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
    for step, direct_argv in zip(log["steps"], (reduce, fit), strict=True):  # same arguments, inputs after --
        assert sorted(w for w in step["argv"] if w != "--") == sorted(direct_argv)
        assert step["argv"][step["argv"].index("--") + 1:] == [direct_argv[2]]
    # the fit itself is sane: the cluster's cell to the 0.005 Å its peak positions give without a size envelope
    (phase,) = json.loads((config.parent / "out" / "ni.json").read_text())["phases"]
    assert phase["a"] == pytest.approx(NI_A, abs=0.005)


def test_dry_run_writes_nothing(tmp_path, capsys):
    config = _ni_config(tmp_path)
    assert main(["run", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "$ refine pdf reduce" in out and " -- 'out/*.gr'" in out  # glob not yet matched: as written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ni.toml"]


def test_strict_reaches_every_step(tmp_path, capsys):
    """``refine run CONFIG --strict`` runs each step under --strict (it was accepted and dropped)."""
    config = _ni_config(tmp_path)
    assert main(["run", str(config), "--dry-run", "--strict"]) == 0
    out = capsys.readouterr().out
    assert "$ refine --strict pdf reduce" in out and "$ refine --strict pdf fit" in out
    assert main(["run", str(config), "--dry-run"]) == 0
    assert "--strict" not in capsys.readouterr().out


def test_not_converged_continues_and_exits_3(tmp_path, capsys):
    config = _ni_config(tmp_path, fit_extra=", max_nfev = 3")
    cif = data_file("Ni.cif")
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
    assert lines == ["$ refine lebail --instrument x.instprm --exclude 1:2 --exclude 3:4 -- scan_1.xy scan_2.xy "
                     "scan_10.xy",
                     "$ refine pdf reduce --wavelength 0.1173 --lorch -o x/ -- scan_1.xy scan_2.xy scan_10.xy"]
    assert option_args("max_nfev", 3) == ["--max-nfev", "3"] and option_args("o", "d") == ["-o", "d"]


def test_read_pipeline_rejects_non_utf8(tmp_path):
    path = tmp_path / "b.toml"
    path.write_bytes(b"schema = \"\xff\"\n")
    with pytest.raises(InputError, match="UTF-8"):
        read_pipeline(path)


def test_read_pipeline_accepts_a_byte_order_mark(tmp_path):
    """Editors on Windows may start UTF-8 files with a BOM, which tomllib refuses as 'Invalid statement'."""
    path = tmp_path / "bom.toml"
    path.write_bytes('schema = "refine.config/1"\n[[step]]\ncommand = "lebail"\n'.encode("utf-8-sig"))
    assert read_pipeline(path).steps[0].command == ("lebail",)


def test_example_pipeline(tmp_path, capsys):
    """example_data/pipeline.toml: integrate the bundled image and Le Bail fit it with the demo's two phases; the
    cells come back to the simulation's (make_example_data.py: a = 4.642 and 3.615 A)."""
    data = tmp_path / "example_data"
    data.mkdir()
    for path in [*EXAMPLE.glob("drs_na3v2o5_cu*"), EXAMPLE / "pipeline.toml"]:
        shutil.copy(path, data)  # bundled example files (in the repo), copied so the run writes under tmp_path
    assert main(["run", str(data / "pipeline.toml")]) == 0
    doc = json.loads((data / "pipeline_output" / "lebail.json").read_text())
    a = {ph["name"]: ph["a"] for ph in doc["phases"]}
    assert a["drs"] == pytest.approx(4.642, abs=0.002) and a["cu"] == pytest.approx(3.615, abs=0.002)
    assert doc["statistics"]["Rwp"] < 0.05
    log = json.loads((data / "run.json").read_text())
    assert [s["name"] for s in log["steps"]] == ["integrate", "lebail"] and log["exit_code"] == 0


# -- a configuration is not trusted to write anywhere ------------------------------------------------------------
@pytest.fixture(scope="module")
def drs_pattern(tmp_path_factory):
    """A small simulated rock-salt pattern (fits in about a second)."""
    import numpy as np

    from refine.io import write_pattern
    from tests.powder.synthetic import drs_structure, pymatgen_peaks, simulate

    lam = 0.1173
    pos, inten = pymatgen_peaks(drs_structure(), lam, (0.5, 9.5))
    pat = simulate(pos, inten, np.arange(1.0, 9.0, 0.004), wavelength=lam,
                   profile={"U": 1.0, "V": -0.3, "W": 0.5, "X": 0.5, "Y": 1.0, "SH_L": 0.0}, counts=20000,
                   background=300, seed=2)
    path = tmp_path_factory.mktemp("drs") / "drs.xye"
    write_pattern(pat, path)
    return path


def _lebail_config(folder: Path, pattern: Path, inputs: str, **outputs: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(pattern, folder / "drs.xye")
    opts = ", ".join(f'{k} = "{v}"' for k, v in outputs.items())
    path = folder / "fit.toml"
    path.write_text(f'schema = "refine.config/1"\n[[step]]\ncommand = "lebail"\ninputs = ["{inputs}"]\n'
                    f'options = {{ spacegroup = ["Fm-3m"], cell = ["4.65 4.65 4.65 90 90 90"], wavelength = 0.1173, '
                    f'{opts} }}\n', encoding="utf-8")
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("target", ["../x.json", "sub/../../x.json", "ABS", "link/x.json"])
def test_output_outside_the_folder_exits_2_unless_allowed(tmp_path, drs_pattern, capsys, target):
    job = tmp_path / "job"
    job.mkdir()
    (job / "link").symlink_to(tmp_path)  # a link out of the folder counts as outside
    target = str(tmp_path / "x.json") if target == "ABS" else target
    config = _lebail_config(job, drs_pattern, "drs.xye", json=target)
    assert main(["run", str(config)]) == 2
    err = _one_error_line(capsys)
    assert str(config) in err and "--json" in err and "is outside" in err and "--allow-outside" in err
    assert not (tmp_path / "x.json").exists()
    assert sorted(p.name for p in job.iterdir()) == ["drs.xye", "fit.toml", "link"]  # nothing ran, no lock left
    assert main(["run", str(config), "--allow-outside"]) == 0
    assert json.loads((tmp_path / "x.json").read_text())["schema"] == "refine.result/1"


def test_foreign_file_is_never_replaced_without_replace_foreign(tmp_path, drs_pattern, capsys):
    config = _lebail_config(tmp_path, drs_pattern, "drs.xye", json="notes.txt", plot="fit.png")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes: the beam dumped at 3 am\n")
    notes.chmod(0o640)
    assert main(["run", str(config)]) == 2
    err = _one_error_line(capsys)
    assert "notes.txt" in err and "was not written by refine" in err and "--replace-foreign" in err
    assert notes.read_text() == "my notes: the beam dumped at 3 am\n" and not (tmp_path / "fit.png").exists()
    # refine's own outputs are replaced on a re-run; a foreign one only with --replace-foreign
    config.write_text(config.read_text().replace("notes.txt", "fit.json"))
    assert main(["run", str(config)]) == 0 and main(["run", str(config)]) == 0
    config.write_text(config.read_text().replace("fit.json", "notes.txt"))
    assert main(["run", str(config), "--replace-foreign"]) == 0
    assert json.loads(notes.read_text())["kind"] == "lebail" and notes.stat().st_mode & 0o777 == 0o640


def test_foreign_file_written_by_a_derived_path_is_caught_when_written(tmp_path, drs_pattern, capsys):
    """Files a step derives from an option (the curves sidecar of --json) obey the same rule when written."""
    config = _lebail_config(tmp_path, drs_pattern, "drs.xye", json="fit.json")
    sidecar = tmp_path / "fit.pattern.curves.dat"
    sidecar.write_text("precious\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "refine lebail: error: fit.pattern.curves.dat: exists and was not written by refine" in err
    assert "Traceback" not in err
    assert sidecar.read_text() == "precious\n" and not (tmp_path / "fit.json").exists()


def test_foreign_run_log_is_not_replaced(tmp_path, drs_pattern, capsys):
    config = _lebail_config(tmp_path, drs_pattern, "drs.xye", json="fit.json")
    (tmp_path / "run.json").write_text('{"mine": 1}\n')
    assert main(["run", str(config)]) == 2
    assert "--log" in _one_error_line(capsys) and (tmp_path / "run.json").read_text() == '{"mine": 1}\n'


def test_input_starting_with_a_dash_stays_an_input(tmp_path, drs_pattern, capsys):
    config = _lebail_config(tmp_path, drs_pattern, "-h.xye", json="fit.json")
    shutil.copy(drs_pattern, tmp_path / "-h.xye")
    assert main(["run", str(config)]) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "fit.json").read_text())["data"] == "-h.xye"


def test_globs_do_not_reach_or_list_other_folders(tmp_path, drs_pattern, capsys):
    private = tmp_path / "private"
    private.mkdir()
    for name in ("diary.xye", "passwords.xye"):
        (private / name).write_text("1 2\n")
    job = tmp_path / "job"
    config = _lebail_config(job, drs_pattern, "../private/*.xye", json="fit.json")
    assert main(["run", str(config)]) == 2
    err = _one_error_line(capsys)
    assert "reaches outside" in err and "diary" not in err and "passwords" not in err
    # inside the folder, a glob matching more files than the command takes is refused without the list
    for name in ("a.xye", "b.xye"):
        shutil.copy(drs_pattern, job / name)
    config.write_text(config.read_text().replace("../private/*.xye", "*.xye"))
    assert main(["run", str(config)]) == 2
    err = _one_error_line(capsys)
    assert "give 3 file(s); 'refine lebail' takes 1" in err and "a.xye" not in err


def test_second_run_in_the_same_folder_exits_2(tmp_path, drs_pattern, capsys):
    import subprocess
    import sys

    from refine.io.lock import LOCK_NAME, _host

    config = _lebail_config(tmp_path, drs_pattern, "drs.xye", json="fit.json")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": holder.pid, "host": _host(), "command": "run"}))
        assert main(["run", str(config)]) == 2
        assert f"pid {holder.pid}" in _one_error_line(capsys) and not (tmp_path / "fit.json").exists()
    finally:
        holder.kill()
        holder.wait()


_CLUSTER = """schema = "refine.config/1"
[cluster]
kind = "slurm"
jobs = 2
cores = 4
memory = "8GB"
queue = "short"
walltime = "00:30:00"
[[step]]
command = "sequential"
inputs = ["scan_*.xy"]
options = { phase = ["x.cif"], wavelength = 0.72, o = "seq" }
[[step]]
name = "local"
command = "sequential"
inputs = ["scan_*.xy"]
options = { phase = ["x.cif"], wavelength = 0.72, o = "seq2", workers = 2 }
"""


def test_cluster_table_is_read_and_handed_to_sequential_steps(tmp_path, capsys):
    """The [cluster] table becomes a ClusterConfig; in a dry run, steps that set neither scheduler nor workers get
    --scheduler of the (not started) cluster; the others keep their own."""
    config = tmp_path / "c.toml"
    config.write_text(_CLUSTER, encoding="utf-8")
    pipeline = read_pipeline(config)
    assert pipeline.cluster.kind == "slurm" and pipeline.cluster.jobs == 2
    assert dict(pipeline.cluster.arguments) == {"cores": 4, "memory": "8GB", "queue": "short",
                                                "walltime": "00:30:00"}
    assert main(["run", str(config), "--dry-run"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("$ refine sequential")]
    assert "--scheduler '<slurm cluster, 2 job(s)>'" in lines[0] and "--scheduler" not in lines[1]


@pytest.mark.parametrize(("table", "message"), [
    ("cluster = 3\n", "'cluster' must be a table"),
    ("[cluster]\ncores = 4\nmemory = \"8GB\"\nnodes = 2\n", "[cluster]: unknown key 'nodes'"),
])
def test_bad_cluster_table_exits_2(tmp_path, capsys, table, message):
    config = tmp_path / "c.toml"
    config.write_text('schema = "refine.config/1"\n' + table + '[[step]]\ncommand = "sequential"\n', encoding="utf-8")
    assert main(["run", str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(config) in err and message in err, err
