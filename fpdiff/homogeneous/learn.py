r"""Learn the homogeneous (space-only) score of the random time reversal by denoising score matching.

The generative process of the random time reversal (:mod:`fpdiff.homogeneous.grid`) needs the
space-only score :math:`s = \nabla\log\tilde h = \nabla\log f - \nabla\log m`, with
:math:`f = \frac rn\sum_i G_r(x_i\to\cdot)` the density of :math:`X_\zeta`. Since
:math:`(X_0, X_\zeta)` has the joint law :math:`\alpha(dx_0)\, r G_r(x_0\to x)\,dx`, the law of
:math:`X_0` given :math:`X_\zeta = x` is :math:`\propto \alpha(dx_0) G_r(x_0\to x)`, so

.. math::  E\bigl[\nabla_x \log G_r(X_0\to x) \bigm| X_\zeta = x\bigr]
           = \frac{\sum_i G_r(x_i\to x)\nabla\log G_r(x_i\to x)}{\sum_i G_r(x_i\to x)} = \nabla\log f(x),

and the minimiser over all functions of the **denoising score matching** loss

.. math::  E\Bigl[\bigl|s_\theta(X_\zeta) - \bigl(\nabla_x\log G_r(X_0\to X_\zeta) - \nabla\log m(X_\zeta)\bigr)\bigr|^2
           \mathbf 1\{|X_\zeta - X_0| > \delta\}\Bigr]

is :math:`s` wherever :math:`x` is farther than :math:`\delta` from every data point (the
conditional expectation of the masked target given :math:`X_\zeta = x` is the unmasked
one there). This is Vincent's (2011) argument with the Gaussian transition replaced by
the resolvent kernel, i.e. "random time" instead of a fixed :math:`t`. The mask is
needed because the target grows like :math:`1/|X_\zeta - X_0|` near the data, so its
second moment diverges (logarithmically in 2-D); within :math:`\delta` of a data point
the masked minimiser is biased (it averages over the other points only).

The regression is :mod:`fpdiff.learn`'s: an affine part plus Gaussian radial basis
functions placed by k-means, widths from the nearest-centre distance, a ridge penalty on the RBF
weights (:func:`fpdiff.learn.fit_features`, shared with :func:`fpdiff.learn.fit_dsm`);
here the output is the score itself (no noise parametrisation: there is no :math:`t`).

**Storage without** :math:`t`. The fit is tabulated on a tensor grid and written in the
score-file format (``docs/score-format.md``) as a single time slice: ``t = [1/r]`` (the mean
killing time; any positive label would do, it carries no meaning), ``parametrization =
"score"``, ``process`` the forward process, and in ``meta``: ``homogeneous = 1`` (the field
does not depend on time), ``r`` (the killing rate), ``points`` (the data points, the stopping
set of the generative process), ``delta`` and the fit record. A reader
that knows the convention (:meth:`LearnedHomogeneousScore.load`) evaluates the slice at
every time; :func:`fpdiff.load_score` reads it as an ordinary one-slice
:class:`~fpdiff.TabulatedScore`, valid at ``t = 1/r`` only.
"""

import numpy as np

from .._validation import as_float, as_int, check_choice, check_no_unknown_options
from ..errors import InputError
from ..scores.fit import (DEFAULT_BANDWIDTH, DEFAULT_NODES, _check_axes, _check_data, _check_meta,
                          evaluate_model, fit_features)
from ..scores.io import load_score
from ..scores.tabulated import OUTSIDE_POLICIES, TabulatedScore, grid_nodes
from .green import check_process, check_rate, grad_log_green

__all__ = ["fit_homogeneous_dsm", "LearnedHomogeneousScore", "DEFAULT_DELTA"]

#: default mask radius delta in units of the decay length sigma/sqrt(2r) of G_r (masks < 1% of the samples
#: in 2-D, where the masked mass is ~ (kappa delta)^2 log(1/(kappa delta)) with kappa = sqrt(2r)/sigma)
DEFAULT_DELTA = 0.05
#: half-width of the default table box around the data, in decay lengths (the density of X_zeta falls like
#: e^{-kappa rho}: e^{-6} ~ 2.5e-3 of its value at the data at the box's edge)
BOX_DECAY_LENGTHS = 6.0
#: pairs per block when computing the targets (bounds the memory of OU's quadrature, pairs x nodes)
TARGET_BLOCK = 4096

_FIT_KEYS = ("fitter", "homogeneous", "r", "delta", "points", "n_data", "dim", "n_features", "bandwidth", "ridge", "samples",
             "seed", "masked_fraction", "loss", "model")


class LearnedHomogeneousScore:
    r"""A learned space-only score :math:`s(x) \approx \nabla\log\tilde h(x)`, stored as a one-slice score table.

    Parameters
    ----------
    table : TabulatedScore
        One time slice, parametrization ``"score"``, with ``meta["homogeneous"] = 1``,
        ``meta["r"]`` and ``meta["points"]`` (as :func:`fit_homogeneous_dsm` writes it,
        also after :func:`fpdiff.load_score`).

    Attributes
    ----------
    table : TabulatedScore
        The field on its nodes (one time slice, ``t = [1/r]``; ``meta["homogeneous"] = 1``).
    process : Brownian or OU
    r : float
        The killing rate the score belongs to.
    points : ndarray, shape (n, d)
        The data points (the stopping set of the generative process), from ``meta["points"]``.
    dim : int

    With ``dim``, ``points``, ``r`` and ``score(x)`` it serves as the score of
    :func:`fpdiff.sample_homogeneous` with ``engine="python"``.

    ``score(x)`` (``x`` of shape ``(M, d)``) interpolates the table multilinearly; a time
    argument, if given, is ignored (the score does not depend on it).
    """

    def __init__(self, table):
        if not isinstance(table, TabulatedScore):
            raise InputError(f"`table` must be a TabulatedScore; got {type(table).__name__}")
        if int(table.meta.get("homogeneous", 0)) != 1 or len(table.t) != 1 or table.parametrization != "score":
            raise InputError("`table` is not a homogeneous score: it needs one time slice, parametrization "
                             f"'score' and meta['homogeneous'] = 1; got {len(table.t)} slice(s), "
                             f"{table.parametrization!r}, homogeneous = {table.meta.get('homogeneous')!r}")
        self.table = table
        self.process = check_process(table.process)
        self.r = check_rate(table.meta.get("r"), "meta['r']")
        points = np.asarray(table.meta.get("points", np.zeros((0, table.dim))), dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != table.dim or len(points) == 0:
            raise InputError(f"`table.meta['points']` must hold the data points, shape (n, {table.dim}); "
                             f"got shape {points.shape}")
        self.points = points
        self.dim = table.dim
        self._time = float(table.t[0])

    def __call__(self, x, t=None):
        return self.score(x)

    def score(self, x, t=None):
        """The score at points ``x`` of shape ``(M, d)`` (``t`` is accepted and ignored)."""
        return self.table.score(x, self._time)

    def model_score(self, x):
        """The fitted model itself at ``x`` (no tabulation error), from ``table.meta["model"]``."""
        return evaluate_model(self.table.meta["model"], 0, x)

    def save(self, path):
        """Write the score file (HDF5, atomic); see the module docstring for the convention."""
        self.table.save(path)

    @classmethod
    def load(cls, path, outside="raise"):
        """Read a homogeneous score file; :class:`InputError` if the file is not one (see :func:`fpdiff.load_score`)."""
        return cls(load_score(path, outside=outside))


def fit_homogeneous_dsm(process, data_points, r, axes=None, *, delta=None, path=None, n_features=32, bandwidth=None,
                        ridge=1e-3, samples=20000, seed=0, outside="raise", meta=None, **options):
    r"""Fit the homogeneous score :math:`\nabla\log(f/m)` by denoising score matching; tabulate it.

    Draws ``samples`` pairs :math:`X_0` (uniform over the data points),
    :math:`\zeta\sim\mathrm{Exp}(r)`, :math:`X_\zeta = a_\zeta X_0 + \sqrt{v_\zeta}\,Z` (the transition of the
    forward process), drops the pairs with :math:`|X_\zeta - X_0| \le \delta`, and regresses the targets
    :math:`\nabla_x\log G_r(X_0\to X_\zeta) - \nabla\log m(X_\zeta)` on the features of :math:`X_\zeta`
    (module docstring: the minimiser is the homogeneous score away from the data).

    Parameters
    ----------
    process : fpdiff.Brownian or fpdiff.OU
        The forward process. :math:`\nabla\log G_r` is the Bessel closed form for Brownian
        motion and the log-time quadrature for OU (:mod:`fpdiff.homogeneous.green`).
    data_points : array_like, shape (n, d), d >= 2
        The data (points are polar only for d >= 2, which the construction needs).
    r : float
        Killing rate, > 0.
    axes : sequence of d array_like, optional
        Node coordinates of the table. Default: per axis ``DEFAULT_NODES`` of
        :mod:`fpdiff.learn` (65 in 2-D, 33 in 3-D, 17 above) uniform nodes over the
        data's box widened by 6 decay lengths :math:`\sigma/\sqrt{2r}` (OU: the box also holds
        the origin, and the margin is 6 times the smaller of the decay length and the stationary
        standard deviation).
    delta : float, optional
        Mask radius, > 0; default 0.05 decay lengths.
    path : str or os.PathLike, optional
        Also write the score file there.
    n_features, bandwidth, ridge, seed, outside, meta
        As in :func:`fpdiff.learn.fit_dsm`.
    samples : int
        Number of pairs drawn (before masking).

    Returns
    -------
    LearnedHomogeneousScore
        ``.table.meta`` holds ``fitter``, ``homogeneous`` (1), ``r``, ``delta``, ``points`` (the data), ``n_data``, ``dim``,
        ``n_features``, ``bandwidth``, ``ridge``, ``samples``, ``seed``, ``masked_fraction`` (of the pairs
        dropped), ``loss`` (mean squared residual of the kept pairs, with a single entry) and ``model``
        (as :func:`fpdiff.learn.fit_dsm`'s, with a leading axis of length 1; its output is the score).

    Raises
    ------
    InputError
        For a malformed argument (named, with what was received).
    """
    check_no_unknown_options(options, "fit_homogeneous_dsm")
    process = check_process(process)
    data = _check_data(data_points)
    n_data, dim = data.shape
    if dim < 2:
        raise InputError(f"`data_points` must have d >= 2 coordinates (points are polar only for d >= 2); "
                         f"got shape {data.shape}")
    r = check_rate(r)
    decay = process.diffusion_constant / np.sqrt(2.0 * r)
    delta = DEFAULT_DELTA * decay if delta is None else as_float(delta, "delta", positive=True)
    n_features = as_int(n_features, "n_features", minimum=0)
    bandwidth = as_float(DEFAULT_BANDWIDTH[1] if bandwidth is None else bandwidth, "bandwidth", positive=True)
    ridge = as_float(ridge, "ridge", nonnegative=True)
    samples = as_int(samples, "samples", minimum=1)
    seed = as_int(seed, "seed", minimum=0)
    check_choice(outside, "outside", OUTSIDE_POLICIES)
    _check_meta(meta, _FIT_KEYS)
    axes = _default_axes(process, data, decay) if axes is None else _check_axes(axes, dim)

    rng = np.random.default_rng(np.random.SeedSequence(seed))
    start = data[rng.integers(n_data, size=samples)]
    killing = rng.exponential(1.0 / r, size=samples)
    scale = np.asarray(process.alpha(killing), dtype=np.float64) * np.ones(samples)
    variance = np.asarray(process.variance(killing), dtype=np.float64) * np.ones(samples)
    noised = scale[:, None] * start + np.sqrt(variance)[:, None] * rng.standard_normal((samples, dim))
    kept = np.linalg.norm(noised - start, axis=1) > delta
    count = int(kept.sum())
    if count < 1 + dim + n_features:
        raise InputError(f"only {count} of {samples} pairs lie farther than `delta` = {delta:.3g} from their data "
                         f"point; at least {1 + dim + n_features} are needed: raise `samples` or lower `delta`")
    noised, start = noised[kept], start[kept]
    target = np.empty_like(noised)
    for first in range(0, count, TARGET_BLOCK):
        block = slice(first, first + TARGET_BLOCK)
        target[block] = grad_log_green(process, r, noised[block], start[block])
    if process.stationary_variance is not None:  # OU: minus grad log m, m = N(0, s^2 I)
        target += noised / process.stationary_variance

    fitted, loss = fit_features(noised, target, n_features, bandwidth, ridge, rng)
    model = {key: value[None] for key, value in fitted.items()}

    nodes = grid_nodes(axes)
    values = evaluate_model(model, 0, nodes).reshape(1, *(len(a) for a in axes), dim)
    record = {"fitter": "fpdiff.homogeneous.learn.fit_homogeneous_dsm", "homogeneous": 1, "r": r, "delta": delta,
              "points": data, "n_data": n_data, "dim": dim, "n_features": n_features, "bandwidth": bandwidth, "ridge": ridge,
              "samples": samples, "seed": seed, "masked_fraction": 1.0 - count / samples,
              "loss": np.array([loss]), "model": model, **(meta or {})}
    table = TabulatedScore(process, [1.0 / r], axes, values, parametrization="score", outside=outside, meta=record)
    learned = LearnedHomogeneousScore(table)
    if path is not None:
        learned.save(path)
    return learned


def _default_axes(process, data, decay):
    """Uniform axes over the data's box (OU: and the origin) widened by BOX_DECAY_LENGTHS decay lengths
    (OU: of the smaller of the decay length and the stationary standard deviation, which bounds its spread)."""
    lo, hi = data.min(axis=0), data.max(axis=0)
    if process.stationary_variance is not None:
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        decay = min(decay, float(np.sqrt(process.stationary_variance)))
    pad = BOX_DECAY_LENGTHS * decay
    nodes = DEFAULT_NODES.get(data.shape[1], 17)
    return [np.linspace(a - pad, b + pad, nodes) for a, b in zip(lo, hi)]
