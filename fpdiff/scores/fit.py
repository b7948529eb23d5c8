r"""Fit a score by denoising score matching with linear-in-parameters features (numpy/scipy only).

:func:`fit_dsm` gives realistic, imperfect *learned* scores without a deep
learning framework: at each time :math:`t_j` of a list it draws noised data
:math:`X_t = \alpha_t X_0 + \sqrt{v_t}\,Z` (:math:`X_0` from the data points,
:math:`Z \sim N(0, I)`), regresses the noise :math:`Z` on features of
:math:`X_t` by ridge least squares, and tabulates the fitted score
:math:`s_\theta = -\hat\varepsilon_\theta/\sqrt{v_t}` on a grid of nodes (a
:class:`~fpdiff.TabulatedScore`, optionally written to an HDF5 score
file).

The model at time :math:`t_j` (one independent fit per time) is

.. math::

    \hat\varepsilon_\theta(x) = w_0 + W_1 \frac{x - m_j}{r_j}
        + \sum_{k=1}^{K} w_k \exp\!\left(-\frac{|x - c_{jk}|^2}{2 h_{jk}^2}\right),

an affine part (``m_j``, ``r_j``: the mean and standard deviation of the
:math:`X_t` samples, per coordinate, for conditioning only) plus :math:`K`
Gaussian radial basis functions. With :math:`K = 0` it is the best Gaussian
approximation; the true :math:`\hat\varepsilon` of Gaussian data is affine
in :math:`x`, so the model contains it.

Denoising score matching (Vincent 2011; Song & Ermon 2019, eq. 2; Ho et al. 2020,
eq. 14): since :math:`\nabla\log p_t(x) = -E[Z \mid X_t = x]/\sqrt{v_t}` (Tweedie's
formula, Efron 2011: :math:`s = (\alpha_t \hat x_0 - x)/v_t`), the minimiser over all
functions of :math:`E|\varepsilon(X_t) - Z|^2` is :math:`-\sqrt{v_t}\,\nabla\log p_t`,
and regressing :math:`-Z/\sqrt{v_t}` (the score target) is the same problem
scaled by the constant :math:`1/v_t`. Over the feature span the fit minimises
the empirical loss plus a ridge penalty on the RBF weights only (the affine
part is not penalised, so a Gaussian is fitted without shrinkage bias).
"""

import numpy as np
import scipy.linalg

from .._validation import as_finite_array, as_float, as_int, as_points, check_choice
from ..errors import InputError
from .base import check_process
from .tabulated import OUTSIDE_POLICIES, PARAMETRIZATIONS, TabulatedScore, from_score, grid_nodes

__all__ = ["fit_dsm", "evaluate_model", "DEFAULT_NODES", "DEFAULT_BANDWIDTH"]

#: default number of nodes per axis of the tabulated field, by dimension (4 and more: 17)
DEFAULT_NODES = {1: 129, 2: 65, 3: 33}
#: default RBF width as a multiple of the distance from a centre to its nearest other centre: 1-D, d >= 2
#: (chosen by the score error on Gaussian mixtures; in 1-D the nearest gap is the smaller of the two
#: neighbouring gaps, so a wider factor gives about the same overlap)
DEFAULT_BANDWIDTH = (1.5, 1.0)
#: half-width of the default box in standard deviations (of the noise at each time, and of the prior)
BOX_STANDARD_DEVIATIONS = 5.0
#: X_t samples used to place the centres by k-means in d >= 2 (placement only; the fit uses all samples)
KMEANS_SAMPLES = 4096
KMEANS_ITERATIONS = 10
#: node rows evaluated per block when tabulating (bounds the memory of the feature matrix)
BLOCK_ROWS = 16384

_FIT_KEYS = ("fitter", "n_data", "dim", "n_features", "bandwidth", "ridge", "samples_per_time", "seed", "loss",
             "model")


def fit_dsm(process, data_points, times, axes=None, *, path=None, n_features=32, bandwidth=None, ridge=1e-3,
            samples_per_time=20000, seed=0, parametrization="score", outside="raise", meta=None):
    r"""Fit a score to data by denoising score matching and tabulate it (optionally write a score file).

    At each time :math:`t_j` the model :math:`\hat\varepsilon_\theta` (module
    docstring: affine part plus ``n_features`` Gaussian RBFs) minimises

    .. math::

        L_j(\theta) = \frac1N \sum_{i=1}^N \bigl|\hat\varepsilon_\theta(X^{(i)}_{t_j}) - Z^{(i)}\bigr|^2
                      + \lambda_j \sum_{k=1}^K |w_k|^2,
        \qquad X^{(i)}_{t_j} = \alpha_{t_j} X_0^{(i)} + \sqrt{v_{t_j}}\, Z^{(i)},

    with :math:`X_0^{(i)}` drawn with replacement from ``data_points``,
    :math:`Z^{(i)} \sim N(0, I)`, :math:`N` = ``samples_per_time``, and
    :math:`\lambda_j` = ``ridge`` times the mean diagonal entry of the RBF
    block of the Gram matrix :math:`\Phi^\top\Phi/N` (so ``ridge`` is
    dimensionless and does not depend on the number or width of the features).
    The solution solves the normal equations
    :math:`(\Phi^\top\Phi/N + \lambda_j P)\,W = \Phi^\top Z/N` (:math:`P` selects
    the RBF weights) by Cholesky. The fitted score is
    :math:`s_\theta = -\hat\varepsilon_\theta/\sqrt{v_{t_j}}`; the minimiser over
    all functions would be the exact score (Tweedie: :math:`E[Z \mid X_t = x] = -\sqrt{v_t}\,\nabla\log p_t(x)`).

    Parameters
    ----------
    process : LinearProcess
        The forward process (OU, VP, VE, Brownian).
    data_points : array_like, shape (n, d) or (n,)
        Training data (a 1-D array is ``n`` points in one dimension).
    times : array_like, shape (n_t,)
        Strictly increasing times > 0 to fit at; the result is valid on
        ``[times[0], times[-1]]`` (linear in ``t`` in between). To sample down
        to ``t_min``, include ``t_min``; small times are best placed
        geometrically (e.g. ``np.geomspace(t_min, T, 40)``).
    axes : sequence of d array_like, optional
        Node coordinates of the table (strictly increasing). Default: per
        dimension a uniform axis (129 nodes in 1-D, 65 per axis in 2-D, 33 in
        3-D, 17 above) over the box covering :math:`\alpha_t x_i \pm 5\sqrt{v_t}`
        for every data point and time, and the prior's :math:`\pm 5` standard
        deviations. For VE processes (prior much wider than the data) pass
        finer axes: one uniform axis cannot resolve both.
    path : str or os.PathLike, optional
        If given, the table is also written there (:meth:`TabulatedScore.save`, atomic).
    n_features : int
        Number :math:`K \ge 0` of Gaussian RBFs per time. Centres: in 1-D the
        quantiles :math:`(k - 1/2)/K` of the :math:`X_t` samples; in d >= 2
        k-means (k-means++ seeding, 10 Lloyd iterations) on up to 4096 of them.
        Either way they follow the density of :math:`X_t`.
    bandwidth : float, optional
        Width :math:`h_{jk}` of each RBF as a multiple of the distance from its
        centre to the nearest other centre (adaptive: narrow where the data are
        dense); default 1.5 in 1-D, 1.0 in d >= 2 (about one local spacing either way).
    ridge : float
        Relative ridge penalty (>= 0) on the RBF weights, see above.
    samples_per_time : int
        Number :math:`N` of noised samples per time; at least the number of
        parameters per output, ``1 + d + n_features``.
    seed : int
        Seed of ``np.random.default_rng``; time :math:`t_j` uses the ``j``-th
        spawned child of ``np.random.SeedSequence(seed)``. Same seed, same fit.
    parametrization : {"score", "eps", "x0", "v"}
        What the table stores (``fpdiff.scores.tabulated``); the score is the same.
    outside : {"raise", "clamp"}
        Policy of the returned table outside its box.
    meta : dict, optional
        Extra information to record; its keys must differ from those the fit writes.

    Returns
    -------
    TabulatedScore
        The fitted score at the nodes of ``axes`` at ``times``. Its ``meta``
        holds ``fitter``, ``n_data``, ``dim``, ``n_features``, ``bandwidth``,
        ``ridge``, ``samples_per_time``, ``seed``, ``loss`` (the training loss
        :math:`\frac1N\sum|\hat\varepsilon_\theta - Z|^2` per time, without the
        penalty; a perfect model reaches :math:`d - E|E[Z|X_t]|^2`), and
        ``model`` (``centres`` (n_t, K, d), ``widths`` (n_t, K), ``shift`` and
        ``scale`` (n_t, d), ``coefficients`` (n_t, 1 + d + K, d)) from which
        :func:`evaluate_model` evaluates the fit anywhere.

    Raises
    ------
    InputError
        For a malformed argument (named, with what was received).

    Notes
    -----
    The fit is a regression, so it smooths: with few features it cannot
    resolve individual training points and generates new points, whereas the
    exact minimiser of the same loss on the training set
    (:class:`~fpdiff.EmpiricalScore`) memorises them. At small
    :math:`t` the score error grows like :math:`1/\sqrt{v_t}` (the noise
    target's variance does not shrink), but what sampling uses,
    :math:`v_t s_\theta`, stays accurate.
    """
    process = check_process(process)
    data = _check_data(data_points)
    n_data, dim = data.shape
    times = _check_times(times)
    n_features = as_int(n_features, "n_features", minimum=0)
    if bandwidth is None:
        bandwidth = DEFAULT_BANDWIDTH[0] if dim == 1 else DEFAULT_BANDWIDTH[1]
    bandwidth = as_float(bandwidth, "bandwidth", positive=True)
    ridge = as_float(ridge, "ridge", nonnegative=True)
    samples_per_time = as_int(samples_per_time, "samples_per_time", minimum=1 + dim + n_features)
    seed = as_int(seed, "seed", minimum=0)
    check_choice(parametrization, "parametrization", PARAMETRIZATIONS)
    check_choice(outside, "outside", OUTSIDE_POLICIES)
    _check_meta(meta, _FIT_KEYS)
    axes = _default_axes(process, data, times) if axes is None else _check_axes(axes, dim)

    alpha = np.asarray(process.alpha(times), dtype=np.float64) * np.ones_like(times)
    variance = np.asarray(process.variance(times), dtype=np.float64) * np.ones_like(times)
    n_parameters = 1 + dim + n_features
    model = {"centres": np.zeros((len(times), n_features, dim)), "widths": np.zeros((len(times), n_features)),
             "shift": np.zeros((len(times), dim)), "scale": np.zeros((len(times), dim)),
             "coefficients": np.zeros((len(times), n_parameters, dim))}
    loss = np.zeros(len(times))
    streams = np.random.SeedSequence(seed).spawn(len(times))
    for j, stream in enumerate(streams):
        rng = np.random.default_rng(stream)
        noise = rng.standard_normal((samples_per_time, dim))
        noised = alpha[j] * data[rng.integers(n_data, size=samples_per_time)] + np.sqrt(variance[j]) * noise
        fitted, loss[j] = fit_features(noised, noise, n_features, bandwidth, ridge, rng)
        for key, value in fitted.items():
            model[key][j] = value

    nodes = grid_nodes(axes)
    values = np.empty((len(times), len(nodes), dim))
    for j, t in enumerate(times):
        eps = evaluate_model(model, j, nodes)
        values[j] = from_score(-eps / np.sqrt(variance[j]), nodes, float(t), process, parametrization)
    record = {"fitter": "fpdiff.learn.fit_dsm", "n_data": n_data, "dim": dim, "n_features": n_features,
              "bandwidth": bandwidth, "ridge": ridge, "samples_per_time": samples_per_time, "seed": seed,
              "loss": loss, "model": model, **(meta or {})}
    table = TabulatedScore(process, times, axes, values.reshape(len(times), *(len(a) for a in axes), dim),
                           parametrization=parametrization, outside=outside, meta=record)
    if path is not None:
        table.save(path)
    return table


def fit_features(x, target, n_features, bandwidth, ridge, rng):
    """Ridge regression of ``target`` (N, d) on the features of ``x`` (N, d): one time slice of a model.

    Centres by :func:`_place_centres`, widths ``bandwidth`` times the
    nearest-centre distance, inputs standardised by their mean and spread.
    Returns the slice's model entries (``centres``, ``widths``, ``shift``,
    ``scale``, ``coefficients``) and the mean squared residual.
    """
    shift = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    centres = _place_centres(x, n_features, rng)
    widths = bandwidth * _nearest_distance(centres, floor=1e-6 * float(np.max(scale)))
    features = _features(x, shift, scale, centres, widths)
    coefficients = _ridge_solve(features, target, ridge, n_rbf=n_features)
    residual = features @ coefficients - target
    loss = np.einsum("ij,ij->", residual, residual) / len(x)
    return {"centres": centres, "widths": widths, "shift": shift, "scale": scale, "coefficients": coefficients}, loss


def evaluate_model(model, index, x):
    r"""The fitted noise prediction :math:`\hat\varepsilon_\theta(x, t_j)`, shape (M, d), of a :func:`fit_dsm` model.

    The score is :math:`-\hat\varepsilon_\theta/\sqrt{v_{t_j}}`.

    Parameters
    ----------
    model : dict
        ``table.meta["model"]`` of a fitted table (also after :func:`fpdiff.load_score`).
    index : int
        The time index ``j`` of the table's times.
    x : array_like (M, d)
        Points.

    Returns
    -------
    ndarray (M, d)
        :math:`\hat\varepsilon_\theta(x, t_j)`.
    """
    centres, widths = np.asarray(model["centres"][index]), np.asarray(model["widths"][index])
    shift, scale = np.asarray(model["shift"][index]), np.asarray(model["scale"][index])
    coefficients = np.asarray(model["coefficients"][index])
    x = as_points(x, len(shift))
    out = np.empty((len(x), coefficients.shape[1]))
    for start in range(0, len(x), BLOCK_ROWS):
        block = x[start:start + BLOCK_ROWS]
        out[start:start + BLOCK_ROWS] = _features(block, shift, scale, centres, widths) @ coefficients
    return out


# ---------------------------------------------------------------- the regression


def _features(x, shift, scale, centres, widths):
    """Design matrix (M, 1 + d + K): a constant, the standardised coordinates, the Gaussian RBFs."""
    dim = x.shape[1]
    out = np.empty((len(x), 1 + dim + len(centres)))
    out[:, 0] = 1.0
    np.divide(x - shift, scale, out=out[:, 1:1 + dim])
    rbf = out[:, 1 + dim:]
    _squared_distances(x, centres, out=rbf)
    rbf *= -0.5 / (widths * widths)
    np.exp(rbf, out=rbf)
    return out


def _squared_distances(x, centres, out=None):
    """|x_i - c_k|^2, shape (M, K), without the cancellation of the |x|^2 - 2 x.c + |c|^2 expansion."""
    out = np.empty((len(x), len(centres))) if out is None else out
    np.subtract(x[:, 0, None], centres[None, :, 0], out=out)
    out *= out
    for axis in range(1, x.shape[1]):  # one (M, K) pass per coordinate: faster than reducing (M, K, d)
        difference = x[:, axis, None] - centres[None, :, axis]
        difference *= difference
        out += difference
    return out


def _ridge_solve(features, target, ridge, n_rbf):
    """Solve ``(F^T F/N + lambda P) W = F^T Z/N``, P = identity on the last ``n_rbf`` weights."""
    count = len(features)
    gram = features.T @ features / count
    right = features.T @ target / count
    if n_rbf:
        rbf = slice(gram.shape[0] - n_rbf, None)
        penalty = ridge * np.trace(gram[rbf, rbf]) / n_rbf
        gram[rbf, rbf] += penalty * np.eye(n_rbf)
    try:
        return scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), right)
    except np.linalg.LinAlgError:  # singular without a ridge (e.g. coincident features): minimum-norm solution
        return scipy.linalg.lstsq(gram, right)[0]


# ---------------------------------------------------------------- feature placement


def _place_centres(samples, count, rng):
    """RBF centres following the density of ``samples``: quantiles in 1-D, k-means in d >= 2."""
    dim = samples.shape[1]
    if count == 0:
        return np.zeros((0, dim))
    if dim == 1:
        levels = (np.arange(count) + 0.5) / count
        return np.quantile(samples[:, 0], levels)[:, None]
    subset = samples[rng.choice(len(samples), size=min(len(samples), max(KMEANS_SAMPLES, count)), replace=False)]
    centres = _kmeans_plus_plus(subset, count, rng)
    for _ in range(KMEANS_ITERATIONS):
        label = np.argmin(_squared_distances(subset, centres), axis=1)
        sums = np.zeros_like(centres)
        np.add.at(sums, label, subset)
        members = np.bincount(label, minlength=count)
        filled = members > 0
        centres[filled] = sums[filled] / members[filled, None]  # an empty cluster keeps its centre
    return centres


def _kmeans_plus_plus(points, count, rng):
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each next centre drawn with probability ~ D(x)^2."""
    centres = np.empty((count, points.shape[1]))
    centres[0] = points[rng.integers(len(points))]
    nearest = _squared_distances(points, centres[:1])[:, 0]
    for k in range(1, count):
        total = nearest.sum()
        index = rng.choice(len(points), p=nearest / total) if total > 0 else rng.integers(len(points))
        centres[k] = points[index]
        nearest = np.minimum(nearest, _squared_distances(points, centres[k:k + 1])[:, 0])
    return centres


def _nearest_distance(centres, floor):
    """Distance from each centre to its nearest other centre (at least ``floor``; ``floor`` alone for one)."""
    count = len(centres)
    if count < 2:
        return np.full(count, max(floor, 1.0))
    squared = _squared_distances(centres, centres)
    np.fill_diagonal(squared, np.inf)
    return np.maximum(np.sqrt(squared.min(axis=1)), floor)


# ---------------------------------------------------------------- validation and defaults


def _check_meta(meta, fit_keys):
    """``meta`` is None or a dict that does not hold the keys a fit records itself."""
    if meta is not None and not isinstance(meta, dict):
        raise InputError(f"`meta` must be a dict; got {type(meta).__name__}")
    clashes = sorted(set(meta or {}) & set(fit_keys))
    if clashes:
        raise InputError(f"`meta` must not hold the keys the fit records ({', '.join(fit_keys)}); got {clashes}")


def _check_data(data_points):
    data = as_finite_array(data_points, "data_points")
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
        raise InputError(f"`data_points` must be a non-empty array of shape (n, d) (or (n,) in 1-D); "
                         f"got shape {np.shape(data_points)}")
    return np.ascontiguousarray(data)


def _check_times(times):
    times = np.atleast_1d(as_finite_array(times, "times"))
    if times.ndim != 1 or times.size == 0:
        raise InputError(f"`times` must be a non-empty 1-D array of times; got shape {times.shape}")
    if times[0] <= 0 or np.any(np.diff(times) <= 0):
        raise InputError(f"`times` must be strictly increasing and > 0; got {np.array2string(times[:8])}"
                         f"{' ...' if times.size > 8 else ''}")
    return times


def _check_axes(axes, dim):
    if isinstance(axes, np.ndarray) and axes.ndim == 1 and dim == 1:
        axes = [axes]
    try:
        axes = [np.asarray(axis, dtype=np.float64) for axis in axes]
    except (TypeError, ValueError) as error:
        raise InputError(f"`axes` must be a sequence of {dim} coordinate array(s); got {type(axes).__name__}: "
                         f"{error}") from None
    if len(axes) != dim:
        raise InputError(f"`axes` must hold one coordinate array per dimension of the data ({dim}); got {len(axes)}")
    for i, axis in enumerate(axes):
        if axis.ndim != 1 or len(axis) < 2 or not np.all(np.isfinite(axis)) or np.any(np.diff(axis) <= 0):
            raise InputError(f"`axes[{i}]` must be a strictly increasing finite 1-D array of at least 2 "
                             f"coordinates; got shape {axis.shape}")
    return axes


def _default_axes(process, data, times):
    """Uniform axes over the box of alpha_t x_i +- 5 sqrt(v_t) (all times) and the prior's +- 5 sd."""
    alpha = np.asarray(process.alpha(times), dtype=np.float64) * np.ones_like(times)
    spread = BOX_STANDARD_DEVIATIONS * np.sqrt(np.asarray(process.variance(times)) * np.ones_like(times))
    prior_variance = process.stationary_variance
    prior_sd = np.sqrt(float(process.variance(times[-1]) if prior_variance is None else prior_variance))
    lo_data, hi_data = data.min(axis=0), data.max(axis=0)
    scaled = np.stack([np.outer(alpha, lo_data), np.outer(alpha, hi_data)])  # alpha > 0: extremes at the extremes
    lo = np.min(scaled.min(axis=0) - spread[:, None], axis=0)
    hi = np.max(scaled.max(axis=0) + spread[:, None], axis=0)
    lo = np.minimum(lo, -BOX_STANDARD_DEVIATIONS * prior_sd)
    hi = np.maximum(hi, BOX_STANDARD_DEVIATIONS * prior_sd)
    nodes = DEFAULT_NODES.get(data.shape[1], 17)
    return [np.linspace(a, b, nodes) for a, b in zip(lo, hi)]
