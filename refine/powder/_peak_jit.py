"""numba kernels of :mod:`refine.powder.kernels` (imported lazily: importing numba takes a few 0.1 s).

Top-level functions so that numba's disk cache (``cache=True``) finds them again in a new process (closures over
other compiled functions are recompiled every time). numpy's error model: a zero width gives inf/NaN as numpy does.
"""

import numba
import numpy as np

# The pseudo-Voigt constants exactly as refine.powder.peakshape.pseudo_voigt computes them (numpy, not libm).
_LN2 = np.log(2.0)
_SQ2LN2 = float(np.sqrt(2.0 * _LN2))
_SQ2PI = float(np.sqrt(2.0 * np.pi))
_INV_PI = 1.0 / np.pi

#: Relative size below which the Gaussian term of a pseudo-Voigt is not evaluated: in the Lorentzian tails of
#: a peak exp() is most of the cost, and a term this small (half an ulp) cannot change the sum by more than rounding.
NEGLIGIBLE = 2.0**-53


@numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
def gauss_cut(lor, gau, k, hw2):  # pragma: no cover - compiled
    """d² beyond which gau·exp(−k d²) < NEGLIGIBLE × lor/(d² + hw²) (both > 0): the Gaussian term is skipped
    there (−1: everywhere; inf: nowhere)."""
    if gau == 0.0:
        return -1.0  # no Gaussian term at all
    if not (lor > 0.0 and gau > 0.0):
        return np.inf  # no Lorentzian term, or η outside [0, 1]: the Gaussian term everywhere
    # f(u) = ln(gau) − k(u − hw²) + ln(u) − ln(ε·lor), u = d² + hw², is concave with its maximum at u = 1/k;
    # every Newton iterate after the first lies at or beyond its root, so any of them is a safe cut.
    c = np.log(gau) + k * hw2 - np.log(NEGLIGIBLE * lor)
    u = 1.0 / k
    if c - k * u + np.log(u) <= 0.0:
        return -1.0  # the Gaussian term is negligible everywhere
    u = 2.0 / k
    for _ in range(8):
        u = u - (c - k * u + np.log(u)) / (1.0 / u - k)
    return u - hw2


@numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
def add_peak(k, x, cstart, ncomp, centre, cweight, fwhm, eta, weight, i0, i1, start, data):  # pragma: no cover
    """Add peak k (all its FCJ components) to its window of ``data``."""
    a, b = i0[k], i1[k]
    hw = fwhm[k] / 2.0
    e = eta[k]
    s = hw / _SQ2LN2
    hw2 = hw * hw
    half_inv_s2 = 0.5 / (s * s)
    base = start[k] - a
    # The cut depends on the ratio of the two terms only, the same for every component of the peak.
    cut = gauss_cut(e * _INV_PI * hw, (1.0 - e) / (s * _SQ2PI), half_inv_s2, hw2)
    for c in range(cstart[k], cstart[k] + ncomp[k]):
        wc = cweight[c] * weight[k]
        # pseudo_voigt's η·(hw/π)/(dx² + hw²) + (1 − η)·exp(−dx²/2s²)/(s√(2π)), its constants folded.
        lor = wc * e * _INV_PI * hw
        gau = wc * (1.0 - e) / (s * _SQ2PI)
        cen = centre[c]
        if lor != 0.0:
            for j in range(a, b):
                dx = x[j] - cen
                data[base + j] += lor / (dx * dx + hw2)
        if cut < 0.0:
            continue
        ga, gb = a, b
        if cut < np.inf:  # the Gaussian term only where it is not negligible: one run of points
            r = np.sqrt(cut)
            ga = a + np.searchsorted(x[a:b], cen - r)
            gb = a + np.searchsorted(x[a:b], cen + r, side="right")
        for j in range(ga, gb):
            dx = x[j] - cen
            data[base + j] += gau * np.exp(-(dx * dx * half_inv_s2))


@numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
def fill_rows(x, row_ptr, peaks, cstart, ncomp, centre, cweight, fwhm, eta, weight, i0, i1, start,
              data):  # pragma: no cover - compiled
    """Every row's peaks, row after row (one thread)."""
    for r in range(row_ptr.shape[0] - 1):
        for q in range(row_ptr[r], row_ptr[r + 1]):
            add_peak(peaks[q], x, cstart, ncomp, centre, cweight, fwhm, eta, weight, i0, i1, start, data)


@numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy", parallel=True)
def fill_rows_parallel(x, row_ptr, peaks, cstart, ncomp, centre, cweight, fwhm, eta, weight, i0, i1, start,
                       data):  # pragma: no cover - compiled
    """As :func:`fill_rows`, blocks of rows on numba's threads: rows own disjoint parts of ``data`` (no races), and
    each row's peaks are still added in order (the same bits as one thread)."""
    for r in numba.prange(row_ptr.shape[0] - 1):
        for q in range(row_ptr[r], row_ptr[r + 1]):
            add_peak(peaks[q], x, cstart, ncomp, centre, cweight, fwhm, eta, weight, i0, i1, start, data)


@numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
def fill_derivatives(x, cstart, ncomp, centre, cweight, dcen, dwt, fwhm, eta, chain, i0, i1, offs,
                     out):  # pragma: no cover - compiled
    """Unit-area profiles of every peak over its own window and their derivatives, for the analytic Jacobian.

    Peak k covers ``out[:, offs[k]:offs[k] + i1[k] - i0[k]]``; ``out`` rows: 0 the profile, 1 ∂/∂2θ (position, the
    FCJ kernel following it, and the widths through ``chain``), 2 ∂/∂σ², 3 ∂/∂γ, 4 ∂/∂SH/L. Component c has centre
    ``centre[c]``, weight ``cweight[c]`` and their derivatives ``dcen[0|1, c]``, ``dwt[0|1, c]`` w.r.t. 2θ and SH/L.
    ``chain[k]`` = (∂FWHM/∂σ², ∂FWHM/∂γ, ∂η/∂σ², ∂η/∂γ, ∂σ²/∂2θ, ∂γ/∂2θ) of peak k.
    """
    for k in range(i0.shape[0]):
        a, b = i0[k], i1[k]
        hw = fwhm[k] / 2.0
        e = eta[k]
        s = hw / _SQ2LN2
        hw2 = hw * hw
        inv_s2 = 1.0 / (s * s)
        gnorm = 1.0 / (s * _SQ2PI)
        base = offs[k] - a
        # beyond this d² the Gaussian term and its derivatives (× (d/s)² at most) are below rounding of the sum
        cut = gauss_cut(e * _INV_PI * hw, (1.0 - e) * gnorm, 0.5 * inv_s2, hw2)
        for c in range(cstart[k], cstart[k] + ncomp[k]):
            wc = cweight[c]
            cen = centre[c]
            dc_t, dc_h, dw_t, dw_h = dcen[0, c], dcen[1, c], dwt[0, c], dwt[1, c]
            for j in range(a, b):
                dx = x[j] - cen
                dx2 = dx * dx
                den = dx2 + hw2
                lor = _INV_PI * hw / den
                gau = gnorm * np.exp(-0.5 * dx2 * inv_s2) if cut >= dx2 else 0.0
                pv = e * lor + (1.0 - e) * gau
                # ∂pv/∂dx and ∂pv/∂FWHM (hw = FWHM/2, s = hw/√(2 ln 2))
                pdx = -e * 2.0 * dx * lor / den - (1.0 - e) * gau * dx * inv_s2
                pfw = 0.5 * (e * _INV_PI * (dx2 - hw2) / (den * den) + (1.0 - e) * gau * (dx2 * inv_s2 - 1.0) / s *
                             (1.0 / _SQ2LN2))
                i = base + j
                out[0, i] += wc * pv
                out[1, i] += dw_t * pv - wc * pdx * dc_t
                out[2, i] += wc * pfw  # ∂/∂FWHM for now
                out[3, i] += wc * (lor - gau)  # ∂/∂η for now
                out[4, i] += dw_h * pv - wc * pdx * dc_h
        f_s, f_g, e_s, e_g, s_t, g_t = chain[k, 0], chain[k, 1], chain[k, 2], chain[k, 3], chain[k, 4], chain[k, 5]
        for j in range(a, b):
            i = base + j
            dfw, deta = out[2, i], out[3, i]
            ds = dfw * f_s + deta * e_s
            dg = dfw * f_g + deta * e_g
            out[2, i] = ds
            out[3, i] = dg
            out[1, i] += ds * s_t + dg * g_t


@numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
def scatter_columns(out, row, i0, i1, offs, coef, cols, jac):  # pragma: no cover - compiled
    """jac[cols[q], x] += out[row, window point x of peak k] × coef[k, q] for every peak k (``jac`` is the
    transposed Jacobian, one contiguous row per parameter)."""
    nq = cols.shape[0]
    for k in range(i0.shape[0]):
        a, b = i0[k], i1[k]
        base = offs[k] - a
        for q in range(nq):
            cq = coef[k, q]
            if cq == 0.0:
                continue
            col = cols[q]
            for j in range(a, b):
                jac[col, j] += out[row, base + j] * cq


@numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
def fcj_derivatives(tth, sh_l, u, w, out):  # pragma: no cover - compiled
    """FCJ kernels of peaks at ``tth`` (deg) with the nodes ``u`` and weights ``w`` on [0, 1], and their derivatives:
    ``out[0..5, k, j]`` = offset, weight, ∂offset/∂2θ, ∂offset/∂SH/L, ∂weight/∂2θ, ∂weight/∂SH/L of node j of peak k
    (the compiled twin of :func:`refine.powder.peakshape.fcj_kernels_derivatives`)."""
    n = u.shape[0]
    rad = np.pi / 180.0
    root = np.sqrt(sh_l * sh_l + 1.0)
    raw = np.empty(n)
    dlt = np.empty(n)
    dlh = np.empty(n)
    for k in range(tth.shape[0]):
        back = tth[k] > 90.0
        sgn = -1.0 if back else 1.0
        t2 = (180.0 - tth[k] if back else tth[k]) * rad
        dt2 = sgn * rad
        c = np.cos(t2)
        arg = c * root
        phi_min = np.arccos(min(max(arg, -1.0), 1.0))
        span = max(t2 - phi_min, 0.0)
        inside = abs(arg) < 1.0
        sq = np.sqrt(1.0 - arg * arg) if inside else 1.0
        live = inside and span > 0.0
        dspan_t = dt2 * (1.0 - root * np.sin(t2) / sq) if live else 0.0
        dspan_h = c * sh_l / (root * sq) if live else 0.0
        total = 0.0
        anygood = False
        for j in range(n):
            uu = u[j] * u[j]
            phi = t2 - span * uu
            cphi = np.cos(phi)
            sphi = np.sin(phi)
            d = np.sqrt(max(cphi * cphi / (c * c) - 1.0, 0.0))
            raw[j] = max(sh_l - d, 0.0) / max(d * abs(cphi), 1e-300) * (2.0 * span * u[j]) * w[j]
            total += raw[j]
            out[0, k, j] = (phi - t2) / rad * sgn
            good = sh_l - d > 0.0 and d > 0.0
            anygood = anygood or good
            dlt[j] = 0.0
            dlh[j] = 0.0
            if good:
                for case in range(2):
                    dt = dt2 if case == 0 else 0.0
                    dspan = dspan_t if case == 0 else dspan_h
                    dh = 0.0 if case == 0 else 1.0
                    dphi = dt - dspan * uu
                    dcphi = -sphi * dphi
                    dc = -np.sin(t2) * dt
                    dd = (cphi * dcphi / (c * c) - cphi * cphi * dc / (c * c * c)) / d
                    dl = (dh - dd) / (sh_l - d) - dd / d - dcphi / cphi + (dspan / span if span > 0.0 else 0.0)
                    if case == 0:
                        dlt[j] = dl
                    else:
                        dlh[j] = dl
            out[2, k, j] = -dspan_t * uu / rad * sgn
            out[3, k, j] = -dspan_h * uu / rad * sgn
        ok = np.isfinite(total) and total > 0.0
        mt = 0.0
        mh = 0.0
        for j in range(n):
            out[1, k, j] = raw[j] / total if ok else 1.0 / n
            mt += out[1, k, j] * dlt[j]
            mh += out[1, k, j] * dlh[j]
        live_d = ok and anygood and span > 0.0
        for j in range(n):
            if not ok:
                out[0, k, j] = 0.0
            if live_d:
                out[4, k, j] = out[1, k, j] * (dlt[j] - mt)
                out[5, k, j] = out[1, k, j] * (dlh[j] - mh)
            else:
                out[2, k, j] = 0.0
                out[3, k, j] = 0.0
                out[4, k, j] = 0.0
                out[5, k, j] = 0.0


@numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
def accumulate_peaks(x, cstart, ncomp, centre, cweight, fwhm, eta, amp, i0, i1, y):  # pragma: no cover - compiled
    """y += Σ_k amp[k] × (peak k's profile over its window): the pattern Pᵀ I without forming the matrix P (the same
    pseudo-Voigt sums as :func:`add_peak`, with the same cut of negligible Gaussian terms)."""
    for k in range(i0.shape[0]):
        if amp[k] == 0.0:
            continue
        a, b = i0[k], i1[k]
        hw = fwhm[k] / 2.0
        e = eta[k]
        s = hw / _SQ2LN2
        hw2 = hw * hw
        half_inv_s2 = 0.5 / (s * s)
        cut = gauss_cut(e * _INV_PI * hw, (1.0 - e) / (s * _SQ2PI), half_inv_s2, hw2)
        for c in range(cstart[k], cstart[k] + ncomp[k]):
            wc = cweight[c] * amp[k]
            lor = wc * e * _INV_PI * hw
            gau = wc * (1.0 - e) / (s * _SQ2PI)
            cen = centre[c]
            for j in range(a, b):
                dx = x[j] - cen
                dx2 = dx * dx
                v = lor / (dx2 + hw2) if lor != 0.0 else 0.0
                if cut >= dx2:
                    v += gau * np.exp(-(dx2 * half_inv_s2))
                y[j] += v


@numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
def partition_passes(t_ptr, t_idx, t_val, c_ptr, c_idx, c_val, captured, basis, solve, sw, swy, fit_rows, y,
                     mstep, intensities, passes, settled):  # pragma: no cover - compiled
    """Le Bail partition passes (the loop of :meth:`refine.powder.lebail._LeBailState.partition`, same operations
    in the same order as its numpy form, :func:`refine.powder.lebail.partition_passes_numpy`): profiles ``t``
    (CSR, points × reflections), cores ``c`` (CSR, reflections × points), the background solved on ``fit_rows``
    by the operator ``solve``; returns the new intensities."""
    n, nr, nb, nf = y.shape[0], intensities.shape[0], basis.shape[1], fit_rows.shape[0]
    cur = intensities.copy()
    peaks, ratio, new, coef = np.empty(n), np.empty(n), np.empty(nr), np.empty(nb)
    for _ in range(passes):
        pmax = -np.inf
        for i in range(n):
            s = 0.0
            for k in range(t_ptr[i], t_ptr[i + 1]):
                s += t_val[k] * cur[t_idx[k]]
            peaks[i] = s
            pmax = max(pmax, s)
        for b in range(nb):
            s = 0.0
            for f in range(nf):
                s += solve[b, f] * (swy[f] - sw[f] * peaks[fit_rows[f]])
            coef[b] = s
        threshold = 1e-12 * max(pmax, 1e-300)
        for i in range(n):
            bkg = 0.0
            for b in range(nb):
                bkg += basis[i, b] * coef[b]
            ratio[i] = (y[i] - bkg) * mstep[i] / peaks[i] if peaks[i] > threshold else 0.0
        total = 0.0
        for j in range(nr):
            s = 0.0
            for k in range(c_ptr[j], c_ptr[j + 1]):
                s += c_val[k] * ratio[c_idx[k]]
            new[j] = cur[j] * (s / captured[j]) if captured[j] > 1e-6 else 0.0
            total += abs(new[j])
        floor = 1e-6 * max(total / nr, 1e-300)
        change, size = 0.0, 0.0
        for j in range(nr):
            v = new[j] if not new[j] < floor else floor  # np.maximum: NaN stays NaN
            change = max(change, abs(v - cur[j]))
            size = max(size, abs(v))
            cur[j] = v
        if change <= settled * size:
            break
    return cur
