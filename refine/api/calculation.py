"""``refine.pdf_calc``: G(r) of a structure or an MD trajectory without fitting (``refine pdf calc``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from refine.api._inputs import check_files
from refine.api.options import PdfCalcOptions
from refine.errors import InputError


def pdf_calc(structure: Any, **options: Any):
    """Total and element-pair partial G(r) of a structure or the frame average of a trajectory (PDFfit2 model).

    Parameters
    ----------
    structure
        CIF, PDFfit .stru, GSAS .EXP, VASP POSCAR (or a ``PDFStructure`` / ``CrystalStructure``), or a trajectory:
        extended XYZ, VASP XDATCAR, LAMMPS text dump with an element column (read frame by frame,
        :mod:`refine.io.trajectory`).
    **options
        :class:`refine.api.options.PdfCalcOptions`: ``radiation`` ("xray"/"neutron"), ``qmax`` (0: no
        termination), ``qdamp``, ``qbroad``, ``delta1``, ``delta2``, ``sratio``/``rcut`` (PDFfit2's low-r
        sharpening), ``envelope="sphere"`` with ``spdiameter``, ``uiso`` (Å², every atom), ``rmin``, ``rmax``,
        ``rstep``, ``frames`` ("START:STOP:STEP"); files written only when given: ``output`` (r and G; the
        partials to OUTPUT-stem.partials.csv) and ``plot``; ``descriptors=True`` (with ``bond_cutoff`` Å and
        per-pair ``bonds=["V-O:2.4"]``) adds bond lengths, coordination numbers, bond angles and distortion indices
        over the same frames (``result.descriptors``, OUTPUT-stem.descriptors.csv).

    Returns
    -------
    PDFCalcResult
        ``r``, ``G``, ``partials`` {"A-B": curve} (they sum to ``G``), frames used, settings, ``written``.
    """
    from refine.pdf.pdf_calc import PDFCalcSettings, calculate, write_outputs

    opts = PdfCalcOptions.from_options(options)
    check_files({"output": opts.output, "plot": opts.plot})
    if opts.envelope not in (None, "sphere"):
        raise InputError("envelope", f"must be 'sphere', got {opts.envelope!r}")
    if opts.envelope == "sphere" and opts.spdiameter is None:
        raise InputError("spdiameter", "envelope sphere needs the particle diameter (Å)")
    if opts.spdiameter is not None and opts.envelope is None:
        raise InputError("spdiameter", "give envelope='sphere' too")
    settings = PDFCalcSettings(radiation=opts.radiation, qmax=opts.qmax, qdamp=opts.qdamp, qbroad=opts.qbroad,
                               delta1=opts.delta1, delta2=opts.delta2, sratio=opts.sratio, rcut=opts.rcut,
                               spdiameter=opts.spdiameter or 0.0, uiso=opts.uiso, rmin=opts.rmin, rmax=opts.rmax,
                               rstep=opts.rstep)
    if not opts.bond_cutoff > 0:
        raise InputError("bond_cutoff", f"must be > 0 Å, got {opts.bond_cutoff}")
    result = calculate(structure, settings, opts.frames)
    if opts.descriptors:
        from refine.pdf.descriptors import frames_of, local_structure

        local = local_structure(frames_of(structure, opts.frames), cutoff=opts.bond_cutoff, cutoffs=dict(opts.bonds))
        result = replace(result, descriptors=local)
    written = write_outputs(result, opts.output) if opts.output else []
    if opts.descriptors and opts.output:
        from pathlib import Path

        out = Path(opts.output)
        csv = out.with_name(out.stem + ".descriptors.csv")
        result.descriptors.write_csv(str(csv))
        written.append(str(csv))
    if opts.plot:
        from refine.plot.pdf_calc import plot_pdf_calc

        written.append(str(plot_pdf_calc(result, opts.plot)))
    return replace(result, written=tuple(written))
