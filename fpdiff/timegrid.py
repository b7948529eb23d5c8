r"""Time grids for reverse solves: forward times from ``T`` down to ``t_min``.

Every function returns a strictly decreasing array ``t[0] = T > ... > t[-1] = t_min``
of ``steps + 1`` forward-time labels.

* ``uniform``: equal steps in ``t``.
* ``geometric``: equal steps in ``log t`` (refined toward ``t_min``).
* ``log_snr``: equal steps in the log signal-to-noise ratio
  :math:`\lambda(t) = \log(\alpha_t^2 / v_t)` (Kingma et al. 2021; Lu et al. 2022, DPM-Solver).
* ``karras``: the :math:`\rho`-schedule of Karras et al. (2022, eq. 5) in the noise
  level :math:`s(t) = \sqrt{v_t}/\alpha_t`:
  :math:`s_i = (s_{max}^{1/\rho} + \tfrac{i}{N}(s_{min}^{1/\rho} - s_{max}^{1/\rho}))^\rho`;
  on :class:`~fpdiff.EDM` (:math:`s(t) = t`) the ``N + 1`` sigmas of k-diffusion's
  ``get_sigmas_karras(N + 1, t_min, T, rho)`` without its appended zero.
* ``diffusers-leading``, ``diffusers-trailing``, ``diffusers-linspace``: the
  timesteps of diffusers' DDPM and DDIM schedulers for a :class:`~fpdiff.Discrete`
  table of ``n`` steps (:func:`diffusers_timesteps`; Lin et al. 2024, Table 2),
  mapped to times by ``process.t_of_index``, then :math:`t = 0`: the libraries'
  last step goes to the data (:math:`\bar\alpha = 1`). These grids fix their
  own ``T`` (and end at 0, not ``t_min``).

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
    """Equal steps in ``t`` from ``T`` to ``t_min``.

    Parameters
    ----------
    T, t_min : float
        Start and end times (forward-time labels), ``T > t_min > 0``.
    steps : int
        Number of steps, >= 1.

    Returns
    -------
    ndarray (steps + 1,)
        The times, strictly decreasing from ``T`` to ``t_min``.
    """
    T, t_min, steps = _check(T, t_min, steps)
    return np.linspace(T, t_min, steps + 1)


def geometric(T, t_min, steps):
    """Equal steps in ``log t`` from ``T`` to ``t_min``.

    Parameters
    ----------
    T, t_min : float
        Start and end times (forward-time labels), ``T > t_min > 0``.
    steps : int
        Number of steps, >= 1.

    Returns
    -------
    ndarray (steps + 1,)
        The times, strictly decreasing from ``T`` to ``t_min``.
    """
    T, t_min, steps = _check(T, t_min, steps)
    return np.geomspace(T, t_min, steps + 1)


def invert_monotone(function, targets, T, t_min):
    """Times ``t`` in ``[t_min, T]`` with ``function(t) = targets`` (``function`` monotone), by bisection.

    Each time is bracketed to a relative width of 1e-15 (or an absolute
    1e-300 at 0), within 1,200 halvings.

    Parameters
    ----------
    function : callable
        ``function(t)``, vectorised over an array of times, monotone on ``[t_min, T]``.
    targets : array_like
        The values to reach, between ``function(t_min)`` and ``function(T)``.
    T, t_min : float
        The interval searched, ``T > t_min``.

    Returns
    -------
    ndarray
        The times, of the shape of ``targets``.
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
    r"""Equal steps in :math:`\lambda = \log(\alpha_t^2 / v_t)` from ``T`` to ``t_min``.

    Parameters
    ----------
    process : LinearProcess
        Gives :math:`\lambda` (``log_snr``) and its inverse (``t_of_log_snr``).
    T, t_min : float
        Start and end times (forward-time labels), ``T > t_min > 0``.
    steps : int
        Number of steps, >= 1.

    Returns
    -------
    ndarray (steps + 1,)
        The times, strictly decreasing from ``T`` to ``t_min``.
    """
    T, t_min, steps = _check(T, t_min, steps)

    targets = np.linspace(process.log_snr(T), process.log_snr(t_min), steps + 1)
    return np.concatenate([[T], process.t_of_log_snr(targets[1:-1]), [t_min]])


def karras(process, T, t_min, steps, rho=7.0):
    r"""Karras et al. (2022) :math:`\rho`-schedule in the noise level :math:`\sqrt{v_t}/\alpha_t`.

    Equal steps in :math:`\sigma^{1/\rho}`, :math:`\sigma = \sqrt{v_t}/\alpha_t` (``process.sigma``), from
    :math:`\sigma_{max} = \sigma(T)` to :math:`\sigma_{min} = \sigma(t_{min})`:
    :math:`\sigma_i = (\sigma_{max}^{1/\rho} + \tfrac iN(\sigma_{min}^{1/\rho} - \sigma_{max}^{1/\rho}))^\rho`,
    :math:`t_i = t(\sigma_i)` (``process.t_of_sigma``).

    Parameters
    ----------
    process : LinearProcess
        Gives :math:`\sigma` (``sigma``) and its inverse (``t_of_sigma``).
    T, t_min : float
        Start and end times (forward-time labels), ``T > t_min > 0``.
    steps : int
        Number of steps, >= 1.
    rho : float
        The exponent :math:`\rho > 0` (Karras et al.: 7).

    Returns
    -------
    ndarray (steps + 1,)
        The times, strictly decreasing from ``T`` to ``t_min``.
    """
    T, t_min, steps = _check(T, t_min, steps)
    rho = as_float(rho, "rho", positive=True)

    targets = np.linspace(process.sigma(T) ** (1.0 / rho), process.sigma(t_min) ** (1.0 / rho), steps + 1)
    return np.concatenate([[T], process.t_of_sigma(targets[1:-1] ** rho), [t_min]])


#: diffusers' timestep spacings
SPACINGS = ("leading", "trailing", "linspace")


def diffusers_timesteps(n, steps, spacing="leading", steps_offset=0):
    r"""The ``steps`` integer timesteps (descending) of diffusers' ``DDPMScheduler``/``DDIMScheduler``.

    For a table of ``n`` training steps, with ``r = n // steps`` (leading) or ``n / steps`` (trailing):

    * ``"leading"``: :math:`\mathrm{round}(i\,r) + \text{steps\_offset}`, :math:`i = N-1, \dots, 0`;
    * ``"trailing"``: :math:`\mathrm{round}(n - i\,r) - 1`, :math:`i = 0, \dots, N-1`;
    * ``"linspace"``: :math:`\mathrm{round}` of ``linspace(0, n - 1, steps)``, descending.

    diffusers' DDIM steps from timestep :math:`k` to :math:`k - n /\!/ N`, which is the next one
    of this list for ``"leading"``, and for ``"trailing"`` when ``steps`` divides ``n``; DDPM steps to the
    next one of the list always. Its Euler and Heun schedulers keep the ``"linspace"`` timesteps
    unrounded and interpolate the sigmas linearly in the index: replay those with
    ``time_grid=process.t_of_sigma(scheduler.sigmas)``.

    Parameters
    ----------
    n : int
        Training steps of the table (diffusers' ``num_train_timesteps``), >= 2.
    steps : int
        Inference steps ``N`` (diffusers' ``num_inference_steps``), ``1 <= steps <= n``.
    spacing : {"leading", "trailing", "linspace"}
        diffusers' ``timestep_spacing``.
    steps_offset : int
        diffusers' ``steps_offset`` (``"leading"`` only), >= 0.

    Returns
    -------
    ndarray of int64 (steps,)
        The timesteps (table indices), descending.
    """
    n = as_int(n, "n", minimum=2)
    steps = as_int(steps, "steps", minimum=1)
    check_choice(spacing, "spacing", SPACINGS)
    steps_offset = as_int(steps_offset, "steps_offset", minimum=0)
    if steps > n:
        raise InputError(f"`steps` must be <= the table's {n} training steps; got {steps}")
    if steps_offset and spacing != "leading":
        raise InputError(f"`steps_offset` shifts the 'leading' spacing only (as in diffusers); got "
                         f"steps_offset={steps_offset} with spacing {spacing!r}")
    if spacing == "leading":
        timesteps = (np.arange(steps) * (n // steps)).round()[::-1] + steps_offset
        if timesteps[0] > n - 1:
            raise InputError(f"`steps_offset` = {steps_offset} puts the first timestep at {timesteps[0]}, beyond "
                             f"the table's last index {n - 1}")
    elif spacing == "trailing":
        timesteps = np.round(np.arange(n, 0, -n / steps)) - 1
    else:
        timesteps = np.linspace(0, n - 1, steps).round()[::-1]
    return timesteps.astype(np.int64)


def diffusers_grid(process, steps, spacing="leading", steps_offset=0):
    """The times of :func:`diffusers_timesteps` for a :class:`~fpdiff.Discrete` ``process``, then 0.

    Parameters
    ----------
    process : Discrete
        A discrete-time table (:class:`~fpdiff.Discrete`, :class:`~fpdiff.LinearDiscrete`,
        :class:`~fpdiff.ScaledLinear`): its ``n`` and ``t_of_index``.
    steps : int
        Inference steps.
    spacing : {"leading", "trailing", "linspace"}
        diffusers' ``timestep_spacing``.
    steps_offset : int
        diffusers' ``steps_offset`` (``"leading"`` only).

    Returns
    -------
    ndarray (steps + 1,)
        The timesteps' forward times (``process.t_of_index``), decreasing, then 0 (the data).
    """
    if not (hasattr(process, "t_of_index") and hasattr(process, "n")):
        raise InputError(f"the diffusers time grids need a discrete-time process (fpdiff.Discrete, LinearDiscrete, "
                         f"ScaledLinear) with `t_of_index`; got {process!r}")
    timesteps = diffusers_timesteps(process.n, steps, spacing, steps_offset)
    return np.concatenate([process.t_of_index(timesteps), [0.0]])


#: grids from ``T`` to ``t_min`` (every solver)
TIME_GRIDS = ("uniform", "geometric", "log-snr", "karras")
#: grids of the libraries' samplers, which end at t = 0 (:func:`fpdiff.sample_reverse` only)
LIBRARY_GRIDS = tuple(f"diffusers-{name}" for name in SPACINGS)


def make_time_grid(time_grid, process, T, t_min, steps, rho=7.0, steps_offset=0, library=False):
    """Build a named time grid, or validate an explicit decreasing array of times.

    A ``"diffusers-..."`` grid or an array fixes its own ends: ``T`` and
    ``t_min`` may be ``None`` and, if given, must equal them. Other grids run
    from ``T`` to ``t_min`` (default 1e-3). With ``library=True`` (the library
    samplers of :func:`fpdiff.sample_reverse`) the grids of
    :data:`LIBRARY_GRIDS` are allowed and an array may end at 0 (the data);
    otherwise every time is > 0.

    Parameters
    ----------
    time_grid : str or array_like
        A name of :data:`TIME_GRIDS` (or, with ``library=True``, of
        :data:`LIBRARY_GRIDS`), or the times themselves, strictly decreasing.
    process : LinearProcess
        The forward process (``"log-snr"``, ``"karras"`` and the diffusers grids read it).
    T, t_min : float or None
        Start and end times; see above.
    steps : int
        Number of steps of a named grid.
    rho : float
        The exponent of the ``"karras"`` grid.
    steps_offset : int
        diffusers' ``steps_offset`` (``"diffusers-leading"`` only).
    library : bool
        Allow the library grids and a last time of 0.

    Returns
    -------
    ndarray
        The times, strictly decreasing.
    """
    if isinstance(time_grid, str):
        check_choice(time_grid, "time_grid", TIME_GRIDS + (LIBRARY_GRIDS if library else ()))
        if steps_offset != 0 and time_grid != "diffusers-leading":
            raise InputError(f"`steps_offset` shifts the 'diffusers-leading' grid only; got steps_offset="
                             f"{steps_offset!r} with time_grid={time_grid!r}")
        if time_grid.startswith("diffusers-"):
            times = diffusers_grid(process, steps, time_grid[len("diffusers-"):], steps_offset)
            return _check_ends(times, T, t_min, f"time_grid={time_grid!r}")
        if T is None:
            raise InputError(f"`T` (the start time) is required with time_grid={time_grid!r}")
        t_min = 1e-3 if t_min is None else t_min
        if time_grid == "uniform":
            return uniform(T, t_min, steps)
        if time_grid == "geometric":
            return geometric(T, t_min, steps)
        if time_grid == "log-snr":
            return log_snr(process, T, t_min, steps)
        return karras(process, T, t_min, steps, rho)
    times = as_finite_array(time_grid, "time_grid", ndim=1)
    positive = times[:-1] if library and len(times) > 2 else times
    if len(times) < 2 or np.any(np.diff(times) >= 0) or times[-1] < 0 or np.any(positive <= 0):
        raise InputError(f"`time_grid` must be a name or a strictly decreasing array of times > 0"
                         f"{' (the last may be 0)' if library else ''}; got {times.tolist()[:6]}")
    return _check_ends(times, T, t_min, "`time_grid`")


def _check_ends(times, T, t_min, what):
    """``times``, after checking that ``T`` and ``t_min``, where given, are its ends."""
    for name, value, end in (("T", T, times[0]), ("t_min", t_min, times[-1])):
        if value is not None and not np.isclose(as_float(value, name), end, rtol=1e-12, atol=0.0):
            raise InputError(f"{what} runs from {times[0]!r} to {times[-1]!r}; got {name}={value!r} (leave `{name}` "
                             "out, or pass the grid's own)")
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

    Parameters
    ----------
    times : array_like (n,)
        Step times, strictly monotone.
    save_times : float or array_like
        Times to save, within the span of ``times``.

    Returns
    -------
    times : ndarray
        The merged step times, in the order of the input.
    saved : ndarray of bool
        Which of them were asked for.
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
