r"""The noise schedules machine-learning code trains with: cosine, discrete tables, EDM.

Each is a :class:`~fpdiff.processes.base.LinearProcess`, defined by its
:math:`\alpha_t` and :math:`v_t`, with the SDE coefficients derived from them
(:math:`\beta = -\frac{d}{dt}\log\alpha_t`, :math:`g^2 = \dot v_t + 2\beta v_t`), so
every solver takes them as it takes OU or VP.

* :class:`Cosine` — Nichol & Dhariwal (2021), eq. (17), in continuous time on :math:`[0, 1]`.
* :class:`Discrete` — any table :math:`\bar\alpha_i` of a discrete-time model
  (DDPM's ``alphas_cumprod``), with a monotone :math:`C^1` interpolation in
  continuous time; :class:`LinearDiscrete` (DDPM's linear betas) and
  :class:`ScaledLinear` (Stable Diffusion's) build the table from their betas,
  and :meth:`Discrete.from_diffusers` from a diffusers scheduler or its config.
* :class:`EDM` — Karras et al. (2022): :math:`x = x_0 + \sigma\,\epsilon` with
  :math:`\sigma(t) = t`.

A discrete table's step ``i`` (diffusers' timestep ``i``, ``0 <= i < n``)
sits at :math:`t_i = (i + 1)/n`, and :math:`t = 0` is the clean data, so
:class:`LinearDiscrete` with ``n`` steps tends to :class:`~fpdiff.VP` with
:math:`b_{min} = n\,\beta_{start}`, :math:`b_{max} = n\,\beta_{end}` as ``n`` grows.
"""

import numpy as np
from scipy.interpolate import PchipInterpolator

from .._validation import as_finite_array, as_float, as_int
from ..errors import InputError
from .base import LinearProcess, register


class Cosine(LinearProcess):
    r"""The cosine schedule of Nichol & Dhariwal (2021), eq. (17), in continuous time :math:`t \in [0, 1]`.

    .. math::  \bar\alpha(t) = \alpha_t^2 = \frac{f(t)}{f(0)}, \quad f(t) = \cos^2 u(t), \quad
               u(t) = \frac{t + s}{1 + s}\,\frac{\pi}{2},

    :math:`v_t = 1 - \alpha_t^2`, so :math:`\beta(t) = \frac{\pi}{2(1+s)}\tan u(t)` and
    :math:`g^2 = 2\beta`; stationary law :math:`N(0, 1)`. The drift rate grows
    like :math:`1/(1 - t)` near :math:`t = 1`, where :math:`\alpha_t \to 0`: use
    ``T < 1`` (``T = 0.999`` leaves :math:`\alpha_T \approx 1.6\cdot 10^{-3}`).
    diffusers' ``squaredcos_cap_v2`` is this schedule sampled at
    :math:`t_i = (i+1)/n` with betas capped at 0.999
    (:meth:`Discrete.from_diffusers`).

    Parameters
    ----------
    s : float
        The offset that keeps :math:`\beta` small at :math:`t = 0` (default 0.008).
    """

    stationary_variance = 1.0
    t_max = 1.0

    def __init__(self, s=0.008):
        self.s = as_float(s, "s", positive=True)
        self._rate = 0.5 * np.pi / (1.0 + self.s)  # du/dt
        self._u0 = self.s * self._rate
        self._check_coefficients()

    def _u(self, t):
        return (self._times(t) + self.s) * self._rate

    def drift_rate(self, t):
        return self._rate * np.tan(self._u(t))

    def diffusion(self, t):
        return np.sqrt(2.0 * self.drift_rate(t))

    def alpha(self, t):
        return np.cos(self._u(t)) / np.cos(self._u0)

    def variance(self, t):
        # 1 - cos^2 u / cos^2 u0 = sin(u - u0) sin(u + u0) / cos^2 u0: no cancellation at small t
        u = self._u(t)
        return np.sin(u - self._u0) * np.sin(u + self._u0) / np.cos(self._u0) ** 2

    def t_of_sigma(self, sigma):
        # sigma^2 = cos^2 u0 / cos^2 u - 1, so tan u = sqrt(sigma^2 + sin^2 u0) / cos u0
        sigma = self._noise_levels(sigma, "sigma")
        u = np.arctan2(np.sqrt(sigma * sigma + np.sin(self._u0) ** 2), np.cos(self._u0))
        reach = float(self.sigma(self.t_max))
        if np.any(sigma > reach):
            raise InputError(f"`sigma` = {float(np.max(sigma))!r} is beyond the range of {self!r}, whose sigma "
                             f"reaches {reach!r} at t = 1")
        return np.minimum((u - self._u0) / self._rate, self.t_max)

    def _parameters(self):
        return {"s": self.s}


class EDM(LinearProcess):
    r"""The EDM process of Karras et al. (2022): :math:`x_t = x_0 + t\,\epsilon`, the time *is* the noise level.

    :math:`\alpha_t = 1`, :math:`v_t = t^2`, so :math:`\beta = 0` and :math:`g(t) = \sqrt{2t}`
    (their eq. (6) with :math:`\sigma(t) = t`, :math:`s(t) = 1`); :math:`\sigma(t) = t`
    and :meth:`t_of_sigma` is the identity. No stationary law: the prior at
    ``T`` is :math:`N(0, T^2)`, k-diffusion's start ``randn * sigma_max``. Solve
    from ``T = sigma_max`` down to ``t_min = sigma_min``.

    Parameters
    ----------
    sigma_min, sigma_max : float
        The noise levels a model was trained on (default 0.002 and 80).
    sigma_data : float
        The data's standard deviation, used by EDM's preconditioning
        (:meth:`preconditioning`; default 0.5).
    """

    def __init__(self, sigma_min=0.002, sigma_max=80.0, sigma_data=0.5):
        self.sigma_min = as_float(sigma_min, "sigma_min", positive=True)
        self.sigma_max = as_float(sigma_max, "sigma_max", positive=True)
        self.sigma_data = as_float(sigma_data, "sigma_data", positive=True)
        if self.sigma_max <= self.sigma_min:
            raise InputError(f"`sigma_max` must exceed `sigma_min`; got sigma_min={self.sigma_min}, "
                             f"sigma_max={self.sigma_max}")
        self._check_coefficients()

    def drift_rate(self, t):
        return 0.0 * np.asarray(t, dtype=np.float64)

    def diffusion(self, t):
        return np.sqrt(2.0 * np.asarray(t, dtype=np.float64))

    def alpha(self, t):
        return 1.0 + 0.0 * np.asarray(t, dtype=np.float64)

    def variance(self, t):
        t = np.asarray(t, dtype=np.float64)
        return t * t

    def sigma(self, t):
        return 1.0 * np.asarray(t, dtype=np.float64)

    def t_of_sigma(self, sigma):
        return self._noise_levels(sigma, "sigma")

    def preconditioning(self, sigma):
        r"""EDM's network preconditioning at noise level ``sigma`` (Karras et al. 2022, Table 1).

        The denoiser is :math:`D(x) = c_{skip} x + c_{out} F(c_{in} x, c_{noise})` for a raw network :math:`F`.

        Parameters
        ----------
        sigma : float or array_like
            Noise levels.

        Returns
        -------
        tuple of ndarray
            ``(c_skip, c_out, c_in, c_noise)``.
        """
        sigma = self._noise_levels(sigma, "sigma")
        total = sigma * sigma + self.sigma_data**2
        return (self.sigma_data**2 / total, sigma * self.sigma_data / np.sqrt(total), 1.0 / np.sqrt(total),
                0.25 * np.log(sigma))

    def _parameters(self):
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "sigma_data": self.sigma_data}


class Discrete(LinearProcess):
    r"""A discrete-time schedule :math:`\bar\alpha_0 > \dots > \bar\alpha_{n-1}` (``alphas_cumprod``) in continuous time.

    Step ``i`` sits at :math:`t_i = (i + 1)/n`, :math:`t = 0` being the data.
    With :math:`B(t) = -\log\bar\alpha(t)` (so :math:`B(t_i) = -\log\bar\alpha_i`,
    :math:`B(0) = 0`), the process is

    .. math::  \alpha_t = e^{-B(t)/2}, \quad v_t = 1 - e^{-B(t)}, \quad
               \beta(t) = \tfrac12 B'(t), \quad g(t)^2 = B'(t),

    a VP process whose integrated rate :math:`B` is the monotone piecewise-cubic
    Hermite (PCHIP, Fritsch & Carlson 1980) interpolant of the table. It passes
    through every entry, is increasing (so :math:`\sigma(t)` is monotone and
    invertible) and :math:`C^1` (the SDE's coefficients are continuous). Its
    error for a table sampled from a smooth schedule is :math:`O(n^{-3})` in
    :math:`B` and :math:`O(n^{-2})` in :math:`\beta` (measured in the tests).
    Stationary law :math:`N(0, 1)`; defined on :math:`t \in [0, 1]`.

    Parameters
    ----------
    alphas_cumprod : array_like, shape (n,)
        The cumulative products :math:`\bar\alpha_i = \prod_{j \le i} (1 - \beta_j)`,
        strictly decreasing in ``(0, 1)``.
    """

    stationary_variance = 1.0
    t_max = 1.0

    def __init__(self, alphas_cumprod):
        table = as_finite_array(alphas_cumprod, "alphas_cumprod", ndim=1)
        if len(table) < 2:
            raise InputError(f"`alphas_cumprod` needs at least 2 entries; got {len(table)}")
        if np.any(table <= 0) or np.any(table >= 1) or np.any(np.diff(table) >= 0):
            raise InputError("`alphas_cumprod` must be strictly decreasing in (0, 1) (each step adds noise); got "
                             f"values from {float(table[0])!r} to {float(table[-1])!r}"
                             + (" with a last entry of 0 (a zero terminal SNR has no log-SNR: drop it)"
                                if table[-1] <= 0 else ""))
        self.alphas_cumprod = table
        self.alphas_cumprod.flags.writeable = False
        self.n = len(table)
        nodes = np.arange(self.n + 1) / self.n
        self._integrated = PchipInterpolator(nodes, np.concatenate([[0.0], -np.log(table)]), extrapolate=False)
        self._rate = self._integrated.derivative()
        self._check_coefficients()

    @classmethod
    def from_diffusers(cls, config):
        r"""The schedule of a diffusers scheduler, from the scheduler itself or its config dictionary.

        A scheduler object (anything with an ``alphas_cumprod`` attribute)
        gives its own table, as diffusers computes it (in float32), so that
        fpdiff and diffusers step on the same numbers. A config dictionary
        (``scheduler.config``, or a ``scheduler_config.json`` read with
        :mod:`json`) is rebuilt in float64 from ``beta_schedule``
        (``"linear"`` → :class:`LinearDiscrete`, ``"scaled_linear"`` →
        :class:`ScaledLinear`, ``"squaredcos_cap_v2"`` → the cosine betas capped
        at 0.999), ``beta_start``, ``beta_end``, ``num_train_timesteps`` and
        ``trained_betas``, with diffusers' defaults for missing keys.

        Parameters
        ----------
        config : dict or scheduler
            The scheduler or its config.

        Returns
        -------
        Discrete
            The schedule (a :class:`LinearDiscrete` or :class:`ScaledLinear` where the config names one).
        """
        table = getattr(config, "alphas_cumprod", None)
        if table is not None:
            to_numpy = getattr(table, "numpy", None)
            return cls(np.asarray(to_numpy() if to_numpy else table, dtype=np.float64))
        if not hasattr(config, "get"):
            raise InputError(f"`config` must be a diffusers scheduler or its config dictionary; got "
                             f"{type(config).__name__}")
        if config.get("rescale_betas_zero_snr", False):
            raise InputError("a diffusers config with `rescale_betas_zero_snr = true` ends at alpha = 0, whose "
                             "log-SNR is -inf: fpdiff's processes need alpha > 0 at every step")
        n = as_int(config.get("num_train_timesteps", 1000), "num_train_timesteps", minimum=2)
        if config.get("trained_betas") is not None:
            betas = as_finite_array(config["trained_betas"], "trained_betas", ndim=1)
            return Discrete(np.cumprod(1.0 - betas))
        schedule = config.get("beta_schedule", "linear")
        start, end = config.get("beta_start", 0.0001), config.get("beta_end", 0.02)
        if schedule == "linear":
            return LinearDiscrete(start, end, n)
        if schedule == "scaled_linear":
            return ScaledLinear(start, end, n)
        if schedule == "squaredcos_cap_v2":
            cosine = Cosine()  # diffusers' betas_for_alpha_bar: beta_i = min(1 - abar(t_{i+1}) / abar(t_i), 0.999)
            abar = cosine.alpha(np.arange(n + 1) / n) ** 2
            return Discrete(np.cumprod(1.0 - np.minimum(1.0 - abar[1:] / abar[:-1], 0.999)))
        raise InputError(f"diffusers `beta_schedule` {schedule!r} is not supported; use 'linear', 'scaled_linear', "
                         "'squaredcos_cap_v2' or `trained_betas`, or pass the scheduler itself")

    def t_of_index(self, index):
        """The continuous time of diffusers' timestep ``index`` (``(index + 1) / n``; fractional indices allowed)."""
        return (as_finite_array(index, "index") + 1.0) / self.n

    def index_of_t(self, t):
        """The (fractional) diffusers timestep of the time ``t``: ``t n - 1``, the inverse of :meth:`t_of_index`."""
        return self._times(t) * self.n - 1.0

    def _integrated_rate(self, t):
        return self._integrated(self._times(t))

    def drift_rate(self, t):
        return 0.5 * self._rate(self._times(t))

    def diffusion(self, t):
        return np.sqrt(self._rate(self._times(t)))

    def alpha(self, t):
        return np.exp(-0.5 * self._integrated_rate(t))

    def variance(self, t):
        return -np.expm1(-self._integrated_rate(t))

    def t_of_sigma(self, sigma):
        # sigma^2 = exp(B) - 1: invert the monotone B(t)
        sigma = self._noise_levels(sigma, "sigma")
        return self._invert(self._integrated_rate, np.log1p(sigma * sigma), "sigma")

    def _parameters(self):
        return {"alphas_cumprod": tuple(float(a) for a in self.alphas_cumprod)}

    def __repr__(self):
        return (f"{type(self).__name__}(<{self.n} steps, alphas_cumprod from {self.alphas_cumprod[0]:.6g} "
                f"to {self.alphas_cumprod[-1]:.6g}>)")


class LinearDiscrete(Discrete):
    r"""DDPM's schedule (Ho et al. 2020): betas linear from ``beta_start`` to ``beta_end`` over ``n`` steps.

    :math:`\beta_i = \beta_{start} + \frac{i}{n-1}(\beta_{end} - \beta_{start})`,
    :math:`\bar\alpha_i = \prod_{j \le i}(1 - \beta_j)` (diffusers'
    ``beta_schedule="linear"``), in continuous time as :class:`Discrete`.

    Parameters
    ----------
    beta_start, beta_end : float
        The first and last beta, in (0, 1) (default 1e-4 and 0.02).
    n : int
        The number of steps (default 1000).
    """

    def __init__(self, beta_start=0.0001, beta_end=0.02, n=1000):
        self.beta_start, self.beta_end, n = _betas_range(beta_start, beta_end, n)
        super().__init__(np.cumprod(1.0 - np.linspace(self.beta_start, self.beta_end, n)))

    def _parameters(self):
        return {"beta_start": self.beta_start, "beta_end": self.beta_end, "n": self.n}

    __repr__ = LinearProcess.__repr__


class ScaledLinear(Discrete):
    r"""Stable Diffusion's schedule: square roots of the betas linear over ``n`` steps.

    :math:`\beta_i = \left(\sqrt{\beta_{start}} + \frac{i}{n-1}(\sqrt{\beta_{end}} - \sqrt{\beta_{start}})\right)^2`
    (diffusers' ``beta_schedule="scaled_linear"``), in continuous time as :class:`Discrete`.

    Parameters
    ----------
    beta_start, beta_end : float
        The first and last beta, in (0, 1) (default 0.00085 and 0.012, Stable Diffusion's).
    n : int
        The number of steps (default 1000).
    """

    def __init__(self, beta_start=0.00085, beta_end=0.012, n=1000):
        self.beta_start, self.beta_end, n = _betas_range(beta_start, beta_end, n)
        super().__init__(np.cumprod(1.0 - np.linspace(self.beta_start**0.5, self.beta_end**0.5, n) ** 2))

    def _parameters(self):
        return {"beta_start": self.beta_start, "beta_end": self.beta_end, "n": self.n}

    __repr__ = LinearProcess.__repr__


def _betas_range(beta_start, beta_end, n):
    """Check the betas of a linear table: ``0 < beta_start <= beta_end < 1`` and ``n >= 2``."""
    beta_start = as_float(beta_start, "beta_start", positive=True)
    beta_end = as_float(beta_end, "beta_end", positive=True)
    if not beta_start <= beta_end < 1:
        raise InputError(f"the betas must satisfy 0 < beta_start <= beta_end < 1; got beta_start={beta_start}, "
                         f"beta_end={beta_end}")
    return beta_start, beta_end, as_int(n, "n", minimum=2)


register(Cosine, Discrete, LinearDiscrete, ScaledLinear, EDM)
