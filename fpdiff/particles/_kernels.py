r"""Numba kernels of the sample view: one call advances every particle by one stage.

A score enters as data, never as a Python callable (see ``STYLE.md``): a kind
code and parameter arrays computed in Python for the time at hand,

- ``MIXTURE``: the evolved Gaussian mixture
  :math:`p_t = \sum_k w_k N(\mu_k(t), C_k(t))` as ``log_coefficients``
  :math:`c_k = \log w_k - \tfrac12\log\det(2\pi C_k)`, ``centres`` :math:`\mu_k(t)`
  and ``precisions`` :math:`P_k = C_k^{-1}`; its score is
  :math:`s = \sum_k r_k g_k`, :math:`g_k = -P_k(x - \mu_k)`, :math:`r = \mathrm{softmax}(\ell)`,
  :math:`\ell_k = c_k - \tfrac12 (x-\mu_k)^T P_k (x-\mu_k)`;
- ``EMPIRICAL``: training points ``centres`` :math:`x_i` with ``alpha``
  :math:`\alpha_t` and ``variance`` :math:`v_t`; the kernel denoiser
  :math:`\hat x_0 = \sum_i \lambda_i x_i`, :math:`\lambda = \mathrm{softmax}(-|x-\alpha_t x_i|^2/2v_t)`,
  and :math:`s = (\alpha_t \hat x_0 - x)/v_t`;
- ``TABULATED``: a score table at time ``t`` (:class:`fpdiff.TabulatedScore`),
  interpolated multilinearly: ``log_coefficients`` holds the axes' node
  coordinates one after another, ``layout`` the outside policy (1: clamp to
  the box, 0: NaN outside) then the axes' lengths, ``centres`` the score at the
  nodes, shape ``(prod n_i, d)`` in C order. Its divergence is not available
  in the kernel.

Both are evaluated with a log-sum-exp shifted by each point's largest term,
so they stay exact far in the tails and for tiny :math:`v_t`.

Design for speed (issue 8): :func:`step_particles` runs one stage of a scheme
for every particle, one block of ``BLOCK`` particles at a time (a ``prange``
loop over the blocks when ``parallel``), and within a block every loop runs
*across the particles*: the normals (:func:`._random.normal_rows`, the
counter-based ziggurat's hashes in a SIMD loop, its table look-ups and rare
rejections in a scalar pass), the score (the block kernels of
:mod:`fpdiff.scores._kernels`, with the branch-free ``exp`` of
:mod:`fpdiff._vmath`) and the stage's update (one flat loop over the block's
``rows x d`` numbers), so LLVM compiles them to SIMD instructions (with FMA:
``jit(contract=True)``); a block's work arrays stay in the L1 cache between
the loops. The stage is chosen by a code (``EM``,
``EI``, ``HEUN``, ``CORRECTOR``, ``TWO_STAGE``, ``MULTISTEP``, ``NOISE``) and its scalar coefficients, prepared in
Python by :mod:`fpdiff.particles.schemes`, whose numpy functions
(:func:`fpdiff.particles.schemes.reference_stage`) are the specification.
Particle ``m`` of a call is global particle ``first + m``; its normals come
from the counter-based generator (:mod:`._random`), so the result does not
depend on threads or batches. Each stage returns the number of particles that
became non-finite.

:func:`advance_particles` runs a whole run in one call for the scores whose
data can be tabulated for every time up front (mixtures, training points):
blocks outer, stages inner, so a block takes every step while it sits in the
cache, with no Python and no thread start between steps (24–31% faster than
one call per stage at 10^5–10^6 particles), and the same arithmetic per
particle, so the same result bit for bit.

Compile time (issue 20, the cold start of ``sample_reverse``): numba
optimises each kernel together with every kernel it calls, inlined, so a
kernel's compile time grows with the copies of its callees. The fused path
therefore keeps one call site per large callee (:func:`_stage_rows`), is
serial and runs on Python threads over ranges of blocks (:func:`on_threads`;
with a ``prange`` loop its own compile took 2.8x as long), and specialises
on the score's kind (``numba.literally``, :func:`score_rows`), so a mixture
run compiles neither the training points' nor the table's kernel.

:func:`score_divergence` evaluates the score and, for the likelihood, its
divergence (derivation in :mod:`fpdiff.particles.likelihood`).
"""

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import int64, prange
from numba.extending import overload

from .._jit import jit
from .._vmath import inline
from ..scores._kernels import (EMPIRICAL, MIXTURE, TABULATED, _denoise_block, _denoise_point, _mixture_score_block,
                               _mixture_score_rows, _table_rows)
from ._random import BLOCK, normal_rows

#: stage codes
EM, EI, HEUN, CORRECTOR, TWO_STAGE, MULTISTEP, NOISE = 0, 1, 2, 3, 4, 5, 6


# ---------------------------------------------------------------- the scores


@jit(contract=True)
def _empirical_rows(y, lo, hi, points, alpha, variance, out):
    r"""The score of training points at rows ``lo..hi-1``: :math:`(\alpha_t \hat x_0 - x)/v_t`."""
    _denoise_block(y, lo, hi, points, alpha, variance, out)  # out = xhat0
    dim = y.shape[1]
    rows_y = y.reshape(y.size)[lo * dim:hi * dim]
    rows_out = out.reshape(out.size)[lo * dim:hi * dim]
    inverse = 1.0 / variance
    for j in range(rows_y.size):
        rows_out[j] = (alpha * rows_out[j] - rows_y[j]) * inverse


def score_rows(kind, y, lo, hi, log_coefficients, centres, precisions, alpha, variance, layout, out):
    """Score at rows ``lo..hi-1`` of ``y`` into the same rows of ``out`` (distinct arrays); compiled code only.

    A numba overload (:func:`_score_rows_for`): where ``kind`` is a compile-time
    constant (:func:`advance_particles` asks for it with ``numba.literally``),
    only that kind's kernel is compiled in, not the other two (a cold start
    compiles about 30% less); a ``kind`` known only at run time gets all three.
    """
    raise TypeError("score_rows runs inside numba kernels only")


@overload(score_rows, prefer_literal=True, inline="always")
def _score_rows_for(kind, y, lo, hi, log_coefficients, centres, precisions, alpha, variance, layout, out):
    def mixture(kind, y, lo, hi, log_coefficients, centres, precisions, alpha, variance, layout, out):
        _mixture_score_block(y, lo, hi, log_coefficients, centres, precisions, out)

    def tabulated(kind, y, lo, hi, log_coefficients, centres, precisions, alpha, variance, layout, out):
        _table_rows(y, lo, hi, log_coefficients, layout, centres, out)

    def empirical(kind, y, lo, hi, log_coefficients, centres, precisions, alpha, variance, layout, out):
        _empirical_rows(y, lo, hi, centres, alpha, variance, out)

    def any_kind(kind, y, lo, hi, log_coefficients, centres, precisions, alpha, variance, layout, out):
        if kind == MIXTURE:
            _mixture_score_block(y, lo, hi, log_coefficients, centres, precisions, out)
        elif kind == TABULATED:
            _table_rows(y, lo, hi, log_coefficients, layout, centres, out)
        else:
            _empirical_rows(y, lo, hi, centres, alpha, variance, out)

    literal = getattr(kind, "literal_value", None)
    return {MIXTURE: mixture, TABULATED: tabulated, EMPIRICAL: empirical}.get(literal, any_kind)


@jit
def _mixture_divergence_rows(y, lo, hi, log_coefficients, means, precisions, out, divergence):
    r"""Score into ``out``; :math:`\nabla\cdot s = \sum_k r_k(|g_k - s|^2 - \mathrm{tr} P_k)` into ``divergence``."""
    n_components, dim = means.shape
    _mixture_score_rows(y, lo, hi, log_coefficients, means, precisions, out)
    for m in range(lo, hi):
        largest = -math.inf  # second pass: responsibilities, with their own normaliser
        for c in range(n_components):
            quadratic = 0.0
            for i in range(dim):
                row = 0.0
                for j in range(dim):
                    row += precisions[c, i, j] * (y[m, j] - means[c, j])
                quadratic += row * (y[m, i] - means[c, i])
            largest = max(largest, log_coefficients[c] - 0.5 * quadratic)
        total = 0.0
        weighted = 0.0
        for c in range(n_components):
            quadratic = 0.0
            spread = 0.0
            trace = 0.0
            for i in range(dim):
                row = 0.0
                for j in range(dim):
                    row += precisions[c, i, j] * (y[m, j] - means[c, j])
                quadratic += row * (y[m, i] - means[c, i])
                spread += (row + out[m, i]) ** 2  # |g_k - s|^2 with g_k = -row
                trace += precisions[c, i, i]
            weight = math.exp(log_coefficients[c] - 0.5 * quadratic - largest)
            total += weight
            weighted += weight * (spread - trace)
        divergence[m] = weighted / total


@jit
def _empirical_divergence_rows(y, lo, hi, points, alpha, variance, out, divergence):
    r"""Score into ``out``; :math:`(\alpha^2/v^2)\sum_i\lambda_i|x_i - \hat x_0|^2 - d/v` into ``divergence``."""
    n_points, dim = points.shape
    for m in range(lo, hi):
        _denoise_point(y, points, alpha, variance, out, m)  # out[m] = xhat0
        largest = -math.inf
        for i in range(n_points):
            distance = 0.0
            for k in range(dim):
                diff = y[m, k] - alpha * points[i, k]
                distance += diff * diff
            largest = max(largest, -0.5 * distance / variance)
        total = 0.0
        weighted = 0.0
        for i in range(n_points):
            distance = 0.0
            spread = 0.0
            for k in range(dim):
                diff = y[m, k] - alpha * points[i, k]
                distance += diff * diff
                spread += (points[i, k] - out[m, k]) ** 2
            weight = math.exp(-0.5 * distance / variance - largest)
            total += weight
            weighted += weight * spread
        for k in range(dim):
            out[m, k] = (alpha * out[m, k] - y[m, k]) / variance
        divergence[m] = (alpha / variance) ** 2 * weighted / total - dim / variance


@jit
def _score_divergence_rows(kind, y, lo, hi, log_coefficients, centres, precisions, alpha, variance, layout, out,
                           divergence, with_divergence):
    if not with_divergence:
        score_rows(kind, y, lo, hi, log_coefficients, centres, precisions, alpha, variance, layout, out)
    elif kind == MIXTURE:
        _mixture_divergence_rows(y, lo, hi, log_coefficients, centres, precisions, out, divergence)
    else:
        _empirical_divergence_rows(y, lo, hi, centres, alpha, variance, out, divergence)


@jit(parallel=True)
def score_divergence(kind, y, log_coefficients, centres, precisions, alpha, variance, layout, out, divergence,
                     with_divergence, parallel):
    """Score of every row of ``y`` into ``out``, and its divergence into ``divergence`` if asked."""
    count = y.shape[0]
    if parallel:
        for b in prange((count + BLOCK - 1) // BLOCK):
            _score_divergence_rows(kind, y, b * BLOCK, min(count, (b + 1) * BLOCK), log_coefficients, centres,
                                   precisions, alpha, variance, layout, out, divergence, with_divergence)
    else:
        _score_divergence_rows(kind, y, int64(0), count, log_coefficients, centres, precisions, alpha, variance, layout,
                               out, divergence, with_divergence)


# ---------------------------------------------------------------- the stages


@inline  # into its one caller: one compiled kernel less on a cold start
def _nonfinite_rows(y, lo, hi):
    """How many of rows ``lo..hi-1`` of ``y`` hold a NaN or an infinity."""
    dim = y.shape[1]
    rows = y.reshape(y.size)[lo * dim:hi * dim]
    count = 0
    for j in range(rows.size):  # a vectorised count of the numbers first: usually 0
        count += (rows[j] - rows[j]) != 0.0  # inf - inf and NaN - NaN are NaN
    if count == 0:
        return 0
    bad = 0
    for m in range(lo, hi):
        for k in range(dim):
            if not math.isfinite(y[m, k]):
                bad += 1
                break
    return bad


@jit(contract=True)
def _stage_rows(code, lo, hi, y, predicted, second, score, noise, kind,
                lc_a, centres_a, precisions_a, alpha_a, variance_a, layout_a,
                lc_b, centres_b, precisions_b, alpha_b, variance_b, layout_b,
                coefficients, key, stream, first, step, slot):
    """Advance rows ``lo..hi-1``; returns how many became non-finite.

    The updates run over the block's numbers ``lo d .. hi d - 1`` of the
    flattened (C-ordered) arrays: one loop, no inner loop over the dimension.
    The stage runs in three phases, each with one call site per kernel (the
    normals, the score at ``_a``, the score at ``_b``): LLVM inlines a callee
    at every call site, and the copies of these large kernels in each
    stage's branch made the cold start's compile 1.5x longer.
    """
    dim = y.shape[1]
    start, stop = lo * dim, hi * dim
    # the block's numbers as views indexed from 0 (no negative-index wraparound: contiguous SIMD loads)
    flat_y = y.reshape(y.size)[start:stop]
    flat_score = score.reshape(score.size)[start:stop]
    flat_noise = noise.reshape(noise.size)[start:stop]
    flat_predicted = predicted.reshape(predicted.size)[start:stop]
    flat_second = second.reshape(second.size)[start:stop]
    # (1) the normals, for the stages that draw them (coefficients as listed in phase 3)
    if code == NOISE or code == CORRECTOR:
        noisy = True
    elif code == EM or code == EI:
        noisy = coefficients[2] != 0.0
    elif code == HEUN:
        noisy = coefficients[5] != 0.0 or coefficients[6] != 0.0
    else:
        noisy = False
    if noisy:
        normal_rows(key, stream, first, step, slot, noise, lo, hi)
    elif code == HEUN:
        for j in range(stop - start):
            flat_noise[j] = 0.0
    # (2) the score at the stage's first time; Heun's and the two-stage predictor, and the score there
    if code != NOISE:
        score_rows(kind, y, lo, hi, lc_a, centres_a, precisions_a, alpha_a, variance_a, layout_a, score)
    if code == HEUN:
        # coefficients: h, beta_n, w_n, beta_n+1, w_n+1, g_n sqrt(h), g_n+1 sqrt(h)
        h = coefficients[0]
        for j in range(stop - start):
            flat_score[j] = coefficients[1] * flat_y[j] + coefficients[2] * flat_score[j]  # first drift
            flat_predicted[j] = flat_y[j] + h * flat_score[j] + coefficients[5] * flat_noise[j]
    elif code == TWO_STAGE:
        # coefficients: p_y, p_s, q_y, q_s, q_e -> y_e = p_y y + p_s s(y), y <- q_y y + q_s s(y) + q_e s_b(y_e)
        # (Karras' Heun in sigma on y / alpha, written in y: the scores' weights hold the alphas and sigmas)
        p_y, p_s = coefficients[0], coefficients[1]
        for j in range(stop - start):
            flat_predicted[j] = p_y * flat_y[j] + p_s * flat_score[j]
    if code == HEUN or code == TWO_STAGE:
        score_rows(kind, predicted, lo, hi, lc_b, centres_b, precisions_b, alpha_b, variance_b, layout_b, second)
    # (3) the update
    if code == NOISE:
        # coefficients: scale, std -> scale y + std xi (Karras' churn: noise added, no score)
        scale, std = coefficients[0], coefficients[1]
        for j in range(stop - start):
            flat_y[j] = scale * flat_y[j] + std * flat_noise[j]
    elif code == EM:
        # coefficients: h beta, h w, std  -> y + h (beta y + w s) + std xi
        c_y, c_s, std = coefficients[0], coefficients[1], coefficients[2]
        if noisy:
            for j in range(stop - start):
                flat_y[j] += (c_y * flat_y[j] + c_s * flat_score[j]) + std * flat_noise[j]
        else:
            for j in range(stop - start):
                flat_y[j] += c_y * flat_y[j] + c_s * flat_score[j]
    elif code == EI:
        # coefficients: phi, c_x0, std, alpha_n, v_n -> phi y + c_x0 xhat0 + std xi, xhat0 = (y + v s)/alpha
        phi, c_x0, std, alpha, variance = (coefficients[0], coefficients[1], coefficients[2], coefficients[3],
                                           coefficients[4])
        c_x0 = c_x0 / alpha  # c_x0 xhat0 = (c_x0 / alpha)(y + v s): no division per particle
        if noisy:
            for j in range(stop - start):
                flat_y[j] = phi * flat_y[j] + c_x0 * (flat_y[j] + variance * flat_score[j]) + std * flat_noise[j]
        else:
            for j in range(stop - start):
                flat_y[j] = phi * flat_y[j] + c_x0 * (flat_y[j] + variance * flat_score[j])
    elif code == HEUN:
        h = coefficients[0]
        half_noise = 0.5 * (coefficients[5] + coefficients[6])
        for j in range(stop - start):
            drift = coefficients[3] * flat_predicted[j] + coefficients[4] * flat_second[j]
            flat_y[j] += 0.5 * h * (flat_score[j] + drift) + half_noise * flat_noise[j]
    elif code == TWO_STAGE:
        q_y, q_s, q_e = coefficients[2], coefficients[3], coefficients[4]
        for j in range(stop - start):
            flat_y[j] = q_y * flat_y[j] + q_s * flat_score[j] + q_e * flat_second[j]
    elif code == MULTISTEP:
        # coefficients: phi, c_x0, c_prev, alpha_n, v_n -> phi y + c_x0 xhat0 + c_prev xhat0_prev; `second` keeps
        # each particle's xhat0 for the next step (the caller keeps it alive between the stages)
        phi, c_x0, c_prev = coefficients[0], coefficients[1], coefficients[2]
        alpha, variance = coefficients[3], coefficients[4]
        inverse = 1.0 / alpha
        if c_prev != 0.0:
            for j in range(stop - start):
                denoised = (flat_y[j] + variance * flat_score[j]) * inverse
                flat_y[j] = phi * flat_y[j] + c_x0 * denoised + c_prev * flat_second[j]
                flat_second[j] = denoised
        else:  # a first-order step: the history is written, never read (it may be uninitialised)
            for j in range(stop - start):
                denoised = (flat_y[j] + variance * flat_score[j]) * inverse
                flat_y[j] = phi * flat_y[j] + c_x0 * denoised
                flat_second[j] = denoised
    else:
        # CORRECTOR, coefficients: snr, rule (0: expected norms, 1: per particle), step of rule 0
        if coefficients[1] == 0.0:
            epsilon = coefficients[2]
            spread = math.sqrt(2.0 * epsilon)
            for j in range(stop - start):
                flat_y[j] += epsilon * flat_score[j] + spread * flat_noise[j]
        else:
            for m in range(lo, hi):
                noise_norm = 0.0
                score_norm = 0.0
                for k in range(dim):  # x * x, not x ** 2: a pow is contracted into an FMA or not depending on
                    # how LLVM met it (compiled here, or inlined from numba's cache), so the fused and the
                    # stage-by-stage runs differed in the last bits; a product is contracted the same way always
                    noise_norm += noise[m, k] * noise[m, k]
                    score_norm += score[m, k] * score[m, k]
                epsilon = 2.0 * coefficients[0] ** 2 * noise_norm / score_norm if score_norm > 0.0 else 0.0
                spread = math.sqrt(2.0 * epsilon)
                for k in range(dim):
                    y[m, k] += epsilon * score[m, k] + spread * noise[m, k]
    return _nonfinite_rows(y, lo, hi)


@jit(parallel=True)
def step_particles(code, y, predicted, second, score, noise, kind,
                   lc_a, centres_a, precisions_a, alpha_a, variance_a, layout_a,
                   lc_b, centres_b, precisions_b, alpha_b, variance_b, layout_b,
                   coefficients, key, stream, first, step, slot, parallel):
    """One stage for every row of ``y`` (in place); returns the number of non-finite particles.

    Row ``m`` is global particle ``first + m``. ``predicted``, ``second``,
    ``score`` and ``noise`` are work arrays of the shape of ``y``; data ``_a``
    is the score at the stage's first time, ``_b`` at its second (Heun's corrector).
    """
    count = y.shape[0]
    bad = 0
    if parallel:
        for b in prange((count + BLOCK - 1) // BLOCK):
            bad += _stage_rows(code, b * BLOCK, min(count, (b + 1) * BLOCK), y, predicted, second, score, noise,
                               kind, lc_a, centres_a, precisions_a, alpha_a, variance_a, layout_a,
                               lc_b, centres_b, precisions_b, alpha_b, variance_b, layout_b,
                               coefficients, key, stream, first, step, slot)
    else:
        for b in range((count + BLOCK - 1) // BLOCK):  # blocks here too: their work arrays stay in the L1 cache
            bad += _stage_rows(code, b * BLOCK, min(count, (b + 1) * BLOCK), y, predicted, second, score, noise,
                               kind, lc_a, centres_a, precisions_a, alpha_a, variance_a, layout_a,
                               lc_b, centres_b, precisions_b, alpha_b, variance_b, layout_b,
                               coefficients, key, stream, first, step, slot)
    return bad


# ---------------------------------------------------------------- the fused time loop


@jit
def advance_particles(first_block, last_block, codes, coefficients, time_a, time_b, steps, streams, slots, kind,
                      lc_table, centres_table, centre_rows, precisions_table, alpha_table, variance_table, layout, key,
                      first, y, saved_slot, snapshots, bad_step):
    """All stages of a run for blocks ``first_block..last_block-1`` of :data:`BLOCK` particles: each block
    takes every step while it sits in the cache, in a local copy, instead of every particle taking one step
    per call.

    Stage ``s`` has code ``codes[s]``, scalar coefficients ``coefficients[s]``
    (zero-padded), the score data of rows ``time_a[s]`` and ``time_b[s]`` of the
    tables (the centres: row ``centre_rows[time]``), step ``steps[s]``, noise
    stream and slot; after it, the block is
    copied into ``snapshots[saved_slot[s]]`` unless that is -1. Row ``m`` of
    ``y`` is particle ``first + m``. The arithmetic per particle is that of
    :func:`step_particles`, so the result is the same bit for bit.
    ``bad_step[b]`` receives -1, or the step at which a particle of block
    ``b`` became non-finite (that block is left as it was).

    Serial: :func:`on_threads` runs disjoint ranges of blocks on threads (the
    kernel releases the GIL). With a ``prange`` loop this kernel's own compile
    took 11 s against the serial loop's 4 s (load average 5, numba 0.68:
    the parallel lowering optimises the whole inlined stage kernel once more).
    """
    numba.literally(kind)  # one compiled variant per kind of score, with only its kernel (:func:`score_rows`)
    count, dim = y.shape
    for b in range(first_block, last_block):
        bad_step[b] = -1
        lo = b * BLOCK
        rows = min(count, lo + BLOCK) - lo
        block = np.empty((rows, dim))
        for m in range(rows):
            for k in range(dim):
                block[m, k] = y[lo + m, k]
        predicted, second = np.empty((rows, dim)), np.empty((rows, dim))
        score, noise = np.empty((rows, dim)), np.empty((rows, dim))
        for s in range(codes.size):
            a, c = time_a[s], time_b[s]
            if _stage_rows(codes[s], int64(0), rows, block, predicted, second, score, noise, kind,
                           lc_table[a], centres_table[centre_rows[a]], precisions_table[a], alpha_table[a],
                           variance_table[a], layout, lc_table[c], centres_table[centre_rows[c]], precisions_table[c],
                           alpha_table[c], variance_table[c], layout,
                           coefficients[s], key, streams[s], first + lo, steps[s], slots[s]):
                bad_step[b] = steps[s]
                break
            if saved_slot[s] >= 0:
                for m in range(rows):
                    for k in range(dim):
                        snapshots[saved_slot[s], lo + m, k] = block[m, k]
        if bad_step[b] < 0:
            for m in range(rows):
                for k in range(dim):
                    y[lo + m, k] = block[m, k]


def advance_for_kind(arguments):
    """:func:`advance_particles` compiled for the types of ``arguments`` (its parameters after the two block
    bounds) with ``kind`` a compile-time constant: the variant the kernel asks for with ``numba.literally``.

    A call from Python passes ``kind`` as a plain integer, so every call would first type the kernel for it,
    meet ``literally`` and start again (about 0.05 s a call); ``Dispatcher.compile`` with the constant's
    signature finds that variant at once (compiling it, or loading it from the cache, the first time).
    """
    signature = [numba.types.int64, numba.types.int64] + [numba.typeof(argument) for argument in arguments]
    signature[9] = numba.types.literal(int(arguments[7]))
    return advance_particles.compile(tuple(signature))


def on_threads(parallel, kernel, n_blocks, *arguments):
    """``kernel(first_block, last_block, *arguments)`` over blocks ``0..n_blocks-1``: in one call, or, if
    ``parallel``, in as many contiguous ranges as numba has threads, each on its own Python thread (the
    kernels release the GIL; the blocks write disjoint rows, so the result does not depend on the split)."""
    threads = min(numba.get_num_threads(), n_blocks)
    if not parallel or threads < 2:
        kernel(0, n_blocks, *arguments)
        return
    bounds = [n_blocks * i // threads for i in range(threads + 1)]
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(kernel, lo, hi, *arguments) for lo, hi in zip(bounds[:-1], bounds[1:])]:
            future.result()  # re-raises a worker's exception
