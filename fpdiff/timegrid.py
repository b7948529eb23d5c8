r"""Time grids for reverse solves: forward times from ``T`` down to ``t_min``.

Every function returns a strictly decreasing array ``t[0] = T > ... > t[-1] = t_min``
of ``steps + 1`` forward-time labels.

* ``uniform``: equal steps in ``t``.
* ``geometric``: equal steps in ``log t`` (refined toward ``t_min``).
* ``log_snr``: equal steps in the log signal-to-noise ratio
  :math:`\lambda(t) = \log(\alpha_t^2 / v_t)` (Kingma et al. 2021; Lu et al. 2022, DPM-Solver).
* ``karras``: the :math:`\rho`-schedule of Karras et al. (2022, eq. 5) in the noise
  level :math:`s(t) = \sqrt{v_t}/\alpha_t`:
  :math:`s_i = (s_{max}^{1/\rho} + \tfrac{i}{N}(s_{min}^{1/\rho} - s_{max}^{1/\rho}))^\rho`.

:func:`merge_save_times` adds the times a solver must save to its step times (both views).
"""

import numpy as np

from ._validation import as_finite_array, as_float, as_int, check_choice
from .errors import InputError


def _check(T, t_min, steps):
    T = as_float(T, "T", positive=True)
    t_min = as_float(t_min, "t_min", positive=True)
    if t_min >= T:
        raise InputError(f"`t_min` must be < `T`; got t_min={t_min}, T={T}")
    return T, t_min, as_int(steps, "steps", minimum=1)


def uniform(T, t_min, steps):
    """Equal steps in ``t`` from ``T`` to ``t_min``."""
    T, t_min, steps = _check(T, t_min, steps)
    return np.linspace(T, t_min, steps + 1)


def geometric(T, t_min, steps):
    """Equal steps in ``log t`` from ``T`` to ``t_min``."""
    T, t_min, steps = _check(T, t_min, steps)
    return np.geomspace(T, t_min, steps + 1)


def invert_monotone(function, targets, T, t_min):
    """Times ``t`` in ``[t_min, T]`` with ``function(t) = targets`` (``function`` monotone), by bisection.

    Each time is bracketed to a relative width of 1e-15 (or an absolute
    1e-300 at 0), within 1,200 halvings.
    """
    lo = np.full(np.shape(targets), t_min)
    hi = np.full(np.shape(targets), T)
    if lo.size == 0:  # one step: no interior times
        return lo
    increasing = function(T) > function(t_min)
    for _ in range(1200):
        mid = 0.5 * (lo + hi)
        above = (function(mid) > targets) == increasing
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
        if np.all(hi - lo <= np.maximum(1e-15 * hi, 1e-300)):
            break
    return 0.5 * (lo + hi)


def log_snr(process, T, t_min, steps):
    r"""Equal steps in :math:`\lambda = \log(\alpha_t^2 / v_t)` from ``T`` to ``t_min``."""
    T, t_min, steps = _check(T, t_min, steps)

    targets = np.linspace(process.log_snr(T), process.log_snr(t_min), steps + 1)
    return np.concatenate([[T], process.t_of_log_snr(targets[1:-1]), [t_min]])


def karras(process, T, t_min, steps, rho=7.0):
    r"""Karras et al. (2022) :math:`\rho`-schedule in the noise level :math:`\sqrt{v_t}/\alpha_t`."""
    T, t_min, steps = _check(T, t_min, steps)
    rho = as_float(rho, "rho", positive=True)

    targets = np.linspace(process.sigma(T) ** (1.0 / rho), process.sigma(t_min) ** (1.0 / rho), steps + 1)
    return np.concatenate([[T], process.t_of_sigma(targets[1:-1] ** rho), [t_min]])


TIME_GRIDS = ("uniform", "geometric", "log-snr", "karras")


def make_time_grid(time_grid, process, T, t_min, steps, rho=7.0):
    """Build a named time grid, or validate an explicit decreasing array of times from ``T`` to ``t_min``."""
    if isinstance(time_grid, str):
        check_choice(time_grid, "time_grid", TIME_GRIDS)
        if time_grid == "uniform":
            return uniform(T, t_min, steps)
        if time_grid == "geometric":
            return geometric(T, t_min, steps)
        if time_grid == "log-snr":
            return log_snr(process, T, t_min, steps)
        return karras(process, T, t_min, steps, rho)
    times = as_finite_array(time_grid, "time_grid", ndim=1)
    if len(times) < 2 or np.any(np.diff(times) >= 0):
        raise InputError("`time_grid` must be a name or a strictly decreasing array of times")
    if not (np.isclose(times[0], T, rtol=1e-12) and np.isclose(times[-1], t_min, rtol=1e-12)):
        raise InputError(f"`time_grid` must run from T={T} to t_min={t_min}; got {times[0]} .. {times[-1]}")
    return times


def merge_save_times(times, save_times):
    """Merge save times into the monotone step times ``times``; returns ``(times, saved)``.

    The step times are kept exactly; a save time within round-off (1e-12 of
    the largest absolute time) of a step time is that step time, so no
    zero-length step appears; every other save time becomes a step boundary.
    ``saved`` is a boolean mask of the merged times that were asked for. The
    order of ``times`` (increasing for the grid view's solver time, decreasing
    for a reverse run's forward-time labels) is kept. Save times must lie in
    the span of ``times`` (the solvers check them first).
    """
    times = np.asarray(times, dtype=np.float64)
    save_times = np.atleast_1d(np.asarray(save_times, dtype=np.float64))
    descending = times[0] > times[-1]
    steps = times[::-1] if descending else times
    tolerance = 1e-12 * max(float(np.max(np.abs(steps))), float(np.max(np.abs(save_times))))
    new = np.unique(save_times[np.abs(steps[_nearest(steps, save_times)] - save_times) > tolerance])
    if new.size:
        new = new[np.concatenate([[True], np.diff(new) > tolerance])]  # save times within round-off of each other
        merged = np.union1d(steps, new)
    else:
        merged = steps.copy()
    saved = np.zeros(len(merged), dtype=bool)
    saved[_nearest(merged, save_times)] = True
    if descending:
        return merged[::-1].copy(), saved[::-1].copy()
    return merged, saved


def _nearest(times, values):
    """Index of the nearest entry of the increasing ``times`` for each of ``values``."""
    right = np.clip(np.searchsorted(times, values), 1, len(times) - 1)
    left = right - 1
    return np.where(values - times[left] <= times[right] - values, left, right)
