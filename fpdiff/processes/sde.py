r"""The classic SDEs of score-based diffusion: OU, VP, VE and Brownian motion, all in closed form.

Each is a :class:`~fpdiff.processes.base.LinearProcess` with :math:`\alpha_t`,
:math:`v_t` and the inverses of its noise level written out.
"""

import numpy as np

from .._validation import as_float
from ..errors import InputError
from .base import LinearProcess, register

class OU(LinearProcess):
    r"""Ornstein–Uhlenbeck process :math:`dX = -\beta X dt + \sigma dW` with constant coefficients.

    :math:`\alpha_t = e^{-\beta t}`, :math:`v_t = \frac{\sigma^2}{2\beta}(1 - e^{-2\beta t})`;
    stationary law :math:`N(0, \sigma^2/(2\beta))`.

    Parameters
    ----------
    beta : float
        The drift rate, > 0 (default 1).
    sigma : float
        The noise coefficient, > 0 (default sqrt 2: stationary variance 1); kept as
        :attr:`diffusion_constant`, since :meth:`sigma` is the noise level.
    """

    time_homogeneous = True

    def __init__(self, beta=1.0, sigma=2**0.5):
        self.beta = as_float(beta, "beta", positive=True)
        #: the constant noise coefficient g (the parameter ``sigma``; :meth:`sigma` is the noise level)
        self.diffusion_constant = as_float(sigma, "sigma", positive=True)
        with np.errstate(over="ignore"):  # an overflow is reported by the check below
            self.stationary_variance = float(np.float64(self.diffusion_constant) ** 2 / (2 * self.beta))
        self._check_coefficients()

    def drift_rate(self, t):
        return self.beta + 0.0 * np.asarray(t, dtype=np.float64)

    def diffusion(self, t):
        return self.diffusion_constant + 0.0 * np.asarray(t, dtype=np.float64)

    def alpha(self, t):
        return np.exp(-self.beta * np.asarray(t, dtype=np.float64))

    def variance(self, t):
        return -self.stationary_variance * np.expm1(-2 * self.beta * np.asarray(t, dtype=np.float64))

    def t_of_sigma(self, sigma):
        # sigma^2 = v / alpha^2 = S (exp(2 beta t) - 1), S the stationary variance
        sigma = self._noise_levels(sigma, "sigma")
        return np.log1p(sigma * sigma / self.stationary_variance) / (2 * self.beta)

    def _parameters(self):
        return {"beta": self.beta, "sigma": self.diffusion_constant}


class VP(LinearProcess):
    r"""Variance-preserving process of Song et al. (2021), eq. (32), on :math:`t \in [0, 1]`.

    :math:`b(t) = b_{min} + t (b_{max} - b_{min})`, :math:`\beta = b/2`, :math:`\sigma = \sqrt{b}`;
    with :math:`B(t) = \int_0^t b`: :math:`\alpha_t = e^{-B/2}`, :math:`v_t = 1 - e^{-B}`;
    stationary law :math:`N(0, 1)`.

    Parameters
    ----------
    beta_min, beta_max : float
        :math:`b` at :math:`t = 0` and :math:`t = 1`, ``0 < beta_min <= beta_max`` (default 0.1 and 20).
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

    def t_of_sigma(self, sigma):
        # sigma^2 = exp(B) - 1; B(t) = b_min t + (b_max - b_min) t^2 / 2 solved without cancellation
        sigma = self._noise_levels(sigma, "sigma")
        integrated = np.log1p(sigma * sigma)
        slope = self.beta_max - self.beta_min
        return 2 * integrated / (self.beta_min + np.sqrt(self.beta_min**2 + 2 * slope * integrated))

    def _parameters(self):
        return {"beta_min": self.beta_min, "beta_max": self.beta_max}


class VE(LinearProcess):
    r"""Variance-exploding process of Song et al. (2021), eq. (30), on :math:`t \in [0, 1]`.

    Noise level :math:`s(t) = s_{min} (s_{max}/s_{min})^t`; the SDE is
    :math:`dX = \sqrt{d[s^2]/dt}\, dW`, i.e. :math:`\beta = 0`,
    :math:`\sigma(t) = s(t)\sqrt{2 \ln(s_{max}/s_{min})}`, so :math:`\alpha_t = 1`,
    :math:`v_t = s(t)^2 - s_{min}^2`. No stationary law: the prior at ``T`` is
    :math:`N(0, v_T)`.

    Parameters
    ----------
    sigma_min, sigma_max : float
        The noise levels :math:`s(0)` and :math:`s(1)`, ``0 < sigma_min < sigma_max`` (default 0.01 and 50).
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

    def t_of_sigma(self, sigma):
        # alpha = 1: sigma^2 = v = s_min^2 (exp(2 L t) - 1)
        sigma = self._noise_levels(sigma, "sigma")
        return np.log1p((sigma / self.sigma_min) ** 2) / (2 * self._log_ratio)

    def _parameters(self):
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max}


class Brownian(LinearProcess):
    r"""Scaled Brownian motion :math:`dX = \sigma dW`: :math:`\alpha_t = 1`, :math:`v_t = \sigma^2 t`.

    Parameters
    ----------
    sigma : float
        The noise coefficient, > 0 (default 1); kept as :attr:`diffusion_constant`.
    """

    time_homogeneous = True

    def __init__(self, sigma=1.0):
        #: the constant noise coefficient g (the parameter ``sigma``; :meth:`sigma` is the noise level)
        self.diffusion_constant = as_float(sigma, "sigma", positive=True)
        self._check_coefficients()

    def drift_rate(self, t):
        return 0.0 * np.asarray(t, dtype=np.float64)

    def diffusion(self, t):
        return self.diffusion_constant + 0.0 * np.asarray(t, dtype=np.float64)

    def alpha(self, t):
        return 1.0 + 0.0 * np.asarray(t, dtype=np.float64)

    def variance(self, t):
        return self.diffusion_constant**2 * np.asarray(t, dtype=np.float64)

    def t_of_sigma(self, sigma):
        sigma = self._noise_levels(sigma, "sigma")
        return (sigma / self.diffusion_constant) ** 2

    def _parameters(self):
        return {"sigma": self.diffusion_constant}


register(OU, VP, VE, Brownian)
