r"""Numba kernels of the compiled reverse loop: every step of a gamma-family reverse solve in one call.

The reverse drift :math:`a(x, t) = \beta(t) x + w(t) s(x, t)` changes with
time, so the operator :math:`L_k` of each axis is rebuilt at every stage
time: face drift, Scharfetter–Gummel weights, LU factors. Here that happens
inside the time loop, per work unit of lines (the units of
:mod:`fpdiff.fv._fused`): a unit evaluates the score on its own faces, forms
their weights, takes its explicit stage, factorises its lines and solves
them, while the data are in cache, and no Python runs between stages.

The score is data: a Gaussian mixture (or the training points of an
empirical score, a mixture with covariances :math:`v_t I`) whose noised
parameters at every stage time are tabulated before the loop
(:meth:`fpdiff.scores.base.CompiledScore.tables`), evaluated on blocks of
face centres by the passes of :mod:`fpdiff.scores._kernels` or, with
diagonal precisions in two or more dimensions, through its separable tables
(:func:`separable_tables`); or a table, whose face values at its own times
are interpolated linearly in time. The Bernoulli function of the weights is
branch-free (:func:`_sg_weights`), so that loop vectorises. A single long
line (1-D) is factorised and solved in pieces side by side
(:func:`_factor_solve_pieces`).

A step that fails a check (non-finite, negative mass beyond the limit, mass
drift) is restored and handed back: the stepper loop then takes it, halving
it in compiled one-step loops where it undershoots (``ReverseLoop.step``),
and raises the errors the solvers document.
"""

import math

import numpy as np
from numba import int64, prange, uint64

from .._jit import jit, jit_variants
from .._vmath import inline, vexp
from ..scores._kernels import BLOCK, MIXTURE, TABULATED, _open_block, denoise_passes, mixture_passes
from ._fused import (
    BE,
    BLOCKED,
    CHUNK,
    SEGMENTED,
    SEGMENTS,
    DONE,
    NEGATIVE,
    TRBDF2,
    _bdf2_rhs_unit,
    _explicit_unit,
    _negative_sum,
    _unit_range,
)
from ._kernels import bernoulli_pair, chunk_sum_min

#: below this :math:`|z|` the Bernoulli function is its Taylor series to :math:`z^{10}` (next term < 4e-17)
SERIES = 0.25


@jit(contract=True)
def _sg_weights(drift, count, diffusion, h, wl, wr):
    r"""Interior Scharfetter–Gummel weights ``wl[:count]``, ``wr[:count]`` of the face drifts ``drift[:count]``.

    :math:`B(-|z|) = |z|/(1 - e^{-|z|})`, by its Taylor series near 0, and
    :math:`B(|z|) = B(-|z|)\,e^{-|z|}`; every choice is a select of values
    already computed, so the loop has no branch and vectorises.
    """
    if diffusion > 0.0:
        scale = diffusion / (h * h)
        inverse = h / diffusion
        for m in range(count):
            z = drift[m] * inverse
            size = abs(z)
            e = vexp(-size)
            s2 = size * size
            series = 1.0 + 0.5 * size + s2 * (1.0 / 12.0 + s2 * (-1.0 / 720.0 + s2 * (
                1.0 / 30240.0 + s2 * (-1.0 / 1209600.0 + s2 * (1.0 / 47900160.0)))))
            quotient = size / (1.0 - e)
            large = series if size < SERIES else quotient
            small = large * e
            wl[m] = scale * (large if z > 0.0 else small)
            wr[m] = scale * (small if z > 0.0 else large)
    else:  # pure transport: upwind
        for m in range(count):
            wl[m] = max(drift[m], 0.0) / h
            wr[m] = max(-drift[m], 0.0) / h


@jit
def _boundary_face(drift, f, diffusion, h, absorbing, wl, wr):
    """The weights of boundary face ``f``: none (no flux), or with the density zero on an absorbing face
    half a cell from the first centre (as :func:`fpdiff.fv._kernels.sg_weights`)."""
    if not absorbing:
        wl[f] = 0.0
        wr[f] = 0.0
    elif diffusion > 0.0:
        distance = 0.5 * h
        b_plus, b_minus = bernoulli_pair(drift[f] * distance / diffusion)
        scale = diffusion / (distance * h)
        wl[f] = scale * b_minus
        wr[f] = scale * b_plus


@jit
def _component(kind, j, k, d, log_coefficients, centres, centre_rows, precisions, alpha, variance):
    """``(log coefficient, centre, precision)`` of component ``k`` along axis ``d`` at stage time ``j`` of a
    mixture with diagonal precisions, or of training point ``k`` (the mixture of weights 1/n, variance v)."""
    if kind == MIXTURE:
        return log_coefficients[j, k], centres[centre_rows[j], k, d], precisions[j, k, d, d]
    return 0.0, alpha[j] * centres[0, k, d], 1.0 / variance[j]


@jit
def separable_tables(kind, axis, j, slot, log_coefficients, centres, centre_rows, precisions, alpha, variance,
                     edges, cell_centres, layout, face_weight, face_score, cross, factor):
    r"""The factors of the score on the faces of ``axis`` at stage time ``j``, into table slot ``slot``.

    With diagonal precisions the log-weight of component :math:`k` is a sum
    over axes, :math:`\ell_k(x) = c_k - \sum_d \tfrac12 P_{kd} (x_d - \mu_{kd})^2`,
    so on a face with coordinate :math:`x_a` along the axis and cell index
    :math:`q` across it

    .. math::  e^{\ell_k(x)} \propto A_k(x_a)\, W_k(q), \qquad
               s_a(x) = \frac{\sum_k A_k G_k W_k}{\sum_k A_k W_k}, \quad G_k = -P_{ka}(x_a - \mu_{ka}),

    with each one-axis factor shifted by its largest value over :math:`k`
    (the common factor cancels in the ratio): ``face_weight`` :math:`A`,
    ``face_score`` :math:`A G` (K, faces along the axis) and ``cross``
    :math:`W` (K, cells across). The score then costs 2K multiply-adds per
    face instead of K exponentials (:func:`_separable_rows`).
    """
    n_components = face_weight.shape[1]
    n_outer, n_cells, n_inner = layout[axis, 0], layout[axis, 1], layout[axis, 2]
    args = (log_coefficients, centres, centre_rows, precisions, alpha, variance)
    for f in range(n_cells + 1):
        x = edges[axis, f]
        largest = -math.inf
        for k in range(n_components):
            constant, centre, precision = _component(kind, j, k, axis, *args)
            largest = max(largest, constant - 0.5 * precision * (x - centre) ** 2)
        for k in range(n_components):
            constant, centre, precision = _component(kind, j, k, axis, *args)
            value = math.exp(constant - 0.5 * precision * (x - centre) ** 2 - largest)
            face_weight[slot, k, f] = value
            face_score[slot, k, f] = -precision * (x - centre) * value
    across = n_outer * n_inner
    for k in range(n_components):
        for q in range(across):
            cross[slot, k, q] = 1.0
    stride = across
    for d in range(layout.shape[0]):  # the axes across, in C order: cell q has index (q // stride) % N_d on d
        if d == axis:
            continue
        size = layout[d, 1]
        stride //= size
        for c in range(size):
            x = cell_centres[d, c]
            largest = -math.inf
            for k in range(n_components):
                _, centre, precision = _component(kind, j, k, d, *args)
                largest = max(largest, -0.5 * precision * (x - centre) ** 2)
            for k in range(n_components):
                _, centre, precision = _component(kind, j, k, d, *args)
                factor[k, c] = math.exp(-0.5 * precision * (x - centre) ** 2 - largest)
        for k in range(n_components):
            for q in range(across):
                cross[slot, k, q] *= factor[k, (q // stride) % size]


#: a separable score's total below this (every component's factors far apart) is recomputed directly
TINY = 1e-280


@jit(contract=True)
def _separable_rows(face_weight, face_score, cross, slot, f, q0, count, along, total, numerator):
    """``total[m]``, ``numerator[m]``: the sums of :func:`separable_tables` on ``count`` faces, either one face
    position ``f`` and cells ``q0..q0+count`` across (``along`` false), or one cell ``q0`` across and face
    positions ``f..f+count`` (``along`` true). Returns the smallest total."""
    for m in range(count):
        total[m] = 0.0
        numerator[m] = 0.0
    for k in range(face_weight.shape[1]):
        if along:
            w = cross[slot, k, q0]
            weights = face_weight[slot, k, f:f + count]
            scores = face_score[slot, k, f:f + count]
            for m in range(count):
                total[m] += weights[m] * w
                numerator[m] += scores[m] * w
        else:
            a, b = face_weight[slot, k, f], face_score[slot, k, f]
            across = cross[slot, k, q0:q0 + count]
            for m in range(count):
                total[m] += a * across[m]
                numerator[m] += b * across[m]
    smallest = math.inf
    for m in range(count):
        smallest = min(smallest, total[m])
    return smallest


@jit
def _direct_rows(kind, rows, work, axis, lo, hi, j, log_coefficients, centres, centre_rows, precisions, alpha,
                 variance, beta, weight, drift):
    """Face drift :math:`\\beta x_k + w s_k` on face rows ``lo..hi`` (centres ``rows``) at stage time ``j``,
    the score evaluated pointwise by the passes of :mod:`fpdiff.scores._kernels` on blocks of rows, read
    off the block's scratch ``work`` (no transposing back)."""
    dim = rows.shape[1]
    if kind == MIXTURE:  # scratch rows: x (d), x - mu (d), sums (d), largest, total: s = sums / total
        ratio_row, total_row = 2 * dim, 3 * dim + 1
        from_x, from_ratio = beta[j], weight[j]
    else:  # EMPIRICAL, rows x (d), sums (d), largest, total: xhat0 = sums / total, s = (alpha xhat0 - x) / v
        ratio_row, total_row = dim, 2 * dim + 1
        from_x, from_ratio = beta[j] - weight[j] / variance[j], weight[j] * alpha[j] / variance[j]
    for b0 in range(lo, hi, BLOCK):
        b1 = min(hi, b0 + BLOCK)
        count = b1 - b0
        _open_block(rows, b0, b1, work, ratio_row, total_row - 1, total_row)
        if kind == MIXTURE:
            mixture_passes(work, count, log_coefficients[j], centres[centre_rows[j]], precisions[j])
        else:
            denoise_passes(work, count, centres[0], alpha[j], variance[j])
        out = drift[b0:b1]
        for m in range(count):
            out[m] = from_x * work[axis, m] + from_ratio * (work[ratio_row + axis, m] / work[total_row, m])


@jit
def _face_rows(kind, rows, work, axis, lo, hi, j, slot, separable, f, q0, along, tables, log_coefficients, centres,
               centre_rows, precisions, alpha, variance, beta, weight, diffusion, h, edges, drift, wl, wr):
    """Drift and interior weights of the faces ``lo..hi``: face position ``f`` and cells ``q0..`` across, or
    (``along``) face positions ``f..`` of cell ``q0`` across; by the separable tables in ``slot`` where they
    serve (:func:`separable_tables`), else directly."""
    count = hi - lo
    face_weight, face_score, cross, slices, slice_rows, slice_weights, total, numerator = tables
    out = drift[lo:hi]
    b, w = beta[j], weight[j]
    x = edges[axis, f:f + (count if along else 1)]  # the face coordinates (one when it is the same for all)
    direct = kind != TABULATED and not separable
    if kind == TABULATED:  # the slices' face values, linear in time between them
        late = slice_weights[j]
        first = slices[slice_rows[j, 0], axis, lo:hi]
        second = slices[slice_rows[j, 1], axis, lo:hi]
        for m in range(count):
            out[m] = b * x[m if along else 0] + w * ((1.0 - late) * first[m] + late * second[m])
    elif separable:
        direct = _separable_rows(face_weight, face_score, cross, slot, f, q0, count, along, total, numerator) < TINY
    if direct:
        _direct_rows(kind, rows, work, axis, lo, hi, j, log_coefficients, centres, centre_rows, precisions, alpha,
                     variance, beta, weight, drift)
    elif separable:
        for m in range(count):
            out[m] = b * x[m if along else 0] + w * (numerator[m] / total[m])
    _sg_weights(drift[lo:hi], count, diffusion[j], h, wl[lo:hi], wr[lo:hi])


@jit
def _unit_weights(kind, points, drift, dim, axis, j, slot, separable, tables, log_coefficients, centres,
                  centre_rows, precisions, alpha, variance, beta, weight, diffusion, h, edges, absorbing_lo,
                  absorbing_hi, wl, wr, n_outer, n_cells, n_inner, layout_kind, unit, block):
    """Weights ``wl, wr`` of the faces of one work unit's lines at stage time ``j`` (face centres ``points``;
    separable tables in ``slot``)."""
    o0, o1, i0, i1 = _unit_range(layout_kind, unit, n_outer, n_inner, block)
    n_faces = n_cells + 1
    rows = points.reshape((points.size // dim, dim))
    work = np.empty((3 * dim + 3, BLOCK))  # the score block's scratch, once per unit
    sums = np.empty((2, n_faces if layout_kind != BLOCKED else i1 - i0))  # the separable sums, once per unit
    tables = (*tables, sums[0], sums[1])
    args = (log_coefficients, centres, centre_rows, precisions, alpha, variance, beta, weight, diffusion, h, edges,
            drift, wl, wr)
    blocked = layout_kind == BLOCKED
    for r in range((o1 - o0) * n_faces if blocked else o1 - o0):  # the unit's face rows (lines when I = 1)
        if blocked:  # face position f of line block (o, i0:i1)
            o, f = o0 + r // n_faces, r % n_faces
            row = (o * n_faces + f) * n_inner
            lo, hi, q0 = row + i0, row + i1, o * n_inner + i0
        else:  # every face of line o
            o, f = o0 + r, 0
            lo, hi, q0 = o * n_faces, (o + 1) * n_faces, o
        _face_rows(kind, rows, work, axis, lo, hi, j, slot, separable, f, q0, not blocked, tables, *args)
    for o in range(o0, o1):
        for i in range(i0, i1):
            _boundary_face(drift, o * n_faces * n_inner + i, diffusion[j], h, absorbing_lo, wl, wr)
            _boundary_face(drift, (o * n_faces + n_cells) * n_inner + i, diffusion[j], h, absorbing_hi, wl, wr)


@jit
def _factor_solve_block(wl, wr, c, x, sweep, o, i0, i1):
    """``x <- (I - c L)^{-1} x`` on lines ``(o, :, i0:i1)``: the LU factors of
    :func:`fpdiff.fv._kernels.factor_lines` computed in the sweep that uses them (only ``sweep`` is kept, for
    the back substitution), the same arithmetic as factoring and then substituting."""
    o, i0, i1 = uint64(o), uint64(i0), uint64(i1)  # see fpdiff.fv._kernels._substitute_block
    one = uint64(1)
    n_cells = uint64(x.shape[1])
    for i in range(i0, i1):
        pivot = 1.0 / (1.0 + c * (wr[o, 0, i] + wl[o, 1, i]))
        sweep[o, 0, i] = -c * wr[o, 1, i] * pivot
        x[o, 0, i] *= pivot
    for n in range(one, n_cells):
        for i in range(i0, i1):
            low = -c * wl[o, n, i]
            pivot = 1.0 / (1.0 + c * (wr[o, n, i] + wl[o, n + one, i]) - low * sweep[o, n - one, i])
            sweep[o, n, i] = -c * wr[o, n + one, i] * pivot
            x[o, n, i] = (x[o, n, i] - low * x[o, n - one, i]) * pivot
    for m in range(one, n_cells):
        n = n_cells - one - m
        for i in range(i0, i1):
            x[o, n, i] -= sweep[o, n, i] * x[o, n + one, i]


@jit
def _factor_solve_group(wl, wr, c, x, sweep, o0, o1):
    """:func:`_factor_solve_block` for lines ``o0:o1`` of unit stride, in lockstep (their recurrences
    interleave, hiding each one's latency)."""
    o0, o1 = uint64(o0), uint64(o1)
    one = uint64(1)
    n_cells = uint64(x.shape[1])
    for o in range(o0, o1):
        pivot = 1.0 / (1.0 + c * (wr[o, 0, 0] + wl[o, 1, 0]))
        sweep[o, 0, 0] = -c * wr[o, 1, 0] * pivot
        x[o, 0, 0] *= pivot
    for n in range(one, n_cells):
        for o in range(o0, o1):
            low = -c * wl[o, n, 0]
            pivot = 1.0 / (1.0 + c * (wr[o, n, 0] + wl[o, n + one, 0]) - low * sweep[o, n - one, 0])
            sweep[o, n, 0] = -c * wr[o, n + one, 0] * pivot
            x[o, n, 0] = (x[o, n, 0] - low * x[o, n - one, 0]) * pivot
    for m in range(one, n_cells):
        n = n_cells - one - m
        for o in range(o0, o1):
            x[o, n, 0] -= sweep[o, n, 0] * x[o, n + one, 0]


@inline
def _eliminate_row(wl, wr, c, x, sweep, v, w, n):
    """Row ``n`` (not a piece's first) of the forward elimination of :func:`_factor_solve_pieces`: its pivot
    into ``w`` (W's value if it is the piece's end row), ``sweep``, and ``x`` and ``v`` substituted."""
    one = uint64(1)
    low = -c * wl[n]
    pivot = 1.0 / (1.0 + c * (wr[n] + wl[n + one]) - low * sweep[n - one])
    sweep[n] = -c * wr[n + one] * pivot
    x[n] = (x[n] - low * x[n - one]) * pivot
    v[n] = -low * v[n - one] * pivot
    w[n] = pivot


@jit
def _factor_solve_pieces(wl, wr, c, x, sweep, n_cells):
    r"""``x <- (I - c L)^{-1} x`` on one long line, cut into :data:`SEGMENTS` pieces that are factorised and
    solved in lockstep (a partition method: Sameh & Kuck, *J. ACM* 25, 81-91, 1978, the SPIKE algorithm).

    With rows :math:`\ell_n x_{n-1} + d_n x_n + u_n x_{n+1} = r_n`, piece :math:`s` (rows
    :math:`a..b-1`) solves its own rows, without the two couplings to its neighbours, for the right-hand
    side and for the unit vectors of its ends: :math:`A_s y = r`, :math:`A_s V = e_a`,
    :math:`A_s W = e_{b-1}`. Then

    .. math::  x_n = y_n - \ell_a V_n\, x_{a-1} - u_{b-1} W_n\, x_b,

    where the values next to every piece follow from the equations of the pieces' end rows, eliminated in
    one sweep over the pieces. One Thomas sweep waits on each row's division in turn; the pieces' sweeps,
    side by side, hide each other's latency. For the M-matrices here :math:`\ell, u \le 0` and
    :math:`V, W \ge 0`, and so are :math:`y \ge 0` and :math:`x \ge 0` for a non-negative right-hand
    side: every term is non-negative, with no cancellation.
    """
    one = uint64(1)
    pieces = uint64(SEGMENTS)
    size = uint64(n_cells)
    length = size // pieces  # the last piece also takes the remainder
    tail = pieces * length
    spikes = np.empty((2, n_cells))
    v, w = spikes[0], spikes[1]
    for s in range(pieces):  # the first row of every piece: no coupling to the row before
        n = s * length
        pivot = 1.0 / (1.0 + c * (wr[n] + wl[n + one]))
        sweep[n] = -c * wr[n + one] * pivot
        x[n] *= pivot
        v[n] = pivot
    for k in range(one, length):  # forward elimination, the pieces side by side; W's pivot at each end row
        for s in range(pieces):
            _eliminate_row(wl, wr, c, x, sweep, v, w, s * length + k)
    for n in range(tail, size):  # the last piece's remainder
        _eliminate_row(wl, wr, c, x, sweep, v, w, n)
    # back substitution: W = e_{b-1} solved is the end row's pivot times the products of -sweep above it
    for m in range(one, size - tail + one):  # the last piece's remainder first
        n = size - one - m
        x[n] -= sweep[n] * x[n + one]
        v[n] -= sweep[n] * v[n + one]
        w[n] = -sweep[n] * w[n + one]
    for k in range(one, length):
        for s in range(pieces):
            n = (s + one) * length - one - k
            x[n] -= sweep[n] * x[n + one]
            v[n] -= sweep[n] * v[n + one]
            w[n] = -sweep[n] * w[n + one]
    # the end rows: F_s = x at a piece's first row, L_s at its last; L_{s-1} = P_{s-1} + Q_{s-1} F_s carries
    # the elimination forward, F_s = G_s + H_s F_{s+1} back
    count = SEGMENTS
    span = n_cells // count
    gains = np.zeros((4, count + 1))  # G, H, P, Q; column s + 1 for piece s (column 0: no piece before)
    couplings = np.zeros((2, count))  # l_a x_{a-1} and u_{b-1} x_b of each piece
    for s in range(count):
        first = s * span
        last = n_cells - 1 if s == count - 1 else first + span - 1
        lower = -c * wl[first] if s > 0 else 0.0
        upper = -c * wr[last + 1] if s < count - 1 else 0.0
        couplings[0, s], couplings[1, s] = lower, upper
        p_before, q_before = gains[2, s], gains[3, s]
        scale = 1.0 / (1.0 + lower * v[first] * q_before)
        g = (x[first] - lower * v[first] * p_before) * scale
        h = -upper * w[first] * scale
        gains[0, s + 1], gains[1, s + 1] = g, h
        gains[2, s + 1] = x[last] - lower * v[last] * (p_before + q_before * g)
        gains[3, s + 1] = -lower * v[last] * q_before * h - upper * w[last]
    following = 0.0  # F_{s+1}, from the last piece down
    for s in range(count - 1, -1, -1):
        couplings[1, s] *= following  # u_{b-1} x_b
        if s + 1 < count:  # L_s = P_s + Q_s F_{s+1} is the value just before piece s + 1
            couplings[0, s + 1] *= gains[2, s + 1] + gains[3, s + 1] * following
        following = gains[0, s + 1] + gains[1, s + 1] * following  # F_s
    for k in range(length):
        for s in range(pieces):
            n = s * length + k
            x[n] -= couplings[0, s] * v[n] + couplings[1, s] * w[n]
    for n in range(tail, size):
        x[n] -= couplings[0, count - 1] * v[n]


@jit
def _factor_solve_unit(wl, wr, c, x, sweep, n_outer, n_cells, n_inner, layout_kind, unit, block):
    """``x <- (I - c L)^{-1} x`` on one work unit's lines (flat arrays)."""
    if layout_kind == SEGMENTED:
        _factor_solve_pieces(wl, wr, c, x, sweep, n_cells)
        return
    o0, o1, i0, i1 = _unit_range(layout_kind, unit, n_outer, n_inner, block)
    faces = (n_outer, n_cells + 1, n_inner)
    cells = (n_outer, n_cells, n_inner)
    wl, wr, x, sweep = wl.reshape(faces), wr.reshape(faces), x.reshape(cells), sweep.reshape(cells)
    if layout_kind == BLOCKED:
        for o in range(o0, o1):
            _factor_solve_block(wl, wr, c, x, sweep, o, i0, i1)
    else:
        _factor_solve_group(wl, wr, c, x, sweep, o0, o1)


@jit
def _entry_unit(method, kind, points, values, dim, axis, j0, j_solve, j1, need_start, c, separable, tables,
                log_coefficients, centres, centre_rows, precisions, alpha, variance, beta, weight, diffusion, h,
                edges, absorbing_lo, absorbing_hi, start_wl, start_wr, other_wl, other_wr, p, stage, sweep,
                denominator, coefficient, n_outer, n_cells, n_inner, layout_kind, unit, block):
    """One entry of a step's splitting schedule on one work unit: weights, explicit stage, factors, solves.

    Backward Euler solves ``p`` in place with the weights at ``j1`` (into
    ``other``). The trapezoidal stage takes ``stage = p + c L(j0) p`` with the
    start weights (computed first when ``need_start``), solves with the
    weights at ``j_solve`` (into ``other``); TR-BDF2 then puts the weights at
    ``j1`` into the start slot (the unit's own faces only, read by no other
    unit) and solves its BDF2 stage with them. Separable tables: slot 0 for
    ``j0``, 1 for ``j_solve``, 2 for ``j1`` (``j_solve = j1`` but in TR-BDF2).
    """
    geometry = (n_outer, n_cells, n_inner, layout_kind, unit, block)
    score = (log_coefficients, centres, centre_rows, precisions, alpha, variance, beta, weight, diffusion, h, edges,
             absorbing_lo, absorbing_hi)
    # one call of each kernel in a loop over the phases (compiling a call site costs more than the loop)
    for phase in range(3):  # 0: the start weights, 1: the (first) solve, 2: TR-BDF2's BDF2 solve
        if phase == 0 and (method == BE or not need_start):
            continue
        if phase == 2 and method != TRBDF2:
            break
        if phase == 1 and method != BE:
            _explicit_unit(start_wl, start_wr, c, p, stage, n_outer, n_cells, n_inner, layout_kind, unit, block,
                           False)
        if phase == 1:
            j, slot, wl, wr = (j1 if method == BE else j_solve), (1 if method == TRBDF2 else 2), other_wl, other_wr
        else:
            j, slot, wl, wr = (j0, 0, start_wl, start_wr) if phase == 0 else (j1, 2, start_wl, start_wr)
        _unit_weights(kind, points, values, dim, axis, j, slot, separable, tables, *score, wl, wr, *geometry)
        if phase == 0:
            continue
        if phase == 2:
            _bdf2_rhs_unit(stage, p, denominator, coefficient, n_outer, n_cells, n_inner, layout_kind, unit, block)
        _factor_solve_unit(wl, wr, c, p if method == BE else stage, sweep, *geometry)


@jit_variants
def advance_reverse(method, kind, p, stage, previous, weights, held, current, sweep, values, face_points,
                    separable, face_weight, face_score, cross, factor, edges, cell_centres, slices, slice_rows,
                    slice_weights, plan_axis, plan_times,
                    plan_c, layout, spacing, absorbing, log_coefficients, centres, centre_rows, precisions, alpha,
                    variance, beta, weight, diffusion, start, cell_volume, mass0, negative_limit, conserving,
                    mass_tolerance, saved_slot, snapshots, partial_sum, partial_min, parallel):
    """Run steps ``start, start+1, ...`` of a reverse solve on the flat density ``p``.

    Parameters
    ----------
    method : int
        ``BE``, ``TRBDF2`` or ``CN`` (:mod:`fpdiff.fv._fused`).
    kind : int
        ``MIXTURE``, ``EMPIRICAL`` or ``TABULATED`` (:mod:`fpdiff.scores._kernels`).
    p, stage, previous : (size,) arrays
        The density and two work arrays (``previous``: the step's start).
    weights : (ndim, 2, 2, faces) array
        Two slots of ``wl, wr`` per axis; ``held[axis]`` is the stage time
        whose weights slot ``current[axis]`` holds (-1: none), so an axis's
        weights at the end of one entry serve the start of its next.
    sweep : (size,) array
        The upper factor of the line solves in progress.
    values, face_points : (ndim, faces) and (ndim, faces * ndim) arrays
        The face drifts of the stage in progress, and the centres of each
        axis's faces (rows of ``ndim``).
    separable : bool
        Evaluate the score through :func:`separable_tables` (diagonal
        precisions, two or more axes), whose arrays follow: ``face_weight``,
        ``face_score`` (3, K, faces along), ``cross`` (3, K, cells across),
        ``factor`` (K, cells along an axis); ``edges`` and ``cell_centres``
        (ndim, cells + 1) are the grid's face and cell coordinates.
    slices, slice_rows, slice_weights : (n_t, ndim, faces), (times, 2), (times,) arrays
        A tabulated score: its normal component on every axis's faces at
        each of its times, and at every stage time the two slices and the
        weight of the second (``TABULATED``; empty otherwise).
    plan_axis, plan_times, plan_c : (steps, entries), (steps, entries, 3), (steps, entries)
        Each entry's axis, stage times ``(start, solve, end)`` (indices into
        the coefficient tables) and coefficient ``c``.
    layout : (ndim, 6) int array
        ``O, N, I, kind, units, block`` of each axis.
    log_coefficients, centres, centre_rows, precisions, alpha, variance
        The score's tables (``KernelScore.tables``), one row per stage time.
    beta, weight, diffusion : (times,) arrays
        :math:`\\beta(t)`, the score weight and :math:`D = g^2/2` at every stage time.

    Returns
    -------
    (steps done, status, minimum density, largest mass drift, weight evaluations, density)
        ``status`` is ``DONE`` or ``NEGATIVE``: the step after the last one
        done failed a check and ``p`` is restored to its start.
    """
    g = 2.0 - math.sqrt(2.0)
    denominator = g * (2.0 - g)
    coefficient = (1.0 - g) ** 2 / denominator
    dim = layout.shape[0]
    low_seen = math.inf
    drift_seen = 0.0
    evaluations = 0
    for step in range(start, plan_axis.shape[0]):
        for k in range(p.size):  # plain loops: array expressions would start threads here
            previous[k] = p[k]
        for entry in range(plan_axis.shape[1]):
            axis = plan_axis[step, entry]
            j0, j_solve, j1 = plan_times[step, entry, 0], plan_times[step, entry, 1], plan_times[step, entry, 2]
            c = plan_c[step, entry]
            n_outer, n_cells, n_inner, layout_kind, units, block = (layout[axis, 0], layout[axis, 1],
                                                                    layout[axis, 2], layout[axis, 3],
                                                                    layout[axis, 4], layout[axis, 5])
            n_faces = n_outer * (n_cells + 1) * n_inner
            slot = current[axis]
            need_start = method != BE and held[axis] != j0
            start_wl, start_wr = weights[axis, slot, 0, :n_faces], weights[axis, slot, 1, :n_faces]
            other_wl, other_wr = weights[axis, 1 - slot, 0, :n_faces], weights[axis, 1 - slot, 1, :n_faces]
            points = face_points[axis, :n_faces * dim]
            scratch = values[axis, :n_faces]
            h = spacing[axis]
            absorbing_lo, absorbing_hi = absorbing[axis, 0], absorbing[axis, 1]
            if separable:  # the tables of the entry's stage times, shared by its units
                table_args = (log_coefficients, centres, centre_rows, precisions, alpha, variance, edges,
                              cell_centres, layout, face_weight, face_score, cross, factor)
                for table in range(3):  # table 0: j0, 1: j_solve (TR-BDF2), 2: j1; one call site
                    if (table == 0 and need_start) or (table == 1 and method == TRBDF2) or table == 2:
                        stage_time = j0 if table == 0 else j_solve if table == 1 else j1
                        separable_tables(kind, axis, stage_time, table, *table_args)
            tables = (face_weight, face_score, cross, slices, slice_rows, slice_weights)
            for unit in prange(units):  # prange counts in uint64: int64(unit), one compiled variant
                _entry_unit(method, kind, points, scratch, dim, axis, j0, j_solve, j1, need_start, c,
                            separable, tables, log_coefficients, centres, centre_rows, precisions, alpha,
                            variance, beta, weight, diffusion, h, edges, absorbing_lo, absorbing_hi, start_wl,
                            start_wr, other_wl, other_wr, p, stage, sweep, denominator, coefficient, n_outer,
                            n_cells, n_inner, layout_kind, int64(unit), block)
            if method == BE:
                evaluations += 1
                current[axis] = 1 - slot  # the weights at j1 are in the other slot
            elif method == TRBDF2:
                evaluations += 2 + need_start
                p, stage = stage, p  # the weights at j1 replaced the start's, in the same slot
            else:
                evaluations += 1 + need_start
                current[axis] = 1 - slot
                p, stage = stage, p
            held[axis] = j1
        total, low = 0.0, math.inf
        for chunk in prange(partial_sum.size):  # the checks' sum and minimum (fpdiff.fv._fused.sum_and_min_flat)
            first = int64(chunk) * CHUNK
            partial_sum[chunk], partial_min[chunk] = chunk_sum_min(p, first, min(p.size, first + CHUNK))
        for chunk in range(partial_sum.size):
            total += partial_sum[chunk]
            low = min(low, partial_min[chunk])
        mass = total * cell_volume
        failed = not (math.isfinite(mass) and math.isfinite(low))
        if not failed and low < 0.0:
            failed = _negative_sum(p) * cell_volume > negative_limit
        drift = abs(mass - mass0) / mass0
        if not failed and conserving:
            failed = drift > mass_tolerance
        if failed:
            for k in range(p.size):
                p[k] = previous[k]
            return step - start, NEGATIVE, low_seen, drift_seen, evaluations, p
        if conserving:
            drift_seen = max(drift_seen, drift)
        low_seen = min(low_seen, low)
        if saved_slot[step] >= 0:
            for k in range(p.size):
                snapshots[saved_slot[step], k] = p[k]
    return plan_axis.shape[0] - start, DONE, low_seen, drift_seen, evaluations, p
