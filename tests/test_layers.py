"""The import-layer contract (tools/check_layers.py) and the light imports it protects."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _checker():
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "tools" / "check_layers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_layers", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_no_module_imports_across_the_layers():
    problems = _checker().check(ROOT / "refine")
    assert problems == [], "\n".join(problems)


def test_checker_sees_function_level_imports_and_cycles(tmp_path):
    # a crystal module that imports the fit layer inside a function, and two io modules importing each other
    pkg = tmp_path / "refine"
    for sub in ("crystal", "fit", "io"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "crystal" / "bad.py").write_text("def f():\n    from refine.fit import thing\n    import lmfit\n")
    (pkg / "io" / "a.py").write_text("from refine.io import b\n")
    (pkg / "io" / "b.py").write_text("from refine.io.a import x\n")
    problems = _checker().check(pkg)
    assert any("refine/crystal/bad.py:2" in p and "(fit)" in p for p in problems)
    assert any("refine/crystal/bad.py:3" in p and "lmfit" in p for p in problems)
    assert any("import cycle" in p and "refine.io.a" in p and "refine.io.b" in p for p in problems)
    assert len(problems) == 3


_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t0
print(json.dumps({{"heavy": sorted(m for m in ("lmfit", "matplotlib") if m in sys.modules), "seconds": elapsed}}))
"""


@pytest.mark.parametrize("module", ["refine.io.structures", "refine.crystal"])
def test_reading_structures_loads_neither_lmfit_nor_matplotlib(module):
    out = subprocess.run([sys.executable, "-c", _PROBE.format(module=module)], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [], f"import {module} loaded {report['heavy']}"
