r"""Dynamics: the one object both views (grid and particles) consume.

A dynamics is an SDE on :math:`\tau \in [0, \tau_{end}]`

.. math::  dX = a(X, \tau)\, d\tau + g(\tau)\, dW,

whose Fokker–Planck equation is

.. math::  \partial_\tau p = -\nabla\cdot(a p) + \tfrac{g^2}{2} \Delta p .

Forward and reverse problems are both dynamics; ``tau`` is the solver's
clock, and :meth:`Dynamics.time_label` maps it to the forward-time label
``t`` that solutions report (``t = tau`` forward, ``t = T - tau`` reverse).
The finite-volume solver asks a dynamics for the normal drift on the faces
of a grid at every stage time (:meth:`Dynamics.face_drift`), so drifts that
change in time (the score of the reverse problem) are re-evaluated on faces
every step, and a dynamics that knows its drift on faces more cheaply than by
pointwise evaluation (a linear drift, a score tabulated on the same grid)
overrides that one method. The particle schemes ask the reverse dynamics for
its scalar coefficients at forward times instead
(:meth:`ReverseDynamics.coefficients`, :meth:`ReverseDynamics.exponential_step`),
so the gamma-family is written once, here.
"""

import numpy as np

from ._validation import as_float, check_time_interval
from .errors import InputError


class Dynamics:
    r"""SDE :math:`dX = a(X,\tau) d\tau + g(\tau) dW` on :math:`[0, \tau_{end}]`.

    Parameters
    ----------
    drift : callable
        ``drift(x, tau) -> (M, d)`` for points ``x`` of shape ``(M, d)``.
    noise : callable
        ``noise(tau) -> float``, the scalar noise coefficient :math:`g`.
    tau_end : float
        Length of the time interval.
    t_start : float, optional
        Forward-time label of ``tau = 0``.
    direction : {+1, -1}
        ``t = t_start + direction * tau``.
    t_end : float, optional
        Forward-time label of ``tau = tau_end`` (default
        ``t_start + direction * tau_end``). Passing the exact value (``t_min`` of
        a reverse run) makes the last time land on it exactly, not one rounding
        of ``T - (T - t_min)`` away, outside a score table's range.
    autonomous : bool
        True when drift and noise do not depend on ``tau``; solvers then
        build (and factorise) their operators once.
    """

    def __init__(self, drift, noise, tau_end, t_start=0.0, direction=1, autonomous=False, t_end=None):
        if not callable(drift) or not callable(noise):
            raise InputError("`drift` and `noise` must be callables drift(x, tau) and noise(tau)")
        if direction not in (1, -1):
            raise InputError(f"`direction` must be +1 or -1; got {direction!r}")
        self._drift = drift
        self._noise = noise
        self.tau_end = as_float(tau_end, "tau_end", positive=True)
        self.t_start = as_float(t_start, "t_start")
        self.direction = direction
        self.t_end = self.t_start + direction * self.tau_end if t_end is None else as_float(t_end, "t_end")
        self.autonomous = bool(autonomous)
        self._face_points = {}

    def drift(self, x, tau):
        r"""Drift :math:`a(x, \tau)` at points ``x``.

        Parameters
        ----------
        x : ndarray (M, d)
            Points.
        tau : float
            Solver time.

        Returns
        -------
        ndarray (M, d)
            The drift at each point.
        """
        return self._drift(x, tau)

    def noise(self, tau):
        r"""Noise coefficient :math:`g(\tau)` at solver time ``tau`` (a float)."""
        return float(self._noise(tau))

    def diffusion_coefficient(self, tau):
        r""":math:`D(\tau) = g(\tau)^2 / 2`, the coefficient of the Laplacian, at solver time ``tau`` (a float)."""
        return 0.5 * self.noise(tau) ** 2

    def time_label(self, tau):
        """Forward-time label ``t`` of solver time ``tau``: inside ``[t_start, t_end]``, exactly ``t_end`` at the end.

        Stage times that sum to the end can overshoot it by a few ulps, and
        ``t_start - (t_start - t_end)`` can round past ``t_end``; a score refuses a
        time outside its range, so both are clipped.
        """
        lo, hi = (self.t_start, self.t_end) if self.direction > 0 else (self.t_end, self.t_start)
        if np.ndim(tau) == 0:  # a stage time: Python floats (this runs for every stage of the stepper loops)
            tau = min(max(float(tau), 0.0), self.tau_end)
            return np.float64(self.t_end if tau == self.tau_end else min(max(self.t_start + self.direction * tau,
                                                                             lo), hi))
        tau = np.clip(np.asarray(tau, dtype=np.float64), 0.0, self.tau_end)
        return np.where(tau == self.tau_end, self.t_end, np.clip(self.t_start + self.direction * tau, lo, hi))

    def solver_time(self, t):
        """Inverse of :meth:`time_label`."""
        return self.direction * (np.asarray(t, dtype=np.float64) - self.t_start)

    def face_drift(self, grid, tau, axis):
        r"""Normal drift :math:`a_k` on the faces normal to ``axis`` (boundary faces included).

        Returns a C-contiguous float64 array of shape ``grid.shape`` with
        ``shape[axis]`` replaced by ``shape[axis] + 1``.
        """
        key = (grid, axis)
        if key not in self._face_points:
            self._face_points[key] = grid.face_points(axis)
        points = self._face_points[key]
        values = np.asarray(self.drift(points.reshape(-1, grid.ndim), tau), dtype=np.float64)
        return np.ascontiguousarray(values[:, axis].reshape(points.shape[:-1]))


class LinearDriftDynamics(Dynamics):
    r"""Dynamics with drift :math:`a(x,\tau) = -r(\tau)\, x`: the forward linear family.

    The face drift is the face coordinate times the rate, computed without
    evaluating points.

    Parameters
    ----------
    rate : callable
        ``rate(tau) -> float``, the rate :math:`r(\tau)`.
    noise : callable
        ``noise(tau) -> float``, the noise coefficient :math:`g(\tau)`.
    tau_end, t_start, direction, autonomous
        As for :class:`Dynamics`.
    """

    def __init__(self, rate, noise, tau_end, t_start=0.0, direction=1, autonomous=False):
        super().__init__(lambda x, tau: -rate(tau) * x, noise, tau_end, t_start, direction, autonomous)
        self.rate = rate

    def face_drift(self, grid, tau, axis):
        return -float(self.rate(tau)) * grid.face_coordinate(axis)


def forward_dynamics(process, T=1.0):
    r"""The forward noising SDE of ``process`` as a dynamics on :math:`[0, T]`.

    :math:`a(x, t) = -\beta(t) x`, :math:`g(t) = \sigma(t)`, ``tau = t``.

    Parameters
    ----------
    process : LinearProcess
        The noising process.
    T : float, optional
        End time.

    Returns
    -------
    Dynamics
        Autonomous when the process is time-homogeneous (OU, Brownian).
    """
    T = as_float(T, "T", positive=True)
    return LinearDriftDynamics(
        lambda tau: float(process.drift_rate(tau)),
        lambda tau: float(process.diffusion(tau)),
        T,
        autonomous=process.time_homogeneous,
    )


class ReverseDynamics(Dynamics):
    r"""The gamma-family reverse dynamics of a noising process, in reverse time :math:`\tau = T - t`.

    .. math::
        a(x, \tau) = \beta(t)\, x + \frac{1 + \gamma^2}{2} \sigma(t)^2 s(x, t), \qquad
        g(\tau) = \gamma\, \sigma(t), \qquad t = T - \tau \in [t_{min}, T],

    so that :math:`\partial_\tau q = -\nabla\cdot(a q) + \tfrac{\gamma^2\sigma^2}{2}\Delta q`.
    With the exact score every :math:`\gamma \ge 0` maps :math:`p_T` back to
    :math:`p_{t_{min}}`: :math:`\gamma = 1` is the time reversal (Anderson 1982),
    :math:`\gamma = 0` the probability-flow ODE (Song et al. 2021).

    Parameters
    ----------
    process : LinearProcess
        The noising process.
    score : Score
        The score :math:`s(x, t)` the drift uses.
    gamma : float or callable
        :math:`\gamma \ge 0`, or a function ``gamma(t) -> float`` of forward time.
    T, t_min : float
        The forward-time interval :math:`[t_{min}, T]`, run from ``T`` down.

    Both views read the gamma-family from here: the grid through
    :meth:`drift`, :meth:`noise` and :meth:`face_drift`, the particle schemes
    (:mod:`fpdiff.particles.schemes`) and the likelihood through
    :meth:`coefficients` and :meth:`exponential_step`, at forward times.
    :mod:`fpdiff.theory` writes the exponential integrator's coefficients
    again, as an oracle the tests check these against.
    """

    def __init__(self, process, score, gamma, T, t_min):
        T, t_min = check_time_interval(T, t_min)
        self.constant_gamma = None  # the value of a constant gamma
        if callable(gamma):
            self.gamma = gamma
            self.pure_transport = False
        else:
            constant = as_float(gamma, "gamma", nonnegative=True)
            self.gamma = lambda t: constant
            self.pure_transport = constant == 0.0
            self.constant_gamma = constant
        super().__init__(self._reverse_drift, self._reverse_noise, T - t_min, t_start=T, direction=-1, t_end=t_min)
        self.process = process
        self.score = score
        self.T = T
        self.t_min = t_min

    def gamma_at(self, t):
        r""":math:`\gamma(t)`, checked to be a finite non-negative number."""
        value = as_float(self.gamma(t), "gamma(t)")
        if value < 0:
            raise InputError(f"`gamma(t)` must be >= 0; got {value} at t = {t}")
        return value

    def coefficients(self, t):
        r"""``(beta, weight, noise)`` at forward time ``t``: the drift is ``beta * x + weight * s(x, t)``.

        :math:`\beta(t)`, the score weight :math:`\tfrac{1+\gamma^2}{2}\sigma(t)^2` and
        the noise :math:`g = \gamma\sigma(t)`, with :math:`\gamma = \gamma(t)`.
        """
        gamma = self.gamma_at(t)
        beta = float(self.process.drift_rate(t))
        sigma = float(self.process.diffusion(t))
        return beta, 0.5 * (1.0 + gamma * gamma) * (sigma * sigma), gamma * sigma

    def coefficient_table(self, times):
        """:meth:`coefficients` at every forward time of the array ``times``: three arrays, one evaluation of
        the process per array (a callable gamma is called once per time)."""
        times = np.asarray(times, dtype=np.float64)
        if self.constant_gamma is None:
            gamma = np.array([self.gamma_at(float(t)) for t in times])
        else:
            gamma = np.full(times.shape, self.constant_gamma)
        beta = np.broadcast_to(np.asarray(self.process.drift_rate(times), dtype=np.float64), times.shape)
        sigma = np.broadcast_to(np.asarray(self.process.diffusion(times), dtype=np.float64), times.shape)
        return beta, 0.5 * (1.0 + gamma * gamma) * (sigma * sigma), gamma * sigma

    def exponential_step(self, t, t_next):
        r"""``(phi, x0_weight, noise_std)`` of one gamma exponential-integrator step from ``t`` down to ``t_next``.

        With :math:`t_n` = ``t`` > :math:`t_{n+1}` = ``t_next``, the denoiser
        :math:`\hat x_0` frozen at :math:`(Y_n, t_n)` and :math:`\gamma = \gamma(t_n)`
        (``docs/theory.md``, section 5):

        .. math::

            \Phi &= \left(\frac{\alpha_n}{\alpha_{n+1}}\right)^{\gamma^2}
                    \left(\frac{v_{n+1}}{v_n}\right)^{(1+\gamma^2)/2}, \\
            Y_{n+1} &= \Phi\, Y_n + (\alpha_{n+1} - \Phi\,\alpha_n)\, \hat x_0(Y_n, t_n)
                      + \sqrt{v_{n+1} - \Phi^2 v_n}\; \xi, \qquad \xi \sim N(0, I):

        the exact solution of the dynamics with the Tweedie score
        :math:`s = (\alpha_t \hat x_0 - y)/v_t` and :math:`\hat x_0` frozen. The
        noise variance is computed as :math:`v_{n+1}(1 - (\mathrm{SNR}_n/\mathrm{SNR}_{n+1})^{\gamma^2})`,
        :math:`\mathrm{SNR} = \alpha^2/v`, with ``expm1``: non-negative and free of
        cancellation for short steps. :func:`fpdiff.theory.gamma_ei_coefficients`
        is the oracle.
        """
        gamma = self.gamma_at(t)
        alpha_n, alpha_m = float(self.process.alpha(t)), float(self.process.alpha(t_next))
        v_n, v_m = float(self.process.variance(t)), float(self.process.variance(t_next))
        if not (alpha_n > 0 and alpha_m > 0 and v_n > 0 and v_m > 0):
            raise InputError(
                f"`process` {self.process!r} needs alpha > 0 and v > 0 at t={t} and t_next={t_next} for the "
                f"exponential integrator; got alpha=({alpha_n!r}, {alpha_m!r}), v=({v_n!r}, {v_m!r})"
            )
        g2 = gamma * gamma
        log_alpha_ratio = np.log(alpha_n) - np.log(alpha_m)  # <= 0
        log_v_ratio = np.log(v_m) - np.log(v_n)  # < 0
        phi = float(np.exp(g2 * log_alpha_ratio + 0.5 * (1 + g2) * log_v_ratio))
        x0_weight = alpha_m - phi * alpha_n
        # v_m - phi^2 v_n = v_m (1 - (SNR_n / SNR_m)^(gamma^2)), log(SNR_n/SNR_m) = 2 log_alpha_ratio + log_v_ratio
        log_snr_ratio = min(2 * log_alpha_ratio + log_v_ratio, 0.0)
        noise_var = -v_m * np.expm1(g2 * log_snr_ratio)
        return phi, float(x0_weight), float(np.sqrt(max(noise_var, 0.0)))

    def _reverse_drift(self, x, tau):
        t = float(self.time_label(tau))
        beta, weight, _ = self.coefficients(t)
        return beta * x + weight * self.score.score(x, t)

    def _reverse_noise(self, tau):
        return self.coefficients(float(self.time_label(tau)))[2]

    def face_drift(self, grid, tau, axis):
        t = float(self.time_label(tau))
        beta, weight, _ = self.coefficients(t)
        return beta * grid.face_coordinate(axis) + weight * self.score.face_values(grid, t, axis)


def reverse_dynamics(process, score, gamma, T, t_min=1e-3):
    r"""The gamma-family reverse dynamics (see :class:`ReverseDynamics`) on :math:`t \in [t_{min}, T]`.

    Parameters
    ----------
    process : LinearProcess
        The noising process.
    score : Score
        The score of its marginals (exact or learned).
    gamma : float or callable
        :math:`\gamma \ge 0` (1: the time reversal, 0: the probability-flow
        ODE), or a function of forward time.
    T : float
        Start (forward time).
    t_min : float, optional
        End (forward time), ``0 < t_min < T``.

    Returns
    -------
    ReverseDynamics
        Solver time :math:`\tau = T - t`.
    """
    return ReverseDynamics(process, score, gamma, T, t_min)
