r"""Numba kernels of the fused time loop: every step of an autonomous implicit solve in one call.

When the operator :math:`L = \sum_k L_k` does not depend on time and the
step is (piecewise) constant, the LU factors of every ``I - c L_k`` are
computed once (:func:`fpdiff.fv._kernels.factor_lines`) and
:func:`advance_autonomous` runs the whole time loop in compiled code:
backward Euler with Lie splitting, or TR-BDF2 inside a Strang splitting,
together with the checks the Python driver makes after every step (finite,
negative mass, conserved mass) and the snapshots. It stops at the first step
that needs the driver (a check failed, or TR-BDF2 left too much negative
mass and the step must be halved) and says why.

Arrays are flat (C order): on axis ``k`` with lines ``(O, N, I)`` cell
``(o, n, i)`` is ``(o N + n) I + i`` and face ``(o, f, i)`` is
``(o (N+1) + f) I + i``. Three ways to solve the tridiagonal systems of an
axis, all the Thomas algorithm of :func:`fpdiff.fv._kernels.substitute_lines`:

- ``BLOCKED`` (``I > 1``): :func:`fpdiff.fv._kernels.block_width` lines side
  by side (a quarter of them, at least 64), contiguous in memory, in one
  sweep (the inner loop vectorises);
- ``GROUPED`` (``I = 1``, several lines): :data:`GROUP` lines in lockstep, so
  that the serial dependence of one line's recurrence is hidden behind the
  others (a lone recurrence waits on its multiply-subtract latency);
- ``SEGMENTED`` (one long line, 1-D grids): the line is cut into
  :data:`SEGMENTS` pieces whose recurrences run in lockstep from a zero start
  value, then corrected with the precomputed homogeneous solutions of each
  piece (a partition method; H. H. Wang, "A parallel method for tridiagonal
  equations", *ACM TOMS* 7, 170–183, 1981):

  .. math::  y_n = y^{p}_n + h_n\, y_{s_0 - 1}, \qquad
             h_n = \prod_{m=s_0}^{n} (-\ell_m \pi_m)

  for the forward sweep :math:`y_n = (x_n - \ell_n y_{n-1})\pi_n` of a piece
  starting at :math:`s_0`, and likewise
  :math:`x_n = x^{p}_n + g_n x_{s_1}` with :math:`g_n = \prod_{m=n}^{s_1-1}(-u_m)`
  for the backward sweep :math:`x_n = y_n - u_n x_{n+1}`. All factors
  :math:`-\ell\pi` and :math:`-u` are non-negative (M-matrix), so every
  operation adds non-negative terms: no cancellation (the rounding error stays
  that of the plain sweep) and densities stay non-negative exactly as with
  the plain sweep. The factors may exceed 1 where the drift converges
  strongly, so the products can grow along a piece: a line whose products
  exceed :data:`PRODUCT_LIMIT` is solved ``GROUPED`` (plain sweep) instead.
"""

import math

from numba import prange

from .._jit import jit
from ._kernels import GROUP, block_width

#: pieces of a single long line solved in lockstep
SEGMENTS = 8
#: a single line is cut into pieces only when each piece has at least this many cells
MIN_SEGMENT = 32

BLOCKED, GROUPED, SEGMENTED = 0, 1, 2
#: largest segment product (far from overflow) for which a line is solved SEGMENTED
PRODUCT_LIMIT = 1e100

#: status codes of :func:`advance_autonomous`
DONE, NOT_FINITE, NEGATIVE, MASS = 0, 1, 2, 3


def axis_layout(lines):
    """``(kind, units, block)`` of an axis with lines ``(O, N, I)``: how it is solved, in how many work units
    and (``BLOCKED``) how many inner indices per unit."""
    n_outer, n_cells, n_inner = lines
    if n_inner > 1:
        block = block_width(n_inner)
        return BLOCKED, n_outer * ((n_inner + block - 1) // block), block
    if n_outer == 1 and n_cells >= SEGMENTS * MIN_SEGMENT:
        return SEGMENTED, 1, 1
    return GROUPED, (n_outer + GROUP - 1) // GROUP, 1


@jit
def segment_products(lower, pivot, sweep, n_cells, forward, backward):
    """Homogeneous solutions of the :data:`SEGMENTS` pieces of one line (see the module docstring).

    Returns the largest product (``inf`` if one overflowed).
    """
    length = n_cells // SEGMENTS
    largest = 0.0
    for k in range(SEGMENTS):
        s0 = k * length
        s1 = n_cells if k == SEGMENTS - 1 else s0 + length
        value = 1.0
        for n in range(s0, s1):
            value *= -lower[n] * pivot[n]
            forward[n] = value
            largest = max(largest, value)
        value = 1.0
        for n in range(s1 - 1, s0 - 1, -1):
            value *= -sweep[n]
            backward[n] = value
            largest = max(largest, value)
    return largest


@jit
def _unit_range(kind, unit, n_outer, n_inner, block):
    """Lines ``o0:o1`` and inner indices ``i0:i1`` of one work unit."""
    if kind == BLOCKED:
        n_blocks = (n_inner + block - 1) // block
        o = unit // n_blocks
        i0 = (unit % n_blocks) * block
        return o, o + 1, i0, min(i0 + block, n_inner)
    if kind == GROUPED:
        o0 = unit * GROUP
        return o0, min(o0 + GROUP, n_outer), 0, 1
    return 0, 1, 0, 1


@jit
def _solve_segmented(lower, pivot, sweep, forward, backward, x, n_cells):
    length = n_cells // SEGMENTS
    last = (SEGMENTS - 1) * length  # the last piece also takes the remainder
    for k in range(SEGMENTS):
        x[k * length] *= pivot[k * length]
    for j in range(1, length):
        for k in range(SEGMENTS):
            n = k * length + j
            x[n] = (x[n] - lower[n] * x[n - 1]) * pivot[n]
    for n in range(last + length, n_cells):
        x[n] = (x[n] - lower[n] * x[n - 1]) * pivot[n]
    carry = x[length - 1]
    for k in range(1, SEGMENTS):
        s0 = k * length
        s1 = n_cells if k == SEGMENTS - 1 else s0 + length
        for n in range(s0, s1):
            x[n] += forward[n] * carry
        carry = x[s1 - 1]
    # backward: the last piece's cells beyond its first `length` serially (it is the longest), then every
    # piece's first `length` cells in lockstep, from the top of each
    for n in range(n_cells - 2, last + length - 2, -1):
        x[n] -= sweep[n] * x[n + 1]
    top = last + length - 1
    for j in range(1, length):
        for k in range(SEGMENTS):
            start = top if k == SEGMENTS - 1 else (k + 1) * length - 1
            n = start - j
            x[n] -= sweep[n] * x[n + 1]
    carry = x[last]
    for k in range(SEGMENTS - 2, -1, -1):
        s0 = k * length
        for n in range(s0, s0 + length):
            x[n] += backward[n] * carry
        carry = x[s0]


@jit
def _solve_unit(lower, pivot, sweep, forward, backward, x, n_outer, n_cells, n_inner, kind, unit, block):
    """Thomas solve of one work unit, in place in ``x`` (see :func:`fpdiff.fv._kernels.substitute_lines`)."""
    if kind == SEGMENTED:
        _solve_segmented(lower, pivot, sweep, forward, backward, x, n_cells)
        return
    o0, o1, i0, i1 = _unit_range(kind, unit, n_outer, n_inner, block)
    for o in range(o0, o1):
        base = o * n_cells * n_inner
        for i in range(i0, i1):
            x[base + i] *= pivot[base + i]
    for n in range(1, n_cells):
        for o in range(o0, o1):
            row = (o * n_cells + n) * n_inner
            for i in range(i0, i1):
                k = row + i
                x[k] = (x[k] - lower[k] * x[k - n_inner]) * pivot[k]
    for n in range(n_cells - 2, -1, -1):
        for o in range(o0, o1):
            row = (o * n_cells + n) * n_inner
            for i in range(i0, i1):
                k = row + i
                x[k] -= sweep[k] * x[k + n_inner]


@jit
def _explicit_line(wl, wr, c, p, out, cell, face, n_cells):
    """``out = p + c L p`` on one line of unit stride starting at ``cell`` (faces at ``face``): the interior
    loop has no branches, so it vectorises; the arithmetic is that of the general case, term by term."""
    if n_cells == 1:
        out[cell] = p[cell] + c * (-(wr[face] + wl[face + 1]) * p[cell])
        return
    value = -(wr[face] + wl[face + 1]) * p[cell]
    value += wr[face + 1] * p[cell + 1]
    out[cell] = p[cell] + c * value
    for n in range(1, n_cells - 1):
        k = cell + n
        f = face + n
        value = -(wr[f] + wl[f + 1]) * p[k]
        value += wl[f] * p[k - 1]
        value += wr[f + 1] * p[k + 1]
        out[k] = p[k] + c * value
    k = cell + n_cells - 1
    f = face + n_cells - 1
    value = -(wr[f] + wl[f + 1]) * p[k]
    value += wl[f] * p[k - 1]
    out[k] = p[k] + c * value


@jit
def _explicit_unit(wl, wr, c, p, out, n_outer, n_cells, n_inner, kind, unit, block):
    """``out = p + c L p`` on one work unit (the arithmetic of :func:`fpdiff.fv._kernels.add_operator`)."""
    o0, o1, i0, i1 = _unit_range(kind, unit, n_outer, n_inner, block)
    if n_inner == 1:
        for o in range(o0, o1):
            _explicit_line(wl, wr, c, p, out, o * n_cells, o * (n_cells + 1), n_cells)
        return
    for o in range(o0, o1):
        for n in range(n_cells):
            row = (o * n_cells + n) * n_inner
            face = (o * (n_cells + 1) + n) * n_inner
            for i in range(i0, i1):
                k = row + i
                f = face + i
                value = -(wr[f] + wl[f + n_inner]) * p[k]
                if n > 0:
                    value += wl[f] * p[k - n_inner]
                if n < n_cells - 1:
                    value += wr[f + n_inner] * p[k + n_inner]
                out[k] = p[k] + c * value


@jit
def _bdf2_rhs_unit(stage, p, scale, coefficient, n_outer, n_cells, n_inner, kind, unit, block):
    """``stage = stage * scale - coefficient * p`` on one work unit (the TR-BDF2 right-hand side)."""
    o0, o1, i0, i1 = _unit_range(kind, unit, n_outer, n_inner, block)
    if kind == SEGMENTED:
        for k in range(p.size):
            stage[k] = stage[k] / scale - coefficient * p[k]
        return
    for o in range(o0, o1):
        for n in range(n_cells):
            row = (o * n_cells + n) * n_inner
            for i in range(i0, i1):
                k = row + i
                stage[k] = stage[k] / scale - coefficient * p[k]


@jit
def _trbdf2_unit(wl, wr, c, p, stage, lower, pivot, sweep, forward, backward, denominator, coefficient,
                 n_outer, n_cells, n_inner, kind, unit, block):
    """One TR-BDF2 step's two implicit stages on one unit of lines (the result in ``stage``)."""
    _explicit_unit(wl, wr, c, p, stage, n_outer, n_cells, n_inner, kind, unit, block)
    _solve_unit(lower, pivot, sweep, forward, backward, stage, n_outer, n_cells, n_inner, kind, unit, block)
    _bdf2_rhs_unit(stage, p, denominator, coefficient, n_outer, n_cells, n_inner, kind, unit, block)
    _solve_unit(lower, pivot, sweep, forward, backward, stage, n_outer, n_cells, n_inner, kind, unit, block)


@jit
def _chunk_sum_min(p, start, stop):
    """Sum and minimum of ``p[start:stop]`` with four partial sums (independent adds pipeline)."""
    s0 = s1 = s2 = s3 = 0.0
    low = math.inf
    k = start
    while k + 4 <= stop:
        a, b, c, d = p[k], p[k + 1], p[k + 2], p[k + 3]
        s0 += a
        s1 += b
        s2 += c
        s3 += d
        low = min(low, min(min(a, b), min(c, d)))
        k += 4
    while k < stop:
        s0 += p[k]
        low = min(low, p[k])
        k += 1
    return (s0 + s1) + (s2 + s3), low


#: cells per chunk of the parallel sum
CHUNK = 16384


@jit(parallel=True)
def sum_and_min_flat(p, partial_sum, partial_min, parallel):
    """``(sum(p), min(p))`` of a flat array; NaN propagates to the sum (``partial_*``: one slot per chunk)."""
    n_chunks = partial_sum.size
    if parallel:
        for chunk in prange(n_chunks):
            partial_sum[chunk], partial_min[chunk] = _chunk_sum_min(p, chunk * CHUNK, min(p.size, (chunk + 1) * CHUNK))
    else:
        for chunk in range(n_chunks):
            partial_sum[chunk], partial_min[chunk] = _chunk_sum_min(p, chunk * CHUNK, min(p.size, (chunk + 1) * CHUNK))
    total = 0.0
    low = math.inf
    for chunk in range(n_chunks):
        total += partial_sum[chunk]
        low = min(low, partial_min[chunk])
    return total, low


@jit
def _negative_sum(p):
    total = 0.0
    for value in p:
        if value < 0.0:
            total += value
    return -total


@jit(parallel=True)
def advance_autonomous(trbdf2, restore, p, stage, previous, factors, products, weights, set_c, set_axis, plan, layout,
                       start, cell_volume, mass0, negative_limit, conserving, mass_tolerance, saved_slot, snapshots,
                       partial_sum, partial_min, parallel):
    """Run steps ``start, start+1, ...`` of an autonomous solve in place in ``p`` (flat).

    Parameters
    ----------
    trbdf2 : bool
        TR-BDF2 stages (else backward Euler) for every entry of a step's splitting schedule.
    restore : bool
        Keep the density at the start of each step in ``previous``, to hand a
        step that leaves too much negative mass back to the driver unchanged.
    p, stage, previous : (size,) arrays
        The density (updated in place) and two work arrays (``previous`` holds
        the density at the start of a TR-BDF2 step, restored if it fails).
    factors : (sets, 3, size) array
        ``lower, pivot, sweep`` of ``I - c L_k`` for every factor set.
    products : (sets, 2, size) array
        Segment products (:func:`segment_products`) for ``SEGMENTED`` axes.
    weights : (ndim, 2, faces) array
        Flux weights ``wl, wr`` of every axis (TR-BDF2's explicit stage).
    set_c, set_axis : (sets,) arrays
        Each set's ``c`` (the stage coefficient) and axis.
    plan : (steps, entries) int array
        Factor set of each entry of each step's schedule.
    layout : (ndim, 6) int array
        ``O, N, I, kind, units, block`` of each axis (:func:`axis_layout`).
    saved_slot : (steps,) int array
        Row of ``snapshots`` that receives the density after each step, or -1.

    Returns
    -------
    (steps done, status, minimum density, largest mass drift, density)
        ``status`` is :data:`DONE`, or why the loop stopped at the step after
        the last one done: :data:`NOT_FINITE`, :data:`MASS` (``p`` is that
        step's result) or :data:`NEGATIVE` (``p`` is restored to its start
        with ``restore``). The density array comes last: TR-BDF2 swaps ``p``
        and ``stage``, so the result may live in either.
    """
    g = 2.0 - math.sqrt(2.0)
    denominator = g * (2.0 - g)
    coefficient = (1.0 - g) ** 2 / denominator
    low_seen = math.inf
    drift_seen = 0.0
    # one TR-BDF2 entry per step (1-D): the step leaves its start intact in `stage`, no copy needed
    swap_back = trbdf2 and plan.shape[1] == 1
    for step in range(start, plan.shape[0]):
        if restore and not swap_back:
            for k in range(p.size):  # plain loops: array expressions would start threads here
                previous[k] = p[k]
        for entry in range(plan.shape[1]):
            q = plan[step, entry]
            axis = set_axis[q]
            n_outer, n_cells, n_inner, kind, units, block = (layout[axis, 0], layout[axis, 1], layout[axis, 2],
                                                             layout[axis, 3], layout[axis, 4], layout[axis, 5])
            lower, pivot, sweep = factors[q, 0], factors[q, 1], factors[q, 2]
            forward, backward = products[q, 0], products[q, 1]
            if trbdf2:  # (I - dL) p* = (I + dL) p;  (I - dL) p' = (p* - (1-g)^2 p) / (g (2-g))
                wl, wr = weights[axis, 0], weights[axis, 1]
                c = set_c[q]
                if parallel:
                    for unit in prange(units):
                        _trbdf2_unit(wl, wr, c, p, stage, lower, pivot, sweep, forward, backward, denominator,
                                     coefficient, n_outer, n_cells, n_inner, kind, unit, block)
                else:
                    for unit in range(units):
                        _trbdf2_unit(wl, wr, c, p, stage, lower, pivot, sweep, forward, backward, denominator,
                                     coefficient, n_outer, n_cells, n_inner, kind, unit, block)
                p, stage = stage, p
            elif parallel:
                for unit in prange(units):
                    _solve_unit(lower, pivot, sweep, forward, backward, p, n_outer, n_cells, n_inner, kind, unit, block)
            else:
                for unit in range(units):
                    _solve_unit(lower, pivot, sweep, forward, backward, p, n_outer, n_cells, n_inner, kind, unit, block)
        n_chunks = partial_sum.size
        if parallel:
            for chunk in prange(n_chunks):
                partial_sum[chunk], partial_min[chunk] = _chunk_sum_min(p, chunk * CHUNK,
                                                                        min(p.size, (chunk + 1) * CHUNK))
        else:
            for chunk in range(n_chunks):
                partial_sum[chunk], partial_min[chunk] = _chunk_sum_min(p, chunk * CHUNK,
                                                                        min(p.size, (chunk + 1) * CHUNK))
        total = 0.0
        low = math.inf
        for chunk in range(n_chunks):
            total += partial_sum[chunk]
            low = min(low, partial_min[chunk])
        mass = total * cell_volume
        if not (math.isfinite(mass) and math.isfinite(low)):
            return step - start, NOT_FINITE, low_seen, drift_seen, p
        if low < 0.0 and _negative_sum(p) * cell_volume > negative_limit:
            if swap_back:
                p, stage = stage, p
            elif restore:
                for k in range(p.size):
                    p[k] = previous[k]
            return step - start, NEGATIVE, low_seen, drift_seen, p
        if conserving:
            drift = abs(mass - mass0) / mass0
            if drift > mass_tolerance:
                return step - start, MASS, low_seen, drift_seen, p
            drift_seen = max(drift_seen, drift)
        low_seen = min(low_seen, low)
        if saved_slot[step] >= 0:
            for k in range(p.size):
                snapshots[saved_slot[step], k] = p[k]
    return plan.shape[0] - start, DONE, low_seen, drift_seen, p
