r"""Green's functions (resolvent kernels) of the killed forward processes.

For a time-homogeneous forward diffusion :math:`X` with transition density
:math:`p_t(y \to x)` (with respect to Lebesgue measure) killed at an independent
time :math:`\zeta \sim \mathrm{Exp}(r)`, the :math:`r`-Green's function is

.. math::  G_r(y \to x) = \int_0^\infty e^{-r t}\, p_t(y \to x)\, dt ,

so that :math:`r\,G_r(y \to \cdot)` is the density of :math:`X_\zeta` given :math:`X_0 = y`
(Christensen, Kallsen, Strauch & Trottner 2025, "random time reversal").

Brownian motion :math:`dX = \sigma\, dW` (generator :math:`\tfrac{\sigma^2}{2}\Delta`).
With :math:`\rho = |x - y|`, :math:`\nu = (d-2)/2` and :math:`\kappa = \sqrt{2r}/\sigma`,

.. math::  G_r(y \to x) = \frac{2}{\sigma^2} (2\pi)^{-d/2} \Big(\frac{\kappa}{\rho}\Big)^{\nu} K_\nu(\kappa\rho),
           \qquad \nabla_x \log G_r = -\kappa \frac{K_{\nu+1}(\kappa\rho)}{K_\nu(\kappa\rho)} \frac{x-y}{\rho} .

Derivation: :math:`p_t` of :math:`\sigma W` at time :math:`t` is that of :math:`W` at :math:`\sigma^2 t`, so
:math:`G^{\sigma}_r = \sigma^{-2} G^{1}_{r/\sigma^2}`; for :math:`\sigma = 1` the formula is
:math:`\int_0^\infty t^{-d/2} e^{-\rho^2/(2t) - r t} dt = 2 (\rho^2/(2r))^{(2-d)/4} K_{(2-d)/2}(\rho\sqrt{2r})`
(Gradshteyn & Ryzhik 3.471.9) with :math:`K_{-\nu} = K_\nu`. The gradient uses
:math:`K_\nu'(z) = \tfrac{\nu}{z} K_\nu(z) - K_{\nu+1}(z)` (DLMF 10.29.2). Special cases:
:math:`d = 1`: :math:`G = e^{-\kappa\rho}/(\kappa\sigma^2)`;
:math:`d = 3`: :math:`G = e^{-\kappa\rho}/(2\pi\sigma^2\rho)`.
Evaluated with the exponentially scaled :func:`scipy.special.kve`, in logarithms, so large
:math:`\kappa\rho` never underflows (:math:`\log G \approx -\kappa\rho`).

Ornstein–Uhlenbeck :math:`dX = -\beta X dt + \sigma dW`: :math:`p_t(y \to x) = N(x; a_t y, v_t I)` with
:math:`a_t = e^{-\beta t}`, :math:`v_t = s^2 (1 - a_t^2)`, :math:`s^2 = \sigma^2/(2\beta)`; no closed form, so
:math:`G_r` is computed by the trapezoidal rule in :math:`u = \log t`,

.. math::  G_r(y \to x) \approx h \sum_k t_k e^{-r t_k} p_{t_k}(y \to x), \qquad t_k = e^{u_0 + k h},

whose error decays like :math:`e^{-c/h}` (the integrand is analytic in a strip around the real
:math:`u` axis and decays doubly exponentially at both ends; Trefethen & Weideman, SIAM Review 56, 2014,
section 5). With :math:`\kappa = \sqrt{2r}/\sigma`, the nodes run from
:math:`t_{lo} = \rho_{min}^2 / (\sigma^2 (100 + 4d + 20\kappa\rho_{min}))`, below which the integrand is smaller
than :math:`e^{-50}` of its peak for every :math:`|x - y| \ge \rho_{min}`, to
:math:`t_{hi} = (40 + 2\kappa\rho_{max})/r + 10/\beta` (beyond it :math:`e^{-rt}` has killed all but
:math:`e^{-40}` of the total), with step
:math:`h = \min(0.2, 0.8/\sqrt{1 + \kappa\rho_{max}}, 1.5 s/\rho_{max})` (the peak of the
integrand in :math:`u` narrows like :math:`(\kappa\rho)^{-1/2}`, and for OU at large times like :math:`s/\rho`;
the last term is for OU only). The relative error of :math:`G_r` and of its
gradient is then below ``1e-9`` for d = 1..20 and :math:`\kappa\rho` up to 300 (tested against adaptive quadrature
and, for Brownian motion, against the closed form); the cost is about 50 to 350 nodes per evaluation.
:math:`\nabla_x \log G_r = -\sum_k \pi_k (x - a_{t_k} y)/v_{t_k}` with :math:`\pi_k` the normalised terms of the sum.
This rule is the reference; the score's kernel (:class:`fpdiff.HomogeneousScore`) reads :math:`G_r` for OU from a
table in two scaled variables built by a log-time rule of the same kind (``fpdiff.homogeneous.table``), 30 to
100 times cheaper per data point.

Points: for :math:`d \ge 2`, :math:`G_r(y \to y) = \infty` (points are polar) and this module returns
``inf`` for ``log_green`` and ``0`` for the gradient at ``x == y``; for :math:`d = 1` the Green's function is finite
and has a kink at ``x == y``, where the gradient returned is 0 (the average of the one-sided ones).
"""

import numpy as np
from scipy.special import kve

from .._validation import as_finite_array, as_float
from ..errors import InputError
from ..processes.sde import OU, Brownian

__all__ = ["green", "log_green", "grad_log_green", "invariant_log_density", "green_nodes", "check_process",
           "check_rate"]

#: default step of the trapezoidal rule in u = log t (relative error < 1e-9, see the module docstring)
QUADRATURE_STEP = 0.2


def check_process(process, name="process"):
    """Return ``process`` if it is a :class:`Brownian` or :class:`OU` (the symmetric, time-homogeneous ones)."""
    if type(process) not in (Brownian, OU):
        raise InputError(
            f"`{name}` must be fpdiff.Brownian(sigma) or fpdiff.OU(beta, sigma) (a symmetric, time-homogeneous "
            f"forward process); got {process!r}"
        )
    return process


def check_rate(r, name="r"):
    """Return the killing rate ``r`` as a float > 0."""
    return as_float(r, name, positive=True)


def _pair(x, y):
    """Broadcast ``x`` and ``y`` (..., d) against each other; return them and ``d``."""
    x = as_finite_array(x, "x")
    y = as_finite_array(y, "y")
    if x.ndim == 0 or y.ndim == 0:
        raise InputError(f"`x` and `y` must have a last axis of length d >= 1; got shapes {x.shape} and {y.shape}")
    if x.shape[-1] != y.shape[-1] or x.shape[-1] < 1:
        raise InputError(f"`x` and `y` must have the same last axis d >= 1; got shapes {x.shape} and {y.shape}")
    try:
        x, y = np.broadcast_arrays(x, y)
    except ValueError:
        raise InputError(f"`x` and `y` must broadcast against each other; got shapes {x.shape} and {y.shape}") from None
    return x, y, x.shape[-1]


def _brownian_log_green(sigma, r, rho, d):
    kappa = np.sqrt(2.0 * r) / sigma
    if d == 1:
        return -np.log(kappa * sigma**2) - kappa * rho
    nu = 0.5 * (d - 2)
    out = np.full(rho.shape, np.inf)
    positive = rho > 0
    z = kappa * rho[positive]
    with np.errstate(divide="ignore", over="ignore"):
        out[positive] = (np.log(2.0) - 0.5 * d * np.log(2 * np.pi) - 2 * np.log(sigma)
                         + nu * (np.log(kappa) - np.log(rho[positive])) + np.log(kve(nu, z)) - z)
    return out


def _brownian_grad_factor(sigma, r, rho, d):
    r""":math:`c(\rho)` with :math:`\nabla_x \log G_r = -c\,(x - y)`: :math:`c = \kappa K_{\nu+1}/(K_\nu \rho)`."""
    kappa = np.sqrt(2.0 * r) / sigma
    factor = np.zeros(rho.shape)
    positive = rho > 0
    z = kappa * rho[positive]
    nu = 0.5 * (d - 2)
    ratio = 1.0 if d == 1 else kve(nu + 1, z) / kve(nu, z)
    factor[positive] = kappa * ratio / rho[positive]
    return factor


def green_nodes(process, r, dim, min_distance, max_distance, step=None):
    r"""Nodes of the log-time trapezoidal rule for :math:`G_r`: ``(log_weights, scale, variance)``.

    :math:`G_r(y \to x) \approx \sum_k \exp(\ell_k - |x - a_k y|^2 / (2 v_k))` with
    :math:`\ell_k = \log h + u_k - r t_k - \tfrac{d}{2}\log(2\pi v_k)`, ``scale`` :math:`a_k` and ``variance``
    :math:`v_k`. Accurate (relative error below about 1e-9, see the module docstring) for
    ``min_distance`` :math:`\le |x - y| \le` ``max_distance``. ``step`` None chooses the step of the module
    docstring, :math:`h = \min(0.2, 0.8/\sqrt{1 + \kappa \rho_{max}}, 1.5 s/\rho_{max} \text{ (OU)})`.
    """
    check_process(process)
    r = check_rate(r)
    min_distance = as_float(min_distance, "min_distance", positive=True)
    max_distance = as_float(max_distance, "max_distance", nonnegative=True)
    sigma = process.diffusion_constant
    kappa = np.sqrt(2.0 * r) / sigma
    if step is None:
        step = min(QUADRATURE_STEP, 0.8 / np.sqrt(1.0 + kappa * max_distance))
        if isinstance(process, OU):  # exp(-|x - a_t y|^2 / (2 v_t)) varies on the scale s / rho in u at large t
            step = min(step, 1.5 * np.sqrt(process.stationary_variance) / max(max_distance, 1e-300))
    step = as_float(step, "quadrature_step", positive=True)
    # below t_lo the integrand is < e^{-50} of its peak for every distance >= min_distance (the peak is near
    # rho^2/(d sigma^2) for small kappa rho and near rho/(sigma sqrt(2 r)) for large kappa rho)
    t_lo = min_distance**2 / (sigma**2 * (100.0 + 4.0 * dim + 20.0 * kappa * min_distance))
    # the integrand peaks near t = rho / (sigma sqrt(2 r)) for large distances; e^{-r t} kills the rest
    t_hi = (40.0 + 2.0 * kappa * max_distance) / r + (10.0 / process.beta if isinstance(process, OU) else 0.0)
    u = np.arange(np.log(t_lo), np.log(t_hi) + step, step)
    t = np.exp(u)
    scale = np.asarray(process.alpha(t), dtype=np.float64)
    variance = np.asarray(process.variance(t), dtype=np.float64)
    log_weights = np.log(step) + u - r * t - 0.5 * dim * np.log(2 * np.pi * variance)
    return log_weights, scale, variance


def _quadrature_terms(process, r, x, y, d, step):
    """Log terms (..., K) of the trapezoidal rule and the nodes, for the pairs ``x``, ``y``."""
    rho = _distance(x, y)
    positive = rho[rho > 0]
    if positive.size:
        min_distance = positive.min()
    else:  # all pairs coincide: only d = 1 gets here with a finite value
        min_distance = 1e-12 * process.diffusion_constant / np.sqrt(r)
    if d == 1 and positive.size < rho.size:  # the integrand ~ t^(1/2) at x == y: go down to tiny t
        min_distance = min(min_distance, 1e-12 * process.diffusion_constant / np.sqrt(r))
    max_distance = rho.max() if rho.size else 0.0
    log_weights, scale, variance = green_nodes(process, r, d, min_distance, max_distance, step)
    x = x[..., None, :]
    y = y[..., None, :]
    a = scale[:, None]
    squared = np.sum((x - a * y) ** 2, axis=-1)
    return log_weights - squared / (2 * variance), scale, variance, rho


def _quadrature_log_green(process, r, x, y, d, step):
    terms, _, _, rho = _quadrature_terms(process, r, x, y, d, step)
    top = terms.max(axis=-1)
    out = top + np.log(np.sum(np.exp(terms - top[..., None]), axis=-1))
    if d >= 2:
        out = np.where(rho > 0, out, np.inf)
    return out


def _quadrature_grad(process, r, x, y, d, step):
    terms, scale, variance, rho = _quadrature_terms(process, r, x, y, d, step)
    weights = np.exp(terms - terms.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    residual = (x[..., None, :] - scale[:, None] * y[..., None, :]) / variance[:, None]
    grad = -np.sum(weights[..., None] * residual, axis=-2)
    if d >= 2:  # the pole at x == y
        grad = np.where((rho > 0)[..., None], grad, 0.0)
    return grad


def _arguments(process, r, x, y, method):
    """The checked ``(r, x, y, d, method)`` of the public Green's-function functions."""
    check_process(process)
    r = check_rate(r)
    x, y, d = _pair(x, y)
    return r, x, y, d, _method(process, method)


def _distance(x, y):
    return np.sqrt(np.sum((x - y) ** 2, axis=-1))


def log_green(process, r, x, y, *, quadrature_step=None, method=None):
    r""":math:`\log G_r(y \to x)` for points ``x``, ``y`` broadcastable to ``(..., d)``; returns ``(...)``.

    Parameters
    ----------
    process : Brownian or OU
        The forward process (``Brownian(sigma)``: generator :math:`\tfrac{\sigma^2}{2}\Delta`).
    r : float
        Killing rate, > 0.
    x, y : array_like (..., d)
        End and start points of the kernel :math:`G_r(y \to x)`.
    quadrature_step : float or None
        Step ``h`` in :math:`\log t` of the trapezoidal rule (OU, or ``method="quadrature"``); None chooses it
        from the largest distance (see ``green_nodes``).
    method : {None, "closed", "quadrature"}
        ``None``: the Bessel closed form for Brownian motion, quadrature for OU. ``"quadrature"`` forces the
        log-time trapezoidal rule (used to test it against the closed form).

    Returns
    -------
    ndarray (...)
        :math:`\log G_r(y \to x)`.
    """
    r, x, y, d, method = _arguments(process, r, x, y, method)
    if method == "closed":
        return _brownian_log_green(process.diffusion_constant, r, _distance(x, y), d)
    return _quadrature_log_green(process, r, x, y, d, quadrature_step)


def green(process, r, x, y, **options):
    r""":math:`G_r(y \to x) = \int_0^\infty e^{-rt} p_t(y \to x)\, dt`: the exponential of :func:`log_green`.

    Parameters
    ----------
    process : Brownian or OU
        The forward process.
    r : float
        Killing rate, > 0.
    x, y : array_like (..., d)
        End and start points of the kernel :math:`G_r(y \to x)`, broadcastable.
    **options
        ``quadrature_step`` and ``method``, as in :func:`log_green`.

    Returns
    -------
    ndarray (...)
        :math:`G_r(y \to x)`.
    """
    return np.exp(log_green(process, r, x, y, **options))


def grad_log_green(process, r, x, y, *, quadrature_step=None, method=None):
    r""":math:`\nabla_x \log G_r(y \to x)`; 0 where ``x == y`` (see the module docstring).

    Parameters
    ----------
    process : Brownian or OU
        The forward process.
    r : float
        Killing rate, > 0.
    x, y : array_like (..., d)
        End and start points of the kernel :math:`G_r(y \to x)`, broadcastable.
    quadrature_step : float or None
        Step in :math:`\log t` of the trapezoidal rule, as in :func:`log_green`.
    method : {None, "closed", "quadrature"}
        As in :func:`log_green`.

    Returns
    -------
    ndarray (..., d)
        The gradient in ``x``.
    """
    r, x, y, d, method = _arguments(process, r, x, y, method)
    if method == "closed":
        return -_brownian_grad_factor(process.diffusion_constant, r, _distance(x, y), d)[..., None] * (x - y)
    return _quadrature_grad(process, r, x, y, d, quadrature_step)


def _method(process, method):
    if method not in (None, "closed", "quadrature"):
        raise InputError(f"`method` must be None, 'closed' or 'quadrature'; got {method!r}")
    if method == "closed" and not isinstance(process, Brownian):
        raise InputError(f"`method='closed'` needs a Brownian process; got {process!r} (use the quadrature)")
    if method is None:
        method = "closed" if isinstance(process, Brownian) else "quadrature"
    return method


def invariant_log_density(process, x):
    r""":math:`\log m(x)` of the symmetrising measure of ``process``.

    0 for Brownian motion (:math:`m = 1`), the stationary Gaussian
    :math:`N(0, \sigma^2/(2\beta) I)` for OU.

    Parameters
    ----------
    process : Brownian or OU
        The forward process.
    x : array_like (..., d)
        Points.

    Returns
    -------
    ndarray (...)
        :math:`\log m(x)`.
    """
    check_process(process)
    x = as_finite_array(x, "x")
    if x.ndim == 0:
        raise InputError(f"`x` must have a last axis of length d >= 1; got shape {x.shape}")
    if isinstance(process, Brownian):
        return np.zeros(x.shape[:-1])
    variance = process.stationary_variance
    return -0.5 * np.sum(x * x, axis=-1) / variance - 0.5 * x.shape[-1] * np.log(2 * np.pi * variance)
