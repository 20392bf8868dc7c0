"""``refine operando``: bad input is one line naming the file or option, exit 2 (the runs are in
tests/operando/test_operando_stack.py)."""

from __future__ import annotations

import pytest

from refine.cli.main import main
from tests.conftest import data_file
from tests.integrate import synthetic as sy


@pytest.fixture()
def poni(tmp_path):
    path = tmp_path / "g.poni"
    path.write_text(sy.Geometry().poni_text())
    return path


def test_unreadable_images_are_one_line_exit_2(tmp_path, poni, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5" * 10)
    code = main(["operando", str(bad), "--poni", str(poni), "--phase", str(data_file("NaCl.cif")), "-o",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("refine operando: error: ") and "bad.h5" in err[0]
    assert "no frame could be integrated" in err[0]


def test_no_match_and_pdf_kind_are_refused(tmp_path, poni, capsys):
    code = main(["operando", str(tmp_path / "run_*.cbf"), "--poni", str(poni), "--phase",
                 str(data_file("NaCl.cif")), "-o", str(tmp_path / "out")])
    assert code == 2 and "no image file matches this pattern" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["operando", "x.h5", "--poni", str(poni), "--kind", "pdf", "-o", str(tmp_path / "out")])
    assert exc.value.code == 2 and "--kind" in capsys.readouterr().err
