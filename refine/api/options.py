"""The options of every facade command, one frozen dataclass per command, shared with the command line.

Field names are the command's long flags with ``-`` -> ``_`` (``--exclude-phase`` -> ``exclude_phase``), defaults
are the command's defaults: ``refine.lebail(..., range="5:60")`` is ``refine lebail ... --range 5:60``. The
command line takes its argparse defaults from here (:meth:`CommandOptions.cli_defaults`) and builds the same
dataclass from its parsed arguments (:meth:`CommandOptions.from_namespace`). Text forms are accepted wherever the
command line has one (``range="5:60"`` or ``range=(5, 60)``); a repeatable flag takes a list. An unknown keyword or
a bad value is an :class:`~refine.errors.InputError` naming the option.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from refine.api import parsing
from refine.errors import InputError

RIETVELD_REFINE = "scale,cell,zero,W,X,Y,positions,adp"
WHOLE_PATTERN_REFINE = "cell,zero,W,X,Y"


def _opt(default: Any = None, parse: Callable[[Any], Any] | None = None, *, many: bool = False) -> Any:
    """A field with its text parser; ``many`` for a repeatable flag (a tuple of parsed items)."""
    return field(default=() if many else default, metadata={"parse": parse, "many": many})


def _items(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return (value,)
    value = tuple(value)
    if value and isinstance(value[0], (int, float)):  # one range (lo, hi) given for a list of ranges
        return (value,)
    return value


@dataclass(frozen=True)
class CommandOptions:
    """Base of the per-command options: parses text forms, refuses unknown names."""

    command: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            parse, value = f.metadata.get("parse"), getattr(self, f.name)
            try:
                if f.metadata.get("many"):
                    value = tuple(parse(v) if parse else v for v in _items(value))
                elif parse is not None and value is not None:
                    value = parse(value)
                else:
                    value = parsing.coerce(str(f.type), value)
            except InputError:
                raise
            except ValueError as exc:
                raise InputError(f.name, str(exc)) from None
            object.__setattr__(self, f.name, value)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> CommandOptions:
        """The options from keyword arguments; an unknown name is an ``InputError`` naming it."""
        unknown = [name for name in options if name not in cls.names()]
        if unknown:
            raise InputError(unknown[0], f"unknown option of refine.{cls.command}; known: {', '.join(cls.names())}")
        return cls(**options)

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> CommandOptions:
        """The options from parsed command-line arguments (every field is an argparse dest)."""
        return cls(**{name: getattr(args, name) for name in cls.names()})

    @classmethod
    def cli_defaults(cls) -> dict[str, Any]:
        """argparse defaults (``parser.set_defaults``): repeatable flags start from a fresh list."""
        return {f.name: [] if f.metadata.get("many") else f.default for f in fields(cls)}

    def settings(self) -> dict[str, Any]:
        """The options as plain values (for a result file's provenance)."""
        return {name: _plain(getattr(self, name)) for name in self.names()}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


# -- integrate / calibrate ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IntegrateOptions(CommandOptions):
    """``refine integrate`` / :func:`refine.integrate`."""

    command: ClassVar[str] = "integrate"
    mask: str | None = None
    dark: str | None = None
    flat: str | None = None
    npt: int = _opt(2000, parsing.whole_number_at_least(2, "number of bins"))
    unit: str = "2th_deg"
    polarization: float | None = None
    method: str = "bbox,csr,cython"
    flip: str | None = None
    error_model: str = "poisson"
    no_solid_angle: bool = False
    range: tuple[float, float] | None = _opt(None, parsing.parse_range)
    overwrite: bool = False
    no_progress: bool = False
    series_file: str | None = None
    scan_times: tuple[float, float] | None = _opt(None, parsing.parse_scan_times)
    cake: tuple[int, int] | None = _opt(None, lambda v: _parse_lazy("parse_cake", v))
    sectors: tuple[tuple[float, float], ...] | None = _opt(None, lambda v: _parse_lazy("parse_sectors", v))
    detector: str | None = None
    mask_invalid: bool = False
    sigma_clip: float | None = None
    spottiness: float | None = None
    follow: bool = False
    idle: float = _opt(60.0, parsing.positive_number("idle"))
    workers: int = _opt(1, parsing.whole_number_at_least(1, "workers"))
    scheduler: str | None = None


def _parse_lazy(name: str, value: Any) -> Any:
    """refine.integrate.cake's parsers (imported when used: pyFAI stays unloaded for other commands)."""
    from refine.integrate import cake

    return getattr(cake, name)(value)


@dataclass(frozen=True)
class CalibrateOptions(CommandOptions):
    """``refine calibrate`` / :func:`refine.calibrate` (``--poni`` or ``--distance --center --detector``)."""

    command: ClassVar[str] = "calibrate"
    poni: str | None = None
    distance: float | None = None
    center: tuple[float, float] | None = _opt(None, lambda v: parsing.float_pair(v, ",", "X,Y in pixels"))
    detector: str | None = None
    pixel_size: float | None = None
    mask: str | None = None
    rings: int = 3
    max_rings: int | None = None
    refine: tuple[str, ...] = _opt("dist,poni1,poni2,rot1,rot2", parsing.split_list)
    flip: str | None = None
    plot: str | None = None
    json: str | None = None
    max_rms: float = 1.0


# -- powder fits -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PowderFitOptions(CommandOptions):
    """Options every powder fit shares (range, exclusions, background, constraints, output files)."""

    bank: int | None = None
    range: tuple[float, float] | None = _opt(None, parsing.parse_range)
    exclude: tuple[tuple[float, float], ...] = _opt(parse=parsing.parse_range, many=True)
    background: Any = _opt(None, parsing.parse_background)
    exclude_phase: tuple[str, ...] = _opt(parse=str, many=True)
    constrain: tuple[tuple[str, str], ...] = _opt(parse=parsing.parse_constraint, many=True)
    json: str | None = None
    plot: str | None = None
    hkl: str | None = None
    plot_hkl: int = _opt(0, parsing.parse_count)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.plot_hkl and not self.plot:
            raise InputError("plot_hkl", "labels go on the plot figure: give plot too")


@dataclass(frozen=True)
class LebailOptions(PowderFitOptions):
    """``refine lebail`` / :func:`refine.lebail`."""

    command: ClassVar[str] = "lebail"
    refine: tuple[str, ...] = _opt(WHOLE_PATTERN_REFINE, parsing.split_list)
    write_instrument: str | None = None


@dataclass(frozen=True)
class PawleyOptions(LebailOptions):
    """``refine pawley`` / :func:`refine.pawley` (the options of Le Bail)."""

    command: ClassVar[str] = "pawley"


@dataclass(frozen=True)
class RietveldCommandOptions(PowderFitOptions):
    """``refine rietveld`` / :func:`refine.rietveld`, with co-refinement against a G(r) (``pdf*``) and joint
    refinement of more patterns (``joint*``)."""

    command: ClassVar[str] = "rietveld"
    refine: tuple[str, ...] = _opt(RIETVELD_REFINE, parsing.split_list)
    no_dispersion: bool = False
    po_axis: tuple[float, float, float] = _opt((0.0, 0.0, 1.0), parsing.parse_hkl)
    texture: int = 0
    restrain: tuple = _opt(parse=parsing.parse_restraint, many=True)
    restrain_bond: tuple = _opt(parse=parsing.parse_bond, many=True)
    pdf: str | None = None
    pdf_qmax: float | None = None
    pdf_qdamp: float = 0.0
    pdf_rmin: float | None = None
    pdf_rmax: float | None = None
    pdf_weight: float = 1.0
    joint: tuple[str, ...] = _opt(parse=None, many=True)
    joint_instrument: tuple[str, ...] = _opt(parse=None, many=True)
    joint_range: tuple[tuple[float, float], ...] = _opt(parse=parsing.parse_range, many=True)
    joint_refine: tuple[str, ...] = _opt(parse=None, many=True)
    cif_out: str | None = None


@dataclass(frozen=True)
class IdentifyOptions(CommandOptions):
    """``refine identify`` / :func:`refine.identify`: the library, the search and the fit of the best mixture."""

    command: ClassVar[str] = "identify"
    library: str | None = None
    elements: tuple[str, ...] = _opt((), parsing.split_list)
    index: str | None = None
    max_phases: int = _opt(4, parsing.parse_count)
    strain: float = 0.02
    range: tuple[float, float] | None = _opt(None, parsing.parse_range)
    fit: str = "rietveld"
    top: int = _opt(10, parsing.parse_count)
    json: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fit not in ("rietveld", "lebail", "none"):
            raise InputError("fit", f"must be rietveld, lebail or none, got {self.fit!r}")


@dataclass(frozen=True)
class SimulateOptions(CommandOptions):
    """``refine simulate`` / :func:`refine.simulate`: the 2θ grid, the Gaussian width used without an instrument
    file, a flat background and Poisson noise."""

    command: ClassVar[str] = "simulate"
    range: tuple[float, float] | None = _opt(None, parsing.parse_range)
    step: float = 0.01
    fwhm: float = 0.05
    background: float = 0.0
    noise: float | None = None
    seed: int | None = None
    no_dispersion: bool = False
    output: str | None = None


# -- PDF -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PdfSettingsOptions(CommandOptions):
    """The G(r) fit settings shared by ``pdf_fit`` and ``sequential(kind="pdf")`` (``PDFFitSettings``)."""

    radiation: str = "xray"
    qdamp: float = 0.0
    qbroad: float = 0.0
    refine_qdamp: bool = False
    refine_qbroad: bool = False
    pdfgui_range: bool = False
    envelope: str | None = None
    spdiameter: float = 50.0
    sharpening: str = "delta2"
    sratio: float = 1.0
    rcut: float = 0.0
    refine_sratio: bool = False
    free_scales: bool = False
    rmin: float | None = None
    rmax: float | None = None
    refine_structure: bool = False
    constrain: tuple[tuple[str, str], ...] = _opt(parse=parsing.parse_constraint, many=True)


@dataclass(frozen=True)
class PdfFitOptions(PdfSettingsOptions):
    """``refine pdf fit`` / :func:`refine.pdf_fit` (``qmax`` is an argument of the function)."""

    command: ClassVar[str] = "pdf_fit"
    max_nfev: int | None = None
    cif_out: str | None = None
    json: str | None = None
    plot: str | None = None


def _kinds(text: Any) -> tuple[str, ...]:
    from refine.pdf.reduce import OUTPUT_KINDS

    kinds = tuple(k.lower() for k in parsing.split_list(text))
    if not kinds or any(k not in OUTPUT_KINDS for k in kinds):
        raise ValueError(f"expected a comma list of {','.join(OUTPUT_KINDS)}, got {text!r}")
    return kinds


@dataclass(frozen=True)
class PdfReduceOptions(CommandOptions):
    """``refine pdf reduce`` / :func:`refine.pdf_reduce`; None = the ``config`` file's value, else the default.
    ``output`` is the G(r) file (``-o``; a folder for several inputs), ``outputs`` the curves written
    (``--output gr,sq``)."""

    command: ClassVar[str] = "pdf_reduce"
    config: str | None = None
    section: str | None = None
    qmin: float | None = None
    qmaxinst: float | None = None
    rpoly: float | None = None
    background: str | None = None
    bgscale: float | str | None = _opt(None, parsing.parse_bgscale)
    wavelength: float | None = None
    twothetazero: float | None = None
    mode: str | None = None
    lorch: bool = False
    scale: float | None = None
    rmin: float | None = None
    rmax: float | None = None
    rstep: float | None = None
    outputs: tuple[str, ...] | None = _opt(None, _kinds)
    poni: str | None = None
    mask: str | None = None
    polarization: float = 0.99
    npt: int = 3000
    plot: str | None = None
    output: str | None = None
    workers: int = _opt(2, parsing.whole_number_at_least(1, "workers"))


@dataclass(frozen=True)
class PdfDiffOptions(CommandOptions):
    """``refine pdf diff`` / :func:`refine.pdf_diff` (``output`` is an argument of the function)."""

    command: ClassVar[str] = "pdf_diff"
    rmin: float | None = None
    rmax: float | None = None
    plot: str | None = None


@dataclass(frozen=True)
class PdfCalcOptions(CommandOptions):
    """``refine pdf calc`` / :func:`refine.pdf_calc`: G(r) of a structure or trajectory without fitting. ``qmax`` 0
    is no termination; ``uiso`` (Å²) sets every atom's ADP (trajectories carry none); ``frames`` START:STOP:STEP of
    a trajectory; ``output`` the .gr (``-o``; partials beside it as OUT.partials.csv); ``descriptors`` adds bond
    lengths, coordination numbers, angles and distortion (bonds within ``bond_cutoff`` Å, per pair ``bonds``
    ("V-O:2.4", ...); OUT.descriptors.csv beside the .gr)."""

    command: ClassVar[str] = "pdf_calc"
    radiation: str = "xray"
    qmax: float = 0.0
    qdamp: float = 0.0
    qbroad: float = 0.0
    delta1: float = 0.0
    delta2: float = 0.0
    sratio: float = 1.0
    rcut: float = 0.0
    envelope: str | None = None
    spdiameter: float | None = None
    uiso: float | None = None
    rmin: float = 0.0
    rmax: float = 30.0
    rstep: float = 0.01
    frames: str | None = None
    output: str | None = None
    plot: str | None = None
    descriptors: bool = False
    bond_cutoff: float = 3.0
    bonds: tuple[tuple[str, float], ...] = _opt(parse=parsing.parse_bond_cutoff, many=True)


# -- sequential -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EchemOptions(CommandOptions):
    """The cycler log of a series (``sequential``, ``parametric``): file, format, how scans are matched to its
    rows, and the active mass, formula and x0 of the ion content x."""

    echem: str | None = None
    echem_match: str = "index"
    echem_format: str | None = None
    active_mass: float | None = None
    formula: str | None = None
    x0: float | None = None
    scan_times: tuple[float, float] | None = _opt(None, parsing.parse_scan_times)


@dataclass(frozen=True)
class SequentialOptions(PdfSettingsOptions, EchemOptions):
    """``refine sequential`` / :func:`refine.sequential`: the powder options (with ``wavelength`` and
    ``instrument``), the G(r) options of ``pdf_fit`` (``qmax`` ... for ``kind="pdf"``) and the series' own."""

    command: ClassVar[str] = "sequential"
    qmax: float | None = None
    wavelength: float | None = None
    instrument: str | None = None
    bank: int | None = None
    range: tuple[float, float] | None = _opt(None, parsing.parse_range)
    exclude: tuple[tuple[float, float], ...] = _opt(parse=parsing.parse_range, many=True)
    background: Any = _opt(None, parsing.parse_background)
    exclude_phase: tuple[str, ...] = _opt(parse=str, many=True)
    refine: tuple[str, ...] | None = _opt(None, parsing.split_list)
    present: tuple = _opt(parse=parsing.parse_presence, many=True)
    restart_each: bool = False
    workers: int = _opt(1, parsing.whole_number_at_least(1, "workers"))
    scheduler: str | None = None
    chunk: int = _opt(16, parsing.whole_number_at_least(0, "chunk"))
    guard: tuple[float, float] = _opt((2.0, 0.02), lambda v: _guard(v))
    follow: bool = False
    idle: float = _opt(60.0, parsing.positive_number("idle"))
    json: str | None = None
    csv: str | None = None
    plot: str | None = None


# -- parametric -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParametricOptions(EchemOptions):
    """``refine parametric`` / :func:`refine.parametric`: the powder options, trends, constant-volume phases, the
    starting values (a ``refine sequential`` summary) and the series' electrochemistry."""

    command: ClassVar[str] = "parametric"
    wavelength: float | None = None
    instrument: str | None = None
    bank: int | None = None
    range: tuple[float, float] | None = _opt(None, parsing.parse_range)
    exclude: tuple[tuple[float, float], ...] = _opt(parse=parsing.parse_range, many=True)
    background: Any = _opt(None, parsing.parse_background)
    exclude_phase: tuple[str, ...] = _opt(parse=str, many=True)
    constrain: tuple[tuple[str, str], ...] = _opt(parse=parsing.parse_constraint, many=True)
    refine: tuple[str, ...] | None = _opt(None, parsing.split_list)
    present: tuple = _opt(parse=parsing.parse_presence, many=True)
    trend: tuple = _opt(parse=parsing.parse_trend, many=True)
    constant_volume: tuple = _opt(parse=parsing.parse_constant_volume, many=True)
    start: str | None = None
    json: str | None = None
    csv: str | None = None
    plot: str | None = None


def _guard(value: Any) -> tuple[float, float]:
    """``RWP_FACTOR:VOLUME_FRACTION`` (``2:0.02``), or ``off`` (0:0)."""
    if isinstance(value, str) and value.strip().lower() == "off":
        return (0.0, 0.0)
    factor, volume = parsing.float_pair(value, ":", "RWP_FACTOR:VOLUME_FRACTION (e.g. 2:0.02) or off")
    if factor < 0 or volume < 0 or 0 < factor <= 1:
        raise ValueError(f"expected an Rwp factor > 1 (or 0) and a volume fraction >= 0, got {value!r}")
    return factor, volume


#: The options of the PDF kind of ``sequential`` (those of ``pdf_fit`` with ``qmax``), refused by powder kinds.
SEQUENTIAL_PDF_ONLY = ("qmax", "radiation", "qdamp", "qbroad", "refine_qdamp", "refine_qbroad", "pdfgui_range",
                       "envelope", "spdiameter", "sharpening", "free_scales", "rmin", "rmax", "refine_structure",
                       "sratio", "rcut", "refine_sratio")
#: The options of the powder kinds of ``sequential``, refused by ``kind="pdf"``.
SEQUENTIAL_POWDER_ONLY = ("wavelength", "instrument", "bank", "range", "exclude", "background", "present", "refine",
                          "exclude_phase")


def option_names() -> frozenset[str]:
    """Every option name of every command (what a library error may name instead of a file)."""
    classes = (IntegrateOptions, CalibrateOptions, LebailOptions, PawleyOptions, RietveldCommandOptions,
               SimulateOptions, PdfFitOptions, PdfReduceOptions, PdfDiffOptions, SequentialOptions, PdfCalcOptions,
               IdentifyOptions, ParametricOptions)
    return frozenset(name for cls in classes for name in cls.names())
