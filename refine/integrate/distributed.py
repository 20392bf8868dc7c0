"""Integration of frame stacks on Dask workers (``refine integrate --workers N`` or ``--scheduler``).

This process plans the run as the in-process one does (which frames, where each pattern goes, which are finished
already) but reads no frame: consecutive frames go to the workers in chunks of :data:`CHUNK`, one task each. A
worker reads its chunk's frames itself (the image, PONI, mask, dark and flat files must be at the same paths
there) and integrates them with one :class:`Integrator` per worker process, set up at its first chunk and kept
for the next (pyFAI's engine for a 1 M-pixel detector takes about a second to build). The patterns come back here
and this process writes every one (one ``.xye`` each, or the series file, in series order), so a killed run
resumes as the in-process one does.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Sequence
from typing import Any

from refine.errors import InputError
from refine.integrate.integrator import Integrator
from refine.integrate.settings import IntegrationSettings

#: Frames per task: enough to amortise a task's round trip and the file's opening, few enough to share a short
#: series out between the workers.
CHUNK = 16


@functools.lru_cache(maxsize=2)
def _integrator(poni: str, settings: IntegrationSettings) -> Integrator:
    """This worker process's integrator for ``poni`` and ``settings`` (built once, then reused)."""
    return Integrator(poni, settings)


def integrate_chunk(poni: str, settings: IntegrationSettings, frames: Sequence[tuple[str, int, int | None]]
                    ) -> tuple[list[tuple[Any, tuple[str | None, str] | None]], Any]:
    """Integrate ``frames`` ((file, index in the file, frame number or None), in order) in a worker; per frame
    (pattern, None) or (None, (source, problem) of the InputError of a frame that could not be read or
    integrated: an InputError does not pickle), and the integrator's radial grid."""
    from refine.io.images import ImageFile

    integrator = _integrator(poni, settings)
    out: list[tuple[Any, tuple[str | None, str] | None]] = []
    for source, group in itertools.groupby(frames, key=operator.itemgetter(0)):
        wanted = list(group)
        try:
            image = ImageFile(source)
        except InputError as exc:
            out.extend((None, (exc.source, exc.problem)) for _ in wanted)
            continue
        with image:
            for _, index, frame in wanted:
                try:
                    out.append((integrator.integrate(image.frame(index), source=source, frame=frame), None))
                except InputError as exc:
                    out.append((None, (exc.source, exc.problem)))
    return out, integrator.radial


def check_distributable(integrator: Integrator) -> str:
    """The PONI file the workers set up their integrators from (an integrator made from a pyFAI object in memory
    cannot be sent)."""
    if integrator.poni_path is None:
        raise InputError("poni", "integration on Dask workers needs a PONI file (the workers read it)")
    return integrator.poni_path


def _chunks(items: Sequence[Any]) -> list[list[Any]]:
    """The frames to integrate in runs of at most :data:`CHUNK` consecutive ones."""
    out: list[list[Any]] = []
    for item in items:
        if item.kind != "frame":
            continue
        if out and len(out[-1]) < CHUNK and out[-1][-1].position == item.position - 1:
            out[-1].append(item)
        else:
            out.append([item])
    return out


def integrate_on(pool: Any, sources: Sequence[str], integrator: Integrator, sink: Any, opts: Any) -> list:
    """:func:`refine.integrate.series.integrate_series` on ``pool``'s workers: one FrameOutput per frame, in order;
    each pattern written here as soon as every frame before it is (a frame lost with its worker is failed: a
    re-run integrates it)."""
    from refine.integrate.series import FrameOutput, series_items
    from refine.progress import progress_bar

    poni, settings = check_distributable(integrator), integrator.settings
    items = list(series_items(sources, sink, opts.resume, opts.scan_times, read=False))  # headers, not frames
    chunks = _chunks(items)
    inflight: dict[Any, list[Any]] = {}
    got: dict[int, tuple[Any, Any, Any]] = {}  # position -> (pattern, (source, problem) of a failure, radial)
    results: list[FrameOutput] = []
    depth, submitted, ok = 2 * max(1, int(pool.slots)), 0, False
    with progress_bar(len(items), unit="frame", desc="integrate", show=opts.show) as bar:
        try:
            while len(results) < len(items):
                while submitted < len(chunks) and len(inflight) < depth:
                    chunk = chunks[submitted]
                    frames = tuple((it.source, it.frame or 0, it.frame) for it in chunk)
                    inflight[pool.submit(integrate_chunk, poni, settings, frames)] = chunk
                    submitted += 1
                while len(results) < len(items):
                    item = items[len(results)]
                    if item.kind == "frame" and item.position not in got:
                        break
                    results.append(_finish(item, got.pop(item.position, None), sink, opts.stop_on_error))
                    bar.update(1)
                if len(results) < len(items):
                    for future in pool.wait_any(list(inflight), None):
                        _collect(inflight.pop(future), future, got)
            ok = True
        finally:
            sink.close(check=ok, count=len(results))  # patterns written so far stay; a re-run resumes after them
    return results


def _collect(chunk: list[Any], future: Any, got: dict[int, tuple[Any, Any, Any]]) -> None:
    try:
        outcomes, radial = future.result()
    except Exception as exc:  # noqa: BLE001 - a task lost with its worker: its frames failed, a re-run retries
        outcomes = [(None, (item.source, f"integration task lost ({type(exc).__name__}: {exc})")) for item in chunk]
        radial = None
    for item, (pattern, error) in zip(chunk, outcomes, strict=True):
        got[item.position] = (pattern, error, radial)


def _finish(item: Any, outcome: tuple[Any, Any, Any] | None, sink: Any, stop_on_error: bool) -> Any:
    """The FrameOutput of ``item`` (its pattern handed to ``sink``); raises a failure with ``stop_on_error``."""
    from refine.integrate.series import FrameOutput

    error = item.data if item.kind == "failed" else None
    if outcome is not None:
        pattern, where, radial = outcome
        if pattern is not None:
            sink.submit(item, pattern, radial)
        else:
            error = InputError(*where)
    if error is not None and stop_on_error:
        raise error
    return FrameOutput(source=item.source, frame=item.frame, output=item.out, skipped=item.kind == "skip",
                       error=None if error is None else str(error), time=item.time, time_source=item.time_source,
                       position=item.position)
