r"""Numba kernels of the limited second-order transport flux (for ``gamma = 0``).

With no diffusion the Scharfetter–Gummel flux is first-order upwind, whose
numerical diffusion :math:`|a| h / 2` would masquerade as ``gamma > 0``.
Here the face value is reconstructed from each side with van Leer-limited
slopes (MUSCL; van Leer 1979), the upwind side is taken, and a central
diffusive flux is added for ``D != 0``:

.. math::  F_f = a_f^+ \left(p_{f-1} + \tfrac12 \sigma_{f-1}\right)
               + a_f^- \left(p_f - \tfrac12 \sigma_f\right) - D \frac{p_f - p_{f-1}}{h},
           \qquad \sigma_n = \frac{2 \Delta_- \Delta_+}{\Delta_- + \Delta_+}\ \text{if}\ \Delta_-\Delta_+ > 0,
           \ \text{else}\ 0.

Reconstructed values lie between neighbouring cell values, so a forward
Euler step keeps densities non-negative under the CFL bound of
:func:`add_transport_rate`. Slopes are zero in the first and last cell.
Arrays are stacks of lines ``(O, N, I)`` as in :mod:`fpdiff.fv._kernels`.
"""

from numba import prange

from .._jit import jit


@jit
def _limited_slope(p, o, n, i):
    if n == 0 or n == p.shape[1] - 1:
        return 0.0
    back = p[o, n, i] - p[o, n - 1, i]
    ahead = p[o, n + 1, i] - p[o, n, i]
    if back * ahead <= 0.0:
        return 0.0
    return 2.0 * back * ahead / (back + ahead)


@jit
def _face_flux(p, drift, diffusion, h, absorbing_lo, absorbing_hi, o, f, i):
    n_cells = p.shape[1]
    a = drift[o, f, i]
    if f == 0:  # zero density beyond an absorbing face, nothing through a no-flux one
        return (min(a, 0.0) * p[o, 0, i] - diffusion * p[o, 0, i] / (0.5 * h)) if absorbing_lo else 0.0
    if f == n_cells:
        return (max(a, 0.0) * p[o, f - 1, i] + diffusion * p[o, f - 1, i] / (0.5 * h)) if absorbing_hi else 0.0
    left = p[o, f - 1, i] + 0.5 * _limited_slope(p, o, f - 1, i)
    right = p[o, f, i] - 0.5 * _limited_slope(p, o, f, i)
    return max(a, 0.0) * left + min(a, 0.0) * right - diffusion * (p[o, f, i] - p[o, f - 1, i]) / h


@jit
def _add_transport_row(p, drift, diffusion, h, absorbing_lo, absorbing_hi, c, out, o, n):
    for i in range(p.shape[2]):
        inflow = _face_flux(p, drift, diffusion, h, absorbing_lo, absorbing_hi, o, n, i)
        outflow = _face_flux(p, drift, diffusion, h, absorbing_lo, absorbing_hi, o, n + 1, i)
        out[o, n, i] += c * (inflow - outflow) / h


@jit(parallel=True)
def add_transport(p, drift, diffusion, h, absorbing_lo, absorbing_hi, c, out, parallel):
    """``out += c T(p)`` with :math:`T(p)_n = (F_n - F_{n+1})/h` on every line (nonlinear in ``p``)."""
    n_outer, n_cells = p.shape[0], p.shape[1]
    if parallel:
        for unit in prange(n_outer * n_cells):
            _add_transport_row(p, drift, diffusion, h, absorbing_lo, absorbing_hi, c, out,
                               unit // n_cells, unit % n_cells)
    else:
        for unit in range(n_outer * n_cells):
            _add_transport_row(p, drift, diffusion, h, absorbing_lo, absorbing_hi, c, out,
                               unit // n_cells, unit % n_cells)


@jit
def add_transport_rate(drift, diffusion, h, rate):
    """``rate += 2 (a_{n+1}^+ + a_n^-)/h + 2|D|/h^2``: forward Euler is positive for ``dt * rate <= 1``."""
    n_outer, n_cells, n_inner = rate.shape
    for o in range(n_outer):
        for n in range(n_cells):
            for i in range(n_inner):
                leaving = max(drift[o, n + 1, i], 0.0) + max(-drift[o, n, i], 0.0)
                rate[o, n, i] += 2.0 * leaving / h + 2.0 * abs(diffusion) / (h * h)
