r"""Result objects: densities on a grid, particle samples, and the base every solver's result shares.

:class:`Result` is the common base: time labels ``t``, a ``diagnostics``
dict and a one-line ``repr``. :class:`DensitySolution` (the density view)
and :class:`ParticleSolution` (the sample view) are results;
:class:`fpdiff.homogeneous.HomogeneousSample` is one too.
"""

import numpy as np

from ._validation import as_float
from .errors import InputError
from .labelled import density_to_xarray, particles_to_xarray  # xarray itself: only when asked for


class Result:
    r"""What every solver returns: time labels ``t``, ``diagnostics``, and a one-line ``repr``.

    Parameters
    ----------
    t, diagnostics
        The attributes below (``diagnostics`` optional).

    Attributes
    ----------
    t : ndarray
        The times the result holds. For :class:`DensitySolution` and
        :class:`ParticleSolution`, one per snapshot, in the order they were
        computed: forward-time labels of the noising process (descending for
        a reverse run), or, for :func:`fpdiff.sample_langevin`, the Langevin
        time (iterations x step). For
        :class:`fpdiff.homogeneous.HomogeneousSample`, one per path: the
        process time at which that path stopped, the time of its sample
        (the paths share no clock: each runs until its own stopping time).
    diagnostics : dict
        What the solver did. Every solver writes ``wall_time`` (seconds) and,
        except :func:`fpdiff.sample_homogeneous` (whose paths take their own
        numbers of steps: ``HomogeneousSample.steps``), ``steps`` (time steps
        taken, save times included). The other keys, by solver:

        ===========================  ==================================================================
        solver                       keys
        ===========================  ==================================================================
        ``solve_forward``            ``method``, ``substeps`` (steps after the positivity halvings),
                                     ``operator_evaluations``, ``mass_drift`` (largest relative change
                                     of the mass), ``min_density``, ``start_mass``, ``boundary_outflow``,
                                     ``end_law_outside`` (the box checks), ``process``; with ``rtol``:
                                     ``rtol``, ``rejected_steps``
        ``solve_reverse``            those of ``solve_forward``, and ``gamma``, ``flux``, ``time_grid``
        ``solve_naive_reversal``     those of ``solve_forward`` but ``process`` and ``end_law_outside``
        ``solve_forward_fipy``       ``method`` (``"fipy-be"``), ``mass_drift``, ``min_density``,
                                     ``process``
        ``sample_reverse``           ``scheme``, ``seed``, ``gamma``, ``time_grid``, ``particles``,
                                     ``dim``, ``start`` (``"prior"`` or ``"given"``), ``score`` (how the
                                     score was evaluated), ``score_evaluations``, ``threads``,
                                     ``batch_size``, ``process``; ``first_particle`` when not 0,
                                     ``options`` (the scheme's) when any; with ``client``: ``shards``,
                                     ``workers``
        ``sample_forward``           ``scheme``, ``seed``, ``particles``, ``dim``, ``threads``,
                                     ``process``; ``score`` for ``scheme="em"``
        ``simulate``                 ``scheme``, ``seed``, ``particles``, ``dim``, ``score``, ``threads``
        ``sample_langevin``          ``scheme`` (``"ula"``), ``step``, ``seed``, ``particles``, ``dim``,
                                     ``score``, ``threads``, ``iterations`` (of the saved snapshots)
        ``sample_homogeneous``       ``finish``, ``seed``, ``delta``, ``energy_threshold``,
                                     ``step_factor``, ``max_dt``, ``max_steps``, ``engine``, ``start``,
                                     ``n_points``, ``stopped`` (fraction of paths), ``threads``
        ===========================  ==================================================================

    docs/architecture.md ("Results") has the same table.
    """

    def __init__(self, t, diagnostics=None):
        self.t = np.asarray(t, dtype=np.float64)
        self.diagnostics = dict(diagnostics or {})

    def _summary(self):
        """The parts of the one-line ``repr``: the times and the steps (subclasses add theirs around them)."""
        return [f"t=[{self.t[0]:g} .. {self.t[-1]:g}] ({len(self.t)} snapshots)",
                f"steps={self.diagnostics.get('steps')}"]

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(self._summary())})"


class DensitySolution(Result):
    """Snapshots of a density on a grid, labelled by forward time.

    Parameters
    ----------
    grid, t, values, diagnostics
        The attributes below (``values`` of shape ``(len(t),) + grid.shape``;
        ``diagnostics`` optional), as the solvers make them.

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
        entries (:class:`Result` lists them).
    """

    def __init__(self, grid, t, values, diagnostics=None):
        super().__init__(t, diagnostics)
        self.grid = grid
        self.values = np.asarray(values, dtype=np.float64)
        if self.values.shape != (len(self.t), *grid.shape):
            raise InputError(f"`values` must have shape {(len(self.t), *grid.shape)}; got {self.values.shape}")

    def _summary(self):
        return [f"grid={self.grid!r}", *super()._summary(), f"method={self.diagnostics.get('method')!r}"]

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
        return density_to_xarray(self)


class ParticleSolution(Result):
    """Snapshots of particles, labelled by forward time: the sample view's result.

    Parameters
    ----------
    t, snapshots, diagnostics
        The attributes below (``snapshots`` of shape ``(len(t), M, d)``;
        ``diagnostics`` optional), as the samplers make them.

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
        the score was evaluated), ``threads``, and sampler-specific entries
        (:class:`Result` lists them).
    """

    def __init__(self, t, snapshots, diagnostics=None):
        super().__init__(t, diagnostics)
        self.snapshots = np.asarray(snapshots, dtype=np.float64)
        if self.snapshots.ndim != 3 or self.snapshots.shape[0] != len(self.t):
            raise InputError(
                f"`snapshots` must have shape (n_t, M, d) with n_t = {len(self.t)}; got {self.snapshots.shape}"
            )

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

    def _summary(self):
        return [f"{self.n_particles} particles in {self.dim} dimension(s)", *super()._summary(),
                f"scheme={self.diagnostics.get('scheme')!r}"]

    def to_xarray(self):
        """The snapshots as an ``xarray.DataArray`` with coordinates ``t, particle, axis`` (xarray optional).

        Returns
        -------
        xarray.DataArray
            See :func:`fpdiff.labelled.particles_to_xarray`.
        """
        return particles_to_xarray(self)
