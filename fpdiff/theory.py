r"""Closed-form oracles from the literature, for checking the solvers.

Every function here evaluates a formula exactly (or by a quadrature whose
error is far below the solvers' own), so a solver's output can be compared
with it. Each docstring states the formula, its source and the conditions
under which it holds.

- :func:`reverse_output_pdf`, :func:`reverse_output_density`: the law produced
  by the exact reverse process (gamma = 1) started from a prior ``q0`` that
  is not :math:`p_T`;
- :func:`gamma_ei_coefficients`, :func:`ddpm_coefficients`,
  :func:`ddim_coefficients`: one step of the gamma exponential integrator
  (DDPM for gamma = 1, DDIM for gamma = 0);
- :func:`gamma_of_eta`, :func:`eta_of_gamma`: DDIM's ``eta`` as the gamma of
  an exponential-integrator step, and back;
- :func:`dirac_bridge`, :func:`dirac_bridge_moments`: the explicit solution of
  the reverse SDE when :math:`p_0` is a single point (OU, beta = 1,
  sigma = sqrt 2).
"""

import numpy as np
from scipy.special import logsumexp

from ._validation import as_finite_array, as_float, as_int, as_points
from .errors import InputError

__all__ = [
    "reverse_output_pdf",
    "reverse_output_density",
    "gamma_ei_coefficients",
    "ddpm_coefficients",
    "ddim_coefficients",
    "gamma_of_eta",
    "eta_of_gamma",
    "dirac_bridge",
    "dirac_bridge_moments",
]

#: default Gauss–Hermite nodes per axis, by dimension (the tensor grid has n^d nodes)
DEFAULT_HERMITE_NODES = {1: 60, 2: 24, 3: 12}

# points x nodes evaluated at once by reverse_output_pdf (bounds the work arrays)
_CHUNK_ELEMENTS = 2**18


# ----------------------------------------------------------------- validation


def _check_process(process):
    if not all(hasattr(process, name) for name in ("alpha", "variance", "transition")):
        raise InputError(
            f"`process` must be a linear process with alpha(t), variance(t) and transition(s, t) "
            f"(e.g. fpdiff.OU()); got {type(process).__name__}"
        )


def _check_dim(dist, name):
    dim = getattr(dist, "dim", None)
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise InputError(f"`{name}` must be an fpdiff distribution with a `dim`; got {type(dist).__name__}")
    return int(dim)


def _reverse_output_setup(process, dist0, q0, T, t_min, quadrature_points):
    """Validate the arguments shared by the reverse-output oracles; return what they need."""
    _check_process(process)
    dim = _check_dim(dist0, "dist0")
    if not hasattr(dist0, "evolve"):
        raise InputError(f"`dist0` must be a distribution with evolve(process, t); got {type(dist0).__name__}")
    T = as_float(T, "T", positive=True)
    t_min = as_float(t_min, "t_min", nonnegative=True)
    if t_min >= T:
        raise InputError(f"`t_min` must be < `T`; got t_min={t_min!r}, T={T!r}")
    if q0 is None:
        q0 = process.prior(T, dim)
    q0_dim = _check_dim(q0, "q0")
    if not hasattr(q0, "logpdf"):
        raise InputError(
            f"`q0` must be a distribution with logpdf(x) (e.g. a GaussianMixture); got {type(q0).__name__}"
        )
    if q0_dim != dim:
        raise InputError(f"`q0` must have the dimension of `dist0` ({dim}); got a {q0_dim}-D distribution")
    if quadrature_points is None:
        if dim not in DEFAULT_HERMITE_NODES:
            raise InputError(
                f"`quadrature_points` has no default in {dim} dimensions (defaults exist for 1-3); give it explicitly"
            )
        quadrature_points = DEFAULT_HERMITE_NODES[dim]
    quadrature_points = as_int(quadrature_points, "quadrature_points", minimum=1)
    a, w = (float(np.asarray(c)) for c in process.transition(t_min, T))
    if not (np.isfinite(a) and a > 0 and np.isfinite(w) and w > 0):
        raise InputError(
            f"`process` {process!r} gives the transition ({t_min} -> {T}) a={a!r}, w={w!r}; expected a > 0, w > 0"
        )
    p_min = dist0.evolve(process, t_min)
    p_T = dist0.evolve(process, T)
    return dim, q0, p_min, p_T, a, w, quadrature_points


def _hermite_rule(dim, n):
    """Tensor Gauss–Hermite rule for E[f(Z)], Z ~ N(0, I_dim): nodes (n^dim, dim), log-weights (n^dim,)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    weights = weights / np.sqrt(2 * np.pi)  # probabilists' weights sum to sqrt(2 pi)
    mesh = np.meshgrid(*([nodes] * dim), indexing="ij")
    points = np.stack([m.ravel() for m in mesh], axis=-1)
    weight_mesh = np.meshgrid(*([weights] * dim), indexing="ij")
    log_weights = np.sum([np.log(m.ravel()) for m in weight_mesh], axis=0)
    return points, log_weights


def _log_reverse_output(y, q0, p_min, p_T, a, w, nodes, log_weights):
    r""":math:`\log q_{out}(y)` for points ``y`` (M, d), in chunks of points."""
    M, d = y.shape
    n_nodes = nodes.shape[0]
    scaled = np.sqrt(w) * nodes  # (N, d)
    out = np.empty(M)
    chunk = max(1, _CHUNK_ELEMENTS // n_nodes)
    for start in range(0, M, chunk):
        block = y[start : start + chunk]
        x = (a * block[:, None, :] + scaled[None, :, :]).reshape(-1, d)
        log_ratio = (q0.logpdf(x) - p_T.logpdf(x)).reshape(block.shape[0], n_nodes)
        out[start : start + chunk] = logsumexp(log_ratio + log_weights, axis=1)
    return p_min.logpdf(y) + out


# ------------------------------------------------------------ reverse output


def reverse_output_pdf(process, dist0, q0, T, t_min, y, quadrature_points=None):
    r"""Density at points ``y`` of the exact reverse process's output when it starts from ``q0``.

    The reverse diffusion (gamma = 1) with the exact score of
    :math:`p_0 =` ``dist0`` is started at time ``T`` from ``q0`` instead of
    :math:`p_T` and stopped at ``t_min``. Its output density is

    .. math::

        q_{out}(y) = p_{t_{min}}(y) \; \mathbb E\!\left[\frac{q_0(X)}{p_T(X)}\right],
        \qquad X \sim N(a y, \, w I), \quad (a, w) = \text{process.transition}(t_{min}, T),

    with :math:`p_t` = ``dist0.evolve(process, t)``; for a time-homogeneous
    process :math:`a = \alpha_{T - t_{min}}`, :math:`w = v_{T - t_{min}}`.

    Parameters
    ----------
    process : LinearProcess
        The forward process (OU, VP, VE, Brownian).
    dist0 : GaussianMixture or Empirical
        The data law :math:`p_0` whose exact score drives the reverse process.
    q0 : distribution with ``logpdf`` and ``dim``, or None
        The law the reverse process starts from at time ``T``; ``None`` means
        ``process.prior(T, dim)``.
    T : float
        Start (forward) time of the reverse process, ``T > t_min``.
    t_min : float
        Stopping (forward) time, ``t_min >= 0`` (``> 0`` for an Empirical ``dist0``).
    y : array_like, shape (M, d)
        Evaluation points (a 1-D array is M points when d = 1).
    quadrature_points : int, optional
        Gauss–Hermite nodes per axis for the expectation; the rule is the
        tensor product, :math:`n^d` nodes. Default 60 in 1-D, 24 in 2-D, 12 in 3-D.

    Returns
    -------
    ndarray, shape (M,)

    Notes
    -----
    *Derivation.* With the exact score, the gamma = 1 reverse SDE is the time
    reversal of the forward process (Anderson 1982; Haussmann & Pardoux 1986):
    its transition from :math:`(x, T)` to :math:`(y, t_{min})` is the forward
    bridge :math:`p_{t_{min}}(y)\, p(T, x | t_{min}, y) / p_T(x)`. Integrating
    it against :math:`q_0(x)` gives the formula above (the Markov property
    of the forward process: the law of :math:`X_{t_{min}}` is reweighted by
    the likelihood ratio :math:`q_0/p_T` of :math:`X_T`). The formula is
    ``docs/theory.md``, section 6, "The output of a reversal started from the wrong prior".

    *Conditions.* Valid for gamma = 1 only. Every gamma maps :math:`p_T` to
    :math:`p_{t_{min}}`, but for gamma != 1 the reverse dynamics is not the
    time reversal of the forward one, and started from :math:`q_0 \ne p_T`
    its output differs from this formula. The score must be exact (that of
    ``dist0``), and the reverse process solved exactly.

    *Mass.* :math:`\int q_{out} = \int q_0 = 1` exactly, because
    :math:`\int p_{t_{min}}(y)\, p(T, x | t_{min}, y)\, dy = p_T(x)`. On a
    bounded grid the mass is below 1 only by the mass outside the grid
    (plus quadrature error).

    *Numerics.* The expectation is computed by tensor Gauss–Hermite
    quadrature (``numpy.polynomial.hermite_e.hermegauss``) in
    :math:`X = a y + \sqrt w Z`, with the ratio formed as
    :math:`\exp(\log q_0 - \log p_T)` and summed by log-sum-exp, so it stays
    finite in the tails. The integrand is smooth, so the rule converges
    spectrally while :math:`q_0/p_T` grows slower than
    :math:`\exp(|x - a y|^2 / (2w))`; it diverges (the expectation is infinite)
    when :math:`q_0` has heavier Gaussian tails than allowed by that bound.
    """
    dim, q0, p_min, p_T, a, w, n = _reverse_output_setup(process, dist0, q0, T, t_min, quadrature_points)
    y = as_points(y, dim, "y")
    nodes, log_weights = _hermite_rule(dim, n)
    return np.exp(_log_reverse_output(y, q0, p_min, p_T, a, w, nodes, log_weights))


def reverse_output_density(process, dist0, q0, T, t_min, grid, quadrature_points=None):
    r"""Cell averages of the exact reverse process's output density, started from ``q0``.

    The reverse diffusion with gamma = 1 and the exact score of
    :math:`p_0 =` ``dist0``, started at time ``T`` from ``q0`` and stopped at
    ``t_min``, outputs

    .. math::

        q_{out}(y) = p_{t_{min}}(y) \; \mathbb E\!\left[\frac{q_0(X)}{p_T(X)}\right],
        \qquad X \sim N(a y, \, w I), \quad (a, w) = \text{process.transition}(t_{min}, T).

    This function returns :math:`\frac{1}{|C|}\int_C q_{out}` for every cell
    ``C`` of ``grid``, by Gauss–Legendre quadrature with 4 nodes per axis and
    cell (:meth:`Grid.quadrature_average`, error :math:`O(h^8)`) of
    :func:`reverse_output_pdf`. The result is what ``fd.solve_reverse(...,
    q0=q0, gamma=1.0, t_min=t_min).final`` converges to.

    Parameters
    ----------
    process, dist0, q0, T, t_min, quadrature_points
        As in :func:`reverse_output_pdf` (``quadrature_points``: Gauss–Hermite
        nodes per axis for the expectation; default 60 / 24 / 12 in 1 / 2 / 3-D).
    grid : Grid
        Grid of the same dimension as ``dist0`` and ``q0``.

    Returns
    -------
    ndarray, shape grid.shape

    Notes
    -----
    Valid for gamma = 1 only (for other gammas the output differs whenever
    :math:`q_0 \ne p_T`); with :math:`q_0 = p_T` the result is the cell
    average of :math:`p_{t_{min}}`. The output integrates to 1 over
    :math:`\mathbb R^d` exactly, since
    :math:`\int p_{t_{min}}(y)\, p(T, x | t_{min}, y)\, dy = p_T(x)`, so on a
    grid its mass falls short of 1 only by what lies outside the grid.
    Derivation, source and numerics: see :func:`reverse_output_pdf`.
    """
    dim, q0, p_min, p_T, a, w, n = _reverse_output_setup(process, dist0, q0, T, t_min, quadrature_points)
    if not all(hasattr(grid, name) for name in ("ndim", "shape", "quadrature_average")):
        raise InputError(f"`grid` must be an fpdiff Grid; got {type(grid).__name__}")
    if grid.ndim != dim:
        raise InputError(f"`grid` must have the dimension of `dist0` and `q0` ({dim}); got a {grid.ndim}-D grid")
    nodes, log_weights = _hermite_rule(dim, n)

    def pdf(y):
        return np.exp(_log_reverse_output(y, q0, p_min, p_T, a, w, nodes, log_weights))

    return grid.quadrature_average(pdf, 4)


# --------------------------------------------------- gamma exponential integrator


def gamma_ei_coefficients(process, t_from, t_to, gamma):
    r"""Coefficients of one gamma exponential-integrator step from ``t_from`` down to ``t_to``.

    With :math:`t_n` = ``t_from`` > :math:`t_{n+1}` = ``t_to`` and the
    denoiser :math:`\hat x_0` frozen at :math:`(Y_n, t_n)`:

    .. math::

        \Phi &= \left(\frac{\alpha_n}{\alpha_{n+1}}\right)^{\gamma^2}
                \left(\frac{v_{n+1}}{v_n}\right)^{(1+\gamma^2)/2}, \\
        Y_{n+1} &= \Phi\, Y_n + (\alpha_{n+1} - \Phi\,\alpha_n)\, \hat x_0(Y_n, t_n)
                  + \sqrt{v_{n+1} - \Phi^2 v_n}\; \xi, \qquad \xi \sim N(0, I).

    Parameters
    ----------
    process : LinearProcess
    t_from, t_to : float
        Forward-time labels of the step, ``t_from > t_to > 0``.
    gamma : float
        Noise level of the reverse dynamics, ``gamma >= 0``.

    Returns
    -------
    phi : float
        :math:`\Phi`, the coefficient of :math:`Y_n`.
    c_x0 : float
        :math:`\alpha_{n+1} - \Phi \alpha_n`, the coefficient of :math:`\hat x_0`.
    noise_std : float
        :math:`\sqrt{v_{n+1} - \Phi^2 v_n}`, the standard deviation of the added noise.

    Notes
    -----
    *Derivation* (``docs/theory.md``, section 5, "The gamma exponential integrator"). With the
    Tweedie score :math:`s = (\alpha_t \hat x_0 - y)/v_t` and :math:`\hat x_0`
    frozen, the gamma-family reverse SDE
    :math:`dY = [\beta Y + \tfrac{1+\gamma^2}{2}\sigma^2 s]\,d\tau + \gamma\sigma\,dW`
    is linear in :math:`Y`. Since :math:`\sigma^2 = \dot v + 2\beta v` and
    :math:`\beta = -\dot\alpha/\alpha`, its homogeneous part integrates to
    :math:`\Phi` above, and the mean and variance of the exact solution are
    the affine map and noise above. The step is exact for the frozen-denoiser
    SDE and every process of the linear family, and so exact for any step size
    when :math:`p_0` is a point mass (:math:`\hat x_0 \equiv x_0`).

    gamma = 1 gives the DDPM ancestral step (Ho, Jain & Abbeel, NeurIPS 2020,
    eqs. 6-7); gamma = 0 the deterministic DDIM step (Song, Meng & Ermon,
    ICLR 2021, eq. 12 with :math:`\sigma_t = 0`). The noise variance is
    computed as
    :math:`v_{n+1}\,(1 - (\mathrm{SNR}_n/\mathrm{SNR}_{n+1})^{\gamma^2})`,
    :math:`\mathrm{SNR} = \alpha^2/v`, with ``expm1``: it is non-negative
    (SNR decreases in t) and free of cancellation for short steps.
    """
    _check_process(process)
    t_from = as_float(t_from, "t_from", positive=True)
    t_to = as_float(t_to, "t_to", positive=True)
    gamma = as_float(gamma, "gamma", nonnegative=True)
    if t_to >= t_from:
        raise InputError(
            f"`t_to` must be < `t_from` (a reverse step goes down in forward time); "
            f"got t_from={t_from!r}, t_to={t_to!r}"
        )
    alpha_n, alpha_m = float(process.alpha(t_from)), float(process.alpha(t_to))
    v_n, v_m = float(process.variance(t_from)), float(process.variance(t_to))
    if not (alpha_n > 0 and alpha_m > 0 and v_n > 0 and v_m > 0):
        raise InputError(
            f"`process` {process!r} needs alpha > 0 and v > 0 at t_from={t_from} and t_to={t_to}; "
            f"got alpha=({alpha_n!r}, {alpha_m!r}), v=({v_n!r}, {v_m!r})"
        )
    g2 = gamma * gamma
    log_alpha_ratio = np.log(alpha_n) - np.log(alpha_m)  # <= 0
    log_v_ratio = np.log(v_m) - np.log(v_n)  # < 0
    phi = float(np.exp(g2 * log_alpha_ratio + 0.5 * (1 + g2) * log_v_ratio))
    c_x0 = alpha_m - phi * alpha_n
    # v_m - phi^2 v_n = v_m (1 - (SNR_n / SNR_m)^(gamma^2)), log(SNR_n/SNR_m) = 2 log_alpha_ratio + log_v_ratio
    log_snr_ratio = min(2 * log_alpha_ratio + log_v_ratio, 0.0)
    noise_var = -v_m * np.expm1(g2 * log_snr_ratio)
    return phi, float(c_x0), float(np.sqrt(max(noise_var, 0.0)))


def ddpm_coefficients(process, t_from, t_to):
    r"""DDPM (ancestral) step coefficients: :func:`gamma_ei_coefficients` with gamma = 1.

    .. math::

        \Phi = \frac{\alpha_n}{\alpha_{n+1}} \frac{v_{n+1}}{v_n}, \qquad
        c_{x_0} = \alpha_{n+1} - \Phi\alpha_n, \qquad
        \text{noise std} = \sqrt{v_{n+1}\left(1 - \frac{\alpha_n^2 v_{n+1}}{\alpha_{n+1}^2 v_n}\right)};

    for VP these are the posterior :math:`q(x_{t-1} | x_t, x_0)` coefficients
    of Ho, Jain & Abbeel (NeurIPS 2020), eq. 7, with
    :math:`\bar\alpha = \alpha(t)^2`.

    Parameters
    ----------
    process : LinearProcess
    t_from, t_to : float
        Forward-time labels of the step, ``t_from > t_to > 0``.

    Returns
    -------
    phi, c_x0, noise_std : float
        As in :func:`gamma_ei_coefficients`.
    """
    return gamma_ei_coefficients(process, t_from, t_to, 1.0)


def ddim_coefficients(process, t_from, t_to):
    r"""Deterministic DDIM step coefficients: :func:`gamma_ei_coefficients` with gamma = 0.

    .. math::

        \Phi = \sqrt{v_{n+1}/v_n}, \qquad c_{x_0} = \alpha_{n+1} - \Phi\alpha_n, \qquad \text{noise std} = 0;

    for VP this is Song, Meng & Ermon (ICLR 2021), eq. 12 with
    :math:`\sigma_t = 0`, rewritten from :math:`\hat\epsilon` to
    :math:`\hat x_0`.

    Parameters
    ----------
    process : LinearProcess
    t_from, t_to : float
        Forward-time labels of the step, ``t_from > t_to > 0``.

    Returns
    -------
    phi, c_x0, noise_std : float
        As in :func:`gamma_ei_coefficients`; ``noise_std == 0.0``.
    """
    return gamma_ei_coefficients(process, t_from, t_to, 0.0)


def _log_snr_step(process, t, t_next):
    r""":math:`\lambda_n - \lambda_{n+1} < 0` of the step from ``t`` down to ``t_next`` (both > 0)."""
    _check_process(process)
    t = as_float(t, "t", positive=True)
    t_next = as_float(t_next, "t_next", positive=True)
    if t_next >= t:
        raise InputError(f"`t_next` must be < `t` (a reverse step goes down in forward time); got t={t!r}, "
                         f"t_next={t_next!r}")
    step = float(process.log_snr(t)) - float(process.log_snr(t_next))
    if not step < 0:
        raise InputError(f"the log-SNR of {process!r} must decrease from t_next={t_next!r} to t={t!r}; got a "
                         f"difference of {step!r}")
    return step


def gamma_of_eta(process, eta, t, t_next):
    r"""The gamma of the exponential-integrator step equal to a DDIM step with ``eta``, from ``t`` to ``t_next``.

    DDIM (Song, Meng & Ermon 2021, eq. 12) adds the noise
    :math:`s_\eta^2 = \eta^2 v_{n+1}(1 - e^{\lambda_n - \lambda_{n+1}})` (:math:`\eta^2` times DDPM's
    posterior variance), the gamma exponential integrator (:func:`gamma_ei_coefficients`)
    :math:`v_{n+1}(1 - e^{\gamma^2(\lambda_n - \lambda_{n+1})})`; both keep the variance
    :math:`v_{n+1}` of a point mass exact, so equal noises make equal steps
    (``docs/theory.md``, section 5.1):

    .. math::  \gamma_n^2 = \frac{\log(1 - s_\eta^2/v_{n+1})}{\lambda_n - \lambda_{n+1}}
               = \frac{\log(1 + \eta^2\,\mathrm{expm1}(\lambda_n - \lambda_{n+1}))}{\lambda_n - \lambda_{n+1}},

    :math:`\lambda = \log(\alpha^2/v)`. :math:`\eta = 0 \mapsto \gamma = 0`,
    :math:`\eta = 1 \mapsto \gamma = 1` on every step; in between :math:`\gamma_n` depends on the step.

    Parameters
    ----------
    process : LinearProcess
    eta : float
        DDIM's eta, ``0 <= eta < 1 / sqrt(1 - exp(lambda_n - lambda_n+1))`` (any eta in [0, 1]).
    t, t_next : float
        The step's forward times, ``t > t_next > 0``.

    Returns
    -------
    float
        :math:`\gamma_n \ge 0`.
    """
    step = _log_snr_step(process, t, t_next)
    eta = as_float(eta, "eta", nonnegative=True)
    argument = eta * eta * np.expm1(step)  # -(s_eta^2 / v_{n+1}) > -1
    if not argument > -1.0:
        raise InputError(f"`eta` = {eta!r} asks for a noise of at least v_(n+1) on the step from t={t!r} to "
                         f"t_next={t_next!r}: it must be < {1.0 / np.sqrt(-np.expm1(step))!r}")
    return float(np.sqrt(np.log1p(argument) / step))


def eta_of_gamma(process, gamma, t, t_next):
    r"""DDIM's eta equal to the gamma exponential-integrator step from ``t`` to ``t_next``: :func:`gamma_of_eta` inverted.

    .. math::  \eta^2 = \frac{\mathrm{expm1}(\gamma^2(\lambda_n - \lambda_{n+1}))}{\mathrm{expm1}(\lambda_n - \lambda_{n+1})}.

    Parameters
    ----------
    process : LinearProcess
    gamma : float
        ``gamma >= 0``.
    t, t_next : float
        The step's forward times, ``t > t_next > 0``.

    Returns
    -------
    float
        :math:`\eta \ge 0` (above 1 when :math:`\gamma > 1`).
    """
    step = _log_snr_step(process, t, t_next)
    gamma = as_float(gamma, "gamma", nonnegative=True)
    return float(np.sqrt(np.expm1(gamma * gamma * step) / np.expm1(step)))


# ------------------------------------------------------------------ Dirac bridge


def _bridge_setup(T, x0, y0, s):
    T = as_float(T, "T", positive=True)
    s = as_float(s, "s", nonnegative=True)
    if s > T:
        raise InputError(f"`s` must lie in [0, T] = [0, {T}]; got s={s!r}")
    x0 = as_finite_array(x0, "x0")
    if x0.ndim == 0:
        x0 = x0[None]
    if x0.ndim != 1 or x0.size == 0:
        raise InputError(f"`x0` must be one data point of shape (d,); got shape {x0.shape}")
    y0 = as_points(y0, x0.size, "y0")
    return T, x0, y0, s


def _bridge_coefficients(T, s):
    """(coefficient of y0, coefficient of x0, variance); sinh ratios via exponentials (no overflow)."""
    # sinh(u)/sinh(T) = exp(u - T) * (1 - exp(-2u)) / (1 - exp(-2T))
    denominator = -np.expm1(-2 * T)
    c_start = np.exp(-s) * -np.expm1(-2 * (T - s)) / denominator  # sinh(T-s)/sinh(T)
    c_data = np.exp(s - T) * -np.expm1(-2 * s) / denominator  # sinh(s)/sinh(T)
    # 2 sinh(T-s) sinh(s)/sinh(T) = (1 - e^{-2(T-s)}) (1 - e^{-2s}) / (1 - e^{-2T})
    variance = np.expm1(-2 * (T - s)) * np.expm1(-2 * s) / denominator
    return float(c_start), float(c_data), float(max(variance, 0.0))


def dirac_bridge_moments(T, x0, y0, s):
    r"""Mean and variance of the exact reverse process for :math:`p_0 = \delta_{x_0}`, started at ``y0``.

    For OU with :math:`\beta = 1`, :math:`\sigma = \sqrt 2` (``fd.OU()``), the
    reverse SDE :math:`dY = [Y + 2 s(Y, T - \tau)]\,d\tau + \sqrt 2\, dW`,
    :math:`s(y, t) = (\alpha_t x_0 - y)/v_t`, from :math:`Y_0 = y_0` gives

    .. math::

        Y_s \sim N\!\left(\frac{\sinh(T-s)}{\sinh T}\, y_0 + \frac{\sinh s}{\sinh T}\, x_0,\;
              \frac{2 \sinh(T-s)\sinh s}{\sinh T}\, I\right), \qquad 0 \le s \le T,

    where ``s`` is reverse time measured from the start (forward time
    :math:`t = T - s`).

    Parameters
    ----------
    T : float
        Horizon, ``T > 0``.
    x0 : array_like, shape (d,)
        The data point.
    y0 : array_like, shape (M, d)
        Start points :math:`Y_0` (a 1-D array is M points when d = 1).
    s : float
        Reverse time, ``0 <= s <= T``.

    Returns
    -------
    mean : ndarray, shape (M, d)
    variance : float
        The (isotropic) variance per coordinate.

    Notes
    -----
    Source: Cao, Johnston, Laurent, Le & Motsch, *Generative diffusion models
    from a PDE perspective*, arXiv:2501.17054 (2025), the explicit solution
    for a Dirac initial condition (Theorem 2). It is the OU bridge from
    :math:`x_0` at :math:`t = 0` to :math:`y_0` at :math:`t = T` (Gaussian
    conditioning). Holds for beta = 1, sigma = sqrt 2 only (other OU
    parameters rescale time and space). At ``s = T`` the law is
    :math:`\delta_{x_0}`: exact reversal returns the data point.
    """
    T, x0, y0, s = _bridge_setup(T, x0, y0, s)
    c_start, c_data, variance = _bridge_coefficients(T, s)
    return c_start * y0 + c_data * x0, variance


def dirac_bridge(T, x0, y0, s, seed=None):
    r"""Sample :math:`Y_s` of the exact reverse process for :math:`p_0 = \delta_{x_0}`, one per start point.

    .. math::

        Y_s = \frac{\sinh(T-s)}{\sinh T}\, Y_0 + \frac{\sinh s}{\sinh T}\, x_0
              + \sqrt{\frac{2\sinh(T-s)\sinh s}{\sinh T}}\; \varepsilon, \qquad \varepsilon \sim N(0, I),

    for OU with :math:`\beta = 1`, :math:`\sigma = \sqrt 2` only, ``s`` in
    ``[0, T]`` the reverse time from the start.

    Parameters
    ----------
    T : float
        Horizon, ``T > 0``.
    x0 : array_like, shape (d,)
        The data point.
    y0 : array_like, shape (M, d)
        Start points :math:`Y_0` (a 1-D array is M points when d = 1).
    s : float
        Reverse time, ``0 <= s <= T``.
    seed : int or None
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    ndarray, shape (M, d)
        One sample of :math:`Y_s` per start point.

    Notes
    -----
    Source: Cao, Johnston, Laurent, Le & Motsch, arXiv:2501.17054 (2025),
    Theorem 2 (see :func:`dirac_bridge_moments`).
    """
    mean, variance = dirac_bridge_moments(T, x0, y0, s)
    rng = np.random.default_rng(seed)
    return mean + np.sqrt(variance) * rng.standard_normal(mean.shape)
