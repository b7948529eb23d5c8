r"""The base of every forward noising process: the linear family.

Every process here is an SDE

.. math::  dX_t = -\beta(t) X_t \, dt + g(t) \, dW_t, \qquad X_0 \sim p_0,

whose transition is Gaussian: :math:`X_t | X_0 = x_0 \sim N(\alpha_t x_0, v_t I)` with
:math:`\alpha_t = \exp(-\int_0^t \beta)` and :math:`\dot v = -2\beta v + g^2`, :math:`v_0 = 0`.
Its Fokker–Planck equation is :math:`\partial_t p = \nabla\cdot(\beta x p) + \tfrac{g^2}{2}\Delta p`.
A process is defined by :math:`\alpha_t` and :math:`v_t`; its SDE coefficients follow from them,
:math:`\beta = -\frac{d}{dt}\log\alpha_t` and :math:`g^2 = \dot v_t + 2\beta v_t`.

Machine-learning code names a time by its noise level instead: the
noise-to-signal ratio :math:`\sigma(t) = \sqrt{v_t}/\alpha_t` (k-diffusion's sigma,
diffusers' Euler sigmas) or the log signal-to-noise ratio
:math:`\lambda(t) = \log(\alpha_t^2/v_t) = -2\log\sigma(t)`. Both are strictly monotone in
:math:`t` for every process here, so :meth:`LinearProcess.t_of_sigma` and
:meth:`LinearProcess.t_of_log_snr` invert them.
"""

import json

import numpy as np

from .._validation import as_finite_array, as_float, as_int, as_points
from ..distributions import GaussianMixture
from ..errors import InputError
from ..timegrid import invert_monotone

class LinearProcess:
    """Base class: subclasses define ``drift_rate``, ``diffusion``, ``alpha``, ``variance`` and ``_parameters``.

    The noise level (:meth:`sigma`, :meth:`log_snr`) and its inverses
    (:meth:`t_of_sigma`, :meth:`t_of_log_snr`) follow from ``alpha`` and
    ``variance``; a subclass overrides the inverses where it has them in
    closed form (the generic ones bisect, to 1e-13 relative).
    """

    #: variance of the stationary law, or None when the process has none
    stationary_variance = None
    #: True when beta and g do not depend on t
    time_homogeneous = False
    #: the last time the schedule is defined at (``inf``: every t >= 0)
    t_max = np.inf

    def drift_rate(self, t):
        r""":math:`\beta(t)`, the rate of the linear drift :math:`-\beta(t) x`."""
        raise NotImplementedError

    def diffusion(self, t):
        r""":math:`g(t)`, the noise coefficient of the SDE."""
        raise NotImplementedError

    def alpha(self, t):
        r""":math:`\alpha_t = \exp(-\int_0^t \beta(s) ds)`, the mean's scale."""
        raise NotImplementedError

    def variance(self, t):
        r""":math:`v_t`, the variance of :math:`X_t` given :math:`X_0`."""
        raise NotImplementedError

    def sigma(self, t):
        r"""The noise-to-signal ratio :math:`\sigma(t) = \sqrt{v_t}/\alpha_t` (k-diffusion's and diffusers' sigma).

        Parameters
        ----------
        t : float or array_like
            Forward times.

        Returns
        -------
        ndarray
            :math:`\sigma(t)`, increasing in ``t``, 0 at ``t = 0``.
        """
        return np.sqrt(self.variance(t)) / self.alpha(t)

    def log_snr(self, t):
        r"""The log signal-to-noise ratio :math:`\lambda(t) = \log(\alpha_t^2 / v_t) = -2 \log\sigma(t)`.

        Parameters
        ----------
        t : float or array_like
            Forward times (``t > 0``; :math:`\lambda(0) = +\infty`).

        Returns
        -------
        ndarray
            :math:`\lambda(t)`, decreasing in ``t``.
        """
        return 2.0 * np.log(self.alpha(t)) - np.log(self.variance(t))

    def t_of_sigma(self, sigma):
        r"""The forward time :math:`t` with :math:`\sigma(t) =` ``sigma`` (the inverse of :meth:`sigma`).

        Parameters
        ----------
        sigma : float or array_like
            Noise-to-signal ratios, positive and no larger than :math:`\sigma(t_{max})`.

        Returns
        -------
        ndarray
            The times, as an array of the shape of ``sigma``.
        """
        sigma = self._noise_levels(sigma, "sigma")
        return self._invert(lambda t: self.sigma(t), sigma, "sigma")

    def t_of_log_snr(self, log_snr):
        r"""The forward time :math:`t` with :math:`\lambda(t) =` ``log_snr`` (the inverse of :meth:`log_snr`).

        Parameters
        ----------
        log_snr : float or array_like
            Log signal-to-noise ratios, finite and no smaller than :math:`\lambda(t_{max})`.

        Returns
        -------
        ndarray
            The times, as an array of the shape of ``log_snr``.
        """
        log_snr = as_finite_array(log_snr, "log_snr")
        return self.t_of_sigma(np.exp(-0.5 * log_snr))

    def _noise_levels(self, sigma, name):
        """``sigma`` as a positive finite float array, or raise :class:`InputError` naming ``name``."""
        sigma = as_finite_array(sigma, name)
        if np.any(sigma <= 0):
            raise InputError(f"`{name}` must be > 0 (sigma = 0 is t = 0, the data); got {float(np.min(sigma))!r}")
        return sigma

    def _invert(self, function, targets, name):
        r"""Times :math:`t` with ``function(t) = targets``, ``function`` increasing from 0 at :math:`t = 0`.

        Bisection on :math:`[0, t_{hi}]`; :math:`t_{hi}` is :attr:`t_max` when
        finite, else doubled from 1 until it brackets every target.
        """
        hi = self.t_max if np.isfinite(self.t_max) else 1.0
        while not np.isfinite(self.t_max) and np.max(targets, initial=0.0) > function(hi) and hi < 1e300:
            hi *= 2.0
        reach = float(function(hi))
        if np.any(targets > reach * (1 + 1e-12)):  # a target rounded past the end (a library's float32 sigma) is the end
            raise InputError(f"`{name}` = {float(np.max(targets))!r} is beyond the range of {self!r}, whose "
                             f"{name} reaches {reach!r} at t = {hi!r}")
        return invert_monotone(function, np.minimum(targets, reach), hi, 0.0)

    def _times(self, t):
        """``t`` as a float array; raise :class:`InputError` unless every time is in ``[0, t_max]``."""
        t = np.asarray(t, dtype=np.float64)
        if np.any(t < 0) or np.any(t > self.t_max) or np.any(np.isnan(t)):
            bad = t[(t < 0) | (t > self.t_max) | np.isnan(t)]
            raise InputError(f"{self!r} is defined for t in [0, {self.t_max:g}]; got t = {float(bad.flat[0])!r}")
        return t

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


def check_process(process, name="process"):
    """Return ``process`` if it is an fpdiff process (a :class:`LinearProcess`), else raise :class:`InputError`.

    The one check of the solvers and scores: a user's subclass of
    :class:`LinearProcess` passes.

    Parameters
    ----------
    process : object
        What a caller passed as its process.
    name : str
        The argument's name, for the message.

    Returns
    -------
    LinearProcess
        ``process`` itself.
    """
    if not isinstance(process, LinearProcess):
        raise InputError(f"`{name}` must be an fpdiff process (OU, VP, VE, Brownian, Cosine, Discrete, EDM, ..., or a "
                         f"LinearProcess subclass); got {type(process).__name__}")
    return process


#: every process kind by its class name (the ``kind`` of :meth:`LinearProcess.to_dict`), filled by :func:`register`
#: in the modules that define them (:mod:`~fpdiff.processes.sde`, :mod:`~fpdiff.processes.schedules`), which the
#: package imports: whoever imports fpdiff has them all
PROCESSES = {}
#: the array parameters of each kind, stored by files as datasets (a kind not named here has numbers only)
ARRAY_PARAMETERS = {"Discrete": ("alphas_cumprod",)}


def register(*classes):
    """Add fpdiff's process ``classes`` to :data:`PROCESSES` (the kinds files and experiment files name).

    Parameters
    ----------
    *classes : type
        :class:`LinearProcess` subclasses, registered by their class names.
    """
    for cls in classes:
        PROCESSES[cls.__name__] = cls


def process_class(kind):
    """The process class named ``kind``: a class name, in any case, with ``-`` or ``_`` allowed between words.

    ``"VP"``, ``"cosine"``, ``"scaled-linear"``, ``"scaled_linear"`` and
    ``"ScaledLinear"`` all name a class; anything else raises :class:`InputError`.

    Parameters
    ----------
    kind : str
        The name.

    Returns
    -------
    type
        The class, from :data:`PROCESSES`.
    """
    spellings = {name.lower(): name for name in PROCESSES}
    name = spellings.get(kind.lower().replace("-", "").replace("_", "")) if isinstance(kind, str) else None
    if name is None:
        raise InputError(f"process `kind` must be one of {sorted(PROCESSES)} (any case; '-' or '_' between words); "
                         f"got {kind!r}")
    return PROCESSES[name]


def process_from_dict(description):
    """Rebuild a process from :meth:`LinearProcess.to_dict` output (``kind`` spelled as :func:`process_class` allows).

    Parameters
    ----------
    description : mapping
        ``kind`` and the class's constructor arguments.

    Returns
    -------
    LinearProcess
    """
    description = dict(description)
    return process_class(description.pop("kind", None))(**description)


def describe_process(process, name="process"):
    """``(scalars, arrays)``: how a file records ``process``; InputError unless it rebuilds exactly ``process``.

    ``scalars`` is :meth:`~fpdiff.processes.LinearProcess.to_dict` without
    its array parameters (JSON-ready: ``kind`` and numbers), ``arrays`` maps
    each array parameter (:class:`~fpdiff.Discrete`'s ``alphas_cumprod``) to
    a float64 array, stored as a dataset rather than as a list of numbers in
    the JSON. Only the processes of :data:`fpdiff.processes.PROCESSES` can be
    described: a user's own :class:`~fpdiff.processes.LinearProcess` subclass
    works in the solvers, but no reader could rebuild it from a file, so it
    is refused here rather than written into a file that would not load.

    Parameters
    ----------
    process : LinearProcess
        The process to describe.
    name : str
        The argument's name, for the messages.

    Returns
    -------
    scalars : dict
        JSON-ready ``kind`` and numbers.
    arrays : dict of str to ndarray
        The array parameters, by name.
    """
    check_process(process, name)
    kind = type(process).__name__
    if PROCESSES.get(kind) is not type(process):
        raise InputError(f"`{name}` {kind} cannot be stored in a file: a file describes a process by its kind and "
                         f"parameters, and only fpdiff's processes ({', '.join(PROCESSES)}) can be rebuilt from "
                         f"them; a LinearProcess subclass of your own works in the solvers but not in files: "
                         f"express it as one of these (a Discrete table of alphas_cumprod fits any "
                         f"variance-preserving schedule)")
    description = process.to_dict()
    arrays = {key: np.asarray(description[key], dtype=np.float64) for key in ARRAY_PARAMETERS.get(kind, ())}
    scalars = json.loads(json.dumps({key: value for key, value in description.items() if key not in arrays}))
    if process_from_dict({**scalars, **arrays}) != process:  # a parameter that JSON or float64 cannot hold
        raise InputError(f"`{name}` {process!r} does not survive being written: its description rebuilds "
                         "another process")
    return scalars, arrays
