"""Tiny numpy references of the finite-volume kernels (the specification).

Slow and dense on purpose: tests check the numba kernels against them.
"""

import numpy as np


def bernoulli(z):
    """B(z) = z / (e^z - 1) elementwise, B(0) = 1."""
    z = np.asarray(z, dtype=np.float64)
    small = np.abs(z) < 1e-10
    safe = np.where(small, 1.0, z)
    with np.errstate(over="ignore"):
        return np.where(small, 1.0 - 0.5 * z, safe / np.expm1(safe))


def flux_weights(drift, diffusion, h, absorbing=(False, False)):
    """Flux weights ``(wl, wr)`` of one line from its face drifts (N+1,)."""
    drift = np.asarray(drift, dtype=np.float64)
    distance = np.full(drift.shape, h)
    distance[[0, -1]] = 0.5 * h
    if diffusion > 0:
        peclet = drift * distance / diffusion
        wl = diffusion / (distance * h) * bernoulli(-peclet)
        wr = diffusion / (distance * h) * bernoulli(peclet)
    else:
        wl, wr = np.maximum(drift, 0) / h, np.maximum(-drift, 0) / h
    for face, is_absorbing in zip((0, -1), absorbing):
        if not is_absorbing:
            wl[face] = wr[face] = 0.0
    return wl, wr


def operator_matrix(wl, wr):
    """Dense matrix of L for one line: (L p)_n = wl_n p_{n-1} - (wr_n + wl_{n+1}) p_n + wr_{n+1} p_{n+1}."""
    matrix = np.diag(-(wr[:-1] + wl[1:]))
    matrix += np.diag(wl[1:-1], -1) + np.diag(wr[1:-1], 1)
    return matrix
