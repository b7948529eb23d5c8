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
def score_point(kind, x, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
                out):
    r"""Score :math:`\nabla\log\tilde h(x)` into ``out`` (d,); returns ``(log f(x) + const, min distance, nearest)``.

    ``kind`` BROWNIAN: :math:`\log G_i = -\nu\log\rho_i + \log(e^z K_\nu(z)) - z` (+ a constant), gradient
    :math:`-\kappa R_\nu(z) (x - x_i)/\rho_i`. ``kind`` ORNSTEIN: the log-time quadrature of :mod:`.green` with
    nodes ``(log_weights, scale, variance)``, and :math:`\nabla \log m = -x/s^2` subtracted. The sum over data
    points is a streaming log-sum-exp. A point at distance 0 gives distance 0 and a zero score.
    """
    n, dim = points.shape
    x_square = 0.0
    for k in range(dim):
        x_square += x[k] * x[k]
        out[k] = 0.0
    top = -np.inf
    total = 0.0
    x_weight = 0.0  # OU: sum of weights / v  (the coefficient of -x)
    nearest = -1
    nearest_distance = np.inf
    nu = 0.5 * two_nu
    n_nodes = log_weights.shape[0]
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
                pair_x += w / variance[j]
                pair_point += w * a / variance[j]
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
            out[k] = (out[k] - x_weight * x[k]) / total + inverse_stationary * x[k]
    return top + math.log(total), nearest_distance, nearest


@jit(parallel=True)
def score_rows(kind, x, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
               out, log_f, distance, nearest, parallel):
    """:func:`score_point` for every row of ``x`` (M, d), on all threads when ``parallel``."""
    count = x.shape[0]
    n_blocks = (count + 63) // 64
    if parallel:
        for b in prange(n_blocks):
            _score_block(kind, x, points, point_squares, two_nu, kappa, log_weights, scale, variance,
                         inverse_stationary, out, log_f, distance, nearest, b * 64, min(count, (b + 1) * 64))
    else:
        _score_block(kind, x, points, point_squares, two_nu, kappa, log_weights, scale, variance,
                     inverse_stationary, out, log_f, distance, nearest, 0, count)


@jit
def _score_block(kind, x, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
                 out, log_f, distance, nearest, lo, hi):
    for m in range(lo, hi):
        value, near_distance, index = score_point(kind, x[m], points, point_squares, two_nu, kappa, log_weights,
                                                  scale, variance, inverse_stationary, out[m])
        log_f[m] = value
        distance[m] = near_distance
        nearest[m] = index


@jit(parallel=True)
def run_paths(kind, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
              beta, sigma, key, first_particle, z, step_factor, max_dt, delta, energy_threshold, max_steps,
              reached, steps, elapsed, energy, parallel):
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
                        beta, sigma, key, first_particle, z, step_factor, max_dt, delta, energy_threshold, max_steps,
                        reached, steps, elapsed, energy, b * 16, min(count, (b + 1) * 16))
    else:
        _path_block(kind, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
                    beta, sigma, key, first_particle, z, step_factor, max_dt, delta, energy_threshold, max_steps,
                    reached, steps, elapsed, energy, 0, count)


@jit
def _path_block(kind, points, point_squares, two_nu, kappa, log_weights, scale, variance, inverse_stationary,
                beta, sigma, key, first_particle, z, step_factor, max_dt, delta, energy_threshold, max_steps,
                reached, steps, elapsed, energy, lo, hi):
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
                                               scale, variance, inverse_stationary, score)
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
