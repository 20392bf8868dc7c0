"""JSON Schemas of refine's files, shipped with the package: ``result-1.schema.json`` describes the
``refine.result/1`` result file (CONVENTIONS.md)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

#: The result file's schema name and the schema file describing it.
RESULT_SCHEMA_FILE = "result-1.schema.json"


def load_schema(name: str = RESULT_SCHEMA_FILE) -> dict[str, Any]:
    """The JSON Schema ``name`` (a file of this package) as a dict."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


def result_schema() -> dict[str, Any]:
    """The JSON Schema of ``refine.result/1``."""
    return load_schema(RESULT_SCHEMA_FILE)
