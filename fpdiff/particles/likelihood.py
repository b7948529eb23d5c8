r"""The likelihood view: log-densities under the gamma = 0 (probability-flow) model.

With :math:`\gamma = 0` the generative model is a deterministic transport:
the probability-flow ODE, in forward time,

.. math::  \frac{dx}{dt} = f(x, t) = -\beta(t)\, x - \tfrac12 \sigma(t)^2\, s(x, t),

carries :math:`p_{t_{min}}` to :math:`p_T` when ``s`` is the exact score. Along
a trajectory the log-density obeys the instantaneous change of variables
(Chen et al., *Neural ODEs*, NeurIPS 2018, Thm. 1; Song et al., ICLR 2021,
App. D.2): :math:`\frac{d}{dt}\log p(x(t), t) = -\nabla\cdot f`, so

.. math::

    \log q_{t_{min}}(x) = \log q_T(x(T)) + \int_{t_{min}}^{T} \nabla\cdot f(x(t), t)\, dt,
    \qquad \nabla\cdot f = -\beta d - \tfrac12\sigma^2\, \nabla\cdot s,

where :math:`q_T` is the prior (``process.prior(T, d)``) and :math:`q_{t_{min}}` the
density the gamma = 0 sampler produces from it. With the exact score and
a prior equal to :math:`p_T`, :math:`q_{t_{min}} = p_{t_{min}}`.

Divergence of the score (``divergence=``):

- ``"exact"`` (mixture and empirical scores, inside numba). For
  :math:`s = \nabla\log\sum_k e^{\ell_k}`, :math:`g_k = \nabla\ell_k = -P_k(x-\mu_k)`,
  :math:`r = \mathrm{softmax}(\ell)`, the Jacobian is
  :math:`\nabla s = \sum_k r_k (-P_k) + \sum_k r_k g_k g_k^T - s s^T`
  (since :math:`\nabla r_k = r_k (g_k - s)`), so

  .. math::  \nabla\cdot s = \sum_k r_k\left(|g_k - s|^2 - \mathrm{tr}\, P_k\right);

  for training points (:math:`P_k = I/v_t`, :math:`\mu_k = \alpha_t x_k`) this is
  :math:`\frac{\alpha_t^2}{v_t^2}\sum_k \lambda_k |x_k - \hat x_0|^2 - \frac d{v_t}`:
  the denoiser's posterior spread. Both are summed in two passes (no
  cancellation);
- ``"fd"``: central differences, :math:`\sum_k (s_k(x + \delta e_k) - s_k(x - \delta e_k))/2\delta`,
  :math:`\delta` = ``fd_step`` :math:`\sqrt{v_t}` (2d score evaluations per stage);
- ``"hutchinson"``: :math:`\mathbb E[\varepsilon^T (\nabla s)\, \varepsilon]` with
  Rademacher probes :math:`\varepsilon` fixed per particle for the whole
  path (Hutchinson 1989; FFJORD, Grathwohl et al. 2019), the product
  :math:`(\nabla s)\varepsilon` by a central difference; unbiased, with
  Monte-Carlo noise shrinking as ``1/sqrt(probes)``.

The ODE is integrated on the time grid by the ``"heun"`` scheme's stage
(:mod:`fpdiff.particles.schemes`; trapezoidal, order 2) of the gamma = 0
:class:`~fpdiff.dynamics.ReverseDynamics`, stepped up in forward time; the
same trapezoid integrates the log-density.
"""

import numpy as np

from .._validation import as_float, as_int, check_choice, check_no_unknown_options, check_time_interval
from ..dynamics import reverse_dynamics
from ..errors import BlowUpError, InputError
from ..scores.base import Score
from ..timegrid import make_time_grid
from . import _random
from ..scores.base import as_score
from ._scores import KernelScore
from .schemes import plan_step, reference_stage
from ..processes.base import check_process
from .solve import as_particles

DIVERGENCES = ("exact", "fd", "hutchinson")


def log_likelihood(process, score, x, T, t_min=1e-3, steps=200, divergence=None, seed=0, time_grid="log-snr",
                   **options):
    r"""Log-density of the points ``x`` under the gamma = 0 generative model, by the probability-flow ODE.

    .. math::

        \log q_{t_{min}}(x) = \log q_T(x(T)) - \int_{t_{min}}^T
            \left[\beta(t) d + \tfrac12\sigma(t)^2\, \nabla\cdot s(x(t), t)\right] dt,
        \qquad \dot x = -\beta x - \tfrac12\sigma^2 s(x, t),\; x(t_{min}) = x,

    with :math:`q_T` = ``process.prior(T, d)``. With the exact score this is
    :math:`\log p_{t_{min}}(x)` up to the prior mismatch :math:`q_T \ne p_T`
    and the ODE's discretisation error (see the module docstring for the
    derivation and sources).

    Parameters
    ----------
    process : LinearProcess
    score : Score or callable
        Mixture and empirical scores run inside numba (with an exact
        divergence); other scores are called from Python.
    x : array_like (M, d)
        Points at time ``t_min`` (a 1-D array is M points in one dimension).
    T : float
        End time, where the prior's density is taken.
    t_min : float
        Time of the points, ``0 < t_min < T``.
    steps : int
        Heun steps (2 score-and-divergence evaluations each).
    divergence : {"exact", "fd", "hutchinson"}, optional
        Default ``"exact"`` where available (mixture, empirical), else ``"fd"``.
    seed : int
        Seed of the Hutchinson probes.
    time_grid : str or array
        Step placement (default ``"log-snr"``, fine where the score varies fast,
        near ``t_min``); names as in :func:`fpdiff.timegrid.make_time_grid`.
    **options
        ``rho`` (Karras exponent), ``fd_step`` (relative step of the
        differences, default 1e-3), ``probes`` (Hutchinson probes per point,
        default 1), ``prior`` (the law :math:`q_T` the model starts from: a
        distribution with ``logpdf``; default ``process.prior(T, d)``).

    Returns
    -------
    ndarray (M,)
        :math:`\log q_{t_{min}}(x)`.
    """
    check_process(process)
    T, t_min = check_time_interval(T, t_min)
    steps = as_int(steps, "steps", minimum=1)
    seed = _random.check_seed(seed)
    rho = options.pop("rho", 7.0)
    fd_step = as_float(options.pop("fd_step", 1e-3), "fd_step", positive=True)
    probes = as_int(options.pop("probes", 1), "probes", minimum=1)
    prior = options.pop("prior", None)
    check_no_unknown_options(options, "log_likelihood")
    y = as_particles(x, "x", score.dim if isinstance(score, Score) else None)
    dim = y.shape[1]
    score = as_score(score, dim, process)
    score.check_time(T)
    score.check_time(t_min)
    kernel_score = KernelScore(score)
    if divergence is None:
        divergence = "exact" if kernel_score.exact_divergence else "fd"
    check_choice(divergence, "divergence", DIVERGENCES)
    if divergence == "exact" and not kernel_score.exact_divergence:
        raise InputError(
            f"`divergence='exact'` needs a mixture or empirical score; {type(score).__name__} has none: "
            "use divergence='fd' or 'hutchinson'"
        )
    if divergence == "hutchinson":
        signs = [np.where(_random.normals(seed, _random.PROBE, 0, len(y), dim, 0, j) >= 0, 1.0, -1.0)
                 for j in range(probes)]

    def score_and_divergence(points, t):
        if divergence == "exact":
            return kernel_score.kernel_score(points, t, with_divergence=True)
        delta = fd_step * np.sqrt(float(process.variance(t)))
        values = kernel_score(points, t)
        total = np.zeros(len(points))
        if divergence == "fd":
            for k in range(dim):
                shift = np.zeros(dim)
                shift[k] = delta
                total += (kernel_score(points + shift, t)[:, k] - kernel_score(points - shift, t)[:, k]) / (2 * delta)
            return values, total
        for sign in signs:
            change = kernel_score(points + delta * sign, t) - kernel_score(points - delta * sign, t)
            total += np.sum(change * sign, axis=1) / (2 * delta)
        return values, total / probes

    def evaluate_at(t, divergences):
        """The score at ``t`` for :func:`reference_stage`, keeping its divergence in ``divergences``."""
        def evaluate(points):
            values, div = score_and_divergence(points, t)
            divergences.append(div)
            return values
        return evaluate

    # The "heun" stage of the gamma = 0 reverse dynamics, stepped up in forward time (h = t_n - t_{n+1} < 0),
    # moves the points; the same trapezoid carries the divergence of its drift beta x + w s into the log-density.
    dynamics = reverse_dynamics(process, score, 0.0, T, t_min)
    times = make_time_grid(time_grid, process, T, t_min, steps, rho)[::-1]  # t_min -> T
    log_change = np.zeros(len(y))
    for n in range(len(times) - 1):
        (stage,) = plan_step("heun", dynamics, float(times[n]), float(times[n + 1]), {})
        divergences = []
        y = reference_stage(stage, y, evaluate_at(stage.t_a, divergences), evaluate_at(stage.t_b, divergences), None)
        h, beta, w, beta_next, w_next = stage.coefficients[:5]
        log_change += 0.5 * h * ((beta * dim + w * divergences[0]) + (beta_next * dim + w_next * divergences[1]))
        if not (np.all(np.isfinite(y)) and np.all(np.isfinite(log_change))):
            raise BlowUpError(f"log_likelihood: the probability-flow ODE gave NaN/inf at t = {times[n + 1]:.6g} "
                              f"(step {n + 1} of {len(times) - 1}); take more `steps`", t=times[n + 1])
    if prior is None:
        prior = process.prior(T, dim)
    elif not (hasattr(prior, "logpdf") and getattr(prior, "dim", None) == dim):
        raise InputError(f"`prior` must be a {dim}-D distribution with logpdf (e.g. a GaussianMixture); got {prior!r}")
    return prior.logpdf(y) + log_change
