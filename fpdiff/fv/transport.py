"""The limited transport operator: the density view of ``gamma = 0`` (and of the naive reversal)."""

import numpy as np

from ..errors import BlowUpError
from . import _transport_kernels
from .operator import LineOperator


class TransportOperator(LineOperator):
    r"""MUSCL/van Leer discretisation of :math:`-\nabla\cdot(a p) + D \Delta p`, for explicit steppers.

    Same interface as :class:`FluxOperator` for explicit methods
    (``add_all``, ``max_outflow_rate``); nonlinear in ``p`` (the limiter), so
    it has no implicit solve. ``D`` may be negative (the ill-posed naive
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
