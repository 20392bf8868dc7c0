"""A disk copy of the xraydb values refine uses: the Waasmaier–Kirfel f0 table and Chantler's f′, f″ at the
energies asked for, in ``$REFINE_CACHE`` (or ``~/.cache/refine``) ``/xraydb-<version>/``.

Importing xraydb imports SQLAlchemy (~0.3 s and ~10⁵ objects the garbage collector then walks at every full
collection and at exit): a fitting process reads the values it needs from this copy instead, after the first
process asked xraydb for them. The values are xraydb's, stored as it returned them (JSON keeps every bit of a
float) under its installed version, so a new xraydb release starts a new copy. A cache that cannot be read or
written only means asking xraydb.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

WaasmaierTable = dict[str, tuple[float, tuple[float, ...], tuple[float, ...]]]


def cache_folder() -> Path | None:
    """``$REFINE_CACHE/xraydb-<version>`` (None when xraydb is not installed)."""
    try:
        version = metadata.version("xraydb")
    except metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        return None
    base = Path(os.environ.get("REFINE_CACHE", Path.home() / ".cache" / "refine"))
    return base / f"xraydb-{version}"


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write(path: Path, doc: Any) -> None:
    """Atomically (a reader sees the old copy or the new one); silently nothing when the folder is not writable."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:  # a write that failed half-way (disk full) leaves no temporary file behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def waasmaier_from_xraydb() -> WaasmaierTable:
    """Waasmaier–Kirfel coefficients by species, (c, (a1..a5), (b1..b5)), from xraydb's database."""
    import xraydb

    rows = xraydb.get_xraydb().get_cache("Waasmaier")
    return {r.ion: (float(r.offset), tuple(json.loads(r.scale)), tuple(json.loads(r.exponents))) for r in rows}


def load_waasmaier(folder: Path | None, compute: Callable[[], WaasmaierTable] = waasmaier_from_xraydb
                   ) -> WaasmaierTable:
    """The table from ``folder``'s copy, else from ``compute`` (then stored there)."""
    path = None if folder is None else folder / "waasmaier.json"
    doc = None if path is None else _read(path)
    if isinstance(doc, dict) and doc:
        return {k: (float(v[0]), tuple(map(float, v[1])), tuple(map(float, v[2]))) for k, v in doc.items()}
    table = compute()
    if path is not None:
        _write(path, {k: [c, list(a), list(b)] for k, (c, a, b) in table.items()})
    return table


@cache
def waasmaier() -> WaasmaierTable:
    """The Waasmaier–Kirfel table of this process (read once)."""
    return load_waasmaier(cache_folder())


def chantler_from_xraydb(element: str, energy: float) -> tuple[float, float]:
    """(f′, f″) of ``element`` at ``energy`` eV from xraydb (IndexError/KeyError/ValueError beyond its tables)."""
    import numpy as np
    import xraydb

    f1 = float(np.asarray(xraydb.f1_chantler(element, energy)).ravel()[0])
    f2 = float(np.asarray(xraydb.f2_chantler(element, energy)).ravel()[0])
    return f1, f2


class ChantlerStore:
    """(f′, f″) by element and exact energy: from ``folder``'s copy, else from ``compute`` (then added to it)."""

    def __init__(self, folder: Path | None,
                 compute: Callable[[str, float], tuple[float, float]] = chantler_from_xraydb) -> None:
        self.path = None if folder is None else folder / "chantler.json"
        doc = None if self.path is None else _read(self.path)
        self.values: dict[str, list[float]] = doc if isinstance(doc, dict) else {}
        self.compute = compute

    def get(self, element: str, energy: float) -> tuple[float, float]:
        key = f"{element} {float(energy)!r}"
        hit = self.values.get(key)
        if isinstance(hit, list) and len(hit) == 2:
            return float(hit[0]), float(hit[1])
        f1, f2 = self.compute(element, energy)
        self.values[key] = [f1, f2]
        if self.path is not None:  # merge with what other processes added meanwhile
            on_disk = _read(self.path)
            _write(self.path, {**(on_disk if isinstance(on_disk, dict) else {}), **self.values})
        return f1, f2


@cache
def chantler_store() -> ChantlerStore:
    """The store of this process."""
    return ChantlerStore(cache_folder())
