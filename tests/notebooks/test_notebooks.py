"""Every notebooks/*.ipynb runs top to bottom (nbclient) in a fresh temporary working folder within 120 s.

The kernel is this interpreter (``sys.executable``, through a kernel spec written for the test), so the notebooks
import the same ``refine`` as the tests, whatever Jupyter kernels the machine has. A failing cell fails the test
with the cell's source and its error.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the test extras (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the test extras (nbclient)")
pytest.importorskip("ipykernel", reason="the notebook test needs the test extras (ipykernel)")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 120  # per notebook, kernel start included
KERNEL = "refine-test-python"


def test_there_are_notebooks():
    """The quickstart and one notebook per workflow of the README's list."""
    expected = {"quickstart.ipynb", "01_integrate_calibrate.ipynb", "02_lebail_rietveld.ipynb", "03_pdf.ipynb",
                "04_operando_series.ipynb"}
    assert expected <= {p.name for p in NOTEBOOKS}


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory) -> Path:
    """A kernel-spec folder whose one kernel runs ipykernel on this interpreter, with this tree's refine first on
    the path."""
    folder = tmp_path_factory.mktemp("kernels")
    spec = folder / KERNEL
    spec.mkdir()
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "refine tests", "language": "python", "env": {"PYTHONPATH": path}}))
    return folder


def _failure(name: str, index: int, cell, exc: Exception) -> str:
    source = "".join(cell.get("source", ""))
    error = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # the kernel's traceback comes with terminal colours
    return f"{name}: cell {index} failed:\n--- cell source ---\n{source}\n--- error ---\n{error}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(notebook: Path, kernel_specs: Path, tmp_path: Path):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(notebook, as_version=4)
    km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_specs)]))
    client = nbclient.NotebookClient(nb, km=km, timeout=TIMEOUT_S, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(tmp_path)}})
    deadline = time.monotonic() + TIMEOUT_S
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"{notebook.name}: not finished within {TIMEOUT_S} s (stopped before cell {index})")
            client.timeout = max(1, int(remaining))
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                pytest.fail(f"{notebook.name}: not finished within {TIMEOUT_S} s (cell {index} still running)")
            except (CellExecutionError, DeadKernelError) as exc:
                pytest.fail(_failure(notebook.name, index, cell, exc))
