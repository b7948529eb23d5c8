r"""A table of the OU Green's function in two scaled variables, for the score's kernel.

The OU transition density over its invariant one is Mehler's kernel: with :math:`a = e^{-\beta t}`,
:math:`s^2 = \sigma^2/(2\beta)`, :math:`\hat\rho = |x - y|/s` and :math:`\hat\mu = |x + y|/s`,

.. math::  \frac{p_t(y \to x)}{m(x)} = (1 - a^2)^{-d/2}
           \exp\Big(\frac{2a\,x\cdot y - a^2(|x|^2 + |y|^2)}{2 s^2 (1 - a^2)}\Big)
           = (1 - a^2)^{-d/2} \exp\big(\hat\mu^2 g(a) - \hat\rho^2 h(a)\big),
           \qquad g = \frac{a}{4(1 + a)}, \quad h = \frac{a}{4(1 - a)}

(use :math:`x\cdot y = (\hat\mu^2 - \hat\rho^2) s^2/4` and :math:`|x|^2 + |y|^2 = (\hat\mu^2 + \hat\rho^2) s^2/2`),
so that, with :math:`\tau = \beta t` and :math:`\lambda = r/\beta`,

.. math::  G_r(y \to x) = \frac{m(x)}{\beta} F(\hat\rho, \hat\mu), \qquad
           F(\hat\rho, \hat\mu) = \int_0^\infty e^{-\lambda\tau} (1 - e^{-2\tau})^{-d/2}
           e^{\hat\mu^2 g(e^{-\tau}) - \hat\rho^2 h(e^{-\tau})}\, d\tau :

a function of two variables for given :math:`d` and :math:`\lambda` (no closed form is known for
:math:`y \ne 0`; for :math:`y = 0` it is a Tricomi function). :math:`\nabla_x \log(G_r/m)
= \partial_{\hat\rho}\log F\, (x - y)/(s|x - y|) + \partial_{\hat\mu}\log F\, (x + y)/(s|x + y|)`, which is the
score's term for the pair (:mod:`.score`).

The table holds :math:`\log F` and its derivatives :math:`\partial_\xi, \partial_\zeta, \partial_{\xi\zeta}` at the
nodes of a uniform grid in

.. math::  \xi = \log\hat\rho + \hat\rho, \qquad \zeta = \hat\mu - \hat\rho ,

and the kernel interpolates it by bicubic Hermite interpolation (``_kernels.ou_table_lookup``). Why these
variables: :math:`\log\hat\rho` resolves the pole at :math:`x = y` (:math:`\log F \approx (2 - d)\log\hat\rho`,
:math:`\log\log` in d = 2), while for large distances :math:`\log F` varies on the scale of :math:`\hat\rho` itself;
and for large :math:`|x|, |y|` :math:`\log F \approx (\hat\mu - \hat\rho)_+^2/8` (the saddle point
:math:`a^* = (\hat\mu - \hat\rho)/(\hat\mu + \hat\rho)` of the exponent), a kink at :math:`x \cdot y = 0` smoothed
over :math:`|\hat\mu - \hat\rho| \lesssim \sqrt{8\lambda}` whatever the scale, which a grid in
:math:`\hat\mu^2` or :math:`\log\hat\rho` alone would need ever finer steps to follow. By the triangle inequality
:math:`|\zeta| \le 2\min(|x|, |y|)/s`, so the columns :math:`|\zeta| \le 2\max_i|x_i|/s` cover every pair.

The nodes' values are cumulants under the trapezoidal rule in :math:`\log\tau`
(``_kernels.table_node``), with step :math:`\min(0.1, 3/(\hat\rho_{max} + \hat\mu_{max}))` from
:math:`\tau = \hat\rho_{min}^2/(2(150 + 4d))` to :math:`(45 + 2\sqrt\lambda\,\hat\rho_{max})/\lambda + 10`
(its error is below 1e-13, measured against step halving). With steps :data:`XI_STEP` = 0.05 and
:data:`ZETA_STEP` = 0.1, measured against the log-time rule of :mod:`.green` (which computes
:math:`|x - a_t y|^2` directly) at random pairs :math:`10^{-5} s \le |x - y| \le 8 s`, :math:`|y| \lesssim 5 s`,
:math:`\lambda` in {0.2, 1, 5}: the absolute error of :math:`\log G_r` is below 2e-8 for d <= 3 and 5e-8 for
d = 10 and 20, the relative error of :math:`\nabla\log(G_r/m)` below 1.1e-6 for d <= 3, 2e-6 for d = 10 and
3e-6 for d = 20 (the
largest at :math:`\lambda` = 0.2; at :math:`\lambda \ge 1` five to ten times smaller; interpolation errors
:math:`O(h^4)` in value and :math:`O(h^3)` in the gradient). ``tests/test_homogeneous.py`` checks the bounds
1e-7 and 1e-5 against that rule and against :func:`scipy.integrate.quad`, and that the sampler ends its paths
where it ended them with the quadrature. These errors are far below the sampler's time-step bias (about 1e-2 in
total variation at the default step factor, ``benchmarks/RESULTS.md``, "Random time reversal").

Cost: ``rows x columns`` nodes of 32 bytes, :math:`(\log(\hat\rho_{max}/\hat\rho_{min}) + \hat\rho_{max})/0.05`
rows and :math:`40\max_i|x_i|/s` columns (10^4 to 5 x 10^5 nodes for data within a few :math:`s`), built in
0.1 to 1.5 s on two threads (each node sums only the terms of the rule within :math:`e^{-40}` of its largest)
and cached for equal arguments; a lookup (one logarithm, 16 nodes' values, about 50 multiply-adds) costs about
as much as Brownian motion's Bessel functions.
"""

import functools
import math

import numpy as np

from .._validation import as_float
from . import _kernels
from .green import check_rate

__all__ = ["ou_green_table", "XI_STEP", "ZETA_STEP", "MAX_TABLE_NODES", "EMPTY_TABLE"]

#: grid step in xi = log(rho/s) + rho/s
XI_STEP = 0.05

#: grid step in zeta = (|x + y| - |x - y|)/s
ZETA_STEP = 0.1

#: largest table (nodes) built; beyond it the score keeps the quadrature (32 bytes a node)
MAX_TABLE_NODES = 2_000_000

#: the table of a score that has none (every pair goes to the quadrature)
EMPTY_TABLE = np.zeros((0, 0, 4))


def _quadrature_grid(dim, rate_ratio, rho_min, rho_max, mu_max):
    r"""Log terms :math:`c_k`, :math:`h_k`, :math:`g_k` of the trapezoidal rule in :math:`\log\tau` (see the module
    docstring)."""
    step = min(0.1, 3.0 / (rho_max + mu_max))
    low = math.log(rho_min**2 / (2.0 * (150.0 + 4.0 * dim)))
    high = math.log((45.0 + 2.0 * math.sqrt(rate_ratio) * rho_max) / rate_ratio + 10.0)
    log_tau = np.arange(low, high + step, step)
    tau = np.exp(log_tau)
    log_terms = math.log(step) + log_tau - rate_ratio * tau - 0.5 * dim * np.log(-np.expm1(-2.0 * tau))
    small_time = 0.25 / np.expm1(tau)          # h = a / (4 (1 - a))
    large_time = 0.25 / (np.exp(tau) + 1.0)    # g = a / (4 (1 + a))
    return log_terms, small_time, large_time


@functools.lru_cache(maxsize=16)
def _table(dim, rate_ratio, rho_min, rho_max, radius):
    xi_start = math.log(rho_min) + rho_min
    rows = int(math.ceil((math.log(rho_max) + rho_max - xi_start) / XI_STEP)) + 2
    zeta_start = -2.0 * radius - ZETA_STEP
    columns = int(math.ceil(4.0 * radius / ZETA_STEP)) + 3
    if rows * columns > MAX_TABLE_NODES:
        return None
    grid = _quadrature_grid(dim, rate_ratio, rho_min, rho_max, rho_max + 2.0 * radius + ZETA_STEP)
    table = np.empty((rows, columns, 4))
    _kernels.build_ou_table(*grid, xi_start, XI_STEP, zeta_start, ZETA_STEP, table)
    return table, (xi_start, XI_STEP, zeta_start, ZETA_STEP)


def ou_green_table(process, r, dim, min_distance, max_distance, radius):
    r"""The table of :math:`\log F` for ``process`` (an OU) and its ``geometry``: ``(table, geometry)`` or None.

    Parameters
    ----------
    process : OU
        The forward process.
    r : float
        Killing rate, > 0.
    dim : int
        Dimension d.
    min_distance, max_distance : float
        The range of :math:`|x - y|` the table covers (outside it the kernel uses the quadrature).
    radius : float
        :math:`\max_i |x_i|` of the data (the columns cover :math:`|\zeta| \le 2` ``radius``:math:`/s`).

    Returns
    -------
    (ndarray (rows, columns, 4), ndarray (6,)) or None
        The table (``_kernels.build_ou_table``) and ``geometry`` = ``(xi_start, xi_step, zeta_start, zeta_step, s,
        log((2 pi s^2)^{-d/2} / beta))`` as the kernel takes them; None if the table would have more than
        :data:`MAX_TABLE_NODES` nodes.
    """
    r = check_rate(r)
    spread = math.sqrt(process.stationary_variance)
    min_distance = as_float(min_distance, "min_distance", positive=True)
    max_distance = max(as_float(max_distance, "max_distance", positive=True), 2.0 * min_distance)
    built = _table(int(dim), r / process.beta, min_distance / spread, max_distance / spread,
                   as_float(radius, "radius", nonnegative=True) / spread)
    if built is None:
        return None
    table, grid = built
    log_scale = -0.5 * dim * math.log(2.0 * math.pi * spread**2) - math.log(process.beta)
    return table, np.array([*grid, spread, log_scale])
