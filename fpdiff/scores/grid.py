"""The score of a forward density solution on a grid: face differences of log p, linear in t between snapshots."""

import numpy as np

from ..errors import DomainError, InputError
from ..processes.base import process_from_dict
from .base import Score, check_process


class GridScore(Score):
    r"""Score :math:`\nabla \log p` of a forward :class:`DensitySolution`, linear in ``t`` between snapshots.

    On the solution's own grid the normal component on a face is the
    difference quotient :math:`(\log p_{n} - \log p_{n-1})/h` — with
    Scharfetter–Gummel fluxes and ``gamma = 1`` this makes the reverse drift
    the discrete counterpart of the forward one. Elsewhere the cell-centred
    gradient is interpolated multilinearly. Its domain is the box of
    the cell centres (``box``); a point outside raises :class:`DomainError`.

    Parameters
    ----------
    density_solution : DensitySolution
        A forward solution with at least two snapshots at distinct times.
    process : LinearProcess, optional
        Its forward process (default: the one recorded in the solution's
        ``diagnostics``, as :func:`solve_forward` does).
    floor : float
        Densities are floored at ``floor`` before taking logs.
    """

    outside = "raise"

    def __init__(self, density_solution, process=None, floor=1e-300):
        solution = density_solution
        order = np.argsort(solution.t)
        self.times = solution.t[order]
        if len(self.times) < 2 or np.any(np.diff(self.times) <= 0):
            raise InputError("`density_solution` must hold at least two snapshots at distinct times")
        self.grid = solution.grid
        self.dim = self.grid.ndim
        self.log_values = np.log(np.maximum(solution.values[order], floor))
        self.t_range = (float(self.times[0]), float(self.times[-1]))
        if process is None and "process" in solution.diagnostics:
            process = process_from_dict(solution.diagnostics["process"])
        self.process = None if process is None else check_process(process)
        self._faces = {}
        self._centred = None

    @property
    def box(self):
        """The box of the cell centres, ``[(lo, hi)]`` per axis: where the score is defined."""
        return [(float(c[0]), float(c[-1])) for c in self.grid.centers]

    def describe(self):
        return f"{type(self).__name__} ({'x'.join(map(str, self.grid.shape))} cells)"

    def bracket(self, t):
        """``(left, right, weight)``: time ``t`` lies between snapshots ``left`` and ``right = left + 1``.

        The field at ``t`` is ``(1 - weight)`` times snapshot ``left`` plus
        ``weight`` times snapshot ``right`` (linear in t; ``weight`` lies in
        [0, 1] for ``t`` in ``t_range``).
        """
        right = int(np.clip(np.searchsorted(self.times, t), 1, len(self.times) - 1))
        weight = (t - self.times[right - 1]) / (self.times[right] - self.times[right - 1])
        return right - 1, right, weight

    def _outside(self, x):
        """Mask of the points outside the box of cell centres, and that box as ``(lo, hi)``."""
        lo = np.array([c[0] for c in self.grid.centers])
        hi = np.array([c[-1] for c in self.grid.centers])
        return np.any((x < lo) | (x > hi), axis=1), (lo, hi)

    def check_domain(self, x, what):
        outside, (lo, hi) = self._outside(x)
        if np.any(outside):
            raise DomainError(
                f"{int(outside.sum())} of {what} lie outside the GridScore's box of cell centres "
                f"{list(zip(lo.tolist(), hi.tolist()))}, e.g. {x[np.argmax(outside)].tolist()}"
            )

    def _snapshot_faces(self, index, axis):
        key = (index, axis)
        if key not in self._faces:
            log_p = self.log_values[index]
            gradient = np.diff(log_p, axis=axis) / self.grid.spacing[axis]
            pad = [(0, 0)] * self.grid.ndim
            pad[axis] = (1, 1)  # boundary faces: no flux crosses them, the value is unused
            self._faces[key] = np.pad(gradient, pad)
        return self._faces[key]

    def face_values(self, grid, t, axis):
        if grid != self.grid:
            return super().face_values(grid, t, axis)
        t = self.check_time(t)
        left, right, weight = self.bracket(t)
        return (1 - weight) * self._snapshot_faces(left, axis) + weight * self._snapshot_faces(right, axis)

    def _score(self, x, t):
        from scipy.interpolate import RegularGridInterpolator

        if self._centred is None:
            self._centred = np.stack(
                [np.stack(np.gradient(v, *self.grid.spacing), axis=-1) if self.dim > 1
                 else np.gradient(v, self.grid.spacing[0])[:, None] for v in self.log_values]
            )
        self.check_domain(x, "the point(s)")
        left, right, weight = self.bracket(t)
        values = [RegularGridInterpolator(self.grid.centers, self._centred[i])(x) for i in (left, right)]
        return (1 - weight) * values[0] + weight * values[1]
