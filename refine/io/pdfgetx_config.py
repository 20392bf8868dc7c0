"""PDFgetX3 / PDFgetN3 configuration files (``pdfgetx3.cfg``, ``pdfgetn3.cfg``) and the configuration headers
PDFgetX3 / PDFgetN3 / xPDFsuite write at the top of their ``.gr`` files, read as settings for
:class:`refine.pdf.reduce.ReductionConfig`.

The format is an INI file: keys in ``[DEFAULT]`` (pdfgetx3.cfg, PDFgetX3 ``.gr`` headers) or ``[PDF]`` (xPDFsuite
headers); ``#`` starts a comment; a ``.gr`` file's data after ``#### start data`` is ignored. Keys read:
``composition``, ``qmin``, ``qmax``, ``qmaxinst``, ``rpoly``, ``bgscale``, ``rmin``, ``rmax``, ``rstep``,
``wavelength``, ``twothetazero``, ``backgroundfile``, ``outputtype``, ``dataformat`` (``QA``, ``Qnm``,
``twotheta``) and ``mode`` (``xray``, or ``neutron`` as PDFgetN3 writes it). Empty values count as not given.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refine.errors import InputError
from refine.io.fields import finite_float
from refine.io.paths import check_regular_file

_FLOATS = ("qmin", "qmax", "qmaxinst", "rpoly", "rmin", "rmax", "rstep", "wavelength", "twothetazero")
_MODES = ("xray", "neutron")
DATAFORMATS = ("QA", "Qnm", "twotheta")
_OUTPUTS = ("iq", "sq", "fq", "gr")


@dataclass(frozen=True)
class PDFgetConfig:
    """Settings read from a PDFgetX3 configuration.

    Attributes
    ----------
    settings
        ReductionConfig keyword arguments found in the file (composition, qmax, ..., bgscale).
    background
        The background file, resolved against the configuration's folder (None when not given).
    outputs
        Curves to write (``outputtype``), empty when not given.
    dataformat
        ``QA`` (Q in 1/Å), ``Qnm`` (Q in 1/nm) or ``twotheta`` (degrees); None when not given.
    source
        The configuration file.
    """

    settings: dict[str, Any] = field(default_factory=dict)
    background: Path | None = None
    outputs: tuple[str, ...] = ()
    dataformat: str | None = None
    source: str = ""


def _text(path: Path) -> str:
    try:
        raw = path.read_text(encoding="utf-8-sig", errors="replace")  # a BOM hid the first [section] header
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror or err}") from None
    lines = []
    for line in raw.splitlines():
        if line.startswith("#### start data"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n"


def _resolve(folder: Path, name: str, source: Path) -> Path:
    """A file named in the configuration: as given, else in the configuration's folder, else the one file there
    whose name differs only in case (headers written on macOS say Kapton.chi for kapton.chi)."""
    candidates = [Path(name), folder / name]
    for c in candidates:
        if c.is_file():
            return c
    if folder.is_dir():
        same = [p for p in folder.iterdir() if p.name.lower() == Path(name).name.lower()]
        if len(same) == 1:
            return same[0]
    raise InputError(source, f"backgroundfile {name!r} not found (looked beside the configuration, {folder})")


def read_pdfgetx_config(path: str | os.PathLike, *, section: str | None = None) -> PDFgetConfig:
    """Read a ``pdfgetx3.cfg`` or a PDFgetX3/xPDFsuite ``.gr`` header; ``section`` picks a named section
    (default: ``[PDF]`` when present, else ``[DEFAULT]``)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "configuration file not found")
    check_regular_file(path, kind="config")
    parser = configparser.ConfigParser(interpolation=None, strict=False, comment_prefixes=("#", ";"),
                                       inline_comment_prefixes=None)
    try:
        parser.read_string(_text(path), source=str(path))
    except configparser.Error as err:
        raise InputError(path, f"not a PDFgetX3 configuration: {str(err).splitlines()[0]}") from None
    if section is not None and section not in parser:
        raise InputError(path, f"no section [{section}]; sections: {', '.join(parser.sections()) or 'DEFAULT only'}")
    name = section or ("PDF" if "PDF" in parser else "DEFAULT")
    values = {k.lower(): v.strip() for k, v in parser[name].items()}
    if not any(k in values for k in ("composition", "qmax", "qmaxinst", "rpoly")):
        raise InputError(path, f"no PDFgetX3 settings (composition, qmax, ...) in section [{name}]")
    mode = values.get("mode", "")
    settings: dict[str, Any] = {}
    if mode:
        if mode.lower() not in _MODES:
            raise InputError(path, f"mode = {mode!r}: expected one of {', '.join(_MODES)}")
        settings["mode"] = mode.lower()
    if values.get("composition"):
        settings["composition"] = values["composition"]
    for key in _FLOATS:
        if values.get(key):
            settings[key] = finite_float(path, values[key], key)
    if values.get("bgscale"):
        text = values["bgscale"]
        settings["bgscale"] = "auto" if text.lower() == "auto" else finite_float(path, text, "bgscale")
    dataformat = values.get("dataformat") or None
    if dataformat is not None:
        match = [d for d in DATAFORMATS if d.lower() == dataformat.lower()]
        if not match:
            raise InputError(path, f"dataformat = {dataformat!r}: expected one of {', '.join(DATAFORMATS)}")
        dataformat = match[0]
    outputs = tuple(o.strip().lower() for o in values.get("outputtype", "").replace(",", " ").split())
    bad = [o for o in outputs if o not in _OUTPUTS]
    if bad:
        raise InputError(path, f"outputtype {bad[0]!r}: expected some of {', '.join(_OUTPUTS)}")
    background = values.get("backgroundfile") or None
    return PDFgetConfig(settings=settings, outputs=outputs, dataformat=dataformat, source=str(path),
                        background=None if background is None else _resolve(path.parent, background, path))
