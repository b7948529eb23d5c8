r"""The naive reversal: the ill-posed anti-diffusion equation, for demonstration only.

Reversing the forward Fokker–Planck equation in time without a score gives

.. math::  \partial_\tau q = -\nabla\cdot(\beta(t)\, x\, q) - \frac{\sigma(t)^2}{2}\Delta q, \qquad \tau = T - t,

a backward heat equation: the mode :math:`e^{i k x}` grows like
:math:`e^{\sigma^2 k^2 \tau / 2}`, so round-off at the grid scale explodes within
:math:`\tau \sim h^2/\sigma^2`. :func:`solve_naive_reversal` integrates it
explicitly and *detects* the blow-up, raising :class:`BlowUpError` with the
time it happened; it never returns what it computed after that.
"""

import numpy as np

from .._validation import as_float, as_int
from ..dynamics import Dynamics
from ..errors import BlowUpError, InputError
from ..processes.base import check_process
from ..timegrid import merge_save_times
from .solve import check_common, initial_density, integrate_density

#: grid-scale content (second differences relative to values) above which a density is noise
HIGH_FREQUENCY_LIMIT = 0.5


class NaiveReverseDynamics(Dynamics):
    r"""Drift :math:`\beta(t) x` and *negative* diffusion :math:`-\sigma(t)^2/2`, in reverse time."""

    def __init__(self, process, T, t_min):
        super().__init__(lambda x, tau: self.rate(tau) * x, lambda tau: 0.0, T - t_min, t_start=T, direction=-1,
                         t_end=t_min)
        self.process = process

    def rate(self, tau):
        return float(self.process.drift_rate(self.time_label(tau)))

    def diffusion_coefficient(self, tau):
        return -0.5 * float(self.process.diffusion(self.time_label(tau))) ** 2

    def face_drift(self, grid, tau, axis):
        return self.rate(tau) * grid.face_coordinate(axis)


def high_frequency_content(p):
    """Grid-scale content: sum of |second differences| over sum of |values| (along every axis).

    A smooth density resolved by the grid gives O(h^2); grid-scale noise gives O(1).
    """
    total = np.abs(p).sum()
    return sum(np.abs(np.diff(p, 2, axis=axis)).sum() for axis in range(p.ndim)) / total


def solve_naive_reversal(process, grid, q0, T, t_min=1e-3, steps=100, save_at=None):
    """Integrate the naive (ill-posed) reversal; raise :class:`BlowUpError` when it blows up.

    Explicit SSP-RK3 with the limited transport flux; the blow-up is caught
    by negative mass, non-finite values, or grid-scale content (the sum of
    the absolute second differences over the sum of the absolute values)
    above ``HIGH_FREQUENCY_LIMIT`` = 0.5.

    Parameters
    ----------
    process : LinearProcess
    grid : Grid
    q0 : array, distribution or None
        Start density, as in :func:`solve_reverse` (``None``: the process's prior).
    T : float
        Start time (forward-time label), > ``t_min``.
    t_min : float
        Stop time, >= 0.
    steps : int
        Number of uniform time steps.
    save_at : sequence of float, optional
        Forward times in ``[t_min, T]`` to save (default ``[T, t_min]``).

    Returns
    -------
    DensitySolution
        The snapshots, only when the run ends before the blow-up (a short
        ``T - t_min`` or a coarse grid).

    Raises
    ------
    BlowUpError
        With the forward time of the blow-up (``error.t``).
    """
    check_process(process)
    T = as_float(T, "T", positive=True)
    t_min = as_float(t_min, "t_min", nonnegative=True)
    if t_min >= T:
        raise InputError(f"`t_min` must be < `T`; got t_min={t_min}, T={T}")
    steps = as_int(steps, "steps", minimum=1)
    _, _, save_at = check_common(grid, T, steps, "ssprk3", save_at, (t_min, T))
    q0 = initial_density(grid, q0, "q0")

    def monitor(p, t):
        content = high_frequency_content(p)
        if content > HIGH_FREQUENCY_LIMIT:
            raise BlowUpError(
                f"the naive reversal blew up at t = {t:.6g}: grid-scale content {content:.2g} "
                f"(limit {HIGH_FREQUENCY_LIMIT}); anti-diffusion is ill-posed — use solve_reverse with a score", t=t
            )

    taus, saved = merge_save_times(np.linspace(0.0, T - t_min, steps + 1), T - np.sort(save_at)[::-1])
    dynamics = NaiveReverseDynamics(process, T, t_min)
    try:
        return integrate_density(dynamics, grid, q0, taus, saved, "ssprk3", flux="muscl", monitor=monitor)
    except BlowUpError as error:
        if "naive reversal" in str(error):
            raise
        raise BlowUpError(f"the naive reversal blew up: {error}", t=error.t) from None
