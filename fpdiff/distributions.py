r"""Initial laws :math:`p_0` with exact evolution under the linear processes.

Two kinds of distribution are provided:

- :class:`GaussianMixture`, :math:`p(x) = \sum_k w_k N(x; \mu_k, C_k)`, with a
  closed-form density, score, cell averages and law at any time;
- :class:`Empirical`, a cloud of data points :math:`\frac1n\sum_i \delta_{x_i}`,
  which has no density at :math:`t = 0` but becomes a Gaussian mixture at
  every :math:`t > 0`.

Both evolve exactly under any process of the linear family
:math:`dX = -\beta(t) X dt + \sigma(t) dW` (see :mod:`fpdiff.processes`):
since :math:`X_t | X_0 = x_0 \sim N(\alpha_t x_0, v_t I)`,

.. math::

    N(\mu, C) \;\longmapsto\; N(\alpha_t \mu, \; \alpha_t^2 C + v_t I).
"""

import numpy as np
from scipy.special import ndtr

from ._validation import as_finite_array, as_float, as_int, as_points
from .errors import InputError

__all__ = ["GaussianMixture", "Empirical"]

COVARIANCE_KINDS = ("isotropic", "diagonal", "full")

# work arrays of the density/score evaluation hold about this many floats
_BLOCK_ELEMENTS = 2**21

_LOG_2PI = float(np.log(2 * np.pi))


def _law_at(process, t):
    """Return ``(alpha_t, v_t)`` of ``process`` as floats, validating both."""
    if not (hasattr(process, "alpha") and hasattr(process, "variance")):
        raise InputError(
            f"`process` must be a linear process with alpha(t) and variance(t) (e.g. fpdiff.OU()); "
            f"got {type(process).__name__}"
        )
    t = as_float(t, "t", nonnegative=True)
    alpha = float(np.asarray(process.alpha(t)))
    variance = float(np.asarray(process.variance(t)))
    if not (np.isfinite(alpha) and alpha > 0 and np.isfinite(variance) and variance >= 0):
        raise InputError(
            f"`process` {process!r} gives alpha={alpha!r}, variance={variance!r} at t={t}; expected alpha > 0, v >= 0"
        )
    return t, alpha, variance


def _check_grid(grid, dim):
    if not (hasattr(grid, "ndim") and hasattr(grid, "edges") and hasattr(grid, "shape")):
        raise InputError(f"`grid` must be an fpdiff Grid; got {type(grid).__name__}")
    if grid.ndim != dim:
        raise InputError(f"`grid` must have {dim} dimension(s) like the distribution; got a {grid.ndim}-D grid")


def _show(array):
    return " ".join(np.array2string(np.asarray(array), separator=", ", precision=6).split())


def _interval_mass(a, b):
    r"""Standard normal mass :math:`\Phi(b) - \Phi(a)` of intervals ``[a, b]``, accurate in both tails.

    Above the mean the difference is taken of upper tails, :math:`\Phi(-a) - \Phi(-b)`,
    so that it keeps full relative accuracy where :math:`\Phi(b) \approx 1`.
    """
    upper = a >= 0
    mass = np.where(upper, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
    return np.maximum(mass, 0.0)


class GaussianMixture:
    r"""Mixture of Gaussians :math:`p(x) = \sum_{k=1}^K w_k \, N(x; \mu_k, C_k)` in :math:`\mathbb R^d`.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Positive mixture weights summing to 1 (to within 1e-9 relative; they
        are then renormalised exactly).
    means : array_like, shape (K, d) or (K,)
        Component means; a 1-D array is ``K`` means in one dimension.
    covs : array_like, shape (K,), (K, d) or (K, d, d)
        Component covariances: isotropic variances :math:`C_k = s_k I`,
        diagonal variances :math:`C_k = \mathrm{diag}(s_{k1}, \dots, s_{kd})`,
        or full symmetric positive-definite matrices.

    Attributes
    ----------
    dim : int
        Dimension :math:`d`.
    n_components : int
        Number of components :math:`K`.
    weights : ndarray, shape (K,)
    means : ndarray, shape (K, d)
    covariances : ndarray, shape (K, d, d)
        Full covariance matrices, whatever the parametrisation.
    covariance_kind : {"isotropic", "diagonal", "full"}
        The parametrisation given (kept by :meth:`evolve`).
    precisions : ndarray, shape (K, d, d)
        Inverse covariances :math:`P_k = C_k^{-1}` (from the Cholesky factors).

    Notes
    -----
    Densities are computed in log space from Cholesky factors
    :math:`C_k = L_k L_k^T`:

    .. math::

        \log N(x; \mu_k, C_k) = -\tfrac12 |L_k^{-1}(x - \mu_k)|^2
            - \tfrac d2 \log 2\pi - \textstyle\sum_i \log (L_k)_{ii},

    combined by a log-sum-exp, so :meth:`logpdf` and :meth:`~GaussianMixture.score` stay
    finite and accurate far in the tails, where every :math:`N(x;\mu_k,C_k)`
    underflows.
    """

    def __init__(self, weights, means, covs):
        weights = as_finite_array(weights, "weights")
        if weights.ndim != 1 or weights.size == 0:
            raise InputError(f"`weights` must be a non-empty 1-D array of shape (K,); got shape {weights.shape}")
        if np.any(weights <= 0):
            k = int(np.argmin(weights))
            raise InputError(f"`weights` must be positive; weights[{k}] = {weights[k]!r}")
        total = float(np.sum(weights))
        if abs(total - 1.0) > 1e-9:
            raise InputError(f"`weights` must sum to 1 (within 1e-9); they sum to {total!r}")
        K = weights.size

        means = np.array(as_finite_array(means, "means"))  # a copy: frozen below
        means_shape = means.shape
        if means.ndim == 1:
            means = means[:, None]
        if means.ndim != 2 or means.shape[0] != K:
            raise InputError(
                f"`means` must have shape (K, d) with K = {K} (the number of weights), or (K,) in one "
                f"dimension; got shape {means_shape}"
            )
        d = means.shape[1]
        if d == 0:
            raise InputError("`means` must have at least one coordinate; got shape (K, 0)")

        covs = np.array(as_finite_array(covs, "covs"))
        if covs.shape == (K,):
            kind = "isotropic"
            variances = np.repeat(covs[:, None], d, axis=1)
        elif covs.shape == (K, d):
            kind = "diagonal"
            variances = covs.copy()
        elif covs.shape == (K, d, d):
            kind = "full"
            variances = None
        else:
            raise InputError(
                f"`covs` must have shape ({K},) (isotropic variances), ({K}, {d}) (diagonal variances) or "
                f"({K}, {d}, {d}) (full matrices) for {K} components in {d} dimension(s); got shape {covs.shape}"
            )

        if variances is not None:
            if np.any(variances <= 0):
                k = np.unravel_index(np.argmin(covs), covs.shape)
                raise InputError(
                    f"`covs` ({kind} variances) must be positive; covs[{', '.join(str(int(i)) for i in k)}] "
                    f"= {covs[k]!r}"
                )
            matrices = np.zeros((K, d, d))
            matrices[:, np.arange(d), np.arange(d)] = variances
            chol = np.zeros((K, d, d))
            chol[:, np.arange(d), np.arange(d)] = np.sqrt(variances)
        else:
            scale = np.max(np.abs(covs), axis=(1, 2))
            asym = np.max(np.abs(covs - np.swapaxes(covs, 1, 2)), axis=(1, 2))
            bad = np.nonzero(asym > 1e-12 * scale)[0]
            if bad.size:
                k = int(bad[0])
                raise InputError(
                    f"`covs` must be symmetric matrices; covs[{k}] has max |C - C^T| = {asym[k]:.3g} "
                    f"(max |C| = {scale[k]:.3g})"
                )
            matrices = 0.5 * (covs + np.swapaxes(covs, 1, 2))
            chol = np.empty_like(matrices)
            for k in range(K):
                try:
                    chol[k] = np.linalg.cholesky(matrices[k])
                except np.linalg.LinAlgError:
                    smallest = float(np.linalg.eigvalsh(matrices[k])[0])
                    raise InputError(
                        f"`covs` must be positive definite; covs[{k}] is not (smallest eigenvalue {smallest:.3g})"
                    ) from None
            if np.any(np.diagonal(chol, axis1=1, axis2=2) <= 0):
                raise InputError("`covs` must be positive definite; a Cholesky factor has a zero pivot")
            off = matrices.copy()
            off[:, np.arange(d), np.arange(d)] = 0.0
            if not np.any(off):
                # all matrices diagonal: keep the diagonal fast paths (exact cell averages)
                variances = np.diagonal(matrices, axis1=1, axis2=2).copy()

        self.dim = d
        self.n_components = K
        self.weights = weights / total
        self.means = means
        self.covariances = matrices
        self.covariance_kind = kind
        self._covs = covs  # as given, for evolve and repr
        self._variances = variances  # (K, d) when every C_k is diagonal, else None
        self._chol = chol
        self._chol_inv = np.linalg.inv(chol)
        self.precisions = np.einsum("kji,kjl->kil", self._chol_inv, self._chol_inv)
        self._log_weights = np.log(self.weights)
        self._log_norm = -0.5 * d * _LOG_2PI - np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
        for array in (self.weights, self.means, self.covariances, self.precisions, self._covs):
            array.flags.writeable = False

    # ------------------------------------------------------------------ moments

    def mean(self):
        r"""Mean of the mixture, :math:`\sum_k w_k \mu_k`, shape (d,)."""
        return self.weights @ self.means

    def covariance(self):
        r"""Covariance of the mixture, shape (d, d).

        .. math::  \sum_k w_k \left(C_k + (\mu_k - m)(\mu_k - m)^T\right), \quad m = \sum_k w_k \mu_k.
        """
        centred = self.means - self.mean()
        spread = np.einsum("k,ki,kj->ij", self.weights, centred, centred)
        return np.einsum("k,kij->ij", self.weights, self.covariances) + spread

    # ------------------------------------------------------------ density/score

    def _accumulate(self, x, with_score):
        r"""Streaming log-sum-exp over blocks of components.

        Returns ``(log p(x), grad log p(x))`` (the latter ``None`` unless
        ``with_score``). With :math:`\ell_k = \log w_k + \log N(x;\mu_k,C_k)`
        and :math:`m = \max_k \ell_k`: :math:`\log p = m + \log\sum_k e^{\ell_k - m}`
        and :math:`\nabla\log p = \sum_k r_k (-P_k (x - \mu_k))`, :math:`r = \mathrm{softmax}(\ell)`.
        """
        M, d = x.shape
        K = self.n_components
        block = max(1, _BLOCK_ELEMENTS // max(1, M * d))
        run_max = run_sum = run_grad = None
        for start in range(0, K, block):
            sl = slice(start, min(K, start + block))
            diff = x[:, None, :] - self.means[None, sl, :]  # (M, Kb, d)
            if self._variances is not None:
                inv_scale = 1.0 / np.sqrt(self._variances[sl])
                z = diff * inv_scale
                grads = -z * inv_scale if with_score else None
            else:
                z = np.einsum("kij,mkj->mki", self._chol_inv[sl], diff)
                grads = -np.einsum("kji,mkj->mki", self._chol_inv[sl], z) if with_score else None
            logs = self._log_weights[sl] + self._log_norm[sl] - 0.5 * np.einsum("mki,mki->mk", z, z)
            block_max = np.max(logs, axis=1)
            if run_max is None:
                new_max = block_max
            else:
                new_max = np.maximum(run_max, block_max)
            rel = np.exp(logs - new_max[:, None])
            part_sum = np.sum(rel, axis=1)
            part_grad = np.einsum("mk,mki->mi", rel, grads) if with_score else None
            if run_max is None:
                run_sum, run_grad = part_sum, part_grad
            else:
                shrink = np.exp(run_max - new_max)
                run_sum = run_sum * shrink + part_sum
                if with_score:
                    run_grad = run_grad * shrink[:, None] + part_grad
            run_max = new_max
        logp = run_max + np.log(run_sum)
        score = run_grad / run_sum[:, None] if with_score else None
        return logp, score

    def logpdf(self, x):
        r"""Log density :math:`\log p(x)` at points ``x`` of shape (M, d); returns (M,).

        A 1-D ``x`` is M points when ``dim == 1`` (one point otherwise).
        Computed by log-sum-exp of the component log densities, so it is
        finite wherever ``x`` is.
        """
        x = as_points(x, self.dim)
        return self._accumulate(x, with_score=False)[0]

    def pdf(self, x):
        r"""Density :math:`p(x) = \sum_k w_k N(x; \mu_k, C_k)` at points ``x`` of shape (M, d); returns (M,)."""
        return np.exp(self.logpdf(x))

    def score(self, x):
        r"""Score :math:`\nabla \log p(x)` at points ``x`` of shape (M, d); returns (M, d).

        .. math::

            \nabla \log p(x) = -\sum_k r_k(x) \, P_k (x - \mu_k), \qquad
            r_k(x) = \frac{w_k N(x;\mu_k,C_k)}{p(x)}, \quad P_k = C_k^{-1},

        with the responsibilities :math:`r_k` formed as a softmax of log
        densities: far in the tails the score is that of the dominating
        component, not NaN.
        """
        x = as_points(x, self.dim)
        return self._accumulate(x, with_score=True)[1]

    # ----------------------------------------------------------------- sampling

    def sample(self, n, seed=None):
        """Draw ``n`` independent points, shape (n, d), with ``numpy.random.default_rng(seed)``."""
        n = as_int(n, "n", minimum=0)
        rng = np.random.default_rng(seed)
        component = rng.choice(self.n_components, size=n, p=self.weights)
        noise = rng.standard_normal((n, self.dim))
        if self._variances is not None:
            return self.means[component] + np.sqrt(self._variances[component]) * noise
        return self.means[component] + np.einsum("nij,nj->ni", self._chol[component], noise)

    # ---------------------------------------------------------------- evolution

    def evolve(self, process, t):
        r"""The exact law at time ``t`` of ``process`` started from this mixture.

        .. math::

            p_t = \sum_k w_k \, N(\alpha_t \mu_k, \; \alpha_t^2 C_k + v_t I),

        with :math:`\alpha_t`, :math:`v_t` from ``process.alpha(t)`` and
        ``process.variance(t)``. The parametrisation (isotropic, diagonal,
        full) is kept; ``t = 0`` returns an equal mixture.
        """
        t, alpha, variance = _law_at(process, t)
        if t == 0:
            return GaussianMixture(self.weights, self.means, self._covs)
        covs = alpha * alpha * self._covs
        if self.covariance_kind == "full":
            covs = covs + variance * np.eye(self.dim)
        else:
            covs = covs + variance
        return GaussianMixture(self.weights, alpha * self.means, covs)

    # ---------------------------------------------------------------- on a grid

    def cell_average(self, grid):
        r"""Average of the density over every cell of ``grid``: :math:`\frac{1}{|C|}\int_C p\,dx`.

        Returns an array of shape ``grid.shape``.

        When every covariance is diagonal (isotropic and diagonal mixtures,
        or full matrices that happen to be diagonal) the average is exact: a
        product over axes of normal-CDF differences,

        .. math::

            \frac{1}{|C|}\int_C p = \sum_k w_k \prod_{i=1}^d
                \frac{\Phi(\frac{b_i - \mu_{ki}}{s_{ki}}) - \Phi(\frac{a_i - \mu_{ki}}{s_{ki}})}{b_i - a_i},

        with upper-tail differences above the mean so that cells far in
        either tail keep full relative accuracy. Correlated covariances are
        averaged by Gauss–Legendre quadrature with 6 nodes per axis and cell
        (:meth:`Grid.quadrature_average`), whose error is :math:`O(h^{12})`.
        """
        _check_grid(grid, self.dim)
        if self._variances is None:
            return grid.quadrature_average(self.pdf, 6)
        widths = [np.diff(edges) for edges in grid.edges]
        total = np.zeros(tuple(grid.shape))
        for k in range(self.n_components):
            factors = []
            for axis, edges in enumerate(grid.edges):
                s = np.sqrt(self._variances[k, axis])
                u = (edges - self.means[k, axis]) / s
                factors.append(_interval_mass(u[:-1], u[1:]) / widths[axis])
            term = factors[0] * self.weights[k]
            for factor in factors[1:]:
                term = np.multiply.outer(term, factor)
            total += term
        return total

    def __repr__(self):
        if self.n_components * self.dim <= 12:
            return (
                f"GaussianMixture(weights={_show(self.weights)}, means={_show(self.means)}, "
                f"covs={_show(self._covs)})"
            )
        return (
            f"<GaussianMixture: {self.n_components} components in {self.dim} dimension(s), "
            f"{self.covariance_kind} covariances>"
        )


class Empirical:
    r"""Empirical law of data points, :math:`p_0 = \frac1n \sum_{i=1}^n \delta_{x_i}`.

    Parameters
    ----------
    points : array_like, shape (n, d) or (n,)
        The data points; a 1-D array is ``n`` points in one dimension.

    Notes
    -----
    A point cloud has no density, so ``pdf``, ``logpdf`` and
    ``score`` raise; :meth:`evolve` to any :math:`t > 0` gives the exact
    Gaussian mixture :math:`\frac1n\sum_i N(\alpha_t x_i, v_t I)`, whose
    score is the empirical (kernel) score.
    """

    def __init__(self, points):
        points = np.array(as_finite_array(points, "points"))  # a copy: frozen below
        shape = points.shape
        if points.ndim == 1:
            points = points[:, None]
        if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] == 0:
            raise InputError(f"`points` must be a non-empty array of shape (n, d) or (n,); got shape {shape}")
        self.points = points
        self.points.flags.writeable = False
        self.n_points, self.dim = points.shape

    def mean(self):
        """Mean of the points, shape (d,)."""
        return np.mean(self.points, axis=0)

    def sample(self, n, seed=None):
        """Draw ``n`` points with replacement, shape (n, d), with ``numpy.random.default_rng(seed)``."""
        n = as_int(n, "n", minimum=0)
        rng = np.random.default_rng(seed)
        return self.points[rng.integers(0, self.n_points, size=n)]

    def evolve(self, process, t):
        r"""The exact law at time ``t`` of ``process`` started from the points.

        .. math::  p_t = \frac1n \sum_{i=1}^n N(\alpha_t x_i, \, v_t I) \qquad (t > 0);

        ``t = 0`` returns this object.
        """
        t, alpha, variance = _law_at(process, t)
        if t == 0:
            return self
        if variance <= 0:
            raise InputError(f"{process!r} has variance {variance!r} at t={t}; cannot form a mixture; use a larger `t`")
        n = self.n_points
        return GaussianMixture(np.full(n, 1.0 / n), alpha * self.points, np.full(n, variance))

    def cell_average(self, grid):
        r"""Histogram density on ``grid``: fraction of points in each cell divided by the cell volume.

        Raises :class:`InputError` if a point lies outside the grid.
        """
        _check_grid(grid, self.dim)
        lo = np.array([e[0] for e in grid.edges])
        hi = np.array([e[-1] for e in grid.edges])
        outside = np.any((self.points < lo) | (self.points > hi), axis=1)
        if np.any(outside):
            i = int(np.argmax(outside))
            box = [(float(a), float(b)) for a, b in zip(lo, hi)]
            raise InputError(
                f"`points`: {int(outside.sum())} of {self.n_points} lie outside the grid {box}, "
                f"e.g. points[{i}] = {self.points[i].tolist()}; widen the grid"
            )
        counts, _ = np.histogramdd(self.points, bins=grid.edges)
        return counts / (self.n_points * grid.cell_volume)

    def _no_density(self, *args, **kwargs):
        raise InputError(
            "an Empirical distribution (a point cloud) has no density or score; "
            "evolve it to t > 0 first: `dist.evolve(process, t)`"
        )

    pdf = logpdf = score = _no_density

    def __repr__(self):
        return f"Empirical(<{self.n_points} points in {self.dim} dimension(s)>)"
