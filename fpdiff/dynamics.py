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
overrides that one method.
"""

import numpy as np

from ._validation import as_float
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
    autonomous : bool
        True when drift and noise do not depend on ``tau``; solvers then
        build (and factorise) their operators once.
    """

    def __init__(self, drift, noise, tau_end, t_start=0.0, direction=1, autonomous=False):
        if not callable(drift) or not callable(noise):
            raise InputError("`drift` and `noise` must be callables drift(x, tau) and noise(tau)")
        if direction not in (1, -1):
            raise InputError(f"`direction` must be +1 or -1; got {direction!r}")
        self._drift = drift
        self._noise = noise
        self.tau_end = as_float(tau_end, "tau_end", positive=True)
        self.t_start = as_float(t_start, "t_start")
        self.direction = direction
        self.autonomous = bool(autonomous)
        self._face_points = {}

    def drift(self, x, tau):
        """Drift :math:`a(x, \\tau)` at points ``x`` of shape ``(M, d)``."""
        return self._drift(x, tau)

    def noise(self, tau):
        """Noise coefficient :math:`g(\\tau)`."""
        return float(self._noise(tau))

    def diffusion_coefficient(self, tau):
        """:math:`D(\\tau) = g(\\tau)^2 / 2`, the coefficient of the Laplacian."""
        return 0.5 * self.noise(tau) ** 2

    def time_label(self, tau):
        """Forward-time label ``t`` of solver time ``tau``."""
        return self.t_start + self.direction * np.asarray(tau, dtype=np.float64)

    def solver_time(self, t):
        """Inverse of :meth:`time_label`."""
        return self.direction * (np.asarray(t, dtype=np.float64) - self.t_start)

    def face_drift(self, grid, tau, axis):
        """Normal drift :math:`a_k` on the faces normal to ``axis`` (boundary faces included).

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

    ``rate(tau)`` and ``noise(tau)`` are scalar functions. The face drift is
    the face coordinate times the rate, computed without evaluating points.
    """

    def __init__(self, rate, noise, tau_end, t_start=0.0, direction=1, autonomous=False):
        super().__init__(lambda x, tau: -rate(tau) * x, noise, tau_end, t_start, direction, autonomous)
        self.rate = rate
        self._face_coordinates = {}

    def face_drift(self, grid, tau, axis):
        key = (grid, axis)
        if key not in self._face_coordinates:
            shape = list(grid.shape)
            shape[axis] += 1
            view = [1] * grid.ndim
            view[axis] = -1
            self._face_coordinates[key] = np.ascontiguousarray(
                np.broadcast_to(grid.edges[axis].reshape(view), shape)
            )
        return -float(self.rate(tau)) * self._face_coordinates[key]


def forward_dynamics(process, T=1.0):
    r"""The forward noising SDE of ``process`` as a dynamics on :math:`[0, T]`.

    :math:`a(x, t) = -\beta(t) x`, :math:`g(t) = \sigma(t)`, ``tau = t``.
    """
    T = as_float(T, "T", positive=True)
    return LinearDriftDynamics(
        lambda tau: float(process.drift_rate(tau)),
        lambda tau: float(process.diffusion(tau)),
        T,
        autonomous=process.time_homogeneous,
    )
