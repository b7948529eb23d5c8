r"""The space-only score of the random time reversal.

.. math::  \tilde h(x) = \frac{f(x)}{m(x)}, \qquad f(x) = \frac{r}{n}\sum_{i=1}^n G_r(x_i \to x), \qquad
           s(x) = \nabla \log \tilde h(x)
           = \frac{\sum_i G_r(x_i \to x) \nabla_x \log G_r(x_i \to x)}{\sum_i G_r(x_i \to x)} - \nabla \log m(x),

:math:`f` being the density of :math:`X_\zeta`, :math:`\zeta \sim \mathrm{Exp}(r)`, for the forward process started
from the data (Christensen, Kallsen, Strauch & Trottner 2025). The generative SDE
:math:`dZ = (b(Z) + \sigma^2 s(Z)) dt + \sigma dW` started at :math:`x` reaches the data point :math:`x_i` with
probability :math:`G_r(x_i \to x)/\sum_j G_r(x_j \to x)` (:meth:`HomogeneousScore.hitting_probabilities`).
"""

import numpy as np

from .._parallel import use_parallel
from .._validation import as_finite_array, as_points
from ..errors import InputError
from ..processes.sde import OU, Brownian
from . import _kernels
from .green import check_process, check_rate, green_nodes, grad_log_green, invariant_log_density, log_green
from .table import EMPTY_TABLE, ou_green_table

__all__ = ["HomogeneousScore"]

#: default smallest distance at which the OU quadrature is accurate, relative to the length scale of G_r
MIN_DISTANCE_FRACTION = 1e-3

#: smallest distance the OU table covers (if ``min_distance`` is larger), relative to the length scale of G_r: below
#: the default stopping distance (1% of the data's median nearest-neighbour distance) for any practical data set
TABLE_MIN_DISTANCE_FRACTION = 1e-6

#: how the OU score evaluates its Green's functions (see :class:`HomogeneousScore`)
OU_METHODS = ("table", "quadrature")


def check_points(points, name="points"):
    """Data points as a C-ordered float64 ``(n, d)`` array with ``n >= 1`` and ``d >= 2``."""
    points = as_finite_array(points, name)
    if points.ndim != 2 or points.shape[0] < 1:
        raise InputError(f"`{name}` must be an (n, d) array of n >= 1 data points; got shape {points.shape}")
    if points.shape[1] < 2:
        raise InputError(
            f"`{name}` must have dimension d >= 2; got d = {points.shape[1]}. In d = 1 points are not polar: the "
            "reversed process visits a data point many times before it ends there (it is killed by its local "
            "time at the data), so stopping at the first hit gives the wrong output law. The Green's functions "
            "(fpdiff.homogeneous.green) accept d = 1."
        )
    return np.array(points, dtype=np.float64, order="C")


class HomogeneousScore:
    r"""Score :math:`s = \nabla \log \tilde h` of the random time reversal of ``process`` from ``points``.

    Parameters
    ----------
    process : Brownian or OU
        The symmetric forward process (``Brownian(sigma)``: generator :math:`\tfrac{\sigma^2}{2}\Delta`,
        :math:`m = 1`; ``OU(beta, sigma)``: :math:`m = N(0, \sigma^2/(2\beta) I)`).
    points : array_like (n, d)
        The data :math:`x_1, \dots, x_n`, ``d >= 2`` (points are polar only then; see ``check_points``).
    r : float
        Killing rate of :math:`\zeta \sim \mathrm{Exp}(r)`, > 0.
    min_distance, max_distance : float, optional
        OU only: the range of :math:`|x - x_i|` over which the log-time quadrature of :math:`G_r` is accurate
        (relative error below about 1e-9; see :mod:`fpdiff.homogeneous.green`); the table covers
        ``[min(min_distance, 1e-6 L), max_distance]``, :math:`L = \min(\sigma/\sqrt{2r}, s)`. Defaults: ``1e-3 L``
        and :math:`2\max_i|x_i| + 6 s`, :math:`s^2 = \sigma^2/(2\beta)` (a path of the sampler rarely goes further
        than 6 s beyond the data; further out the quadrature is coarser, the score stays finite). Brownian motion
        uses the exact Bessel form and ignores them.
    method : {None, "table", "quadrature"}
        OU only. ``"table"`` (the default, None): a bicubic table of :math:`\log G_r/m` in two scaled variables
        (``fpdiff.homogeneous.table``; absolute error of :math:`\log G_r` below about 1e-7 and relative error
        of the score's terms below about 1e-5, far below the sampler's time-step bias; built once, in 0.1 to
        1.5 s), with the quadrature for distances outside the table. It costs about as much per data point as
        Brownian motion's Bessel form. ``"quadrature"``: the log-time trapezoidal rule of
        :mod:`fpdiff.homogeneous.green` for every pair (relative error below about 1e-9, 50 to 350 nodes per pair:
        30 to 100 times slower). The table falls back to the quadrature when it would exceed
        ``fpdiff.homogeneous.table.MAX_TABLE_NODES`` nodes (data spread over hundreds of :math:`s`).

    Notes
    -----
    The numba kernel (``_kernels``) sums over the data points with a streaming log-sum-exp, in parallel
    over evaluation points; :meth:`reference_score` is its numpy specification built on
    :func:`fpdiff.homogeneous.green.grad_log_green` (``scipy.special.kve``; for OU the log-time quadrature, which
    the table matches to its bound). Cost per evaluation point: :math:`O(n d)` for Brownian motion and for OU with
    the table, :math:`O(n (d + K))` for OU with :math:`K` quadrature nodes (50 to 400).

    It is not a :class:`fpdiff.Score` (the score of the noising process's marginals :math:`p_t`, which the
    reverse solvers and the audit take): it has no time and belongs to no :math:`p_t`, so the reverse solvers
    refuse it (:func:`fpdiff.scores.as_score` reads ``space_only``). docs/architecture.md ("Contracts")
    says why in full.
    """

    #: a field of space only: the time-indexed solvers and the audit refuse it
    space_only = True

    def __init__(self, process, points, r, *, min_distance=None, max_distance=None, method=None):
        self.process = check_process(process)
        self.r = check_rate(r)
        self.points = check_points(points)
        self.n_points, self.dim = self.points.shape
        self.kappa = np.sqrt(2.0 * self.r) / process.diffusion_constant
        self.two_nu = self.dim - 2
        self._point_squares = np.sum(self.points**2, axis=1)
        self._table, self._geometry = EMPTY_TABLE, np.zeros(6)
        if isinstance(process, Brownian):
            if method is not None:
                raise InputError(f"`method` is for an OU score (Brownian motion uses the Bessel form); got {method!r}")
            self.kind = _kernels.BROWNIAN
            self._nodes = (np.zeros(1), np.ones(1), np.ones(1))
            self._inverse_stationary = 0.0
            # log G_i = constant - nu log rho + log kve - z: the constant of f = (r/n) sum G_i
            nu = 0.5 * (self.dim - 2)
            self._log_constant = (np.log(self.r / self.n_points) + np.log(2.0) - 0.5 * self.dim * np.log(2 * np.pi)
                                  - 2 * np.log(process.diffusion_constant) + nu * np.log(self.kappa))
        else:
            self.kind = _kernels.ORNSTEIN
            spread = np.sqrt(process.stationary_variance)
            length = min(1.0 / self.kappa, spread)
            if min_distance is None:
                min_distance = MIN_DISTANCE_FRACTION * length
            if max_distance is None:
                max_distance = 2.0 * np.sqrt(self._point_squares.max()) + 6.0 * spread
            method = "table" if method is None else method
            if method not in OU_METHODS:
                raise InputError(f"`method` must be None or one of {OU_METHODS}; got {method!r}")
            self._nodes = green_nodes(process, self.r, self.dim, min_distance, max_distance)
            self._inverse_stationary = 1.0 / process.stationary_variance
            self._log_constant = np.log(self.r / self.n_points)
            built = None
            if method == "table":
                table_min = min(min_distance, TABLE_MIN_DISTANCE_FRACTION * length)
                built = ou_green_table(process, self.r, self.dim, table_min, max_distance,
                                       np.sqrt(self._point_squares.max()))
            if built is None:
                method = "quadrature"
            else:
                self._table, self._geometry = built
        self.min_distance = min_distance
        self.max_distance = max_distance
        #: OU: "table" or "quadrature" (see the parameter); None for Brownian motion
        self.method = method

    def __repr__(self):
        return f"HomogeneousScore({self.process!r}, points=<{self.n_points} x {self.dim}>, r={self.r!r})"

    # ----------------------------------------------------------------- kernel side

    @property
    def point_work(self):
        """Inner-loop iterations of the score at one point: data points x quadrature nodes, or data points for the
        closed form and the table (``fpdiff._parallel``)."""
        return self.n_points * (len(self._nodes[0]) if self.method == "quadrature" else 1)

    def kernel_data(self):
        """The arrays and scalars the kernels take after ``kind``, in order (see ``_kernels.score_point``)."""
        log_weights, scale, variance = self._nodes
        return (self.points, self._point_squares, self.two_nu, self.kappa, log_weights, scale, variance,
                self._inverse_stationary, self._table, self._geometry)

    def _evaluate(self, x):
        x = np.array(as_points(x, self.dim), order="C")
        count = x.shape[0]
        out = np.empty_like(x)
        log_f = np.empty(count)
        distance = np.empty(count)
        nearest = np.empty(count, dtype=np.int64)
        _kernels.score_rows(self.kind, x, *self.kernel_data(), out, log_f, distance, nearest,
                            use_parallel(count * self.point_work))
        return x, out, log_f, distance, nearest

    def __call__(self, x):
        return self.score(x)

    def score(self, x):
        r""":math:`\nabla \log \tilde h(x)` for ``x`` (M, d); 0 at a data point (where it is singular)."""
        return self._evaluate(x)[1]

    def log_density(self, x):
        r""":math:`\log \tilde h(x) = \log f(x) - \log m(x)`, ``(M,)``; ``inf`` at a data point."""
        x, _, log_f, _, _ = self._evaluate(x)
        return log_f + self._log_constant - invariant_log_density(self.process, x)

    def nearest(self, x):
        """Distance to the nearest data point and its index, ``(M,)`` each."""
        _, _, _, distance, nearest = self._evaluate(x)
        return distance, nearest

    # ------------------------------------------------------------------ numpy side

    def _pairs(self, x):
        x = as_points(x, self.dim)
        return x[:, None, :], self.points[None, :, :]

    def log_green_matrix(self, x):
        r""":math:`\log G_r(x_i \to x)` for ``x`` (M, d): an ``(M, n)`` array (numpy, :func:`log_green`)."""
        x, points = self._pairs(x)
        return log_green(self.process, self.r, x, points)

    def hitting_probabilities(self, x):
        r"""The exact output law from ``x`` (M, d): :math:`G_r(x_i \to x)/\sum_j G_r(x_j \to x)`, ``(M, n)``.

        A row for a start at a data point is that point's indicator.
        """
        log_g = self.log_green_matrix(x)
        at_point = np.isinf(log_g)
        top = np.max(np.where(at_point, -np.inf, log_g), axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(invalid="ignore", over="ignore"):
            weights = np.where(at_point, 0.0, np.exp(log_g - top))
        hit = at_point.any(axis=1)
        weights[hit] = at_point[hit].astype(float)
        return weights / weights.sum(axis=1, keepdims=True)

    def reference_score(self, x):
        """Numpy specification of :meth:`score` (from :func:`fpdiff.homogeneous.grad_log_green`), ``(M, d)``."""
        x_pairs, points = self._pairs(x)
        log_g = log_green(self.process, self.r, x_pairs, points)
        gradients = grad_log_green(self.process, self.r, x_pairs, points)
        weights = np.exp(log_g - log_g.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        score = np.sum(weights[..., None] * gradients, axis=1)
        if isinstance(self.process, OU):
            score += x_pairs[:, 0, :] / self.process.stationary_variance
        return score

