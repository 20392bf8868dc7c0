"""Atomic writes: whole file or nothing, new files 0666 minus the umask (not mkstemp's 0600), replaced files keep
their mode; the output policy (inside a folder, never over a file refine did not write) and written_by_refine."""

import json
import os
import stat

import numpy as np
import pytest

from refine.data import Pattern
from refine.errors import InputError
from refine.io.atomic import atomic_open
from refine.io.outputs import OutputPolicy, check_output, output_policy, written_by_refine
from refine.io.patterns import write_pattern


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it."""
    old = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_respects_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    with atomic_open(tmp_path / "r.json") as fh:
        fh.write("{}\n")
    assert _mode(tmp_path / "r.json") == expected


def test_replaced_file_keeps_its_mode_and_a_failed_write_leaves_it(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "r.txt"
    path.write_text("old\n")
    path.chmod(0o640)
    with atomic_open(path) as fh:
        fh.write("new\n")
    assert _mode(path) == 0o640 and path.read_text() == "new\n"
    with pytest.raises(RuntimeError), atomic_open(path) as fh:
        fh.write("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "new\n" and sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]


def _pattern() -> Pattern:
    x = np.linspace(5.0, 6.0, 11)
    return Pattern.from_arrays(x, np.ones_like(x), np.ones_like(x), sigma_source="poisson")


def test_written_by_refine_knows_refine_outputs_only(tmp_path):
    write_pattern(_pattern(), tmp_path / "p.xye")
    (tmp_path / "r.json").write_text(json.dumps({"schema": "refine.result/1", "kind": "lebail"}, indent=2))
    (tmp_path / "notes.txt").write_text("# refine this later\nmy notes\n")
    (tmp_path / "other.json").write_text(json.dumps({"schema": "other/1", "text": '"schema": "refine.result/1"'}))
    (tmp_path / "t.csv").write_text("index,file,converged,status,Rwp,Rp,Rexp,GOF,chi2_red,Rw\n0,a.xy,True,ok,,,,,,\n")
    (tmp_path / "user.csv").write_text("index,file,value\n")
    (tmp_path / "dir").mkdir()
    assert written_by_refine(tmp_path / "p.xye") and written_by_refine(tmp_path / "r.json")
    assert written_by_refine(tmp_path / "t.csv")
    for name in ("notes.txt", "other.json", "user.csv", "dir", "missing.json"):
        assert not written_by_refine(tmp_path / name), name


def test_figures_carry_the_mark(tmp_path):
    from refine.plot.figures import new_figure, save_figure

    fig = new_figure()
    fig.subplots().plot([1, 2])
    save_figure(fig, tmp_path / "f.png")
    fig = new_figure()
    fig.subplots().plot([1, 2])
    fig.savefig(tmp_path / "mine.png")  # a user's matplotlib figure
    assert written_by_refine(tmp_path / "f.png") and not written_by_refine(tmp_path / "mine.png")


def test_policy_keeps_outputs_inside_and_foreign_files_intact(tmp_path):
    root = tmp_path / "job"
    root.mkdir()
    (root / "mine.txt").write_text("precious\n")
    (root / "link").symlink_to(tmp_path)
    write_pattern(_pattern(), root / "old.xye")
    policy = OutputPolicy(root=root, replace_foreign=False)
    with output_policy(policy):
        for bad in (tmp_path / "x.json", root / ".." / "x.json", root / "link" / "x.json"):
            with pytest.raises(InputError, match="is outside .*--allow-outside"):
                write_pattern(_pattern(), bad)
            assert not (tmp_path / "x.json").exists()
        with pytest.raises(InputError, match="was not written by refine.*--replace-foreign"):
            write_pattern(_pattern(), root / "mine.txt")
        assert (root / "mine.txt").read_text() == "precious\n"
        write_pattern(_pattern(), root / "old.xye")  # refine's own output: replaced
        write_pattern(_pattern(), root / "sub" / "new.xye")
    check_output(tmp_path / "x.json")  # outside the block: anything goes, as the user asked
    with output_policy(OutputPolicy(root=root, replace_foreign=True)):
        write_pattern(_pattern(), root / "mine.txt")
    assert written_by_refine(root / "mine.txt")


def test_structure_instrument_and_poni_files_carry_the_mark(tmp_path):
    from refine.examples import EXAMPLE_DATA
    from refine.instrument import Instrument
    from refine.io.instprm import read_instrument, write_instrument
    from refine.io.poni import read_poni, write_poni
    from refine.io.structures import read_structure, write_cif

    example_data = EXAMPLE_DATA
    write_cif(read_structure(example_data / "cu.cif").replace(lattice_esd=None), tmp_path / "x.cif")
    write_instrument(Instrument.synchrotron(0.7), tmp_path / "x.instprm")
    example = example_data / "drs_na3v2o5_cu.poni"
    write_poni(tmp_path / "x.poni", read_poni(example))
    for name in ("x.cif", "x.instprm", "x.poni"):
        assert written_by_refine(tmp_path / name), name
    assert read_structure(tmp_path / "x.cif").lattice == read_structure(example_data / "cu.cif").lattice
    assert read_instrument(tmp_path / "x.instprm").wavelength == pytest.approx(0.7, rel=1e-12)
    assert read_poni(tmp_path / "x.poni").dist == pytest.approx(read_poni(example).dist, rel=1e-12)
    assert not written_by_refine(example)
