"""``refine.identify``: search–match of a powder pattern against a library of structure files, then a fit of the
best mixture (Rietveld with weight fractions, or Le Bail)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from refine.api._inputs import as_powder_pattern, check_files, source_of
from refine.api.options import IdentifyOptions
from refine.errors import InputError


@dataclass(frozen=True, eq=False)
class Identification:
    """What :func:`identify` found.

    Attributes
    ----------
    search
        The ranked table and the proposed mixture (:class:`refine.powder.search_match.SearchResult`).
    fit
        The fit of the mixture (a FitResult with per-phase weight fractions for Rietveld), or None.
    library
        The library folder and how many entries were compared; skipped files with their reasons.
    """

    search: Any
    fit: Any
    library: dict

    @property
    def phases(self) -> tuple[str, ...]:
        """Names of the phases of the proposed mixture."""
        return tuple(m.name for m in self.search.mixture)

    @property
    def weight_fractions(self) -> dict:
        """Mixture phase name -> its weight fraction (a Value with esd) from the Rietveld fit; {} without one."""
        if self.fit is None:
            return {}
        fitted = list(self.fit.phases.values())
        return {m.name: p.weight_fraction for m, p in zip(self.search.mixture, fitted, strict=True)
                if p.weight_fraction is not None}

    def report(self) -> str:
        """The ranked table, then the fit's report."""
        text = [f"search-match: {self.library['entries']} library phases, {len(self.search.mixture)} in the "
                f"mixture, explaining {100 * self.search.explained:.1f}% of the signal", self.search.table()]
        if self.fit is not None:
            text.append(self.fit.report())
        return "\n".join(text)

    def to_dict(self) -> dict:
        """JSON-ready form: the search, the library and the fit's result document."""
        return {"kind": "identify", "library": self.library, "search": self.search.to_dict(),
                "fit": self.fit.to_dict() if self.fit is not None else None}


def identify(pattern: Any, *, wavelength: float | None = None, instrument: Any = None,
             **options: Any) -> Identification:
    """Which library phases make up a powder pattern, and in what weight fractions.

    Parameters
    ----------
    pattern
        A powder pattern in 2θ (file or Pattern).
    wavelength, instrument
        A monochromatic wavelength (Å), or an instrument (.prm / .instprm file or Instrument; a lab tube's Kα1/Kα2
        and profile). Without either, the pattern file's wavelengths.
    **options
        :class:`refine.api.options.IdentifyOptions`: ``library`` (folder of CIFs, required), ``elements``
        (only phases made of these), ``index`` (cache file of the library's index), ``max_phases`` (4),
        ``strain`` (lattice-scale search ±, 0.02), ``range`` (2θ LO:HI), ``fit`` (``rietveld``, ``lebail`` or
        ``none``), ``top`` (rows printed), ``json`` (write the result).

    Returns
    -------
    Identification
    """
    from refine.powder.phase_index import build_index
    from refine.powder.search_match import SearchOptions, search_match
    from refine.powder.setup import instrument_for

    opts = IdentifyOptions.from_options(options)
    check_files({"json": opts.json})
    if not opts.library:
        raise InputError("library", "give the folder of structure files (CIF) to search")
    observed = as_powder_pattern(pattern)
    if opts.range is not None:
        observed = observed.crop(*opts.range)
    inst, _ = instrument_for(observed, wavelength=wavelength, instrument=instrument)
    index = build_index(opts.library, cache=opts.index)
    if opts.elements:
        index = index.with_elements(opts.elements)
    search = search_match(observed, index, inst, SearchOptions(max_phases=opts.max_phases, strain=opts.strain))
    library = {"folder": str(opts.library), "entries": len(index), "skipped": [list(s) for s in index.skipped],
               "notes": list(index.notes)}
    fit = _fit(opts, observed, inst, search) if search.mixture and opts.fit != "none" else None
    result = Identification(search=search, fit=fit, library=library)
    if opts.json:
        from refine.io.atomic import atomic_open

        document = {"schema": "refine-identify/1", "data": source_of(pattern), **result.to_dict()}
        with atomic_open(opts.json) as handle:
            json.dump(document, handle, indent=1, default=float)
    return result


def _fit(opts: IdentifyOptions, pattern, instrument, search):
    """Rietveld (or Le Bail) of the mixture, each phase starting from its file's cell × the lattice scale found."""
    from refine.crystal.lattice import Lattice
    from refine.io.structures import read_structure

    phases = []
    for match in search.mixture:
        structure = read_structure(match.path)
        lat, s = structure.lattice, match.lattice_scale
        phases.append(structure.replace(name=_prefix(match.name),
                                        lattice=Lattice(lat.a * s, lat.b * s, lat.c * s, lat.alpha, lat.beta,
                                                        lat.gamma)))
    if opts.fit == "lebail":
        from refine.api.powder import lebail

        return lebail(pattern, phases, instrument=instrument)
    from refine.api.rietveld_fit import rietveld

    try:
        return rietveld(pattern, phases, instrument=instrument, refine="scale,cell,zero,W,adp")
    except InputError as exc:
        if "f'/f''" not in str(exc):
            raise
        return rietveld(pattern, phases, instrument=instrument, refine="scale,cell,zero,W,adp", no_dispersion=True)


def _prefix(name: str) -> str:
    """A parameter prefix from a file name: letters, digits and _ only, not starting with a digit."""
    text = "".join(c if c.isalnum() else "_" for c in name).strip("_") or "phase"
    return text if not text[0].isdigit() else f"p_{text}"

