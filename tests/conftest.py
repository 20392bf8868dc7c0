"""Shared fixtures. Reference data live in ../shared/data beside the project root, never in the repo."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

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
    """Path of a file or folder in ../shared/data; skips the calling test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data ../shared/data not found at {SHARED_DATA} (fresh clone without shared/)")
    if not path.exists():
        pytest.skip(f"reference file {path} is missing from ../shared/data")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder (skips when absent)."""
    return shared_path()
