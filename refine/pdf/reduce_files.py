"""Files around :mod:`refine.pdf.reduce`: reading the inputs, the recorded header, writing the curves and the
resumable batch reduction of many inputs with one configuration."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from types import MappingProxyType

from refine.data import Pattern
from refine.errors import InputError
from refine.pdf.composition import format_composition, parse_composition
from refine.pdf.reduce import OUTPUT_KINDS, ReductionConfig, ReductionResult, reduce_pattern

#: PDFgetX3 ``dataformat`` -> the unit its first column is read in.
DATAFORMAT_UNITS = {"QA": "q_A^-1", "Qnm": "q_nm^-1", "twotheta": "2th_deg"}


def read_input(path: str | Path, unit: str | None = None) -> Pattern:
    """Read a pattern, with its x column in ``unit`` when given (PDFgetX3's ``dataformat``); a file header that
    names another unit is bad input rather than silently overridden."""
    from refine import units
    from refine.io import read_pattern

    if unit is None:
        return read_pattern(path)
    plain = read_pattern(path)
    wanted = units.normalize_unit(unit)[0]
    if plain.metadata.get("unit_from") == "header" and plain.unit != wanted:
        dataformat = next((k for k, v in DATAFORMAT_UNITS.items() if v == unit), unit)
        raise InputError(path, f"the header says x is {plain.unit} but the configuration says dataformat = "
                               f"{dataformat}")
    return read_pattern(path, unit=unit)


def unit_reader(unit: str | None) -> Callable[[str | Path], Pattern]:
    """A picklable reader for :func:`reduce_file` (and the batch's worker processes)."""
    return partial(read_input, unit=unit)


def reduce_file(path: str | Path, config: ReductionConfig, background: str | Path | None = None, *,
                reader: Callable[[str | Path], Pattern] | None = None) -> ReductionResult:
    """Read ``path`` (and ``background``) and reduce it; the header records both files with their sha256.

    ``reader`` turns a file into a pattern: :func:`refine.io.read_pattern` by default, or e.g.
    :func:`unit_reader` for a PDFgetX3 ``dataformat`` or an integrator's image reader for 2D images.
    """
    from refine.io.atomic import sha256_of

    reader = reader or read_input
    sample = reader(path)
    bg = reader(background) if background is not None else None
    result = reduce_pattern(sample, config, bg)
    inputs = {"input": f"{Path(path)} sha256={sha256_of(path)}"}
    if background is not None:
        inputs["background"] = f"{Path(background)} sha256={sha256_of(background)}"
    return dataclasses.replace(result, settings=MappingProxyType({**result.settings, **inputs}))


def header_lines(result: ReductionResult, kind: str) -> list[str]:
    """Header recording every setting, the input files and the derived quantities (the scale k among them)."""
    from refine import __version__

    s = dict(result.settings)
    comp = format_composition(parse_composition(s["composition"]))
    program = "PDFgetN3" if s.get("mode") == "neutron" else "PDFgetX3"
    lines = [f"refine {__version__} pdf reduce: {kind} ({program}'s ad hoc corrections, Juhas et al. "
             "J. Appl. Cryst. 46 (2013) 560)"]
    for key in ("input", "background"):
        if key in s:
            lines.append(f"{key}file = {s.pop(key)}")
    s["composition"] = comp
    lines.extend(f"note: {n}" for n in result.notes)
    for key, value in s.items():
        lines.append(f"{key} = {value}")
    rule = "fixed by --scale" if s.get("scale") else "least squares of k*I/<f>^2 onto <f^2>/<f>^2"
    lines.append(f"scale k = {result.scale:.10g} ({rule})")
    lines.append(f"Q grid step = {result.qstep:.10g} 1/A")
    lines.append(f"polynomial degree = {result.degree:.6g} (rpoly*(Qhi-Qlo)/pi; fits of degree floor and floor+1 "
                 f"blended); coefficients c1..cn (Q in 1/A) = "
                 f"{' '.join(f'{c:.8g}' for c in result.coefficients) or 'none'}")
    weights = "scattering lengths b (periodictable)" if s.get("mode") == "neutron" else \
        "form factors f (Waasmaier-Kirfel, xraydb)"
    lines.append(f"{weights}; F(Q) = Q*(k*I - <f^2>)/<f>^2 - P(Q); G(r) = (2/pi) sum F(Q) sin(Qr) dQ over "
                 "qmin..qmax" + ("; Lorch window" if s.get("lorch") else ""))
    return lines


def output_paths(out: str | Path, outputs: Sequence[str]) -> dict[str, Path]:
    """``{kind: path}``: ``gr`` goes to ``out``, the others beside it with their own extension."""
    out = Path(out)
    paths = {}
    for kind in outputs:
        if kind not in OUTPUT_KINDS:
            raise InputError("outputs", f"unknown output {kind!r}; choose from {', '.join(OUTPUT_KINDS)}")
        paths[kind] = out if kind == "gr" and out.suffix.lower() == ".gr" else out.with_suffix(f".{kind}")
    return paths


def write_results(result: ReductionResult, out: str | Path, outputs: Sequence[str] = ("gr",)) -> list[Path]:
    """Write the requested curves atomically (column files readable by :func:`refine.io.read_pattern`)."""
    from refine.io.columns import write_columns

    written = []
    for kind, path in output_paths(out, outputs).items():
        write_columns(result.curve(kind), path, header=header_lines(result, kind))
        written.append(path)
    return written


# -- batch -------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Job:
    path: str
    out: str
    config: ReductionConfig
    background: str | None
    outputs: tuple[str, ...]
    unit: str | None


def _run_job(job: _Job) -> list[str]:
    result = reduce_file(job.path, job.config, job.background, reader=unit_reader(job.unit))
    return [str(p) for p in write_results(result, job.out, job.outputs)]


def reduce_series(paths: Sequence[str | Path], config: ReductionConfig, out_dir: str | Path, *,
                  background: str | Path | None = None, outputs: Sequence[str] = ("gr",), unit: str | None = None,
                  workers: int = 2, overwrite: bool = False) -> dict[str, list[Path]]:
    """Reduce many patterns with one configuration, in parallel, writing ``out_dir/<stem>.gr`` (etc.).

    ``unit`` is the unit of the inputs' x column (PDFgetX3's ``dataformat``; None: from each file).
    Resumable: a file whose outputs all exist is skipped unless ``overwrite`` (writes are atomic, so an
    existing output is complete). Returns ``{input path: [written or existing output paths]}`` in input
    order. The first bad input raises its :class:`InputError` after the running jobs finish. The output folder
    is locked for the run (:func:`refine.io.lock.folder_lock`): a second run into it is bad input.
    """
    from refine.io.lock import folder_lock

    stems = [Path(p).stem for p in paths]
    if len(set(stems)) != len(stems):
        raise InputError(str(out_dir), "two inputs share a file name stem; their outputs would collide")
    with folder_lock(out_dir, command="pdf reduce"):
        template = _Job("", "", config, None if background is None else str(background), tuple(outputs), unit)
        return _reduce_all(paths, Path(out_dir), template, workers=workers, overwrite=overwrite)


def _reduce_all(paths: Sequence[str | Path], out_dir: Path, template: _Job, *, workers: int,
                overwrite: bool) -> dict[str, list[Path]]:
    from concurrent.futures import ProcessPoolExecutor

    done: dict[str, list[Path]] = {}
    jobs = []
    for p in paths:
        target = out_dir / f"{Path(p).stem}.gr"
        existing = list(output_paths(target, template.outputs).values())
        if not overwrite and all(e.exists() for e in existing):
            done[str(p)] = existing
        else:
            jobs.append(dataclasses.replace(template, path=str(p), out=str(target)))
    if jobs:
        if workers <= 1 or len(jobs) == 1:
            results = [_run_job(j) for j in jobs]
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(_run_job, jobs))
        for job, written in zip(jobs, results, strict=True):
            done[job.path] = [Path(w) for w in written]
    return {str(p): done[str(p)] for p in paths}
