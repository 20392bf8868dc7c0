"""Checks on input and output paths made before a command works (refine.io.paths)."""

from __future__ import annotations

import os

import pytest

from refine.errors import InputError
from refine.io.paths import check_output_file, check_output_folder, check_outputs, check_regular_file


def test_regular_files_pass_and_everything_else_is_named(tmp_path):
    good = tmp_path / "a.xye"
    good.write_text("1 2\n")
    assert check_regular_file(good, kind="pattern") == good
    with pytest.raises(InputError, match="missing.xye: no such file"):
        check_regular_file(tmp_path / "missing.xye")
    with pytest.raises(InputError, match="is a folder, not a config file"):
        check_regular_file(tmp_path, kind="config")
    with pytest.raises(InputError, match="^/dev/zero: is not a regular file"):
        check_regular_file("/dev/zero", kind="config")
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)  # stat only: a reader would block on it
    with pytest.raises(InputError, match="pipe.toml: is not a regular file"):
        check_regular_file(fifo, kind="config")
    with pytest.raises(InputError, match=r"a.xye: is 4 bytes, more than a pattern file may be \(3 bytes\)"):
        check_regular_file(good, kind="pattern", max_bytes=3)


def test_outputs_are_checked_for_their_kind(tmp_path):
    folder, file = tmp_path / "out", tmp_path / "file.txt"
    folder.mkdir()
    file.write_text("x")
    assert check_output_file(tmp_path / "new" / "r.json", "--json") == tmp_path / "new" / "r.json"
    assert check_output_folder(tmp_path / "new_dir", "-o") == tmp_path / "new_dir"
    with pytest.raises(InputError, match="^--json: .*out is a folder; give a file name"):
        check_output_file(folder, "--json")
    with pytest.raises(InputError, match="^-o: .*file.txt is an existing file, not a folder"):
        check_output_folder(file, "-o")
    with pytest.raises(InputError, match="^--plot: cannot write .*file.txt is a file, not a folder"):
        check_output_file(file / "sub" / "fig.png", "--plot")
    with pytest.raises(InputError, match="^--csv: "):
        check_outputs(files={"--json": None, "--csv": folder}, folders={"-o": folder})


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, a file system nobody may write")
def test_an_unwritable_place_is_refused_before_the_work():
    """/proc refuses new files even to root (whom os.access lets through): said at once, naming the option."""
    for check in (check_output_file, check_output_folder):
        with pytest.raises(InputError, match="is not writable") as info:
            check("/proc/refine_test_output.csv", "csv")
        assert info.value.source == "csv"


def test_the_writability_probe_leaves_nothing_behind(tmp_path):
    check_output_file(tmp_path / "new" / "out.json", "json")
    assert list(tmp_path.iterdir()) == []
