r"""A grid that follows the spread: finite volumes in scaled coordinates :math:`z = x / c(t)`.

For processes whose variance grows far beyond the data's (VE with
:math:`\sigma_{max} = 50` against data of scale 1) a fixed grid must cover
the spread at ``T`` and resolve the data at ``t_min`` at once. Instead the
density is solved for in :math:`z = x / c(t)` with the scale

.. math::  c(t) = \sqrt{\alpha_t^2 + v_t / s_0^2},

the standard deviation at time ``t`` of centred data of scale :math:`s_0`
divided by :math:`s_0` (:math:`c(0) = 1`). If :math:`X` solves
:math:`dX = a(X,\tau) d\tau + g\, dW` then :math:`Z = X / c` solves

.. math::  dZ = \left[\frac{a(cZ, \tau)}{c} - \frac{d\ln c}{d\tau} Z\right] d\tau + \frac{g}{c}\, dW,

with :math:`\frac{d\ln c}{dt} = \frac{-\beta\alpha^2 + (\sigma^2 - 2\beta v)/(2 s_0^2)}{c^2}` (from
:math:`\dot\alpha = -\beta\alpha`, :math:`\dot v = \sigma^2 - 2\beta v`), and the density of
:math:`Z` is :math:`u(z) = c^d p(cz)`. A fixed z-grid of modest size then
covers the whole run; results are reported in x, on the grid scaled by
:math:`c(t)` at each snapshot.
"""

import numpy as np

from .._validation import as_float
from ..dynamics import Dynamics
from ..errors import InputError
from ..solution import DensitySolution


def spread_scale(process, t, data_scale):
    r"""The grid's scale :math:`c(t) = \sqrt{\alpha_t^2 + v_t/s_0^2}` at forward time ``t`` (``data_scale`` :math:`s_0`)."""
    return float(np.sqrt(process.alpha(t) ** 2 + process.variance(t) / data_scale**2))


class ComovingDynamics(Dynamics):
    """The dynamics ``base`` written in ``z = x / c(t)`` (see the module docstring)."""

    def __init__(self, base, process, data_scale):
        super().__init__(self._drift_z, self._noise_z, base.tau_end, base.t_start, base.direction, False,
                         t_end=base.t_end)
        self.base = base
        self.process = process
        self.data_scale = float(data_scale)

    def scale(self, t):
        r""":math:`c(t) = \sqrt{\alpha_t^2 + v_t/s_0^2}` (:func:`spread_scale`)."""
        return spread_scale(self.process, t, self.data_scale)

    def log_scale_rate(self, tau):
        r""":math:`d \ln c / d\tau` at solver time ``tau``."""
        t = float(self.time_label(tau))
        beta, sigma = float(self.process.drift_rate(t)), float(self.process.diffusion(t))
        alpha, variance = float(self.process.alpha(t)), float(self.process.variance(t))
        rate_t = (-beta * alpha**2 + (sigma**2 - 2 * beta * variance) / (2 * self.data_scale**2)) / self.scale(t) ** 2
        return self.direction * rate_t

    def _drift_z(self, z, tau):
        c = self.scale(float(self.time_label(tau)))
        return self.base.drift(c * z, tau) / c - self.log_scale_rate(tau) * z

    def _noise_z(self, tau):
        return self.base.noise(tau) / self.scale(float(self.time_label(tau)))

    def diffusion_coefficient(self, tau):
        return self.base.diffusion_coefficient(tau) / self.scale(float(self.time_label(tau))) ** 2

    def face_drift(self, grid, tau, axis):
        c = self.scale(float(self.time_label(tau)))
        physical = self.base.face_drift(grid.scaled(c), tau, axis)
        return physical / c - self.log_scale_rate(tau) * grid.face_coordinate(axis)


class ComovingDensitySolution(DensitySolution):
    """Snapshots of a density on a grid that moves with the spread.

    ``grid`` is the reference grid (in ``z``); snapshot ``i`` lives on
    ``grid.scaled(scales[i])`` in ``x`` and its ``values`` are densities in ``x``.
    Use :meth:`grid_at` for the grid of a saved time.
    """

    def __init__(self, grid, t, values, scales, diagnostics=None):
        super().__init__(grid, t, values, diagnostics)
        self.scales = np.asarray(scales, dtype=np.float64)

    def grid_at(self, t):
        """The x-grid of the snapshot saved at forward time ``t``."""
        index = int(np.argmin(np.abs(self.t - t)))
        if not np.isclose(self.t[index], t, rtol=1e-12, atol=1e-14):
            raise InputError(f"`t` = {t} is not a saved time of this co-moving solution; saved: {self.t.tolist()}")
        return self.grid.scaled(self.scales[index])

    def at(self, t):
        """The density (in x) saved at time ``t``, on :meth:`grid_at` ``(t)``; no interpolation across grids."""
        self.grid_at(t)
        return self.values[int(np.argmin(np.abs(self.t - t)))]

    def mass(self):
        return self.grid.integrate(self.values) * self.scales**self.grid.ndim


def data_scale(comoving):
    """The data scale :math:`s_0` of the ``comoving`` option: ``None``/``False`` (off), ``True`` (1.0) or a float."""
    if comoving is None or comoving is False:
        return None
    if comoving is True:
        return 1.0
    return as_float(comoving, "comoving", positive=True)


def comoving_solution(solution, dynamics):
    """Convert a z-space :class:`DensitySolution` of ``dynamics`` into x-space snapshots."""
    scales = np.array([dynamics.scale(t) for t in solution.t])
    values = solution.values / scales.reshape((-1,) + (1,) * solution.grid.ndim) ** solution.grid.ndim
    return ComovingDensitySolution(solution.grid, solution.t, values, scales, solution.diagnostics)
