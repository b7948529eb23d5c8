r"""Numba kernels of the score providers.

The Gaussian-mixture score :math:`\nabla\log\sum_k c_k e^{-\frac12 (x-\mu_k)^T P_k (x-\mu_k)}
= -\sum_k r_k P_k (x - \mu_k)` with responsibilities :math:`r = \operatorname{softmax}(\ell)`,
and the empirical (kernel) denoiser of training points :math:`x_i`:

.. math::  \hat x_0(x, t) = \sum_i \lambda_i x_i, \qquad
           \lambda = \operatorname{softmax}_i\left(-\frac{|x - \alpha_t x_i|^2}{2 v_t}\right),

both with a log-sum-exp shifted by the largest term, so they stay exact
when :math:`v_t` is tiny and every weight but one underflows; and the
multilinear interpolation of a tabulated field on a tensor grid with strictly
increasing (not necessarily uniform) axes.

Two forms of each score: the row functions (``_mixture_score_rows``,
``_denoise_point``: one point at a time, an online running-maximum
log-sum-exp) and the block functions (``_mixture_score_block``,
``_denoise_block``), which copy a block of rows into a transposed scratch
(dimension x rows) and run every loop across the rows of the block, in two
passes (the largest log-weight of each row, then the weights), with the
branch-free :func:`fpdiff._vmath.vexp`: LLVM turns those loops into SIMD
instructions, several points per instruction. The public kernels
(:func:`mixture_score`, :func:`empirical_denoiser`) and the particle kernels
use the block form.
"""

import math

import numpy as np
from numba import int64, prange

from .._jit import jit, jit_variants
from .._parallel import use_parallel
from .._vmath import vexp

#: the kinds of score the compiled paths evaluate (:class:`fpdiff.scores.base.CompiledScore`)
MIXTURE, EMPIRICAL, TABULATED = 0, 1, 2

#: rows of one block of the block kernels (their scratch, (3 d + 3) x BLOCK numbers, stays in the L1 cache)
BLOCK = 512


@jit
def _denoise_point(x, points, alpha, variance, out, m):
    n_points, dim = points.shape
    largest = -math.inf
    total = 0.0
    for k in range(dim):
        out[m, k] = 0.0
    for i in range(n_points):
        distance = 0.0
        for k in range(dim):
            diff = x[m, k] - alpha * points[i, k]
            distance += diff * diff
        log_weight = -0.5 * distance / variance
        if log_weight > largest:  # rescale what was summed to the new maximum
            rescale = math.exp(largest - log_weight)
            total *= rescale
            for k in range(dim):
                out[m, k] *= rescale
            largest = log_weight
        weight = math.exp(log_weight - largest)
        total += weight
        for k in range(dim):
            out[m, k] += weight * points[i, k]
    for k in range(dim):
        out[m, k] /= total


@jit
def _transpose_block(y, lo, hi, work):
    """Rows ``lo..hi-1`` of ``y`` (M, d) into the first d rows of ``work`` (columns = points)."""
    dim = y.shape[1]
    rows = y.reshape(y.size)[lo * dim:hi * dim]  # a view indexed from 0: no negative-index wraparound
    if dim == 1:  # constant strides: SIMD loads (a runtime stride would need gathers, which LLVM avoids)
        for m in range(hi - lo):
            work[0, m] = rows[m]
    elif dim == 2:
        for m in range(hi - lo):
            work[0, m] = rows[2 * m]
            work[1, m] = rows[2 * m + 1]
    else:
        for k in range(dim):
            for m in range(hi - lo):
                work[k, m] = rows[m * dim + k]


@jit
def _untranspose_block(work, first, divisor, out, lo, hi):
    """``out[lo + m, k] = work[first + k, m] / work[divisor, m]``."""
    dim = out.shape[1]
    rows = out.reshape(out.size)[lo * dim:hi * dim]
    if dim == 1:
        for m in range(hi - lo):
            rows[m] = work[first, m] / work[divisor, m]
    elif dim == 2:
        for m in range(hi - lo):
            rows[2 * m] = work[first, m] / work[divisor, m]
            rows[2 * m + 1] = work[first + 1, m] / work[divisor, m]
    else:
        for k in range(dim):
            for m in range(hi - lo):
                rows[m * dim + k] = work[first + k, m] / work[divisor, m]


@jit
def _open_block(y, lo, hi, work, sums, largest, total):
    """Start a block's two passes: ``y`` rows into ``work``, the running log-sum-exp and the d sums reset."""
    dim = y.shape[1]
    count = hi - lo
    _transpose_block(y, lo, hi, work)
    for m in range(count):
        work[largest, m] = -math.inf
        work[total, m] = 0.0
    for k in range(dim):
        for m in range(count):
            work[sums + k, m] = 0.0


@jit
def _denoise_block(y, lo, hi, points, alpha, variance, out):
    """``out[m]`` = the kernel denoiser at ``y[m]`` for rows ``lo..hi-1``, across the rows (two passes)."""
    dim = points.shape[1]
    count = hi - lo
    work = np.empty((2 * dim + 3, count))  # rows: y^T (d), sums (d), largest, total, distance
    largest, total = 2 * dim, 2 * dim + 1
    _open_block(y, lo, hi, work, dim, largest, total)
    denoise_passes(work, count, points, alpha, variance)
    _untranspose_block(work, dim, total, out, lo, hi)


@jit
def denoise_passes(work, count, points, alpha, variance):
    """The two passes of :func:`_denoise_block` on an opened block, by the points' dimension."""
    if points.shape[1] == 2:
        _denoise_block_2d(work, count, points, alpha, variance)
    else:
        _denoise_block_general(work, points.shape[1], count, points, alpha, variance)


@jit(contract=True)
def _denoise_block_2d(work, count, points, alpha, variance):
    """The two passes of :func:`_denoise_block` for d = 2, one loop each per training point."""
    largest, total = 4, 5
    scale = -0.5 / variance  # a multiplication per pair, not a division: one rounding more, ~1e-16 |log-weight|
    for i in range(points.shape[0]):
        c0, c1 = alpha * points[i, 0], alpha * points[i, 1]
        for m in range(count):
            d0 = work[0, m] - c0
            d1 = work[1, m] - c1
            log_weight = scale * (d0 * d0 + d1 * d1)
            work[largest, m] = log_weight if log_weight > work[largest, m] else work[largest, m]
    for i in range(points.shape[0]):
        x0, x1 = points[i, 0], points[i, 1]
        c0, c1 = alpha * x0, alpha * x1
        for m in range(count):
            d0 = work[0, m] - c0
            d1 = work[1, m] - c1
            weight = vexp(scale * (d0 * d0 + d1 * d1) - work[largest, m])
            work[total, m] += weight
            work[2, m] += weight * x0
            work[3, m] += weight * x1


@jit(contract=True)
def _denoise_block_general(work, dim, count, points, alpha, variance):
    """The two passes of :func:`_denoise_block` for any d (the loop over k outside the loop over rows)."""
    largest, total, distance = 2 * dim, 2 * dim + 1, 2 * dim + 2
    scale = -0.5 / variance
    for sweep in range(2):  # 0: the largest log-weight of each row; 1: the weights and the sums
        for i in range(points.shape[0]):
            for m in range(count):
                work[distance, m] = 0.0
            for k in range(dim):
                centre = alpha * points[i, k]
                for m in range(count):
                    diff = work[k, m] - centre
                    work[distance, m] += diff * diff
            if sweep == 0:
                for m in range(count):
                    log_weight = scale * work[distance, m]
                    work[largest, m] = log_weight if log_weight > work[largest, m] else work[largest, m]
            else:
                for m in range(count):
                    weight = vexp(scale * work[distance, m] - work[largest, m])
                    work[total, m] += weight
                    work[distance, m] = weight
                for k in range(dim):
                    point = points[i, k]
                    for m in range(count):
                        work[dim + k, m] += work[distance, m] * point


@jit_variants
def empirical_denoiser(x, points, alpha, variance, out, parallel):
    """Write the kernel denoiser :math:`\\hat x_0` of ``points`` (n, d) at ``x`` (M, d) into ``out``."""
    count = x.shape[0]
    for b in prange((count + BLOCK - 1) // BLOCK):
        lo = int64(b) * BLOCK  # prange counts in uint64 when threaded: one compiled variant of the callee
        _denoise_block(x, lo, min(count, lo + BLOCK), points, alpha, variance, out)


@jit
def _mixture_score_rows(y, lo, hi, log_coefficients, means, precisions, out):
    """``out[m] = grad log sum_k exp(l_k(y[m]))`` for rows ``lo..hi-1``, one pass each, no allocation."""
    n_components, dim = means.shape
    for m in range(lo, hi):
        largest = -math.inf
        total = 0.0
        for i in range(dim):
            out[m, i] = 0.0
        for c in range(n_components):
            quadratic = 0.0
            for i in range(dim):
                row = 0.0
                for j in range(dim):
                    row += precisions[c, i, j] * (y[m, j] - means[c, j])
                quadratic += row * (y[m, i] - means[c, i])
            log_weight = log_coefficients[c] - 0.5 * quadratic
            if log_weight > largest:  # rescale what was summed to the new maximum: one exp per component
                if c > 0:
                    rescale = math.exp(largest - log_weight)
                    total *= rescale
                    for i in range(dim):
                        out[m, i] *= rescale
                largest = log_weight
                weight = 1.0
            else:
                weight = math.exp(log_weight - largest)
            total += weight
            for i in range(dim):
                row = 0.0
                for j in range(dim):
                    row += precisions[c, i, j] * (y[m, j] - means[c, j])
                out[m, i] -= weight * row
        for i in range(dim):
            out[m, i] /= total


@jit(contract=True)
def _mixture_quadratic(work, dim, count, means, precisions, c, diff, quadratic):
    """``work[diff + i] = x_i - mu_ci`` and ``work[quadratic] = (x - mu_c)^T P_c (x - mu_c)``, across a block."""
    for i in range(dim):
        centre = means[c, i]
        for m in range(count):
            work[diff + i, m] = work[i, m] - centre
    for m in range(count):
        work[quadratic, m] = 0.0
    for i in range(dim):
        for j in range(dim):
            p = precisions[c, i, j]
            for m in range(count):
                work[quadratic, m] += p * work[diff + i, m] * work[diff + j, m]


@jit
def _mixture_score_block(y, lo, hi, log_coefficients, means, precisions, out):
    """What :func:`_mixture_score_rows` computes, across the rows of the block (two passes, no branches)."""
    dim = means.shape[1]
    count = hi - lo
    work = np.empty((3 * dim + 3, count))  # rows: y^T (d), y - mu_c (d), sums (d), largest, total, quadratic
    sums, largest, total = 2 * dim, 3 * dim, 3 * dim + 1
    _open_block(y, lo, hi, work, sums, largest, total)
    mixture_passes(work, count, log_coefficients, means, precisions)
    _untranspose_block(work, sums, total, out, lo, hi)


@jit
def mixture_passes(work, count, log_coefficients, means, precisions):
    """The two passes of :func:`_mixture_score_block` on an opened block, by the mixture's dimension."""
    dim = means.shape[1]
    if dim == 1:
        _mixture_block_1d(work, count, log_coefficients, means, precisions)
    elif dim == 2:
        _mixture_block_2d(work, count, log_coefficients, means, precisions)
    else:
        _mixture_block_general(work, dim, count, log_coefficients, means, precisions)


@jit(contract=True)
def _mixture_block_1d(work, count, log_coefficients, means, precisions):
    """The two passes of :func:`_mixture_score_block` for d = 1, one loop each per component."""
    largest, total, sums = 3, 4, 2
    for c in range(len(log_coefficients)):
        constant, centre, half = log_coefficients[c], means[c, 0], 0.5 * precisions[c, 0, 0]
        for m in range(count):
            diff = work[0, m] - centre
            log_weight = constant - half * diff * diff
            work[largest, m] = log_weight if log_weight > work[largest, m] else work[largest, m]
    for c in range(len(log_coefficients)):
        constant, centre, precision = log_coefficients[c], means[c, 0], precisions[c, 0, 0]
        half = 0.5 * precision
        for m in range(count):
            diff = work[0, m] - centre
            weight = vexp(constant - half * diff * diff - work[largest, m])
            work[total, m] += weight
            work[sums, m] -= weight * precision * diff


@jit(contract=True)
def _mixture_block_2d(work, count, log_coefficients, means, precisions):
    """The two passes of :func:`_mixture_score_block` for d = 2, one loop each per component."""
    largest, total = 6, 7
    for c in range(len(log_coefficients)):
        constant, mu0, mu1 = log_coefficients[c], means[c, 0], means[c, 1]
        p00, p01, p11 = precisions[c, 0, 0], precisions[c, 0, 1] + precisions[c, 1, 0], precisions[c, 1, 1]
        for m in range(count):
            d0 = work[0, m] - mu0
            d1 = work[1, m] - mu1
            log_weight = constant - 0.5 * (p00 * d0 * d0 + p01 * d0 * d1 + p11 * d1 * d1)
            work[largest, m] = log_weight if log_weight > work[largest, m] else work[largest, m]
    for c in range(len(log_coefficients)):
        constant, mu0, mu1 = log_coefficients[c], means[c, 0], means[c, 1]
        p00, p01, p11 = precisions[c, 0, 0], precisions[c, 0, 1] + precisions[c, 1, 0], precisions[c, 1, 1]
        q00, q01, q10, q11 = precisions[c, 0, 0], precisions[c, 0, 1], precisions[c, 1, 0], precisions[c, 1, 1]
        for m in range(count):
            d0 = work[0, m] - mu0
            d1 = work[1, m] - mu1
            weight = vexp(constant - 0.5 * (p00 * d0 * d0 + p01 * d0 * d1 + p11 * d1 * d1) - work[largest, m])
            work[total, m] += weight
            work[4, m] -= weight * (q00 * d0 + q01 * d1)
            work[5, m] -= weight * (q10 * d0 + q11 * d1)


@jit(contract=True)
def _mixture_block_general(work, dim, count, log_coefficients, means, precisions):
    """The two passes of :func:`_mixture_score_block` for any d (loops over i, j outside the loop over rows)."""
    n_components = len(log_coefficients)
    diff, sums, largest, total, quadratic = dim, 2 * dim, 3 * dim, 3 * dim + 1, 3 * dim + 2
    for c in range(n_components):  # the largest log-weight of each row
        _mixture_quadratic(work, dim, count, means, precisions, c, diff, quadratic)
        constant = log_coefficients[c]
        for m in range(count):
            log_weight = constant - 0.5 * work[quadratic, m]
            work[largest, m] = log_weight if log_weight > work[largest, m] else work[largest, m]
    for c in range(n_components):  # weights r_k (unnormalised) and sums of -r_k P_k (x - mu_k)
        _mixture_quadratic(work, dim, count, means, precisions, c, diff, quadratic)
        constant = log_coefficients[c]
        for m in range(count):
            weight = vexp(constant - 0.5 * work[quadratic, m] - work[largest, m])
            work[total, m] += weight
            work[quadratic, m] = weight
        for i in range(dim):
            for j in range(dim):
                p = precisions[c, i, j]
                for m in range(count):
                    work[sums + i, m] -= work[quadratic, m] * p * work[diff + j, m]


@jit_variants
def mixture_score(x, log_coefficients, means, precisions, out, parallel):
    """Write the score of a Gaussian mixture at ``x`` (M, d) into ``out``.

    ``log_coefficients[k] = log w_k - log det(2 pi C_k) / 2``, ``precisions[k] = C_k^{-1}``.
    """
    count = x.shape[0]
    for b in prange((count + BLOCK - 1) // BLOCK):
        lo = int64(b) * BLOCK  # prange counts in uint64 when threaded: one compiled variant of the callee
        _mixture_score_block(x, lo, min(count, lo + BLOCK), log_coefficients, means, precisions, out)


def empirical_denoiser_reference(x, points, alpha, variance):
    """Numpy reference of :func:`empirical_denoiser` (the specification)."""
    from scipy.special import softmax

    logits = -0.5 * ((x[:, None, :] - alpha * points[None, :, :]) ** 2).sum(-1) / variance
    return softmax(logits, axis=1) @ points


def gaussian_mixture_score(x, mixture):
    """Score of a :class:`GaussianMixture` at ``x`` (M, d) with the numba kernel."""
    log_coefficients = np.log(mixture.weights) - 0.5 * np.linalg.slogdet(2 * np.pi * mixture.covariances)[1]
    out = np.empty_like(x)
    parallel = use_parallel(x.shape[0] * mixture.n_components)
    mixture_score(np.ascontiguousarray(x), log_coefficients, np.ascontiguousarray(mixture.means),
                  np.ascontiguousarray(mixture.precisions), out, parallel)
    return out


def denoise(x, points, alpha, variance):
    """Kernel denoiser at ``x`` (M, d), choosing threads by the amount of work."""
    out = np.empty_like(x)
    empirical_denoiser(x, points, float(alpha), float(variance), out, use_parallel(x.shape[0] * points.shape[0]))
    return out


@jit
def _table_rows(y, lo, hi, axes, layout, values, out):
    """Multilinear interpolation of node ``values`` (prod n_i, d) at rows ``lo..hi-1`` of ``y`` into ``out``.

    ``axes`` holds the node coordinates of axis 0, then axis 1, ...;
    ``layout`` is ``(clamp, n_0, ..., n_{d-1})``: with ``clamp`` a point
    outside the box is moved onto it (constant extension), without it the
    row is NaN (the caller turns that into an error naming the box).
    """
    dim = y.shape[1]
    clamp = layout[0] != 0
    lower = np.empty(dim, np.int64)  # once per call (a block of rows), not per row
    fraction = np.empty(dim)
    for m in range(lo, hi):
        inside = True
        offset = 0
        for i in range(dim):
            n = layout[1 + i]
            x = y[m, i]
            first, last = axes[offset], axes[offset + n - 1]
            if not (first <= x <= last):  # also true for NaN
                if not clamp or x != x:
                    inside = False
                    break
                x = min(max(x, first), last)
            a, b = 0, n - 1  # bisection keeps axes[a] <= x with a < b
            while b - a > 1:
                middle = (a + b) // 2
                if axes[offset + middle] <= x:
                    a = middle
                else:
                    b = middle
            lower[i] = a
            fraction[i] = (x - axes[offset + a]) / (axes[offset + a + 1] - axes[offset + a])
            offset += n
        for k in range(dim):
            out[m, k] = 0.0 if inside else math.nan
        if not inside:
            continue
        for corner in range(1 << dim):
            flat = 0
            weight = 1.0
            for i in range(dim):
                bit = (corner >> i) & 1
                flat = flat * layout[1 + i] + lower[i] + bit
                weight *= fraction[i] if bit else 1.0 - fraction[i]
            if weight != 0.0:
                for k in range(dim):
                    out[m, k] += weight * values[flat, k]


#: rows per call of :func:`_table_rows` in parallel runs
TABLE_BLOCK = 256


@jit_variants
def table_interpolate(x, axes, layout, values, out, parallel):
    """Write the multilinear interpolant of a tabulated field at ``x`` (M, d) into ``out`` (see :func:`_table_rows`)."""
    count = x.shape[0]
    block = TABLE_BLOCK if parallel else max(count, 1)  # serially all rows in one call
    for b in prange((count + block - 1) // block):
        lo = int64(b) * block  # prange counts in uint64 when threaded: one compiled variant of the callee
        _table_rows(x, lo, min(count, lo + block), axes, layout, values, out)
