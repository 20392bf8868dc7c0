"""Integrate many image files (single- or multi-frame) into one ``.xye`` per frame, resumably.

pyFAI's CSR engine already uses every core for one frame, so frames are integrated one after the other; what
runs in parallel is reading and decoding the next frames (a reader thread feeding a small bounded queue) while
the current one is integrated. Outputs are written atomically and carry the integrator's fingerprint
(geometry + settings + mask/dark/flat checksums) and their number of points, so a re-run skips every frame
whose output is complete and was made with the same geometry and settings, and redoes the others.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from refine.data import Pattern
from refine.errors import InputError
from refine.integrate.integrator import Integrator
from refine.io.images import ImageFile
from refine.io.patterns import write_pattern

OUTPUT_SUFFIX = ".xye"


@dataclasses.dataclass(frozen=True)
class FrameOutput:
    """One frame of a series: where it came from, where its pattern is, and whether it was skipped."""

    source: str
    frame: int | None
    output: Path
    skipped: bool


def _stem(path: str | os.PathLike) -> str:
    return Path(os.fspath(path).split("::", 1)[0]).stem


def output_path(out_dir: str | os.PathLike, source: str | os.PathLike, frame: int | None) -> Path:
    """``DIR/stem.xye`` for a single-frame file, ``DIR/stem_00012.xye`` for frame 12 of a multi-frame file."""
    name = _stem(source) if frame is None else f"{_stem(source)}_{frame:05d}"
    return Path(out_dir) / f"{name}{OUTPUT_SUFFIX}"


def header_lines(pattern: Pattern, fingerprint: str) -> list[str]:
    """The header of an integrated pattern: image, frame, geometry, settings, fingerprint, point count."""
    meta = pattern.metadata
    frame = meta.get("frame")
    return [f"image: {meta.get('source')}",
            f"frame: {'single' if frame is None else frame}",
            f"geometry: {json.dumps(dict(meta.get('geometry', {})), sort_keys=True)}",
            f"integration: {json.dumps(dict(meta.get('integration', {})), sort_keys=True)}",
            f"fingerprint: {fingerprint}",
            f"npoints: {len(pattern)}"]


def is_complete(path: Path, fingerprint: str) -> bool:
    """True when ``path`` is an output with this fingerprint holding as many data rows as its header says."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    expected, rows, same = None, 0, False
    for line in text.splitlines():
        if line.startswith("#"):
            if line.startswith("# fingerprint:"):
                same = line.split(":", 1)[1].strip() == fingerprint
            elif line.startswith("# npoints:"):
                try:
                    expected = int(line.split(":", 1)[1])
                except ValueError:
                    return False
        elif line.strip():
            rows += 1
    return same and expected is not None and rows == expected


# -- reader thread ------------------------------------------------------------------------------------
_DONE = object()


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _read_all(paths: Sequence[str], out_dir: Path, fingerprint: str, resume: bool, q: queue.Queue,
              stop: threading.Event) -> None:
    """Producer: ("frame", source, frame, nframes, data, out) or ("skip", ...); errors go through the queue."""
    try:
        for source in paths:
            single = output_path(out_dir, source, None)
            if resume and is_complete(single, fingerprint):  # a finished single-frame file: no need to decode
                if not _put(q, ("skip", source, None, 1, None, single), stop):
                    return
                continue
            with ImageFile(source) as image:
                n = image.nframes
                for index in range(n):
                    frame = index if n > 1 else None
                    out = output_path(out_dir, source, frame)
                    if resume and is_complete(out, fingerprint):
                        item = ("skip", source, frame, n, None, out)
                    else:
                        item = ("frame", source, frame, n, image.frame(index), out)
                    if not _put(q, item, stop):
                        return
        _put(q, _DONE, stop)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        _put(q, exc, stop)


def _frames(paths: Sequence[str], out_dir: Path, fingerprint: str, resume: bool,
            queue_size: int) -> Iterator[tuple]:
    q: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
    stop = threading.Event()
    reader = threading.Thread(target=_read_all, args=(paths, out_dir, fingerprint, resume, q, stop),
                              name="refine-image-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


class _Writer:
    """Writes patterns in a thread (text formatting overlaps the next integration); errors surface on the
    next :meth:`submit` or on :meth:`close`."""

    def __init__(self, size: int) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, size))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="refine-pattern-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None:
                pattern, out, header = item
                try:
                    write_pattern(pattern, out, format="columns", header=header)
                except OSError as exc:  # a full disk, a read-only folder, a directory in the way
                    self._error = InputError(out, f"cannot write the pattern ({exc.strerror or exc})")
                except BaseException as exc:  # re-raised in the calling thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, pattern: Pattern, out: Path, header: list[str]) -> None:
        self._raise()
        self._queue.put((pattern, out, header))

    def close(self, *, check: bool = True) -> None:
        self._queue.put(_DONE)
        self._thread.join()
        if check:
            self._raise()


def _check_names(paths: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for source in paths:
        stem = _stem(source)
        if stem in seen and seen[stem] != source:
            raise InputError(source, f"has the same name as {seen[stem]}: their outputs would overwrite each other")
        seen[stem] = source


def integrate_series(paths: Sequence[str | os.PathLike], integrator: Integrator, out_dir: str | os.PathLike, *,
                     resume: bool = True, progress: bool = True, queue_size: int = 2) -> list[FrameOutput]:
    """Integrate every frame of every file and write one ``.xye`` per frame into ``out_dir``.

    Parameters
    ----------
    paths
        Image files in order (multi-frame files give one output per frame).
    integrator
        Built once; reused for every frame.
    out_dir
        Output folder (created if needed).
    resume
        Skip frames whose output is complete and has the same fingerprint (geometry + settings).
    progress
        Show a tqdm bar (never when stderr is not a terminal).
    queue_size
        Frames read ahead of the integration.

    Returns
    -------
    list of FrameOutput
        One per frame, in order.

    Raises
    ------
    InputError
        For the first bad file or frame (outputs already written stay; a re-run resumes after them).
    """
    from tqdm import tqdm

    sources = [os.fspath(p) for p in paths]
    if not sources:
        raise InputError("images", "no image files given")
    _check_names(sources)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = integrator.fingerprint()
    results: list[FrameOutput] = []
    show = progress and sys.stderr.isatty()
    writer = _Writer(queue_size)
    seen_multi: set[str] = set()
    ok = False
    with tqdm(total=len(sources), unit="frame", desc="integrate", disable=not show) as bar:
        try:
            for kind, source, frame, nframes, data, out in _frames(sources, out_dir, fingerprint, resume,
                                                                   queue_size):
                if nframes > 1 and source not in seen_multi:
                    seen_multi.add(source)
                    bar.total += nframes - 1
                    bar.refresh()
                if kind == "frame":
                    pattern = integrator.integrate(data, source=source, frame=frame)
                    writer.submit(pattern, out, header_lines(pattern, fingerprint))
                results.append(FrameOutput(source=source, frame=frame, output=out, skipped=kind == "skip"))
                bar.update(1)
            ok = True
        finally:
            writer.close(check=ok)  # queued outputs of good frames are still written after an error
    return results
