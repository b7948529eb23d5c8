r"""The sample view: particle solvers for the forward and the gamma-family reverse SDEs.

- :func:`sample_reverse`: the generative (reverse) SDE of ``docs/theory.md`` (section 3) with
  the schemes of :mod:`fpdiff.particles.schemes`, scores evaluated inside
  numba kernels (Gaussian mixtures, training points) or, for any other score,
  from Python once per stage;
- :func:`sample_forward`: the noising process, by exact Gaussian transitions
  (default) or Euler–Maruyama;
- :func:`simulate`: any :class:`~fpdiff.dynamics.Dynamics`, by Euler–Maruyama
  or stochastic Heun with its drift evaluated from Python (the generic path).

Reproducibility: every normal number is a function of (seed, particle index,
step, slot) (:mod:`fpdiff.particles._random`), so a run gives the same
samples whatever the number of numba threads, the ``batch_size``, or the
number of particles (particle ``i`` of a run with ``n`` particles is
particle ``i`` of any larger run).
"""

import time

import numba
import numpy as np

from .._parallel import use_parallel
from .._validation import as_finite_array, as_float, as_int, check_choice, check_no_unknown_options
from ..dynamics import Dynamics, forward_dynamics, reverse_dynamics
from ..errors import BlowUpError, InputError
from ..processes.base import check_process
from ..scores.base import Score, as_score, refuse_space_only
from ..solution import ParticleSolution
from ..timegrid import make_time_grid, merge_save_times
from . import _random, sharded
from ._kernels import EM, HEUN, MULTISTEP, NOISE, advance_for_kind, on_threads, step_particles
from ..scores._kernels import EMPIRICAL, MIXTURE
from ._scores import NO_LAYOUT, KernelScore
from .schemes import EVALUATIONS, LIBRARY_SCHEMES, SCHEMES, Stage, check_scheme_options, plan_step, reference_stage

#: particles advanced per kernel call (the work arrays hold this many rows)
DEFAULT_BATCH = 65536
#: score kinds whose whole run is one kernel call (:func:`._kernels.advance_particles`); a tabulated
#: score's table changes with time, and a Python score is called once per stage
FUSED_KINDS = (MIXTURE, EMPIRICAL)


# ------------------------------------------------------------------ helpers


def as_particles(x, name, dim=None):
    """Particles as a C-contiguous float64 (M, d) copy; a 1-D array is M points in one dimension."""
    array = as_finite_array(x, name)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"`{name}` must be a non-empty array of shape (M, d); got shape {np.shape(x)}")
    if dim is not None and array.shape[1] != dim:
        raise InputError(f"`{name}` must have {dim} column(s) (the score's dimension); got shape {array.shape}")
    return np.array(array, dtype=np.float64, order="C")


def start_arguments(score, n_or_y0):
    """``(M, y0 or None)`` of ``sample_reverse``'s ``n_or_y0``: a number of particles, or the start points."""
    if isinstance(n_or_y0, (int, np.integer)) and not isinstance(n_or_y0, bool):
        if n_or_y0 < 1:
            raise InputError(f"`n_or_y0` must be a number of particles >= 1 or the start points; got {n_or_y0}")
        return int(n_or_y0), None
    y0 = as_particles(n_or_y0, "n_or_y0", score.dim if isinstance(score, Score) else None)
    return len(y0), y0


def check_save_times(save_at, lo, hi, default):
    """Save times in ``[lo, hi]`` (clipped to round-off), or ``default``."""
    if save_at is None:
        return np.asarray(default, dtype=np.float64)
    save_at = np.atleast_1d(as_finite_array(save_at, "save_at"))
    tolerance = 1e-12 * max(1.0, abs(hi))
    if save_at.ndim != 1 or save_at.size == 0 or np.any(save_at < lo - tolerance) or np.any(save_at > hi + tolerance):
        raise InputError(f"`save_at` must be a non-empty list of times in [{lo:g}, {hi:g}]; got {save_at.tolist()}")
    return np.clip(save_at, lo, hi)


def check_batch_size(batch_size):
    return as_int(batch_size, "batch_size", minimum=1)


def blow_up(y, t, step, steps, what, hint=""):
    bad = np.flatnonzero(~np.all(np.isfinite(y), axis=1))
    raise BlowUpError(
        f"{len(bad)} particle(s) became NaN/inf at t = {t:.6g} (step {step} of {steps}, {what}), "
        f"first particle {int(bad[0])}; take more `steps`, a smaller `gamma`, or check the score{hint}", t=t
    )


def prior_particles(process, T, n, dim, seed, first=0, kind=None):
    """Particles ``first, ..., first + n - 1`` drawn from ``process.prior(T, dim)`` on the counter-based stream.

    Particle ``i`` comes from ``(seed, i)``, so a shard of a larger run
    (``first > 0``) holds exactly that run's rows. With ``kind`` (a score
    kind of :data:`FUSED_KINDS`) the normals come from the run's own kernel
    (:func:`_fused_normals`), so a first run compiles no separate kernel for them.
    """
    prior = process.prior(T, dim)
    factor = np.linalg.cholesky(prior.covariances[0])
    if kind is None:
        normals = _random.normals(seed, _random.PRIOR, first, n, dim)
    else:
        normals = _fused_normals(kind, seed, _random.PRIOR, first, n, dim)
    return np.ascontiguousarray(prior.means[0] + normals @ factor.T)


def _fused_normals(kind, seed, stream, first, n, dim):
    r""":func:`_random.normals` ``(seed, stream, first, n, dim)`` (step 0, slot 0), drawn by
    :func:`._kernels.advance_particles` compiled for score ``kind``: one ``NOISE`` stage with scale 0 and spread 1 from
    zeros, :math:`0 \cdot 0 + 1 \cdot \xi = \xi` exactly. The tables have the types of the run's
    (:meth:`KernelScore.tables`), so this call and the run share one compiled kernel."""
    y = np.zeros((n, dim))
    zero = np.zeros(1, dtype=np.int64)  # the stage's step, slot, time rows and centre row
    coefficients = np.zeros((1, 7))
    coefficients[0, 1] = 1.0
    bad_step = np.empty(-(-n // _random.BLOCK), dtype=np.int64)
    arguments = (np.array([NOISE], dtype=np.int64), coefficients, zero, zero, zero, np.array([stream], dtype=np.int64),
                 zero, kind, np.zeros((1, 0)), np.zeros((1, 0, dim)), zero, np.zeros((1, 0, 1, 1)), np.ones(1),
                 np.ones(1), NO_LAYOUT, _random.seed_key(seed), first, y, np.array([-1], dtype=np.int64),
                 np.empty((0, n, dim)), bad_step)
    on_threads(use_parallel(n * dim), advance_for_kind(arguments), len(bad_step), *arguments)
    return y


class _Runner:
    """Runs stages on particles: the numba kernels in batches, or the numpy reference (slow path)."""

    #: global index of the first particle (a shard of a larger run: ``sample_reverse(first_particle=...)``)
    first_particle = 0
    #: normals per step (steps, M, d) in place of the counter-based stream (``sample_reverse(noise=...)``)
    given_noise = None

    def __init__(self, kernel_score, seed, batch_size, dim):
        self.kernel_score = kernel_score
        self.seed = seed
        self.key = _random.seed_key(seed)
        self.batch_size = batch_size
        self.work = None
        self.dim = dim
        self.history = None  # MULTISTEP stages: every particle's denoiser of the previous step

    def _work(self, rows):
        if self.work is None:
            self.work = [np.empty((rows, self.dim)) for _ in range(4)]
        return [w[:rows] for w in self.work]

    def run(self, stage, y, step):
        """Apply ``stage`` to all particles ``y`` (in place); returns the number that became non-finite."""
        if stage.code == MULTISTEP and self.history is None:
            self.history = np.zeros_like(y)
        if not self.kernel_score.fast or self.given_noise is not None:
            if self.given_noise is not None:
                noise = self.given_noise[step]
            else:
                noise = _random.normals(self.seed, stage.stream, self.first_particle, len(y), y.shape[1], step,
                                        stage.slot)
            score = self.kernel_score.python_score
            y[...] = reference_stage(stage, y, lambda x: score(x, stage.t_a), lambda x: score(x, stage.t_b), noise,
                                     self.history)
            return int(np.sum(~np.all(np.isfinite(y), axis=1)))
        data_a = self.kernel_score.data(stage.t_a)
        data_b = self.kernel_score.data(stage.t_b)
        bad = 0
        count = len(y)
        for first in range(0, count, self.batch_size):
            block = y[first:first + self.batch_size]
            predicted, second, score, noise = self._work(min(self.batch_size, count))
            rows = len(block)
            if stage.code == MULTISTEP:  # the history of these particles, kept between the steps
                second = self.history[first:first + self.batch_size]
            bad += step_particles(stage.code, block, predicted[:rows], second[:rows], score[:rows], noise[:rows],
                                  self.kernel_score.kind, *data_a, *data_b, stage.coefficients, self.key,
                                  stage.stream, self.first_particle + first, step, stage.slot,
                                  self.kernel_score.parallel(rows))
        return bad


# ------------------------------------------------------------ sample_reverse


def sample_reverse(process, score, n_or_y0, T=None, gamma=1.0, t_min=None, steps=100, scheme="ei", seed=0,
                   time_grid="log-snr", save_at=None, client=None, shards=None, **options):
    r"""Sample the gamma-family reverse (generative) SDE with particles.

    In reverse time :math:`\tau = T - t`, from :math:`t = T` down to :math:`t_{min}`:

    .. math::

        dY = \left[\beta(t)\, Y + \frac{1 + \gamma^2}{2}\,\sigma(t)^2\, s(Y, t)\right] d\tau
             + \gamma\,\sigma(t)\, dW, \qquad Y_{\tau=0} \sim q_0 ,

    whose law solves the reverse Fokker–Planck equation that
    :func:`fpdiff.solve_reverse` solves on a grid (``docs/theory.md``, section 3). With the
    exact score and :math:`q_0 = p_T`, every :math:`\gamma \ge 0` gives
    :math:`p_{t_{min}}`; :math:`\gamma = 1` is the time reversal (Anderson
    1982), :math:`\gamma = 0` the probability-flow ODE (Song et al. 2021).

    Parameters
    ----------
    process : LinearProcess
        The forward process (OU, VP, VE, Brownian).
    score : Score or callable
        :class:`ExactScore` of a :class:`GaussianMixture` and
        :class:`EmpiricalScore` (or :class:`ExactScore` of an
        :class:`Empirical`) are evaluated inside the numba kernels;
        any other score (``GridScore``, ``CallableScore``, a callable
        ``fn(x, t) -> (M, d)``) is called from Python once per stage for all
        particles (the slow path).
    n_or_y0 : int or array_like (M, d)
        A number of particles drawn from ``process.prior(T, d)`` (particle
        ``i`` from ``(seed, i)``), or the start points themselves. The prior
        is the stationary law for OU and VP (not :math:`p_T`: the gap is part
        of the answer) and :math:`N(0, v_T)` for VE and Brownian; pass
        samples of ``p0.evolve(process, T)`` to start from :math:`p_T`.
    T : float
        Start time (forward-time label), ``> t_min``. Optional with a
        ``"diffusers-..."`` grid or an explicit array: their first time (if
        given, it must equal it).
    gamma : float or callable
        :math:`\gamma \ge 0`, or a function ``gamma(t)`` of forward time. The
        library schemes (``"ddpm"``, ``"ddim"``, ``"euler"``, ``"heun_sigma"``,
        ``"euler_ancestral"``, ``"dpmpp_2m"``) ignore it: their noise is the scheme's (``eta``).
    t_min : float
        Stop time, ``> 0`` (default 1e-3). Optional with a ``"diffusers-..."``
        grid or an explicit array: their last time (which may be 0, see ``time_grid``).
    steps : int
        Number of time steps (before save times are merged into the grid).
    scheme : {"ei", "em", "heun", "pc", "ddpm", "ddim", "euler", "heun_sigma", "euler_ancestral", "dpmpp_2m"}
        See ``fpdiff.particles.schemes`` and :doc:`the sampler lab </guide/sampler-lab>` (:data:`SCHEMES` lists their
        declared orders and their names in diffusers and k-diffusion).
    seed : int
        Seed of the counter-based noise, ``0 <= seed < 2**63``.
    time_grid : str or array
        Step placement (:func:`fpdiff.timegrid.make_time_grid`): ``"log-snr"``,
        ``"uniform"``, ``"geometric"``, ``"karras"``, ``"diffusers-leading"``,
        ``"diffusers-trailing"``, ``"diffusers-linspace"``, or the times. The
        ``"diffusers-..."`` spacings (for a :class:`~fpdiff.Discrete` process,
        option ``steps_offset``) are the ``steps`` timesteps of diffusers'
        DDPM/DDIM schedulers mapped to ``process.t_of_index``, then :math:`t = 0`.
        An array is a strictly decreasing list of forward times; it may end at
        0, the data: that last step returns the denoiser :math:`\hat x_0` at the
        time before it, as the libraries' samplers do (``time_grid=
        process.t_of_sigma(scheduler.sigmas)`` replays a diffusers sigma schedule). The default
        ``"log-snr"`` (uniform in :math:`\log(\alpha_t^2 / v_t)`) puts steps
        where the score changes fastest, near ``t_min``: for the demo's
        mixture at 200 ``"ei"`` steps and gamma = 2 it cuts W1 from 0.048
        (uniform) to 0.012. It is :func:`fpdiff.solve_reverse`'s default too.
    save_at : sequence of float, optional
        Forward times in ``[t_min, T]`` to save (default ``[T, t_min]``);
        they are added to the time grid.
    client : dask.distributed.Client, optional
        Run the particles as ``shards`` index ranges on this Dask cluster
        (``fpdiff.particles.sharded``) and gather them: the
        result equals the local run with the same seed bit for bit. To reduce
        ensembles too large to gather (histograms, moments, quantile
        sketches, samples written to HDF5), use
        :func:`fpdiff.distributed.sample_ensemble`.
    shards : int, optional
        Index ranges of a distributed run (default: one per worker thread).
    **options
        ``rho`` (Karras grid exponent, default 7); ``batch_size`` (particles
        per kernel call of a stage, default 65536, for scores evaluated stage
        by stage: tabulated and Python scores; mixtures and training points
        run the whole time loop in one kernel call; results do not depend on it);
        ``first_particle`` (default 0): the global index of the first
        particle — a run of ``n`` particles with ``first_particle=a`` gives
        particles ``a, ..., a + n - 1`` of a larger run (the shards of a
        distributed run);
        for ``"pc"``: ``predictor`` (``"ei"``/``"em"``), ``corrector_steps``
        (1), ``snr`` (0.16), ``corrector_step`` (``"expected"``/``"per-particle"``);
        ``eta`` for ``"ddim"`` (0, in [0, 1]) and ``"euler_ancestral"`` (1);
        Karras' churn for ``"euler"`` and ``"heun_sigma"``: ``s_churn`` (0, off), ``s_tmin`` (0),
        ``s_tmax`` (inf), ``s_noise`` (1), in noise levels :math:`\sigma`;
        ``steps_offset`` (0) for the ``"diffusers-leading"`` grid;
        ``noise``: the normals of every step, an array (steps of the final
        grid, M, d) used in place of the counter-based stream (to replay
        another library's noise; the steps then run in numpy, stage by stage).

    Returns
    -------
    ParticleSolution
        Snapshots labelled by forward time (descending); ``.samples`` at ``t_min``.

    Raises
    ------
    InputError
        A bad argument (named in the message), or an unknown option.
    BlowUpError
        A particle became NaN/inf (the message gives the time and step).
    """
    started = time.perf_counter()
    if client is not None:
        for name in ("first_particle", "noise"):  # set per shard: a shard's rows of particles
            if name in options:
                raise InputError(f"`{name}` is set by the shards of a distributed run: pass it without `client`")
        return sharded.sample_sharded(sample_reverse, process, score, *start_arguments(score, n_or_y0),
                                      client=client, shards=shards, T=T, gamma=gamma, t_min=t_min, steps=steps,
                                      scheme=scheme, time_grid=time_grid, seed=seed, save_at=save_at, **options)
    if shards is not None:
        raise InputError(f"`shards` splits a distributed run: it needs `client`; got shards={shards!r}, client=None")
    check_process(process)
    steps = as_int(steps, "steps", minimum=1)
    seed = _random.check_seed(seed)
    scheme_options = check_scheme_options(scheme, options)
    rho = options.pop("rho", 7.0)
    steps_offset = options.pop("steps_offset", 0)
    given_noise = options.pop("noise", None)
    batch_size = check_batch_size(options.pop("batch_size", DEFAULT_BATCH))
    first_particle = as_int(options.pop("first_particle", 0), "first_particle", minimum=0)
    check_no_unknown_options(options, "sample_reverse")
    times = make_time_grid(time_grid, process, T, t_min, steps, rho, steps_offset=steps_offset, library=True)
    T, t_min = float(times[0]), float(times[-1])
    last = float(times[-2]) if t_min == 0.0 else t_min  # the last time the score is evaluated at

    refuse_space_only(score)
    if isinstance(n_or_y0, (int, np.integer)) and not isinstance(n_or_y0, bool):
        n = as_int(n_or_y0, "n_or_y0", minimum=1)
        if not isinstance(score, Score):
            raise InputError("`n_or_y0` is a number of particles, so `score` must be an fpdiff Score with a `dim`; "
                             "for a plain callable pass the start points (M, d) instead")
        dim = score.dim
        y = None  # drawn below, once the score's kind is known
        start = "prior"
    else:
        y = as_particles(n_or_y0, "n_or_y0", getattr(score, "dim", None) if isinstance(score, Score) else None)
        dim = y.shape[1]
        start = "given"
    score = as_score(score, dim, process)
    if t_min == 0.0 and SCHEMES[scheme].library == "":
        raise InputError(f"`time_grid` ends at t = 0, the data, which only the library schemes "
                         f"{', '.join(LIBRARY_SCHEMES)} step to (their last step returns xhat0); scheme {scheme!r} "
                         "needs a last time > 0")
    dynamics = reverse_dynamics(process, score, gamma, T, last)
    score.check_time(T)
    score.check_time(last)
    kernel_score = KernelScore(score)
    fused_kind = kernel_score.kind if kernel_score.kind in FUSED_KINDS and given_noise is None else None
    if start == "prior":
        y = prior_particles(process, T, n, dim, seed, first_particle, fused_kind)
    score.check_domain(y, f"the {len(y)} start particles ({'drawn from the prior' if start == 'prior' else 'given'})")

    times, saved = merge_save_times(times, check_save_times(save_at, t_min, T, [T, t_min]))
    n_steps = len(times) - 1
    plan = [plan_step(scheme, dynamics, float(times[n]), float(times[n + 1]), scheme_options,
                      float(times[n - 1]) if n else None, n_steps)
            for n in range(n_steps)]
    evaluations = sum(EVALUATIONS[stage.code] for stages in plan for stage in stages)
    snapshots = None
    if given_noise is not None:
        given_noise = _check_given_noise(given_noise, n_steps, y.shape, scheme)
        snapshots = _run_stepwise(kernel_score, plan, times, saved, y, seed, batch_size, first_particle, scheme,
                                  given_noise)
    elif fused_kind is not None:
        snapshots = _run_fused(kernel_score, plan, times, saved, y, seed, first_particle)
    if snapshots is None:  # not fused, or a particle blew up: step by step (raising with the step and time)
        if fused_kind is not None:
            y = prior_particles(process, T, n, dim, seed, first_particle, fused_kind) if start == "prior" else \
                as_particles(n_or_y0, "n_or_y0")
        snapshots = _run_stepwise(kernel_score, plan, times, saved, y, seed, batch_size, first_particle, scheme)

    diagnostics = {
        "scheme": scheme,
        "steps": n_steps,
        "seed": seed,
        "gamma": gamma if not callable(gamma) else repr(gamma),
        "time_grid": time_grid if isinstance(time_grid, str) else "explicit",
        **({"noise": "given"} if given_noise is not None else {}),
        "particles": len(y),
        "dim": dim,
        "start": start,
        "score": kernel_score.label,
        "score_evaluations": evaluations,
        "threads": numba.get_num_threads(),
        "batch_size": batch_size,
        **({"first_particle": first_particle} if first_particle else {}),
        "process": process.to_dict(),
        "wall_time": time.perf_counter() - started,
        **({"options": scheme_options} if scheme_options else {}),
    }
    return ParticleSolution(times[saved], snapshots, diagnostics)


def _run_fused(kernel_score, plan, times, saved, y, seed, first_particle):
    """The whole run in one kernel call; returns the snapshots, or None if a particle became non-finite."""
    stages = [(n, stage) for n, step_stages in enumerate(plan) for stage in step_stages]
    index = {t: i for i, t in enumerate(np.unique([t for _, stage in stages for t in (stage.t_a, stage.t_b)]))}
    lc, centres, precisions, alpha, variance, centre_rows = kernel_score.tables(list(index))
    coefficients = np.zeros((len(stages), 7))
    for s, (_, stage) in enumerate(stages):
        coefficients[s, : len(stage.coefficients)] = stage.coefficients
    slots = np.cumsum(saved) - 1
    last_of_step = np.array([s + 1 == len(stages) or stages[s + 1][0] != n for s, (n, _) in enumerate(stages)])
    step_of = np.array([n for n, _ in stages], dtype=np.int64)
    saved_slot = np.where(last_of_step & saved[step_of + 1], slots[step_of + 1], -1)
    snapshots = np.empty((int(saved.sum()),) + y.shape)
    if saved[0]:
        snapshots[0] = y
    bad_step = np.empty(-(-len(y) // _random.BLOCK), dtype=np.int64)
    arguments = (np.array([stage.code for _, stage in stages], dtype=np.int64), coefficients,
                 np.array([index[stage.t_a] for _, stage in stages], dtype=np.int64),
                 np.array([index[stage.t_b] for _, stage in stages], dtype=np.int64), step_of,
                 np.array([stage.stream for _, stage in stages], dtype=np.int64),
                 np.array([stage.slot for _, stage in stages], dtype=np.int64), kernel_score.kind, lc, centres,
                 centre_rows, precisions, alpha, variance, NO_LAYOUT, _random.seed_key(seed), first_particle, y,
                 saved_slot, snapshots, bad_step)
    on_threads(kernel_score.parallel(len(y)), advance_for_kind(arguments), len(bad_step), *arguments)
    return None if np.any(bad_step >= 0) else snapshots


def _check_given_noise(noise, n_steps, shape, scheme):
    """The ``noise=`` option: a finite float64 array (steps of the final grid, M, d), for one-noise-per-step schemes."""
    if scheme == "pc":
        raise InputError("`noise` gives one block of normals per step; scheme 'pc' draws more (its corrector "
                         "steps): use the `seed`")
    noise = as_finite_array(noise, "noise")
    if noise.shape != (n_steps,) + tuple(shape):
        raise InputError(f"`noise` must have shape (steps, M, d) = {(n_steps,) + tuple(shape)} (one block of "
                         f"normals per step of the grid, save times included); got {noise.shape}")
    return np.asarray(noise, dtype=np.float64)


def _run_stepwise(kernel_score, plan, times, saved, y, seed, batch_size, first_particle, scheme, given_noise=None):
    """Stage by stage (any score); returns the snapshots, or raises :class:`BlowUpError` at the first blow-up.

    With ``given_noise`` (steps, M, d), the numpy stages (:func:`reference_stage`) run with those normals.
    """
    runner = _Runner(kernel_score, seed, batch_size, y.shape[1])
    runner.first_particle = first_particle
    runner.given_noise = given_noise
    snapshots = [y.copy()] if saved[0] else []
    for n, stages in enumerate(plan):
        for stage in stages:
            if runner.run(stage, y, n):
                blow_up(y, times[n + 1], n + 1, len(plan), f"scheme {scheme!r}", kernel_score.blow_up_hint())
        if saved[n + 1]:
            snapshots.append(y.copy())
    return np.array(snapshots)


# ------------------------------------------------------------ sample_forward


FORWARD_SCHEMES = ("exact", "em")


def sample_forward(process, x0, T, save_at=None, seed=0, scheme="exact", steps=100, n=None):
    r"""Sample the forward (noising) process from the points ``x0``.

    .. math::  dX = -\beta(t)\, X\, dt + \sigma(t)\, dW, \qquad X_0 = x_0 .

    ``scheme="exact"`` (default) draws the Gaussian transition between
    consecutive save times, :math:`X_t | X_s \sim N(a X_s, w I)` with
    :math:`(a, w)` = ``process.transition(s, t)``: no discretisation error.
    ``scheme="em"`` runs Euler–Maruyama with ``steps`` uniform steps
    (:func:`simulate` of :func:`fpdiff.forward_dynamics`).

    Parameters
    ----------
    process : LinearProcess
    x0 : array_like (M, d) or distribution
        Start points (a 1-D array is M points in one dimension), or a
        distribution (``GaussianMixture``, ``Empirical``) to draw ``n`` start
        points from, with ``x0.sample(n, seed)``.
    T : float
        End time, ``> 0``.
    save_at : sequence of float, optional
        Times in ``[0, T]`` to save (default ``[0, T]``). With ``"exact"``
        the transitions are drawn between these times, so saving more times
        gives other (equally distributed) samples at ``T``.
    seed : int
        Seed of the counter-based noise (particle ``i`` depends on ``(seed, i)`` only).
    scheme : {"exact", "em"}
    steps : int
        Euler–Maruyama steps (``"em"`` only).
    n : int, optional
        Number of start points to draw when ``x0`` is a distribution (required
        then, refused otherwise).

    Returns
    -------
    ParticleSolution
        Snapshots labelled by forward time (ascending).
    """
    started = time.perf_counter()
    check_process(process)
    check_choice(scheme, "scheme", FORWARD_SCHEMES)
    T = as_float(T, "T", positive=True)
    seed = _random.check_seed(seed)
    if hasattr(x0, "sample") and hasattr(x0, "dim"):
        if n is None:
            raise InputError(f"`x0` is a {type(x0).__name__} (a distribution): pass `n=`, the number of start points "
                             "to draw from it, or pass the points themselves")
        x = as_particles(x0.sample(as_int(n, "n", minimum=1), seed=seed), "x0")
    elif n is not None:
        raise InputError(f"`n` is only for a distribution `x0`; got points of shape {np.shape(x0)} and n={n!r}")
    else:
        x = as_particles(x0, "x0")
    save_times = check_save_times(save_at, 0.0, T, [0.0, T])
    if scheme == "em":
        solution = simulate(forward_dynamics(process, T), x, steps=steps, scheme="em", seed=seed, save_at=save_times)
        solution.diagnostics.update(process=process.to_dict(), wall_time=time.perf_counter() - started)
        return solution
    times, saved = merge_save_times(np.array([0.0, T]), save_times)
    snapshots = [x.copy()] if saved[0] else []
    for k in range(len(times) - 1):
        a, w = (float(np.asarray(c)) for c in process.transition(times[k], times[k + 1]))
        noise = _random.normals(seed, _random.FORWARD, 0, len(x), x.shape[1], k)
        x = a * x + np.sqrt(max(w, 0.0)) * noise
        if saved[k + 1]:
            snapshots.append(x.copy())
    diagnostics = {
        "scheme": "exact",
        "steps": len(times) - 1,
        "seed": seed,
        "particles": len(x),
        "dim": x.shape[1],
        "threads": numba.get_num_threads(),
        "process": process.to_dict(),
        "wall_time": time.perf_counter() - started,
    }
    return ParticleSolution(times[saved], np.array(snapshots), diagnostics)


# ------------------------------------------------------------------ simulate


SIMULATE_SCHEMES = ("em", "heun")


def simulate(dynamics, x0, steps=100, scheme="em", seed=0, save_at=None):
    r"""Integrate any dynamics :math:`dX = a(X, \tau)\, d\tau + g(\tau)\, dW` with particles (generic path).

    Uniform steps :math:`h` in solver time :math:`\tau \in [0, \tau_{end}]`;
    the drift is called from Python once per stage for all particles.

    - ``"em"``: :math:`X_{n+1} = X_n + h\, a(X_n, \tau_n) + g(\tau_n)\sqrt h\, \xi_n`
      (Euler–Maruyama; Kloeden & Platen 1992, §9.1; weak order 1);
    - ``"heun"``: :math:`\tilde X = X_n + h a_n + g_n \Delta W`,
      :math:`X_{n+1} = X_n + \tfrac h2 (a_n + a(\tilde X, \tau_{n+1})) + \tfrac12(g_n + g_{n+1})\Delta W`
      (stochastic Heun for additive noise; Kloeden & Platen 1992, §15.1;
      order 2 when :math:`g = 0`).

    Noise comes from the same counter-based stream as :func:`sample_reverse`
    (stream "step", slot 0), so for a reverse dynamics on a uniform grid the
    two give the same particles to round-off.

    Parameters
    ----------
    dynamics : Dynamics
        E.g. :func:`fpdiff.forward_dynamics` or :func:`fpdiff.reverse_dynamics`.
    x0 : array_like (M, d)
    steps : int
    scheme : {"em", "heun"}
    seed : int
    save_at : sequence of float, optional
        Forward-time labels to save (default: start and end).

    Returns
    -------
    ParticleSolution
        Snapshots labelled by forward time (``dynamics.time_label``).
    """
    started = time.perf_counter()
    if not isinstance(dynamics, Dynamics):
        raise InputError(f"`dynamics` must be an fpdiff Dynamics; got {type(dynamics).__name__}")
    check_choice(scheme, "scheme", SIMULATE_SCHEMES)
    x = as_particles(x0, "x0")
    steps = as_int(steps, "steps", minimum=1)
    seed = _random.check_seed(seed)
    labels = dynamics.time_label(np.array([0.0, dynamics.tau_end]))
    lo, hi = float(np.min(labels)), float(np.max(labels))
    save_times = check_save_times(save_at, lo, hi, labels)
    taus, saved = merge_save_times(np.linspace(0.0, dynamics.tau_end, steps + 1),
                                   np.clip(dynamics.solver_time(save_times), 0.0, dynamics.tau_end))
    snapshots = [x.copy()] if saved[0] else []
    n_steps = len(taus) - 1
    for n in range(n_steps):
        tau, tau_next = float(taus[n]), float(taus[n + 1])
        h = tau_next - tau
        root = np.sqrt(h)
        g = dynamics.noise(tau)
        if scheme == "em":
            stage = Stage(EM, np.array([0.0, h, g * root]), tau, tau, _random.STEP, 0, g != 0.0)
        else:
            g_next = dynamics.noise(tau_next)
            stage = Stage(HEUN, np.array([h, 0.0, 1.0, 0.0, 1.0, g * root, g_next * root]), tau, tau_next,
                          _random.STEP, 0, g != 0.0 or g_next != 0.0)
        noise = _random.normals(seed, stage.stream, 0, len(x), x.shape[1], n, stage.slot)
        x = reference_stage(stage, x, lambda y: _drift(dynamics, y, tau), lambda y: _drift(dynamics, y, tau_next),
                            noise)
        if not np.all(np.isfinite(x)):
            blow_up(x, float(dynamics.time_label(tau_next)), n + 1, n_steps, f"simulate, scheme {scheme!r}")
        if saved[n + 1]:
            snapshots.append(x.copy())
    diagnostics = {
        "scheme": scheme,
        "steps": n_steps,
        "seed": seed,
        "particles": len(x),
        "dim": x.shape[1],
        "score": "python (dynamics.drift)",
        "threads": numba.get_num_threads(),
        "wall_time": time.perf_counter() - started,
    }
    return ParticleSolution(dynamics.time_label(taus[saved]), np.array(snapshots), diagnostics)


def _drift(dynamics, y, tau):
    values = np.asarray(dynamics.drift(y, tau), dtype=np.float64)
    if values.shape != y.shape:
        raise InputError(f"`dynamics.drift` returned shape {values.shape} for points of shape {y.shape}")
    return values


__all__ = ["sample_reverse", "sample_forward", "simulate", "SCHEMES"]
