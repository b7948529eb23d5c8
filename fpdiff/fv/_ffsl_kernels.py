r"""Numba kernels of the flux-form semi-Lagrangian (FFSL) transport step along grid lines.

One step of :math:`\partial_\tau p + \partial_x(a p) = 0` over :math:`[\tau, \tau + \Delta]`
along a line of ``N`` cells of width ``h`` moves the mass between the
departure points of two neighbouring faces onto the cell between them
(Lin & Rood 1996; Leonard, Lock & MacVean 1996):

.. math::  p_n^{new} = \frac1h \int_{X_n}^{X_{n+1}} \tilde p(x)\, dx,

where :math:`X_f` is where the characteristic through face :math:`f` at
:math:`\tau + \Delta` was at :math:`\tau`, and :math:`\tilde p` a
reconstruction of the cell averages. Equivalently the flux through face
:math:`f` over the step is the mass between :math:`X_f` and the face, whole
cells included, so Courant numbers above 1 cost nothing extra. Coordinates
are in cell units :math:`\xi = (x - x_{lo})/h`, faces at integers.

*Reconstruction.* The piecewise-parabolic method (PPM; Colella & Woodward
1984) with fourth-order face values
:math:`p_{f} = \tfrac{7}{12}(p_{f-1} + p_f) - \tfrac{1}{12}(p_{f-2} + p_{f+1})`
(second order next to the boundary), not limited for monotonicity (a
monotone limiter clips the peaks of the density to first order, which
dominated the error); each parabola is instead scaled towards its cell mean
until it is non-negative on the cell (Zhang & Shu 2010), which keeps the
mean and the accuracy where the density is smooth and positive.

*Departure points.* Kutta's third-order Runge–Kutta method, backwards along
the drift at the step's start, middle and end, each interpolated between
faces by cubic Lagrange polynomials (linear in the first and last cell):

.. math::  k_1 = u_1(f), \quad k_2 = u_{1/2}(f - \tfrac\Delta2 k_1), \quad
           k_3 = u_0(f + \Delta k_1 - 2\Delta k_2), \quad
           X_f = f - \tfrac\Delta6 (k_1 + 4 k_2 + k_3), \qquad u = a/h.

*Boundaries.* A no-flux boundary face departs from itself (nothing crosses
it); an absorbing one is traced like the others, and a departure point
outside the box carries zero density (points are clamped to ``[0, N]``). The
intervals :math:`[X_n, X_{n+1}]` then tile ``[0, N]`` (no-flux), so mass is
conserved to round-off, and each holds a non-negative mass whenever the
departure points are ordered (:func:`velocity_lipschitz` gives the step
condition): the update is a remap of non-negative parabolas, and densities
stay non-negative exactly. Arrays are stacks of lines ``(O, N, I)`` as in
:mod:`fpdiff.fv._kernels`.
"""

import numpy as np
from numba import prange

from .._jit import jit

#: lines of one parallel block of :func:`remap` (each block allocates its scratch arrays once)
LINES_PER_BLOCK = 8

#: the cubic interpolant's slope is at most this multiple of the largest face-to-face slope
CUBIC_SLOPE_BOUND = 4.0 / 3.0


@jit
def _interpolate(a, o, i, xi, n_cells):
    """Face values ``a[o, :, i]`` interpolated at ``xi`` in ``[0, N]``: cubic inside, linear in the end cells."""
    j = min(int(xi), n_cells - 1)
    w = xi - j
    if j == 0 or j == n_cells - 1:
        return a[o, j, i] + w * (a[o, j + 1, i] - a[o, j, i])
    # Lagrange weights of the faces j - 1, j, j + 1, j + 2 at j + w
    return (w * (w - 1.0) * ((2.0 - w) * a[o, j - 1, i] + (w + 1.0) * a[o, j + 2, i]) / 6.0
            + (w + 1.0) * (2.0 - w) * ((1.0 - w) * a[o, j, i] + w * a[o, j + 1, i]) / 2.0)


@jit
def _clamp(xi, n_cells):
    return min(max(xi, 0.0), float(n_cells))


@jit
def _departures(a0, am, a1, scale, o, i, n_cells, first, last, k1, k2, departure):
    """Kutta's RK3 back-traces of faces ``first .. last - 1`` (cell units, clamped to the box) into ``departure``.

    One pass per stage over all faces, so that the traces of neighbouring
    faces overlap in the processor instead of waiting on each other's stages.
    """
    for f in range(first, last):
        k1[f] = a1[o, f, i] * scale
    for f in range(first, last):
        k2[f] = _interpolate(am, o, i, _clamp(f - 0.5 * k1[f], n_cells), n_cells) * scale
    for f in range(first, last):
        k3 = _interpolate(a0, o, i, _clamp(f + k1[f] - 2.0 * k2[f], n_cells), n_cells) * scale
        departure[f] = _clamp(f - (k1[f] + 4.0 * k2[f] + k3) / 6.0, n_cells)


@jit
def _reconstruct(values, left, jump, curvature):
    r"""PPM parabolas :math:`q(s) = q_L + s(\delta + c(1 - s))` on each cell, ``s`` in ``[0, 1]``, non-negative.

    ``left`` holds :math:`q_L`, ``jump`` :math:`\delta = q_R - q_L` and ``curvature``
    :math:`c = 6(\bar p - (q_L + q_R)/2)`; the mean of each parabola is the cell average.
    """
    n_cells = values.shape[0]
    right = values[0]  # the first cell's left face value: the constant extrapolation of the boundary cell
    for k in range(n_cells):
        lo = right
        f = k + 1
        if f == n_cells:
            right = values[k]
        elif f == 1 or f == n_cells - 1:
            right = 0.5 * (values[f - 1] + values[f])
        else:
            right = (7.0 * (values[f - 1] + values[f]) - (values[f - 2] + values[f + 1])) / 12.0
        mean = values[k]
        hi = right
        # the smallest value on the cell: an edge, or the vertex of a convex parabola inside the cell
        c = 6.0 * mean - 3.0 * (lo + hi)
        least = min(lo, hi)
        if c < 0.0:
            vertex = 0.5 + 0.5 * (hi - lo) / c
            if 0.0 < vertex < 1.0:
                least = min(least, lo + vertex * (hi - lo + c * (1.0 - vertex)))
        if least < 0.0:
            theta = max(mean, 0.0) / (mean - least)  # Zhang-Shu: q <- mean + theta (q - mean) has minimum 0
            lo = mean + theta * (lo - mean)
            hi = mean + theta * (hi - mean)
            c = 6.0 * mean - 3.0 * (lo + hi)
        left[k] = lo
        jump[k] = hi - lo
        curvature[k] = c


@jit
def _masses(values, left, jump, curvature, departure, cell, below, out, o, i):
    r"""``out[o, n, i]`` = mass (per ``h``) of the reconstruction between ``departure[n]`` and ``departure[n + 1]``.

    Each departure point :math:`X` lies in cell :math:`j` at local
    :math:`s = X - j`; ``below`` gets :math:`\int_0^s q_j`. An interval
    within one cell is the difference of its ends' ``below``; a longer one
    is the rest of its first cell, the whole cells in between and the start
    of its last cell. Exact arithmetic makes every term non-negative; the
    final ``max`` only removes round-off, so densities are never negative.
    """
    n_cells = values.shape[0]
    for f in range(n_cells + 1):
        j = min(int(departure[f]), n_cells - 1)
        s = departure[f] - j
        cell[f] = j
        below[f] = s * (left[j] + s * (0.5 * jump[j] + curvature[j] * (0.5 - s * (1.0 / 3.0))))
    for n in range(n_cells):
        first, last = cell[n], cell[n + 1]
        if first == last:
            mass = below[n + 1] - below[n]
        else:
            mass = values[first] - below[n]
            for k in range(first + 1, last):
                mass += values[k]
            mass += below[n + 1]
        out[o, n, i] = max(mass, 0.0)


@jit
def _remap_line(p, a0, am, a1, scale, absorbing_lo, absorbing_hi, out, o, i, scratch, cell):
    n_cells = p.shape[1]
    values, left, jump = scratch[0, :n_cells], scratch[1, :n_cells], scratch[2, :n_cells]
    curvature = scratch[3, :n_cells]
    k1, k2, departure = scratch[4], scratch[5], scratch[6]  # k1 is free again for ``below`` after the trace
    for n in range(n_cells):
        values[n] = p[o, n, i]
    _reconstruct(values, left, jump, curvature)
    # a no-flux boundary face departs from itself: nothing crosses it
    departure[0] = 0.0
    departure[n_cells] = float(n_cells)
    _departures(a0, am, a1, scale, o, i, n_cells, 0 if absorbing_lo else 1, n_cells + 1 if absorbing_hi else n_cells,
                k1, k2, departure)
    _masses(values, left, jump, curvature, departure, cell, k1, out, o, i)


@jit
def _remap_block(p, a0, am, a1, scale, absorbing_lo, absorbing_hi, out, block):
    """Lines ``block * LINES_PER_BLOCK ...`` of :func:`remap`, with scratch arrays of their own."""
    n_lines = p.shape[0] * p.shape[2]
    scratch = np.empty((7, p.shape[1] + 1))
    cell = np.empty(p.shape[1] + 1, dtype=np.int64)
    for line in range(block * LINES_PER_BLOCK, min((block + 1) * LINES_PER_BLOCK, n_lines)):
        _remap_line(p, a0, am, a1, scale, absorbing_lo, absorbing_hi, out, line // p.shape[2], line % p.shape[2],
                    scratch, cell)


@jit(parallel=True)
def remap(p, a0, am, a1, dt, h, absorbing_lo, absorbing_hi, out, parallel):
    r"""``out`` = one FFSL step of ``p`` over ``dt``, every line, with the face drifts at its start, middle and end.

    ``p`` and ``out`` are ``(O, N, I)`` (``out`` must not alias ``p``), the
    drifts ``(O, N + 1, I)``. Blocks of lines run in parallel when ``parallel``.
    """
    n_blocks = (p.shape[0] * p.shape[2] + LINES_PER_BLOCK - 1) // LINES_PER_BLOCK
    scale = dt / h
    if parallel:
        for block in prange(n_blocks):
            _remap_block(p, a0, am, a1, scale, absorbing_lo, absorbing_hi, out, block)
    else:
        for block in range(n_blocks):
            _remap_block(p, a0, am, a1, scale, absorbing_lo, absorbing_hi, out, block)


@jit
def velocity_lipschitz(a, h):
    r"""A Lipschitz constant :math:`L` of the interpolated drift along the lines: ``4/3 max |a_{f+1} - a_f| / h``.

    The cubic Lagrange interpolant's slope is a combination of the three
    neighbouring face-to-face slopes whose weights sum to at most 4/3 in
    absolute value. The RK3 departure map then has slope at least
    :math:`1 - c - \tfrac56 c^2 - \tfrac16 c^3` with :math:`c = \Delta L`,
    positive for :math:`c \le 0.63`: departure points stay ordered.
    """
    n_outer, n_faces, n_inner = a.shape
    largest = 0.0
    for o in range(n_outer):
        for f in range(n_faces - 1):
            for i in range(n_inner):
                largest = max(largest, abs(a[o, f + 1, i] - a[o, f, i]))
    return CUBIC_SLOPE_BOUND * largest / h
