"""The order of a sequential run's fits: which scan starts from which, the guard against diverged fits, and the
sources that say which scans exist (a fixed list, or a folder that fills while the run goes on).

Chains in chunks
----------------
A series is cut into contiguous chunks of ``chunk`` scans. The first scan of each chunk (its *anchor*) starts from
the previous anchor's result; every other scan starts from its predecessor's. So the anchors form a coarse chain
through the whole series (steps of ``chunk`` scans, small enough for a drifting cell to stay in the fit's reach),
and once an anchor is fitted its chunk can run on one worker while the next anchor runs on another. The plan
depends on the chunk size only, not on the number of workers, so one process and a cluster of any size start
every scan from the same values and give the same results. ``chunk = 0`` is one chain (each scan from its
predecessor). A scan whose fit fails or does not converge is no starting point: its dependants start from what it
started from (the last good result up its chain).

Guard
-----
Every fit that started from another scan's result is compared with it: an Rwp more than ``rwp_factor`` times
that scan's, or a phase's cell volume more than ``volume`` (relative) away from it, is a fit that lost its way.
When it started from a scan other than its predecessor (an anchor), it is fitted again from the predecessor's
result (waiting for it); the refit is kept when it passes the guard against the predecessor, with a warning
saying so. A fit that still trips the guard is written *suspect*: not converged, with the reason.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from refine.operando.series import Scan, natural_sort

#: Default scans per chunk (anchors 16 scans apart).
DEFAULT_CHUNK = 16


@dataclass(frozen=True)
class Guard:
    """Limits a fit's result may not pass relative to the result it started from (0 switches a test off)."""

    rwp_factor: float = 2.0
    volume: float = 0.02

    def reason(self, doc: Mapping[str, Any], reference: Seed) -> str | None:
        """Why ``doc`` (a result document) looks diverged next to ``reference``, or None."""
        rwp = rwp_of(doc)
        if self.rwp_factor and rwp is not None and reference.rwp and rwp > self.rwp_factor * reference.rwp:
            return (f"Rwp {rwp:.4g} is {rwp / reference.rwp:.2f} times scan {reference.index}'s "
                    f"({reference.rwp:.4g})")
        if self.volume:
            for name, volume in volumes_of(doc).items():
                ref = reference.volumes.get(name)
                if ref and (not math.isfinite(volume) or abs(volume / ref - 1.0) > self.volume):
                    return (f"phase {name}: volume {volume:.6g} A^3 is {100 * (volume / ref - 1.0):+.2f} % from scan "
                            f"{reference.index}'s ({ref:.6g} A^3)")
        return None


def rwp_of(doc: Mapping[str, Any]) -> float | None:
    """The result's Rwp (powder) or Rw (G(r)), None when absent."""
    stats = doc.get("statistics") or {}
    value = stats.get("Rwp", stats.get("Rw"))
    return None if value is None else float(value)


def volumes_of(doc: Mapping[str, Any]) -> dict[str, float]:
    """Cell volume of each phase by its parameter prefix (or name)."""
    out = {}
    for ph in doc.get("phases") or []:
        key = ph.get("prefix") or ph.get("name")
        if key is not None and ph.get("volume") is not None:
            out[str(key)] = float(ph["volume"])
    return out


@dataclass(frozen=True)
class Seed:
    """The result a fit starts from: the scan it came from, its refined values, Rwp and volumes."""

    index: int
    values: Mapping[str, float]
    rwp: float | None = None
    volumes: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, index: int, doc: Mapping[str, Any]) -> Seed:
        values = {n: p["value"] for n, p in (doc.get("parameters") or {}).items() if p.get("value") is not None}
        return cls(index=index, values=values, rwp=rwp_of(doc), volumes=volumes_of(doc))


def seed_index(index: int, chunk: int) -> int | None:
    """The scan whose result scan ``index`` starts from (None: the user's values)."""
    if index <= 0:
        return None
    if chunk <= 0 or index % chunk:
        return index - 1
    return index - chunk


def is_anchor(index: int, chunk: int) -> bool:
    """True for the first scan of a chunk."""
    return index == 0 or (chunk > 0 and index % chunk == 0)


def priority(index: int, chunk: int) -> tuple[int, int, int]:
    """Sort key of ready scans: anchors first (they unlock whole chunks), then the scans with the most of their
    chunk still after them (so that every chunk's chain goes on and the last tasks of a run are short ones, not
    one whole chunk left to a single worker), then in index order."""
    if is_anchor(index, chunk):
        return (0, 0, index)
    return (1, -(chunk - index % chunk) if chunk > 0 else 0, index)


# -- sources --------------------------------------------------------------------------------------------------
class ScanSource(Protocol):
    """Where the scans of a live run come from: ``poll()`` returns the scans that became available since the last
    call, in order, each once (their ``index`` is reassigned by the run, in the order they are returned).

    A folder of pattern files is :class:`FolderSource`; a series that grows as frames are appended to an HDF5 file
    is another implementation (its scans' ``path`` must be something the fit kind's reader reads)."""

    def poll(self) -> Sequence[Scan]: ...


class FixedSource:
    """The scans of a series known in advance (all returned by the first poll)."""

    def __init__(self, scans: Sequence[Scan]) -> None:
        self._scans: list[Scan] | None = list(scans)

    def poll(self) -> Sequence[Scan]:
        scans, self._scans = self._scans or [], None
        return scans


class FolderSource:
    """Files matching glob patterns, taken once their size and modification time did not change between two polls
    (a file still being written is not read half-way); new files in natural order after the known ones.

    ``number`` (optional) gives a file's frame number in the acquisition (:attr:`Scan.number`; live operando: from
    its integration's records); then only files it numbers are taken (a pattern whose integration pass has not
    ended yet waits for the next poll; a file the integration did not write is not part of the series)."""

    def __init__(self, patterns: Sequence[str], known: Sequence[str | os.PathLike] = (),
                 number: Callable[[Path], int | None] | None = None) -> None:
        self.patterns = [str(p) for p in patterns]
        self._taken = {str(Path(p).resolve()) for p in known}
        self._seen: dict[str, tuple[int, int]] = {}
        self._number = number

    def _matches(self) -> list[Path]:
        import glob

        paths: list[str] = []
        for pattern in self.patterns:
            paths.extend(glob.glob(pattern) if glob.has_magic(pattern) else
                         [str(p) for p in Path(pattern).iterdir()] if Path(pattern).is_dir() else
                         [pattern] if Path(pattern).is_file() else [])
        return natural_sort(paths)

    def poll(self) -> Sequence[Scan]:
        out = []
        for path in self._matches():
            key = str(path.resolve())
            if key in self._taken or not path.is_file():
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            stamp = (st.st_size, st.st_mtime_ns)
            if st.st_size and self._seen.get(key) == stamp:
                number = None
                if self._number is not None:
                    number = self._number(path)
                    if number is None:  # its integration pass has not ended (or it is not the run's)
                        continue
                self._taken.add(key)
                out.append(Scan(index=-1, path=path, number=number))
            else:
                self._seen[key] = stamp
        return out


@dataclass(frozen=True)
class NumberedFolder:
    """Glob patterns of pattern files whose frame numbers the caller knows (live operando: ``number`` maps a pattern
    file to its frame's position in the stack, None until its integration pass ended): what
    :func:`refine.sequential` follows in place of plain globs, so that each scan keeps its frame's number."""

    patterns: tuple[str, ...]
    number: Callable[[Path], int | None]

    def source(self, known: Sequence[str | os.PathLike] = ()) -> FolderSource:
        """A :class:`FolderSource` over these files (``known``: taken already)."""
        return FolderSource(self.patterns, known, number=self.number)


def poll_interval(idle: float) -> float:
    """Seconds between polls of live mode that waits ``idle`` seconds for new data: a quarter of it, 0.05 to 1 s."""
    return min(1.0, max(idle / 4, 0.05))


@dataclass(frozen=True)
class Follow:
    """Live mode: keep polling ``source`` until no new scan arrived for ``idle`` seconds (polls every ``poll``)."""

    source: ScanSource
    idle: float = 60.0
    poll: float = 1.0


class IdleClock:
    """Seconds since the last new scan."""

    def __init__(self) -> None:
        self._last = time.monotonic()

    def reset(self) -> None:
        self._last = time.monotonic()

    def idle(self) -> float:
        return time.monotonic() - self._last
