"""Result objects of the two views: densities on a grid and particle samples."""

import numpy as np

from ._validation import as_float
from .errors import InputError


class DensitySolution:
    """Snapshots of a density on a grid, labelled by forward time.

    Attributes
    ----------
    grid : Grid
        The grid the values live on.
    t : ndarray (n_t,)
        Forward-time labels of the snapshots, in the order they were computed
        (ascending for a forward solve, descending for a reverse one).
    values : ndarray (n_t, *grid.shape)
        Cell averages of the density at each time.
    diagnostics : dict
        What the solver did: ``method``, ``steps`` (time steps taken),
        ``wall_time`` (s), ``mass_drift`` (largest relative change of the total
        mass), ``min_density`` (smallest value met), and solver-specific
        entries.
    """

    def __init__(self, grid, t, values, diagnostics=None):
        self.grid = grid
        self.t = np.asarray(t, dtype=np.float64)
        self.values = np.asarray(values, dtype=np.float64)
        if self.values.shape != (len(self.t), *grid.shape):
            raise InputError(f"`values` must have shape {(len(self.t), *grid.shape)}; got {self.values.shape}")
        self.diagnostics = dict(diagnostics or {})

    def __repr__(self):
        return (
            f"DensitySolution(grid={self.grid!r}, t=[{self.t[0]:g} .. {self.t[-1]:g}] ({len(self.t)} snapshots), "
            f"steps={self.diagnostics.get('steps')}, method={self.diagnostics.get('method')!r})"
        )

    @property
    def final(self):
        """The last snapshot (at ``t[-1]``)."""
        return self.values[-1]

    def mass(self):
        """Total mass ``integral p dx`` of every snapshot, shape ``(n_t,)``."""
        return self.grid.integrate(self.values)

    def at(self, t):
        """The density at forward time ``t``.

        A saved time (to 1e-12 relative) returns its snapshot; a time between
        two snapshots is linearly interpolated (first-order in the snapshot
        spacing: save the times you need for accurate values).
        """
        t = as_float(t, "t")
        order = np.argsort(self.t)
        times = self.t[order]
        tolerance = 1e-12 * max(1.0, abs(times[-1]))
        if t < times[0] - tolerance or t > times[-1] + tolerance:
            raise InputError(f"`t` = {t} is outside the saved range [{times[0]}, {times[-1]}]")
        nearest = np.argmin(np.abs(times - t))
        if abs(times[nearest] - t) <= tolerance:
            return self.values[order[nearest]]
        right = np.searchsorted(times, t)
        weight = (t - times[right - 1]) / (times[right] - times[right - 1])
        return (1 - weight) * self.values[order[right - 1]] + weight * self.values[order[right]]
