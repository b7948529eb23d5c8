r"""The finite-volume operator :math:`L(\tau)` of a dynamics on a grid.

:math:`\partial_\tau p = L(\tau) p = \sum_k L_k(\tau) p` with :math:`L_k` the
Scharfetter–Gummel discretisation of :math:`-\partial_k(a_k p) + D \partial_k^2 p`
along axis ``k`` (see :mod:`fpdiff.fv._kernels`). Each :math:`L_k` is
tridiagonal along its lines, conservative (columns sum to zero away from
absorbing boundaries), and has non-negative off-diagonal entries.
"""

import math

import numpy as np

from .._parallel import use_parallel
from ..errors import BlowUpError
from . import _kernels


class _LastUsed(dict):
    """A dict that keeps only its ``size`` most recent entries."""

    def __init__(self, size):
        super().__init__()
        self.size = size

    def __setitem__(self, key, value):
        if key not in self and len(self) >= self.size:
            self.pop(next(iter(self)))
        super().__setitem__(key, value)


class LineOperator:
    """What every grid operator holds: the dynamics, the grid, its lines per axis ``(O, N, I)``, boundaries."""

    def __init__(self, dynamics, grid):
        self.dynamics = dynamics
        self.grid = grid
        shape = grid.shape
        self.lines = [
            (math.prod(shape[:k]), shape[k], math.prod(shape[k + 1 :])) for k in range(grid.ndim)
        ]
        self.absorbing = [b == "absorbing" for b in grid.boundary]
        self.parallel = use_parallel(grid.size)  # every kernel of a step passes over each cell a few times
        self.evaluations = 0


class FluxOperator(LineOperator):
    """Evaluates, caches, applies and inverts the per-axis operators :math:`L_k(\\tau)`.

    Flux weights are cached for the last few stage times (a step reuses the
    operator at its end as the next step's start), and the factors of
    ``I - c L_k`` for the last few ``(tau, c)``; for an autonomous dynamics
    every time shares one operator, so a fixed step factorises once.

    Parameters
    ----------
    dynamics : Dynamics
        The drift and noise whose Fokker–Planck operator this is.
    grid : Grid
        The grid it acts on.
    """

    def __init__(self, dynamics, grid):
        super().__init__(dynamics, grid)
        self._weights = [_LastUsed(3) for _ in range(grid.ndim)]
        self._factors = [_LastUsed(4) for _ in range(grid.ndim)]

    def _time_key(self, tau):
        return None if self.dynamics.autonomous else float(tau)

    def weights(self, axis, tau):
        """Flux weights ``(wl, wr)`` of axis ``axis`` at solver time ``tau`` (cached)."""
        key = self._time_key(tau)
        cache = self._weights[axis]
        if key in cache:
            return cache[key]
        n_outer, n_cells, n_inner = self.lines[axis]
        drift = self.dynamics.face_drift(self.grid, tau, axis)
        if not np.all(np.isfinite(drift)):
            t = float(self.dynamics.time_label(tau))
            raise BlowUpError(f"the drift is not finite on faces of axis {axis} at t = {t:.6g}", t=t)
        drift = drift.reshape(n_outer, n_cells + 1, n_inner)
        wl = np.empty_like(drift)
        wr = np.empty_like(drift)
        spacing = self.grid.spacing[axis]
        absorbing = self.absorbing[axis]
        diffusion = self.dynamics.diffusion_coefficient(tau)
        _kernels.sg_weights(drift, diffusion, spacing, absorbing, absorbing, wl, wr, self.parallel)
        self.evaluations += 1
        cache[key] = (wl, wr)
        return wl, wr

    def solve(self, axis, tau, c, rhs):
        """Return ``x`` with ``(I - c L_axis(tau)) x = rhs``; ``rhs`` is overwritten."""
        key = (self._time_key(tau), float(c))
        cache = self._factors[axis]
        if key not in cache:
            wl, wr = self.weights(axis, tau)
            factors = tuple(np.empty(self.lines[axis]) for _ in range(3))
            _kernels.factor_lines(wl, wr, c, *factors, self.parallel)
            cache[key] = factors
        _kernels.substitute_lines(*cache[key], rhs.reshape(self.lines[axis]), self.parallel)
        return rhs

    def add(self, axis, tau, c, p, out):
        """``out += c L_axis(tau) p``."""
        wl, wr = self.weights(axis, tau)
        lines = self.lines[axis]
        _kernels.add_operator(wl, wr, c, p.reshape(lines), out.reshape(lines), self.parallel)

    def add_all(self, tau, c, p, out):
        """``out += c L(tau) p`` with all axes."""
        for axis in range(self.grid.ndim):
            self.add(axis, tau, c, p, out)

    def max_outflow_rate(self, tau):
        """Largest rate at which a cell loses mass, :math:`\\max_n -L(\\tau)_{nn}`.

        Forward Euler keeps densities non-negative for ``dt * rate <= 1``.
        """
        rate = np.zeros(self.grid.size)
        for axis in range(self.grid.ndim):
            wl, wr = self.weights(axis, tau)
            _kernels.add_outflow_rate(wl, wr, rate.reshape(self.lines[axis]))
        return float(rate.max())
