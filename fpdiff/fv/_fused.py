r"""Numba kernels of the fused time loop: every step of an autonomous implicit solve in one call.

When the operator :math:`L = \sum_k L_k` does not depend on time and the
step is (piecewise) constant, the LU factors of every ``I - c L_k`` are
computed once (:func:`fpdiff.fv._kernels.factor_lines`) and
:func:`advance_autonomous` runs the whole time loop in compiled code:
backward Euler with Lie splitting, or TR-BDF2 or Crank–Nicolson inside a
Strang splitting, together with the checks the Python driver makes after
every step (finite, negative mass, conserved mass) and the snapshots. It stops at the first step
that needs the driver (a check failed, or TR-BDF2 or CN left too much negative
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
  others (a lone recurrence waits on its multiply-subtract latency); lines
  that share their factors go :data:`TILE` at a time through a tile in which
  each step of the recurrence is one vector operation (:func:`_solve_tiled`);
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

A ``shared`` axis (``layout[:, 6]``, see :mod:`fpdiff.fv.fused`) stores the
factors and weights of one line, indexed by the position along the line.
Loop indices are unsigned (:func:`_unsigned_range`): numba would wrap signed
ones, at a cost that stops the loops from vectorising.
"""

import math

from numba import int64, prange, uint64

from .._jit import jit, jit_variants
from ._kernels import GROUP, block_width, chunk_sum_min

#: pieces of a single long line solved in lockstep
SEGMENTS = 8
#: a single line is cut into pieces only when each piece has at least this many cells
MIN_SEGMENT = 32

BLOCKED, GROUPED, SEGMENTED = 0, 1, 2
#: lines of unit stride sharing their factors solved side by side, one vector operation per cell of a line
TILE = 16
#: largest segment product (far from overflow) for which a line is solved SEGMENTED
PRODUCT_LIMIT = 1e100

#: status codes of :func:`advance_autonomous`
DONE, NOT_FINITE, NEGATIVE, MASS = 0, 1, 2, 3
#: method codes of :func:`advance_autonomous`
BE, TRBDF2, CN = 0, 1, 2


def axis_layout(lines, shared=False):
    """``(kind, units, block)`` of an axis with lines ``(O, N, I)``: how it is solved, in how many work units
    and how many inner indices (``BLOCKED``) or lines (``GROUPED``: :data:`TILE` when the lines share their
    factors, else :data:`GROUP`) per unit."""
    n_outer, n_cells, n_inner = lines
    if n_inner > 1:
        block = block_width(n_inner)
        return BLOCKED, n_outer * ((n_inner + block - 1) // block), block
    if n_outer == 1 and n_cells >= SEGMENTS * MIN_SEGMENT:
        return SEGMENTED, 1, 1
    group = TILE if shared else GROUP
    return GROUPED, (n_outer + group - 1) // group, group


@jit
def segment_products(lower, pivot, sweep, n_cells, forward, backward):
    """Homogeneous solutions of the :data:`SEGMENTS` pieces of one line (see the module docstring).

    Returns the largest product (``inf`` if one overflowed). Compiled, not numpy: once per factorisation, but
    numpy's calls per piece would cost about 50 microseconds, a tenth of a whole 800-cell solve.
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


@jit(inline=True)
def _unit_range(kind, unit, n_outer, n_inner, block):
    """Lines ``o0:o1`` and inner indices ``i0:i1`` of one work unit."""
    if kind == BLOCKED:
        n_blocks = (n_inner + block - 1) // block
        o = unit // n_blocks
        i0 = (unit % n_blocks) * block
        return o, o + 1, i0, min(i0 + block, n_inner)
    if kind == GROUPED:
        o0 = unit * block
        return o0, min(o0 + block, n_outer), 0, 1
    return 0, 1, 0, 1


@jit(inline=True)
def _unsigned_range(kind, unit, n_outer, n_cells, n_inner, block):
    """:func:`_unit_range` and the line sizes as unsigned integers, for indices numba need not wrap.

    Numba wraps negative (signed) indices; for an index it cannot prove
    non-negative (an offset plus a loop counter) that is a check per load,
    which stops LLVM from vectorising the loop.
    """
    o0, o1, i0, i1 = _unit_range(kind, unit, n_outer, n_inner, block)
    return uint64(o0), uint64(o1), uint64(i0), uint64(i1), uint64(n_cells), uint64(n_inner)


@jit
def _solve_segmented(lower, pivot, sweep, forward, backward, x, n_cells):
    # unsigned indices throughout (see _unsigned_range): a third faster
    one = uint64(1)
    segments = uint64(SEGMENTS)
    size = uint64(n_cells)
    length = size // segments
    last = (segments - one) * length  # the last piece also takes the remainder
    for k in range(segments):
        x[k * length] *= pivot[k * length]
    for j in range(one, length):
        for k in range(segments):
            n = k * length + j
            x[n] = (x[n] - lower[n] * x[n - one]) * pivot[n]
    for n in range(last + length, size):
        x[n] = (x[n] - lower[n] * x[n - one]) * pivot[n]
    carry = x[length - one]
    for k in range(one, segments):
        s0 = k * length
        s1 = size if k == segments - one else s0 + length
        for n in range(s0, s1):
            x[n] += forward[n] * carry
        carry = x[s1 - one]
    # backward: the last piece's cells beyond its first `length` serially (it is the longest), then every
    # piece's first `length` cells in lockstep, from the top of each
    for i in range(size - last - length):
        n = size - uint64(2) - i
        x[n] -= sweep[n] * x[n + one]
    top = last + length - one
    for j in range(one, length):
        for k in range(segments):
            start = top if k == segments - one else (k + one) * length - one
            n = start - j
            x[n] -= sweep[n] * x[n + one]
    carry = x[last]
    for i in range(one, segments):
        s0 = (segments - one - i) * length
        for n in range(s0, s0 + length):
            x[n] += backward[n] * carry
        carry = x[s0]


@jit
def _solve_unit(lower, pivot, sweep, forward, backward, x, n_outer, n_cells, n_inner, kind, unit, block, shared,
                work):
    """Thomas solve of one work unit, in place in ``x`` (see :func:`fpdiff.fv._kernels.substitute_lines`).

    With ``shared`` every line of the axis has the same factors, stored once
    (``n_cells`` entries); ``work`` (``TILE * n_cells`` numbers) then holds the
    tile of a ``GROUPED`` unit (:func:`_solve_tiled`).
    """
    if kind == SEGMENTED:
        _solve_segmented(lower, pivot, sweep, forward, backward, x, n_cells)
        return
    o0, o1, i0, i1, cells, inner = _unsigned_range(kind, unit, n_outer, n_cells, n_inner, block)
    one = uint64(1)
    if shared and kind == GROUPED:
        _solve_tiled(lower, pivot, sweep, x, o0, o1, cells, work)
        return
    if shared:
        _solve_shared(lower, pivot, sweep, x, o0, o1, i0, i1, cells, inner)
        return
    for o in range(o0, o1):
        base = o * cells * inner
        for i in range(i0, i1):
            x[base + i] *= pivot[base + i]
    for n in range(one, cells):
        for o in range(o0, o1):
            row = (o * cells + n) * inner
            for i in range(i0, i1):
                k = row + i
                x[k] = (x[k] - lower[k] * x[k - inner]) * pivot[k]
    for m in range(one, cells):
        n = cells - one - m  # n_cells - 2, ..., 0
        for o in range(o0, o1):
            row = (o * cells + n) * inner
            for i in range(i0, i1):
                k = row + i
                x[k] -= sweep[k] * x[k + inner]


@jit(inline=True)
def _solve_tiled(lower, pivot, sweep, x, o0, o1, cells, work):
    """Lines ``o0:o1`` of unit stride with shared factors, solved side by side in a tile.

    The lines are copied into ``work`` as the columns of a ``(cells, TILE)``
    array, so that each step of the recurrences updates one row of the tile:
    a vector operation across the lines instead of a serial chain per line
    (about 3x faster than the lockstep of :data:`GROUP` lines through the
    cache). Unused columns of a last, partial tile hold zeros.
    """
    tile = uint64(TILE)
    one = uint64(1)
    width = o1 - o0
    for n in range(cells):
        row = n * tile
        for j in range(width):
            work[row + j] = x[(o0 + j) * cells + n]
        for j in range(width, tile):
            work[row + j] = 0.0
    first = pivot[0]
    for j in range(tile):
        work[j] *= first
    for n in range(one, cells):
        low, pivot_n = lower[n], pivot[n]
        row = n * tile
        for j in range(tile):
            work[row + j] = (work[row + j] - low * work[row - tile + j]) * pivot_n
    for m in range(one, cells):
        n = cells - one - m  # n_cells - 2, ..., 0
        sweep_n = sweep[n]
        row = n * tile
        for j in range(tile):
            work[row + j] -= sweep_n * work[row + tile + j]
    for j in range(width):
        line = (o0 + j) * cells
        for n in range(cells):
            x[line + n] = work[n * tile + j]


@jit(inline=True)
def _solve_shared(lower, pivot, sweep, x, o0, o1, i0, i1, cells, inner):
    """:func:`_solve_unit` when all lines share one set of factors: one factor per row, no factor stream."""
    one = uint64(1)
    for o in range(o0, o1):
        base = o * cells * inner
        for i in range(i0, i1):
            x[base + i] *= pivot[0]
    for n in range(one, cells):
        low, pivot_n = lower[n], pivot[n]
        for o in range(o0, o1):
            row = (o * cells + n) * inner
            for i in range(i0, i1):
                k = row + i
                x[k] = (x[k] - low * x[k - inner]) * pivot_n
    for m in range(one, cells):
        n = cells - one - m  # n_cells - 2, ..., 0
        sweep_n = sweep[n]
        for o in range(o0, o1):
            row = (o * cells + n) * inner
            for i in range(i0, i1):
                k = row + i
                x[k] -= sweep_n * x[k + inner]


@jit(inline=True)
def _explicit_line(wl, wr, c, p, out, cell, face, n_cells):
    """``out = p + c L p`` on one line of unit stride starting at ``cell`` (faces at ``face``): the interior
    loop has no branches, so it vectorises; the arithmetic is that of the general case, term by term."""
    # views indexed from 0, so that numba need not wrap the indices (see _unsigned_range): 5x faster
    p = p[cell:cell + n_cells]
    out = out[cell:cell + n_cells]
    left = wl[face:face + n_cells + 1]
    right = wr[face:face + n_cells + 1]
    if n_cells == 1:
        out[0] = p[0] + c * (-(right[0] + left[1]) * p[0])
        return
    value = -(right[0] + left[1]) * p[0]
    value += right[1] * p[1]
    out[0] = p[0] + c * value
    for n in range(1, n_cells - 1):
        value = -(right[n] + left[n + 1]) * p[n]
        value += left[n] * p[n - 1]
        value += right[n + 1] * p[n + 1]
        out[n] = p[n] + c * value
    n = n_cells - 1
    value = -(right[n] + left[n + 1]) * p[n]
    value += left[n] * p[n - 1]
    out[n] = p[n] + c * value


@jit
def _explicit_unit(wl, wr, c, p, out, n_outer, n_cells, n_inner, kind, unit, block, shared):
    """``out = p + c L p`` on one work unit (the arithmetic of :func:`fpdiff.fv._kernels.add_operator`);
    with ``shared`` the weights of one line (``n_cells + 1`` faces) serve every line."""
    if n_inner == 1:
        o0, o1, _, _ = _unit_range(kind, unit, n_outer, n_inner, block)
        for o in range(o0, o1):
            _explicit_line(wl, wr, c, p, out, o * n_cells, 0 if shared else o * (n_cells + 1), n_cells)
        return
    o0, o1, i0, i1, cells, inner = _unsigned_range(kind, unit, n_outer, n_cells, n_inner, block)
    one = uint64(1)
    if shared:
        for o in range(o0, o1):
            for n in range(cells):
                row = (o * cells + n) * inner
                centre = -(wr[n] + wl[n + one])
                left = wl[n] if n >= one else 0.0  # no flux through the boundary faces
                right = wr[n + one] if n < cells - one else 0.0
                for i in range(i0, i1):
                    k = row + i
                    value = centre * p[k]
                    if n >= one:
                        value += left * p[k - inner]
                    if n < cells - one:
                        value += right * p[k + inner]
                    out[k] = p[k] + c * value
        return
    for o in range(o0, o1):
        for n in range(cells):
            row = (o * cells + n) * inner
            face = (o * (cells + one) + n) * inner
            for i in range(i0, i1):
                k = row + i
                f = face + i
                value = -(wr[f] + wl[f + inner]) * p[k]
                if n >= one:
                    value += wl[f] * p[k - inner]
                if n < cells - one:
                    value += wr[f + inner] * p[k + inner]
                out[k] = p[k] + c * value


@jit
def _bdf2_rhs_unit(stage, p, scale, coefficient, n_outer, n_cells, n_inner, kind, unit, block):
    """``stage = stage * scale - coefficient * p`` on one work unit (the TR-BDF2 right-hand side)."""
    if kind == SEGMENTED:
        for k in range(p.size):
            stage[k] = stage[k] / scale - coefficient * p[k]
        return
    o0, o1, i0, i1, cells, inner = _unsigned_range(kind, unit, n_outer, n_cells, n_inner, block)
    for o in range(o0, o1):
        for n in range(cells):
            row = (o * cells + n) * inner
            for i in range(i0, i1):
                k = row + i
                stage[k] = stage[k] / scale - coefficient * p[k]


#: cells per chunk of the parallel sum
CHUNK = 16384


@jit_variants
def sum_and_min_flat(p, partial_sum, partial_min, parallel):
    """``(sum(p), min(p))`` of a flat array; NaN propagates to the sum (``partial_*``: one slot per chunk)."""
    n_chunks = partial_sum.size
    for chunk in prange(n_chunks):  # prange counts in uint64 when threaded: int64(chunk), one chunk_sum_min
        first = int64(chunk) * CHUNK
        partial_sum[chunk], partial_min[chunk] = chunk_sum_min(p, first, min(p.size, first + CHUNK))
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


@jit_variants
def advance_autonomous(method, restore, p, stage, previous, factors, products, weights, tiles, set_c, set_axis, plan,
                       layout, start, cell_volume, mass0, negative_limit, conserving, mass_tolerance, saved_slot,
                       snapshots, partial_sum, partial_min, parallel):
    """Run steps ``start, start+1, ...`` of an autonomous solve in place in ``p`` (flat).

    Parameters
    ----------
    method : int
        :data:`BE`, :data:`TRBDF2` or :data:`CN`: the stages of every entry of a step's splitting schedule.
    restore : bool
        Keep the density at the start of each step in ``previous``, to hand a
        step that leaves too much negative mass back to the driver unchanged.
    p, stage, previous : (size,) arrays
        The density (updated in place) and two work arrays (``previous`` holds
        the density at the start of a TR-BDF2 step, restored if it fails).
    factors : (sets, 3, entries) array
        ``lower, pivot, sweep`` of ``I - c L_k`` for every factor set: one
        per cell, or one per position along the line when the axis's lines
        share their factors (``layout[:, 6]``).
    products : (sets, 2, size) array
        Segment products (:func:`segment_products`) for ``SEGMENTED`` axes.
    weights : (ndim, 2, faces) array
        Flux weights ``wl, wr`` of every axis (the explicit half of the
        trapezoidal stage): of every face, or of one line's faces when shared.
    tiles : (runs, entries) array
        Work tiles for :func:`_solve_tiled` (``TILE`` times the longest shared
        line of unit stride): the work units of a stage go in at most ``runs``
        contiguous runs, one per tile, and a thread takes whole runs (an index
        instead of ``numba.get_thread_id``, which a serial kernel loaded from
        the cache cannot call before numba has started its threads).
    set_c, set_axis : (sets,) arrays
        Each set's ``c`` (the stage coefficient) and axis.
    plan : (steps, entries) int array
        Factor set of each entry of each step's schedule.
    layout : (ndim, 7) int array
        ``O, N, I, kind, units, block`` of each axis (:func:`axis_layout`),
        and 1 where all its lines share one set of weights and factors.
    saved_slot : (steps,) int array
        Row of ``snapshots`` that receives the density after each step, or -1.
    parallel : bool
        Run the work units of each stage, and the chunks of the mass sum, on
        all threads (:func:`fpdiff._jit.jit_variants`).

    Returns
    -------
    (steps done, status, minimum density, largest mass drift, density)
        ``status`` is :data:`DONE`, or why the loop stopped at the step after
        the last one done: :data:`NOT_FINITE`, :data:`MASS` (``p`` is that
        step's result) or :data:`NEGATIVE` (``p`` is restored to its start
        with ``restore``). The density array comes last: TR-BDF2 and CN swap
        ``p`` and ``stage``, so the result may live in either.
    """
    g = 2.0 - math.sqrt(2.0)
    denominator = g * (2.0 - g)
    coefficient = (1.0 - g) ** 2 / denominator
    low_seen = math.inf
    drift_seen = 0.0
    trapezoidal = method != BE
    bdf2 = method == TRBDF2
    # one trapezoidal entry per step (1-D): the step leaves its start intact in `stage`, no copy needed
    swap_back = trapezoidal and plan.shape[1] == 1
    for step in range(start, plan.shape[0]):
        if restore and not swap_back:
            for k in range(p.size):  # plain loops: array expressions would start threads here
                previous[k] = p[k]
        for entry in range(plan.shape[1]):
            q = plan[step, entry]
            axis = set_axis[q]
            n_outer, n_cells, n_inner, kind, units, block = (layout[axis, 0], layout[axis, 1], layout[axis, 2],
                                                             layout[axis, 3], layout[axis, 4], layout[axis, 5])
            shared = layout[axis, 6] != 0
            lower, pivot, sweep = factors[q, 0], factors[q, 1], factors[q, 2]
            forward, backward = products[q, 0], products[q, 1]
            wl, wr = weights[axis, 0], weights[axis, 1]
            c = set_c[q]
            # implicit: (I - c L) p_new = p in place.  Trapezoidal: (I - c L) p* = (I + c L) p into `stage`;
            # TR-BDF2 then (I - c L) p' = (p* - (1-g)^2 p) / (g (2-g)), again into `stage`
            target = stage if trapezoidal else p
            solves = 2 if bdf2 else 1
            # the units in contiguous runs, one per tile (a thread's share, as prange would deal them out)
            runs = min(units, tiles.shape[0])
            for run in prange(runs):
                run = int64(run)  # prange counts in uint64 when threaded: one compiled variant of the callees
                work = tiles[run]
                for unit in range(run * units // runs, (run + 1) * units // runs):
                    if trapezoidal:
                        _explicit_unit(wl, wr, c, p, stage, n_outer, n_cells, n_inner, kind, unit, block, shared)
                    for solve in range(solves):  # one call site of the solve: it is compiled in once
                        if solve == 1:
                            _bdf2_rhs_unit(stage, p, denominator, coefficient, n_outer, n_cells, n_inner, kind,
                                           unit, block)
                        _solve_unit(lower, pivot, sweep, forward, backward, target, n_outer, n_cells, n_inner,
                                    kind, unit, block, shared, work)
            if trapezoidal:  # the stage's result is in `stage`
                p, stage = stage, p
        n_chunks = partial_sum.size
        for chunk in prange(n_chunks):
            first = int64(chunk) * CHUNK
            partial_sum[chunk], partial_min[chunk] = chunk_sum_min(p, first, min(p.size, first + CHUNK))
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
