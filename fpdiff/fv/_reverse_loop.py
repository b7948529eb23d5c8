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
(``KernelScore.tables``); the score kernels of :mod:`fpdiff.scores._kernels`
evaluate it on blocks of face centres. The Bernoulli function of the
weights is branch-free (:func:`_weights_rows`), so that loop vectorises.

A step that fails a check (non-finite, negative mass beyond the limit, mass
drift) is restored and handed back: the Python stepper loop then takes it,
halving it where it undershoots, and raises the errors the solvers document.
"""

import math

import numpy as np
from numba import int64, prange

from .._jit import jit
from .._vmath import vexp
from ..scores._kernels import (
    BLOCK,
    MIXTURE,
    _denoise_block_2d,
    _denoise_block_general,
    _mixture_block_1d,
    _mixture_block_2d,
    _mixture_block_general,
    _open_block,
)
from ._fused import (
    BE,
    BLOCKED,
    CHUNK,
    DONE,
    NEGATIVE,
    TRBDF2,
    _bdf2_rhs_unit,
    _explicit_unit,
    _negative_sum,
    _solve_unit,
    _unit_range,
)
from ._kernels import _factor_block, _factor_group, bernoulli_pair, chunk_sum_min

#: below this :math:`|z|` the Bernoulli function is its Taylor series to :math:`z^{10}` (next term < 4e-17)
SERIES = 0.25


@jit(contract=True)
def _weights_block(work, count, axis, x_row, ratio_row, total_row, from_x, from_ratio, diffusion, h, drift, wl, wr,
                   lo):
    r"""Face drift and interior Scharfetter–Gummel weights of the ``count`` faces of a score block.

    The drift is ``from_x * x + from_ratio * work[ratio_row] / work[total_row]`` (the score's sums over its
    total, see :func:`_score_block`); it goes to ``drift[lo:]``, the weights to ``wl[lo:]``, ``wr[lo:]``.
    :math:`B(-|z|) = |z|/(1 - e^{-|z|})`, by its Taylor series near 0, and
    :math:`B(|z|) = B(-|z|)\,e^{-|z|}`; every choice is a select of values
    already computed, so the loop has no branch and vectorises.
    """
    drift = drift[lo:lo + count]  # views indexed from 0: no index wrapping (see fpdiff.fv._fused)
    wl = wl[lo:lo + count]
    wr = wr[lo:lo + count]
    if diffusion > 0.0:
        scale = diffusion / (h * h)
        inverse = h / diffusion
        for m in range(count):
            a = from_x * work[x_row + axis, m] + from_ratio * (work[ratio_row + axis, m] / work[total_row, m])
            drift[m] = a
            z = a * inverse
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
            a = from_x * work[x_row + axis, m] + from_ratio * (work[ratio_row + axis, m] / work[total_row, m])
            drift[m] = a
            wl[m] = max(a, 0.0) / h
            wr[m] = max(-a, 0.0) / h


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
def _face_rows(kind, rows, work, axis, lo, hi, j, log_coefficients, centres, centre_rows, precisions, alpha,
               variance, beta, weight, diffusion, h, drift, wl, wr):
    """Score, drift and interior weights on face rows ``lo..hi`` (centres ``rows``) at stage time ``j``.

    The score's passes are those of :mod:`fpdiff.scores._kernels` on a
    block of rows, read off the block's scratch ``work`` (no transposing back).
    """
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
            means, precision, constants = centres[centre_rows[j]], precisions[j], log_coefficients[j]
            if dim == 1:
                _mixture_block_1d(work, count, constants, means, precision)
            elif dim == 2:
                _mixture_block_2d(work, count, constants, means, precision)
            else:
                _mixture_block_general(work, dim, count, constants, means, precision)
        elif dim == 2:
            _denoise_block_2d(work, count, centres[0], alpha[j], variance[j])
        else:
            _denoise_block_general(work, dim, count, centres[0], alpha[j], variance[j])
        _weights_block(work, count, axis, 0, ratio_row, total_row, from_x, from_ratio, diffusion[j], h, drift, wl,
                       wr, b0)


@jit
def _unit_weights(kind, points, drift, dim, axis, j, log_coefficients, centres, centre_rows, precisions, alpha,
                  variance, beta, weight, diffusion, h, absorbing_lo, absorbing_hi, wl, wr, n_outer, n_cells,
                  n_inner, layout_kind, unit, block):
    """Weights ``wl, wr`` of the faces of one work unit's lines at stage time ``j`` (face centres ``points``)."""
    o0, o1, i0, i1 = _unit_range(layout_kind, unit, n_outer, n_inner, block)
    n_faces = n_cells + 1
    rows = points.reshape((points.size // dim, dim))
    work = np.empty((3 * dim + 3, BLOCK))  # the score block's scratch, once per unit
    args = (log_coefficients, centres, centre_rows, precisions, alpha, variance, beta, weight, diffusion, h, drift,
            wl, wr)
    if layout_kind == BLOCKED:
        for o in range(o0, o1):
            for f in range(n_faces):
                row = (o * n_faces + f) * n_inner
                _face_rows(kind, rows, work, axis, row + i0, row + i1, j, *args)
            for i in range(i0, i1):
                _boundary_face(drift, o * n_faces * n_inner + i, diffusion[j], h, absorbing_lo, wl, wr)
                _boundary_face(drift, (o * n_faces + n_cells) * n_inner + i, diffusion[j], h, absorbing_hi, wl, wr)
        return
    _face_rows(kind, rows, work, axis, o0 * n_faces, o1 * n_faces, j, *args)
    for o in range(o0, o1):
        _boundary_face(drift, o * n_faces, diffusion[j], h, absorbing_lo, wl, wr)
        _boundary_face(drift, o * n_faces + n_cells, diffusion[j], h, absorbing_hi, wl, wr)


@jit
def _factor_unit(wl, wr, c, lower, pivot, sweep, n_outer, n_cells, n_inner, layout_kind, unit, block):
    """LU factors of ``I - c L`` on one work unit's lines (flat arrays)."""
    o0, o1, i0, i1 = _unit_range(layout_kind, unit, n_outer, n_inner, block)
    faces = (n_outer, n_cells + 1, n_inner)
    cells = (n_outer, n_cells, n_inner)
    wl, wr = wl.reshape(faces), wr.reshape(faces)
    lower, pivot, sweep = lower.reshape(cells), pivot.reshape(cells), sweep.reshape(cells)
    if layout_kind == BLOCKED:
        for o in range(o0, o1):
            _factor_block(wl, wr, c, lower, pivot, sweep, o, i0, i1)
    else:
        _factor_group(wl, wr, c, lower, pivot, sweep, o0, o1)


@jit
def _entry_unit(method, kind, points, values, dim, axis, j0, j_solve, j1, need_start, c, log_coefficients, centres,
                centre_rows, precisions, alpha, variance, beta, weight, diffusion, h, absorbing_lo, absorbing_hi,
                start_wl, start_wr, other_wl, other_wr, p, stage, lower, pivot, sweep, dummy, denominator,
                coefficient, n_outer, n_cells, n_inner, layout_kind, unit, block):
    """One entry of a step's splitting schedule on one work unit: weights, explicit stage, factors, solves.

    Backward Euler solves ``p`` in place with the weights at ``j1`` (into
    ``other``). The trapezoidal stage takes ``stage = p + c L(j0) p`` with the
    start weights (computed first when ``need_start``), solves with the
    weights at ``j_solve`` (into ``other``); TR-BDF2 then puts the weights at
    ``j1`` into the start slot (the unit's own faces only, read by no other
    unit) and solves its BDF2 stage with them.
    """
    geometry = (n_outer, n_cells, n_inner, layout_kind, unit, block)
    score = (log_coefficients, centres, centre_rows, precisions, alpha, variance, beta, weight, diffusion, h,
             absorbing_lo, absorbing_hi)
    if method == BE:
        _unit_weights(kind, points, values, dim, axis, j1, *score, other_wl, other_wr, *geometry)
        _factor_unit(other_wl, other_wr, c, lower, pivot, sweep, *geometry)
        _solve_unit(lower, pivot, sweep, dummy, dummy, p, n_outer, n_cells, n_inner, layout_kind, unit, block,
                    False, dummy)
        return
    if need_start:
        _unit_weights(kind, points, values, dim, axis, j0, *score, start_wl, start_wr, *geometry)
    _explicit_unit(start_wl, start_wr, c, p, stage, n_outer, n_cells, n_inner, layout_kind, unit, block, False)
    _unit_weights(kind, points, values, dim, axis, j_solve, *score, other_wl, other_wr, *geometry)
    _factor_unit(other_wl, other_wr, c, lower, pivot, sweep, *geometry)
    _solve_unit(lower, pivot, sweep, dummy, dummy, stage, n_outer, n_cells, n_inner, layout_kind, unit, block, False,
                dummy)
    if method == TRBDF2:
        _unit_weights(kind, points, values, dim, axis, j1, *score, start_wl, start_wr, *geometry)
        _bdf2_rhs_unit(stage, p, denominator, coefficient, n_outer, n_cells, n_inner, layout_kind, unit, block)
        _factor_unit(start_wl, start_wr, c, lower, pivot, sweep, *geometry)
        _solve_unit(lower, pivot, sweep, dummy, dummy, stage, n_outer, n_cells, n_inner, layout_kind, unit, block,
                    False, dummy)


@jit(parallel=True)
def advance_reverse(method, kind, p, stage, previous, weights, held, current, factors, values, face_points,
                    plan_axis, plan_times, plan_c, layout, spacing, absorbing, log_coefficients, centres,
                    centre_rows, precisions, alpha, variance, beta, weight, diffusion, start, cell_volume, mass0,
                    negative_limit, conserving, mass_tolerance, saved_slot, snapshots, partial_sum, partial_min,
                    parallel):
    """Run steps ``start, start+1, ...`` of a reverse solve on the flat density ``p``.

    Parameters
    ----------
    method : int
        ``BE``, ``TRBDF2`` or ``CN`` (:mod:`fpdiff.fv._fused`).
    kind : int
        ``MIXTURE`` or ``EMPIRICAL`` (:mod:`fpdiff.scores._kernels`).
    p, stage, previous : (size,) arrays
        The density and two work arrays (``previous``: the step's start).
    weights : (ndim, 2, 2, faces) array
        Two slots of ``wl, wr`` per axis; ``held[axis]`` is the stage time
        whose weights slot ``current[axis]`` holds (-1: none), so an axis's
        weights at the end of one entry serve the start of its next.
    factors : (3, size) array
        ``lower, pivot, sweep`` of the solve in progress.
    values, face_points : (ndim, faces) and (ndim, faces * ndim) arrays
        The face drifts of the stage in progress, and the centres of each
        axis's faces (rows of ``ndim``).
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
    dummy = np.empty(1)
    low_seen = math.inf
    drift_seen = 0.0
    evaluations = 0
    lower, pivot, sweep = factors[0], factors[1], factors[2]
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
            if parallel:
                for unit in prange(units):  # prange counts in uint64: int64(unit), one compiled variant
                    _entry_unit(method, kind, points, scratch, dim, axis, j0, j_solve, j1, need_start, c,
                                log_coefficients, centres, centre_rows, precisions, alpha, variance, beta, weight,
                                diffusion, h, absorbing_lo, absorbing_hi, start_wl, start_wr, other_wl, other_wr, p,
                                stage, lower, pivot, sweep, dummy, denominator, coefficient, n_outer, n_cells,
                                n_inner, layout_kind, int64(unit), block)
            else:
                for unit in range(units):
                    _entry_unit(method, kind, points, scratch, dim, axis, j0, j_solve, j1, need_start, c,
                                log_coefficients, centres, centre_rows, precisions, alpha, variance, beta, weight,
                                diffusion, h, absorbing_lo, absorbing_hi, start_wl, start_wr, other_wl, other_wr, p,
                                stage, lower, pivot, sweep, dummy, denominator, coefficient, n_outer, n_cells,
                                n_inner, layout_kind, unit, block)
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
        total = 0.0
        low = math.inf
        n_chunks = partial_sum.size
        if parallel:
            for chunk in prange(n_chunks):
                first = int64(chunk) * CHUNK
                partial_sum[chunk], partial_min[chunk] = chunk_sum_min(p, first, min(p.size, first + CHUNK))
        else:
            for chunk in range(n_chunks):
                partial_sum[chunk], partial_min[chunk] = chunk_sum_min(p, chunk * CHUNK,
                                                                        min(p.size, (chunk + 1) * CHUNK))
        for chunk in range(n_chunks):
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
