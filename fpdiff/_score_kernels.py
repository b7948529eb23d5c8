r"""Numba kernels of the score providers.

The Gaussian-mixture score :math:`\nabla\log\sum_k c_k e^{-\frac12 (x-\mu_k)^T P_k (x-\mu_k)}
= -\sum_k r_k P_k (x - \mu_k)` with responsibilities :math:`r = \operatorname{softmax}(\ell)`,
and the empirical (kernel) denoiser of training points :math:`x_i`:

.. math::  \hat x_0(x, t) = \sum_i \lambda_i x_i, \qquad
           \lambda = \operatorname{softmax}_i\left(-\frac{|x - \alpha_t x_i|^2}{2 v_t}\right),

computed in one pass over the points with an online (running-maximum)
log-sum-exp, so it stays exact when :math:`v_t` is tiny and every weight
but one underflows; and the multilinear interpolation of a tabulated field
on a tensor grid with strictly increasing (not necessarily uniform) axes.
"""

import math

import numpy as np
from numba import prange

from ._jit import jit


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


@jit(parallel=True)
def empirical_denoiser(x, points, alpha, variance, out, parallel):
    """Write the kernel denoiser :math:`\\hat x_0` of ``points`` (n, d) at ``x`` (M, d) into ``out``."""
    if parallel:
        for m in prange(x.shape[0]):
            _denoise_point(x, points, alpha, variance, out, m)
    else:
        for m in range(x.shape[0]):
            _denoise_point(x, points, alpha, variance, out, m)


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


@jit(parallel=True)
def mixture_score(x, log_coefficients, means, precisions, out, parallel):
    """Write the score of a Gaussian mixture at ``x`` (M, d) into ``out``.

    ``log_coefficients[k] = log w_k - log det(2 pi C_k) / 2``, ``precisions[k] = C_k^{-1}``.
    """
    if parallel:
        for m in prange(x.shape[0]):
            _mixture_score_rows(x, m, m + 1, log_coefficients, means, precisions, out)
    else:
        for m in range(x.shape[0]):
            _mixture_score_rows(x, m, m + 1, log_coefficients, means, precisions, out)


def empirical_denoiser_reference(x, points, alpha, variance):
    """Numpy reference of :func:`empirical_denoiser` (the specification)."""
    from scipy.special import softmax

    logits = -0.5 * ((x[:, None, :] - alpha * points[None, :, :]) ** 2).sum(-1) / variance
    return softmax(logits, axis=1) @ points


#: work (points x data points) above which the denoiser runs on all threads
PARALLEL_WORK = 200_000


def gaussian_mixture_score(x, mixture):
    """Score of a :class:`GaussianMixture` at ``x`` (M, d) with the numba kernel."""
    log_coefficients = np.log(mixture.weights) - 0.5 * np.linalg.slogdet(2 * np.pi * mixture.covariances)[1]
    out = np.empty_like(x)
    parallel = x.shape[0] * mixture.n_components >= PARALLEL_WORK
    mixture_score(np.ascontiguousarray(x), log_coefficients, np.ascontiguousarray(mixture.means),
                  np.ascontiguousarray(mixture.precisions), out, parallel)
    return out


def denoise(x, points, alpha, variance):
    """Kernel denoiser at ``x`` (M, d), choosing threads by the amount of work."""
    out = np.empty_like(x)
    empirical_denoiser(x, points, float(alpha), float(variance), out, x.shape[0] * points.shape[0] >= PARALLEL_WORK)
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


@jit(parallel=True)
def table_interpolate(x, axes, layout, values, out, parallel):
    """Write the multilinear interpolant of a tabulated field at ``x`` (M, d) into ``out`` (see :func:`_table_rows`)."""
    count = x.shape[0]
    if parallel:
        for b in prange((count + TABLE_BLOCK - 1) // TABLE_BLOCK):
            _table_rows(x, b * TABLE_BLOCK, min(count, (b + 1) * TABLE_BLOCK), axes, layout, values, out)
    else:
        _table_rows(x, 0, count, axes, layout, values, out)
