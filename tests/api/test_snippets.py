"""The README's Python snippets (section "### Python"), each run as written in a folder holding its inputs: one
import, at most four lines, and the numbers they produce checked against the simulated truth."""

import csv
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import refine
from refine.examples import example_path

README = Path(__file__).resolve().parents[2] / "README.md"
A_DRS = 4.642  # rock salt cell of the bundled simulations (refine/example_data/make_example_*.py)


def snippets() -> list[str]:
    """The python code blocks of the README's "### Python" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Python\n", 1)[1].split("\n#", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def run_snippet(code: str, folder: Path) -> tuple[dict, Exception | None]:
    """Execute ``code`` with ``folder`` as the working directory; returns its variables (those set before an
    error too) and the error, if any."""
    here = os.getcwd()
    os.chdir(folder)
    env: dict = {}
    try:
        exec(compile(code, "README snippet", "exec"), env)  # noqa: S102 - the README's own code is the test
    except Exception as exc:  # noqa: BLE001 - returned, judged by the test (raise_failure)
        return env, exc
    finally:
        os.chdir(here)
    return env, None


def raise_failure(exc: Exception | None) -> None:
    """Re-raise the snippet's exception, if it raised one."""
    if exc is not None:
        raise exc


def test_four_snippets_one_import_at_most_four_lines():
    found = snippets()
    assert len(found) == 4
    for code in found:
        lines = [line for line in code.strip().splitlines() if line.strip()]
        assert lines[0] == "import refine" and len(lines) <= 4, code
        assert sum("import" in line for line in lines) == 1, code


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The bundled example files under the snippets' names, and the Le Bail pattern integrated from the image."""
    out = tmp_path_factory.mktemp("snippets")
    for name, target in (("drs_na3v2o5_cu.tif", "frame.tif"), ("drs_na3v2o5_cu.poni", "detector.poni"),
                         ("drs_na3v2o5_cu_mask.npy", "mask.npy"), ("cu.cif", "cu.cif"),
                         ("drs_rocksalt.cif", "drs_rocksalt.cif"), ("drs_supercell.cif", "drs_supercell.cif"),
                         ("drs_two_phase.gr", "drs_two_phase.gr")):
        shutil.copy(example_path(name), out / target)
    return out


def test_integrate_one_image(folder):
    env, exc = run_snippet(snippets()[0], folder)
    assert exc is None, exc
    pattern = env["pattern"]
    assert isinstance(pattern, refine.Pattern) and len(pattern) == 2000 and pattern.unit == "2th_deg"
    assert pattern.wavelength == pytest.approx(0.1173, abs=1e-6)  # from the PONI file
    from refine.io import write_pattern

    write_pattern(pattern, folder / "pattern.xye")  # the next snippet's input


def test_lebail_one_pattern(folder, capsys):
    if not (folder / "pattern.xye").exists():
        test_integrate_one_image(folder)
    env, exc = run_snippet(snippets()[1], folder)
    fit = env["fit"]
    assert fit.converged and fit.value("drs_a") == pytest.approx(A_DRS, abs=1e-3)  # the image's simulated cell
    assert fit.value("cu_a") == pytest.approx(3.615, abs=1e-3)
    assert "drs_a" in capsys.readouterr().out  # the report was printed
    raise_failure(exc)
    assert float(fit.phases["drs"].a) == pytest.approx(fit.value("drs_a"), rel=1e-12)


def test_two_phase_pdf_fit(folder, capsys):
    env, exc = run_snippet(snippets()[2], folder)
    assert exc is None, exc
    fit = env["fit"]
    assert fit.converged and fit.statistics.Rw < 0.02  # simulated data, the simulation's model
    assert fit.value("drs_a") == pytest.approx(A_DRS, abs=1e-3)
    assert fit.value("drs_scale") == pytest.approx(0.7, abs=0.02)  # truth: scales 0.7 / 0.3
    # each phase reports its source's space group, the fixed supercell too
    assert [ph.space_group for ph in fit.phases.values()] == ["Fm-3m", "P1"]
    assert "pdf fit: converged" in capsys.readouterr().out


def test_sequential_series(folder, capsys):
    """The generator's operando series (12 scans, the rock salt contracting with the charge passed and back): every
    scan's fitted a within 3 esd of the simulated one (the Cu lines, 5 % of the strongest, left unmodelled)."""
    from refine.example_data import make_example_series

    make_example_series.make(folder)
    truth = np.array([row["a"] for row in make_example_series.truth()])
    env, exc = run_snippet(snippets()[3], folder)
    with open(folder / "series_out" / "sequential.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    column = next(c for c in rows[0] if c.endswith("_a"))
    esd_column = next(c for c in rows[0] if c.startswith(column) and "esd" in c)
    fitted, esd = (np.array([float(r[c]) for r in rows]) for c in (column, esd_column))
    assert len(rows) == len(truth) == 12 and np.all(np.abs(fitted - truth) < 3 * esd), (fitted - truth, esd)
    assert np.ptp(truth) > 50 * esd.max()  # the series' change is far above the tolerance
    raise_failure(exc)
    table = env["series"].table()
    assert len(table) == 12
    capsys.readouterr()
