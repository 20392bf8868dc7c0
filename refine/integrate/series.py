"""Integrate many image files (single- or multi-frame) into one ``.xye`` per frame, resumably.

pyFAI's CSR engine already uses every core for one frame, so frames are integrated one after the other; what
runs in parallel is reading and decoding the next frames (a reader thread feeding a small bounded queue) while
the current one is integrated. Outputs are written atomically and carry the integrator's fingerprint
(geometry + settings + mask/dark/flat checksums) and their number of points, so a re-run skips every frame
whose output is complete and was made with the same geometry and settings, and redoes the others.
"""

from __future__ import annotations

import contextvars
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
    """One frame of a series: where it came from, where its pattern is, whether it was skipped, and why it
    failed (``error``, the one-line message of a file or frame that could not be read or integrated; then
    ``output`` is where its pattern would have gone and nothing was written there)."""

    source: str
    frame: int | None
    output: Path
    skipped: bool
    error: str | None = None

    @property
    def failed(self) -> bool:
        """True when this file or frame could not be read or integrated."""
        return self.error is not None


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


def _file_items(source: str, out_dir: Path, fingerprint: str, resume: bool) -> Iterator[tuple]:
    """The items of one file: ("frame", source, frame, nframes, data, out), ("skip", ...) for a finished output,
    or ("failed", source, frame, nframes, InputError, out) for a file or frame that cannot be read."""
    single = output_path(out_dir, source, None)
    if resume and is_complete(single, fingerprint):  # a finished single-frame file: no need to decode
        yield ("skip", source, None, 1, None, single)
        return
    try:
        image = ImageFile(source)
    except InputError as exc:
        yield ("failed", source, None, 1, exc, single)
        return
    with image:
        n = image.nframes
        for index in range(n):
            frame = index if n > 1 else None
            out = output_path(out_dir, source, frame)
            if resume and is_complete(out, fingerprint):
                yield ("skip", source, frame, n, None, out)
                continue
            try:
                data = image.frame(index)
            except InputError as exc:
                yield ("failed", source, frame, n, exc, out)
                continue
            yield ("frame", source, frame, n, data, out)


def _read_all(paths: Sequence[str], out_dir: Path, fingerprint: str, resume: bool, q: queue.Queue,
              stop: threading.Event) -> None:
    """Producer: the items of every file in order (:func:`_file_items`); other errors go through the queue."""
    try:
        for source in paths:
            for item in _file_items(source, out_dir, fingerprint, resume):
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
        context = contextvars.copy_context()  # the caller's output policy (refine.io.outputs) holds in the thread
        self._thread = threading.Thread(target=context.run, args=(self._work,), name="refine-pattern-writer",
                                        daemon=True)
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
                     resume: bool = True, progress: bool = True, queue_size: int = 2,
                     stop_on_error: bool = False) -> list[FrameOutput]:
    """Integrate every frame of every file and write one ``.xye`` per frame into ``out_dir``.

    A file or frame that cannot be read or integrated (an :class:`InputError`) is recorded as failed (its
    :class:`FrameOutput` carries the message) and the series goes on; a re-run tries it again. The output folder
    is locked for the run (:func:`refine.io.lock.folder_lock`).

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
    stop_on_error
        Raise the first bad file's or frame's InputError instead of recording it and going on.

    Returns
    -------
    list of FrameOutput
        One per frame (one per unreadable file), in order.

    Raises
    ------
    InputError
        For bad arguments, an output that cannot be written, another run holding ``out_dir``, and with
        ``stop_on_error`` the first bad file or frame (outputs already written stay; a re-run resumes after them).
    """
    from refine.io.lock import folder_lock

    sources = [os.fspath(p) for p in paths]
    if not sources:
        raise InputError("images", "no image files given")
    _check_names(sources)
    with folder_lock(out_dir, command="integrate"):
        return _integrate_all(sources, integrator, Path(out_dir), resume=resume, show=progress and sys.stderr.isatty(),
                              queue_size=queue_size, stop_on_error=stop_on_error)


def _integrate_all(sources: Sequence[str], integrator: Integrator, out_dir: Path, *, resume: bool, show: bool,
                   queue_size: int, stop_on_error: bool) -> list[FrameOutput]:
    from tqdm import tqdm

    fingerprint = integrator.fingerprint()
    results: list[FrameOutput] = []
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
                error = data if kind == "failed" else None
                if kind == "frame":
                    try:
                        pattern = integrator.integrate(data, source=source, frame=frame)
                    except InputError as exc:
                        error = exc
                    else:
                        writer.submit(pattern, out, header_lines(pattern, fingerprint))
                if error is not None and stop_on_error:
                    raise error
                results.append(FrameOutput(source=source, frame=frame, output=out, skipped=kind == "skip",
                                           error=None if error is None else str(error)))
                bar.update(1)
            ok = True
        finally:
            writer.close(check=ok)  # queued outputs of good frames are still written after an error
    return results
