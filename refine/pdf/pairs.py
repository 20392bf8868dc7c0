"""Pair-distance tables of periodic structures, built once per fit and re-broadened at every evaluation.

A :class:`PairTable` holds, for every unordered pair of *site classes* (sites of one species with one ADP, by
default), the distinct interatomic distances up to a cut-off with their occupancy-weighted multiplicities and
the pair mean-square displacement along the pair direction (sigma'^2 of PDFfit2, Phase::msdAtoms).  Isotropic
ADPs per class can then be changed at evaluation time without rebuilding, and an isotropic change of the lattice
only rescales the distances.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from refine.crystal.scattering import parse_species
from refine.crystal.scattering import scattering_power as scattering_factor
from refine.errors import InputError
from refine.pdf.structure import PDFStructure

__all__ = ["NeighbourList", "PairTable", "default_classes", "element_of", "iter_pairs", "pair_msd",
           "scattering_factor"]


def element_of(symbol: str) -> str:
    """Element part of a species symbol ("O2-" -> "O", "NI" -> "Ni"), by
    :func:`refine.crystal.scattering.parse_species`."""
    return parse_species(symbol)[0]


def default_classes(structure: PDFStructure) -> tuple[str, ...]:
    """Site-class label per site: sites with equal species, occupancy and U share a class.

    The label is the species symbol when that species has one class, else symbol + running number ("O1", "O2").
    """
    keys: list[tuple] = []
    for el, occ, u in zip(structure.elements, structure.occupancy, structure.u, strict=True):
        keys.append((el, round(float(occ), 9), tuple(np.round(u.ravel(), 10))))
    distinct: dict[tuple, int] = {}
    for k in keys:
        distinct.setdefault(k, len(distinct))
    per_el: dict[str, list[tuple]] = {}
    for k in distinct:
        per_el.setdefault(k[0], []).append(k)
    label = {}
    for el, ks in per_el.items():
        for i, k in enumerate(ks):
            label[k] = el if len(ks) == 1 else f"{el}{i + 1}"
    return tuple(label[k] for k in keys)


def iter_pairs(structure: PDFStructure, dmax: float, dmin: float = 0.1, chunk: int = 4_000_000
               ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Every site pair (i <= j, lattice image) with dmin <= |r_j + T - r_i| <= dmax.

    Yields chunks ``(i, j, distance, unit_vector, count)``: count is 2 for i < j, standing for the ordered
    pairs i->j and j->i of the double sum G = 1/(N r) sum_i sum_j ... (Farrow et al. 2007, eq. 1), and 1 for the
    images of a site itself (which the sum over all images already lists twice, at +T and -T).
    """
    base = structure.base
    frac = structure.xyz - np.floor(structure.xyz)
    cart = frac @ base
    n = len(cart)
    rec_len = np.linalg.norm(np.linalg.inv(base), axis=0)
    nmax = np.ceil(dmax * rec_len).astype(int) + 1
    grid = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in nmax], indexing="ij"), -1).reshape(-1, 3)
    shifts = grid @ base
    # the difference of two in-cell positions lies in the cell spanned by (-1, 1)^3: drop shifts beyond reach
    reach = max(np.linalg.norm(np.array(s) @ base) for s in ((1, 1, 1), (-1, 1, 1), (1, -1, 1), (1, 1, -1)))
    shifts = shifts[np.linalg.norm(shifts, axis=1) <= dmax + reach]
    iu, ju = np.triu_indices(n, 1)
    ii = np.concatenate([iu, np.arange(n)])
    jj = np.concatenate([ju, np.arange(n)])
    count = np.concatenate([np.full(len(iu), 2.0), np.ones(n)])
    diff = cart[jj] - cart[ii]
    per = max(1, chunk // len(ii))
    for start in range(0, len(shifts), per):
        s = shifts[start:start + per]
        vec = diff[None] + s[:, None, :]
        d = np.sqrt(np.einsum("spk,spk->sp", vec, vec))
        keep = (d >= dmin) & (d <= dmax)
        if not keep.any():
            continue
        sel = np.nonzero(keep)
        dk = d[sel]
        p = sel[1]
        yield ii[p], jj[p], dk, vec[sel] / dk[:, None], count[p]


class NeighbourList:
    """The pairs of :func:`iter_pairs` kept between evaluations of a structure whose atoms and cell move a little
    (a crystalline phase in a fit): site pairs and their lattice translations within ``dmax + margin`` are listed
    once, and each call recomputes only their distances at the current coordinates and cell. The list is rebuilt
    when the atoms or the cell have moved enough that a pair beyond the margin could have come within ``dmax``
    (a bound, not an estimate), so the pairs are always exactly those :func:`iter_pairs` would give."""

    def __init__(self, margin: float = 1.0, *, compiled: bool = False, orbits: np.ndarray | None = None) -> None:
        self.margin = float(margin)
        self.compiled = compiled  # distances by the compiled loop (kernels.pair_geometry) instead of numpy
        # symmetry orbit of each atom, for structures that are always the space-group expansion of their sites
        self.orbits = None if orbits is None else np.asarray(orbits, dtype=int)
        self.reduced = False  # whether the list holds the symmetry-reduced pairs (see symmetry_reduced)
        self.builds = 0
        self._state: tuple | None = None

    def _build(self, structure: PDFStructure, dmax: float) -> None:
        offset = np.floor(structure.xyz)
        frac = structure.xyz - offset
        reach = dmax + self.margin
        ii, jj, ns, cs = [], [], [], []
        base_inv = np.linalg.inv(structure.base)
        for i, j, d, unit, count in iter_pairs(structure, reach, dmin=1e-6):  # not an atom with itself
            vec = unit * d[:, None]
            shift = vec @ base_inv - (frac[j] - frac[i])
            ii.append(i)
            jj.append(j)
            ns.append(np.rint(shift))
            cs.append(count)
        cat = (lambda a: np.concatenate(a)) if ii else (lambda a: np.zeros(0))
        ii, jj, cs = cat(ii).astype(int), cat(jj).astype(int), cat(cs)
        ns = np.concatenate(ns) if ns else np.zeros((0, 3))
        reduced = None if self.orbits is None else symmetry_reduced(structure, self.orbits, (ii, jj, ns, cs))
        self.reduced = reduced is not None
        if reduced is not None:
            ii, jj, ns, cs = reduced
        # |fractional separation| of every listed pair bounds how far a cell change moves it
        fmax = float(np.max(np.linalg.norm(frac[jj] - frac[ii] + ns, axis=1))) if len(ii) else 0.0
        self._state = (offset, structure.xyz.copy(), structure.base.copy(), reach, ii, jj, ns, cs, fmax)
        self.builds += 1

    def _valid(self, structure: PDFStructure, dmax: float) -> bool:
        if self._state is None or len(structure.xyz) != len(self._state[1]):
            return False
        offset, xyz0, base0, reach, *_, fmax = self._state
        if dmax + 1e-12 > reach:
            return False
        moved = (structure.xyz - xyz0) @ structure.base
        strain = np.linalg.norm(structure.base - base0, 2)
        # a pair distance changes by at most 2 max|atom shift| + |fractional separation| * ||ΔB||
        return 2.0 * float(np.max(np.linalg.norm(moved, axis=1))) + fmax * strain < reach - dmax

    def pairs(self, structure: PDFStructure, dmax: float, dmin: float = 0.1
              ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """One chunk ``(i, j, distance, unit_vector, count)`` of every pair with dmin <= d <= dmax."""
        if not self._valid(structure, dmax):
            self._build(structure, dmax)
        offset, _, _, _, ii, jj, ns, cs, _ = self._state
        frac = structure.xyz - offset
        if self.compiled:
            from refine.pdf.kernels import pair_geometry

            keep, dk, unit = pair_geometry(frac, structure.base, ii, jj, ns, dmin, dmax)
            yield ii[keep], jj[keep], dk, unit, cs[keep]
            return
        vec = (frac[jj] - frac[ii] + ns) @ structure.base
        d = np.sqrt(np.einsum("pk,pk->p", vec, vec))
        keep = (d >= dmin) & (d <= dmax)
        dk = d[keep]
        yield ii[keep], jj[keep], dk, vec[keep] / dk[:, None], cs[keep]


def symmetry_reduced(structure: PDFStructure, orbits: np.ndarray, pairs: tuple[np.ndarray, ...]
                     ) -> tuple[np.ndarray, ...] | None:
    """The pairs ``(i, j, n, count)`` of a full list (i <= j, as :func:`iter_pairs`) reduced by the space group:
    only pairs from one representative atom per symmetry orbit, weighted by the orbit's multiplicity.

    Symmetry-equivalent pairs have equal distance, msd and weight, and (the parameters keeping the symmetry) equal
    derivatives, so with m_s atoms in orbit s the ordered double sum is
    ``sum_s m_s sum_(b, n) f(r_s -> b + n)`` over the representative r_s; pairs between two orbits s != t are kept
    once, from the orbit ranked first (larger multiplicity: fewer pairs), at weight 2 m_s. ``orbits[k]`` is the
    orbit (asymmetric-unit site) of atom k; the structure must be the symmetric expansion at every later call too.
    Returns None (keep the full list) when nothing is gained or when the reduced list's weighted moments of
    distance and msd per element pair differ from the full list's by more than 1e-9 (a structure that is not
    symmetric: never a silent wrong sum).
    """
    ii, jj, ns, cs = pairs
    n = len(structure.xyz)
    if orbits.shape != (n,) or not len(ii):
        return None
    labels, first, pos, mult = np.unique(orbits, return_index=True, return_inverse=True, return_counts=True)
    if len(labels) == n:
        return None
    rank = np.empty(len(labels), dtype=int)
    rank[np.lexsort((labels, -mult))] = np.arange(len(labels))
    r, m = rank[pos], mult[pos].astype(float)
    rep = np.zeros(n, dtype=bool)
    rep[first] = True
    fwd = rep[ii] & (r[ii] <= r[jj])  # i -> j from the representative of the first-ranked orbit
    back = rep[jj] & (r[jj] <= r[ii]) & (ii != jj)  # j -> i: the pair reversed
    out = (np.concatenate([ii[fwd], jj[back]]), np.concatenate([jj[fwd], ii[back]]),
           np.concatenate([ns[fwd], -ns[back]]),
           np.concatenate([m[ii[fwd]] * np.where(r[ii[fwd]] < r[jj[fwd]], 2.0, 1.0),
                           m[jj[back]] * np.where(r[jj[back]] < r[ii[back]], 2.0, 1.0)]))
    return out if _same_moments(structure, (ii, jj, ns, cs), out) else None


def _same_moments(structure: PDFStructure, full: tuple[np.ndarray, ...], reduced: tuple[np.ndarray, ...]) -> bool:
    """Whether two pair lists have equal weighted sums of 1, d, 1/d and msd per element pair (to 1e-9)."""
    _, el = np.unique(structure.elements, return_inverse=True)
    nel = int(el.max()) + 1
    frac = structure.xyz - np.floor(structure.xyz)  # as NeighbourList._build's translations n are
    sums = []
    for ii, jj, ns, cs in (full, reduced):
        vec = (frac[jj] - frac[ii] + ns) @ structure.base
        d = np.sqrt(np.einsum("pk,pk->p", vec, vec))
        msd = pair_msd(structure, ii, jj, vec / d[:, None])
        key = np.minimum(el[ii], el[jj]) * nel + np.maximum(el[ii], el[jj])
        sums.append(np.stack([np.bincount(key, weights=cs * f, minlength=nel * nel) for f in (1.0, d, 1.0 / d, msd)]))
    scale = np.abs(sums[0]).sum(axis=1, keepdims=True) + 1e-300
    return bool(np.all(np.abs(sums[0] - sums[1]) <= 1e-9 * scale))


def pair_msd(structure: PDFStructure, i: np.ndarray, j: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Mean-square displacement of each pair along its direction, n^T (U_i + U_j) n (PDFfit2 Phase::msdAtoms)."""
    uc = structure.u_cartesian
    iso = structure.isotropic
    if np.all(iso):
        return structure.uiso[i] + structure.uiso[j]
    return np.einsum("pk,pkl,pl->p", unit, uc[i] + uc[j], unit)


@dataclass(frozen=True, eq=False)
class PairTable:
    """Distinct pair distances per class pair, with multiplicities and msd, for fast repeated G(r) evaluation.

    Attributes
    ----------
    structure
        The structure the table was built from (its lattice is the reference of ``lattice_scale``).
    classes
        Class labels, index c; ``site_class`` maps sites to classes.
    class_element
        Species symbol of each class.
    class_occupancy
        Sum of occupancies of the sites of each class.
    class_uiso
        Isotropic U of each class, NaN for classes with anisotropic or unequal ADPs.
    pair_first, pair_second
        Class indices of the unordered class pairs (first <= second).
    distance, multiplicity, msd, pair_index
        One entry per distinct (class pair, distance, msd): distance (Å), sum of occ_i*occ_j over ordered site
        pairs, sigma'^2 (Å²) and the class-pair index.
    spread
        Weighted variance (Å², at the build lattice) of the distances merged into each entry: the merged
        Gaussian keeps the group's exact first and second moments (its sigma² grows by the spread).
    dmax
        Largest distance covered (Å, at the build lattice).
    build_seconds
        Wall time of the build.
    resolution
        Distance bin (Å) of the merge (see :meth:`build`).
    """

    structure: PDFStructure
    classes: tuple[str, ...]
    site_class: np.ndarray
    class_element: tuple[str, ...]
    class_occupancy: np.ndarray
    class_uiso: np.ndarray
    pair_first: np.ndarray
    pair_second: np.ndarray
    distance: np.ndarray
    multiplicity: np.ndarray
    msd: np.ndarray
    pair_index: np.ndarray
    spread: np.ndarray
    dmax: float
    build_seconds: float
    resolution: float = 1e-4

    @classmethod
    def build(cls, structure: PDFStructure, rmax: float, *, qmax: float = 0.0, classes: Sequence[str] | None = None,
              resolution: float = 1e-4, scale_allowance: float = 0.03, dmax: float | None = None) -> PairTable:
        """Enumerate all pairs once.

        Parameters
        ----------
        structure
            The periodic structure.
        rmax
            Largest r (Å) at which G(r) will be evaluated.
        qmax
            Smallest Qmax (Å⁻¹) that will be used, 0 for none: the table then covers PDFfit2's extension of the
            calculation range by 6 termination ripples, 6*2*pi/qmax.
        classes
            Class label per site (sites in a class must share species and, to override their Uiso, ADPs);
            default :func:`default_classes`.
        resolution
            Distances in one bin of this width (Å) are merged into one Gaussian at their weighted mean whose
            sigma² grows by their weighted variance (``spread``), so the group's first and second moments are
            exact and the error is third order, below ~0.03 (resolution/sigma)³ of the merged peak's height
            (the third cumulant of a group is at most resolution³/(6 sqrt 3)): ~1e-6 at the default 1e-4 Å.
            Coarser values (1e-3 - 1e-2) compress relaxed supercells with few coincident distances 5-20 times.
        scale_allowance
            Relative lattice contraction the table must still cover (distances are stored up to
            (rmax + extension + 1 Å) / (1 - scale_allowance)).
        dmax
            Store distances up to exactly this (Å), instead of the bound from rmax, qmax and scale_allowance.
        """
        t0 = time.perf_counter()
        if not rmax > 0:
            raise InputError("rmax", f"must be > 0, got {rmax}")
        if qmax < 0:
            raise InputError("qmax", f"must be >= 0, got {qmax}")
        if not resolution > 0:
            raise InputError("resolution", f"must be > 0, got {resolution}")
        labels = default_classes(structure) if classes is None else tuple(str(c) for c in classes)
        if len(labels) != structure.natoms:
            raise InputError("classes", f"{len(labels)} class labels for {structure.natoms} sites")
        names = tuple(dict.fromkeys(labels))
        site_class = np.array([names.index(lab) for lab in labels])
        class_element, class_occ, class_uiso = [], [], []
        iso, uiso = structure.isotropic, structure.uiso
        for c, name in enumerate(names):
            members = np.nonzero(site_class == c)[0]
            species = {structure.elements[m] for m in members}
            if len(species) != 1:
                raise InputError("classes", f"class {name!r} mixes species {sorted(species)}")
            class_element.append(species.pop())
            class_occ.append(structure.occupancy[members].sum())
            same = np.all(iso[members]) and np.ptp(uiso[members]) < 1e-12
            class_uiso.append(uiso[members[0]] if same else np.nan)
        ncls = len(names)
        ext = 6 * 2 * np.pi / qmax if qmax > 0 else 0.0  # PDFfit2 DataSet::extendCalculationRange
        dmax = (rmax + ext + 1.0) / (1.0 - scale_allowance) if dmax is None else float(dmax)
        pair_code = np.full((ncls, ncls), -1)
        firsts, seconds = np.triu_indices(ncls)
        pair_code[firsts, seconds] = np.arange(len(firsts))
        pair_code[seconds, firsts] = np.arange(len(firsts))
        parts = []
        for i, j, d, unit, count in iter_pairs(structure, dmax):
            msd = pair_msd(structure, i, j, unit)
            w = count * structure.occupancy[i] * structure.occupancy[j]
            parts.append(_merge(pair_code[site_class[i], site_class[j]], d, msd, w, np.zeros(len(d)), resolution))
        if parts:
            p, d, msd, w, var = (np.concatenate(x) for x in zip(*parts, strict=True))
            p, d, msd, w, var = _merge(p, d, msd, w, var, resolution)
        else:
            p, d, msd, w, var = (np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
        arrays = [site_class, np.array(class_occ), np.array(class_uiso), firsts, seconds, d, w, msd, p, var]
        for arr in arrays:
            arr.flags.writeable = False
        return cls(structure=structure, classes=names, site_class=site_class, class_element=tuple(class_element),
                   class_occupancy=arrays[1], class_uiso=arrays[2], pair_first=firsts, pair_second=seconds,
                   distance=d, multiplicity=w, msd=msd, pair_index=p, spread=var, dmax=float(dmax),
                   build_seconds=time.perf_counter() - t0, resolution=float(resolution))

    def covering(self, distance: float) -> PairTable:
        """This table when it holds the pair distances up to ``distance`` (Å, at the build lattice), else one
        rebuilt from the same structure, site classes and resolution that does (a cell that contracted in a fit
        beyond what the table was built for)."""
        if self.dmax >= distance:
            return self
        labels = [self.classes[c] for c in self.site_class]
        return PairTable.build(self.structure, distance, classes=labels, resolution=self.resolution, dmax=distance)

    @property
    def npairs(self) -> int:
        """Number of stored distinct entries."""
        return len(self.distance)

    def class_weights(self, radiation: str) -> np.ndarray:
        """Normalised scattering weight b_c/<b> per class, <b> = sum occ b / sum occ (PDFfit2 Phase::setup_weights)."""
        sf = np.array([scattering_factor(el, radiation) for el in self.class_element])
        bavg = float(np.dot(self.class_occupancy, sf) / self.class_occupancy.sum())
        if bavg == 0:
            raise InputError("radiation", f"average {radiation} scattering power of the structure is zero")
        return sf / bavg

    def class_index(self, names: str | Sequence[str]) -> np.ndarray:
        """Indices of the classes selected by class labels or species/element symbols."""
        wanted = {names} if isinstance(names, str) else set(names)
        hit = [c for c, (lab, el) in enumerate(zip(self.classes, self.class_element, strict=True))
               if lab in wanted or el in wanted or element_of(el) in wanted]
        if not hit:
            raise InputError("species", f"{sorted(wanted)} match no site class of {list(self.classes)}")
        return np.array(hit)


def _merge(p: np.ndarray, d: np.ndarray, msd: np.ndarray, w: np.ndarray, var: np.ndarray, resolution: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge entries with equal class pair, distance bin (width ``resolution``) and msd (within 1e-9 Å²).

    Each group keeps its total weight, weighted mean distance and weighted variance of distance: the variance of
    a merged group is the weighted mean of its members' variances ``var`` plus the spread of their means.
    """
    kd = np.floor(d / resolution + 0.5).astype(np.int64)
    km = np.floor(msd / 1e-9 + 0.5).astype(np.int64)
    order = np.lexsort((km, kd, p))
    p, kd, km, d, msd, w, var = p[order], kd[order], km[order], d[order], msd[order], w[order], var[order]
    new = np.ones(len(p), dtype=bool)
    new[1:] = (np.diff(p) != 0) | (np.diff(kd) != 0) | (np.diff(km) != 0)
    inv = np.cumsum(new) - 1
    first = p[new]
    nu = len(first)
    wsum = np.bincount(inv, weights=w, minlength=nu)
    safe = np.where(wsum > 0, wsum, 1.0)
    dmean = np.bincount(inv, weights=w * d, minlength=nu) / safe
    mmean = np.bincount(inv, weights=w * msd, minlength=nu) / safe
    dev = d - dmean[inv]
    vmean = np.bincount(inv, weights=w * (var + dev * dev), minlength=nu) / safe
    keep = wsum > 0
    return first[keep], dmean[keep], mmean[keep], wsum[keep], vmean[keep]
