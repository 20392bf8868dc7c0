"""``import refine`` exposes the facade lazily: light (no lmfit, matplotlib, pyFAI) until a function is called."""

import json
import subprocess
import sys

import pytest

import refine

FACADE = ("read_pattern", "read_structure", "phase", "integrate", "calibrate", "lebail", "pawley", "rietveld",
          "simulate", "pdf_reduce", "pdf_fit", "pdf_diff", "sequential")
HEAVY = ("lmfit", "matplotlib", "pyFAI")


def _fresh(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (nothing imported yet); it prints one JSON object."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_import_refine_loads_no_heavy_library():
    """A fresh ``import refine`` and looking up every facade function load neither lmfit, matplotlib nor pyFAI
    (the engines are imported when a function runs); the import time is reported, not asserted."""
    out = _fresh("import json, sys, time\n"
                 "t = time.perf_counter(); import refine; dt = time.perf_counter() - t\n"
                 f"after_import = [m for m in {HEAVY!r} if m in sys.modules]\n"
                 f"funcs = [getattr(refine, name).__module__ for name in {FACADE!r}]\n"
                 f"after_lookup = [m for m in {HEAVY!r} if m in sys.modules]\n"
                 "print(json.dumps({'seconds': dt, 'import': after_import, 'lookup': after_lookup, 'funcs': funcs}))")
    assert out["import"] == [] and out["lookup"] == [], out
    assert all(module.startswith("refine.api.") or name == "integrate"  # the callable subpackage
               for name, module in zip(FACADE, out["funcs"], strict=True))
    print(f"import refine: {out['seconds']:.3f} s")


def test_every_facade_function_is_listed_and_callable():
    assert set(FACADE) <= set(refine.__all__) and set(FACADE) <= set(dir(refine))
    for name in FACADE:
        assert callable(getattr(refine, name)), name


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'lebial'"):
        refine.lebial  # noqa: B018 - the lookup is the test


def test_the_api_package_does_not_hide_a_function_behind_a_module():
    """Importing every refine.api module first still leaves refine.api.NAME the function."""
    import importlib

    from refine import api

    for module in set(api.FUNCTIONS.values()):
        importlib.import_module(f"refine.api.{module}")
    for name in FACADE:
        assert callable(getattr(api, name)) and callable(getattr(refine, name))
        assert getattr(refine, name) is getattr(api, name) or name == "integrate"  # the callable package
