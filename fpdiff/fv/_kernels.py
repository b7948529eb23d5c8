r"""Numba kernels of the finite-volume density view.

Every kernel works on *lines*: an array of cell values of shape ``(O, N, I)``
is a stack of ``O x I`` lines of ``N`` cells along the middle axis (the
grid axis being operated on), and face arrays have shape ``(O, N + 1, I)``
(boundary faces included). A C-contiguous grid array is reshaped to this
form without a copy, so one kernel serves every axis of a 1-, 2- or 3-D grid;
sweeps run over the inner index innermost, so memory is read contiguously.

For a line with face drifts :math:`a_f` and diffusion :math:`D` the
Scharfetter–Gummel flux through face :math:`f` (between cells ``f-1`` and
``f``, distance ``h``) is

.. math::  J_f = \frac{D}{h}\left[B(-P_f)\, p_{f-1} - B(P_f)\, p_f\right],
           \qquad P_f = \frac{a_f h}{D}, \qquad B(z) = \frac{z}{e^z - 1},

exact for the zero-flux state of constant :math:`a, D` and equal to upwind
when :math:`D \to 0`. Kernels store ``wl = D B(-P)/h^2`` and ``wr = D B(P)/h^2``
(the flux weights divided by the cell width), so that

.. math::  (L p)_n = wl_n p_{n-1} - (wr_n + wl_{n+1}) p_n + wr_{n+1} p_{n+1}.

Each public kernel takes a ``parallel`` flag: work units are spread over
threads with ``prange`` when it is true, and run in the calling thread when
it is false (small grids, where starting threads costs more than it saves);
the two are separate compilations (:func:`fpdiff._jit.jit_variants`), so a
small problem never compiles the threaded one.
"""

import math

import numpy as np
from numba import int64, prange, uint64

from .._jit import jit, jit_variants

#: fewest inner indices handled by one work unit of the line solves (see :func:`block_width`)
BLOCK = 64
#: lines of unit stride (I = 1) solved in lockstep by one work unit
GROUP = 8


@jit
def block_width(n_inner):
    """Inner indices per work unit of the line solves: a quarter of them (a multiple of 8), at least
    :data:`BLOCK`. Wide blocks sweep long contiguous rows, which the hardware prefetches well (on a
    2048^2 grid a block of 512 solves about 2.5x faster per cell than one of 64), and four units
    still share out between threads."""
    return max(BLOCK, ((n_inner + 3) // 4 + 7) // 8 * 8)


@jit
def bernoulli_pair(z):
    """``(B(z), B(-z))`` with :math:`B(z) = z/(e^z - 1)`: one exponential, no overflow or cancellation."""
    size = abs(z)
    if size < 1e-10:
        return 1.0 - 0.5 * z, 1.0 + 0.5 * z
    if size < 1.0:
        em = math.expm1(-size)  # e^-|z| - 1, accurate for small |z|
        large = -size / em  # B(-|z|)
        small = large * (1.0 + em)  # B(|z|) = B(-|z|) e^-|z|
    else:
        e = math.exp(-size)  # no cancellation in 1 - e for |z| >= 1
        large = size / (1.0 - e)
        small = large * e
    if z > 0.0:
        return small, large
    return large, small


#: faces handled by one work unit of :func:`sg_weights` and rows by one of :func:`add_operator`
#: (a unit per face or row would spend more on the call than on the work)
ROWS = 256


@jit(inline=True)
def _face_weights(drift, diffusion, h, absorbing_lo, absorbing_hi, wl, wr, o, f0, f1):
    n_faces, n_inner = drift.shape[1], drift.shape[2]
    for f in range(f0, f1):
        distance = h
        if f == 0 or f == n_faces - 1:
            if not (absorbing_lo if f == 0 else absorbing_hi):
                for i in range(n_inner):
                    wl[o, f, i] = 0.0
                    wr[o, f, i] = 0.0
                continue
            distance = 0.5 * h  # zero density on the boundary face itself
        for i in range(n_inner):
            a = drift[o, f, i]
            if diffusion > 0.0:
                b_plus, b_minus = bernoulli_pair(a * distance / diffusion)
                scale = diffusion / (distance * h)
                wl[o, f, i] = scale * b_minus
                wr[o, f, i] = scale * b_plus
            else:  # pure transport: upwind
                wl[o, f, i] = max(a, 0.0) / h
                wr[o, f, i] = max(-a, 0.0) / h


@jit_variants
def sg_weights(drift, diffusion, h, absorbing_lo, absorbing_hi, wl, wr, parallel):
    """Fill the flux weights ``wl``, ``wr`` (O, N+1, I) from face drifts (O, N+1, I).

    Boundary faces carry no flux unless absorbing, where the density is zero
    on the boundary face (distance ``h/2`` from the first cell centre).
    """
    n_outer, n_faces = drift.shape[0], drift.shape[1]
    n_ranges = (n_faces + ROWS - 1) // ROWS
    for unit in prange(n_outer * n_ranges):
        unit = int64(unit)  # prange counts in uint64 when threaded: one compiled variant of the callee
        f0 = (unit % n_ranges) * ROWS
        _face_weights(drift, diffusion, h, absorbing_lo, absorbing_hi, wl, wr, unit // n_ranges, f0,
                      min(f0 + ROWS, n_faces))


@jit(inline=True)
def _factor_block(wl, wr, c, lower, pivot, sweep, o, i0, i1):
    o, i0, i1 = uint64(o), uint64(i0), uint64(i1)  # see _substitute_block
    n_cells = lower.shape[1]
    for i in range(i0, i1):
        lower[o, 0, i] = 0.0
        pivot[o, 0, i] = 1.0 / (1.0 + c * (wr[o, 0, i] + wl[o, 1, i]))
        sweep[o, 0, i] = -c * wr[o, 1, i] * pivot[o, 0, i]
    for n in range(1, n_cells):
        for i in range(i0, i1):
            low = -c * wl[o, n, i]
            lower[o, n, i] = low
            pivot[o, n, i] = 1.0 / (1.0 + c * (wr[o, n, i] + wl[o, n + 1, i]) - low * sweep[o, n - 1, i])
            sweep[o, n, i] = -c * wr[o, n + 1, i] * pivot[o, n, i]


@jit
def _factor_group(wl, wr, c, lower, pivot, sweep, o0, o1):
    o0, o1 = uint64(o0), uint64(o1)  # see _substitute_block
    n_cells = lower.shape[1]
    for o in range(o0, o1):
        lower[o, 0, 0] = 0.0
        pivot[o, 0, 0] = 1.0 / (1.0 + c * (wr[o, 0, 0] + wl[o, 1, 0]))
        sweep[o, 0, 0] = -c * wr[o, 1, 0] * pivot[o, 0, 0]
    for n in range(1, n_cells):
        for o in range(o0, o1):
            low = -c * wl[o, n, 0]
            lower[o, n, 0] = low
            pivot[o, n, 0] = 1.0 / (1.0 + c * (wr[o, n, 0] + wl[o, n + 1, 0]) - low * sweep[o, n - 1, 0])
            sweep[o, n, 0] = -c * wr[o, n + 1, 0] * pivot[o, n, 0]


@jit_variants
def factor_lines(wl, wr, c, lower, pivot, sweep, parallel):
    """LU factors (Thomas algorithm) of ``I - c L`` on every line, into ``lower, pivot, sweep`` (O, N, I).

    The matrix is a column-diagonally-dominant M-matrix for every ``c >= 0``,
    so no pivoting is needed and the solve keeps ``x >= 0`` when ``rhs >= 0``.
    Lines of unit stride (``I = 1``) are factored :data:`GROUP` at a time in
    lockstep, which hides the latency of each line's serial recurrence.
    """
    n_outer, _, n_inner = lower.shape
    if n_inner == 1:
        for unit in prange((n_outer + GROUP - 1) // GROUP):
            o0 = int64(unit) * GROUP  # prange counts in uint64 when threaded: one compiled variant of the callee
            _factor_group(wl, wr, c, lower, pivot, sweep, o0, min(o0 + GROUP, n_outer))
        return
    block = block_width(n_inner)
    n_blocks = (n_inner + block - 1) // block
    for unit in prange(n_outer * n_blocks):
        unit = int64(unit)
        i0 = (unit % n_blocks) * block
        _factor_block(wl, wr, c, lower, pivot, sweep, unit // n_blocks, i0, min(i0 + block, n_inner))


@jit(inline=True)
def _substitute_block(lower, pivot, sweep, x, o, i0, i1):
    # unsigned line and inner indices: numba wraps negative (signed) indices, and for an index it cannot
    # prove non-negative that is a check per load, which stops LLVM from vectorising the inner loop
    o, i0, i1 = uint64(o), uint64(i0), uint64(i1)
    n_cells = x.shape[1]
    for i in range(i0, i1):
        x[o, 0, i] *= pivot[o, 0, i]
    for n in range(1, n_cells):
        for i in range(i0, i1):
            x[o, n, i] = (x[o, n, i] - lower[o, n, i] * x[o, n - 1, i]) * pivot[o, n, i]
    for n in range(n_cells - 2, -1, -1):
        for i in range(i0, i1):
            x[o, n, i] -= sweep[o, n, i] * x[o, n + 1, i]


@jit(inline=True)
def _substitute_group(lower, pivot, sweep, x, o0, o1):
    o0, o1 = uint64(o0), uint64(o1)  # see _substitute_block
    n_cells = x.shape[1]
    for o in range(o0, o1):
        x[o, 0, 0] *= pivot[o, 0, 0]
    for n in range(1, n_cells):
        for o in range(o0, o1):
            x[o, n, 0] = (x[o, n, 0] - lower[o, n, 0] * x[o, n - 1, 0]) * pivot[o, n, 0]
    for n in range(n_cells - 2, -1, -1):
        for o in range(o0, o1):
            x[o, n, 0] -= sweep[o, n, 0] * x[o, n + 1, 0]


@jit_variants
def substitute_lines(lower, pivot, sweep, x, parallel):
    """Overwrite ``x`` (O, N, I) with the solution of ``(I - c L) y = x`` from :func:`factor_lines`."""
    n_outer, _, n_inner = x.shape
    if n_inner == 1:
        for unit in prange((n_outer + GROUP - 1) // GROUP):
            o0 = int64(unit) * GROUP  # prange counts in uint64 when threaded: one compiled variant of the callee
            _substitute_group(lower, pivot, sweep, x, o0, min(o0 + GROUP, n_outer))
        return
    block = block_width(n_inner)
    n_blocks = (n_inner + block - 1) // block
    for unit in prange(n_outer * n_blocks):
        unit = int64(unit)
        i0 = (unit % n_blocks) * block
        _substitute_block(lower, pivot, sweep, x, unit // n_blocks, i0, min(i0 + block, n_inner))


@jit
def _add_operator_rows(wl, wr, c, p, out, o, n0, n1):
    o, n0, n1 = uint64(o), uint64(n0), uint64(n1)  # see _substitute_block
    one = uint64(1)
    n_cells, n_inner = uint64(p.shape[1]), uint64(p.shape[2])
    if n_inner == one:
        _add_operator_line(wl, wr, c, p, out, o, n0, n1)
        return
    for n in range(n0, n1):
        for i in range(n_inner):
            value = -(wr[o, n, i] + wl[o, n + one, i]) * p[o, n, i]
            if n >= one:
                value += wl[o, n, i] * p[o, n - one, i]
            if n + one < n_cells:
                value += wr[o, n + one, i] * p[o, n + one, i]
            out[o, n, i] += c * value


@jit(inline=True)
def _add_operator_line(wl, wr, c, p, out, o, n0, n1):
    """Rows ``n0:n1`` of line ``o`` of unit stride (``I = 1``): the interior rows in a loop without branches
    over flat views of the line, which vectorises; the same arithmetic as :func:`_add_operator_rows`."""
    one = uint64(1)
    n_cells = uint64(p.shape[1])
    line = p.reshape(p.size)[o * n_cells:(o + one) * n_cells]
    target = out.reshape(out.size)[o * n_cells:(o + one) * n_cells]
    left = wl.reshape(wl.size)[o * (n_cells + one):(o + one) * (n_cells + one)]
    right = wr.reshape(wr.size)[o * (n_cells + one):(o + one) * (n_cells + one)]
    for n in range(max(n0, one), min(n1, n_cells - one)):
        value = -(right[n] + left[n + one]) * line[n]
        value += left[n] * line[n - one]
        value += right[n + one] * line[n + one]
        target[n] += c * value
    last = n_cells - one
    if n0 == 0:  # the end rows: one neighbour (none on a line of one cell)
        _add_end_row(left, right, c, line, target, uint64(0), last)
    if n1 == n_cells and last > 0:
        _add_end_row(left, right, c, line, target, last, last)


@jit(inline=True)
def _add_end_row(left, right, c, line, target, n, last):
    value = -(right[n] + left[n + uint64(1)]) * line[n]
    if n > 0:
        value += left[n] * line[n - uint64(1)]
    if n < last:
        value += right[n + uint64(1)] * line[n + uint64(1)]
    target[n] += c * value


@jit_variants
def add_operator(wl, wr, c, p, out, parallel):
    """``out += c L p`` on every line."""
    n_outer, n_cells = p.shape[0], p.shape[1]
    n_ranges = (n_cells + ROWS - 1) // ROWS
    for unit in prange(n_outer * n_ranges):
        unit = int64(unit)  # prange counts in uint64 when threaded: one compiled variant of the callee
        n0 = (unit % n_ranges) * ROWS
        _add_operator_rows(wl, wr, c, p, out, unit // n_ranges, n0, min(n0 + ROWS, n_cells))


@jit
def add_outflow_rate(wl, wr, rate):
    """``rate += wr_n + wl_{n+1}``, the rate at which each cell loses mass (-diag of L)."""
    n_outer, n_cells, n_inner = rate.shape
    for o in range(n_outer):
        for n in range(n_cells):
            for i in range(n_inner):
                rate[o, n, i] += wr[o, n, i] + wl[o, n + 1, i]


@jit(reassociate=True)
def chunk_sum_min(p, start, stop):
    """Sum and minimum of ``p[start:stop]``; NaN propagates to the sum.

    Both reductions run in SIMD lanes: the sum reassociated, the minimum on
    the bit patterns as integers, which order like the values for
    non-negative doubles (a pattern with the sign bit set is a negative
    integer: then the minimum is taken again on the values).
    """
    p = p[start:stop]  # indexed from 0: no index wrapping (see _substitute_block)
    total = 0.0
    low = np.int64(0x7FFFFFFFFFFFFFFF)  # the largest int64
    for k in range(p.size):
        total += p[k]
        low = min(low, np.float64(p[k]).view(np.int64))
    if low < 0:  # a negative value (or -0.0): the rare path
        smallest = math.inf
        for k in range(p.size):
            smallest = min(smallest, p[k])
        return total, smallest
    return total, np.int64(low).view(np.float64) if p.size else math.inf


@jit
def sum_and_min(p):
    """``(sum(p), min(p))`` of an array; NaN propagates to the sum."""
    return chunk_sum_min(p.reshape(p.size), np.int64(0), p.size)  # int64, not a literal: one compiled variant
