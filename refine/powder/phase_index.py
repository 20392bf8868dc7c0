"""An index of a library of structure files for search–match: each phase's powder lines, read once, cached on disk.

Every structure file (CIF, and the other formats :func:`refine.io.structures.read_structure` reads) of a folder is
read once; its index entry holds the lines to ``d_min`` (d, multiplicity·|F|² from the X-ray f0 of
Waasmaier–Kirfel with the file's ADPs, no dispersion: the same for every wavelength), its elements, space group,
cell and Z·M·V (for Hill & Howard weight fractions). The index is saved as one ``.npz`` keyed by each file's
relative path, size and modification time, so a second build re-reads only new or changed files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refine.crystal.reflections import generate_reflections
from refine.crystal.scattering import parse_species
from refine.crystal.structure import CrystalStructure
from refine.crystal.structure_factors import line_intensities
from refine.errors import InputError
from refine.io.atomic import atomic_open
from refine.io.structures import read_structure
from refine.powder.quantitative import zmv

#: Version of the cached index layout; an index of another version is rebuilt.
INDEX_SCHEMA = 1
#: Lines are kept to this d (Å): Mo Kα to 2θ ≈ 72°, Cu Kα to 2θ ≈ 180°.
D_MIN = 0.6
#: At most this many lines per phase (the strongest), so a huge cell cannot blow up a query.
MAX_LINES = 3000
#: Extensions of the files indexed.
STRUCTURE_SUFFIXES = (".cif", ".stru", ".exp")


@dataclass(frozen=True, eq=False)
class IndexEntry:
    """One phase of the library.

    Attributes
    ----------
    name, path
        The file's stem and its path.
    elements
        Element symbols of the sites, sorted.
    formula
        Sum formula of the cell contents (occupancies included), e.g. ``'Na4 Cl4'``.
    space_group, cell, zmv
        Hermann–Mauguin symbol, (a, b, c, α, β, γ) in Å and degrees, Z·M·V (g/mol·Å³).
    d, intensity
        Lines by decreasing d (Å) and their multiplicity·|F|² (electrons²).
    """

    name: str
    path: str
    elements: tuple[str, ...]
    formula: str
    space_group: str
    cell: tuple[float, ...]
    zmv: float
    d: np.ndarray = field(repr=False)
    intensity: np.ndarray = field(repr=False)

    def structure(self) -> CrystalStructure:
        """The phase, read again from its file (for the fits that follow a search)."""
        return read_structure(self.path)


@dataclass(frozen=True, eq=False)
class PhaseIndex:
    """The indexed library: its entries, and the files that could not be read with the reason."""

    folder: str
    entries: tuple[IndexEntry, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.entries)

    def with_elements(self, elements: Iterable[str]) -> PhaseIndex:
        """The entries made only of ``elements`` (symbols, any case)."""
        allowed = {parse_species(e, source="elements")[0] for e in elements}
        kept = tuple(e for e in self.entries if set(e.elements) <= allowed)
        return PhaseIndex(self.folder, kept, self.skipped, self.notes)


def index_entry(path: str | os.PathLike, *, d_min: float = D_MIN) -> IndexEntry:
    """Read one structure file and compute its lines (raises InputError naming the file when it cannot)."""
    structure = read_structure(path)
    if not structure.sites:
        raise InputError(str(path), "the structure has no atoms: search–match needs intensities")
    refl = generate_reflections(structure.lattice, structure.space_group, d_min)
    if len(refl) == 0:
        raise InputError(str(path), f"no reflection with d >= {d_min} Å")
    intensity = line_intensities(structure, refl, dispersion=False)
    order = np.argsort(intensity)[::-1][:MAX_LINES]
    keep = np.sort(order)
    atoms = structure.expand()
    counts: dict[str, float] = {}
    for element, occupancy in zip(atoms.elements, atoms.occupancy, strict=True):
        symbol = parse_species(element)[0]
        counts[symbol] = counts.get(symbol, 0.0) + float(occupancy)
    formula = " ".join(f"{el}{_count(n)}" for el, n in sorted(counts.items()))
    lat = structure.lattice
    return IndexEntry(name=Path(path).stem, path=str(path), elements=tuple(sorted(counts)), formula=formula,
                      space_group=structure.space_group.symbol,
                      cell=(lat.a, lat.b, lat.c, lat.alpha, lat.beta, lat.gamma), zmv=zmv(structure),
                      d=np.asarray(refl.d[keep], float), intensity=np.asarray(intensity[keep], float))


def _count(n: float) -> str:
    return f"{n:g}" if abs(n - round(n)) > 1e-6 else str(round(n))


def library_files(folder: str | os.PathLike) -> list[Path]:
    """The structure files under ``folder`` (recursively), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(str(folder), "the library must be a folder of structure files (CIF)")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in STRUCTURE_SUFFIXES and p.is_file())


def default_cache(folder: str | os.PathLike) -> Path:
    """``$REFINE_CACHE`` (or ``~/.cache/refine``)``/phase-index/<hash of the folder>.npz``."""
    base = Path(os.environ.get("REFINE_CACHE", Path.home() / ".cache" / "refine"))
    key = hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:16]
    return base / "phase-index" / f"{key}.npz"


def build_index(folder: str | os.PathLike, *, cache: str | os.PathLike | None = None,
                d_min: float = D_MIN, workers: int | None = None) -> PhaseIndex:
    """Index every structure file under ``folder``, reusing the cached entries of unchanged files.

    Parameters
    ----------
    folder
        The library (searched recursively for .cif, .stru, .exp).
    cache
        The index file (``.npz``); default :func:`default_cache`. ``False``-like empty string: no cache.
    d_min
        Shortest d of the lines kept (Å).
    workers
        Processes reading new or changed files (default: the cores available, when more than 20 files are read).

    Returns
    -------
    PhaseIndex
        Files that cannot be read are listed in ``skipped`` with the reason, not fatal.
    """
    files = library_files(folder)
    if not files:
        raise InputError(str(folder), f"no structure files ({', '.join(STRUCTURE_SUFFIXES)}) in the folder")
    cache_path = None if cache == "" else Path(cache) if cache is not None else default_cache(folder)
    old = _load(cache_path, d_min) if cache_path is not None else {}
    stamps = {str(path): _stamp(path) for path in files}
    fresh = [path for path in files if old.get(str(path), ("",))[0] != stamps[str(path)]]
    read = dict(zip(map(str, fresh), _read_entries(fresh, d_min, workers), strict=True))
    entries, skipped = [], []
    for path in map(str, files):
        item = read[path] if path in read else old[path][1]
        if isinstance(item, str):  # the reason a file could not be read
            skipped.append((path, item))
        else:
            entries.append(item)
    changed = bool(fresh) or set(old) != set(stamps)
    index = PhaseIndex(str(folder), tuple(entries), tuple(skipped))
    if cache_path is None or not changed:
        return index
    try:
        _save(index, stamps, cache_path, d_min)
    except (InputError, OSError) as exc:  # a cache that cannot be written costs time, not results
        return PhaseIndex(index.folder, index.entries, index.skipped, (f"index not cached: {exc}",))
    return index


def _entry_or_reason(path: Path, d_min: float) -> IndexEntry | str:
    try:
        return index_entry(path, d_min=d_min)
    except InputError as exc:
        return str(exc)


def _read_entries(paths: list[Path], d_min: float, workers: int | None) -> list[IndexEntry | str]:
    """Index entries (or the reason a file was skipped) of ``paths``, in processes when there are many."""
    workers = workers if workers is not None else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                                   else os.cpu_count() or 1)
    if workers <= 1 or len(paths) <= 20:
        return [_entry_or_reason(path, d_min) for path in paths]
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(partial(_entry_or_reason, d_min=d_min), paths, chunksize=8))


def _stamp(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size}:{info.st_mtime_ns}"


def _save(index: PhaseIndex, stamps: dict[str, str], path: Path, d_min: float) -> None:
    meta = {"schema": INDEX_SCHEMA, "d_min": d_min, "entries": [
        {"name": e.name, "path": e.path, "stamp": stamps[e.path], "elements": list(e.elements), "formula": e.formula,
         "space_group": e.space_group, "cell": list(e.cell), "zmv": e.zmv, "n": len(e.d)} for e in index.entries],
        "skipped": [{"path": path, "stamp": stamps[path], "reason": reason} for path, reason in index.skipped]}
    d = np.concatenate([e.d for e in index.entries]) if index.entries else np.zeros(0)
    intensity = np.concatenate([e.intensity for e in index.entries]) if index.entries else np.zeros(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), d=d, intensity=intensity)


def _load(path: Path, d_min: float) -> dict[str, tuple[str, IndexEntry | str]]:
    """{file path: (stamp, entry or the reason it was skipped)} of a cached index, or {} when absent, unreadable or
    of other settings."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            d, intensity = data["d"], data["intensity"]
    except (OSError, ValueError, KeyError):
        return {}
    if meta.get("schema") != INDEX_SCHEMA or meta.get("d_min") != d_min:
        return {}
    out, start = {}, 0
    for item in meta["entries"]:
        stop = start + int(item["n"])
        out[item["path"]] = (item["stamp"], IndexEntry(
            name=item["name"], path=item["path"], elements=tuple(item["elements"]), formula=item["formula"],
            space_group=item["space_group"], cell=tuple(item["cell"]), zmv=float(item["zmv"]),
            d=np.array(d[start:stop]), intensity=np.array(intensity[start:stop])))
        start = stop
    for item in meta.get("skipped", []):
        out[item["path"]] = (item["stamp"], str(item["reason"]))
    return out
