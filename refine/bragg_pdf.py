"""Bragg + PDF co-refinement: one crystal structure refined against a powder pattern (Rietveld) and a G(r) at once.

The two engines keep their own parameters: the Rietveld side ``{ph}_scale``, profile, background, cell
``{ph}_a`` …, coordinates ``{ph}_{site}_x`` … and ADPs ``{ph}_{site}_uiso`` …; the PDF side the same names under
``pdf_{ph}_`` plus its scale and correlated-motion term (``pdf_{ph}_scale``, ``pdf_{ph}_delta2``). Every structural
parameter of the PDF side (cell, coordinates, ADPs, occupancies) is then an lmfit expression of its Rietveld
twin, so one cell, one set of coordinates and one set of displacement parameters describe both the average
(Bragg) and the local (PDF) structure; the weighted residuals of both datasets enter one least-squares objective
(:class:`refine.fit.Objective`), the datasets weighted by their own sigmas (and ``pdf_weight``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import lmfit

from refine.crystal.structure import CrystalStructure
from refine.data import Pattern
from refine.errors import InputError
from refine.fit import Dataset, FitResult, Objective
from refine.fit.phase_result import Value
from refine.instrument import Instrument
from refine.pdf.fitting import PDFFitSettings, PhaseInput, build_model
from refine.pdf.structure import PDFStructure
from refine.powder.model import PowderModel, PowderOptions
from refine.powder.rietveld import DEFAULT_REFINE, RietveldEngine, RietveldOptions
from refine.powder.rietveld_stages import mark_refined, run_stages
from refine.powder.wholepattern import powder_phase

#: Per-phase PDF parameters that stay the PDF's own (everything else structural is tied to the Rietveld side).
PDF_OWN = ("scale", "delta1", "delta2", "spdiameter")


def tie_structure(params: lmfit.Parameters, bragg_prefix: str, pdf_prefix: str) -> list[str]:
    """Make every structural ``{pdf_prefix}_X`` an expression of ``{bragg_prefix}_X`` (in place); returns the
    tied names."""
    tied = []
    for name in list(params):
        if not name.startswith(f"{pdf_prefix}_"):
            continue
        suffix = name[len(pdf_prefix) + 1:]
        twin = f"{bragg_prefix}_{suffix}"
        if suffix in PDF_OWN or twin not in params:
            continue
        params[name].set(expr=twin)
        tied.append(name)
    return tied


def fit_bragg_pdf(pattern: Pattern, gr: Pattern, structure: CrystalStructure, instrument: Instrument, *,
                  pdf: PDFFitSettings, refine: Iterable[str] = DEFAULT_REFINE, options: PowderOptions | None = None,
                  rietveld: RietveldOptions | None = None, pdf_weight: float = 1.0) -> FitResult:
    """Refine ``structure`` against a powder pattern (x in deg 2θ) and a G(r) together.

    ``refine`` lists the Rietveld groups (structure groups are shared with the PDF); the PDF side refines its scale
    and the sharpening of ``pdf.sharpening``. Returns a FitResult of kind ``bragg_pdf`` with ``dataset_statistics``
    for ``pattern`` (Rwp …) and ``gr`` (Rw) and one phase entry: the shared cell with esds and the pattern's
    reflection list.
    """
    if not pdf_weight > 0:
        raise InputError("pdf_weight", f"must be positive, got {pdf_weight}")
    rietveld = rietveld or RietveldOptions()
    model = PowderModel(pattern, [structure], instrument, options=options)
    engine = RietveldEngine(model, rietveld)
    prefix = model.phases[0].prefix
    start = mark_refined(engine.parameters(), engine, refine)
    engine.freeze(start)
    start = engine.initial_scales(start)
    pdf_prefix = f"pdf_{prefix}"
    fm = build_model(gr, [PhaseInput(PDFStructure.from_crystal(structure), prefix=pdf_prefix, refine_structure=True,
                                     crystal=structure)], pdf)
    params = start.copy()
    for name, par in fm.params.items():
        if name not in params:
            params.add_many(par)
    params["dscale"].set(value=1.0, vary=False)  # one phase: its own scale is the PDF scale
    tie_structure(params, prefix, pdf_prefix)
    params.update_constraints()
    bragg = Dataset("pattern", pattern, lambda p: model.full(engine.calculate(p)[0]), mask=model.mask,
                    kind="powder", notes=model.notes)
    local = dataclasses.replace(fm.dataset("gr"), weight=pdf_weight)
    objective = Objective((bragg, local), rietveld.restraints)
    varied = {n for n, p in params.items() if p.vary}
    result = run_stages(objective, params, [varied], [engine], passes=max(rietveld.passes, 1), kind="bragg_pdf",
                        options=rietveld.fit)
    tables = engine.reflection_tables(result.params)
    phase = powder_phase(result, model, 0, reflections=tables[0])
    phase = phase.replace(scale=Value(result.value(f"{prefix}_scale"), result.esd(f"{prefix}_scale")),
                          extra={**phase.extra, "pdf_scale": Value(result.value(f"{pdf_prefix}_scale"),
                                                                   result.esd(f"{pdf_prefix}_scale"))})
    lat = model.lattice(result.params, model.phases[0])
    return dataclasses.replace(result, phases=(phase,),
                               extra={**result.extra, "structure": engine.atoms[0].structure_at(result.params, lat),
                                      "reflections": tables})
