"""Analytic derivatives of Rietveld line intensities: |F|² with respect to coordinates, occupancies, Uiso/U^ij and
the cell (through the Debye–Waller factor), and the intensity corrections.

With G_a = occ_a T_a(h) exp(2πi h·x_a) the contribution of atom a and f_a its (complex, fixed) scattering factor,
F± = Σ_a f_a G_a^(±) (G^(−) = conj G) and Fc² = (|F+|² + |F−|²)/2 (the Bijvoet average of
:class:`~refine.crystal.structure_factors.StructureFactorModel`), so for dG_a = κ G_a:
∂Fc² = Σ_a Re(κ) Wr_a + Im(κ) Wi_a with Wr = Re(F+* f G + F−* f G*) and Wi = Im(F−* f G*) − Im(F+* f G).
Coordinates: κ = 2πi h·R_a[:, m] (x_a = R_a x + t); occupancy: κ = 1/occ; ADPs: κ = −∂E_a with the Debye–Waller
exponent E_a = 2π² U Q (isotropic, Q = 1/d²) or 2π² gᵀ U g, g = N R_aᵀ h (U^ij, N = diag(a*, b*, c*)), which also
carries the cell dependence. The form factors are fixed at the starting d-spacings, as in the model.

The one-dimensional corrections (Lorentz–polarization, absorption, surface roughness) are differentiated along 2θ
and μ by central differences of their closed forms (relative accuracy ~1e-9; the roughness in p, q analytically);
the March–Dollase factor with respect to its ratio and the cell likewise (it is an average over each line's
members).
"""

from __future__ import annotations

from collections.abc import Collection

import lmfit
import numpy as np

from refine.crystal.lattice import PARAMETER_NAMES, Lattice
from refine.crystal.positions import AXES, UIJ, UIJ_INDEX
from refine.fit.parameters import StructureParameters
from refine.powder.derivatives import metric_derivatives

_PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


def _atom_rotations(sp: StructureParameters) -> tuple[np.ndarray, list[slice]]:
    """Rotation of every atom of :meth:`StructureParameters.expanded` (same order) and each site's slice."""
    rot = sp.structure.space_group.rotations.astype(float)
    mats, slices, start = [], [], 0
    for info in sp.sites:
        mats.append(rot[info.images])
        slices.append(slice(start, start + len(info.images)))
        start += len(info.images)
    return np.concatenate(mats), slices


def fc2_derivatives(sf, sp: StructureParameters, params: lmfit.Parameters, lattice: Lattice,
                    free: Collection[str], values: dict | None = None, atoms=None
                    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Fc² and ∂Fc²/∂(name) of every line for the names in ``free`` among the phase's site parameters and its six
    cell parameters (the latter through the Debye–Waller factor); ``atoms``: the expanded atoms when known."""
    atoms = sp.expanded(params, lattice) if atoms is None else atoms
    gstar = lattice.reciprocal_metric
    nstar = np.sqrt(np.diag(gstar))
    u = np.nan_to_num(atoms.uaniso, nan=0.0)
    beta = 2.0 * np.pi**2 * u * np.outer(nstar, nstar)
    beta6 = np.stack([beta[:, i, j] for i, j in _PAIRS], axis=1)
    g0 = np.exp(-(sf._hh @ beta6.T)) * sf._phases(atoms.xyz)  # (lines, atoms), without the occupancy
    species = np.argmax(sf._species_matrix(atoms), axis=1)
    fa = sf.factors[:, species]
    occ = atoms.occupancy
    fg = fa * g0
    f_plus = fg @ occ
    f_minus = (fa * np.conj(g0)) @ occ
    t_plus = np.conj(f_plus)[:, None] * fg
    t_minus = np.conj(f_minus)[:, None] * fa * np.conj(g0)
    wr0 = (t_plus + t_minus).real  # per unit occupancy
    wi0 = t_minus.imag - t_plus.imag
    wr, wi = wr0 * occ, wi0 * occ
    fc2 = 0.5 * (np.abs(f_plus) ** 2 + np.abs(f_minus) ** 2)
    hkl = sf._ihkl.astype(float)
    rots, slices = _atom_rotations(sp)
    hr = np.einsum("ln,anm->lam", hkl, rots)  # h·R_a[:, m]
    q = np.einsum("ni,ij,nj->n", hkl, gstar, hkl)
    values = params.valuesdict() if values is None else values
    out: dict[str, np.ndarray] = {}
    cell_names = [f"{sp.prefix}_{n}" for n in PARAMETER_NAMES]
    want_cell = any(n in free for n in cell_names)
    dq = dnn = None
    if want_cell:
        dgs = metric_derivatives(lattice, gstar)
        dq = np.einsum("ni,pij,nj->pn", hkl, dgs, hkl)
        dn = np.stack([dgs[:, i, i] / (2.0 * nstar[i]) for i in range(3)], axis=1)  # (6, 3) ∂a*_i/∂p
        dnn = dn[:, :, None] * nstar[None, None, :] + nstar[None, :, None] * dn[:, None, :]  # ∂(a*_i a*_j)/∂p
    cell = np.zeros((6, hkl.shape[0])) if want_cell else None
    for info, sl in zip(sp.sites, slices, strict=True):
        label = info.site.label
        for m, axis in enumerate(AXES):
            name = sp.name(label, axis)
            if name in free:
                out[name] = 2.0 * np.pi * np.einsum("la,la->l", hr[:, sl, m], wi[:, sl])
        name = sp.name(label, "occ")
        if name in free:
            out[name] = wr0[:, sl].sum(axis=1)
        w_site = wr[:, sl].sum(axis=1)
        if info.site.uaniso is None:
            uiso = values.get(sp.name(label, "uiso"), sp._uiso(info.site))
            name = sp.name(label, "uiso")
            if name in free:
                out[name] = -2.0 * np.pi**2 * q * w_site
            if want_cell:
                cell -= 2.0 * np.pi**2 * uiso * dq * w_site
            continue
        g = hr[:, sl, :] * nstar  # (lines, site atoms, 3)
        for item, (i, j) in zip(UIJ, UIJ_INDEX, strict=True):
            name = sp.name(label, item)
            if name in free:
                factor = 1.0 if i == j else 2.0
                out[name] = -2.0 * np.pi**2 * factor * np.einsum("la,la->l", g[:, :, i] * g[:, :, j], wr[:, sl])
        if want_cell:
            _, _, _, usite = sp._site_values(values, info)
            vv = hr[:, sl, :]
            # E = 2π² Σ_ij U_ij a*_i a*_j v_i v_j: ∂E/∂p = 2π² Σ_ij U_ij v_i v_j ∂(a*_i a*_j)/∂p
            de = 2.0 * np.pi**2 * np.einsum("ij,pij,lai,laj->pla", usite, dnn, vv, vv)
            cell -= np.einsum("pla,la->pl", de, wr[:, sl])
    if want_cell:
        for k, name in enumerate(cell_names):
            if name in free:
                out[name] = cell[k]
    return fc2, out


def _central(fn, x: np.ndarray | float, h: float) -> np.ndarray:
    return (fn(x + h) - fn(x - h)) / (2.0 * h)


def intensity_derivatives(engine, params: lmfit.Parameters, index: int, kalpha1: tuple[np.ndarray, dict],
                          free: Collection[str], values: dict | None = None
                          ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scaled intensities of phase ``index`` (as :meth:`RietveldEngine.phase_intensities`, to rounding) and their
    derivatives {name: (lines,)} for the names in ``free``; ``kalpha1`` = (Kα1 positions, their derivatives)."""
    from refine.powder.corrections import march_dollase, sample_absorption

    model = engine.model
    block = model.phases[index]
    p = model.prefix
    lattice = model.lattice(params, block)
    v = params.valuesdict() if values is None else values
    fc2, dfc2 = fc2_derivatives(engine.sf[index], engine.atoms[index], params, lattice, free, v,
                                engine.expanded_atoms(params, index, lattice, v))
    tth1, dtth1 = kalpha1
    fac = engine.intensity_factors(params, index, tth=np.where(np.isfinite(tth1), tth1, np.nan), fc2=fc2)
    base = block.reflections.multiplicity * fac.fc2
    corr = fac.correction
    scale = fac.scale
    inten = base * corr * scale
    out: dict[str, np.ndarray] = {}
    sname = f"{block.prefix}_scale"
    if sname in free:
        out[sname] = base * corr
    for name, col in dfc2.items():
        out[name] = scale * block.reflections.multiplicity * col * corr
    ok, tth = fac.ok, fac.tth
    # along 2θ: the product of the 2θ-dependent factors, times the others
    dcorr_t = np.zeros_like(corr)
    if ok.any():
        dcorr_t[ok] = _central(lambda t: engine.angular_correction(params, t), tth[ok], 1e-4) * fac.other[ok]
    for name, col in dtth1.items():
        if name in free and np.any(col):
            out[name] = out.get(name, 0.0) + scale * base * dcorr_t * col
    inst = model.instrument
    if f"{p}absorption" in free and ok.any():
        mu = v[f"{p}absorption"]
        h = 1e-6 * max(abs(mu), 1e-3)
        da = np.zeros_like(corr)
        a0 = sample_absorption(inst.geometry, tth[ok], mu)
        da[ok] = _central(lambda m: sample_absorption(inst.geometry, tth[ok], m), max(mu, h), h) / a0
        out[f"{p}absorption"] = inten * da
    names = (f"{p}surf_p", f"{p}surf_q")
    if ok.any() and (names[0] in free or names[1] in free):
        # Suortti: SR = (p + (1 − p) e^(−q/sinθ)) / (p + (1 − p) e^(−q)), differentiated in p and q
        sp_, sq_ = v[names[0]], v[names[1]]
        sin_th = np.sin(np.radians(tth[ok] / 2.0))
        e1, e0 = np.exp(-sq_ / sin_th), np.exp(-sq_)
        num, den = sp_ + (1.0 - sp_) * e1, sp_ + (1.0 - sp_) * e0
        for name, dlog in ((names[0], (1.0 - e1) / num - (1.0 - e0) / den),
                           (names[1], (1.0 - sp_) * (-e1 / sin_th / num + e0 / den))):
            if name in free:
                col = np.zeros_like(corr)
                col[ok] = inten[ok] * dlog
                out[name] = col
    texture = engine.textures[index]
    if texture is not None:
        for k, name in enumerate(texture[0]):
            if name in free:
                out[name] = scale * base * fac.without_texture * texture[1][:, k]
    ratio_name = f"{block.prefix}_po_ratio"
    if fac.po is not None:
        sg, axis, ratio = block.structure.space_group, engine.options.po_axis, v[ratio_name]
        rest = scale * base * fac.without_po
        if ratio_name in free:
            out[ratio_name] = rest * _central(lambda r: march_dollase(block.reflections, lattice, sg, axis, r),
                                              ratio, 1e-6)
        for k, cname in enumerate(PARAMETER_NAMES):
            name = f"{block.prefix}_{cname}"
            if name in free:
                cell = list(lattice.as_tuple())
                h = 1e-6 * cell[k]

                def po_at(x: float, k: int = k, cell: list = cell) -> np.ndarray:
                    moved = list(cell)
                    moved[k] = x
                    return march_dollase(block.reflections, Lattice(*moved), sg, axis, ratio)

                out[name] = out.get(name, 0.0) + rest * _central(po_at, cell[k], h)
    return inten, out


def rietveld_intensities(engine):
    """The ``intensities`` callable of :class:`refine.powder.jacobian.PowderJacobian` for a Rietveld engine."""

    def intensities(params: lmfit.Parameters, free: Collection[str], kalpha1: list, values: dict
                    ) -> tuple[np.ndarray, dict]:
        parts = [intensity_derivatives(engine, params, i, kalpha1[i], free, values)
                 for i in range(len(engine.model.phases))]
        sizes = [part[0].size for part in parts]
        names = {n for part in parts for n in part[1]}
        dint = {n: np.concatenate([np.broadcast_to(part[1].get(n, 0.0), (size,)) for part, size in
                                   zip(parts, sizes, strict=True)]) for n in names}
        return np.concatenate([part[0] for part in parts]), dint

    return intensities
