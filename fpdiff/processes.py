r"""Forward noising processes of the linear family.

Every process here is an SDE

.. math::  dX_t = -\beta(t) X_t \, dt + \sigma(t) \, dW_t, \qquad X_0 \sim p_0,

whose transition is Gaussian: :math:`X_t | X_0 = x_0 \sim N(\alpha_t x_0, v_t I)` with
:math:`\alpha_t = \exp(-\int_0^t \beta)` and :math:`\dot v = -2\beta v + \sigma^2`, :math:`v_0 = 0`.
Its Fokker–Planck equation is :math:`\partial_t p = \nabla\cdot(\beta x p) + \tfrac{\sigma^2}{2}\Delta p`.
All formulas for :math:`\alpha_t` and :math:`v_t` are closed form.
"""

import numpy as np

from ._validation import as_float, as_int, as_points
from .distributions import GaussianMixture
from .errors import InputError

__all__ = ["LinearProcess", "OU", "VP", "VE", "Brownian", "process_from_dict", "check_process"]


class LinearProcess:
    """Base class: subclasses define ``drift_rate``, ``diffusion``, ``alpha``, ``variance``."""

    #: variance of the stationary law, or None when the process has none
    stationary_variance = None
    #: True when beta and sigma do not depend on t
    time_homogeneous = False

    def drift_rate(self, t):
        r""":math:`\beta(t)`, the rate of the linear drift :math:`-\beta(t) x`."""
        raise NotImplementedError

    def diffusion(self, t):
        r""":math:`\sigma(t)`, the noise coefficient of the SDE."""
        raise NotImplementedError

    def alpha(self, t):
        r""":math:`\alpha_t = \exp(-\int_0^t \beta(s) ds)`, the mean's scale."""
        raise NotImplementedError

    def variance(self, t):
        r""":math:`v_t`, the variance of :math:`X_t` given :math:`X_0`."""
        raise NotImplementedError

    def drift(self, x, t):
        r"""Drift :math:`-\beta(t) x` of the SDE at points ``x`` (any shape)."""
        return -self.drift_rate(t) * np.asarray(x, dtype=np.float64)

    def transition(self, s, t):
        r"""Coefficients of :math:`X_t | X_s = x \sim N(a x, w I)` for ``s <= t``: returns ``(a, w)``.

        :math:`a = \alpha_t/\alpha_s`, :math:`w = v_t - a^2 v_s`.
        """
        a = self.alpha(t) / self.alpha(s)
        return a, self.variance(t) - a * a * self.variance(s)

    def prior(self, T, dim=1):
        """The Gaussian the reverse process starts from, as a :class:`GaussianMixture`.

        The stationary law for processes that have one (OU, VP), else the
        marginal of a point mass at the origin at time ``T`` (VE, Brownian).
        """
        T = as_float(T, "T", positive=True)
        dim = as_int(dim, "dim", minimum=1)
        var = self.stationary_variance if self.stationary_variance is not None else self.variance(T)
        return GaussianMixture([1.0], np.zeros((1, dim)), [var])

    def sample_transition(self, x0, t, seed=None):
        """Draw :math:`X_t` given :math:`X_0 = x_0` for each row of ``x0`` (shape ``(M, d)``)."""
        x0 = np.asarray(x0, dtype=np.float64)
        x0 = as_points(x0, x0.shape[-1] if x0.ndim == 2 else 1, "x0")
        t = as_float(t, "t", nonnegative=True)
        rng = np.random.default_rng(seed)
        return self.alpha(t) * x0 + np.sqrt(self.variance(t)) * rng.standard_normal(x0.shape)

    def _check_coefficients(self):
        r"""Raise unless :math:`\beta, \sigma, \alpha, v` are finite, and :math:`\alpha, v > 0`, on ``t`` in ``(0, 1]``.

        Parameters can each be finite and positive and still be absurd
        together: ``VE(sigma_max=1e300)`` has :math:`v_1 = \infty` and
        ``OU(sigma=1e200)`` a stationary variance of ``inf``. The solvers would
        turn such coefficients into densities that look finite; an
        :math:`\alpha` that underflows to 0 (``VP(beta_max=1e308)``) loses the
        data for good (Tweedie's formula divides by it). Checked on the unit
        interval, the time scale of every process here.
        """
        t = np.array([1e-3, 0.5, 1.0])
        advice = "choose parameters whose coefficients are finite (and alpha and the variance positive)"
        for name, function in (("drift rate beta(t)", self.drift_rate), ("diffusion sigma(t)", self.diffusion),
                               ("alpha(t)", self.alpha), ("variance v(t)", self.variance)):
            try:
                with np.errstate(all="ignore"):
                    values = np.asarray(function(t), dtype=np.float64)
            except OverflowError:  # Python float arithmetic on a huge parameter
                raise InputError(f"{self!r}: its {name} overflows: {advice}") from None
            bad = ~np.isfinite(values) | ((values <= 0) if name.startswith(("variance", "alpha")) else False)
            if np.any(bad):
                raise InputError(f"{self!r} has an unusable {name} = {float(values[bad][0])!r} at "
                                 f"t = {t[bad][0]:g}: {advice}")

    def to_dict(self):
        """JSON-ready description, inverse of :func:`process_from_dict`."""
        return {"kind": type(self).__name__, **self._parameters()}

    def _parameters(self):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._parameters().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self._parameters() == other._parameters()

    def __hash__(self):
        return hash((type(self).__name__, tuple(self._parameters().items())))


class OU(LinearProcess):
    r"""Ornstein–Uhlenbeck process :math:`dX = -\beta X dt + \sigma dW` with constant coefficients.

    :math:`\alpha_t = e^{-\beta t}`, :math:`v_t = \frac{\sigma^2}{2\beta}(1 - e^{-2\beta t})`;
    stationary law :math:`N(0, \sigma^2/(2\beta))`.
    """

    time_homogeneous = True

    def __init__(self, beta=1.0, sigma=2**0.5):
        self.beta = as_float(beta, "beta", positive=True)
        self.sigma = as_float(sigma, "sigma", positive=True)
        with np.errstate(over="ignore"):  # an overflow is reported by the check below
            self.stationary_variance = float(np.float64(self.sigma) ** 2 / (2 * self.beta))
        self._check_coefficients()

    def drift_rate(self, t):
        return self.beta + 0.0 * np.asarray(t, dtype=np.float64)

    def diffusion(self, t):
        return self.sigma + 0.0 * np.asarray(t, dtype=np.float64)

    def alpha(self, t):
        return np.exp(-self.beta * np.asarray(t, dtype=np.float64))

    def variance(self, t):
        return -self.stationary_variance * np.expm1(-2 * self.beta * np.asarray(t, dtype=np.float64))

    def _parameters(self):
        return {"beta": self.beta, "sigma": self.sigma}


class VP(LinearProcess):
    r"""Variance-preserving process of Song et al. (2021), eq. (32), on :math:`t \in [0, 1]`.

    :math:`b(t) = b_{min} + t (b_{max} - b_{min})`, :math:`\beta = b/2`, :math:`\sigma = \sqrt{b}`;
    with :math:`B(t) = \int_0^t b`: :math:`\alpha_t = e^{-B/2}`, :math:`v_t = 1 - e^{-B}`;
    stationary law :math:`N(0, 1)`.
    """

    stationary_variance = 1.0

    def __init__(self, beta_min=0.1, beta_max=20.0):
        self.beta_min = as_float(beta_min, "beta_min", positive=True)
        self.beta_max = as_float(beta_max, "beta_max", positive=True)
        if self.beta_max < self.beta_min:
            raise InputError(f"`beta_max` must be >= `beta_min` (the noise rate grows with t); got "
                             f"beta_min={self.beta_min}, beta_max={self.beta_max}")
        self._check_coefficients()

    def _b(self, t):
        return self.beta_min + np.asarray(t, dtype=np.float64) * (self.beta_max - self.beta_min)

    def _integrated_b(self, t):
        t = np.asarray(t, dtype=np.float64)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def drift_rate(self, t):
        return 0.5 * self._b(t)

    def diffusion(self, t):
        return np.sqrt(self._b(t))

    def alpha(self, t):
        return np.exp(-0.5 * self._integrated_b(t))

    def variance(self, t):
        return -np.expm1(-self._integrated_b(t))

    def _parameters(self):
        return {"beta_min": self.beta_min, "beta_max": self.beta_max}


class VE(LinearProcess):
    r"""Variance-exploding process of Song et al. (2021), eq. (30), on :math:`t \in [0, 1]`.

    Noise level :math:`s(t) = s_{min} (s_{max}/s_{min})^t`; the SDE is
    :math:`dX = \sqrt{d[s^2]/dt}\, dW`, i.e. :math:`\beta = 0`,
    :math:`\sigma(t) = s(t)\sqrt{2 \ln(s_{max}/s_{min})}`, so :math:`\alpha_t = 1`,
    :math:`v_t = s(t)^2 - s_{min}^2`. No stationary law: the prior at ``T`` is
    :math:`N(0, v_T)`.
    """

    def __init__(self, sigma_min=0.01, sigma_max=50.0):
        self.sigma_min = as_float(sigma_min, "sigma_min", positive=True)
        self.sigma_max = as_float(sigma_max, "sigma_max", positive=True)
        if self.sigma_max <= self.sigma_min:
            raise InputError(
                f"`sigma_max` must exceed `sigma_min`; got sigma_min={self.sigma_min}, sigma_max={self.sigma_max}"
            )
        self._log_ratio = np.log(self.sigma_max / self.sigma_min)
        self._check_coefficients()

    def noise_level(self, t):
        """:math:`s(t) = s_{min} (s_{max}/s_{min})^t`."""
        return self.sigma_min * np.exp(self._log_ratio * np.asarray(t, dtype=np.float64))

    def drift_rate(self, t):
        return 0.0 * np.asarray(t, dtype=np.float64)

    def diffusion(self, t):
        return self.noise_level(t) * np.sqrt(2 * self._log_ratio)

    def alpha(self, t):
        return 1.0 + 0.0 * np.asarray(t, dtype=np.float64)

    def variance(self, t):
        # s(t)^2 - s_min^2 = s_min^2 (exp(2 L t) - 1), accurate for small t
        return self.sigma_min**2 * np.expm1(2 * self._log_ratio * np.asarray(t, dtype=np.float64))

    def _parameters(self):
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max}


class Brownian(LinearProcess):
    r"""Scaled Brownian motion :math:`dX = \sigma dW`: :math:`\alpha_t = 1`, :math:`v_t = \sigma^2 t`."""

    time_homogeneous = True

    def __init__(self, sigma=1.0):
        self.sigma = as_float(sigma, "sigma", positive=True)
        self._check_coefficients()

    def drift_rate(self, t):
        return 0.0 * np.asarray(t, dtype=np.float64)

    def diffusion(self, t):
        return self.sigma + 0.0 * np.asarray(t, dtype=np.float64)

    def alpha(self, t):
        return 1.0 + 0.0 * np.asarray(t, dtype=np.float64)

    def variance(self, t):
        return self.sigma**2 * np.asarray(t, dtype=np.float64)

    def _parameters(self):
        return {"sigma": self.sigma}


PROCESSES = {cls.__name__: cls for cls in (OU, VP, VE, Brownian)}


def check_process(process, name="process"):
    """Return ``process`` if it is an fpdiff process (a :class:`LinearProcess`), else raise :class:`InputError`.

    The one check of the solvers and scores: a user's subclass of
    :class:`LinearProcess` passes.
    """
    if not isinstance(process, LinearProcess):
        raise InputError(f"`{name}` must be an fpdiff process (OU, VP, VE, Brownian, or a LinearProcess subclass); "
                         f"got {type(process).__name__}")
    return process


def process_from_dict(description):
    """Rebuild a process from :meth:`LinearProcess.to_dict` output."""
    description = dict(description)
    kind = description.pop("kind", None)
    if kind not in PROCESSES:
        raise InputError(f"process `kind` must be one of {sorted(PROCESSES)}; got {kind!r}")
    return PROCESSES[kind](**description)
