"""The loop of a sequential run: submits each scan's fit when the result it starts from is final (the plan of
:mod:`refine.operando.schedule`), keeps at most as many fits in flight as the executor has slots, guards and
writes each result (only this process writes), resumes finished scans, and in live mode polls for new scans.

On a Dask executor the rest of a chunk after its first scan goes to one worker as one task (:func:`fit_run`): the
worker fits those scans in order, each from its predecessor, exactly as this process would (the same guard
decides which result the next scan starts from), and returns them together; this process then guards and writes
them one by one and checks that each started from what the plan says. A chain of single-scan tasks would make
every scan wait for a round trip through the scheduler and this process (tens of ms on a 0.15 s fit) and give
this process per-scan work that competes with the workers for the cores."""

from __future__ import annotations

import dataclasses
import heapq
import json
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refine.executor import InProcess
from refine.fit import FitResult
from refine.fit.result import document_json
from refine.io.atomic import atomic_open
from refine.operando.schedule import Follow, IdleClock, ScanSource, Seed, is_anchor, priority, seed_index
from refine.operando.sequential import (
    FitKind,
    SequentialSettings,
    _fit_scan,
    _Job,
    _load_finished,
    _record,
    scan_result_path,
)
from refine.operando.series import Scan
from refine.operando.series_result import FittedScan, ScanFailure, store
from refine.progress import progress_bar

#: Most scans one task fits in a row (results come back, and are written, when the task ends; shorter runs
#: share the last chunks out more evenly between the workers).
RUN_MAX = 4


@dataclass(frozen=True)
class Context:
    """What every scan of a run shares."""

    kind: FitKind
    phases: tuple
    instrument: Any
    settings: SequentialSettings
    run_settings: Mapping[str, Any]
    fingerprint: str
    out_dir: Path | None
    first: Any = None  # the first scan's pattern as the settings check read it (its fit does not read it again)


@dataclass
class _Attempt:
    """A fit in flight: its scan, the seed it started from, and (for a refit) why the first fit was refused."""

    scan: Scan
    seed: Seed | None
    first_reason: str | None = None
    first_seed: int | None = None
    first: tuple[dict, bytes] | None = None  # the refused first fit (kept until the refit is decided)


@dataclass
class _Run:
    """Scans fitted in order by one task (the rest of a chunk), the first from ``seed``."""

    scans: tuple[Scan, ...]
    seed: Seed | None


def carried_seed(index: int, seed: Seed | None, doc: Mapping[str, Any] | None) -> Seed | None:
    """What the scan after scan ``index`` starts from once scan ``index`` (started from ``seed``) is final with
    ``doc`` (None: the fit failed; a fit the guard refused is final as not converged): its own result when
    converged, else what it started from."""
    return Seed.from_doc(index, doc) if doc is not None and doc.get("converged") else seed


def next_seed(index: int, seed: Seed | None, doc: Mapping[str, Any] | None, guard: Any) -> Seed | None:
    """:func:`carried_seed` of a fit not yet guarded (in a worker's run): a converged fit the guard refuses
    carries ``seed``, as it will once this process has guarded and written it."""
    if doc is not None and doc.get("converged") and seed is not None and guard.reason(doc, seed) is not None:
        return seed
    return carried_seed(index, seed, doc)


def fit_run(jobs: Sequence[_Job], seed: Seed | None, restart_each: bool = False
            ) -> list[tuple[Seed | None, tuple[dict | None, bytes | None, str | None]]]:
    """Fit ``jobs`` (consecutive scans) in order in this worker, the first from ``seed``, each next one from
    :func:`next_seed`; returns (the seed used, :func:`_fit_scan`'s result) per scan."""
    out = []
    for job in jobs:
        used = None if restart_each else seed
        result = _fit_scan(dataclasses.replace(job, seed=used))
        out.append((used, result))
        seed = next_seed(job.scan.index, used, result[0], job.settings.guard)
    return out


class Loop:
    """Submits each scan when the result it starts from is final, keeps at most ``pool.slots`` fits in flight,
    guards and writes each result, and (live mode) keeps polling for new scans until idle."""

    def __init__(self, ctx: Context, pool: Any, follow: Follow | None, total: int | None) -> None:
        self.ctx, self.pool, self.follow = ctx, pool, follow
        self.scans: list[Scan] = []
        self.todo: set[int] = set()
        self.ready: list[tuple[tuple[int, int], int]] = []  # heap of (priority, index) whose start is known
        self.waiting: dict[int, _Attempt] = {}  # refused first fits waiting for their predecessor
        self.inflight: dict[Any, _Attempt | _Run] = {}
        self.carry: dict[int, Seed | None] = {}  # final scans: the seed their dependants start from
        self.results: dict[int, bytes | FittedScan] = {}  # final scans as StoredScans keeps them
        self.single: set[int] = set()  # scans fitted one task each (taken back from a run)
        self.fitted = self.skipped = 0
        self.bar = progress_bar(total, unit="scan", desc="sequential")

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self, source: ScanSource) -> None:
        clock = IdleClock()
        sources = [source] + ([self.follow.source] if self.follow else [])
        try:
            while True:
                if self._take(sources):
                    clock.reset()
                self._submit_ready()
                if self.inflight:
                    timeout = self.follow.poll if self.follow else None
                    for future in self.pool.wait_any(list(self.inflight), timeout):
                        self._done(future)
                    continue
                if self.todo or self.waiting:
                    raise RuntimeError("sequential: scans left that can never start")  # pragma: no cover
                if not self.follow or clock.idle() >= self.follow.idle:
                    break
                time.sleep(self.follow.poll)
        finally:
            self.bar.close()

    def _take(self, sources: Sequence[ScanSource]) -> bool:
        new = [scan for src in sources for scan in src.poll()]
        for scan in new:
            scan = dataclasses.replace(scan, index=len(self.scans))
            self.scans.append(scan)
            self.todo.add(scan.index)
            self._push_if_ready(scan.index)
        return bool(new)

    def _push_if_ready(self, index: int) -> None:
        if index in self.todo and self._seed_ready(index)[0]:
            heapq.heappush(self.ready, (priority(index, self.ctx.settings.chunk), index))

    def _dependants(self, index: int) -> tuple[int, ...]:
        """Scans that start from scan ``index`` (within the scans known so far)."""
        chunk = self.ctx.settings.chunk
        out = [index + 1] if seed_index(index + 1, chunk) == index else []
        if is_anchor(index, chunk) and chunk > 0 and index + chunk != index + 1:
            out.append(index + chunk)
        return tuple(d for d in out if d < len(self.scans))

    def _seed_ready(self, index: int) -> tuple[bool, Seed | None]:
        if self.ctx.settings.restart_each:
            return True, None
        s = seed_index(index, self.ctx.settings.chunk)
        if s is None:
            return True, None
        return (True, self.carry[s]) if s in self.carry else (False, None)

    def _submit_ready(self) -> None:
        """Submit ready scans, anchors first, keeping at most ``pool.slots`` fits in flight in this process and
        twice that on Dask (a worker finds its next task waiting instead of idling through a round trip to this
        process); on Dask an anchor goes at once, ahead of waiting runs (the chunks after it wait for it)."""
        self._settle_waiting()
        local, chunk = isinstance(self.pool, InProcess), self.ctx.settings.chunk
        depth = self.pool.slots * (1 if local else 2)
        while self.ready and (len(self.inflight) < depth or (not local and is_anchor(self.ready[0][1], chunk))):
            _, index = heapq.heappop(self.ready)
            if index not in self.todo:
                continue
            seed = self._seed_ready(index)[1]
            self.todo.discard(index)
            if self._resume(self.scans[index], seed):
                continue
            run = self._run_from(index)
            if len(run) > 1:
                self._submit_run(_Run(run, seed))
            else:
                self._submit(_Attempt(self.scans[index], seed))

    def _run_from(self, index: int) -> tuple[Scan, ...]:
        """Scan ``index`` and the following scans of its chain that one Dask task fits in order: up to the next
        anchor, the first finished one (resumed here) or the last scan known. One scan in this process."""
        chunk = self.ctx.settings.chunk
        if (isinstance(self.pool, InProcess) or not getattr(self.pool, "ready", True) or is_anchor(index, chunk)
                or index in self.single):  # not while a starting cluster's tasks still run here
            return (self.scans[index],)
        run = [self.scans[index]]
        nxt = index + 1
        while (len(run) < RUN_MAX and nxt < len(self.scans) and nxt in self.todo and nxt not in self.single
               and not is_anchor(nxt, chunk) and not self._finished(self.scans[nxt])):
            run.append(self.scans[nxt])
            nxt += 1
        for scan in run[1:]:
            self.todo.discard(scan.index)
        return tuple(run)

    def _finished(self, scan: Scan) -> bool:
        path = self._path(scan)
        return path is not None and _load_finished(path, scan, self.ctx.fingerprint) is not None

    def _job(self, scan: Scan, seed: Seed | None) -> _Job:
        ctx = self.ctx
        first = ctx.first if ctx.first is not None and scan is self.scans[0] else None
        return _Job(scan, ctx.settings.kind, ctx.phases, ctx.instrument, ctx.settings, seed, ctx.run_settings,
                    self._path(scan), first)

    def _submit_run(self, run: _Run) -> None:
        jobs = [self._job(scan, None) for scan in run.scans]
        self.inflight[self.pool.submit(fit_run, jobs, run.seed, self.ctx.settings.restart_each)] = run

    def _submit(self, attempt: _Attempt) -> None:
        ctx = self.ctx
        job = self._job(attempt.scan, attempt.seed)
        if isinstance(self.pool, InProcess):
            self.inflight[self.pool.submit(_fit_scan, job, ctx.kind)] = attempt
        else:  # before waiting runs: an anchor or a refit is what other scans wait for
            self.inflight[self.pool.submit(_fit_scan, job, priority=1)] = attempt

    def _path(self, scan: Scan) -> Path | None:
        return None if self.ctx.out_dir is None else scan_result_path(self.ctx.out_dir, scan)

    def _resume(self, scan: Scan, seed: Seed | None) -> bool:
        path = self._path(scan)
        doc = None if path is None else _load_finished(path, scan, self.ctx.fingerprint)
        if doc is None:
            return False
        self.skipped += 1
        self._final(scan, seed, doc, None, path)
        return True

    # -- results -------------------------------------------------------------------------------------------
    def _done(self, future: Any) -> None:
        attempt = self.inflight.pop(future)
        try:
            outcome = future.result()
        except Exception as exc:  # noqa: BLE001 - a task lost with its workers (KilledWorker) is a failed scan
            outcome = None, None, f"{type(exc).__name__}: {exc}"
        if isinstance(attempt, _Run):
            self._run_done(attempt, outcome)
        else:
            self._outcome(attempt, *outcome)

    def _run_done(self, run: _Run, outcome: Any) -> None:
        """Guard and write a run's scans in order. From the first scan the worker did not start from what the plan
        says now (never expected; or the rest of a run lost with its worker) the scans go back to be fitted one
        task each."""
        results = outcome if isinstance(outcome, list) else [(run.seed, outcome)]
        for k, scan in enumerate(run.scans):
            ready, expected = (True, run.seed) if k == 0 else self._seed_ready(scan.index)
            if k >= len(results) or not ready or results[k][0] != expected:
                for rest in run.scans[k:]:
                    self.single.add(rest.index)
                    self.todo.add(rest.index)
                    self._push_if_ready(rest.index)
                return
            self._outcome(_Attempt(scan, expected), *results[k][1])
            self._settle_waiting()

    def _settle_waiting(self) -> None:
        for index, attempt in list(self.waiting.items()):
            if index - 1 in self.carry:
                del self.waiting[index]
                self._refit_or_flag(attempt)

    def _outcome(self, attempt: _Attempt, doc: dict | None, fit: bytes | None, error: str | None) -> None:
        scan = attempt.scan
        if doc is None:
            self._failure(scan, attempt.seed, str(error))
            return
        reason = None if attempt.seed is None else self.ctx.settings.guard.reason(doc, attempt.seed)
        if reason and attempt.first_reason is None and attempt.seed.index != scan.index - 1:
            attempt.first_reason, attempt.first_seed, attempt.first = reason, attempt.seed.index, (doc, fit)
            self.waiting[scan.index] = attempt  # refitted from the predecessor once that one is final
            return
        self._write(attempt, doc, fit, reason)

    def _refit_or_flag(self, attempt: _Attempt) -> None:
        pred = self.carry[attempt.scan.index - 1]
        if pred is None or (attempt.seed is not None and pred.index == attempt.seed.index):
            doc, fit = attempt.first  # no better start than the one used: the first fit, flagged
            self._write(_Attempt(attempt.scan, attempt.seed), doc, fit, attempt.first_reason)
            return
        self._submit(dataclasses.replace(attempt, seed=pred, first=None))

    def _write(self, attempt: _Attempt, doc: dict, fit: bytes, reason: str | None) -> None:
        """Write a guarded result (``fit``: the pickled FitResult, unpickled only when the guard edits it)."""
        guard: dict[str, Any] = {"flagged": reason is not None, "reason": reason,
                                 "started_from": None if attempt.seed is None else attempt.seed.index}
        warnings = list(doc.get("warnings") or [])
        if attempt.first_reason is not None:
            guard["first_fit"] = {"started_from": attempt.first_seed, "reason": attempt.first_reason}
            warnings.append(f"guard: the fit from scan {attempt.first_seed} was refused ({attempt.first_reason}); "
                            f"refitted from scan {guard['started_from']}")
        if reason is not None:
            warnings.append(f"guard: suspect fit, not converged: {reason}")
            doc["converged"] = False
            doc["message"] = f"suspect: {reason}"
        if attempt.first_reason is not None or reason is not None:  # the kept fit says the same as the file
            edits: dict[str, Any] = {"warnings": tuple(warnings)}
            if reason is not None:
                edits.update(converged=False, message=doc["message"])
            fit = store(dataclasses.replace(pickle.loads(fit), **edits))
        doc["warnings"] = warnings
        doc.setdefault("provenance", {})["guard"] = guard
        path = self._path(attempt.scan)
        if path is not None:  # the worker wrote the curves and dropped them from the fit
            text = document_json(doc, safe=True)  # the worker's to_dict() made it JSON-safe
            with atomic_open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            doc = json.loads(text)  # the record as a resumed run reads it from the file
        self.fitted += 1
        self._final(attempt.scan, attempt.seed, doc, fit, path)

    def _failure(self, scan: Scan, seed: Seed | None, error: str) -> None:
        self.results[scan.index] = store(ScanFailure(index=scan.index, file=str(scan.path), error=error,
                                                     echem=dict(scan.echem), frame=scan.number))
        self.carry[scan.index] = carried_seed(scan.index, seed, None)
        self._released(scan.index)

    def _final(self, scan: Scan, seed: Seed | None, doc: dict, fit: bytes | None, path: Path | None) -> None:
        ok = bool(doc.get("converged"))
        flagged = ((doc.get("provenance") or {}).get("guard") or {}).get("flagged")
        status = "suspect" if flagged else "converged" if ok else "not converged"
        record = _record(doc, scan, path, status)
        self.results[scan.index] = FittedScan.make(fit if fit is not None else store(FitResult.from_dict(doc)), record)
        self.carry[scan.index] = carried_seed(scan.index, seed, doc)
        self._released(scan.index)

    def _released(self, index: int) -> None:
        self.bar.update(1)
        for d in self._dependants(index):
            self._push_if_ready(d)
