"""Live mode of ``refine operando`` (``--follow``): frames integrated as they land, in a thread, while the fits
follow the patterns folder (:class:`refine.operando.schedule.FolderSource`).

Every ``poll`` seconds :class:`FrameFeeder` makes a pass over the images: a glob is matched again (new files), a
multi-frame file is opened again (frames appended since), and the frames without a pattern yet are integrated
(:func:`refine.integrate.integrate_series` with resume: a finished frame costs a file check). A file is taken once
its size and modification time held between two passes, so a frame file still being written is not read
half-way; a frame that could not be read is tried again at the next pass. Started before the experiment, live mode
first waits (:func:`wait_for_first`) up to ``idle`` seconds for a first image file written in full.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from refine.errors import InputError


class FrameFeeder:
    """Integrates the frames of ``images`` that land after the first pass into ``output``, in a thread, until
    :meth:`stop`.

    Parameters
    ----------
    images
        What ``refine operando`` was given: files or globs.
    integrator
        The :class:`refine.integrate.Integrator` (set up once for every pass).
    output
        The patterns folder.
    scan_times
        ``(START, STEP)`` frame times, or None (headers, file times).
    poll
        Seconds between passes.
    """

    def __init__(self, images: Any, integrator: Any, output: Path, *, scan_times: tuple[float, float] | None,
                 poll: float) -> None:
        self._images, self._integrator, self._output = images, integrator, Path(output)
        self._scan_times, self._poll = scan_times, poll
        self._stop = threading.Event()
        self._stamps: dict[str, tuple[int, int]] = {}
        self._taken: set[str] = set()
        self._records: dict[tuple[str, int | None], Any] = {}
        self._numbers: dict[str, int] = {}  # resolved pattern path -> its frame's position in the stack
        self._error: BaseException | None = None
        #: ``time.monotonic()`` when the last frame was integrated (or the passes started).
        self.last_new = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="refine-live-integration", daemon=True)

    def start(self, first: Sequence[Any]) -> None:
        """Start the passes after the first one, whose records are ``first``."""
        self._merge(first)
        self._taken.update(os.fspath(r.source) for r in first if not r.failed)
        self._thread.start()

    def stop(self) -> list:
        """End the passes (the one under way finishes) and return one record per frame, in series order; an error
        that ended them is raised here."""
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return sorted(self._records.values(), key=lambda r: (r.position is None, r.position or 0))

    def _run(self) -> None:
        from refine.integrate import integrate_series

        while not self._stop.wait(self._poll):
            try:
                paths = self._ready()
                if paths:
                    self._merge(integrate_series(paths, self._integrator, self._output, resume=True, progress=False,
                                                 scan_times=self._scan_times))
            except BaseException as exc:  # noqa: BLE001 - raised by stop() in the calling thread
                self._error = exc
                return

    def _ready(self) -> list[str]:
        """The image files of this pass, in series order: those taken before, and the new ones up to the first
        whose size or modification time changed since the last pass (files land in order; a later one is taken
        with it, so that each file keeps its position in the series)."""
        from refine.api.images import image_paths

        try:
            paths = [os.fspath(p) for p in image_paths(self._images)]
        except InputError:  # a glob that matches nothing now (files moved away): nothing to do this pass
            return []
        ready = []
        for path in paths:
            if path not in self._taken:
                stamp = _stamp(path)
                if stamp is None or self._stamps.get(path) != stamp:
                    if stamp is not None:
                        self._stamps[path] = stamp
                    break
                self._taken.add(path)
            ready.append(path)
        return ready

    def _merge(self, records: Sequence[Any]) -> None:
        """Keep each frame's record: an integration replaces a skip or a failure of an earlier pass."""
        for record in records:
            key = (os.fspath(record.source), record.frame)
            old = self._records.get(key)
            if old is None or old.failed or (old.skipped and not record.skipped and not record.failed):
                self._records[key] = record
                if not record.failed and record.position is not None:
                    self._numbers[str(Path(record.output).resolve())] = record.position
                if not record.skipped and not record.failed:
                    self.last_new = time.monotonic()

    def number(self, pattern: Path) -> int | None:
        """The frame number (position in the stack) of the frame whose pattern is ``pattern``; None until the pass
        that wrote it has ended (or for a file this feeder did not write)."""
        return self._numbers.get(str(Path(pattern).resolve()))

    @property
    def failed(self) -> BaseException | None:
        """The error that ended the passes, if one did."""
        return self._error


def follow_frames(images: Any, integrator: Any, output: Path, first: Sequence[Any], *,
                  scan_times: tuple[float, float] | None, idle: float) -> list:
    """``refine integrate --follow``: after the first pass (its records ``first``), integrate frames as they land
    until ``idle`` seconds pass without a new one; one record per frame, in series order."""
    from refine.operando.schedule import poll_interval

    poll = poll_interval(idle)
    feeder = FrameFeeder(images, integrator, output, scan_times=scan_times, poll=poll)
    feeder.start(first)
    try:
        while feeder.failed is None and time.monotonic() - feeder.last_new < idle:
            time.sleep(poll)
    finally:
        records = feeder.stop()
    return records


def wait_for_first(images: Any, *, idle: float, poll: float) -> None:
    """Live mode started before the experiment: return once ``images`` (a glob or files) names a file whose size
    (non-zero) and modification time held between two looks ``poll`` seconds apart; :class:`InputError` after
    ``idle`` seconds without one."""
    from refine.api.images import image_paths

    seen: tuple[int, int] | None = None
    start = time.monotonic()
    while True:
        try:
            paths = [os.fspath(p) for p in image_paths(images) if isinstance(p, (str, os.PathLike))]
        except InputError:  # a glob that matches nothing yet
            paths = []
        stamp = _stamp(paths[0].split("::", 1)[0]) if paths else None
        if stamp is not None and stamp == seen:
            return
        seen = stamp
        if time.monotonic() - start >= idle:
            name = os.fspath(images) if isinstance(images, (str, os.PathLike)) else "images"
            raise InputError(name, f"no image landed within {idle:g} s (live mode waits idle seconds for the first)")
        time.sleep(poll)


def _stamp(path: str) -> tuple[int, int] | None:
    """(size, modification time) of a file with something in it; None while it is missing or empty. A file whose
    stamp held between two looks is written in full."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if st.st_size else None
