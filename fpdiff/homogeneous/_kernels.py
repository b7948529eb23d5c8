r"""Numba kernels of the homogeneous score and of the stopped generative SDE.

Plain arrays and scalars in, no Python objects. The specification of every kernel is the numpy code in
:mod:`.green` and :mod:`.score` (the tests check that they agree).

Bessel functions. For the Brownian Green's function we need, at :math:`z = \kappa\rho`, the scaled
:math:`\log(e^z K_\nu(z))` and the ratio :math:`R_\nu(z) = K_{\nu+1}(z)/K_\nu(z)` for :math:`\nu = (d-2)/2`, an
integer or a half-integer. Both follow from the upward recurrence (DLMF 10.29.1)
:math:`K_{\nu+1} = K_{\nu-1} + \tfrac{2\nu}{z} K_\nu`, i.e. :math:`R_\nu = 1/R_{\nu-1} + 2\nu/z` and
:math:`\log K_\nu = \log K_{\nu-1} + \log R_{\nu-1}`, which is stable for :math:`K` (it is the dominant solution
upwards) and never overflows in this form. Starting values: half-integers from :math:`K_{\pm 1/2}(z) =
\sqrt{\pi/(2z)} e^{-z}` (so :math:`R_{-1/2} = 1`); integers from :math:`K_0, K_1`, by their power series
(A&S 9.6.13, 9.6.11) for :math:`z \le 2`, by cubic Hermite interpolation in :math:`\log z` of a table of
:func:`scipy.special.kve` (values and exact derivatives :math:`d\log(e^zK_0)/d\log z = z(1 - R_0)`,
:math:`dR_0/d\log z = zR_0^2 - R_0 - z`, spacing 0.002: interpolation error below 1e-13) for
:math:`2 < z < 50`, where the continued fraction is slow, and by Steed's continued fraction CF2 (Temme 1975, as in
Press et al., *Numerical Recipes*, 3rd ed., section 6.6.2) for :math:`z \ge 50` (about 10 terms).

OU Green's functions. :mod:`.table` writes :math:`G_r(y \to x) = m(x) F(\hat\rho, \hat\mu)/\beta` with
:math:`\hat\rho = |x - y|/s`, :math:`\hat\mu = |x + y|/s`, and tabulates :math:`\log F` with its derivatives at
the nodes of a grid in :math:`\xi = \log\hat\rho + \hat\rho` and :math:`\zeta = \hat\mu - \hat\rho`
(:func:`build_ou_table`); :func:`ou_table_lookup` interpolates it bicubically (Hermite), and :func:`score_point`
falls back to the log-time quadrature of :mod:`.green` for distances outside the table.
"""

import math

import numpy as np
from numba import int64, prange
from scipy.special import kve

from .._jit import jit
from ..particles._random import normal_rows

#: kinds of forward process the kernels know
BROWNIAN, ORNSTEIN = 0, 1

#: stream numbers of the counter-based normals (fpdiff.particles._random uses 0..5)
STEP_STREAM, START_STREAM = 16, 17

#: status codes of a path in :func:`run_paths` (``reached`` >= 0 is the index of the data point)
NOT_STOPPED, NOT_FINITE = -1, -2

_EULER_GAMMA = 0.5772156649015329


def _k0_table(lo=2.0, hi=50.0, spacing=0.002):
    """``(log z_0, spacing, values (N, 4))``: log(e^z K_0), its u-derivative, R_0 = K_1/K_0, its u-derivative."""
    u = np.arange(np.log(lo), np.log(hi) + 2 * spacing, spacing)
    z = np.exp(u)
    k0, k1 = kve(0, z), kve(1, z)
    ratio = k1 / k0
    table = np.column_stack([np.log(k0), z * (1.0 - ratio), ratio, z * ratio * ratio - ratio - z])
    return float(u[0]), spacing, np.ascontiguousarray(table)


_TABLE_START, _TABLE_SPACING, _K0_TABLE = _k0_table()
_TABLE_LO, _TABLE_HI = 2.0, 50.0


@jit
def _hermite(u, column):
    """Cubic Hermite interpolation of column ``column`` (values; derivatives in ``column + 1``) of the table."""
    position = (u - _TABLE_START) / _TABLE_SPACING
    j = int(position)
    t = position - j
    f0, d0 = _K0_TABLE[j, column], _K0_TABLE[j, column + 1] * _TABLE_SPACING
    f1, d1 = _K0_TABLE[j + 1, column], _K0_TABLE[j + 1, column + 1] * _TABLE_SPACING
    t2 = t * t
    t3 = t2 * t
    return ((2 * t3 - 3 * t2 + 1) * f0 + (t3 - 2 * t2 + t) * d0 + (-2 * t3 + 3 * t2) * f1 + (t3 - t2) * d1)


@jit
def log_k0_scaled_and_ratio(z):
    r""":math:`\log(e^z K_0(z))` and :math:`K_1(z)/K_0(z)` for :math:`z > 0`."""
    if z <= 2.0:
        quarter = 0.25 * z * z
        log_half = math.log(0.5 * z)
        term0 = 1.0  # (z^2/4)^k / (k!)^2
        term1 = 1.0  # (z^2/4)^k / (k! (k+1)!)
        i0 = 1.0
        i1 = 1.0
        harmonic = 0.0
        k0_sum = 0.0
        k1_sum = -2.0 * _EULER_GAMMA + 1.0  # psi(1) + psi(2) at k = 0
        for k in range(1, 40):
            term0 *= quarter / (k * k)
            term1 *= quarter / (k * (k + 1))
            harmonic += 1.0 / k
            i0 += term0
            i1 += term1
            k0_sum += harmonic * term0
            k1_sum += (2.0 * (harmonic - _EULER_GAMMA) + 1.0 / (k + 1)) * term1
            if term0 < 1e-17 * i0:
                break
        k0 = -(log_half + _EULER_GAMMA) * i0 + k0_sum
        k1 = 1.0 / z + log_half * (0.5 * z * i1) - 0.25 * z * k1_sum
        return math.log(k0) + z, k1 / k0
    if z < _TABLE_HI:
        u = math.log(z)
        return _hermite(u, 0), _hermite(u, 2)
    # Steed's CF2 for mu = 0 (Numerical Recipes 6.6.2)
    b = 2.0 * (1.0 + z)
    d = 1.0 / b
    h = d
    delh = d
    q1 = 0.0
    q2 = 1.0
    a1 = 0.25
    q = a1
    c = a1
    a = -a1
    s = 1.0 + q * delh
    for i in range(2, 10000):
        a -= 2 * (i - 1)
        c = -a * c / i
        qnew = (q1 - b * q2) / a
        q1 = q2
        q2 = qnew
        q += c * qnew
        b += 2.0
        d = 1.0 / (b + a * d)
        delh = (b * d - 1.0) * delh
        h += delh
        dels = q * delh
        s += dels
        if abs(dels / s) < 1e-16:
            break
    h = a1 * h
    return 0.5 * math.log(math.pi / (2.0 * z)) - math.log(s), (z + 0.5 - h) / z


@jit
def log_bessel_k_scaled(two_nu, z):
    r""":math:`\log(e^z K_\nu(z))` and :math:`K_{\nu+1}(z)/K_\nu(z)` for :math:`\nu = ` ``two_nu``/2 >= -1/2."""
    if two_nu % 2 != 0:  # half-integer: start at nu = -1/2
        log_k = 0.5 * math.log(math.pi / (2.0 * z))
        ratio = 1.0
        nu = -0.5
    else:
        log_k, ratio = log_k0_scaled_and_ratio(z)
        nu = 0.0
    product = 1.0  # of the ratios, folded into the logarithm before it could overflow
    while 2.0 * nu < two_nu - 0.5:
        product *= ratio
        if product > 1e250:
            log_k += math.log(product)
            product = 1.0
        nu += 1.0
        ratio = 1.0 / ratio + 2.0 * nu / z
    return log_k + math.log(product), ratio


@jit
def table_distance(xi):
    r"""The scaled distance :math:`\hat\rho > 0` with :math:`\log\hat\rho + \hat\rho = \xi` (Newton's method)."""
    rho = math.exp(xi) if xi < 0.0 else xi + 1e-3  # log is the larger term below rho = 1, rho above
    for _ in range(100):
        step = (math.log(rho) + rho - xi) * rho / (1.0 + rho)
        rho = max(rho - step, 0.1 * rho)  # convex in log rho: Newton never overshoots by much; keep rho > 0
        if abs(step) <= 1e-15 * rho:
            break
    return rho


@jit
def table_node(log_terms, small_time, large_time, lo, hi, rho, mu):
    r""":math:`\log F` and :math:`\partial_\rho, \partial_\mu, \partial_{\rho\mu}, \partial_{\mu\mu}` of it.

    :math:`F = \sum_k \exp(c_k + \mu^2 g_k - \rho^2 h_k)` over ``lo <= k < hi`` with ``log_terms`` :math:`c_k`,
    ``large_time`` :math:`g_k` and ``small_time`` :math:`h_k`; terms below :math:`e^{-40}` of the largest are
    left out. The derivatives are cumulants of :math:`h` and :math:`g` under the normalised terms:
    :math:`\partial_\rho \log F = -2\rho E h`, :math:`\partial_\mu \log F = 2\mu E g`,
    :math:`\partial_{\rho\mu} \log F = -4\rho\mu\,\mathrm{Cov}(h, g)`,
    :math:`\partial_{\mu\mu} \log F = 2 E g + 4\mu^2 \mathrm{Var}\, g`.
    """
    rho_square = rho * rho
    mu_square = mu * mu
    top = -np.inf
    for k in range(lo, hi):
        top = max(top, log_terms[k] + mu_square * large_time[k] - rho_square * small_time[k])
    total = mean_h = mean_g = mean_hg = mean_gg = 0.0
    for k in range(lo, hi):
        term = log_terms[k] + mu_square * large_time[k] - rho_square * small_time[k] - top
        if term < -40.0:
            continue
        w = math.exp(term)
        h = small_time[k]
        g = large_time[k]
        total += w
        mean_h += w * h
        mean_g += w * g
        mean_hg += w * h * g
        mean_gg += w * g * g
    mean_h /= total
    mean_g /= total
    return (top + math.log(total), -2.0 * rho * mean_h, 2.0 * mu * mean_g,
            -4.0 * rho * mu * (mean_hg / total - mean_h * mean_g),
            2.0 * mean_g + 4.0 * mu_square * (mean_gg / total - mean_g * mean_g))


@jit
def _row_bound(log_terms, small_time, large_time, k, rho, mu_max):
    r"""The largest term k of :func:`table_node` can be at distance ``rho`` and any :math:`|\mu| \le` ``mu_max``."""
    return log_terms[k] - rho * rho * small_time[k] + mu_max * mu_max * large_time[k]


@jit(parallel=True)
def build_ou_table(log_terms, small_time, large_time, xi_start, xi_step, zeta_start, zeta_step, out):
    r"""Fill ``out`` (rows, columns, 4) with :math:`\log F, \partial_\xi, \partial_\zeta, \partial_{\xi\zeta}` at the
    nodes :math:`\xi_i = ` ``xi_start + i xi_step``, :math:`\zeta_j = ` ``zeta_start + j zeta_step`` (see
    :func:`table_node`; :math:`\hat\rho = \hat\rho(\xi)`, :math:`\hat\mu = \zeta + \hat\rho`).

    A row sums only over the terms that can reach :math:`e^{-40}` of the largest at some node of the row: as
    :math:`0 < g_k \le 1/8`, the largest is at least :math:`L = \max_k (c_k - \rho^2 h_k)`, and term k at most
    :math:`c_k - \rho^2 h_k + \mu_{max}^2 g_k`.
    """
    n_terms = log_terms.shape[0]
    columns = out.shape[1]
    for i in prange(out.shape[0]):
        rho = table_distance(xi_start + i * xi_step)
        slope = rho / (1.0 + rho)  # d rho / d xi
        mu_max = max(abs(zeta_start + rho), abs(zeta_start + (columns - 1) * zeta_step + rho))
        least = -np.inf
        for k in range(n_terms):
            least = max(least, log_terms[k] - rho * rho * small_time[k])
        lo = 0
        while lo < n_terms - 1 and _row_bound(log_terms, small_time, large_time, lo, rho, mu_max) < least - 40.0:
            lo += 1
        hi = n_terms
        while hi > lo + 1 and _row_bound(log_terms, small_time, large_time, hi - 1, rho, mu_max) < least - 40.0:
            hi -= 1
        for j in range(columns):
            mu = zeta_start + j * zeta_step + rho
            value, d_rho, d_mu, d_rho_mu, d_mu_mu = table_node(log_terms, small_time, large_time, lo, hi, rho, mu)
            out[i, j, 0] = value
            out[i, j, 1] = slope * (d_rho + d_mu)  # mu = zeta + rho moves with xi
            out[i, j, 2] = d_mu
            out[i, j, 3] = slope * (d_rho_mu + d_mu_mu)


@jit
def ou_table_lookup(table, geometry, rho, mu):
    r"""Bicubic Hermite interpolation of the table of :func:`build_ou_table` at scaled ``rho`` > 0, ``mu``.

    ``geometry`` is ``(xi_start, xi_step, zeta_start, zeta_step)``. Returns ``(inside, log F, d/d rho, d/d mu)``;
    ``inside`` is False (and the rest 0) when :math:`\xi` is outside the table. :math:`\zeta` is clamped to the
    table's columns (they cover every pair the table was built for: :math:`|\hat\mu - \hat\rho| \le 2|y|/s`).
    """
    rows, columns = table.shape[0], table.shape[1]
    xi_step = geometry[1]
    zeta_step = geometry[3]
    position = (math.log(rho) + rho - geometry[0]) / xi_step
    if not (position >= 0.0 and position < rows - 1):
        return False, 0.0, 0.0, 0.0
    i = int(position)
    s = position - i
    position = (mu - rho - geometry[2]) / zeta_step
    j = min(max(int(position), 0), columns - 2)
    t = position - j
    # cubic Hermite basis in s (values; xi-derivatives, per unit xi) and in t
    s1 = 1.0 - s
    t1 = 1.0 - t
    p = ((1.0 + 2.0 * s) * s1 * s1, xi_step * s * s1 * s1, s * s * (3.0 - 2.0 * s), -xi_step * s * s * s1)
    dp = (-6.0 * s * s1 / xi_step, s1 * (1.0 - 3.0 * s), 6.0 * s * s1 / xi_step, s * (3.0 * s - 2.0))
    q = ((1.0 + 2.0 * t) * t1 * t1, zeta_step * t * t1 * t1, t * t * (3.0 - 2.0 * t), -zeta_step * t * t * t1)
    dq = (-6.0 * t * t1 / zeta_step, t1 * (1.0 - 3.0 * t), 6.0 * t * t1 / zeta_step, t * (3.0 * t - 2.0))
    value = d_xi = d_zeta = 0.0
    for a in range(2):
        for b in range(2):
            node = table[i + a, j + b]
            pv, pd, dpv, dpd = p[2 * a], p[2 * a + 1], dp[2 * a], dp[2 * a + 1]
            qv, qd, dqv, dqd = q[2 * b], q[2 * b + 1], dq[2 * b], dq[2 * b + 1]
            value += pv * qv * node[0] + pd * qv * node[1] + pv * qd * node[2] + pd * qd * node[3]
            d_xi += dpv * qv * node[0] + dpd * qv * node[1] + dpv * qd * node[2] + dpd * qd * node[3]
            d_zeta += pv * dqv * node[0] + pd * dqv * node[1] + pv * dqd * node[2] + pd * dqd * node[3]
    # f(xi(rho), mu - rho): d/d rho = f_xi (1/rho + 1) - f_zeta, d/d mu = f_zeta
    return True, value, d_xi * (1.0 / rho + 1.0) - d_zeta, d_zeta


@jit
def score_point(kind, x, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
                table, geometry, out):
    r"""Score :math:`\nabla\log\tilde h(x)` into ``out`` (d,); returns ``(log f(x) + const, min distance, nearest)``.

    ``kind`` BROWNIAN: :math:`\log G_i = -\nu\log\rho_i + \log(e^z K_\nu(z)) - z` (+ a constant), gradient
    :math:`-\kappa R_\nu(z) (x - x_i)/\rho_i`. ``kind`` ORNSTEIN: :math:`G_i = m(x) F(\hat\rho_i, \hat\mu_i)/\beta`
    from ``table`` (:func:`ou_table_lookup`; ``geometry`` = ``(xi_start, xi_step, zeta_start, zeta_step, s,
    log((2 pi s^2)^{-d/2}/beta))``), whose gradient is already that of :math:`\log(G_i/m)`; pairs outside the table
    (or all, for an empty one) use the log-time quadrature of :mod:`.green` with nodes
    ``(log_weights, scale, variance)``, with :math:`\nabla \log m = -x/s^2` subtracted. Every pair's term of the
    score is :math:`c_i x + d_i x_i`; the sum over data points is a streaming log-sum-exp. A point at distance 0
    gives distance 0 and a zero score.
    """
    n, dim = points.shape
    x_square = 0.0
    for k in range(dim):
        x_square += x[k] * x[k]
        out[k] = 0.0
    top = -np.inf
    total = 0.0
    x_weight = 0.0  # OU: sum of weights c_i (the coefficient of x)
    nearest = -1
    nearest_distance = np.inf
    nu = 0.5 * two_nu
    n_nodes = log_weights.shape[0]
    spread = geometry[4]
    table_shift = geometry[5] - 0.5 * x_square * inverse_stationary  # log(m(x)/beta)
    for i in range(n):
        cross = 0.0
        for k in range(dim):
            cross += x[k] * points[i, k]
        distance_square = max(x_square - 2.0 * cross + point_squares[i], 0.0)
        # recompute the distance directly when cancellation could matter (near the point)
        if distance_square < 1e-6 * (x_square + point_squares[i]):
            distance_square = 0.0
            for k in range(dim):
                delta = x[k] - points[i, k]
                distance_square += delta * delta
        distance = math.sqrt(distance_square)
        if distance < nearest_distance:
            nearest_distance = distance
            nearest = i
        if distance == 0.0:
            for k in range(dim):
                out[k] = 0.0
            return np.inf, 0.0, i
        if kind == BROWNIAN:
            z = kappa * distance
            log_k, ratio = log_bessel_k_scaled(two_nu, z)
            log_g = -nu * math.log(distance) + log_k - z
            coefficient = kappa * ratio / distance  # gradient = -coefficient (x - x_i)
            if log_g > top:
                rescale = math.exp(top - log_g)
                total *= rescale
                for k in range(dim):
                    out[k] *= rescale
                top = log_g
            weight = math.exp(log_g - top)
            total += weight
            for k in range(dim):
                out[k] -= weight * coefficient * (x[k] - points[i, k])
        else:
            inside = False
            if table.shape[0] > 0:
                sum_square = x_square + 2.0 * cross + point_squares[i]
                if sum_square < 1e-6 * (x_square + point_squares[i]):  # |x + x_i|, as for the distance
                    sum_square = 0.0
                    for k in range(dim):
                        delta = x[k] + points[i, k]
                        sum_square += delta * delta
                total_length = math.sqrt(sum_square)
                inside, log_f, d_rho, d_mu = ou_table_lookup(table, geometry, distance / spread,
                                                              total_length / spread)
            if inside:
                # grad log F = f_rho (x - x_i)/(s |x - x_i|) + f_mu (x + x_i)/(s |x + x_i|)
                pair_top = log_f + table_shift
                pair_weight = 1.0
                along = d_rho / (spread * distance)
                across = d_mu / (spread * total_length) if total_length > 0.0 else 0.0
                pair_x = along + across
                pair_point = across - along
            else:
                pair_top = -np.inf
                for j in range(n_nodes):
                    a = scale[j]
                    term = log_weights[j] - (x_square - 2.0 * a * cross + a * a * point_squares[i]) / (2.0 * variance[j])
                    if term > pair_top:
                        pair_top = term
                pair_weight = 0.0
                pair_x = 0.0
                pair_point = 0.0
                for j in range(n_nodes):
                    a = scale[j]
                    term = log_weights[j] - (x_square - 2.0 * a * cross + a * a * point_squares[i]) / (2.0 * variance[j])
                    w = math.exp(term - pair_top)
                    pair_weight += w
                    pair_x -= w / variance[j]
                    pair_point += w * a / variance[j]
                pair_x += inverse_stationary * pair_weight  # grad log G_i + x/s^2 = grad log(G_i/m)
            if pair_top > top:
                rescale = math.exp(top - pair_top)
                total *= rescale
                x_weight *= rescale
                for k in range(dim):
                    out[k] *= rescale
                top = pair_top
            factor = math.exp(pair_top - top)
            total += factor * pair_weight
            x_weight += factor * pair_x
            for k in range(dim):
                out[k] += factor * pair_point * points[i, k]
    if kind == BROWNIAN:
        for k in range(dim):
            out[k] /= total
    else:
        for k in range(dim):
            out[k] = (out[k] + x_weight * x[k]) / total
    return top + math.log(total), nearest_distance, nearest


@jit(parallel=True)
def score_rows(kind, x, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
               table, geometry, out, log_f, distance, nearest, parallel):
    """:func:`score_point` for every row of ``x`` (M, d), on all threads when ``parallel``."""
    count = x.shape[0]
    n_blocks = (count + 63) // 64
    if parallel:
        for b in prange(n_blocks):
            _score_block(kind, x, points, point_squares, two_nu, kappa, log_weights, scale, variance,
                         inverse_stationary, table, geometry, out, log_f, distance, nearest, b * 64,
                         min(count, (b + 1) * 64))
    else:
        _score_block(kind, x, points, point_squares, two_nu, kappa, log_weights, scale, variance,
                     inverse_stationary, table, geometry, out, log_f, distance, nearest, 0, count)


@jit
def _score_block(kind, x, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
                 table, geometry, out, log_f, distance, nearest, lo, hi):
    for m in range(lo, hi):
        value, near_distance, index = score_point(kind, x[m], points, point_squares, two_nu, kappa, log_weights,
                                                  scale, variance, inverse_stationary, table, geometry, out[m])
        log_f[m] = value
        distance[m] = near_distance
        nearest[m] = index


@jit(parallel=True)
def run_paths(kind, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
              table, geometry, beta, sigma, key, first_particle, z, step_factor, max_dt, delta, energy_threshold,
              max_steps, reached, steps, elapsed, energy, parallel):
    r"""Run the stopped SDE :math:`dZ = (-\beta Z + \sigma^2 s(Z)) dt + \sigma dW` for every row of ``z`` (in place).

    Euler–Maruyama with :math:`dt = \min(\text{max\_dt}, c\,\rho^2/\sigma^2)`, :math:`\rho` the distance to the
    nearest data point; a path stops when :math:`\rho \le \delta` or when its score energy
    :math:`\int \sigma^2 |s(Z)|^2 dt` reaches ``energy_threshold``; ``reached`` gets the nearest point's index,
    or ``NOT_STOPPED`` after ``max_steps`` steps, or ``NOT_FINITE``. The noise of step ``n`` of particle
    ``first_particle + m`` is the counter-based normal ``(key, STEP_STREAM, n, 0, particle)``.
    """
    count = z.shape[0]
    n_blocks = (count + 15) // 16
    if parallel:
        for b in prange(n_blocks):
            _path_block(kind, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
                        table, geometry, beta, sigma, key, first_particle, z, step_factor, max_dt, delta,
                        energy_threshold, max_steps, reached, steps, elapsed, energy, b * 16, min(count, (b + 1) * 16))
    else:
        _path_block(kind, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
                    table, geometry, beta, sigma, key, first_particle, z, step_factor, max_dt, delta, energy_threshold,
                    max_steps, reached, steps, elapsed, energy, 0, count)


@jit
def _path_block(kind, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
                table, geometry, beta, sigma, key, first_particle, z, step_factor, max_dt, delta, energy_threshold,
                max_steps, reached, steps, elapsed, energy, lo, hi):
    dim = z.shape[1]
    score = np.empty(dim)
    noise = np.empty((1, dim))
    sigma_square = sigma * sigma
    for m in range(lo, hi):
        position = z[m]
        n = 0
        time = 0.0
        path_energy = 0.0
        status = NOT_STOPPED
        while True:
            _, distance, nearest = score_point(kind, position, points, point_squares, two_nu, kappa, log_weights,
                                               scale, variance, inverse_stationary, table, geometry, score)
            if distance <= delta or path_energy >= energy_threshold:
                status = nearest
                break
            if n >= max_steps:
                break
            dt = min(max_dt, step_factor * distance * distance / sigma_square)
            normal_rows(key, STEP_STREAM, first_particle + m, n, int64(0), noise, int64(0), int64(1))  # no literal variants
            root = sigma * math.sqrt(dt)
            finite = True
            square = 0.0
            for k in range(dim):
                square += score[k] * score[k]
                position[k] += (sigma_square * score[k] - beta * position[k]) * dt + root * noise[0, k]
                if not math.isfinite(position[k]):
                    finite = False
            path_energy += sigma_square * square * dt
            time += dt
            n += 1
            if not finite:
                status = NOT_FINITE
                break
        reached[m] = status
        steps[m] = n
        elapsed[m] = time
        energy[m] = path_energy
