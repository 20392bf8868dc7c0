"""Agreement factors, as GSAS-II and PDFgui report them.

Definitions (Toby, Powder Diffr. 21 (2006) 67): over the fitted points (fit range, exclusions removed),
background included, with w = 1/σ²:
Rp = Σ|yo−yc| / Σ|yo|;  Rwp = sqrt(Σw(yo−yc)² / Σw yo²);  Rexp = sqrt((N−P) / Σw yo²);  GOF = Rwp/Rexp = sqrt(χ²red).
PDF fits (Farrow et al. 2007, PDFgui): Rw = sqrt(Σw(Gobs−Gcalc)² / Σw Gobs²).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Statistics:
    """Agreement factors of one dataset (or of a joint fit). R-factors are fractions, not percent."""

    npoints: int
    nvary: int
    chi2: float
    chi2_red: float
    Rwp: float | None = None
    Rp: float | None = None
    Rexp: float | None = None
    GOF: float | None = None
    Rw: float | None = None

    def to_dict(self) -> dict:
        """Plain dict for the result file (NaN and inf as None: JSON has no NaN)."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, doc: dict) -> Statistics:
        """Statistics back from :meth:`to_dict` (a missing χ² reads as NaN)."""
        nan = float("nan")
        return cls(npoints=int(doc.get("npoints") or 0), nvary=int(doc.get("nvary") or 0),
                   chi2=nan if doc.get("chi2") is None else float(doc["chi2"]),
                   chi2_red=nan if doc.get("chi2_red") is None else float(doc["chi2_red"]),
                   **{k: None if doc.get(k) is None else float(doc[k]) for k in ("Rwp", "Rp", "Rexp", "GOF", "Rw")})


def _prepare(yobs: ArrayLike, ycalc: ArrayLike, sigma: ArrayLike | None) -> tuple[np.ndarray, ...]:
    yo = np.asarray(yobs, dtype=float)
    yc = np.asarray(ycalc, dtype=float)
    w = np.ones_like(yo) if sigma is None else 1.0 / np.asarray(sigma, dtype=float) ** 2
    return yo, yc, w


def powder_statistics(yobs: ArrayLike, ycalc: ArrayLike, sigma: ArrayLike | None, *, nvary: int) -> Statistics:
    """Rp, Rwp, Rexp, GOF and χ² of a powder fit over the given (already masked) points."""
    yo, yc, w = _prepare(yobs, ycalc, sigma)
    n = yo.size
    chi2 = float(np.sum(w * (yo - yc) ** 2))
    dof = max(n - nvary, 1)
    swy2 = float(np.sum(w * yo**2))
    rwp = float(np.sqrt(chi2 / swy2)) if swy2 > 0 else float("nan")
    rexp = float(np.sqrt(dof / swy2)) if swy2 > 0 else float("nan")
    rp = float(np.sum(np.abs(yo - yc)) / np.sum(np.abs(yo))) if np.any(yo) else float("nan")
    return Statistics(npoints=n, nvary=nvary, chi2=chi2, chi2_red=chi2 / dof, Rwp=rwp, Rp=rp, Rexp=rexp,
                      GOF=rwp / rexp if rexp > 0 else float("nan"))


def pdf_statistics(gobs: ArrayLike, gcalc: ArrayLike, dg: ArrayLike | None, *, nvary: int) -> Statistics:
    """PDFgui's Rw and χ² of a real-space fit; ``dg=None`` means unit weights."""
    go, gc, w = _prepare(gobs, gcalc, dg)
    n = go.size
    chi2 = float(np.sum(w * (go - gc) ** 2))
    swg2 = float(np.sum(w * go**2))
    rw = float(np.sqrt(chi2 / swg2)) if swg2 > 0 else float("nan")
    return Statistics(npoints=n, nvary=nvary, chi2=chi2, chi2_red=chi2 / max(n - nvary, 1), Rw=rw)
