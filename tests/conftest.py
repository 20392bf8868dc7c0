"""Shared fixtures. Reference data live in ../shared/data beside the project root, never in the repo; small
structures written by hand for the tests live in tests/data (see its README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"

# The CI machine has two cores shared with the rest of the suite: no per-example deadline.
settings.register_profile("refine", deadline=None, max_examples=100)
settings.load_profile("refine")


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

