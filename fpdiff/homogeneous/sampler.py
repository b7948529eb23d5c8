r"""The time-homogeneous generative SDE of the random time reversal, stopped on reaching the data.

.. math::  dZ = \big(b(Z) + \sigma^2 \nabla \log \tilde h(Z)\big)\, dt + \sigma\, dW, \qquad Z_0 = z,

with :math:`b = 0` (Brownian motion) or :math:`b(z) = -\beta z` (OU), run until :math:`Z` reaches the data
:math:`M = \{x_1, \dots, x_n\}` (Christensen, Kallsen, Strauch & Trottner 2025). Started from the law of
:math:`X_\zeta` it ends with the data's law; started from :math:`z` it ends at :math:`x_i` with probability
:math:`G_r(x_i \to z)/\sum_j G_r(x_j \to z)`.

Discretisation: Euler–Maruyama with a per-path adaptive step
:math:`\Delta t = \min(\Delta t_{max}, c\,\rho(Z)^2/\sigma^2)`, :math:`\rho(Z) = \min_i |Z - x_i|`: near a point the
drift is :math:`\approx -\sigma^2 (d-2)(Z - x_i)/\rho^2` and the step moves :math:`Z` by a fraction
:math:`\approx c(d-2) + \sqrt{c d}` of :math:`\rho`, so a path cannot jump over a point or into another one's
neighbourhood unresolved. Stopping rules (the first that holds ends a path; ``reached`` is the nearest point):

* ``delta``: :math:`\rho(Z) \le \delta`;
* ``energy``: :math:`\int_0^t \sigma^2 |s(Z_u)|^2 du \ge E` (the implicit rule: it needs only the score; the integral
  is twice the Kullback–Leibler divergence of the path law from that of the forward process by Girsanov's theorem,
  and it diverges as :math:`Z` approaches a point; for :math:`d \ge 3` it grows by about
  :math:`2(d-2)\log(\rho_0/\rho_1)` while :math:`\rho` falls from :math:`\rho_0` to :math:`\rho_1`). For
  :math:`\sigma = 1` it is :math:`\int |s|^2 dt`.

Reproducibility: the noise of step ``n`` of path ``i`` is the counter-based normal keyed by
``(seed, stream, n, i)`` (:mod:`fpdiff.particles._random`), so results do not depend on threads or on how
many paths are run (path ``i`` of a run is path ``i`` of any larger run).
"""

import time

import numba
import numpy as np
from scipy.spatial import cKDTree
from scipy.special import ndtr

from .._parallel import use_parallel
from .._validation import as_finite_array, as_float, as_int, check_no_unknown_options
from ..errors import BlowUpError, InputError
from ..particles import _random
from ..processes.sde import OU, Brownian
from ..solution import Result
from . import _kernels
from .green import check_process
from .score import HomogeneousScore

__all__ = ["sample_homogeneous", "HomogeneousSample", "START_LAWS", "default_delta"]

#: start laws by name (see :func:`sample_homogeneous`)
START_LAWS = ("data", "invariant", "noise")

#: default c of the step rule dt <= c rho^2 / sigma^2, divided by d (the relative noise move is sqrt(c d))
STEP_FACTOR_TIMES_DIM = 0.05

#: default delta relative to the median nearest-neighbour distance of the data
DELTA_FRACTION = 0.01

#: how a stopped path's data point is chosen (see :func:`sample_homogeneous`)
FINISHES = ("nearest", "exact")

#: default cap on the number of steps of a path
MAX_STEPS = 100_000


class HomogeneousSample(Result):
    """Result of :func:`sample_homogeneous` (a :class:`fpdiff.solution.Result`).

    Parameters
    ----------
    samples, reached, steps, times, energy, start, diagnostics
        The attributes below (``times`` is also ``t``), as :func:`sample_homogeneous` makes them.

    Attributes
    ----------
    samples : ndarray (M, d)
        End points of the paths (where they stopped, or where the budget ran out).
    t : ndarray (M,)
        The process time at which each path stopped: ``samples[m]`` is path ``m`` at time ``t[m]``. The paths
        share no clock (each runs until it reaches a data point, or its energy the threshold), so the result's
        times are per path, not per snapshot.
    times : ndarray (M,)
        The same array as ``t`` (its earlier name).
    reached : ndarray (M,) of int
        Index of the data point each path reached (the nearest when it stopped); -1 if it did not stop within
        ``max_steps``.
    steps : ndarray (M,) of int
        Steps taken by each path.
    energy : ndarray (M,)
        Score energy :math:`\\int \\sigma^2 |s(Z)|^2 dt` of each path at its end.
    start : ndarray (M, d)
        Start points.
    diagnostics : dict
        ``finish``, ``seed``, ``delta``, ``energy_threshold``, ``step_factor``, ``max_dt``, ``max_steps``,
        ``engine``, ``start`` (the law's name or "array"), ``n_points``, ``stopped`` (fraction), ``wall_time`` (s),
        ``threads``.
    """

    def __init__(self, samples, reached, steps, times, energy, start, diagnostics):
        super().__init__(times, diagnostics)
        self.samples = samples
        self.reached = reached
        self.steps = steps
        self.energy = energy
        self.start = start

    @property
    def times(self):
        """Process time each path ran for (its stopping time): the same array as ``t``."""
        return self.t

    @property
    def n_points(self):
        return self.diagnostics["n_points"]

    def counts(self):
        """Number of paths that ended at each data point, ``(n,)`` (paths that did not stop are left out)."""
        return np.bincount(self.reached[self.reached >= 0], minlength=self.n_points)

    def frequencies(self):
        """Fraction of all paths that ended at each data point, ``(n,)``; sums to the fraction stopped."""
        return self.counts() / len(self.reached)

    def _summary(self):
        return [f"paths={len(self.reached)}", f"dim={self.samples.shape[1]}",
                f"stopped={self.diagnostics['stopped']:.3f}", f"mean steps={self.steps.mean():.0f}",
                f"t=[{self.t.min():g} .. {self.t.max():g}] (per path)"]


def default_delta(points, process, r):
    """Default radius of the stopping neighbourhood: 1% of the median nearest-neighbour distance of the data
    (1% of :math:`\\sigma/\\sqrt{2r}` for a single point)."""
    if len(points) >= 2:
        distances, _ = cKDTree(points).query(points, k=2)
        spacing = float(np.median(distances[:, 1]))
        if spacing > 0:
            return DELTA_FRACTION * spacing
    return DELTA_FRACTION * process.diffusion_constant / np.sqrt(2.0 * r)


def _stop_rule(stop, points, process, r):
    """``(delta, energy_threshold)`` from the ``stop`` argument."""
    if stop is None:
        return default_delta(points, process, r), np.inf
    if isinstance(stop, dict):
        unknown = set(stop) - {"delta", "energy"}
        if unknown or not stop:
            raise InputError(
                f"`stop` must be None, a radius delta, or a dict with keys 'delta' and/or 'energy'; got keys "
                f"{sorted(map(str, stop))}"
            )
        delta = as_float(stop["delta"], "stop['delta']", nonnegative=True) if "delta" in stop else 0.0
        energy = as_float(stop["energy"], "stop['energy']", positive=True) if "energy" in stop else np.inf
        if delta == 0.0 and not np.isfinite(energy):
            raise InputError("`stop` must give a positive 'delta' or an 'energy' threshold; got delta = 0 only")
        return delta, energy
    try:
        delta = as_float(stop, "stop", positive=True)
    except InputError:
        raise InputError(
            f"`stop` must be None, a radius delta > 0, or a dict with keys 'delta' and/or 'energy'; got {stop!r}"
        ) from None
    return delta, np.inf


def _start_points(start, n_paths, score, process, seed):
    """The (M, d) start points and the name of the start law."""
    dim, points, r = score.dim, score.points, score.r
    if isinstance(start, str):
        if start not in START_LAWS:
            raise InputError(f"`start` must be an (M, {dim}) array or one of {START_LAWS}; got {start!r}")
        if n_paths is None:
            raise InputError(f"`start={start!r}` needs the option `n_paths` (the number of paths M)")
        count = as_int(n_paths, "n_paths", minimum=1)
        gaussian = _random.normals(seed, _kernels.START_STREAM, 0, count, dim, step=0, slot=2)
        if start == "invariant":
            if not isinstance(process, OU):
                raise InputError(f"`start='invariant'` needs an OU process (Brownian motion has no invariant "
                                 f"probability law); got {process!r}")
            return np.sqrt(process.stationary_variance) * gaussian, start
        exponential = 0.5 * np.sum(_random.normals(seed, _kernels.START_STREAM, 0, count, 2, step=0, slot=1) ** 2,
                                   axis=1) / r  # (xi_1^2 + xi_2^2)/2 ~ Exp(1)
        if start == "noise":
            if not isinstance(process, Brownian):
                raise InputError(f"`start='noise'` is the Brownian small-r approximation; got {process!r} "
                                 "(use 'invariant' for OU)")
            centre = points.mean(axis=0)
            return centre + process.diffusion_constant * np.sqrt(exponential)[:, None] * gaussian, start
        uniform = ndtr(_random.normals(seed, _kernels.START_STREAM, 0, count, 1, step=0, slot=0)[:, 0])
        index = np.minimum((uniform * len(points)).astype(np.int64), len(points) - 1)
        scale = process.alpha(exponential)[:, None]
        spread = np.sqrt(process.variance(exponential))[:, None]
        return scale * points[index] + spread * gaussian, start
    if n_paths is not None:
        raise InputError("the option `n_paths` is only for a named start law; `start` is an array of start points")
    array = as_finite_array(start, "start")
    if array.ndim != 2 or array.shape[1] != dim or array.shape[0] == 0:
        raise InputError(f"`start` must have shape (M, {dim}) (the score's dimension) or name a start law "
                         f"{START_LAWS}; got shape {array.shape}")
    return np.array(array, dtype=np.float64, order="C"), "array"


def sample_homogeneous(process, score, start, stop=None, seed=0, **options):
    r"""Run the stopped generative SDE of the random time reversal from ``start``.

    Parameters
    ----------
    process : Brownian or OU
        The forward process; must be the one ``score`` was built for.
    score : HomogeneousScore
        The score :math:`\nabla\log\tilde h` (its data points define the stopping set). With
        ``engine="python"`` any object with ``dim``, ``points``, ``r`` and a call ``score(x) -> (M, d)`` will do.
    start : array_like (M, d) or str
        Start points (one path each), or a start law with the option ``n_paths``:

        * ``"data"``: the exact law of :math:`X_\zeta` (draw a data point, an :math:`\mathrm{Exp}(r)` time
          :math:`\zeta`, and the forward transition over :math:`\zeta`): the output is then the data's law;
        * ``"invariant"`` (OU): :math:`N(0, \sigma^2/(2\beta) I)`, the :math:`r \to 0` limit of the above;
        * ``"noise"`` (Brownian): the law of :math:`X_\zeta` with all data moved to their mean, a good
          approximation when the data's spread is small next to :math:`\sigma/\sqrt{2r}`.
    stop : None, float or dict
        None: ``delta`` = 1% of the median nearest-neighbour distance of the data; a float: ``delta``; a dict
        ``{"delta": ..., "energy": ...}``: either or both rules (see the module docstring).
    seed : int
        Seed of the counter-based normals.
    **options
        ``n_paths`` (named starts), ``step_factor`` c of :math:`\Delta t \le c\rho^2/\sigma^2` (default
        ``0.05/d``; the weak bias of the output law is about first order in c and larger in dense data: check a
        result by halving it, see ``docs/homogeneous.md``), ``max_dt`` (default ``0.1/r``, and at most ``0.1/beta`` for OU), ``max_steps`` per path
        (default 100000), ``engine`` (``"numba"``, default, or ``"python"``: one vectorised numpy step for all
        running paths at a time, distances by ``scipy.spatial.cKDTree``; the slow reference path, same noise),
        ``finish``: ``"nearest"`` (default: a stopped path reached its nearest data point) or ``"exact"``: draw
        the point from the exact output law from where the path stopped,
        :math:`G_r(x_i \to Z_\tau)/\sum_j G_r(x_j \to Z_\tau)` (by the strong Markov property this is the law
        of the point the continuous path would end at; it removes the bias of stopping at a distance
        :math:`\delta`, which decays only like :math:`1/\log(1/\delta)` in d = 2 where paths pass close to
        points they do not end at, and like :math:`\delta` in d = 3). Needs the Green's functions of a
        :class:`HomogeneousScore`; ``samples`` stay where the paths stopped.

    Returns
    -------
    HomogeneousSample
        ``.samples`` (M, d), ``.reached`` (M,) index of the data point reached or -1, ``.steps`` (M,), and
        ``.times``, ``.energy``, ``.start``, ``.diagnostics``.
    """
    wall = time.perf_counter()
    options = dict(options)
    n_paths = options.pop("n_paths", None)
    step_factor = options.pop("step_factor", None)
    max_dt = options.pop("max_dt", None)
    max_steps = as_int(options.pop("max_steps", MAX_STEPS), "max_steps", minimum=0)
    engine = options.pop("engine", "numba")
    finish = options.pop("finish", "nearest")
    check_no_unknown_options(options, "sample_homogeneous")
    if finish not in FINISHES:
        raise InputError(f"`finish` must be one of {FINISHES}; got {finish!r}")
    if engine not in ("numba", "python"):
        raise InputError(f"`engine` must be 'numba' or 'python'; got {engine!r}")
    check_process(process)
    if engine == "numba":
        if not isinstance(score, HomogeneousScore):
            raise InputError(f"`score` must be a fpdiff.HomogeneousScore (or use engine='python' for another "
                             f"score); got {type(score).__name__}")
    else:
        for attribute in ("dim", "points", "r"):
            if not hasattr(score, attribute):
                raise InputError(f"`score` must have the attribute `{attribute}` (engine='python'); got "
                                 f"{type(score).__name__}")
    if getattr(score, "process", process) != process:
        raise InputError(f"`score` was built for {score.process!r}, but `process` is {process!r}")
    seed = _random.check_seed(seed)
    points = np.asarray(score.points, dtype=np.float64)
    r = float(score.r)
    dim = points.shape[1]
    delta, energy_threshold = _stop_rule(stop, points, process, r)
    step_factor = (STEP_FACTOR_TIMES_DIM / dim if step_factor is None
                   else as_float(step_factor, "step_factor", positive=True))
    beta = process.beta if isinstance(process, OU) else 0.0
    if max_dt is None:
        max_dt = 0.1 / max(r, beta)
    max_dt = as_float(max_dt, "max_dt", positive=True)
    z, start_name = _start_points(start, n_paths, score, process, seed)
    start_points = z.copy()
    count = len(z)
    reached = np.empty(count, dtype=np.int64)
    steps = np.empty(count, dtype=np.int64)
    times = np.empty(count)
    energy = np.empty(count)
    key = _random.seed_key(seed)
    if engine == "numba":
        # a path evaluates the score once per step, for at most max_steps steps: its work is bounded by that
        parallel = use_parallel(count * score.point_work * max_steps)
        _kernels.run_paths(score.kind, *score.kernel_data(), beta, process.diffusion_constant, key, 0, z, step_factor, max_dt,
                           delta, energy_threshold, max_steps, reached, steps, times, energy, parallel)
    else:
        _python_paths(score, beta, process.diffusion_constant, key, z, step_factor, max_dt, delta, energy_threshold, max_steps,
                      reached, steps, times, energy)
    bad = np.flatnonzero(reached == _kernels.NOT_FINITE)
    if bad.size:
        raise BlowUpError(f"{bad.size} path(s) became non-finite (first: path {bad[0]} after {steps[bad[0]]} steps); "
                          f"reduce `step_factor` (now {step_factor:.3g}) or `max_dt` (now {max_dt:.3g})")
    if finish == "exact":
        _exact_finish(score, z, reached, seed)
    diagnostics = {
        "finish": finish, "seed": seed, "delta": delta, "energy_threshold": energy_threshold,
        "step_factor": step_factor,
        "max_dt": max_dt, "max_steps": max_steps, "engine": engine, "start": start_name,
        "n_points": len(points), "stopped": float(np.mean(reached >= 0)),
        "wall_time": time.perf_counter() - wall, "threads": numba.get_num_threads(),
    }
    return HomogeneousSample(z, reached, steps, times, energy, start_points, diagnostics)


def _exact_finish(score, z, reached, seed):
    """Redraw the reached point of every stopped path from the exact output law at its stopping point."""
    if not isinstance(score, HomogeneousScore):
        raise InputError(f"`finish='exact'` needs a fpdiff.HomogeneousScore; got {type(score).__name__}")
    stopped = np.flatnonzero(reached >= 0)
    if not stopped.size:
        return
    uniform = ndtr(_random.normals(seed, _kernels.START_STREAM, 0, len(reached), 1, step=1, slot=3)[stopped, 0])
    cumulative = np.cumsum(score.hitting_probabilities(z[stopped]), axis=1)
    index = np.sum(cumulative < uniform[:, None] * cumulative[:, -1:], axis=1)
    reached[stopped] = np.minimum(index, score.n_points - 1)


def _python_paths(score, beta, sigma, key, z, step_factor, max_dt, delta, energy_threshold, max_steps,
                  reached, steps, times, energy):
    """The numpy reference of :func:`._kernels.run_paths`: all running paths advance together (path ``i`` at
    loop ``n`` has taken ``n`` steps), distances to the data by a k-d tree."""
    tree = cKDTree(np.asarray(score.points, dtype=np.float64))
    count, dim = z.shape
    running = np.arange(count)
    times[:] = 0.0
    energy[:] = 0.0
    reached[:] = _kernels.NOT_STOPPED
    steps[:] = 0
    noise = np.empty((count, dim))
    sigma_square = sigma * sigma
    n = 0
    while running.size:
        position = z[running]
        distance, nearest = tree.query(position)
        value = np.asarray(score(position), dtype=np.float64)
        done = (distance <= delta) | (energy[running] >= energy_threshold)
        reached[running[done]] = nearest[done]
        keep = ~done
        if n >= max_steps:
            break
        running, position, distance, value = running[keep], position[keep], distance[keep], value[keep]
        if not running.size:
            break
        dt = np.minimum(max_dt, step_factor * distance**2 / sigma_square)
        _random.fill_normals(key, _kernels.STEP_STREAM, 0, n, 0, noise, False)
        position = (position + (sigma_square * value - beta * position) * dt[:, None]
                    + sigma * np.sqrt(dt)[:, None] * noise[running])
        energy[running] += sigma_square * np.sum(value**2, axis=1) * dt
        times[running] += dt
        n += 1
        steps[running] = n
        z[running] = position
        finite = np.all(np.isfinite(position), axis=1)
        if not finite.all():
            reached[running[~finite]] = _kernels.NOT_FINITE
            running = running[finite]
