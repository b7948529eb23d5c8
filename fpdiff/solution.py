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
    values : ndarray, shape (n_t,) + grid.shape
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

    def to_xarray(self):
        """The snapshots as an ``xarray.DataArray`` with coordinates ``t, x_0, ...`` (xarray optional).

        Returns
        -------
        xarray.DataArray
            See :func:`fpdiff.labelled.density_to_xarray`.
        """
        from .labelled import density_to_xarray  # xarray is optional: imported only when asked for
        return density_to_xarray(self)


class ParticleSolution:
    """Snapshots of particles, labelled by forward time: the sample view's result.

    Attributes
    ----------
    t : ndarray (n_t,)
        Forward-time labels of the saved snapshots, in the order they were
        computed (descending for a reverse run, ascending for a forward one).
    snapshots : ndarray (n_t, M, d)
        The particles at each saved time.
    diagnostics : dict
        What the sampler did: ``scheme``, ``steps`` (time steps taken),
        ``seed``, ``wall_time`` (s), ``particles``, ``dim``, ``score`` (how
        the score was evaluated), ``threads``, and sampler-specific entries.
    """

    def __init__(self, t, snapshots, diagnostics=None):
        self.t = np.asarray(t, dtype=np.float64)
        self.snapshots = np.asarray(snapshots, dtype=np.float64)
        if self.snapshots.ndim != 3 or self.snapshots.shape[0] != len(self.t):
            raise InputError(
                f"`snapshots` must have shape (n_t, M, d) with n_t = {len(self.t)}; got {self.snapshots.shape}"
            )
        self.diagnostics = dict(diagnostics or {})

    @property
    def samples(self):
        """The particles at the last saved time (``t[-1]``), shape (M, d)."""
        return self.snapshots[-1]

    @property
    def n_particles(self):
        """Number of particles M."""
        return self.snapshots.shape[1]

    @property
    def dim(self):
        """Dimension d."""
        return self.snapshots.shape[2]

    def at(self, t):
        """The particles saved at forward time ``t`` (to 1e-12 relative), shape (M, d).

        Particles exist only where they were saved: any other time raises
        :class:`InputError` (pass it in ``save_at``).
        """
        t = as_float(t, "t")
        tolerance = 1e-12 * max(1.0, float(np.max(np.abs(self.t))))
        nearest = int(np.argmin(np.abs(self.t - t)))
        if abs(self.t[nearest] - t) > tolerance:
            saved = ", ".join(f"{s:.6g}" for s in self.t)
            raise InputError(f"`t` = {t:.6g} was not saved; saved times: {saved} (pass it in `save_at`)")
        return self.snapshots[nearest]

    def __repr__(self):
        return (
            f"ParticleSolution({self.n_particles} particles in {self.dim} dimension(s), "
            f"t=[{self.t[0]:g} .. {self.t[-1]:g}] ({len(self.t)} snapshots), "
            f"steps={self.diagnostics.get('steps')}, scheme={self.diagnostics.get('scheme')!r})"
        )

    def to_xarray(self):
        """The snapshots as an ``xarray.DataArray`` with coordinates ``t, particle, axis`` (xarray optional).

        Returns
        -------
        xarray.DataArray
            See :func:`fpdiff.labelled.particles_to_xarray`.
        """
        from .labelled import particles_to_xarray  # xarray is optional: imported only when asked for
        return particles_to_xarray(self)
