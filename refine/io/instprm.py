"""Instrument parameter files: GSAS-II ``.instprm`` (read and write) and old GSAS ``.prm`` (read).

Formats live in :data:`INSTRUMENT_READERS` / :data:`INSTRUMENT_WRITERS`, chosen by extension
(:data:`EXTENSIONS`) unless ``format=`` is given. Only constant-wavelength powder instruments are read;
time-of-flight, energy-dispersive and pink-beam files raise :class:`~refine.errors.InputError`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

from refine.errors import InputError
from refine.instrument import DEFAULT_SH_L, Instrument, Profile
from refine.io.atomic import atomic_open
from refine.io.fields import finite_float
from refine.io.paths import check_regular_file
from refine.io.registries import INSTRUMENT_READERS, INSTRUMENT_WRITERS

Reader = Callable[..., Instrument]
Writer = Callable[[Instrument, Path], None]

EXTENSIONS = {".instprm": "instprm", ".prm": "gsas_prm", ".inst": "gsas_prm", ".iparm": "gsas_prm"}

_GEOMETRY_FROM_G2 = {"bragg-brentano": "bragg_brentano", "debye-scherrer": "debye_scherrer"}
_GEOMETRY_TO_G2 = {"bragg_brentano": "Bragg-Brentano", "debye_scherrer": "Debye-Scherrer",
                   "transmission": "Debye-Scherrer"}  # GSAS-II has no transmission type; see _REFINE_TAG
_REFINE_TAG = "#refine:"  # our own comment lines, written after the parameters (GSAS-II stops reading there)


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None


def _number(path: Path, name: str, text: str) -> float:
    return finite_float(path, text, name)


def _type_check(path: Path, htype: str) -> str:
    """Radiation from a GSAS/GSAS-II histogram type such as PXC, PNC, PNT, PXE, PXB."""
    code = htype.strip().upper()[:3]
    if len(code) < 3 or code[0] != "P" or code[1] not in "XN":
        raise InputError(path, f"unknown instrument type {htype.strip()!r} (expected PXC or PNC)")
    if code[2] == "T":
        raise InputError(path, f"time-of-flight instrument ({code}) is not supported; constant wavelength only")
    if code[2] != "C":
        raise InputError(path, f"instrument type {code} is not supported; constant wavelength (PXC, PNC) only")
    return "xray" if code[1] == "X" else "neutron"


def _build(path: Path, **fields) -> Instrument:
    try:
        return Instrument(source=os.fspath(path), **fields)
    except InputError as exc:
        raise InputError(path, exc.problem) from None


def _profile(path: Path, **values: float) -> Profile:
    try:
        return Profile(**values)
    except InputError as exc:
        raise InputError(path, exc.problem) from None


# --- GSAS-II .instprm ---------------------------------------------------------------------------------------
def _instprm_items(path: Path, text: str, bank: int | None) -> tuple[dict[str, str], dict[str, str]]:
    """Key/value pairs of one bank (GSAS-II ``G2fil.ReadInstprm`` layout) and our own ``#refine:`` tags."""
    lines = text.splitlines()
    if not lines or "GSAS-II" not in lines[0]:
        raise InputError(path, "not a GSAS-II instrument parameter file (first line lacks '#GSAS-II')")
    items: dict[str, str] = {}
    tags: dict[str, str] = {}
    banks: list[int] = []
    current: int | None = None
    for lineno, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(_REFINE_TAG):
            key, _, val = line[len(_REFINE_TAG):].partition("=")
            tags[key.strip()] = val.strip()
            continue
        if line.startswith("#"):
            head = line[1:].split(":")[0].split()
            if len(head) == 2 and head[0].lower() == "bank":
                try:
                    current = int(head[1])
                except ValueError:
                    raise InputError(path, f"line {lineno}: bad bank header {line!r}") from None
                banks.append(current)
            continue
        if banks and current != (bank if bank is not None else banks[0]):
            continue
        if "'''" in line or '"""' in line:
            raise InputError(path, f"line {lineno}: multi-line values are not supported")
        for part in line.replace(" ", "").split(";"):
            if not part:
                continue
            key, sep, val = part.partition(":")
            if not sep or not key:
                raise InputError(path, f"line {lineno}: expected 'name:value', got {part!r}")
            items[key] = val
    if bank is not None and banks and bank not in banks:
        raise InputError(path, f"bank {bank} not found; banks in file: {banks}")
    return items, tags


@INSTRUMENT_READERS.register("instprm")
def read_instprm(path: str | os.PathLike, *, bank: int | None = None) -> Instrument:
    """Read a GSAS-II ``.instprm`` file (keys as written by GSAS-II's ``G2fil.WriteInstprm``).

    ``Type`` PXC or PNC; ``Lam`` or ``Lam1``/``Lam2``/``I(L2)/I(L1)``; ``Zero``, ``Polariz.``, ``U V W X Y
    SH/L`` required; ``Azimuth`` and ``Z`` default to 0 (older files lack them). ``Diff-type`` sets the
    geometry; without it a doublet means Bragg-Brentano and a single line Debye-Scherrer (GSAS-II's rule).
    ``bank`` selects a bank of a multi-bank file (default: the first).
    """
    path = Path(path)
    items, tags = _instprm_items(path, _text(path), bank)

    def need(key: str) -> float:
        if key not in items:
            raise InputError(path, f"missing parameter {key!r}")
        return _number(path, key, items[key])

    def opt(key: str, default: float) -> float:
        return _number(path, key, items[key]) if key in items else default

    if "Type" not in items:
        raise InputError(path, "missing parameter 'Type'")
    radiation = _type_check(path, items["Type"])
    if "Lam1" in items:
        wavelength, wavelength2, ratio = need("Lam1"), need("Lam2"), need("I(L2)/I(L1)")
    else:
        wavelength, wavelength2, ratio = need("Lam"), None, 0.0
    diff_type = items.get("Diff-type", "").lower()
    if diff_type and diff_type not in _GEOMETRY_FROM_G2:
        raise InputError(path, f"unknown Diff-type {items['Diff-type']!r}")
    geometry = _GEOMETRY_FROM_G2.get(diff_type, "bragg_brentano" if wavelength2 is not None else "debye_scherrer")
    mono = None
    if tags.get("geometry"):
        geometry = tags["geometry"]
    if tags.get("monochromator_angle"):
        mono = _number(path, "monochromator_angle", tags["monochromator_angle"])
    profile = _profile(path, U=need("U"), V=need("V"), W=need("W"), X=need("X"), Y=need("Y"), Z=opt("Z", 0.0),
                       sh_l=need("SH/L"))
    meta = {k: items[k] for k in ("InstrName", "Source", "Gonio.radius") if k in items}
    return _build(path, radiation=radiation, wavelength=wavelength, wavelength2=wavelength2, ka2_ratio=ratio,
                  polarization=need("Polariz."), azimuth=opt("Azimuth", 0.0), geometry=geometry,
                  zero=need("Zero"), monochromator_angle=mono, profile=profile, metadata=meta)


@INSTRUMENT_WRITERS.register("instprm")
def write_instprm(instrument: Instrument, path: str | os.PathLike) -> None:
    """Write ``instrument`` as a GSAS-II ``.instprm`` file (atomically), readable by GSAS-II and by us.

    Values are written with ``repr`` so that reading gives back the same floats. The geometry and the
    monochromator angle, which GSAS-II's file cannot hold, go into ``#refine:`` comment lines after the
    parameters (GSAS-II's reader stops at the first comment after the parameters).
    """
    ins = instrument
    kind = "PXC" if ins.radiation == "xray" else "PNC"
    lines = ["#GSAS-II instrument parameter file; do not add/delete items!", f"Type:{kind}"]
    lines.append("Bank:1.0")
    if ins.wavelength2 is not None:
        lines += [f"Lam1:{ins.wavelength!r}", f"Lam2:{ins.wavelength2!r}", f"I(L2)/I(L1):{ins.ka2_ratio!r}"]
    else:
        lines.append(f"Lam:{ins.wavelength!r}")
    p = ins.profile
    lines += [f"Zero:{ins.zero!r}", f"Polariz.:{ins.polarization!r}", f"Azimuth:{ins.azimuth!r}",
              f"U:{p.U!r}", f"V:{p.V!r}", f"W:{p.W!r}", f"X:{p.X!r}", f"Y:{p.Y!r}", f"Z:{p.Z!r}",
              f"SH/L:{p.sh_l!r}", f"Diff-type:{_GEOMETRY_TO_G2[ins.geometry]}",
              f"{_REFINE_TAG} geometry={ins.geometry}"]
    if ins.monochromator_angle is not None:
        lines.append(f"{_REFINE_TAG} monochromator_angle={ins.monochromator_angle!r}")
    with atomic_open(path, "w", encoding="ascii", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")


# --- old GSAS .prm ------------------------------------------------------------------------------------------
def _prm_records(path: Path, text: str) -> dict[str, str]:
    """``INS`` records keyed by their first 12 columns, value = the rest (GSAS fixed 80-column cards)."""
    records: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.rstrip("\r\n")
        if line.startswith("INS") and len(line) > 12:
            records[line[:12]] = line[12:]  # a repeated record replaces the earlier one, as in GSAS-II
    if not any(k.startswith("INS   HTYPE") for k in records):
        raise InputError(path, "not a GSAS instrument parameter file (no 'INS   HTYPE' record)")
    return records


def _columns(path: Path, name: str, text: str, lo: int, hi: int) -> float:
    """Fortran fixed-column field: blank means 0 (as GSAS reads it)."""
    field = text[lo:hi]
    return _number(path, f"{name} (columns {lo + 13}-{hi + 12})", field) if field.strip() else 0.0


def _profile_coefficients(path: Path, records: dict[str, str], bank: int) -> tuple[int, list[float]]:
    """Type and coefficients of the first profile set (``INS  nPRCF1`` + ``INS  nPRCF11..``, or old ``PRCF ``)."""
    for sub in ("1", " "):
        head = records.get(f"INS{bank:3d}PRCF{sub} ")
        if head is not None:
            break
    else:
        raise InputError(path, f"no profile record 'INS{bank:3d}PRCF1' for bank {bank}")
    fields = head.split()
    try:
        ptype, ncoef = int(fields[0]), int(fields[1])
    except (IndexError, ValueError):
        raise InputError(path, f"bad profile header {head.strip()!r}") from None
    values: list[float] = []
    for j in range(1, 100):
        card = records.get(f"INS{bank:3d}PRCF1{j}" if sub == "1" else f"INS{bank:3d}PRCF{j:2d}")
        if card is None or len(values) >= ncoef:
            break
        values += [_number(path, f"profile coefficient {len(values) + 1}", v) for v in card.split()]
    if ncoef < 3 or len(values) < ncoef:
        raise InputError(path, f"profile type {ptype} needs {ncoef} coefficients, found {len(values)}")
    return ptype, values[:ncoef]


def _gsas_profile(path: Path, ptype: int, c: list[float]) -> Profile:
    """GSAS CW profile coefficients (GSAS manual, CW profile functions) -> GSAS-II U V W X Y Z SH/L.

    GU, GV, GW are U, V, W for every type (as GSAS-II's importer takes them). The Lorentzian and FCJ terms:
    type 3 = GU GV GW GP LX LY S/L H/L ...; type 4 = GU GV GW GP LX ptec trns shft sfec S/L H/L eta ...;
    type 2 = GU GV GW LX LY trns asym ... (Howard asymmetry, no FCJ term: SH/L gets GSAS-II's default); type 1
    is Gaussian only. SH/L = S/L + H/L as GSAS-II's ``SetPowderInstParms`` intends (its test compares the
    type as a string with 3 and so always falls back to X = Y = 0, SH/L = 0.002; we take the file's values).
    GP (Gaussian Scherrer term) has no GSAS-II instrument counterpart and is left out.
    """

    def at(i: int) -> float:
        return c[i] if i < len(c) else 0.0

    u, v, w = c[0], c[1], c[2]
    if ptype == 1:
        return _profile(path, U=u, V=v, W=w, sh_l=DEFAULT_SH_L)
    if ptype == 2:
        return _profile(path, U=u, V=v, W=w, X=at(3), Y=at(4), sh_l=DEFAULT_SH_L)
    if ptype == 3:
        return _profile(path, U=u, V=v, W=w, X=at(4), Y=at(5), sh_l=at(6) + at(7))
    if ptype == 4:
        return _profile(path, U=u, V=v, W=w, X=at(4), sh_l=at(9) + at(10))
    raise InputError(path, f"GSAS CW profile type {ptype} is not supported (types 1-4 are)")


@INSTRUMENT_READERS.register("gsas_prm")
def read_gsas_prm(path: str | os.PathLike, *, bank: int = 1) -> Instrument:
    """Read an old GSAS instrument parameter file (``.prm``/``.inst``), constant wavelength, one bank.

    ``INS   HTYPE`` gives the radiation (PXC X-ray, PNC neutron; TOF raises). ``INS  n ICONS`` is read by
    columns as GSAS-II does: λ1 (1-10), λ2 (11-20; 0 = monochromatic), zero in centidegrees (21-30), POLA
    (41-50), IPOLA (51-55), KRATIO (56-65). IPOLA = 0: POLA is GSAS-II's ``Polariz.``; IPOLA = 1: POLA is the
    monochromator cos²2θm of Azaroff's factor (Von Dreele: same function up to a scale), Polariz. =
    1/(1 + POLA). A single wavelength means Debye-Scherrer, a doublet Bragg-Brentano (GSAS-II's rule).
    """
    path = Path(path)
    records = _prm_records(path, _text(path))
    htype = next(v for k, v in records.items() if k.startswith("INS   HTYPE"))
    radiation = _type_check(path, htype)
    icons = records.get(f"INS{bank:3d} ICONS")
    if icons is None:
        raise InputError(path, f"no 'INS{bank:3d} ICONS' record (bank {bank})")
    lam1 = _columns(path, "wavelength 1", icons, 0, 10)
    lam2 = _columns(path, "wavelength 2", icons, 10, 20)
    zero = _columns(path, "zero", icons, 20, 30) / 100.0  # GSAS ZERO is in centidegrees
    pola = _columns(path, "POLA", icons, 40, 50)
    ipola = int(_columns(path, "IPOLA", icons, 50, 55))
    kratio = _columns(path, "KRATIO", icons, 55, 65)
    mono = None
    if ipola == 1 and radiation == "xray":
        if not 0.0 <= pola <= 1.0:
            raise InputError(path, f"IPOLA=1 needs POLA = cos²(2θm) in [0, 1], got {pola}")
        mono = math.degrees(math.acos(math.sqrt(pola)))
        pola = 1.0 / (1.0 + pola)
    elif ipola not in (0, 1):
        raise InputError(path, f"unknown IPOLA {ipola} (0 or 1)")
    if radiation == "neutron" and not 0.0 <= pola <= 1.0:
        pola = 0.5  # meaningless for neutrons
    ptype, coeffs = _profile_coefficients(path, records, bank)
    profile = _gsas_profile(path, ptype, coeffs)
    azimuth = records.get(f"INS{bank:3d}DETAZM")
    meta = {"gsas_profile_type": ptype, "gsas_profile_coefficients": tuple(coeffs), "bank": bank,
            "ipola": ipola}
    irad = records.get(f"INS{bank:3d} IRAD ")
    if irad and irad.split():
        meta["gsas_irad"] = irad.split()[0]
    name = records.get(f"INS{bank:3d}INAME ")
    if name and name.strip():
        meta["instrument_name"] = name.strip()
    return _build(path, radiation=radiation, wavelength=lam1, wavelength2=lam2 or None,
                  ka2_ratio=kratio if lam2 else 0.0, polarization=pola,
                  azimuth=_number(path, "DETAZM", azimuth) if azimuth and azimuth.strip() else 0.0,
                  geometry="bragg_brentano" if lam2 else "debye_scherrer", zero=zero, monochromator_angle=mono,
                  profile=profile, metadata=meta)


# --- dispatch -----------------------------------------------------------------------------------------------
def instrument_format(path: str | os.PathLike, format: str | None = None) -> str:
    """The registered instrument format for ``path`` (explicit ``format`` wins)."""
    if format is not None:
        return format.lower()
    ext = Path(path).suffix.lower()
    if ext not in EXTENSIONS:
        raise InputError(path, f"unknown instrument file extension {ext!r}; known: {', '.join(sorted(EXTENSIONS))}")
    return EXTENSIONS[ext]


def read_instrument(path: str | os.PathLike, *, format: str | None = None, **options) -> Instrument:
    """Read an instrument parameter file (GSAS-II ``.instprm`` or GSAS ``.prm``); ``options`` e.g. ``bank=``."""
    path = Path(path)
    fmt = instrument_format(path, format)
    if fmt not in INSTRUMENT_READERS:
        raise InputError(path, f"unknown instrument format {fmt!r}; known: {INSTRUMENT_READERS.names()}")
    check_regular_file(path, kind="instrument")
    return INSTRUMENT_READERS.get(fmt)(path, **options)


def write_instrument(instrument: Instrument, path: str | os.PathLike, *, format: str | None = None) -> None:
    """Write ``instrument`` to ``path`` atomically (``.instprm`` is the only output format)."""
    fmt = instrument_format(path, format)
    if fmt not in INSTRUMENT_WRITERS:
        raise InputError(path, f"cannot write instrument format {fmt!r}; writable: {INSTRUMENT_WRITERS.names()}")
    INSTRUMENT_WRITERS.get(fmt)(instrument, Path(path))
