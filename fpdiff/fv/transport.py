"""The limited transport operator: the density view of ``gamma = 0`` (and of the naive reversal)."""

import math

import numpy as np

from ..errors import BlowUpError, InputError
from . import _ffsl_kernels, _transport_kernels
from .operator import LineOperator


class TransportOperator(LineOperator):
    r"""MUSCL/van Leer discretisation of :math:`-\nabla\cdot(a p) + D \Delta p`, for explicit steppers.

    Same interface as :class:`FluxOperator` for explicit methods
    (``add_all``, ``max_outflow_rate``); nonlinear in ``p`` (the limiter), so
    it has no implicit solve. For pure transport (``D = 0``) it also takes
    whole flux-form semi-Lagrangian steps along an axis (:meth:`remap`). ``D`` may be negative (the ill-posed naive
    reversal), which this operator represents faithfully so that its
    blow-up can be shown and detected.

    Parameters
    ----------
    dynamics : Dynamics
        The drift :math:`a` and diffusion coefficient :math:`D`.
    grid : Grid
        The grid it acts on.
    """

    def __init__(self, dynamics, grid):
        super().__init__(dynamics, grid)
        self._drifts = {}

    def _drift(self, axis, tau):
        key = (axis, float(tau))
        if key not in self._drifts:
            if len(self._drifts) >= 4 * self.grid.ndim:
                self._drifts.pop(next(iter(self._drifts)))
            drift = self.dynamics.face_drift(self.grid, tau, axis)
            if not np.all(np.isfinite(drift)):
                t = float(self.dynamics.time_label(tau))
                raise BlowUpError(f"the drift is not finite on faces of axis {axis} at t = {t:.6g}", t=t)
            n_outer, n_cells, n_inner = self.lines[axis]
            self._drifts[key] = np.ascontiguousarray(drift).reshape(n_outer, n_cells + 1, n_inner)
            self.evaluations += 1
        return self._drifts[key]

    def add_all(self, tau, c, p, out):
        """``out += c T(tau)(p)`` with all axes."""
        diffusion = self.dynamics.diffusion_coefficient(tau)
        for axis in range(self.grid.ndim):
            lines = self.lines[axis]
            absorbing = self.absorbing[axis]
            _transport_kernels.add_transport(
                p.reshape(lines), self._drift(axis, tau), diffusion, self.grid.spacing[axis],
                absorbing, absorbing, c, out.reshape(lines), self.parallel,
            )

    def max_outflow_rate(self, tau):
        """Rate bound: a forward Euler step of length ``dt <= 1/rate`` keeps densities non-negative."""
        diffusion = self.dynamics.diffusion_coefficient(tau)
        rate = np.zeros(self.grid.size)
        for axis in range(self.grid.ndim):
            _transport_kernels.add_transport_rate(
                self._drift(axis, tau), diffusion, self.grid.spacing[axis], rate.reshape(self.lines[axis])
            )
        return float(rate.max())

    #: steps keep ``dt * L`` at most this (departure points stay ordered up to about 0.62)
    LIPSCHITZ_STEP = 0.5

    def remap(self, axis, tau, dt, p, part=(0.0, 1.0)):
        r"""Flux-form semi-Lagrangian steps of :math:`\partial_\tau p = -\partial_k(a_k p)` along ``axis``.

        Covers the ``part = (start, length)`` of the step ``[tau, tau + dt]``
        (fractions: a Strang half step is ``(0, 0.5)`` or ``(0.5, 0.5)``) with
        the drift at its start, middle and end (``fpdiff.fv._ffsl_kernels``).
        The middle of a proper part is interpolated in time (quadratically)
        from the drifts at the start, middle and end of the whole step, which
        the other sweeps of the step share: a third-order value, as accurate
        as the back-trace needs, for no evaluation of its own. Steps are cut
        short enough that :math:`\Delta L \le` ``LIPSCHITZ_STEP``, where
        :math:`L` bounds the slope along the axis of the interpolated drift at
        those three times (``fpdiff.fv._ffsl_kernels.velocity_lipschitz``; a
        step that misses it is cut into equal parts, each checked again, with
        their drifts evaluated): departure points then stay ordered, so every
        step is a positive, conservative remap. Courant numbers are not limited.

        Returns
        -------
        (ndarray, int)
            The new densities of shape ``grid.shape`` (``p`` is kept) and the number of steps taken.
        """
        diffusion = self.dynamics.diffusion_coefficient(tau)
        if diffusion != 0.0:
            raise InputError("the semi-Lagrangian method ('ffsl') solves pure transport (gamma = 0) only; got a "
                             f"diffusion coefficient {diffusion:.3g}: use another `method`")
        first, length = part
        # the step's own times, written alike wherever they recur so that the drift cache finds them
        begin = tau if first == 0.0 else tau + first * dt
        end = tau + dt if first + length == 1.0 else tau + (first + length) * dt
        middle = None
        if length != 1.0:
            x = first + 0.5 * length  # where the part's middle lies in the step, in [0, 1]
            nodes = [self._drift(axis, t) for t in (tau, tau + 0.5 * dt, tau + dt)]
            weights = (2.0 * (x - 0.5) * (x - 1.0), -4.0 * x * (x - 1.0), 2.0 * x * (x - 0.5))  # Lagrange, quadratic
            middle = sum(w * node for w, node in zip(weights, nodes))
        new, taken = self._remap_span(axis, begin, end, p.reshape(self.lines[axis]), self._drift(axis, begin), middle)
        return new.reshape(self.grid.shape), taken

    def _remap_span(self, axis, tau, tau_end, p, start, middle=None):
        """``remap`` over ``[tau, tau_end]`` from the drift ``start`` at ``tau`` (and ``middle``, if given, at the
        middle); the end times are passed, not summed, so that consecutive steps share their drift evaluations."""
        spacing = self.grid.spacing[axis]
        dt = tau_end - tau
        end = self._drift(axis, tau_end)
        if middle is None:
            middle = self._drift(axis, tau + 0.5 * dt)
        lipschitz = max(_ffsl_kernels.velocity_lipschitz(drift, spacing) for drift in (start, middle, end))
        if dt * lipschitz <= self.LIPSCHITZ_STEP:
            new = np.empty_like(p)
            absorbing = self.absorbing[axis]
            _ffsl_kernels.remap(p, start, middle, end, dt, spacing, absorbing, absorbing, new, self.parallel)
            return new, 1
        parts = math.ceil(dt * lipschitz / self.LIPSCHITZ_STEP)
        times = [tau + k * dt / parts for k in range(parts)] + [tau_end]
        taken = 0
        for k in range(parts):
            p, n = self._remap_span(axis, times[k], times[k + 1], p, start if k == 0 else self._drift(axis, times[k]))
            taken += n
        return p, taken
