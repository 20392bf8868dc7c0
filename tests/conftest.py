"""Shared fixtures. Reference data live in ../shared/data beside the project root, never in the repo; small
structures written by hand for the tests live in tests/data (see its README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"

# The CI machine has two cores shared with the rest of the suite: no per-example deadline.
settings.register_profile("refine", deadline=None, max_examples=100)
settings.load_profile("refine")

# The readers' fuzz tests (tests/fuzzing.py) take their settings from the profile named by REFINE_FUZZ_PROFILE:
# fuzz-ci (the default, 2 000 examples per reader) or fuzz-nightly (20 000); REFINE_FUZZ_EXAMPLES=N overrides the
# number of examples of either (`make fuzz` sets 20 000).
_FUZZ_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                HealthCheck.large_base_example, HealthCheck.function_scoped_fixture]
settings.register_profile("fuzz-ci", settings.get_profile("refine"), max_examples=2000,
                          suppress_health_check=_FUZZ_HEALTH, print_blob=True)
settings.register_profile("fuzz-nightly", settings.get_profile("fuzz-ci"), max_examples=20000)


def shared_path(*parts: str) -> Path:
    """Path of a file or folder in ../shared/data; skips the calling test, naming that file, when it is absent.

    Only tests that compare with (or read) a file of ../shared/data use this; tests that need only a structure
    use :func:`data_file`.
    """
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        where = "/".join(parts) or "."
        pytest.skip(f"needs ../shared/data/{where} (not found under {SHARED_DATA})")
    return path


def data_file(name: str) -> Path:
    """Path of a small file written by hand for the tests in tests/data (always present)."""
    path = TEST_DATA / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: test data file missing from the repository")
    return path

