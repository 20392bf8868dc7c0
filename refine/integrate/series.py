"""Integrate many image files (single- or multi-frame) into one ``.xye`` per frame, resumably.

pyFAI's CSR engine already uses every core for one frame, so frames are integrated one after the other; what
runs in parallel is reading and decoding the next frames (a reader thread feeding a small bounded queue) while
the current one is integrated. Outputs are written atomically and carry the integrator's fingerprint
(geometry + settings + mask/dark/flat checksums) and their number of points, so a re-run skips every frame
whose output is complete and was made with the same geometry and settings, and redoes the others. With an
``executor`` the frames are integrated on Dask workers instead (:mod:`refine.integrate.distributed`).
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
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
from refine.progress import progress_bar

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
    time: float | None = None
    time_source: str | None = None
    position: int | None = None

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


@dataclasses.dataclass(frozen=True)
class _Item:
    """One frame as the reader hands it over: ``kind`` is ``frame`` (``data`` holds it), ``skip`` (output complete)
    or ``failed`` (``data`` holds the InputError); ``position`` counts frames over the whole series."""

    kind: str
    source: str
    frame: int | None
    nframes: int
    data: Any
    out: Path
    position: int
    time: float | None = None
    time_source: str | None = None


class _XyeSink:
    """Writes one ``.xye`` per frame into a folder (in a thread)."""

    def __init__(self, out_dir: Path, fingerprint: str, queue_size: int) -> None:
        self.out_dir, self.fingerprint = out_dir, fingerprint
        self._writer = _Writer(queue_size)

    def output(self, position: int, source: str, frame: int | None) -> Path:
        return output_path(self.out_dir, source, frame)

    def done(self, position: int, source: str, frame: int | None, out: Path) -> bool:
        return is_complete(out, self.fingerprint)

    def submit(self, item: _Item, pattern: Pattern, radial: Any) -> None:
        header = header_lines(pattern, self.fingerprint)
        if item.time is not None:
            header.append(f"time: {item.time!r} ({item.time_source})")
        self._writer.submit(pattern, item.out, header)

    def close(self, *, check: bool, count: int) -> None:
        self._writer.close(check=check)


class _Hdf5Sink:
    """Appends every frame to one HDF5 series file (:mod:`refine.io.series_file`)."""

    def __init__(self, path: Path, fingerprint: str, resume: bool) -> None:
        from refine.io.series_file import SeriesFileWriter

        self._file = SeriesFileWriter(path, fingerprint, resume=resume)

    def output(self, position: int, source: str, frame: int | None) -> Path:
        return Path(f"{self._file.path}::{position}")

    def done(self, position: int, source: str, frame: int | None, out: Path) -> bool:
        return self._file.done(position, source, frame)

    def submit(self, item: _Item, pattern: Pattern, radial: Any) -> None:
        try:
            self._file.write(item.position, pattern, radial, {"source": item.source, "frame": item.frame,
                                                              "time": item.time, "time_source": item.time_source})
        except OSError as exc:
            raise InputError(self._file.path, f"cannot write the series file ({exc})") from None

    def close(self, *, check: bool, count: int) -> None:
        try:
            if check:
                self._file.truncate(count)
        finally:
            self._file.close()


def _times(source: str, n: int, position: int, scan_times: tuple[float, float] | None) -> tuple[list, str]:
    """The time of each of the ``n`` frames of ``source`` (whose first is frame ``position`` of the series)."""
    if scan_times is not None:
        t0, step = scan_times
        return [t0 + (position + i) * step for i in range(n)], "scan_times"
    from refine.io.frame_times import frame_times

    try:
        times = frame_times(source, n)
    except OSError:
        return [None] * n, ""
    return list(times.epoch), times.source


def _file_items(source: str, sink: Any, resume: bool, position: int,
                scan_times: tuple[float, float] | None, read: bool = True) -> Iterator[_Item]:
    """The items of one file (:class:`_Item`), the first at series ``position``; ``read`` False: frames to
    integrate are items of kind ``frame`` without their data (read where they are integrated)."""
    single = sink.output(position, source, None)
    if resume and isinstance(sink, _XyeSink) and sink.done(position, source, None, single):
        # a finished single-frame file: no need to decode
        time, time_source = _times(source, 1, position, scan_times)
        yield _Item("skip", source, None, 1, None, single, position, time[0], time_source)
        return
    try:
        image = ImageFile(source)
    except InputError as exc:
        yield _Item("failed", source, None, 1, exc, single, position)
        return
    with image:
        n = image.nframes
        times, time_source = _times(source, n, position, scan_times)
        for index in range(n):
            frame = index if n > 1 else None
            out = sink.output(position + index, source, frame)
            where = dict(position=position + index, time=times[index], time_source=time_source)
            if resume and sink.done(position + index, source, frame, out):
                yield _Item("skip", source, frame, n, None, out, **where)
                continue
            try:
                data = image.frame(index) if read else None
            except InputError as exc:
                yield _Item("failed", source, frame, n, exc, out, **where)
                continue
            yield _Item("frame", source, frame, n, data, out, **where)


def series_items(paths: Sequence[str], sink: Any, resume: bool, scan_times: tuple[float, float] | None,
                 read: bool = True) -> Iterator[_Item]:
    """The items of every file in order (:func:`_file_items`), numbered over the whole series."""
    position = 0
    for source in paths:
        for item in _file_items(source, sink, resume, position, scan_times, read):
            yield item
        position = item.position + 1


def _read_all(paths: Sequence[str], sink: Any, resume: bool, scan_times: tuple[float, float] | None,
              q: queue.Queue, stop: threading.Event) -> None:
    """Producer: :func:`series_items`; other errors go through the queue."""
    try:
        for item in series_items(paths, sink, resume, scan_times):
            if not _put(q, item, stop):
                return
        _put(q, _DONE, stop)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        _put(q, exc, stop)


def _frames(paths: Sequence[str], sink: Any, resume: bool, queue_size: int,
            scan_times: tuple[float, float] | None) -> Iterator[_Item]:
    q: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
    stop = threading.Event()
    reader = threading.Thread(target=_read_all, args=(paths, sink, resume, scan_times, q, stop),
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
        if stem in seen:
            if Path(seen[stem]).resolve() == Path(source).resolve():
                raise InputError(source, "is given twice")
            raise InputError(source, f"has the same name as {seen[stem]}: their outputs would overwrite each other")
        seen[stem] = source


def integrate_series(paths: Sequence[str | os.PathLike], integrator: Integrator, out_dir: str | os.PathLike, *,
                     resume: bool = True, progress: bool = True, queue_size: int = 2,
                     stop_on_error: bool = False, series_file: str | os.PathLike | None = None,
                     scan_times: tuple[float, float] | None = None, executor: Any = None) -> list[FrameOutput]:
    """Integrate every frame of every file and write one ``.xye`` per frame into ``out_dir`` (or every frame into
    one HDF5 ``series_file``).

    A file or frame that cannot be read or integrated (an :class:`InputError`) is recorded as failed (its
    :class:`FrameOutput` carries the message) and the series goes on; a re-run tries it again. The output folder
    is locked for the run (:func:`refine.io.lock.folder_lock`). Frames are read one at a time (a stack is never
    held in memory).

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
    series_file
        Write every frame into this HDF5 file (:mod:`refine.io.series_file`; a name without folder goes into
        ``out_dir``) instead of one ``.xye`` per frame.
    scan_times
        (START, STEP): frame i of the series was taken at START + i*STEP; by default each frame's time comes from
        its file's headers, else the file's modification time (:mod:`refine.io.frame_times`).
    executor
        An open executor of :func:`refine.executor.open_executor` whose workers integrate the frames in chunks
        (:mod:`refine.integrate.distributed`); None: in this process.

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
    if series_file is None:
        _check_names(sources)
    if executor is not None:
        from refine.integrate.distributed import check_distributable

        check_distributable(integrator)
    with folder_lock(out_dir, command="integrate"):
        fingerprint = integrator.fingerprint()
        if scan_times is not None:  # the frames' time stamps are written too: another START:STEP redoes the frames
            fingerprint = hashlib.sha256(f"{fingerprint}|{scan_times[0]!r}:{scan_times[1]!r}".encode()).hexdigest()[:16]
        if series_file is None:
            sink: Any = _XyeSink(Path(out_dir), fingerprint, queue_size)
        else:
            target = Path(series_file)
            target = target if target.parent != Path() else Path(out_dir) / target
            sink = _Hdf5Sink(target, fingerprint, resume)
        options = _RunOptions(resume=resume, show=progress and sys.stderr.isatty(), queue_size=queue_size,
                              stop_on_error=stop_on_error, scan_times=scan_times)
        if executor is not None:
            from refine.integrate.distributed import integrate_on

            return integrate_on(executor, sources, integrator, sink, options)
        return _integrate_all(sources, integrator, sink, options)


@dataclasses.dataclass(frozen=True)
class _RunOptions:
    resume: bool
    show: bool
    queue_size: int
    stop_on_error: bool
    scan_times: tuple[float, float] | None


def _integrate_all(sources: Sequence[str], integrator: Integrator, sink: Any,
                   opts: _RunOptions) -> list[FrameOutput]:
    results: list[FrameOutput] = []
    seen_multi: set[str] = set()
    ok = False
    with progress_bar(len(sources), unit="frame", desc="integrate", show=opts.show) as bar:
        try:
            for item in _frames(sources, sink, opts.resume, opts.queue_size, opts.scan_times):
                if item.nframes > 1 and item.source not in seen_multi:
                    seen_multi.add(item.source)
                    bar.total += item.nframes - 1
                    bar.refresh()
                error = item.data if item.kind == "failed" else None
                if item.kind == "frame":
                    try:
                        pattern = integrator.integrate(item.data, source=item.source, frame=item.frame)
                    except InputError as exc:
                        error = exc
                    else:
                        sink.submit(item, pattern, integrator.radial)
                if error is not None and opts.stop_on_error:
                    raise error
                results.append(FrameOutput(source=item.source, frame=item.frame, output=item.out,
                                           skipped=item.kind == "skip", error=None if error is None else str(error),
                                           time=item.time, time_source=item.time_source,
                                           position=item.position))
                bar.update(1)
            ok = True
        finally:
            sink.close(check=ok, count=len(results))  # queued outputs of good frames are still written after an error
    return results
